//! Software perf events (`PERF_TYPE_SOFTWARE`): the sampling events a
//! `BPF_PROG_TYPE_PERF_EVENT` program attaches to, counted by the kernel
//! itself (CPU clock, task clock, page faults, context switches...) and
//! so available on every machine, virtual ones included.

use std::os::fd::OwnedFd;

use crate::error::{Error, Result};
use crate::perf::PerfEventAttr;
use crate::sys;

/// `PERF_TYPE_SOFTWARE`.
pub const PERF_TYPE_SOFTWARE: u32 = 1;

/// `PERF_COUNT_SW_*`: the `config` of a software event.
pub mod sw {
    /// Wall-clock time on the CPU, in nanoseconds.
    pub const CPU_CLOCK: u64 = 0;
    /// Time the task runs, in nanoseconds.
    pub const TASK_CLOCK: u64 = 1;
    /// Page faults.
    pub const PAGE_FAULTS: u64 = 2;
    /// Context switches.
    pub const CONTEXT_SWITCHES: u64 = 3;
}

/// `perf_event_open` of the software event `config` ([`sw`]) for thread
/// `pid` (0: the calling thread, -1: all) on `cpu` (-1: all; one of pid
/// and cpu must not be -1), sampling every `sample_period` units
/// (nanoseconds for the clocks), close-on-exec, enabled from the start.
///
/// A `BPF_PROG_TYPE_PERF_EVENT` program attached to the event runs on
/// each sample.
pub fn perf_event_open_software(
    config: u64,
    sample_period: u64,
    pid: i32,
    cpu: i32,
) -> Result<OwnedFd> {
    if sample_period == 0 {
        return Err(Error::invalid(
            "perf_event_open_software: a sample period of 0 makes a counting event, which runs no program",
        ));
    }
    let attr = PerfEventAttr {
        r#type: PERF_TYPE_SOFTWARE,
        config,
        sample_period,
        wakeup_events: 1,
        ..Default::default()
    };
    sys::perf_event_open(&attr, pid, cpu)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_a_task_clock_event_on_this_thread() {
        let fd = perf_event_open_software(sw::TASK_CLOCK, 100_000, 0, -1).unwrap();
        let link = std::fs::read_link(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&fd)
        ))
        .unwrap();
        assert_eq!(link.to_string_lossy(), "anon_inode:[perf_event]");
    }

    #[test]
    fn bad_arguments_are_errors() {
        // No such software event.
        let err = perf_event_open_software(1000, 1, 0, -1).unwrap_err();
        assert!(matches!(err, Error::PerfEventOpen { .. }), "{err}");
        assert!(perf_event_open_software(sw::CPU_CLOCK, 0, 0, -1).is_err());
        // Neither a thread nor a CPU.
        assert!(perf_event_open_software(sw::CPU_CLOCK, 1000, -1, -1).is_err());
    }
}
