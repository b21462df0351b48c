//! kprobe, kretprobe and kprobe_multi programs
//! (`tests/progs-vm/kprobe.bpf.c`, `kprobe_multi.bpf.c`) on the x86_64
//! entry points of the getpgid and getppid system calls, which the test
//! thread then makes.
//!
//! Kernels without kprobes (this project's 6.18 host) or without
//! kprobe_multi (`CONFIG_FPROBE` off, e.g. Debian's 6.1) skip through the
//! library's probes; `cargo xtask vm-test` runs the tests where they can.
#![forbid(unsafe_code)]

mod behaviour_support;

use behaviour_support::{i64_at, tid, u64_at, value_of};
use oxbpf::{OpenObject, ProgType};
use oxbpf_tests::{FdSnapshot, Feature, kernel_lock, require, vm_object};
use rustix::process::{getpgid, getppid};

#[test]
fn kprobe_and_kretprobe_count_getpgid() {
    require!(Feature::Kprobe, Feature::Kretprobe);
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let obj = OpenObject::open(vm_object("kprobe"))
            .unwrap()
            .load()
            .unwrap_or_else(|e| panic!("{e:?}"));
        for p in obj.programs() {
            assert_eq!(p.info().unwrap().r#type, ProgType::KPROBE, "{}", p.name());
        }
        let calls = obj.map("kprobe_calls").unwrap();
        let me = tid();
        let stats = || {
            value_of(calls, me).map(|v| {
                assert_eq!(v.len(), 24);
                (u64_at(&v, 0), u64_at(&v, 8), i64_at(&v, 16))
            })
        };
        // From the section names: kprobe/__x64_sys_getpgid and
        // kretprobe/__x64_sys_getpgid.
        let links: Vec<_> = obj.programs().map(|p| p.attach().unwrap()).collect();
        let mut pgid = 0;
        for _ in 0..6 {
            pgid = getpgid(None).unwrap().as_raw_nonzero().get();
        }
        assert_eq!(stats(), Some((6, 6, i64::from(pgid))));

        drop(links);
        getpgid(None).unwrap();
        assert_eq!(
            stats(),
            Some((6, 6, i64::from(pgid))),
            "detached probes ran"
        );

        // The explicit methods; errors for an unknown function and for a
        // program not loaded for kprobe_multi.
        let entry = obj.program("kprobe_getpgid").unwrap();
        let link = entry.attach_kprobe("__x64_sys_getpgid", 0).unwrap();
        getpgid(None).unwrap();
        assert_eq!(stats().map(|s| s.0), Some(7));
        drop(link);
        let ret = obj.program("kretprobe_getpgid").unwrap();
        assert!(ret.attach_kprobe("oxbpf_no_such_function", 0).is_err());
        assert!(ret.attach_kprobe_multi(&["x"], false).is_err());
    }
    fds.assert_no_leak("kprobe");
}

#[test]
fn kprobe_multi_counts_two_functions_with_one_link() {
    require!(Feature::KprobeMulti);
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let obj = OpenObject::open(vm_object("kprobe_multi"))
            .unwrap()
            .load()
            .unwrap_or_else(|e| panic!("{e:?}"));
        let p = obj.program("kprobe_multi_count").unwrap();
        assert_eq!(
            p.expected_attach_type(),
            Some(oxbpf::AttachType::TRACE_KPROBE_MULTI)
        );
        let me = tid();
        obj.map("multi_watch")
            .unwrap()
            .update(&0u32.to_le_bytes(), &u64::from(me).to_le_bytes(), 0)
            .unwrap();
        let link = p
            .attach_kprobe_multi(&["__x64_sys_getppid", "__x64_sys_getpgid"], false)
            .unwrap();
        for _ in 0..3 {
            let _ = getppid();
        }
        for _ in 0..4 {
            getpgid(None).unwrap();
        }
        drop(link);
        let _ = getppid();

        let calls = value_of(obj.map("multi_calls").unwrap(), me).expect("counted");
        assert_eq!(u64_at(&calls, 0), 7);
        let ips = obj.map("multi_ips").unwrap();
        let mut counts: Vec<u64> = ips
            .keys()
            .map(|k| u64_at(&ips.lookup(&k.unwrap(), 0).unwrap().unwrap(), 0))
            .collect();
        counts.sort_unstable();
        assert_eq!(counts, [3, 4], "one entry per function");
    }
    fds.assert_no_leak("kprobe_multi");
}
