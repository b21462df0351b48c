//! Attaching programs: links that detach when dropped.

use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};

use oxbpf_syscalls::attr::LinkCreatePerfEvent;
use oxbpf_syscalls::{AttachType, LinkFd, LinkTail, LinkTarget, ProgType};

use crate::error::{Error, Result};
use crate::program::Program;

/// An attached program. Dropping the link detaches it.
#[derive(Debug)]
pub struct Link {
    kind: LinkKind,
}

#[derive(Debug)]
enum LinkKind {
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
}

impl Link {
    /// The BPF link fd, when the attachment is a BPF link (not a bare perf
    /// event of an old kernel).
    pub fn link_fd(&self) -> Option<&LinkFd> {
        match &self.kind {
            LinkKind::Bpf(fd) => Some(fd),
            LinkKind::PerfEvent { link, .. } => link.as_ref(),
        }
    }

    /// Detaches now (the same as dropping the link).
    pub fn detach(self) {}
}

impl Program {
    /// Attaches the program where its section name says
    /// (`tracepoint/<category>/<name>`, `tp/...`, `raw_tp/<name>`,
    /// `raw_tracepoint/<name>`, `tp_btf/<name>`).
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
            other => Err(Error::Unsupported {
                what: format!("auto-attaching {other} programs"),
                site: format!("program {} (section {})", self.name, self.section),
            }),
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
