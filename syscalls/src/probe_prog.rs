//! Program-kind probes: whether the running kernel loads *and attaches*
//! kprobes, kprobe_multi, fentry/fexit/fmod_ret and LSM programs; and the
//! kprobe PMU (`perf_event_open` of a kernel function) that the kprobe
//! probe and the loader's kprobe attach share.
//!
//! Each probe makes the smallest program of its kind (`r0 = 0; exit`),
//! loads it and attaches it to a function the caller names
//! ([`ProbeTarget`]; this crate does not read BTF, so the caller looks up
//! the function's vmlinux BTF id for the tracing kinds), then detaches.
//! The answer is tri-state like the BTF probes' ([`ProbeResult`]), with a
//! sentence saying why ([`ProgProbeReport::detail`]):
//!
//! - **supported**: loaded and attached;
//! - **unsupported**: the kernel refused the kind (any errno of the load or
//!   the attach, no kprobe PMU, BPF LSM not among the active LSMs of
//!   `/sys/kernel/security/lsm` when securityfs is mounted) *while a plain
//!   socket filter loads* — so
//!   the refusal is about the kind, whether the kernel lacks it (no
//!   `CONFIG_KPROBES`, no `CONFIG_FPROBE`, BPF LSM not built) or a policy
//!   forbids it (a kernel that answers `EPERM` to root for fentry);
//! - **inconclusive**: even the plain socket filter does not load (no
//!   privileges, no `bpf()`): the probe cannot tell anything about the
//!   kernel.
//!
//! Results are cached per process and probe kind; inconclusive ones are
//! not cached.
//!
//! ```no_run
//! use oxbpf_syscalls::{ProbeTarget, ProgProbe, probe_prog};
//!
//! let report = probe_prog(ProgProbe::Kprobe, &ProbeTarget::function(c"bpf_fentry_test1", 0));
//! println!("{}: {:?} ({})", ProgProbe::Kprobe, report.result, report.detail);
//! ```

use std::ffi::CStr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::Mutex;

use oxbpf_asm::Insn;

use crate::enums::{AttachType, ProgType};
use crate::error::{Errno, Error, Result};
use crate::fd::ProgFd;
use crate::link::{LinkTail, LinkTarget, link_create, raw_tracepoint_open};
use crate::perf::PerfEventAttr;
use crate::probe::ProbeResult;
use crate::prog::{ProgLoadOptions, VerifierLog, prog_load};
use crate::sys;

/// Where the kprobe PMU publishes its perf event type.
pub const KPROBE_PMU_TYPE: &str = "/sys/bus/event_source/devices/kprobe/type";

/// Where the kprobe PMU says which `config` bit makes a return probe.
pub const KPROBE_PMU_RETPROBE: &str = "/sys/bus/event_source/devices/kprobe/format/retprobe";

/// A kind of program and attachment a probe detects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProgProbe {
    /// A `BPF_PROG_TYPE_KPROBE` program on a kprobe perf event of the
    /// kprobe PMU (Linux 4.17 for the PMU).
    Kprobe,
    /// The same on a return probe (`kretprobe`).
    Kretprobe,
    /// A kprobe program attached with `BPF_LINK_CREATE` attach type
    /// `BPF_TRACE_KPROBE_MULTI` (Linux 5.18, needs `CONFIG_FPROBE`).
    KprobeMulti,
    /// A tracing program of attach type `BPF_TRACE_FENTRY` (Linux 5.5).
    Fentry,
    /// `BPF_TRACE_FEXIT` (Linux 5.5).
    Fexit,
    /// `BPF_MODIFY_RETURN` (Linux 5.7; the target must allow error
    /// injection, e.g. `bpf_modify_return_test`).
    FmodRet,
    /// A `BPF_PROG_TYPE_LSM` program, `BPF_LSM_MAC` (Linux 5.7, BPF LSM
    /// built in; the target is a `bpf_lsm_<hook>` function).
    Lsm,
}

impl ProgProbe {
    /// Every probe.
    pub const ALL: [ProgProbe; 7] = [
        ProgProbe::Kprobe,
        ProgProbe::Kretprobe,
        ProgProbe::KprobeMulti,
        ProgProbe::Fentry,
        ProgProbe::Fexit,
        ProgProbe::FmodRet,
        ProgProbe::Lsm,
    ];

    /// A short name (`"kprobe"`, `"fentry"`...).
    pub const fn name(self) -> &'static str {
        match self {
            ProgProbe::Kprobe => "kprobe",
            ProgProbe::Kretprobe => "kretprobe",
            ProgProbe::KprobeMulti => "kprobe_multi",
            ProgProbe::Fentry => "fentry",
            ProgProbe::Fexit => "fexit",
            ProgProbe::FmodRet => "fmod_ret",
            ProgProbe::Lsm => "lsm",
        }
    }

    /// The first kernel version (major, minor) with the feature, for
    /// messages only: probes decide, versions do not.
    pub const fn min_kernel(self) -> (u8, u8) {
        match self {
            ProgProbe::Kprobe | ProgProbe::Kretprobe => (4, 17),
            ProgProbe::KprobeMulti => (5, 18),
            ProgProbe::Fentry | ProgProbe::Fexit => (5, 5),
            ProgProbe::FmodRet | ProgProbe::Lsm => (5, 7),
        }
    }

    /// Whether the probe needs [`ProbeTarget::btf_id`].
    pub const fn needs_btf_id(self) -> bool {
        matches!(
            self,
            ProgProbe::Fentry | ProgProbe::Fexit | ProgProbe::FmodRet | ProgProbe::Lsm
        )
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for ProgProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (major, minor) = self.min_kernel();
        write!(f, "{} (Linux {major}.{minor})", self.name())
    }
}

/// The kernel function a probe attaches to.
#[derive(Clone, Copy, Debug)]
pub struct ProbeTarget<'a> {
    /// Its name, as in `/proc/kallsyms` (kprobes, kprobe_multi).
    pub func: &'a CStr,
    /// Its `FUNC` id in vmlinux BTF (fentry, fexit, fmod_ret, LSM); 0 when
    /// the probe needs none.
    pub btf_id: u32,
}

impl<'a> ProbeTarget<'a> {
    /// Function `func` with vmlinux BTF id `btf_id`.
    pub const fn function(func: &'a CStr, btf_id: u32) -> Self {
        ProbeTarget { func, btf_id }
    }
}

/// What a program probe found, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgProbeReport {
    /// The answer.
    pub result: ProbeResult,
    /// One sentence: what was done and what the kernel said.
    pub detail: String,
}

static CACHE: Mutex<[Option<ProbeResultCached>; ProgProbe::ALL.len()]> =
    Mutex::new([const { None }; ProgProbe::ALL.len()]);

type ProbeResultCached = ProgProbeReport;

/// Probes `probe` against `target`, once per process and probe kind: a
/// supported or unsupported answer is cached (whatever target a later
/// call names), an inconclusive one is not.
pub fn probe_prog(probe: ProgProbe, target: &ProbeTarget<'_>) -> ProgProbeReport {
    let cached = CACHE.lock().ok().and_then(|c| c[probe.index()].clone());
    if let Some(r) = cached {
        return r;
    }
    let r = probe_prog_uncached(probe, target);
    if !matches!(r.result, ProbeResult::Inconclusive(_))
        && let Ok(mut c) = CACHE.lock()
    {
        c[probe.index()] = Some(r.clone());
    }
    r
}

/// Probes `probe` against `target` now, without the cache.
pub fn probe_prog_uncached(probe: ProgProbe, target: &ProbeTarget<'_>) -> ProgProbeReport {
    let r = match baseline() {
        Err(e) => ProgProbeReport {
            result: ProbeResult::Inconclusive(e.errno().unwrap_or(Errno::INVAL)),
            detail: format!(
                "even a plain socket filter does not load ({e}): no privileges or no bpf()"
            ),
        },
        Ok(()) => match try_probe(probe, target) {
            Ok(how) => ProgProbeReport {
                result: ProbeResult::Supported,
                detail: how,
            },
            Err(why) => ProgProbeReport {
                result: ProbeResult::Unsupported,
                detail: why,
            },
        },
    };
    log::debug!(target: "oxbpf::syscalls", "probe {probe}: {:?}: {}", r.result, r.detail);
    r
}

const RET0: [Insn; 2] = [Insn::mov64_imm(0, 0), Insn::exit()];

/// A socket filter `r0 = 0; exit` loads: the process may use `bpf()`.
fn baseline() -> Result<()> {
    let opts = ProgLoadOptions::new(ProgType::SOCKET_FILTER, &RET0, c"GPL");
    prog_load(&opts, &mut VerifierLog::new()).map(drop)
}

/// Loads and attaches; `Ok` says what worked, `Err` what the kernel
/// refused.
fn try_probe(probe: ProgProbe, target: &ProbeTarget<'_>) -> std::result::Result<String, String> {
    let func = target.func.to_string_lossy();
    if probe.needs_btf_id() && target.btf_id == 0 {
        return Err(format!(
            "no vmlinux BTF id given for {func} (the kernel has no BTF, or no such function)"
        ));
    }
    let (prog_type, attach_type) = match probe {
        ProgProbe::Kprobe | ProgProbe::Kretprobe => (ProgType::KPROBE, AttachType(0)),
        ProgProbe::KprobeMulti => (ProgType::KPROBE, AttachType::TRACE_KPROBE_MULTI),
        ProgProbe::Fentry => (ProgType::TRACING, AttachType::TRACE_FENTRY),
        ProgProbe::Fexit => (ProgType::TRACING, AttachType::TRACE_FEXIT),
        ProgProbe::FmodRet => (ProgType::TRACING, AttachType::MODIFY_RETURN),
        ProgProbe::Lsm => (ProgType::LSM, AttachType::LSM_MAC),
    };
    let pmu = if matches!(probe, ProgProbe::Kprobe | ProgProbe::Kretprobe) {
        match kprobe_pmu_type() {
            Ok(Some(t)) => Some(t),
            Ok(None) => {
                return Err(format!(
                    "the kernel has no kprobe PMU ({KPROBE_PMU_TYPE} is missing: no CONFIG_KPROBES)"
                ));
            }
            Err(e) => return Err(format!("cannot read the kprobe PMU type: {e}")),
        }
    } else {
        None
    };
    if probe == ProgProbe::Lsm {
        // An LSM program loads and attaches even where BPF LSM is built
        // but not enabled; its hooks then never run.
        if let Some(list) = active_lsms() {
            if !list.split(',').any(|m| m.trim() == "bpf") {
                return Err(format!(
                    "BPF LSM is not active ({ACTIVE_LSMS}: {}): boot with lsm=...,bpf",
                    list.trim()
                ));
            }
        }
    }
    let mut opts = ProgLoadOptions::new(prog_type, &RET0, c"GPL");
    opts.name = "oxbpf_probe";
    opts.expected_attach_type = attach_type;
    opts.attach_btf_id = if probe.needs_btf_id() {
        target.btf_id
    } else {
        0
    };
    if prog_type == ProgType::KPROBE {
        // Kernels before 5.0 check it for kprobe programs.
        opts.kern_version = crate::kernel::kernel_version_code().unwrap_or(0);
    }
    let prog = prog_load(&opts, &mut VerifierLog::new())
        .map_err(|e| format!("BPF_PROG_LOAD of a {} program refused: {e}", probe.name()))?;
    let attach = |e: Error| {
        format!(
            "attaching a {} program to {func} refused: {e}",
            probe.name()
        )
    };
    match probe {
        ProgProbe::Kprobe | ProgProbe::Kretprobe => {
            let retprobe = probe == ProgProbe::Kretprobe;
            let event = perf_event_open_kprobe(pmu.unwrap_or(0), target.func, 0, retprobe, -1, 0)
                .map_err(attach)?;
            attach_to_event(&prog, event).map_err(attach)?;
        }
        ProgProbe::KprobeMulti => {
            let syms = [target.func];
            let tail = LinkTail::KprobeMulti {
                flags: 0,
                syms: &syms,
                addrs: &[],
                cookies: &[],
            };
            link_create(
                &prog,
                LinkTarget::None,
                AttachType::TRACE_KPROBE_MULTI,
                0,
                &tail,
            )
            .map_err(attach)?;
        }
        ProgProbe::Fentry | ProgProbe::Fexit | ProgProbe::FmodRet | ProgProbe::Lsm => {
            raw_tracepoint_open(None, &prog).map_err(attach)?;
        }
    }
    Ok(format!("loaded and attached to {func}"))
}

/// Where securityfs lists the active LSMs.
pub const ACTIVE_LSMS: &str = "/sys/kernel/security/lsm";

/// The active LSMs (comma-separated), if securityfs is mounted.
fn active_lsms() -> Option<String> {
    std::fs::read_to_string(ACTIVE_LSMS).ok()
}

/// Attaches with a perf_event link, or with the ioctl on kernels before
/// 5.15; both detach when dropped.
fn attach_to_event(prog: &ProgFd, event: OwnedFd) -> Result<()> {
    let tail = LinkTail::PerfEvent(crate::attr::LinkCreatePerfEvent { bpf_cookie: 0 });
    match link_create(
        prog,
        LinkTarget::Fd(event.as_fd()),
        AttachType::PERF_EVENT,
        0,
        &tail,
    ) {
        Ok(_link) => Ok(()),
        Err(e) if e.errno() == Some(Errno::INVAL) => {
            crate::perf::perf_event_set_bpf(event.as_fd(), prog)
        }
        Err(e) => Err(e),
    }
}

/// The perf event type of the kprobe PMU, from [`KPROBE_PMU_TYPE`];
/// `None` when the kernel has none (no `CONFIG_KPROBES`).
pub fn kprobe_pmu_type() -> Result<Option<u32>> {
    read_sysfs_number(Path::new(KPROBE_PMU_TYPE))
}

/// The `config` bit of the kprobe PMU that makes a return probe, from
/// [`KPROBE_PMU_RETPROBE`] (`config:0` on every kernel so far).
pub fn kprobe_retprobe_bit() -> Result<u32> {
    let path = Path::new(KPROBE_PMU_RETPROBE);
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        what: "reading the kprobe PMU's retprobe format from",
        path: path.to_path_buf(),
        source,
    })?;
    parse_config_bit(&text).ok_or_else(|| Error::Parse {
        path: path.to_path_buf(),
        what: format!("retprobe format {:?}", text.trim()),
    })
}

/// `config:N` → `N`.
fn parse_config_bit(text: &str) -> Option<u32> {
    let n: u32 = text.trim().strip_prefix("config:")?.parse().ok()?;
    (n < 64).then_some(n)
}

fn read_sysfs_number(path: &Path) -> Result<Option<u32>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::Io {
                what: "reading",
                path: path.to_path_buf(),
                source,
            });
        }
    };
    text.trim().parse().map(Some).map_err(|_| Error::Parse {
        path: path.to_path_buf(),
        what: format!("number {:?}", text.trim()),
    })
}

/// `perf_event_open` of a kprobe (or, with `retprobe`, a kretprobe) on
/// kernel function `func` plus `offset` bytes, through the kprobe PMU
/// whose type is `pmu_type` ([`kprobe_pmu_type`]), for process `pid` (-1:
/// all) on `cpu` (-1: all; one of them must not be -1), close-on-exec.
///
/// A `BPF_PROG_TYPE_KPROBE` program attached to the event runs on every
/// hit, whatever `pid`/`cpu` say. Closing the event removes the probe.
pub fn perf_event_open_kprobe(
    pmu_type: u32,
    func: &CStr,
    offset: u64,
    retprobe: bool,
    pid: i32,
    cpu: i32,
) -> Result<OwnedFd> {
    if func.is_empty() {
        return Err(Error::invalid(
            "perf_event_open_kprobe: empty function name",
        ));
    }
    if retprobe && offset != 0 {
        return Err(Error::invalid(format!(
            "perf_event_open_kprobe: a return probe of {} cannot have an offset ({offset})",
            func.to_string_lossy()
        )));
    }
    let config = if retprobe {
        1u64 << kprobe_retprobe_bit()?
    } else {
        0
    };
    let attr = PerfEventAttr {
        r#type: pmu_type,
        config,
        sample_period: 1,
        wakeup_events: 1,
        // `kprobe_func`: the kernel copies the name (a user string) during
        // the call; `func` is borrowed for all of it.
        config1: sys::addr(func.as_ptr()),
        // `probe_offset`.
        config2: offset,
        ..Default::default()
    };
    sys::perf_event_open(&attr, pid, cpu)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_bits() {
        assert_eq!(parse_config_bit("config:0\n"), Some(0));
        assert_eq!(parse_config_bit("config:12"), Some(12));
        assert_eq!(parse_config_bit("config:64"), None);
        assert_eq!(parse_config_bit("config1:0"), None);
        assert_eq!(parse_config_bit(""), None);
    }

    #[test]
    fn missing_sysfs_file_is_none() {
        assert_eq!(
            read_sysfs_number(Path::new("/sys/bus/event_source/devices/no-such-pmu/type")).unwrap(),
            None
        );
        // The software PMU exists everywhere.
        assert_eq!(
            read_sysfs_number(Path::new("/sys/bus/event_source/devices/software/type")).unwrap(),
            Some(1)
        );
    }

    #[test]
    fn tracing_probes_without_a_btf_id_are_unsupported_not_supported() {
        let r = probe_prog_uncached(ProgProbe::Fentry, &ProbeTarget::function(c"x", 0));
        assert_eq!(r.result, ProbeResult::Unsupported, "{}", r.detail);
        assert!(r.detail.contains("no vmlinux BTF id"), "{}", r.detail);
    }

    #[test]
    fn a_kprobe_on_a_missing_function_is_unsupported() {
        // On kernels with kprobes the open fails for an unknown symbol;
        // without kprobes the PMU is missing. Either way: unsupported,
        // with the reason.
        let r = probe_prog_uncached(
            ProgProbe::Kprobe,
            &ProbeTarget::function(c"oxbpf_no_such_function_anywhere", 0),
        );
        assert_eq!(r.result, ProbeResult::Unsupported, "{}", r.detail);
    }

    #[test]
    fn kprobe_arguments_are_checked_before_the_call() {
        assert!(perf_event_open_kprobe(6, c"", 0, false, -1, 0).is_err());
        assert!(perf_event_open_kprobe(6, c"f", 4, true, -1, 0).is_err());
    }

    #[test]
    fn inconclusive_when_bpf_is_refused() {
        let _g = crate::fault::fail_cmd(crate::enums::Cmd::PROG_LOAD, Errno::PERM);
        let r = probe_prog_uncached(ProgProbe::Kprobe, &ProbeTarget::function(c"f", 0));
        assert_eq!(
            r.result,
            ProbeResult::Inconclusive(Errno::PERM),
            "{}",
            r.detail
        );
    }
}
