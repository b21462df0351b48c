//! The kprobe attachments added on top of plain kprobes: ksyscall (the
//! arch syscall prefix), kprobes with cookies, kprobe_multi on patterns
//! and with cookies. This host has no kprobes: the tests skip through the
//! library's probes (`require!`) and run under `cargo xtask vm-test` on
//! kernels that have them (`tests/progs-vm/kprobe*.bpf.c`).
#![forbid(unsafe_code)]

mod behaviour_support;

use behaviour_support::{i64_at, tid, u64_at, value_of};
use oxbpf::{KprobeMultiOptions, OpenObject};
use oxbpf_tests::{FdSnapshot, Feature, Probed, kernel_lock, probe, require, vm_object};
use rustix::process::{getpgid, getppid};

#[test]
fn ksyscall_names_the_arch_entry_point() {
    require!(Feature::Kprobe, Feature::Kretprobe);
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let obj = OpenObject::open(vm_object("kprobe"))
            .unwrap()
            .load()
            .unwrap();
        let calls = obj.map("kprobe_calls").unwrap();
        let entry = obj
            .program("kprobe_getpgid")
            .unwrap()
            .attach_ksyscall("getpgid", false)
            .unwrap();
        let ret = obj
            .program("kretprobe_getpgid")
            .unwrap()
            .attach_ksyscall("getpgid", true)
            .unwrap();
        let mut pgid = 0;
        for _ in 0..3 {
            pgid = getpgid(None).unwrap().as_raw_nonzero().get();
        }
        let v = value_of(calls, tid()).expect("counted");
        assert_eq!(
            (u64_at(&v, 0), u64_at(&v, 8), i64_at(&v, 16)),
            (3, 3, i64::from(pgid))
        );
        drop((entry, ret));
        // With a cookie (the program ignores it; the link must still
        // work), where the kernel has perf_event links to carry it.
        if let Probed::Unsupported(why) = probe(Feature::PerfEventLinks) {
            println!("no cookie: {why}");
            drop(obj);
            fds.assert_no_leak("ksyscall");
            return;
        }
        let link = obj
            .program("kprobe_getpgid")
            .unwrap()
            .attach_kprobe_with_cookie("__x64_sys_getpgid", 0, false, 42)
            .unwrap();
        getpgid(None).unwrap();
        assert_eq!(u64_at(&value_of(calls, tid()).unwrap(), 0), 4);
        drop(link);
    }
    fds.assert_no_leak("ksyscall");
}

#[test]
fn kprobe_multi_resolves_patterns() {
    require!(Feature::KprobeMulti);
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let obj = OpenObject::open(vm_object("kprobe_multi"))
            .unwrap()
            .load()
            .unwrap();
        let p = obj.program("kprobe_multi_count").unwrap();
        let me = tid();
        obj.map("multi_watch")
            .unwrap()
            .update(&0u32.to_le_bytes(), &u64::from(me).to_le_bytes(), 0)
            .unwrap();
        // `__x64_sys_getppid` and `__x64_sys_getpgid` (and getpgrp: not
        // called), from one pattern; cookies need exact names.
        let opts = KprobeMultiOptions::default().with_cookies(vec![1]);
        assert!(
            p.attach_kprobe_multi_with(&["__x64_sys_getp*"], &opts)
                .is_err()
        );
        let link = p
            .attach_kprobe_multi_with(&["__x64_sys_getp?id"], &KprobeMultiOptions::default())
            .unwrap();
        for _ in 0..2 {
            let _ = getppid();
        }
        getpgid(None).unwrap();
        drop(link);
        let calls = value_of(obj.map("multi_calls").unwrap(), me).expect("counted");
        // Which functions ran (bpf_get_func_ip), to tell a missed
        // function from a missed call.
        let names = ["__x64_sys_getppid", "__x64_sys_getpgid"];
        let addrs = oxbpf::sys::Kallsyms::lookup(&names).unwrap();
        let ips = obj.map("multi_ips").unwrap();
        let hits: Vec<String> = names
            .iter()
            .zip(&addrs)
            .map(|(n, a)| {
                let count = a
                    .and_then(|a| ips.lookup(&a.to_ne_bytes(), 0).unwrap())
                    .map(|v| u64_at(&v, 0));
                format!("{n} at {a:x?}: {count:?}")
            })
            .collect();
        assert_eq!(u64_at(&calls, 0), 3, "{hits:?}");
    }
    fds.assert_no_leak("kprobe_multi patterns");
}

#[test]
fn ksyscall_fails_clearly_exactly_when_the_kernel_has_no_kprobe_pmu() {
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let has_pmu = oxbpf::sys::kprobe_pmu_type().unwrap().is_some();
        // kprobe programs load without CONFIG_KPROBES; only attaching
        // needs the PMU.
        let obj = OpenObject::open(vm_object("kprobe"))
            .unwrap()
            .load()
            .unwrap();
        let r = obj
            .program("kprobe_getpgid")
            .unwrap()
            .attach_ksyscall("getpgid", false);
        match r {
            Ok(_link) => assert!(has_pmu, "attached without a kprobe PMU"),
            Err(oxbpf::Error::Unsupported { what, .. }) => {
                assert!(!has_pmu, "the PMU exists, yet: {what}");
                assert!(what.contains("kprobe PMU"), "{what}");
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    fds.assert_no_leak("ksyscall without kprobes");
}
