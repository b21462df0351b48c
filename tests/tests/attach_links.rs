//! What links do once made: pin, reopen from the pin, unpin, update,
//! detach, describe; and perf events opened by oxbpf (counters sampled on
//! this thread or on every CPU). Programs: `raw_tp.bpf.c` (counts this
//! thread's getppid calls), `perf_event.bpf.c`.
#![forbid(unsafe_code)]

mod behaviour_support;

use behaviour_support::{tid, u64_at, value_of};
use oxbpf::sys::{Errno, LinkType, PERF_TYPE_SOFTWARE, PerfCounter, Sampling, sw};
use oxbpf::{Link, OpenObject};
use oxbpf_tests::{FdSnapshot, PinDir, assert_perf_event_attachment, kernel_lock, object};
use rustix::process::getppid;

/// `getppid_calls[tid].enters`.
fn enters(obj: &oxbpf::Object) -> u64 {
    value_of(obj.map("getppid_calls").unwrap(), tid()).map_or(0, |v| u64_at(&v, 0))
}

fn calls(n: usize) {
    for _ in 0..n {
        std::hint::black_box(getppid());
    }
}

fn errno_of(e: &oxbpf::Error) -> Option<Errno> {
    match e {
        oxbpf::Error::Syscall { source, .. } => source.errno(),
        _ => None,
    }
}

#[test]
fn a_pinned_link_outlives_its_handle_reopens_and_unpins() {
    let _k = kernel_lock();
    let pins = PinDir::new("links");
    let fds = FdSnapshot::take();
    {
        let obj = OpenObject::open(object("raw_tp")).unwrap().load().unwrap();
        let prog = obj.program("getppid_enter").unwrap();
        let link = prog.attach().unwrap();
        let info = link.info().unwrap();
        assert_eq!(info.link_type(), LinkType::RAW_TRACEPOINT);
        assert_eq!(info.prog_id, prog.info().unwrap().id);
        calls(2);
        assert_eq!(enters(&obj), 2);

        let pin = pins.0.join("enter");
        link.pin(&pin).unwrap();
        let err = link.pin(&pin).unwrap_err();
        assert_eq!(errno_of(&err), Some(Errno::EXIST), "{err:?}");
        drop(link);
        calls(3);
        assert_eq!(enters(&obj), 5, "the pinned link stopped with its handle");

        let reopened = Link::from_pin(&pin).unwrap();
        assert_eq!(reopened.info().unwrap().id, info.id);
        reopened.unpin(&pin).unwrap();
        assert!(!pin.exists());
        calls(1);
        assert_eq!(enters(&obj), 6, "still held by the reopened handle");
        drop(reopened);
        // The pin's inode drops its reference once freed, after an RCU
        // grace period on some kernels (5.10): the program may run a
        // little longer, but must stop.
        let mut stopped = false;
        for _ in 0..100 {
            let before = enters(&obj);
            calls(4);
            if enters(&obj) == before {
                stopped = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(stopped, "unpinned and closed, yet it still runs");

        // A map's pin is not a link.
        let map_pin = pins.0.join("map");
        obj.map("getppid_calls").unwrap().pin(&map_pin).unwrap();
        assert!(Link::from_pin(&map_pin).is_err());
        let other = obj.program("getppid_exit").unwrap().attach().unwrap();
        assert!(other.unpin(&map_pin).is_err());
        assert!(map_pin.exists(), "unpin removed a map pin");
    }
    fds.assert_no_leak("pinned link");
}

#[test]
fn raw_tracepoint_links_cannot_be_updated_and_detach_by_closing() {
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let obj = OpenObject::open(object("raw_tp")).unwrap().load().unwrap();
        let link = obj.program("getppid_enter").unwrap().attach().unwrap();
        let err = link
            .update_program(obj.program("getppid_exit").unwrap())
            .unwrap_err();
        assert!(errno_of(&err).is_some(), "{err:?}");
        calls(1);
        link.detach().unwrap();
        calls(2);
        assert_eq!(enters(&obj), 1);
    }
    fds.assert_no_leak("raw_tp detach");
}

/// `(samples, last_period)` of `perf_samples[0]`.
fn samples(obj: &oxbpf::Object) -> (u64, u64) {
    let v = value_of(obj.map("perf_samples").unwrap(), 0).unwrap();
    (u64_at(&v, 0), u64_at(&v, 8))
}

fn spin(ms: u64) {
    let end = std::time::Instant::now() + std::time::Duration::from_millis(ms);
    let mut x = 0u64;
    while std::time::Instant::now() < end {
        x = std::hint::black_box(x.wrapping_add(1));
    }
}

#[test]
fn perf_counters_opened_by_oxbpf_run_the_program() {
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let obj = OpenObject::open(object("perf_event"))
            .unwrap()
            .load()
            .unwrap();
        let prog = obj.program("perf_sample").unwrap();
        // This thread's task clock, every 100 µs.
        let c = PerfCounter::new(
            PERF_TYPE_SOFTWARE,
            sw::TASK_CLOCK,
            Sampling::Period(100_000),
        );
        let link = prog.attach_perf_counter(&c).unwrap();
        assert_perf_event_attachment(&link);
        spin(50);
        drop(link);
        let (n, period) = samples(&obj);
        assert!(n > 10, "{n} samples in 50 ms of a 100 µs task clock");
        assert_eq!(period, 100_000);
        spin(20);
        assert_eq!(samples(&obj).0, n, "a detached counter sampled");

        // Every thread on every CPU: one event per online CPU, one link.
        let mut all =
            PerfCounter::new(PERF_TYPE_SOFTWARE, sw::CPU_CLOCK, Sampling::Period(200_000));
        all.pid = -1;
        let link = prog.attach_perf_counter(&all).unwrap();
        let cpus = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap();
        assert!(!link.parts().is_empty());
        assert!(
            link.pin("/sys/fs/bpf/oxbpf-never").is_err(),
            "a group is not one link"
        );
        spin(30);
        drop(link);
        let (m, period) = samples(&obj);
        assert!(
            m > n,
            "no sample from the per-CPU clocks (cpus {})",
            cpus.trim()
        );
        assert_eq!(period, 200_000);
    }
    fds.assert_no_leak("perf counters");
}

#[test]
fn attach_all_attaches_what_sections_name_and_skips_the_rest() {
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let obj = OpenObject::open(object("tracepoint"))
            .unwrap()
            .load()
            .unwrap();
        let links = obj.attach_all().unwrap();
        assert_eq!(links.len(), 2);
        for _ in 0..3 {
            std::hint::black_box(rustix::process::getpid());
        }
        let v = value_of(obj.map("getpid_calls").unwrap(), tid()).expect("counted");
        assert_eq!((u64_at(&v, 0), u64_at(&v, 8)), (3, 3));
        drop(links);

        let net = OpenObject::open(object("net_attach"))
            .unwrap()
            .load()
            .unwrap();
        let report = net.attach_all_report().unwrap();
        assert!(report.links.is_empty());
        let skipped: Vec<&str> = report.skipped.iter().map(|s| s.program.as_str()).collect();
        assert_eq!(skipped, ["xdp_udp", "tcx_first", "tcx_second", "tc_udp"]);
        assert!(
            report
                .skipped
                .iter()
                .all(|s| s.reason.contains("interface"))
        );
        // Asked directly, the same programs say what they need.
        let err = net.program("tcx_first").unwrap().attach().unwrap_err();
        assert!(matches!(err, oxbpf::Error::Unsupported { .. }), "{err:?}");
        assert!(err.to_string().contains("interface"), "{err}");
    }
    fds.assert_no_leak("attach_all");
}
