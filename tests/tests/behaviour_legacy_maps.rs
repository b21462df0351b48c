//! legacy_maps.bpf.c in the live kernel: maps from the legacy `maps`
//! section, filled by a socket filter under `BPF_PROG_TEST_RUN` (objects of
//! clang-19 and clang-14), and the `version` section.
#![forbid(unsafe_code)]

mod behaviour_support;

use behaviour_support::{counting_bytes, entries, u64_array, u64_at};
use oxbpf::{OpenObject, TestRunOptions};
use oxbpf_tests::{FdSnapshot, kernel_lock, object};

#[test]
fn legacy_count_fills_both_legacy_maps() {
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    for name in ["legacy_maps", "legacy_maps.clang14"] {
        let open = OpenObject::open(object(name)).unwrap();
        assert_eq!(
            open.elf().kern_version,
            Some(0x0006_0C00),
            "{name}: version section"
        );
        let obj = open.load().unwrap();
        let prog = obj.program("legacy_count").unwrap();
        let hash = obj.map("legacy_hash").unwrap();
        let array = obj.map("legacy_array").unwrap();
        assert!(entries(hash).is_empty(), "{name}");

        let mut ipv4 = counting_bytes(51);
        ipv4[14] = 0x45;
        let mut opts = TestRunOptions::new(&ipv4, 51);
        opts.repeat = 3;
        assert_eq!(prog.test_run(&opts).unwrap().retval, 37, "{name}");

        let other = counting_bytes(64); // byte 14 is 0x0E
        let mut opts = TestRunOptions::new(&other, 64);
        opts.repeat = 2;
        assert_eq!(prog.test_run(&opts).unwrap().retval, 50, "{name}");

        let counts: Vec<(u32, u64)> = entries(hash)
            .into_iter()
            .map(|(k, v)| (k, u64_at(&v, 0)))
            .collect();
        assert_eq!(counts, [(0x0E, 2), (0x45, 3)], "{name}: legacy_hash");
        // [runs, bytes seen] = [3 + 2, 3 * 37 + 2 * 50].
        assert_eq!(u64_array(array), [5, 211], "{name}: legacy_array");
    }
    fds.assert_no_leak("legacy_maps");
}
