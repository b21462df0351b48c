//! The crate's error type.

use std::fmt;
use std::path::PathBuf;

use crate::enums::Cmd;

/// An error number returned by the kernel (re-exported from rustix).
///
/// Compare against its constants (`Errno::PERM`, `Errno::NOSPC`...) or get
/// the raw number with [`Errno::raw_os_error`].
pub use rustix::io::Errno;

/// `ENOTSUPP` (524), a kernel-internal error number that BPF commands do
/// return to user space; libc has no name for it.
pub const ENOTSUPP: Errno = Errno::from_raw_os_error(524);

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A `bpf()` command failed.
    #[error("{}: {}", cmd_label(*call), ErrnoDisplay(*errno))]
    Syscall {
        /// The command.
        call: Cmd,
        /// The error number.
        errno: Errno,
    },
    /// `BPF_PROG_LOAD` or `BPF_BTF_LOAD` failed and the kernel explained why
    /// in its log.
    #[error(transparent)]
    Verifier(Box<VerifierError>),
    /// `perf_event_open(2)` failed.
    #[error(
        "perf_event_open(type {event_type}, config {config}, pid {pid}, cpu {cpu}): {}",
        ErrnoDisplay(*errno)
    )]
    PerfEventOpen {
        /// `perf_event_attr.type` (2 for tracepoints).
        event_type: u32,
        /// `perf_event_attr.config` (the tracepoint id for tracepoints).
        config: u64,
        /// The pid argument.
        pid: i32,
        /// The cpu argument.
        cpu: i32,
        /// The error number.
        errno: Errno,
    },
    /// An `ioctl(2)` on a perf event fd failed.
    #[error("ioctl {request} on fd {fd}: {}", ErrnoDisplay(*errno))]
    Ioctl {
        /// The request's name (`PERF_EVENT_IOC_SET_BPF`...).
        request: &'static str,
        /// The fd.
        fd: i32,
        /// The error number.
        errno: Errno,
    },
    /// Moving a kernel-returned fd in 0..=2 above 2 failed.
    #[error("F_DUPFD_CLOEXEC of fd {fd} returned by {origin}: {}", ErrnoDisplay(*errno))]
    DupFd {
        /// The call that returned the low fd (`BPF_MAP_CREATE`,
        /// `perf_event_open`).
        origin: String,
        /// The low fd.
        fd: i32,
        /// The error number.
        errno: Errno,
    },
    /// An fd handed in as a map, program, BTF or link fd refers to
    /// something else.
    #[error("fd {fd} is {found}, not {expected}")]
    FdKind {
        /// The fd.
        fd: i32,
        /// The anonymous inode name expected (`anon_inode:bpf-map`...).
        expected: &'static str,
        /// What `/proc/self/fd` says it is.
        found: String,
    },
    /// Reading or writing a file (tracefs, sysfs, procfs) failed.
    #[error("{what} {}", path.display())]
    Io {
        /// What was being done (`reading tracepoint id from`...).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file had unexpected contents.
    #[error("unexpected contents in {}: {what}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        what: String,
    },
    /// An epoll operation (ring buffer waiting) failed.
    #[error("epoll {op}: {}", ErrnoDisplay(*errno))]
    Epoll {
        /// `create`, `add` or `wait`.
        op: &'static str,
        /// The error number.
        errno: Errno,
    },
    /// tokio's reactor refused an fd or a wait failed (feature `tokio`).
    #[error("{what}")]
    Async {
        /// What was being done.
        what: &'static str,
        /// The reactor's error.
        #[source]
        source: std::io::Error,
    },
    /// `mmap(2)` of a map's values failed.
    #[error("mmap of {len} bytes of map values: {}", ErrnoDisplay(*errno))]
    Mmap {
        /// Bytes asked for.
        len: usize,
        /// The error number.
        errno: Errno,
    },
    /// `mount(2)` failed.
    #[error("mounting {fstype} at {}: {}", path.display(), ErrnoDisplay(*errno))]
    Mount {
        /// The file system type (`tracefs`, `bpf`).
        fstype: &'static str,
        /// The mount point.
        path: PathBuf,
        /// The error number.
        errno: Errno,
    },
    /// A buffer handed to a map operation does not have the size the map
    /// was created with.
    #[error("{call}: {what} is {got} bytes, the map (type {map_type}) needs {expected}",
        call = cmd_label(*call))]
    BufferSize {
        /// The command.
        call: Cmd,
        /// Which buffer (`key`, `value`, `next_key`).
        what: &'static str,
        /// The map type.
        map_type: crate::MapType,
        /// The size the map needs.
        expected: usize,
        /// The size given.
        got: usize,
    },
    /// `BPF_PROG_TEST_RUN` produced more output than the buffer held
    /// (the kernel's `ENOSPC`); the output was truncated.
    #[error("BPF_PROG_TEST_RUN: {buffer} needs {needed} bytes, capacity was {capacity}")]
    TestRunOutputTooSmall {
        /// `data_out` or `ctx_out`.
        buffer: &'static str,
        /// The capacity that was given.
        capacity: usize,
        /// The size the kernel wanted to write.
        needed: usize,
    },
    /// An argument cannot be expressed to the kernel.
    #[error("invalid argument: {what}")]
    InvalidInput {
        /// What is wrong with it.
        what: String,
    },
}

impl Error {
    /// The kernel's error number, if the error came from a system call.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::Syscall { errno, .. }
            | Error::PerfEventOpen { errno, .. }
            | Error::Ioctl { errno, .. }
            | Error::DupFd { errno, .. }
            | Error::Mount { errno, .. }
            | Error::Mmap { errno, .. }
            | Error::Epoll { errno, .. } => Some(*errno),
            Error::Verifier(v) => Some(v.errno),
            Error::Io { source, .. } | Error::Async { source, .. } => {
                source.raw_os_error().map(errno_from_raw)
            }
            _ => None,
        }
    }

    pub(crate) fn syscall(call: Cmd, errno: Errno) -> Error {
        Error::Syscall { call, errno }
    }

    pub(crate) fn invalid(what: impl Into<String>) -> Error {
        Error::InvalidInput { what: what.into() }
    }
}

/// An [`Errno`] from a raw number; numbers outside the kernel's range
/// 1..=4095 (which rustix would reject) become `EIO`.
pub fn errno_from_raw(n: i32) -> Errno {
    if (1..=4095).contains(&n) {
        Errno::from_raw_os_error(n)
    } else {
        Errno::IO
    }
}

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A load the kernel refused, with its log (the BPF verifier's for
/// `BPF_PROG_LOAD`, the BTF checker's for `BPF_BTF_LOAD`).
///
/// Keeps the whole log; `Display` shows the command, the errno and the last
/// meaningful lines of the log only.
#[derive(Debug, Clone)]
pub struct VerifierError {
    /// `PROG_LOAD` or `BTF_LOAD`.
    pub call: Cmd,
    /// The error number of the final attempt.
    pub errno: Errno,
    /// The complete log as the kernel wrote it (without the trailing NUL).
    pub log: String,
    /// Whether the log was cut short because it exceeded the maximum
    /// buffer size the caller allowed.
    pub truncated: bool,
}

impl VerifierError {
    /// The last meaningful lines of the log (blank lines and trailing
    /// statistics such as `processed N insns` left out), at most `n`.
    pub fn summary_lines(&self, n: usize) -> Vec<&str> {
        let mut lines: Vec<&str> = self
            .log
            .lines()
            .rev()
            .map(str::trim_end)
            .filter(|l| !l.is_empty() && !is_stats_line(l))
            .take(n)
            .collect();
        lines.reverse();
        lines
    }
}

fn is_stats_line(l: &str) -> bool {
    l.starts_with("processed ")
        || l.starts_with("verification time ")
        || l.starts_with("stack depth ")
        || l.starts_with("-- END PROG LOAD LOG --")
}

impl fmt::Display for VerifierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", cmd_label(self.call), ErrnoDisplay(self.errno))?;
        let lines = self.summary_lines(3);
        if !lines.is_empty() {
            write!(f, ": {}", lines.join(" | "))?;
        }
        if self.truncated {
            f.write_str(" (log truncated)")?;
        }
        Ok(())
    }
}

impl std::error::Error for VerifierError {}

impl From<VerifierError> for Error {
    fn from(e: VerifierError) -> Error {
        Error::Verifier(Box::new(e))
    }
}

/// `BPF_MAP_CREATE` for `Cmd::MAP_CREATE`, `BPF_CMD(99)` for an unknown one.
pub fn cmd_label(cmd: Cmd) -> String {
    match cmd.name() {
        Some(n) => format!("BPF_{}", n.to_ascii_uppercase()),
        None => format!("BPF_CMD({})", cmd.0),
    }
}

/// Displays an errno as `Invalid argument (EINVAL)`.
#[derive(Clone, Copy, Debug)]
pub struct ErrnoDisplay(pub Errno);

impl fmt::Display for ErrnoDisplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.raw_os_error();
        match errno_info(n) {
            Some((name, msg)) => write!(f, "{msg} ({name})"),
            None => write!(f, "error {n}"),
        }
    }
}

/// The symbolic name of an errno (`"EINVAL"`), for the numbers BPF
/// commands, perf events and file operations return.
pub fn errno_name(e: Errno) -> Option<&'static str> {
    errno_info(e.raw_os_error()).map(|(n, _)| n)
}

fn errno_info(n: i32) -> Option<(&'static str, &'static str)> {
    Some(match n {
        1 => ("EPERM", "Operation not permitted"),
        2 => ("ENOENT", "No such file or directory"),
        3 => ("ESRCH", "No such process"),
        4 => ("EINTR", "Interrupted system call"),
        5 => ("EIO", "Input/output error"),
        6 => ("ENXIO", "No such device or address"),
        7 => ("E2BIG", "Argument list too long"),
        8 => ("ENOEXEC", "Exec format error"),
        9 => ("EBADF", "Bad file descriptor"),
        10 => ("ECHILD", "No child processes"),
        11 => ("EAGAIN", "Resource temporarily unavailable"),
        12 => ("ENOMEM", "Cannot allocate memory"),
        13 => ("EACCES", "Permission denied"),
        14 => ("EFAULT", "Bad address"),
        16 => ("EBUSY", "Device or resource busy"),
        17 => ("EEXIST", "File exists"),
        18 => ("EXDEV", "Invalid cross-device link"),
        19 => ("ENODEV", "No such device"),
        20 => ("ENOTDIR", "Not a directory"),
        21 => ("EISDIR", "Is a directory"),
        22 => ("EINVAL", "Invalid argument"),
        23 => ("ENFILE", "Too many open files in system"),
        24 => ("EMFILE", "Too many open files"),
        25 => ("ENOTTY", "Inappropriate ioctl for device"),
        27 => ("EFBIG", "File too large"),
        28 => ("ENOSPC", "No space left on device"),
        30 => ("EROFS", "Read-only file system"),
        34 => ("ERANGE", "Numerical result out of range"),
        35 => ("EDEADLK", "Resource deadlock avoided"),
        36 => ("ENAMETOOLONG", "File name too long"),
        38 => ("ENOSYS", "Function not implemented"),
        39 => ("ENOTEMPTY", "Directory not empty"),
        40 => ("ELOOP", "Too many levels of symbolic links"),
        61 => ("ENODATA", "No data available"),
        62 => ("ETIME", "Timer expired"),
        71 => ("EPROTO", "Protocol error"),
        74 => ("EBADMSG", "Bad message"),
        75 => ("EOVERFLOW", "Value too large for defined data type"),
        77 => ("EBADFD", "File descriptor in bad state"),
        88 => ("ENOTSOCK", "Socket operation on non-socket"),
        93 => ("EPROTONOSUPPORT", "Protocol not supported"),
        95 => ("EOPNOTSUPP", "Operation not supported"),
        97 => ("EAFNOSUPPORT", "Address family not supported by protocol"),
        98 => ("EADDRINUSE", "Address already in use"),
        107 => ("ENOTCONN", "Transport endpoint is not connected"),
        110 => ("ETIMEDOUT", "Connection timed out"),
        114 => ("EALREADY", "Operation already in progress"),
        115 => ("EINPROGRESS", "Operation now in progress"),
        116 => ("ESTALE", "Stale file handle"),
        122 => ("EDQUOT", "Disk quota exceeded"),
        125 => ("ECANCELED", "Operation canceled"),
        126 => ("ENOKEY", "Required key not available"),
        129 => ("EKEYREJECTED", "Key was rejected by service"),
        524 => ("ENOTSUPP", "Operation not supported (kernel-internal)"),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syscall_error_names_command_and_errno() {
        let e = Error::syscall(Cmd::MAP_CREATE, Errno::INVAL);
        assert_eq!(e.to_string(), "BPF_MAP_CREATE: Invalid argument (EINVAL)");
        assert_eq!(e.errno(), Some(Errno::INVAL));
        let e = Error::syscall(Cmd(99), errno_from_raw(4000));
        assert_eq!(e.to_string(), "BPF_CMD(99): error 4000");
        assert_eq!(errno_from_raw(-3), Errno::IO);
        assert_eq!(errno_from_raw(5000), Errno::IO);
        assert_eq!(errno_name(ENOTSUPP), Some("ENOTSUPP"));
    }

    #[test]
    fn verifier_error_summarises_log_tail() {
        let log = "func#0 @0\n0: R1=ctx() R10=fp0\n0: (95) exit\nR0 !read_ok\n\
                   processed 1 insns (limit 1000000) max_states_per_insn 0\n\n";
        let e = VerifierError {
            call: Cmd::PROG_LOAD,
            errno: Errno::ACCESS,
            log: log.to_string(),
            truncated: false,
        };
        assert_eq!(
            e.to_string(),
            "BPF_PROG_LOAD: Permission denied (EACCES): \
             0: R1=ctx() R10=fp0 | 0: (95) exit | R0 !read_ok"
        );
        assert_eq!(e.summary_lines(1), vec!["R0 !read_ok"]);
        let e: Error = e.into();
        assert_eq!(e.errno(), Some(Errno::ACCESS));
        assert!(matches!(e, Error::Verifier(ref v) if v.log == log));
    }
}
