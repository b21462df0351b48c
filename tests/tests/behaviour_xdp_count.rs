//! xdp_count.bpf.c in the live kernel: two XDP programs of one section and
//! their array map, through `BPF_PROG_TEST_RUN` (objects of clang-19 and
//! clang-14).
#![forbid(unsafe_code)]

mod behaviour_support;

use behaviour_support::{counting_bytes, errno, u64_array};
use oxbpf::{OpenObject, TestRunOptions};
use oxbpf_tests::{FdSnapshot, Feature, kernel_lock, object, require};

const XDP_ABORTED: u32 = 0;
const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const XDP_TX: u32 = 3;

fn run(obj: &oxbpf::Object, prog: &str, data: &[u8], repeat: u32) -> oxbpf::TestRunOutput {
    let mut opts = TestRunOptions::new(data, data.len());
    opts.repeat = repeat;
    obj.program(prog)
        .unwrap()
        .test_run(&opts)
        .unwrap_or_else(|e| panic!("{prog}: {e:?}"))
}

#[test]
fn xdp_count_counts_drops_passes_and_bytes() {
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    for name in ["xdp_count", "xdp_count.clang14"] {
        let obj = OpenObject::open(object(name)).unwrap().load().unwrap();
        let stats = obj.map("xdp_stats").unwrap();
        assert_eq!(u64_array(stats), [0, 0, 0], "{name}: a fresh map");

        let mut dd = counting_bytes(64);
        dd[0] = 0xDD;
        let out = run(&obj, "xdp_count", &dd, 5);
        assert_eq!(out.retval, XDP_DROP, "{name}");
        assert_eq!(out.data_out, dd, "{name}: the packet is not modified");
        assert_eq!(u64_array(stats), [0, 5, 5 * 64], "{name}");

        let zero = counting_bytes(64);
        let out = run(&obj, "xdp_count", &zero, 3);
        assert_eq!(out.retval, XDP_PASS, "{name}");
        assert_eq!(out.data_out, zero, "{name}");
        // [passed, dropped, bytes] = [3, 5, 8 * 64].
        assert_eq!(u64_array(stats), [3, 5, 512], "{name}");
    }
    fds.assert_no_leak("xdp_count");
}

#[test]
fn xdp_swap_mac_swaps_the_addresses() {
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    for name in ["xdp_count", "xdp_count.clang14"] {
        let obj = OpenObject::open(object(name)).unwrap().load().unwrap();
        let packet = counting_bytes(64);
        let out = run(&obj, "xdp_swap_mac", &packet, 1);
        assert_eq!(out.retval, XDP_TX, "{name}");
        let mut expected = packet.clone();
        expected[..6].copy_from_slice(&packet[6..12]);
        expected[6..12].copy_from_slice(&packet[..6]);
        assert_eq!(out.data_out, expected, "{name}");

        // Shorter than an Ethernet header: the program returns
        // XDP_ABORTED and leaves the frame, where the kernel runs it at
        // all (5.10 does; newer kernels refuse data_in of less than 14
        // bytes with EINVAL).
        match run_with_meta(&obj, &packet[..13], 0) {
            Ok((ret, out)) => {
                assert_eq!(ret, XDP_ABORTED, "{name}: a 13-byte frame");
                assert_eq!(out, packet[..13], "{name}: a 13-byte frame");
            }
            Err(err) => assert_eq!(
                errno(&err),
                Some(oxbpf::sys::Errno::INVAL),
                "{name}: 13 bytes of data_in: {err:?}"
            ),
        }
        // The other programs of the object did not run.
        assert_eq!(
            u64_array(obj.map("xdp_stats").unwrap()),
            [0, 0, 0],
            "{name}"
        );
    }
    fds.assert_no_leak("xdp_swap_mac");
}

#[test]
fn xdp_swap_mac_runs_behind_metadata() {
    require!(Feature::XdpTestRunMeta);
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    for name in ["xdp_count", "xdp_count.clang14"] {
        let obj = OpenObject::open(object(name)).unwrap().load().unwrap();
        let packet = counting_bytes(64);
        // The kernel refuses a frame of less than 14 bytes behind
        // metadata (ctx_in.data > 0); a 14-byte frame after 4 bytes of
        // metadata runs.
        for (meta, len) in [(4, 17), (8, 21)] {
            let err = run_with_meta(&obj, &packet[..len], meta).unwrap_err();
            assert_eq!(
                errno(&err),
                Some(oxbpf::sys::Errno::INVAL),
                "{name}: {len} bytes of data_in, {meta} of them metadata: {err:?}"
            );
        }
        let (ret, out) = run_with_meta(&obj, &packet[..18], 4).unwrap();
        assert_eq!(ret, XDP_TX, "{name}: a 14-byte frame after metadata");
        let mut expected = packet[..18].to_vec();
        expected[4..10].copy_from_slice(&packet[10..16]);
        expected[10..16].copy_from_slice(&packet[4..10]);
        assert_eq!(out, expected, "{name}: metadata, then the swapped frame");
        assert_eq!(
            u64_array(obj.map("xdp_stats").unwrap()),
            [0, 0, 0],
            "{name}"
        );
    }
    fds.assert_no_leak("xdp_swap_mac behind metadata");
}

/// Runs xdp_swap_mac on `data` of which the first `meta` bytes are
/// metadata (`struct xdp_md` as ctx_in: `data = meta`, `data_end =
/// len(data)`; none when `meta` is 0): the program sees `len(data) -
/// meta` bytes. Returns the return value and data_out.
fn run_with_meta(obj: &oxbpf::Object, data: &[u8], meta: u32) -> oxbpf::Result<(u32, Vec<u8>)> {
    // struct xdp_md: data, data_end, data_meta, ingress_ifindex,
    // rx_queue_index, egress_ifindex (u32 each).
    let mut ctx = [0u8; 24];
    ctx[..4].copy_from_slice(&meta.to_le_bytes());
    ctx[4..8].copy_from_slice(&(data.len() as u32).to_le_bytes());
    let mut opts = TestRunOptions::new(data, 64);
    if meta > 0 {
        opts.ctx_in = &ctx;
    }
    let out = obj.program("xdp_swap_mac").unwrap().test_run(&opts)?;
    Ok((out.retval, out.data_out))
}
