//! Counting and sampling perf events of any fixed PMU type (hardware,
//! software, hardware cache, raw), with the sampling and filtering options
//! a `BPF_PROG_TYPE_PERF_EVENT` program's event usually needs.

use std::os::fd::OwnedFd;

use crate::error::{Error, Result};
use crate::perf::PerfEventAttr;
use crate::sys;

/// `PERF_TYPE_HARDWARE`.
pub const PERF_TYPE_HARDWARE: u32 = 0;
/// `PERF_TYPE_HW_CACHE`.
pub const PERF_TYPE_HW_CACHE: u32 = 3;
/// `PERF_TYPE_RAW`.
pub const PERF_TYPE_RAW: u32 = 4;

/// `PERF_COUNT_HW_*`: the `config` of a hardware event.
pub mod hw {
    /// CPU cycles.
    pub const CPU_CYCLES: u64 = 0;
    /// Retired instructions.
    pub const INSTRUCTIONS: u64 = 1;
    /// Cache accesses.
    pub const CACHE_REFERENCES: u64 = 2;
    /// Cache misses.
    pub const CACHE_MISSES: u64 = 3;
    /// Retired branch instructions.
    pub const BRANCH_INSTRUCTIONS: u64 = 4;
    /// Mispredicted branches.
    pub const BRANCH_MISSES: u64 = 5;
}

/// How often a perf event samples (and so runs an attached program).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sampling {
    /// Every `n` occurrences (nanoseconds for the clock events).
    Period(u64),
    /// About `n` times per second (`attr.freq`).
    Frequency(u64),
}

/// A perf event to open with [`perf_event_open_counter`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PerfCounter {
    /// `PERF_TYPE_*` (hardware, software, cache, raw); the tracepoint,
    /// kprobe and uprobe types have their own functions.
    pub event_type: u32,
    /// The event within the type ([`hw`], [`crate::sw`]...).
    pub config: u64,
    /// When to sample.
    pub sampling: Sampling,
    /// Thread to follow (0: the caller, -1: every thread on `cpu`).
    pub pid: i32,
    /// CPU to follow (-1: every CPU the thread runs on).
    pub cpu: i32,
    /// Follow child threads created later (`inherit`).
    pub inherit: bool,
    /// Do not count user space (`exclude_user`).
    pub exclude_user: bool,
    /// Do not count the kernel (`exclude_kernel`).
    pub exclude_kernel: bool,
    /// Do not count the hypervisor (`exclude_hv`).
    pub exclude_hv: bool,
    /// Start disabled (enable with [`crate::perf_event_enable`]; a BPF
    /// perf_event link enables it when created).
    pub disabled: bool,
}

impl PerfCounter {
    /// An event of `event_type`/`config` sampled per `sampling` on the
    /// calling thread, any CPU, everything counted, enabled.
    pub fn new(event_type: u32, config: u64, sampling: Sampling) -> PerfCounter {
        PerfCounter {
            event_type,
            config,
            sampling,
            pid: 0,
            cpu: -1,
            inherit: false,
            exclude_user: false,
            exclude_kernel: false,
            exclude_hv: false,
            disabled: false,
        }
    }

    /// The `perf_event_attr` this describes.
    pub fn attr(&self) -> Result<PerfEventAttr> {
        if matches!(self.event_type, crate::PERF_TYPE_TRACEPOINT) || self.event_type > 5 {
            return Err(Error::invalid(format!(
                "perf counter: event type {} is not a counter type (hardware, software, cache, raw, breakpoint)",
                self.event_type
            )));
        }
        let (period, freq) = match self.sampling {
            Sampling::Period(0) | Sampling::Frequency(0) => {
                return Err(Error::invalid(
                    "perf counter: a sample period or frequency of 0 runs no program",
                ));
            }
            Sampling::Period(n) => (n, false),
            Sampling::Frequency(n) => (n, true),
        };
        let bit = |on: bool, n: u32| if on { 1u64 << n } else { 0 };
        Ok(PerfEventAttr {
            r#type: self.event_type,
            config: self.config,
            sample_period: period,
            wakeup_events: 1,
            flags: bit(self.disabled, 0)
                | bit(self.inherit, 1)
                | bit(self.exclude_user, 4)
                | bit(self.exclude_kernel, 5)
                | bit(self.exclude_hv, 6)
                | bit(freq, 10),
            ..Default::default()
        })
    }
}

/// `perf_event_open` of `counter`, close-on-exec.
pub fn perf_event_open_counter(counter: &PerfCounter) -> Result<OwnedFd> {
    sys::perf_event_open(&counter.attr()?, counter.pid, counter.cpu)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attr_bits() {
        let mut c = PerfCounter::new(crate::PERF_TYPE_SOFTWARE, 0, Sampling::Frequency(99));
        c.exclude_kernel = true;
        c.disabled = true;
        let a = c.attr().unwrap();
        assert_eq!((a.r#type, a.config, a.sample_period), (1, 0, 99));
        assert_eq!(a.flags, 1 | (1 << 5) | (1 << 10));
        c.sampling = Sampling::Period(0);
        assert!(c.attr().is_err());
        let t = PerfCounter::new(crate::PERF_TYPE_TRACEPOINT, 1, Sampling::Period(1));
        assert!(t.attr().is_err());
    }

    #[test]
    fn opens_a_software_counter() {
        let c = PerfCounter::new(
            crate::PERF_TYPE_SOFTWARE,
            crate::sw::TASK_CLOCK,
            Sampling::Period(1_000_000),
        );
        perf_event_open_counter(&c).unwrap();
    }
}
