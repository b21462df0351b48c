//! Attaching programs: links that detach when dropped.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use oxbpf_syscalls::attr::LinkCreatePerfEvent;
use oxbpf_syscalls::{AttachType, LinkFd, LinkTail, LinkTarget, ProgType};

use crate::error::{Error, Result};
use crate::program::Program;

/// An attached program. Dropping the link detaches it.
#[derive(Debug)]
pub struct Link {
    pub(crate) kind: LinkKind,
}

#[derive(Debug)]
pub(crate) enum LinkKind {
    /// A BPF link (`BPF_LINK_CREATE`, `BPF_RAW_TRACEPOINT_OPEN`).
    Bpf(LinkFd),
    /// A perf event carrying the program. With a BPF perf_event link
    /// (kernels from 5.15), closing the link detaches; before that, the
    /// program was set on the event with an ioctl and closing the event
    /// detaches. Field order matters: the link closes before the event.
    PerfEvent {
        #[allow(dead_code, reason = "held to keep the attachment alive")]
        link: Option<LinkFd>,
        #[allow(dead_code, reason = "held to keep the attachment alive")]
        event: OwnedFd,
    },
    /// A struct_ops map registered by writing its value; dropping the
    /// registration unregisters it.
    StructOps(
        #[allow(dead_code, reason = "unregisters when dropped")] crate::struct_ops::Registration,
    ),
    /// An attachment that is not one BPF link (`BPF_PROG_ATTACH`, a tc
    /// filter, a group of links): see [`crate::attach::Attached`].
    Attached(crate::attach::Attached),
}

impl Link {
    /// A link owning a struct_ops registration.
    pub(crate) fn from_struct_ops(registration: crate::struct_ops::Registration) -> Link {
        Link {
            kind: LinkKind::StructOps(registration),
        }
    }

    /// The BPF link fd, when the attachment is a BPF link (not a bare perf
    /// event of an old kernel).
    pub fn link_fd(&self) -> Option<&LinkFd> {
        match &self.kind {
            LinkKind::Bpf(fd) => Some(fd),
            LinkKind::PerfEvent { link, .. } => link.as_ref(),
            LinkKind::StructOps(_) | LinkKind::Attached(_) => None,
        }
    }

    /// Starts reading an iterator link (from [`Program::attach_iter`]):
    /// `BPF_ITER_CREATE` gives a file whose reads run the program over
    /// the objects iterated and return what it wrote; read it to the end.
    /// Each call is a new, independent pass.
    pub fn open_iter(&self) -> Result<File> {
        let LinkKind::Bpf(fd) = &self.kind else {
            return Err(Error::InvalidArgument(
                "open_iter: a perf event attachment is not an iterator link".into(),
            ));
        };
        let file = oxbpf_syscalls::iter_create(fd)
            .map_err(Error::syscall("opening an iterator link for reading"))?;
        Ok(File::from(file))
    }
}

impl Program {
    /// Attaches the program where its section name says
    /// (`tracepoint/<category>/<name>`, `tp/...`, `raw_tp/<name>`,
    /// `raw_tracepoint/<name>`, `tp_btf/<name>`, `iter/<target>`,
    /// `fentry/<func>`, `fexit/<func>`, `fmod_ret/<func>`, `lsm/<hook>`,
    /// `kprobe/<func>[+<offset>]`, `kretprobe/<func>`,
    /// `kprobe.multi/<func or pattern>[,...]`, `kretprobe.multi/...`,
    /// `kprobe.session/...`, `ksyscall/<syscall>`, `kretsyscall/...`,
    /// `uprobe/<binary>:<func>[+<offset>]`, `uretprobe/...`, `uprobe.s/...`,
    /// `uprobe.multi/<binary>:<pattern>`, `uprobe.session/...`,
    /// `usdt/<binary>:<provider>:<name>`, `tc/ingress`, `tcx/egress`...
    /// need an interface, `cgroup/...` a cgroup: those have their own
    /// methods). Patterns (`*`, `?`) are resolved against
    /// `available_filter_functions` (kprobes) or the binary's symbols
    /// (uprobes).
    pub fn attach(&self) -> Result<Link> {
        let fail = |reason: String| Error::AttachTarget {
            program: self.name.clone(),
            reason,
        };
        let Some(def) = self.section_def else {
            return Err(fail(format!(
                "section {:?} says nothing about where to attach",
                self.section
            )));
        };
        let target = self.attach_target.as_str();
        match self.prog_type {
            ProgType::TRACEPOINT => {
                let (category, name) = target.split_once('/').ok_or_else(|| {
                    fail(format!(
                        "section {:?}: expected {}/<category>/<name>",
                        self.section, def.name
                    ))
                })?;
                self.attach_tracepoint(category, name)
            }
            ProgType::RAW_TRACEPOINT | ProgType::RAW_TRACEPOINT_WRITABLE => {
                if target.is_empty() {
                    return Err(fail(format!(
                        "section {:?}: expected {}/<tracepoint>",
                        self.section, def.name
                    )));
                }
                self.attach_raw_tracepoint(target)
            }
            ProgType::TRACING if def.attach_type == Some(AttachType::TRACE_RAW_TP) => {
                let fd =
                    oxbpf_syscalls::raw_tracepoint_open(None, &self.fd).map_err(Error::syscall(
                        format!("program {}: attaching to tp_btf/{target}", self.name),
                    ))?;
                Ok(Link {
                    kind: LinkKind::Bpf(fd),
                })
            }
            ProgType::TRACING if def.attach_type == Some(AttachType::TRACE_ITER) => {
                self.attach_iter()
            }
            ProgType::TRACING | ProgType::LSM
                if matches!(
                    def.attach_type,
                    Some(
                        AttachType::TRACE_FENTRY
                            | AttachType::TRACE_FEXIT
                            | AttachType::MODIFY_RETURN
                            | AttachType::LSM_MAC
                    )
                ) =>
            {
                self.attach_trampoline()
            }
            ProgType::KPROBE if def.attach_type == Some(AttachType::TRACE_KPROBE_MULTI) => {
                if target.is_empty() {
                    return Err(fail(format!(
                        "section {:?}: expected {}/<func or pattern>[,...]",
                        self.section, def.name
                    )));
                }
                crate::attach::kprobe::auto_kprobe_multi(self, def.name, target)
            }
            ProgType::KPROBE if matches!(def.name, "kprobe" | "kretprobe") => {
                let (func, offset) = parse_kprobe_target(target).ok_or_else(|| {
                    fail(format!(
                        "section {:?}: expected {}/<function>[+<offset>]",
                        self.section, def.name
                    ))
                })?;
                if def.name == "kretprobe" {
                    if offset != 0 {
                        return Err(fail(format!(
                            "section {:?}: a kretprobe has no offset",
                            self.section
                        )));
                    }
                    self.attach_kretprobe(func)
                } else {
                    self.attach_kprobe(func, offset)
                }
            }
            _ => crate::attach::auto::attach_by_section(self, def),
        }
    }

    /// Attaches a tracepoint program to `category/name` (as in
    /// `/sys/kernel/tracing/events/<category>/<name>`), for every process
    /// and CPU. Uses a BPF perf_event link, or the perf ioctl on kernels
    /// without one.
    pub fn attach_tracepoint(&self, category: &str, name: &str) -> Result<Link> {
        let what = || {
            format!(
                "program {}: attaching to tracepoint {category}/{name}",
                self.name
            )
        };
        let id = oxbpf_syscalls::tracepoint_id(category, name).map_err(Error::syscall(what()))?;
        let event = oxbpf_syscalls::perf_event_open_tracepoint(id, -1, 0)
            .map_err(Error::syscall(what()))?;
        self.attach_to_event(event, what)
    }

    /// Attaches a program to a perf event the caller opened, e.g. a
    /// `perf_event` program to a sampling event from
    /// [`crate::sys::perf_event_open_software`]: the program runs on
    /// each sample. The link owns the event and closes it when dropped.
    /// Uses a BPF perf_event link, or the perf ioctl on kernels without
    /// one.
    pub fn attach_perf_event(&self, event: OwnedFd) -> Result<Link> {
        self.attach_to_event(event, || {
            format!("program {}: attaching to a perf event", self.name)
        })
    }

    fn attach_to_event(&self, event: OwnedFd, what: impl Fn() -> String) -> Result<Link> {
        let tail = LinkTail::PerfEvent(LinkCreatePerfEvent { bpf_cookie: 0 });
        match oxbpf_syscalls::link_create(
            &self.fd,
            LinkTarget::Fd(event.as_fd()),
            AttachType::PERF_EVENT,
            0,
            &tail,
        ) {
            Ok(link) => Ok(Link {
                kind: LinkKind::PerfEvent {
                    link: Some(link),
                    event,
                },
            }),
            Err(e) if e.errno() == Some(oxbpf_syscalls::Errno::INVAL) => {
                // Kernels before 5.15 have no perf_event links.
                log::debug!(target: "oxbpf::attach", "no perf_event link ({e}); using PERF_EVENT_IOC_SET_BPF");
                oxbpf_syscalls::perf_event_set_bpf(event.as_fd(), &self.fd)
                    .map_err(Error::syscall(what()))?;
                oxbpf_syscalls::perf_event_enable(event.as_fd()).map_err(Error::syscall(what()))?;
                Ok(Link {
                    kind: LinkKind::PerfEvent { link: None, event },
                })
            }
            Err(e) => Err(Error::Syscall {
                what: what(),
                source: e,
            }),
        }
    }

    /// Attaches a cgroup program (`cgroup_skb/*`, `cgroup/sock_create`,
    /// `cgroup/connect4`, `cgroup/getsockopt`, `cgroup/sysctl`,
    /// `cgroup/dev`...) to the cgroup v2 directory open as `cgroup`, at the
    /// hook its section name implies, with a BPF link (kernel 5.7+). The
    /// program then runs for every task of that cgroup and its
    /// descendants, alongside programs others attached there.
    pub fn attach_cgroup(&self, cgroup: BorrowedFd<'_>) -> Result<Link> {
        let attach_type = self
            .expected_attach_type
            .ok_or_else(|| Error::AttachTarget {
                program: self.name.clone(),
                reason: format!(
                    "section {:?} does not say which cgroup hook to attach to \
                     (set an expected attach type before load)",
                    self.section
                ),
            })?;
        let fd = oxbpf_syscalls::link_create(
            &self.fd,
            LinkTarget::Fd(cgroup),
            attach_type,
            0,
            &LinkTail::None,
        )
        .map_err(Error::syscall(format!(
            "program {}: attaching to a cgroup as {attach_type}",
            self.name
        )))?;
        Ok(Link {
            kind: LinkKind::Bpf(fd),
        })
    }

    /// Attaches an iterator program (`iter/<target>`, attach type
    /// `BPF_TRACE_ITER`) with a BPF link; read it with
    /// [`Link::open_iter`]. Iterators that take parameters (a map, a
    /// cgroup) are not supported yet: this passes none.
    pub fn attach_iter(&self) -> Result<Link> {
        let fd = oxbpf_syscalls::link_create(
            &self.fd,
            LinkTarget::None,
            AttachType::TRACE_ITER,
            0,
            &LinkTail::None,
        )
        .map_err(Error::syscall(format!(
            "program {}: attaching iterator {}",
            self.name, self.section
        )))?;
        Ok(Link {
            kind: LinkKind::Bpf(fd),
        })
    }

    /// Attaches a tracing program of attach type fentry, fexit or
    /// fmod_ret, or an LSM program, to the kernel function (or LSM hook)
    /// it was loaded for (`BPF_RAW_TRACEPOINT_OPEN` without a name, which
    /// kernels since 5.5 accept for every trampoline program).
    ///
    /// # Minimum kernel version
    ///
    /// fentry/fexit 5.5, fmod_ret and LSM 5.7 (LSM needs `bpf` among the
    /// active LSMs).
    pub fn attach_trampoline(&self) -> Result<Link> {
        let fd = oxbpf_syscalls::raw_tracepoint_open(None, &self.fd).map_err(Error::syscall(
            format!(
                "program {}: attaching {} to {}",
                self.name, self.section, self.attach_target
            ),
        ))?;
        Ok(Link {
            kind: LinkKind::Bpf(fd),
        })
    }

    /// Attaches a kprobe program to kernel function `func` at `offset`
    /// bytes into it (0: its entry), through a perf event of the kprobe
    /// PMU and a BPF perf_event link (the perf ioctl before 5.15).
    ///
    /// # Minimum kernel version
    ///
    /// 4.17 (the kprobe PMU), with `CONFIG_KPROBES`.
    pub fn attach_kprobe(&self, func: &str, offset: u64) -> Result<Link> {
        self.attach_kprobe_event(func, offset, false)
    }

    /// Attaches a kprobe program to the return of kernel function `func`
    /// (a kretprobe), like [`Program::attach_kprobe`].
    pub fn attach_kretprobe(&self, func: &str) -> Result<Link> {
        self.attach_kprobe_event(func, 0, true)
    }

    fn attach_kprobe_event(&self, func: &str, offset: u64, retprobe: bool) -> Result<Link> {
        let kind = if retprobe { "kretprobe" } else { "kprobe" };
        let what = || {
            if offset == 0 {
                format!("program {}: attaching a {kind} to {func}", self.name)
            } else {
                format!(
                    "program {}: attaching a {kind} to {func}+{offset:#x}",
                    self.name
                )
            }
        };
        self.check_type(ProgType::KPROBE, kind)?;
        let c = CString::new(func)
            .map_err(|_| Error::InvalidArgument(format!("{}: name contains NUL", what())))?;
        let pmu = oxbpf_syscalls::kprobe_pmu_type()
            .map_err(Error::syscall(what()))?
            .ok_or_else(|| Error::Unsupported {
                what: format!(
                    "kprobes: the kernel has no kprobe PMU ({} is missing)",
                    oxbpf_syscalls::KPROBE_PMU_TYPE
                ),
                site: what(),
            })?;
        let event = oxbpf_syscalls::perf_event_open_kprobe(pmu, &c, offset, retprobe, -1, 0)
            .map_err(Error::syscall(what()))?;
        self.attach_to_event(event, what)
    }

    /// Attaches a kprobe program loaded for kprobe_multi
    /// (`kprobe.multi/...`, attach type `BPF_TRACE_KPROBE_MULTI`) to every
    /// kernel function of `funcs` at once with one BPF link; `retprobe`
    /// makes it run at their returns.
    ///
    /// # Minimum kernel version
    ///
    /// 5.18, with `CONFIG_FPROBE`.
    pub fn attach_kprobe_multi(&self, funcs: &[&str], retprobe: bool) -> Result<Link> {
        /// `BPF_F_KPROBE_MULTI_RETURN`.
        const KPROBE_MULTI_RETURN: u32 = 1;
        let what = || {
            format!(
                "program {}: attaching kprobe_multi to {}",
                self.name,
                funcs.join(",")
            )
        };
        self.check_type(ProgType::KPROBE, "kprobe_multi")?;
        if funcs.is_empty() {
            return Err(Error::InvalidArgument(format!("{}: no function", what())));
        }
        let names = funcs
            .iter()
            .map(|f| CString::new(*f))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|_| Error::InvalidArgument(format!("{}: a name contains NUL", what())))?;
        let syms: Vec<&std::ffi::CStr> = names.iter().map(|c| c.as_c_str()).collect();
        let tail = LinkTail::KprobeMulti {
            flags: if retprobe { KPROBE_MULTI_RETURN } else { 0 },
            syms: &syms,
            addrs: &[],
            cookies: &[],
        };
        let fd = oxbpf_syscalls::link_create(
            &self.fd,
            LinkTarget::None,
            AttachType::TRACE_KPROBE_MULTI,
            0,
            &tail,
        )
        .map_err(Error::syscall(what()))?;
        Ok(Link {
            kind: LinkKind::Bpf(fd),
        })
    }

    fn check_type(&self, want: ProgType, what: &str) -> Result<()> {
        if self.prog_type == want {
            return Ok(());
        }
        Err(Error::AttachTarget {
            program: self.name.clone(),
            reason: format!(
                "a {what} attachment needs a {want} program, this one is {}",
                self.prog_type
            ),
        })
    }

    /// Attaches a raw tracepoint program to the tracepoint `name`.
    pub fn attach_raw_tracepoint(&self, name: &str) -> Result<Link> {
        let what = format!("program {}: attaching to raw tracepoint {name}", self.name);
        let c = CString::new(name)
            .map_err(|_| Error::InvalidArgument(format!("{what}: name contains NUL")))?;
        let fd = oxbpf_syscalls::raw_tracepoint_open(Some(&c), &self.fd)
            .map_err(Error::syscall(what))?;
        Ok(Link {
            kind: LinkKind::Bpf(fd),
        })
    }
}

/// `func` or `func+offset` (offset decimal or `0x` hex) of a
/// `kprobe/...` section.
fn parse_kprobe_target(target: &str) -> Option<(&str, u64)> {
    let (func, offset) = match target.split_once('+') {
        Some((f, off)) => {
            let off = match off.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16).ok()?,
                None => off.parse().ok()?,
            };
            (f, off)
        }
        None => (target, 0),
    };
    (!func.is_empty() && !func.contains(['/', ' '])).then_some((func, offset))
}

#[cfg(test)]
mod tests {
    use super::parse_kprobe_target;

    #[test]
    fn kprobe_targets() {
        assert_eq!(parse_kprobe_target("do_unlinkat"), Some(("do_unlinkat", 0)));
        assert_eq!(parse_kprobe_target("f+16"), Some(("f", 16)));
        assert_eq!(parse_kprobe_target("f+0x10"), Some(("f", 16)));
        assert_eq!(parse_kprobe_target(""), None);
        assert_eq!(parse_kprobe_target("f+x"), None);
        assert_eq!(parse_kprobe_target("+4"), None);
    }
}
