//! The kprobe attachments added on top of plain kprobes: ksyscall (the
//! arch syscall prefix), kprobes with cookies, kprobe_multi on patterns
//! and with cookies. This host has no kprobes: the tests skip through the
//! library's probes (`require!`) and run under `cargo xtask vm-test` on
//! kernels that have them (`tests/progs-vm/kprobe*.bpf.c`).
#![forbid(unsafe_code)]

mod behaviour_support;

use behaviour_support::{i64_at, tid, u64_at, value_of};
use oxbpf::{KprobeMultiOptions, OpenObject, TestRunOptions};
use oxbpf_tests::{FdSnapshot, Feature, Probed, kernel_lock, probe, require, vm_object};
use rustix::process::getpgid;

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
    // The functions probed are the kernel's `bpf_fentry_test1..N`, which
    // exist (noinline) for BPF's own tests: a test run of an fentry
    // program calls each once. (Syscall entry points such as
    // `__x64_sys_getppid` are inlined into the syscall dispatcher on
    // 6.9+ kernels: a probe on the out-of-line copy never fires.)
    require!(Feature::KprobeMulti, Feature::Fentry);
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let obj = OpenObject::open(vm_object("kprobe_multi"))
            .unwrap()
            .load()
            .unwrap();
        let trigger_obj = OpenObject::open(vm_object("fentry"))
            .unwrap()
            .load()
            .unwrap();
        let trigger = trigger_obj.program("fentry_test1").unwrap();
        let p = obj.program("kprobe_multi_count").unwrap();
        let me = tid();
        obj.map("multi_watch")
            .unwrap()
            .update(&0u32.to_le_bytes(), &u64::from(me).to_le_bytes(), 0)
            .unwrap();
        // Cookies need exact names.
        let opts = KprobeMultiOptions::default().with_cookies(vec![1]);
        assert!(
            p.attach_kprobe_multi_with(&["bpf_fentry_test*"], &opts)
                .is_err()
        );
        let link = p
            .attach_kprobe_multi_with(&["bpf_fentry_test?"], &KprobeMultiOptions::default())
            .unwrap();
        const RUNS: u64 = 2;
        for _ in 0..RUNS {
            trigger.test_run(&TestRunOptions::default()).unwrap();
        }
        drop(link);
        trigger.test_run(&TestRunOptions::default()).unwrap();

        // Every function of the pattern that ran was counted once per
        // run (bpf_get_func_ip), test1..test8 at least.
        let names: Vec<String> = (1..=8).map(|i| format!("bpf_fentry_test{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let addrs = oxbpf::sys::Kallsyms::lookup(&refs).unwrap();
        let ips = obj.map("multi_ips").unwrap();
        for (name, addr) in names.iter().zip(&addrs) {
            let addr = addr.unwrap_or_else(|| panic!("{name} is not in kallsyms"));
            let hits = ips
                .lookup(&addr.to_ne_bytes(), 0)
                .unwrap()
                .map(|v| u64_at(&v, 0));
            assert_eq!(hits, Some(RUNS), "{name} at {addr:#x}");
        }
        let functions = ips.keys().count() as u64;
        assert!(functions >= 8, "{functions} functions ran");
        let calls = value_of(obj.map("multi_calls").unwrap(), me).expect("counted");
        assert_eq!(
            u64_at(&calls, 0),
            RUNS * functions,
            "and only while attached"
        );
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
