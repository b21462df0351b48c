//! The raw system calls: the `bpf()` funnel, `perf_event_open()` and the
//! perf ioctls, and the conversion of returned fds into owned ones.
//!
//! Every `unsafe` system call of the crate is in this file.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use crate::enums::Cmd;
use crate::error::{Errno, Error, Result, cmd_label, errno_from_raw};
use crate::fault;
use crate::layout::UapiStruct;
use crate::perf::PerfEventAttr;

fn last_errno() -> Errno {
    errno_from_raw(
        std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO),
    )
}

/// `bpf(cmd, attr, sizeof(*attr))`: the only place the `bpf` system call is
/// made. Consults the thread's [`fault`] hook first.
///
/// The size passed is `size_of::<A>()`: each attribute struct covers
/// exactly the fields of its command, and unused trailing fields are zero,
/// which older kernels accept.
///
/// # Safety
///
/// Every pointer field of `attr` must be zero or point to memory that is
/// valid for what `cmd` makes the kernel do with it: readable for the
/// length the attribute gives (key and value sizes of the map for element
/// operations), writable for output buffers of the length given, and alive
/// until the call returns.
pub(crate) unsafe fn bpf<A: UapiStruct>(cmd: Cmd, attr: &mut A) -> Result<libc::c_long, Errno> {
    if let Some(errno) = fault::check(cmd) {
        return Err(errno);
    }
    let ptr: *mut A = attr;
    // SAFETY: `attr` is a live, exclusively borrowed struct whose every
    // byte is initialised (UapiStruct types have no implicit padding), and
    // the size passed is its size, so the kernel reads and writes only
    // inside it. The pointers inside it are valid per this function's
    // contract.
    let ret = unsafe { libc::syscall(libc::SYS_bpf, cmd.0 as libc::c_long, ptr, size_of::<A>()) };
    if ret < 0 { Err(last_errno()) } else { Ok(ret) }
}

/// [`bpf`] for a command that returns a new fd, which becomes owned.
///
/// # Safety
///
/// As for [`bpf`]; `cmd` must be a command that returns a new fd on
/// success.
pub(crate) unsafe fn bpf_fd<A: UapiStruct>(cmd: Cmd, attr: &mut A) -> Result<OwnedFd> {
    // SAFETY: forwarded from this function's contract.
    let ret = unsafe { bpf(cmd, attr) }.map_err(|e| Error::syscall(cmd, e))?;
    // SAFETY: on success `cmd` returned a new fd that nothing else owns.
    unsafe { own_fd(ret, || cmd_label(cmd)) }
}

/// Takes ownership of `raw` and moves it above 2 if the kernel returned
/// stdin, stdout or stderr's number (they were closed), so that this
/// crate never hands out fds 0..=2: closing such an fd later would close
/// whatever the process opens there next.
///
/// # Safety
///
/// `raw` must be an open fd that nothing else owns.
unsafe fn own_fd(raw: libc::c_long, origin: impl Fn() -> String) -> Result<OwnedFd> {
    let raw = RawFd::try_from(raw)
        .map_err(|_| Error::invalid(format!("{} returned fd {raw}", origin())))?;
    // SAFETY: per this function's contract, `raw` is open and unowned.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    if raw > 2 {
        return Ok(fd);
    }
    let moved = rustix::io::fcntl_dupfd_cloexec(&fd, 3).map_err(|errno| Error::DupFd {
        origin: origin(),
        fd: raw,
        errno,
    })?;
    log::debug!(target: "oxbpf::syscalls", "{} returned fd {raw}, moved to {}", origin(), moved.as_raw_fd());
    drop(fd);
    Ok(moved)
}

/// `perf_event_open(attr, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC)`.
pub(crate) fn perf_event_open(attr: &PerfEventAttr, pid: i32, cpu: i32) -> Result<OwnedFd> {
    const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 1 << 3;
    let mut attr = *attr;
    attr.size = size_of::<PerfEventAttr>() as u32;
    let ptr: *const PerfEventAttr = &attr;
    // SAFETY: `attr` is a fully initialised perf_event_attr whose `size`
    // is its own size, alive for the call; the kernel only reads it (the
    // pointer-valued config fields are only dereferenced, as user strings,
    // for kprobe/uprobe PMUs; this crate sets them for neither). The other
    // arguments are plain integers.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            ptr,
            pid as libc::c_long,
            cpu as libc::c_long,
            -1 as libc::c_long,
            PERF_FLAG_FD_CLOEXEC,
        )
    };
    if ret < 0 {
        return Err(Error::PerfEventOpen {
            event_type: attr.r#type,
            config: attr.config,
            pid,
            cpu,
            errno: last_errno(),
        });
    }
    // SAFETY: perf_event_open returned a new fd that nothing else owns.
    unsafe { own_fd(ret, || "perf_event_open".to_string()) }
}

/// The perf event ioctls this crate issues.
#[derive(Clone, Copy, Debug)]
pub(crate) enum PerfIoctl<'a> {
    /// `PERF_EVENT_IOC_ENABLE`.
    Enable,
    /// `PERF_EVENT_IOC_DISABLE`.
    Disable,
    /// `PERF_EVENT_IOC_SET_BPF` with a program fd.
    SetBpf(BorrowedFd<'a>),
}

/// Issues a perf event ioctl.
pub(crate) fn perf_ioctl(fd: BorrowedFd<'_>, op: PerfIoctl<'_>) -> Result<()> {
    // _IO('$', 0), _IO('$', 1), _IOW('$', 8, __u32).
    let (request, name, arg): (libc::c_ulong, &'static str, libc::c_ulong) = match op {
        PerfIoctl::Enable => (0x2400, "PERF_EVENT_IOC_ENABLE", 0),
        PerfIoctl::Disable => (0x2401, "PERF_EVENT_IOC_DISABLE", 0),
        PerfIoctl::SetBpf(prog) => (
            0x4004_2408,
            "PERF_EVENT_IOC_SET_BPF",
            prog.as_raw_fd() as libc::c_ulong,
        ),
    };
    // SAFETY: these three requests take an integer argument (ignored by
    // ENABLE/DISABLE, a program fd for SET_BPF), not a pointer, so the
    // kernel accesses no memory of ours. `fd` is a live borrowed fd.
    let ret = unsafe { libc::ioctl(fd.as_fd().as_raw_fd(), request, arg) };
    if ret < 0 {
        return Err(Error::Ioctl {
            request: name,
            fd: fd.as_raw_fd(),
            errno: last_errno(),
        });
    }
    Ok(())
}

/// A user address for a pointer field of an attribute.
pub(crate) fn addr<T>(p: *const T) -> u64 {
    p as usize as u64
}

/// The address of a slice's data, or 0 for an empty slice, so that the
/// kernel sees NULL rather than a dangling non-null pointer.
pub(crate) fn slice_addr<T>(s: &[T]) -> u64 {
    if s.is_empty() { 0 } else { addr(s.as_ptr()) }
}

/// [`slice_addr`] for an output buffer.
pub(crate) fn slice_addr_mut<T>(s: &mut [T]) -> u64 {
    if s.is_empty() {
        0
    } else {
        s.as_mut_ptr() as usize as u64
    }
}

/// An fd as the `u32` the attribute fields take.
pub(crate) fn fd_u32(fd: BorrowedFd<'_>) -> u32 {
    fd.as_raw_fd() as u32
}
