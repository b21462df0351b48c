//! perf_event.bpf.c in the live kernel: a perf_event program attached to a
//! software task-clock event of this thread, counting its samples.
#![forbid(unsafe_code)]

mod behaviour_support;

use std::time::{Duration, Instant};

use behaviour_support::{u64_at, value_of};
use oxbpf::OpenObject;
use oxbpf::sys::{perf_event_open_software, sw};
use oxbpf_tests::{FdSnapshot, kernel_lock, object};

const PERIOD_NS: u64 = 100_000;

/// Keeps this thread on the CPU for `d` of wall-clock time.
fn spin(d: Duration) -> Duration {
    let start = Instant::now();
    let mut x = 0u64;
    while start.elapsed() < d {
        for i in 0..1000 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
    }
    start.elapsed()
}

/// `{samples, last_period}` of `perf_samples[0]`.
fn samples(obj: &oxbpf::Object) -> (u64, u64) {
    let v = value_of(obj.map("perf_samples").unwrap(), 0).unwrap();
    (u64_at(&v, 0), u64_at(&v, 8))
}

#[test]
fn task_clock_samples_run_the_program() {
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let obj = OpenObject::open(object("perf_event"))
            .unwrap()
            .load()
            .unwrap();
        let prog = obj.program("perf_sample").unwrap();
        assert_eq!(samples(&obj), (0, 0));

        let event = perf_event_open_software(sw::TASK_CLOCK, PERIOD_NS, 0, -1).unwrap();
        let link = prog.attach_perf_event(event).unwrap();
        assert!(
            matches!(link.open_iter(), Err(oxbpf::Error::InvalidArgument(_))),
            "a perf event link is no iterator"
        );
        let elapsed = spin(Duration::from_millis(100));
        drop(link);
        let (n, period) = samples(&obj);
        // About one sample per 100 µs the thread ran: never more than the
        // wall-clock time allows, at least one.
        let most = (elapsed.as_nanos() / u128::from(PERIOD_NS)) as u64 + 2;
        assert!(n > 0 && n <= most, "{n} samples in {elapsed:?}");
        assert_eq!(period, PERIOD_NS);

        // Detached: no more samples.
        spin(Duration::from_millis(20));
        assert_eq!(samples(&obj), (n, period), "detached");

        // The section name says nothing about which event.
        assert!(matches!(
            prog.attach(),
            Err(oxbpf::Error::Unsupported { .. })
        ));
    }
    fds.assert_no_leak("perf_event");
}
