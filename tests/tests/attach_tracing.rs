//! Trampoline programs attached through `BPF_LINK_CREATE` with a cookie
//! (`tests/progs-vm/fentry.bpf.c`). This host refuses fentry: the test
//! skips through `require!` and runs under `cargo xtask vm-test`.
#![forbid(unsafe_code)]

mod behaviour_support;

use behaviour_support::u64_array;
use oxbpf::OpenObject;
use oxbpf::sys::{LinkType, TestRunOptions};
use oxbpf_tests::{FdSnapshot, Feature, kernel_lock, require, vm_object};

#[test]
fn fentry_and_fexit_links_with_cookies() {
    require!(Feature::Fentry, Feature::Fexit, Feature::TracingCookies);
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let obj = OpenObject::open(vm_object("fentry"))
            .unwrap()
            .load()
            .unwrap();
        let stats = obj.map("fentry_stats").unwrap();
        let entry = obj.program("fentry_test1").unwrap();
        let links = [
            entry.attach_trampoline_with_cookie(7).unwrap(),
            obj.program("fexit_test1")
                .unwrap()
                .attach_trampoline_with_cookie(8)
                .unwrap(),
        ];
        for l in &links {
            assert_eq!(l.info().unwrap().link_type(), LinkType::TRACING);
        }
        for _ in 0..2 {
            entry.test_run(&TestRunOptions::default()).unwrap();
        }
        assert_eq!(u64_array(stats), [2, 1, 2, 2]);
        drop(links);
        entry.test_run(&TestRunOptions::default()).unwrap();
        assert_eq!(u64_array(stats), [2, 1, 2, 2], "detached programs ran");

        // Only trampoline programs take a tracing cookie link.
        let err = OpenObject::open(oxbpf_tests::object("raw_tp"))
            .unwrap()
            .load()
            .unwrap()
            .program("getppid_enter")
            .unwrap()
            .attach_trampoline_with_cookie(1)
            .unwrap_err();
        assert!(matches!(err, oxbpf::Error::AttachTarget { .. }), "{err:?}");
    }
    fds.assert_no_leak("fentry cookies");
}
