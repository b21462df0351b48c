//! A BPF LSM program (`tests/progs-vm/lsm.bpf.c`) on the `file_open`
//! hook: it denies the watched thread's opens while told to.
//!
//! Kernels without BPF LSM (or that refuse it: this project's 6.18 host
//! answers `EPERM`) skip the test through the library's probes; `cargo
//! xtask vm-test` runs it on kernels that have it.
#![forbid(unsafe_code)]

mod behaviour_support;

use behaviour_support::{tid, u64_array};
use oxbpf::{AttachType, OpenObject, ProgType};
use oxbpf_tests::{FdSnapshot, Feature, kernel_lock, require, vm_object};

fn set(map: &oxbpf::Map, key: u32, value: u64) {
    map.update(&key.to_le_bytes(), &value.to_le_bytes(), 0)
        .unwrap();
}

#[test]
fn lsm_file_open_denies_the_watched_thread() {
    require!(Feature::Lsm);
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let obj = OpenObject::open(vm_object("lsm"))
            .unwrap()
            .load()
            .unwrap_or_else(|e| panic!("{e:?}"));
        let p = obj.program("lsm_file_open").unwrap();
        assert_eq!(p.info().unwrap().r#type, ProgType::LSM);
        assert_eq!(p.expected_attach_type(), Some(AttachType::LSM_MAC));
        let ctl = obj.map("lsm_ctl").unwrap();
        let stats = obj.map("lsm_stats").unwrap();
        let me = u64::from(tid());

        let link = p.attach().unwrap();
        set(ctl, 0, me);
        set(ctl, 1, 1);
        let denied = std::fs::File::open("/dev/null");
        set(ctl, 1, 0);
        let allowed = std::fs::File::open("/dev/null");
        set(ctl, 0, 0);
        let err = denied.expect_err("the LSM program denies the open");
        assert_eq!(err.raw_os_error(), Some(1), "EPERM: {err}");
        allowed.expect("allowed again");
        assert_eq!(u64_array(stats), [2, 1]);

        drop(link);
        set(ctl, 0, me);
        set(ctl, 1, 1);
        let after = std::fs::File::open("/dev/null");
        set(ctl, 0, 0);
        after.expect("detached: nothing denies");
        assert_eq!(u64_array(stats), [2, 1]);
    }
    fds.assert_no_leak("lsm");
}
