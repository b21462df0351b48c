//! socket_filter.bpf.c in the live kernel: two socket filters of one
//! `socket` section, through `BPF_PROG_TEST_RUN` (they see the packet from
//! byte 14 on).
#![forbid(unsafe_code)]

mod behaviour_support;

use behaviour_support::counting_bytes;
use oxbpf::{OpenObject, TestRunOptions};
use oxbpf_tests::{FdSnapshot, kernel_lock, object};

/// A `len`-byte packet of bytes 0, 1, 2... whose byte 14 is `b14`.
fn packet(len: usize, b14: Option<u8>) -> Vec<u8> {
    let mut p = counting_bytes(len);
    if let Some(b) = b14 {
        p[14] = b;
    }
    p
}

#[test]
fn socket_filters_keep_what_they_say() {
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let obj = OpenObject::open(object("socket_filter"))
            .unwrap()
            .load()
            .unwrap();
        let keep = obj.program("sock_keep_ipv4").unwrap();
        let truncate = obj.program("sock_truncate").unwrap();
        // (packet, sock_keep_ipv4, sock_truncate)
        let cases = [
            (packet(51, Some(0x45)), 37, 20),
            (packet(64, None), 0, 20), // byte 14 is 0x0E: not IPv4
            (packet(30, Some(0x4F)), 16, 16),
            (packet(33, Some(0x54)), 0, 19),
            (packet(14, None), 0, 0),
        ];
        for (p, kept, truncated) in cases {
            let out = keep.test_run(&TestRunOptions::new(&p, p.len())).unwrap();
            assert_eq!(out.retval, kept, "sock_keep_ipv4, {} bytes", p.len());
            // The packet comes back unchanged from the network header on;
            // the kernel zeroes the link-layer header of the run.
            assert_eq!(out.data_out[..14], [0; 14], "{} bytes", p.len());
            assert_eq!(out.data_out[14..], p[14..], "{} bytes", p.len());
            let out = truncate
                .test_run(&TestRunOptions::new(&p, p.len()))
                .unwrap();
            assert_eq!(out.retval, truncated, "sock_truncate, {} bytes", p.len());
        }
    }
    fds.assert_no_leak("socket_filter");
}
