//! tc_rewrite.bpf.c in the live kernel: the `tc` and `classifier` section
//! names (sched_cls), a packet rewrite and a context write-back, through
//! `BPF_PROG_TEST_RUN`.
#![forbid(unsafe_code)]

mod behaviour_support;

use behaviour_support::{counting_bytes, u32_at};
use oxbpf::btf::{Btf, Kind};
use oxbpf::{OpenObject, TestRunOptions};
use oxbpf_tests::{FdSnapshot, kernel_lock, object};

const TC_ACT_OK: u32 = 0;
const TC_ACT_SHOT: u32 = 2;
/// Offsets in `struct __sk_buff` (include/uapi/linux/bpf.h).
const MARK: usize = 8;
const PRIORITY: usize = 32;

/// `sizeof(struct __sk_buff)` of the running kernel.
fn sk_buff_size() -> usize {
    let btf = Btf::from_file(std::path::Path::new(oxbpf::VMLINUX_BTF)).unwrap();
    let id = btf
        .find_by_name_kind("__sk_buff", Kind::Struct)
        .unwrap()
        .expect("vmlinux has struct __sk_buff");
    btf.resolve_size(id).unwrap() as usize
}

#[test]
fn tc_rewrite_stores_a_byte_after_the_ethernet_header() {
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let obj = OpenObject::open(object("tc_rewrite"))
            .unwrap()
            .load()
            .unwrap();
        let prog = obj.program("tc_rewrite").unwrap();
        let packet = counting_bytes(64);
        let out = prog.test_run(&TestRunOptions::new(&packet, 64)).unwrap();
        assert_eq!(out.retval, TC_ACT_OK);
        let mut expected = packet.clone();
        expected[14] = 0x42;
        assert_eq!(out.data_out, expected);

        // Exactly an Ethernet header: nothing to store into.
        let header = counting_bytes(14);
        let out = prog.test_run(&TestRunOptions::new(&header, 64)).unwrap();
        assert_eq!(out.retval, TC_ACT_SHOT);
        assert_eq!(out.data_out, header);
    }
    fds.assert_no_leak("tc_rewrite");
}

#[test]
fn tc_classify_sets_mark_and_priority() {
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let obj = OpenObject::open(object("tc_rewrite"))
            .unwrap()
            .load()
            .unwrap();
        let prog = obj.program("tc_classify").unwrap();
        let size = sk_buff_size();
        assert!(size > PRIORITY + 4, "struct __sk_buff of {size} bytes");
        for (len, verdict) in [
            (64, TC_ACT_OK),
            (128, TC_ACT_OK),
            (129, TC_ACT_SHOT),
            (200, TC_ACT_SHOT),
        ] {
            let packet = counting_bytes(len);
            // Without ctx_in, then with a zeroed one: the same.
            let zeroed = vec![0u8; size];
            for ctx_in in [&[][..], &zeroed[..]] {
                let mut opts = TestRunOptions::new(&packet, len);
                opts.ctx_in = ctx_in;
                opts.ctx_out_capacity = size;
                let out = prog.test_run(&opts).unwrap();
                assert_eq!(out.retval, verdict, "{len} bytes");
                assert_eq!(out.ctx_out.len(), size, "{len} bytes: ctx_out");
                assert_eq!(u32_at(&out.ctx_out, MARK), len as u32, "{len} bytes: mark");
                assert_eq!(u32_at(&out.ctx_out, PRIORITY), 7, "{len} bytes: priority");
                assert_eq!(out.data_out, packet, "{len} bytes: the packet is unchanged");
            }
        }
    }
    fds.assert_no_leak("tc_classify");
}
