//! Tracepoints through perf events: tracepoint ids from tracefs,
//! `perf_event_open`, and the ioctls that attach a program to a perf event
//! on kernels without perf_event links (before 5.15).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fd::ProgFd;
use crate::layout::uapi_struct;
use crate::sys::{self, PerfIoctl};

/// `PERF_TYPE_TRACEPOINT`.
pub const PERF_TYPE_TRACEPOINT: u32 = 2;

uapi_struct! {
    /// `struct perf_event_attr` (`PERF_ATTR_SIZE_VER8`, 136 bytes).
    pub struct PerfEventAttr = "perf_event_attr" {
        /// `PERF_TYPE_*`.
        pub r#type: u32,
        /// Size of this struct (set by [`perf_event_open_tracepoint`]).
        pub size: u32,
        /// Type-specific config (the tracepoint id).
        pub config: u64,
        /// Sample period (C union with `sample_freq`).
        pub sample_period: u64,
        /// `PERF_SAMPLE_*` bits.
        pub sample_type: u64,
        /// `PERF_FORMAT_*` bits.
        pub read_format: u64,
        /// The C bitfield word starting with `disabled` (bit 0),
        /// `inherit` (1) ... `sigtrap` (38).
        pub flags: u64,
        /// Wake up every n events (C union with `wakeup_watermark`).
        pub wakeup_events: u32,
        /// Breakpoint type.
        pub bp_type: u32,
        /// Extension of config (C union with `bp_addr`, `kprobe_func`,
        /// `uprobe_path`).
        pub config1: u64,
        /// Extension of config1 (C union with `bp_len`, `kprobe_addr`,
        /// `probe_offset`).
        pub config2: u64,
        /// `PERF_SAMPLE_BRANCH_*` bits.
        pub branch_sample_type: u64,
        /// User registers to sample.
        pub sample_regs_user: u64,
        /// User stack size to sample.
        pub sample_stack_user: u32,
        /// Clock for time fields.
        pub clockid: i32,
        /// Interrupt registers to sample.
        pub sample_regs_intr: u64,
        /// AUX watermark.
        pub aux_watermark: u32,
        /// Maximum callchain depth.
        pub sample_max_stack: u16,
        /// Reserved.
        pub __reserved_2: u16,
        /// AUX sample size.
        pub aux_sample_size: u32,
        /// AUX actions (C union with a bitfield word).
        pub aux_action: u32,
        /// Signal data.
        pub sig_data: u64,
        /// Extension of config2.
        pub config3: u64,
    }
}

/// Bit of `PerfEventAttr::flags`: start disabled.
pub const PERF_ATTR_FLAG_DISABLED: u64 = 1 << 0;

const TRACEFS_MAGIC: i64 = 0x7472_6163;

/// Whether `path` is the root or a directory of a mounted tracefs.
fn is_tracefs(path: &Path) -> bool {
    crate::kernel::fs_magic(path) == Some(TRACEFS_MAGIC)
}

/// Where tracefs is: `/sys/kernel/tracing` or `/sys/kernel/debug/tracing`;
/// if neither is a tracefs, mounts one at `/sys/kernel/tracing` (needs
/// root).
pub fn tracefs_root() -> Result<PathBuf> {
    for p in ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"] {
        if is_tracefs(Path::new(p)) {
            return Ok(PathBuf::from(p));
        }
    }
    let p = Path::new("/sys/kernel/tracing");
    rustix::mount::mount(
        "nodev",
        p,
        "tracefs",
        rustix::mount::MountFlags::empty(),
        None,
    )
    .map_err(|errno| Error::Mount {
        fstype: "tracefs",
        path: p.to_path_buf(),
        errno,
    })?;
    log::info!(target: "oxbpf::syscalls", "mounted tracefs at {}", p.display());
    Ok(p.to_path_buf())
}

fn check_component(what: &str, s: &str) -> Result<()> {
    if s.is_empty() || s == "." || s == ".." || s.contains('/') || s.contains('\0') {
        return Err(Error::invalid(format!("tracepoint {what} {s:?}")));
    }
    Ok(())
}

/// The id of tracepoint `category:name`, read from
/// `<tracefs>/events/<category>/<name>/id` (tracefs found or mounted by
/// [`tracefs_root`]).
pub fn tracepoint_id(category: &str, name: &str) -> Result<u64> {
    check_component("category", category)?;
    check_component("name", name)?;
    let path = tracefs_root()?
        .join("events")
        .join(category)
        .join(name)
        .join("id");
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
        what: "reading tracepoint id from",
        path: path.clone(),
        source,
    })?;
    text.trim().parse().map_err(|_| Error::Parse {
        path,
        what: format!("tracepoint id {:?}", text.trim()),
    })
}

/// `perf_event_open` of tracepoint `id` for process `pid` (-1: all) on
/// `cpu` (-1: all; one of pid and cpu must not be -1): `PERF_TYPE_TRACEPOINT`,
/// sample period 1, wake-up every event, close-on-exec.
///
/// A BPF program attached to the event runs for every hit of the
/// tracepoint, whatever `pid`/`cpu` say.
pub fn perf_event_open_tracepoint(id: u64, pid: i32, cpu: i32) -> Result<OwnedFd> {
    let attr = PerfEventAttr {
        r#type: PERF_TYPE_TRACEPOINT,
        config: id,
        sample_period: 1,
        wakeup_events: 1,
        ..Default::default()
    };
    sys::perf_event_open(&attr, pid, cpu)
}

/// `PERF_EVENT_IOC_SET_BPF`: attaches `prog` to a perf event. Detached
/// when the perf event fd is closed.
pub fn perf_event_set_bpf(event: BorrowedFd<'_>, prog: &ProgFd) -> Result<()> {
    sys::perf_ioctl(event, PerfIoctl::SetBpf(prog.as_fd()))
}

/// `PERF_EVENT_IOC_ENABLE`.
pub fn perf_event_enable(event: BorrowedFd<'_>) -> Result<()> {
    sys::perf_ioctl(event, PerfIoctl::Enable)
}

/// `PERF_EVENT_IOC_DISABLE`.
pub fn perf_event_disable(event: BorrowedFd<'_>) -> Result<()> {
    sys::perf_ioctl(event, PerfIoctl::Disable)
}
