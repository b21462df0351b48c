//! tcx.bpf.c in the live kernel: the `tcx/ingress` and `tcx/egress`
//! section names and a per-CPU counter, through `BPF_PROG_TEST_RUN`.
#![forbid(unsafe_code)]

mod behaviour_support;

use behaviour_support::{counting_bytes, percpu_u64_sum};
use oxbpf::{OpenObject, TestRunOptions};
use oxbpf_tests::{FdSnapshot, kernel_lock, object};

const TCX_NEXT: u32 = u32::MAX; // -1
const TCX_PASS: u32 = 0;
const TCX_DROP: u32 = 2;

#[test]
fn tcx_count_counts_on_every_cpu_and_says_next() {
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let obj = OpenObject::open(object("tcx")).unwrap().load().unwrap();
        let pkts = obj.map("tcx_pkts").unwrap();
        assert_eq!(percpu_u64_sum(pkts, 0), 0);
        let packet = counting_bytes(64);
        let mut opts = TestRunOptions::new(&packet, 64);
        opts.repeat = 4;
        let out = obj.program("tcx_count").unwrap().test_run(&opts).unwrap();
        assert_eq!(out.retval, TCX_NEXT);
        assert_eq!(percpu_u64_sum(pkts, 0), 4);
        opts.repeat = 3;
        obj.program("tcx_count").unwrap().test_run(&opts).unwrap();
        assert_eq!(percpu_u64_sum(pkts, 0), 7);
    }
    fds.assert_no_leak("tcx_count");
}

#[test]
fn tcx_drop_exp_drops_the_experimental_ethertype() {
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let obj = OpenObject::open(object("tcx")).unwrap().load().unwrap();
        let prog = obj.program("tcx_drop_exp").unwrap();
        for (ethertype, verdict) in [
            (0x88B5u16, TCX_DROP),
            (0x0800, TCX_PASS),
            (0xB588, TCX_PASS),
            (0x88B6, TCX_PASS),
        ] {
            let mut packet = counting_bytes(64);
            packet[12..14].copy_from_slice(&ethertype.to_be_bytes());
            let out = prog.test_run(&TestRunOptions::new(&packet, 64)).unwrap();
            assert_eq!(out.retval, verdict, "EtherType {ethertype:#06x}");
        }
        // The counter of the other program did not move.
        assert_eq!(percpu_u64_sum(obj.map("tcx_pkts").unwrap(), 0), 0);
    }
    fds.assert_no_leak("tcx_drop_exp");
}
