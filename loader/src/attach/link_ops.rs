//! What a link can do once made: pin, unpin, reopen from a pin, change
//! its program, detach, describe itself.

use std::path::Path;

use oxbpf_syscalls::{Errno, LinkFd, LinkInfo};

use crate::error::{Error, Result};
use crate::link::{Link, LinkKind};
use crate::program::Program;

impl Link {
    fn bpf_link(&self, what: &str) -> Result<&LinkFd> {
        self.link_fd().ok_or_else(|| {
            Error::InvalidArgument(format!(
                "{what}: this attachment is not a BPF link ({})",
                self.describe()
            ))
        })
    }

    /// What kind of attachment this is, for messages.
    fn describe(&self) -> &'static str {
        match &self.kind {
            LinkKind::Bpf(_) => "a BPF link",
            LinkKind::PerfEvent { link: Some(_), .. } => "a perf_event link",
            LinkKind::PerfEvent { link: None, .. } => {
                "a perf event with the program set by ioctl (kernel without perf_event links)"
            }
            LinkKind::Attached(crate::attach::Attached::ProgAttach { .. }) => {
                "a BPF_PROG_ATTACH attachment"
            }
            LinkKind::Attached(crate::attach::Attached::TcFilter(_)) => "a tc filter",
            LinkKind::Attached(crate::attach::Attached::Group { .. }) => "a group of attachments",
            #[allow(unreachable_patterns, reason = "kinds added elsewhere")]
            _ => "a registration without a BPF link",
        }
    }

    /// Pins the link at `path` on a bpffs (`BPF_OBJ_PIN`). A pinned link
    /// stays attached when this `Link` is dropped, and when the process
    /// exits, until the pin is removed ([`Link::unpin`], or `rm`) and no
    /// fd refers to it. Only BPF links can be pinned (not the perf-ioctl,
    /// `BPF_PROG_ATTACH`, tc filter or grouped attachments).
    pub fn pin(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let what = format!("pinning a link at {}", path.display());
        let fd = self.bpf_link(&what)?;
        oxbpf_syscalls::obj_pin(fd, path).map_err(Error::syscall(what))
    }

    /// Removes the pin at `path` (which must be a pin of a BPF link). The
    /// link stays attached while this `Link` (or another fd) holds it.
    pub fn unpin(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        // Refuse to remove something that is not a link pin.
        oxbpf_syscalls::link_get_pinned(path).map_err(Error::syscall(format!(
            "{} is not a pinned link",
            path.display()
        )))?;
        std::fs::remove_file(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })
    }

    /// Opens the link pinned at `path` (`BPF_OBJ_GET`). The returned
    /// `Link` detaches nothing when dropped while the pin exists.
    pub fn from_pin(path: impl AsRef<Path>) -> Result<Link> {
        let path = path.as_ref();
        let fd = oxbpf_syscalls::link_get_pinned(path).map_err(Error::syscall(format!(
            "opening the link pinned at {}",
            path.display()
        )))?;
        Ok(Link::bpf(fd))
    }

    /// Makes the link run `program` instead of its current one
    /// (`BPF_LINK_UPDATE`), atomically: no event is missed or seen by
    /// both. The new program must be of the same type and attach type.
    /// Links of perf events, kprobe_multi and uprobe_multi cannot be
    /// updated (the kernel answers `EOPNOTSUPP`).
    pub fn update_program(&self, program: &Program) -> Result<()> {
        let what = format!("updating a link to program {}", program.name);
        let fd = self.bpf_link(&what)?;
        oxbpf_syscalls::link_update(fd, program.prog_fd(), None).map_err(Error::syscall(what))
    }

    /// Detaches now. A BPF link is detached with `BPF_LINK_DETACH` where
    /// the kernel supports it (cgroup, netns, XDP, tcx, netkit, netfilter,
    /// sockmap, struct_ops links): then the program is detached even if
    /// the link is pinned or other fds refer to it, and the link stays as
    /// a defunct object until its last reference goes. Other attachments
    /// are detached by closing them (a pinned one stays).
    pub fn detach(self) -> Result<()> {
        if let LinkKind::Bpf(fd) = &self.kind {
            match oxbpf_syscalls::link_detach(fd) {
                Ok(()) => {}
                // Links without a detach operation: closing is detaching.
                Err(e) if matches!(e.errno(), Some(Errno::OPNOTSUPP | Errno::INVAL)) => {
                    log::debug!(target: "oxbpf::attach", "BPF_LINK_DETACH refused ({e}); closing the link");
                }
                Err(e) => {
                    return Err(Error::Syscall {
                        what: "detaching a link".into(),
                        source: e,
                    });
                }
            }
        }
        drop(self);
        Ok(())
    }

    /// The kernel's view of the link (`BPF_OBJ_GET_INFO_BY_FD`): id, type,
    /// program id and the per-type details (the interface of an XDP or
    /// tcx link, the cgroup and attach type of a cgroup link...).
    pub fn info(&self) -> Result<LinkInfo> {
        let fd = self.bpf_link("reading link info")?;
        oxbpf_syscalls::link_info(fd).map_err(Error::syscall("reading link info"))
    }
}
