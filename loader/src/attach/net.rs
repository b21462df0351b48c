//! Network attach points with BPF links: XDP, tcx, netkit, network
//! namespaces (sk_lookup, flow_dissector), netfilter, sockmaps.

use std::os::fd::{AsFd, BorrowedFd};

use oxbpf_syscalls::attr::{LinkCreateNetfilter, LinkCreateRelative};
use oxbpf_syscalls::{
    AttachTarget, AttachType, Errno, F_AFTER, F_BEFORE, F_ID, F_LINK, LinkTail, LinkTarget,
    ProgType,
};

use crate::attach::{Attached, target_err};
use crate::error::{Error, Result};
use crate::link::Link;
use crate::map::Map;
use crate::program::Program;

/// How an XDP program is attached to an interface.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum XdpMode {
    /// The driver's native mode when it has one, else generic.
    #[default]
    Default,
    /// Generic XDP on the skb (`XDP_FLAGS_SKB_MODE`): every driver.
    Skb,
    /// Native driver mode (`XDP_FLAGS_DRV_MODE`): fails if the driver has
    /// none.
    Driver,
    /// Offloaded to the NIC (`XDP_FLAGS_HW_MODE`).
    Hardware,
}

impl XdpMode {
    fn flags(self) -> u32 {
        match self {
            XdpMode::Default => 0,
            XdpMode::Skb => 1 << 1,
            XdpMode::Driver => 1 << 2,
            XdpMode::Hardware => 1 << 3,
        }
    }
}

/// Where a program goes among those of a multi-program attach point
/// (tcx, netkit, cgroups on 6.16+), and the revision it must be at.
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub enum Anchor<'a> {
    /// After every program there (the default).
    #[default]
    Last,
    /// Before every program there.
    First,
    /// Right before this program.
    Before(&'a Program),
    /// Right after this program.
    After(&'a Program),
    /// Right before the program of this link.
    BeforeLink(&'a Link),
    /// Right after the program of this link.
    AfterLink(&'a Link),
    /// Right before the program with this kernel id.
    BeforeId(u32),
    /// Right after the program with this kernel id.
    AfterId(u32),
}

impl Anchor<'_> {
    pub(crate) fn encode_pub(&self) -> Result<(u32, u32)> {
        self.encode()
    }

    /// `(flags, relative fd or id)`.
    fn encode(&self) -> Result<(u32, u32)> {
        use std::os::fd::AsRawFd;
        let link_fd = |l: &Link| {
            l.link_fd()
                .map(|f| f.as_raw_fd() as u32)
                .ok_or_else(|| Error::InvalidArgument("an anchor link must be a BPF link".into()))
        };
        Ok(match *self {
            Anchor::Last => (0, 0),
            Anchor::First => (F_BEFORE, 0),
            Anchor::Before(p) => (F_BEFORE, p.prog_fd().as_raw_fd() as u32),
            Anchor::After(p) => (F_AFTER, p.prog_fd().as_raw_fd() as u32),
            Anchor::BeforeLink(l) => (F_BEFORE | F_LINK, link_fd(l)?),
            Anchor::AfterLink(l) => (F_AFTER | F_LINK, link_fd(l)?),
            Anchor::BeforeId(id) => (F_BEFORE | F_ID, id),
            Anchor::AfterId(id) => (F_AFTER | F_ID, id),
        })
    }
}

/// Where a netfilter program hooks in ([`Program::attach_netfilter`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct NetfilterOptions {
    /// Protocol family: `NFPROTO_IPV4` (2) or `NFPROTO_IPV6` (10).
    pub pf: u32,
    /// Hook: `NF_INET_PRE_ROUTING` (0), `LOCAL_IN` (1), `FORWARD` (2),
    /// `LOCAL_OUT` (3), `POST_ROUTING` (4).
    pub hooknum: u32,
    /// Priority among the hooks (lower runs first; the kernel refuses
    /// `INT_MIN`, `INT_MAX` and a priority already taken by another BPF
    /// program at the same hook).
    pub priority: i32,
    /// Reassemble IP fragments first (`BPF_F_NETFILTER_IP_DEFRAG`,
    /// kernel 6.6+).
    pub defrag: bool,
}

impl NetfilterOptions {
    /// With IP defragmentation before the program.
    pub fn with_defrag(mut self) -> Self {
        self.defrag = true;
        self
    }
}

impl NetfilterOptions {
    /// `NFPROTO_IPV4`.
    pub const IPV4: u32 = 2;
    /// `NFPROTO_IPV6`.
    pub const IPV6: u32 = 10;
    /// `NF_INET_PRE_ROUTING`.
    pub const PRE_ROUTING: u32 = 0;
    /// `NF_INET_LOCAL_IN`.
    pub const LOCAL_IN: u32 = 1;
    /// `NF_INET_FORWARD`.
    pub const FORWARD: u32 = 2;
    /// `NF_INET_LOCAL_OUT`.
    pub const LOCAL_OUT: u32 = 3;
    /// `NF_INET_POST_ROUTING`.
    pub const POST_ROUTING: u32 = 4;

    /// Hook `hooknum` of family `pf` at `priority`.
    pub fn new(pf: u32, hooknum: u32, priority: i32) -> NetfilterOptions {
        NetfilterOptions {
            pf,
            hooknum,
            priority,
            defrag: false,
        }
    }
}

impl Program {
    fn link(
        &self,
        target: LinkTarget<'_>,
        attach_type: AttachType,
        flags: u32,
        tail: &LinkTail<'_>,
        what: impl FnOnce() -> String,
    ) -> Result<Link> {
        oxbpf_syscalls::link_create(&self.fd, target, attach_type, flags, tail)
            .map(Link::bpf)
            .map_err(|source| Error::Syscall {
                what: what(),
                source,
            })
    }

    fn want_type(&self, want: ProgType, what: &str) -> Result<()> {
        if self.prog_type == want {
            Ok(())
        } else {
            Err(target_err(
                &self.name,
                format!(
                    "{what} needs a {want} program, this one is {}",
                    self.prog_type
                ),
            ))
        }
    }

    /// Attaches an XDP program to interface `ifindex` (of the calling
    /// thread's network namespace) with a BPF link: the program then sees
    /// every packet the interface receives. One XDP link per interface
    /// and mode; it is replaced with [`Link::update_program`].
    ///
    /// # Minimum kernel version
    ///
    /// 5.9 (XDP links).
    pub fn attach_xdp(&self, ifindex: u32, mode: XdpMode) -> Result<Link> {
        self.want_type(ProgType::XDP, "XDP")?;
        self.link(
            LinkTarget::Ifindex(ifindex),
            AttachType::XDP,
            mode.flags(),
            &LinkTail::None,
            || {
                format!(
                    "program {}: attaching XDP ({mode:?}) to interface {ifindex}",
                    self.name
                )
            },
        )
    }

    /// Attaches a tc program to the ingress or egress tcx hook of
    /// interface `ifindex`, by its expected attach type (`tcx/ingress`,
    /// `tcx/egress`, `tc/ingress`, `tc/egress`), placed per `anchor`. Its
    /// return value is a tcx verdict (`TCX_NEXT` -1 goes on to the next
    /// program, `TCX_PASS` 0, `TCX_DROP` 2, `TCX_REDIRECT` 7).
    ///
    /// # Minimum kernel version
    ///
    /// 6.6.
    pub fn attach_tcx(&self, ifindex: u32, anchor: Anchor<'_>) -> Result<Link> {
        self.attach_tcx_at_revision(ifindex, anchor, 0)
    }

    /// [`Program::attach_tcx`] that fails with `ESTALE` unless the hook's
    /// programs are still at `expected_revision` (from
    /// [`oxbpf_syscalls::prog_query`]); 0 does not check.
    pub fn attach_tcx_at_revision(
        &self,
        ifindex: u32,
        anchor: Anchor<'_>,
        expected_revision: u64,
    ) -> Result<Link> {
        self.want_type(ProgType::SCHED_CLS, "tcx")?;
        let attach_type = match self.expected_attach_type {
            Some(t @ (AttachType::TCX_INGRESS | AttachType::TCX_EGRESS)) => t,
            _ => {
                return Err(target_err(
                    &self.name,
                    format!(
                        "section {:?} does not say ingress or egress; load it from \
                         tcx/ingress or tcx/egress (or set the expected attach type)",
                        self.section
                    ),
                ));
            }
        };
        let (flags, relative_fd) = anchor.encode()?;
        let mut rel = LinkCreateRelative::default();
        rel.relative_fd = relative_fd;
        rel.expected_revision = expected_revision;
        let tail = LinkTail::Tcx(rel);
        self.link(
            LinkTarget::Ifindex(ifindex),
            attach_type,
            flags,
            &tail,
            || {
                format!(
                    "program {}: attaching to {attach_type} of interface {ifindex}",
                    self.name
                )
            },
        )
    }

    /// Attaches a program to a netkit device `ifindex` (`netkit/primary`
    /// or `netkit/peer`, by its expected attach type), placed per
    /// `anchor`.
    ///
    /// # Minimum kernel version
    ///
    /// 6.7, with `CONFIG_NETKIT`.
    pub fn attach_netkit(&self, ifindex: u32, anchor: Anchor<'_>) -> Result<Link> {
        self.want_type(ProgType::SCHED_CLS, "netkit")?;
        let attach_type = match self.expected_attach_type {
            Some(t @ (AttachType::NETKIT_PRIMARY | AttachType::NETKIT_PEER)) => t,
            _ => {
                return Err(target_err(
                    &self.name,
                    format!(
                        "section {:?} is not netkit/primary or netkit/peer",
                        self.section
                    ),
                ));
            }
        };
        let (flags, relative_fd) = anchor.encode()?;
        let mut rel = LinkCreateRelative::default();
        rel.relative_fd = relative_fd;
        let tail = LinkTail::Netkit(rel);
        self.link(
            LinkTarget::Ifindex(ifindex),
            attach_type,
            flags,
            &tail,
            || {
                format!(
                    "program {}: attaching to {attach_type} of interface {ifindex}",
                    self.name
                )
            },
        )
    }

    /// Attaches an `sk_lookup` or `flow_dissector` program to the network
    /// namespace open as `netns` (`/proc/<pid>/ns/net`,
    /// `/var/run/netns/<name>`).
    ///
    /// # Minimum kernel version
    ///
    /// 5.8 (flow_dissector links), 5.9 (sk_lookup).
    pub fn attach_netns(&self, netns: BorrowedFd<'_>) -> Result<Link> {
        let attach_type = match self.prog_type {
            ProgType::SK_LOOKUP => AttachType::SK_LOOKUP,
            ProgType::FLOW_DISSECTOR => AttachType::FLOW_DISSECTOR,
            other => {
                return Err(target_err(
                    &self.name,
                    format!(
                        "a network namespace takes sk_lookup and flow_dissector programs, not {other}"
                    ),
                ));
            }
        };
        self.link(
            LinkTarget::Fd(netns),
            attach_type,
            0,
            &LinkTail::None,
            || {
                format!(
                    "program {}: attaching {attach_type} to a network namespace",
                    self.name
                )
            },
        )
    }

    /// Attaches a netfilter program at the hook `opts` names, in the
    /// calling thread's network namespace. The program returns `NF_DROP`
    /// (0) or `NF_ACCEPT` (1).
    ///
    /// # Minimum kernel version
    ///
    /// 6.4, with `CONFIG_NETFILTER_BPF_LINK`.
    pub fn attach_netfilter(&self, opts: &NetfilterOptions) -> Result<Link> {
        self.want_type(ProgType::NETFILTER, "a netfilter hook")?;
        let tail = LinkTail::Netfilter(LinkCreateNetfilter {
            pf: opts.pf,
            hooknum: opts.hooknum,
            priority: opts.priority,
            flags: u32::from(opts.defrag),
        });
        self.link(LinkTarget::None, AttachType::NETFILTER, 0, &tail, || {
            format!(
                "program {}: attaching to netfilter family {} hook {} priority {}",
                self.name, opts.pf, opts.hooknum, opts.priority
            )
        })
    }

    /// Attaches an `sk_msg` or `sk_skb` program to a sockmap or sockhash
    /// at the hook its section names (`sk_msg`, `sk_skb/stream_parser`,
    /// `sk_skb/stream_verdict`, `sk_skb/verdict`): it then runs for the
    /// sockets in the map. A sockmap link where the kernel has them
    /// (6.10+), else `BPF_PROG_ATTACH`, which this link undoes when
    /// dropped.
    pub fn attach_sockmap(&self, map: &Map) -> Result<Link> {
        let attach_type = self.expected_attach_type.ok_or_else(|| {
            target_err(
                &self.name,
                format!(
                    "section {:?} does not say which sockmap hook; use attach_sockmap_as",
                    self.section
                ),
            )
        })?;
        self.attach_sockmap_as(map, attach_type)
    }

    /// [`Program::attach_sockmap`] at the hook `attach_type`
    /// (`SK_MSG_VERDICT`, `SK_SKB_STREAM_PARSER`, `SK_SKB_STREAM_VERDICT`,
    /// `SK_SKB_VERDICT`).
    pub fn attach_sockmap_as(&self, map: &Map, attach_type: AttachType) -> Result<Link> {
        if !matches!(self.prog_type, ProgType::SK_MSG | ProgType::SK_SKB) {
            return Err(target_err(
                &self.name,
                format!(
                    "a sockmap takes sk_msg and sk_skb programs, not {}",
                    self.prog_type
                ),
            ));
        }
        let what = || {
            format!(
                "program {}: attaching to sockmap {} as {attach_type}",
                self.name, map.name
            )
        };
        match oxbpf_syscalls::link_create(
            &self.fd,
            LinkTarget::Fd(map.fd.as_fd()),
            attach_type,
            0,
            &LinkTail::None,
        ) {
            Ok(fd) => Ok(Link::bpf(fd)),
            Err(e) if matches!(e.errno(), Some(Errno::INVAL | Errno::OPNOTSUPP)) => {
                log::debug!(target: "oxbpf::attach", "no sockmap link ({e}); using BPF_PROG_ATTACH");
                self.prog_attach_to(map.fd.as_fd(), attach_type, 0, what)
            }
            Err(source) => Err(Error::Syscall {
                what: what(),
                source,
            }),
        }
    }

    /// `BPF_PROG_ATTACH` to `target` as `attach_type` with `flags`; the
    /// returned link detaches with `BPF_PROG_DETACH` when dropped.
    pub(crate) fn prog_attach_to(
        &self,
        target: BorrowedFd<'_>,
        attach_type: AttachType,
        flags: u32,
        what: impl Fn() -> String,
    ) -> Result<Link> {
        let target = target.try_clone_to_owned().map_err(|source| Error::Io {
            path: "(attach target fd)".into(),
            source,
        })?;
        let prog = self.fd.try_clone().map_err(Error::syscall(what()))?;
        oxbpf_syscalls::prog_attach(&prog, AttachTarget::Fd(target.as_fd()), attach_type, flags)
            .map_err(Error::syscall(what()))?;
        Ok(Link::attached(Attached::ProgAttach {
            target,
            prog,
            attach_type,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_encode_flags() {
        assert_eq!(Anchor::Last.encode().unwrap(), (0, 0));
        assert_eq!(Anchor::First.encode().unwrap(), (F_BEFORE, 0));
        assert_eq!(Anchor::AfterId(7).encode().unwrap(), (F_AFTER | F_ID, 7));
        assert_eq!(Anchor::BeforeId(9).encode().unwrap(), (F_BEFORE | F_ID, 9));
    }

    #[test]
    fn xdp_modes() {
        assert_eq!(XdpMode::Default.flags(), 0);
        assert_eq!(XdpMode::Skb.flags(), 2);
        assert_eq!(XdpMode::Driver.flags(), 4);
        assert_eq!(XdpMode::Hardware.flags(), 8);
    }
}
