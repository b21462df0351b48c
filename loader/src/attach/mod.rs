//! Attaching programs of every kind, and what a [`Link`] can do once made.
//!
//! [`Program::attach`](crate::Program::attach) (in `link.rs`) reads the
//! section name and dispatches here for the kinds whose attach point it
//! names; the explicit `attach_*` methods take the attach point as
//! arguments. The pieces:
//!
//! - `perf`: perf events with BPF cookies, counters and sampling events;
//! - `kprobe`: ksyscall/kretsyscall, kprobe_multi with patterns and
//!   cookies, kprobe.session;
//! - `uprobe`, `elf_sym`: uprobes on a binary's symbols (shared libraries
//!   found like the dynamic loader does), uprobe_multi and uprobe.session;
//! - `usdt`: USDT probes from `.note.stapsdt`, with the spec maps of
//!   libbpf's `usdt.bpf.h`;
//! - `net`: XDP, tcx, netkit, sk_lookup, flow_dissector, netfilter,
//!   sockmap programs; `tc`: legacy clsact filters through rtnetlink;
//! - `tracing`: fentry/fexit/LSM with cookies, freplace, lsm_cgroup,
//!   cgroups with ordering;
//! - `auto`: `Object::attach_all`;
//! - `link_ops`: pin, unpin, reopen, update, detach, info.

pub(crate) mod auto;
pub(crate) mod elf_sym;
pub(crate) mod kprobe;
pub(crate) mod link_ops;
pub(crate) mod net;
pub(crate) mod perf;
pub(crate) mod tc;
pub(crate) mod tracing;
pub(crate) mod uprobe;
pub(crate) mod usdt;

use std::os::fd::OwnedFd;

use oxbpf_syscalls::{AttachTarget, AttachType, ProgFd};

pub use auto::{AttachAll, Skipped};
pub use kprobe::KprobeMultiOptions;
pub use net::{Anchor, NetfilterOptions, XdpMode};
pub use tc::{TcAttachPoint, TcFilterInfo, TcOptions, tc_bpf_filters};
pub use uprobe::{UprobeMultiOptions, UprobeOptions};
pub use usdt::{UsdtArg, UsdtArgKind, UsdtNote, UsdtOptions, parse_usdt_notes};

use crate::link::{Link, LinkKind};

/// Attachments that are not a single BPF link: each detaches when
/// dropped.
#[derive(Debug)]
pub(crate) enum Attached {
    /// `BPF_PROG_ATTACH` to a cgroup, sockmap or netns fd: detached with
    /// `BPF_PROG_DETACH`.
    ProgAttach {
        /// A duplicate of the target fd (keeps the target reachable).
        target: OwnedFd,
        /// A duplicate of the program fd.
        prog: ProgFd,
        /// The attach type.
        attach_type: AttachType,
    },
    /// A `cls_bpf` filter on a clsact qdisc, removed through rtnetlink.
    TcFilter(tc::Filter),
    /// Several attachments acting as one (the probes of a USDT, uprobes
    /// on several offsets), and what they hold besides (USDT spec slots).
    Group {
        /// The attachments.
        links: Vec<Link>,
        /// Spec ids of the USDT spec map to give back when dropped.
        #[allow(dead_code, reason = "held to free the spec ids when dropped")]
        usdt: Option<usdt::SpecSlots>,
    },
}

impl Drop for Attached {
    fn drop(&mut self) {
        match self {
            Attached::ProgAttach {
                target,
                prog,
                attach_type,
            } => {
                use std::os::fd::AsFd;
                if let Err(e) = oxbpf_syscalls::prog_detach(
                    Some(prog),
                    AttachTarget::Fd(target.as_fd()),
                    *attach_type,
                ) {
                    log::warn!(target: "oxbpf::attach", "detaching a {attach_type} program: {e}");
                }
            }
            Attached::TcFilter(f) => f.remove(),
            Attached::Group { links, .. } => {
                // Links first, then the spec slots they used.
                links.clear();
            }
        }
    }
}

impl Link {
    pub(crate) fn attached(a: Attached) -> Link {
        Link {
            kind: LinkKind::Attached(a),
        }
    }

    pub(crate) fn bpf(fd: oxbpf_syscalls::LinkFd) -> Link {
        Link {
            kind: LinkKind::Bpf(fd),
        }
    }

    /// The attachments a USDT or multi-offset uprobe link is made of
    /// (empty for other links).
    pub fn parts(&self) -> &[Link] {
        match &self.kind {
            LinkKind::Attached(Attached::Group { links, .. }) => links,
            _ => &[],
        }
    }
}

/// `Error::AttachTarget` for `program`.
pub(crate) fn target_err(program: &str, reason: impl Into<String>) -> crate::Error {
    crate::Error::AttachTarget {
        program: program.to_owned(),
        reason: reason.into(),
    }
}

/// A string as a C string, or an `InvalidArgument` naming `what`.
pub(crate) fn cstring(what: &str, s: &str) -> crate::Result<std::ffi::CString> {
    std::ffi::CString::new(s)
        .map_err(|_| crate::Error::InvalidArgument(format!("{what}: {s:?} contains a NUL byte")))
}
