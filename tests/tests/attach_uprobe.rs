//! uprobes in the live kernel: on functions of this test binary (found by
//! pattern: their names are mangled) and of libc by library name; uretprobes,
//! pid filters, uprobe_multi with cookies, uprobe.session and sleepable
//! uprobes (`uprobe.bpf.c`, `uprobe_kinds.bpf.c`).
#![forbid(unsafe_code)]

mod behaviour_support;

use behaviour_support::{tid, u64_at, value_of};
use oxbpf::sys::LinkType;
use oxbpf::{OpenObject, UprobeMultiOptions, UprobeOptions};
use oxbpf_tests::{
    FdSnapshot, Feature, Probed, assert_perf_event_attachment, kernel_lock, object, probe, require,
};

#[inline(never)]
extern "C" fn oxbpf_attach_uprobe_target(x: u64) -> u64 {
    std::hint::black_box(x) + 1
}

#[inline(never)]
extern "C" fn oxbpf_attach_uprobe_other(x: u64) -> u64 {
    std::hint::black_box(x) * 2
}

/// Calls through a pointer, so that the functions keep their C ABI and
/// their code.
fn call_target(x: u64) -> u64 {
    std::hint::black_box(oxbpf_attach_uprobe_target as extern "C" fn(u64) -> u64)(x)
}

fn call_other(x: u64) -> u64 {
    std::hint::black_box(oxbpf_attach_uprobe_other as extern "C" fn(u64) -> u64)(x)
}

const TARGET: &str = "*oxbpf_attach_uprobe_target*";
const OTHER: &str = "*oxbpf_attach_uprobe_other*";

fn exe() -> std::path::PathBuf {
    std::fs::read_link("/proc/self/exe").unwrap()
}

/// `(calls, last_arg, last_ret)` of `uprobe_calls[tid]`.
fn uprobe_stats(obj: &oxbpf::Object) -> Option<(u64, u64, u64)> {
    value_of(obj.map("uprobe_calls").unwrap(), tid())
        .map(|v| (u64_at(&v, 0), u64_at(&v, 8), u64_at(&v, 16)))
}

#[test]
fn uprobe_and_uretprobe_on_a_function_of_this_binary() {
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let obj = OpenObject::open(object("uprobe")).unwrap().load().unwrap();
        let entry = obj
            .program("uprobe_entry")
            .unwrap()
            .attach_uprobe(exe(), TARGET, 0, &UprobeOptions::default())
            .unwrap();
        let opts = UprobeOptions::default()
            .return_probe()
            .with_pid(std::process::id() as i32);
        let ret = obj
            .program("uprobe_return")
            .unwrap()
            .attach_uprobe(exe(), TARGET, 0, &opts)
            .unwrap();
        assert_perf_event_attachment(&entry);
        for x in 100..104 {
            assert_eq!(call_target(x), x + 1);
        }
        call_other(5);
        assert_eq!(uprobe_stats(&obj), Some((4, 103, 104)));
        drop((entry, ret));
        call_target(7);
        assert_eq!(
            uprobe_stats(&obj),
            Some((4, 103, 104)),
            "detached probes ran"
        );

        // Errors name what is missing.
        let p = obj.program("uprobe_entry").unwrap();
        let err = p
            .attach_uprobe(
                exe(),
                "oxbpf_no_such_function",
                0,
                &UprobeOptions::default(),
            )
            .unwrap_err();
        assert!(err.to_string().contains("oxbpf_no_such_function"), "{err}");
        let err = p
            .attach_uprobe(
                exe(),
                "*oxbpf_attach_uprobe_*",
                0,
                &UprobeOptions::default(),
            )
            .unwrap_err();
        assert!(err.to_string().contains("matches 2 functions"), "{err}");
        assert!(
            p.attach_uprobe_multi(exe(), &[TARGET], &UprobeMultiOptions::default())
                .is_err(),
            "a plain uprobe program was not loaded for uprobe_multi"
        );
    }
    fds.assert_no_leak("uprobe");
}

#[test]
fn a_pid_filter_leaves_other_processes_out() {
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let obj = OpenObject::open(object("uprobe")).unwrap().load().unwrap();
        // A process that does not exist runs nothing here.
        let opts = UprobeOptions::default().with_pid(std::process::id() as i32 + 1_000_000);
        let err = obj
            .program("uprobe_entry")
            .unwrap()
            .attach_uprobe(exe(), TARGET, 0, &opts)
            .unwrap_err();
        match &err {
            oxbpf::Error::Syscall { source, .. } => {
                assert_eq!(source.errno(), Some(oxbpf::sys::Errno::SRCH), "{err:?}")
            }
            other => panic!("{other:?}"),
        }
        let opts = UprobeOptions::default().with_pid(std::process::id() as i32);
        let link = obj
            .program("uprobe_entry")
            .unwrap()
            .attach_uprobe(exe(), TARGET, 0, &opts)
            .unwrap();
        call_target(1);
        call_target(2);
        assert_eq!(uprobe_stats(&obj).map(|s| s.0), Some(2));
        drop(link);
    }
    fds.assert_no_leak("uprobe pid");
}

#[test]
fn uprobe_on_libc_by_library_name() {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    if !maps.contains("/libc.so.6") {
        // vm-test's static test binaries map no libc.
        oxbpf_tests::record_skip("this test binary does not map libc.so.6");
        return;
    }
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let obj = OpenObject::open(object("uprobe")).unwrap().load().unwrap();
        let link = obj
            .program("uprobe_entry")
            .unwrap()
            .attach_uprobe("libc.so.6", "getpid", 0, &UprobeOptions::default())
            .unwrap();
        for _ in 0..3 {
            // std calls libc's getpid().
            std::hint::black_box(std::process::id());
        }
        assert_eq!(uprobe_stats(&obj).map(|s| s.0), Some(3));
        drop(link);
    }
    fds.assert_no_leak("uprobe libc");
}

/// `(multi, cookies, session, sleepy)` of `kinds_calls[tid]`.
fn kinds(obj: &oxbpf::Object) -> (u64, u64, u64, u64) {
    value_of(obj.map("kinds_calls").unwrap(), tid()).map_or((0, 0, 0, 0), |v| {
        (u64_at(&v, 0), u64_at(&v, 8), u64_at(&v, 16), u64_at(&v, 24))
    })
}

#[test]
fn uprobe_multi_session_and_sleepable_programs() {
    require!(Feature::UprobeMulti);
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let obj = OpenObject::open(object("uprobe_kinds"))
            .unwrap()
            .load()
            .unwrap();
        let multi = obj.program("multi_entry").unwrap();
        let opts = UprobeMultiOptions::default().with_cookies(vec![1000, 7]);
        let link = multi
            .attach_uprobe_multi(exe(), &[TARGET, OTHER], &opts)
            .unwrap();
        assert_eq!(link.info().unwrap().link_type(), LinkType::UPROBE_MULTI);
        for x in 0..3 {
            call_target(x);
        }
        call_other(1);
        call_other(2);
        assert_eq!(kinds(&obj), (5, 3 * 1000 + 2 * 7, 0, 0));
        drop(link);

        // Sessions (6.13) where the kernel has them.
        let sessions = match probe(Feature::UprobeSession) {
            Probed::Supported => {
                let session = obj
                    .program("session_count")
                    .unwrap()
                    .attach_uprobe_multi(exe(), &[TARGET], &UprobeMultiOptions::default())
                    .unwrap();
                for x in 0..3 {
                    call_target(x);
                }
                assert_eq!(kinds(&obj).2, 6, "entry and return of 3 calls");
                drop(session);
                6
            }
            Probed::Unsupported(why) => {
                println!("no uprobe sessions: {why}");
                0
            }
            Probed::Inconclusive(why) => panic!("uprobe session probe: {why}"),
        };

        let sleepy = obj
            .program("sleepy_entry")
            .unwrap()
            .attach_uprobe(exe(), TARGET, 0, &UprobeOptions::default())
            .unwrap();
        call_target(1);
        call_target(2);
        assert_eq!(kinds(&obj), (5, 3014, sessions, 2));
        drop(sleepy);

        // A cookie count that does not match the probes is refused.
        let bad = UprobeMultiOptions::default().with_cookies(vec![1]);
        assert!(
            multi
                .attach_uprobe_multi(exe(), &[TARGET, OTHER], &bad)
                .is_err()
        );
    }
    fds.assert_no_leak("uprobe kinds");
}

#[test]
fn attach_all_skips_uprobe_sections_without_a_target() {
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let obj = OpenObject::open(object("uprobe")).unwrap().load().unwrap();
        let report = obj.attach_all_report().unwrap();
        assert!(report.links.is_empty());
        let skipped: Vec<(&str, &str)> = report
            .skipped
            .iter()
            .map(|s| (s.program.as_str(), s.section.as_str()))
            .collect();
        assert_eq!(
            skipped,
            [("uprobe_entry", "uprobe"), ("uprobe_return", "uretprobe")]
        );
        assert!(
            report.skipped[0].reason.contains("binary"),
            "{:?}",
            report.skipped[0]
        );
        assert!(obj.attach_all().unwrap().is_empty());
    }
    fds.assert_no_leak("attach_all uprobe");
}
