//! Legacy tc attachment: a `clsact` qdisc and a `cls_bpf` filter in
//! direct-action mode, made and removed through rtnetlink (what
//! `tc qdisc add dev X clsact; tc filter add dev X ingress bpf da fd N`
//! does). Kernels before 6.6 have no tcx; on newer ones both coexist (tcx
//! programs run first).

use std::os::fd::AsRawFd;

use oxbpf_syscalls::ProgType;
use oxbpf_syscalls::netlink::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, Netlink, NlMsg, attrs,
};

use crate::attach::{Attached, target_err};
use crate::error::{Error, Result};
use crate::link::Link;
use crate::program::Program;

const RTM_NEWQDISC: u16 = 36;
const RTM_NEWTFILTER: u16 = 44;
const RTM_DELTFILTER: u16 = 45;
const RTM_GETTFILTER: u16 = 46;
const TCA_KIND: u16 = 1;
const TCA_OPTIONS: u16 = 2;
const TCA_BPF_FD: u16 = 6;
const TCA_BPF_NAME: u16 = 7;
const TCA_BPF_FLAGS: u16 = 8;
const TCA_BPF_ID: u16 = 11;
const TCA_BPF_FLAG_ACT_DIRECT: u32 = 1;
/// `TC_H_CLSACT` (= `TC_H_INGRESS`).
const TC_H_CLSACT: u32 = 0xFFFF_FFF1;
const TC_H_MIN_INGRESS: u32 = 0xFFF2;
const TC_H_MIN_EGRESS: u32 = 0xFFF3;
const ETH_P_ALL: u16 = 0x0003;

/// The two hooks of a `clsact` qdisc.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcAttachPoint {
    /// Packets the interface receives.
    Ingress,
    /// Packets the interface sends.
    Egress,
}

impl TcAttachPoint {
    fn parent(self) -> u32 {
        let min = match self {
            TcAttachPoint::Ingress => TC_H_MIN_INGRESS,
            TcAttachPoint::Egress => TC_H_MIN_EGRESS,
        };
        (TC_H_CLSACT & 0xFFFF_0000) | min
    }
}

/// How a legacy tc filter is added ([`Program::attach_tc`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TcOptions {
    /// The filter's handle (non-zero).
    pub handle: u32,
    /// The filter's priority (non-zero; lower runs first).
    pub priority: u16,
}

impl TcOptions {
    /// With filter handle `handle`.
    pub fn with_handle(mut self, handle: u32) -> Self {
        self.handle = handle;
        self
    }

    /// With filter priority `priority`.
    pub fn with_priority(mut self, priority: u16) -> Self {
        self.priority = priority;
        self
    }
}

impl Default for TcOptions {
    /// Handle 1, priority 1.
    fn default() -> TcOptions {
        TcOptions {
            handle: 1,
            priority: 1,
        }
    }
}

/// A `cls_bpf` filter found on a hook ([`tc_bpf_filters`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcFilterInfo {
    /// The filter's handle.
    pub handle: u32,
    /// Its priority.
    pub priority: u16,
    /// The kernel id of its program.
    pub prog_id: u32,
}

/// `struct tcmsg`.
fn tcmsg(ifindex: u32, handle: u32, parent: u32, info: u32) -> [u8; 20] {
    let mut m = [0u8; 20];
    m[4..8].copy_from_slice(&ifindex.to_ne_bytes());
    m[8..12].copy_from_slice(&handle.to_ne_bytes());
    m[12..16].copy_from_slice(&parent.to_ne_bytes());
    m[16..20].copy_from_slice(&info.to_ne_bytes());
    m
}

/// `TC_H_MAKE(priority << 16, htons(ETH_P_ALL))`.
fn filter_info(priority: u16) -> u32 {
    (u32::from(priority) << 16) | u32::from(ETH_P_ALL.to_be())
}

/// An attached filter; removed through the socket it was made with (so
/// in its network namespace) when dropped.
#[derive(Debug)]
pub(crate) struct Filter {
    nl: Netlink,
    ifindex: u32,
    parent: u32,
    handle: u32,
    priority: u16,
}

impl Filter {
    pub(crate) fn remove(&mut self) {
        let mut m = NlMsg::new(
            RTM_DELTFILTER,
            NLM_F_ACK,
            &tcmsg(
                self.ifindex,
                self.handle,
                self.parent,
                filter_info(self.priority),
            ),
        );
        m.attr_str(TCA_KIND, "bpf");
        if let Err(e) = self.nl.request("RTM_DELTFILTER", &mut m) {
            log::warn!(target: "oxbpf::attach", "removing tc filter {} from interface {}: {e}", self.handle, self.ifindex);
        }
    }
}

/// Adds a `clsact` qdisc to `ifindex` unless it has one.
fn ensure_clsact(nl: &mut Netlink, ifindex: u32) -> Result<()> {
    let mut m = NlMsg::new(
        RTM_NEWQDISC,
        NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        &tcmsg(ifindex, TC_H_CLSACT & 0xFFFF_0000, TC_H_CLSACT, 0),
    );
    m.attr_str(TCA_KIND, "clsact");
    match nl.request("RTM_NEWQDISC", &mut m) {
        Ok(_) => {
            log::debug!(target: "oxbpf::attach", "added a clsact qdisc to interface {ifindex}");
            Ok(())
        }
        Err(e) if e.errno() == Some(oxbpf_syscalls::Errno::EXIST) => Ok(()),
        Err(source) => Err(Error::Syscall {
            what: format!("adding a clsact qdisc to interface {ifindex}"),
            source,
        }),
    }
}

impl Program {
    /// Attaches a tc program (`tc`, `classifier`, `tc/ingress`...) to the
    /// ingress or egress hook of interface `ifindex` (of the calling
    /// thread's network namespace) the legacy way: a `clsact` qdisc
    /// (added if missing, left in place afterwards) and a `cls_bpf`
    /// filter in direct-action mode, so the program's return value is the
    /// verdict (`TC_ACT_OK` 0, `TC_ACT_SHOT` 2...). Dropping the link
    /// removes the filter. Fails with `EEXIST` if a filter with the same
    /// handle and priority is there.
    pub fn attach_tc(&self, ifindex: u32, point: TcAttachPoint, opts: &TcOptions) -> Result<Link> {
        if !matches!(self.prog_type, ProgType::SCHED_CLS) {
            return Err(target_err(
                &self.name,
                format!(
                    "a tc filter needs a sched_cls program, this one is {}",
                    self.prog_type
                ),
            ));
        }
        if opts.handle == 0 || opts.priority == 0 {
            return Err(Error::InvalidArgument(format!(
                "program {}: tc filter handle and priority must be non-zero",
                self.name
            )));
        }
        let what = || {
            format!(
                "program {}: adding a tc {point:?} filter (handle {}, priority {}) to interface {ifindex}",
                self.name, opts.handle, opts.priority
            )
        };
        let mut nl = Netlink::route().map_err(Error::syscall(what()))?;
        ensure_clsact(&mut nl, ifindex)?;
        let parent = point.parent();
        let mut m = NlMsg::new(
            RTM_NEWTFILTER,
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            &tcmsg(ifindex, opts.handle, parent, filter_info(opts.priority)),
        );
        m.attr_str(TCA_KIND, "bpf");
        let nest = m.begin_nested(TCA_OPTIONS);
        m.attr_u32(TCA_BPF_FD, self.fd.as_raw_fd() as u32);
        m.attr_str(TCA_BPF_NAME, &format!("{}:[{}]", self.name, self.section));
        m.attr_u32(TCA_BPF_FLAGS, TCA_BPF_FLAG_ACT_DIRECT);
        m.end_nested(nest);
        nl.request("RTM_NEWTFILTER", &mut m)
            .map_err(Error::syscall(what()))?;
        Ok(Link::attached(Attached::TcFilter(Filter {
            nl,
            ifindex,
            parent,
            handle: opts.handle,
            priority: opts.priority,
        })))
    }
}

/// The `cls_bpf` filters on the `point` hook of interface `ifindex` (of
/// the calling thread's network namespace), in the order tc runs them.
/// An interface without a `clsact` qdisc has none.
pub fn tc_bpf_filters(ifindex: u32, point: TcAttachPoint) -> Result<Vec<TcFilterInfo>> {
    let what = || format!("listing the tc {point:?} filters of interface {ifindex}");
    let mut nl = Netlink::route().map_err(Error::syscall(what()))?;
    let mut m = NlMsg::new(
        RTM_GETTFILTER,
        NLM_F_DUMP,
        &tcmsg(ifindex, 0, point.parent(), 0),
    );
    let replies = match nl.request("RTM_GETTFILTER", &mut m) {
        Ok(r) => r,
        Err(e) if e.errno() == Some(oxbpf_syscalls::Errno::INVAL) => return Ok(Vec::new()),
        Err(source) => {
            return Err(Error::Syscall {
                what: what(),
                source,
            });
        }
    };
    let mut out = Vec::new();
    for r in replies {
        if r.payload.len() < 20 {
            continue;
        }
        let word = |at: usize| {
            u32::from_ne_bytes([
                r.payload[at],
                r.payload[at + 1],
                r.payload[at + 2],
                r.payload[at + 3],
            ])
        };
        let (handle, info) = (word(8), word(16));
        let mut kind_bpf = false;
        let mut prog_id = None;
        for (ty, v) in attrs(&r.payload[20..]) {
            match ty {
                TCA_KIND => kind_bpf = v == b"bpf\0",
                TCA_OPTIONS => {
                    for (t, v) in attrs(v) {
                        if t == TCA_BPF_ID && v.len() >= 4 {
                            prog_id = Some(u32::from_ne_bytes([v[0], v[1], v[2], v[3]]));
                        }
                    }
                }
                _ => {}
            }
        }
        // The dump also lists each priority's filter chain head, without
        // a handle or a program.
        if let (true, Some(prog_id), true) = (kind_bpf, prog_id, handle != 0) {
            out.push(TcFilterInfo {
                handle,
                priority: (info >> 16) as u16,
                prog_id,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_follow_pkt_sched_h() {
        assert_eq!(TcAttachPoint::Ingress.parent(), 0xFFFF_FFF2);
        assert_eq!(TcAttachPoint::Egress.parent(), 0xFFFF_FFF3);
        #[cfg(target_endian = "little")]
        assert_eq!(filter_info(1), 0x0001_0300);
        let m = tcmsg(3, 1, 2, 4);
        assert_eq!(&m[4..8], &3u32.to_ne_bytes());
        assert_eq!(&m[16..20], &4u32.to_ne_bytes());
    }
}
