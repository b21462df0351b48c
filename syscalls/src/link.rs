//! Links: `BPF_LINK_CREATE`, `BPF_LINK_UPDATE`, `BPF_LINK_DETACH` and
//! `BPF_RAW_TRACEPOINT_OPEN`.

use std::ffi::CStr;
use std::os::fd::{AsFd, BorrowedFd};

use crate::attr::{
    LinkCreateAttr, LinkCreateIter, LinkCreateKprobeMulti, LinkCreateNetfilter,
    LinkCreatePerfEvent, LinkCreateRelative, LinkCreateTracing, LinkCreateUprobeMulti,
    LinkDetachAttr, LinkUpdateAttr, RawTracepointOpenAttr,
};
use crate::enums::{AttachType, Cmd};
use crate::error::{Error, Result};
use crate::fd::{LinkFd, ProgFd};
use crate::sys::{self, addr, fd_u32, slice_addr};

/// `BPF_F_REPLACE` of `BPF_LINK_UPDATE`.
pub const F_REPLACE: u32 = 1 << 2;

/// What a link attaches to (`target_fd` / `target_ifindex`).
#[derive(Clone, Copy, Debug)]
pub enum LinkTarget<'a> {
    /// No target object (tracing, iterators, netfilter...).
    None,
    /// A perf event, cgroup, netns... fd.
    Fd(BorrowedFd<'a>),
    /// A network interface (XDP, tcx, netkit).
    Ifindex(u32),
}

/// The per-attach-kind part of a `BPF_LINK_CREATE`. Variants that hold
/// pointers in the kernel's struct take slices here, so that they are
/// valid for the call.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum LinkTail<'a> {
    /// Nothing (the union is zero).
    None,
    /// `target_btf_id`: BTF id of a freplace/tracing target.
    TargetBtfId(u32),
    /// `perf_event` (attach type `BPF_PERF_EVENT`).
    PerfEvent(LinkCreatePerfEvent),
    /// `tracing`: fentry/fexit/LSM with a cookie.
    Tracing(LinkCreateTracing),
    /// `netfilter`.
    Netfilter(LinkCreateNetfilter),
    /// `tcx`: position among the programs of a tcx hook.
    Tcx(LinkCreateRelative),
    /// `netkit`: position among the programs of a netkit device.
    Netkit(LinkCreateRelative),
    /// `cgroup`: position among the programs of a cgroup hook.
    Cgroup(LinkCreateRelative),
    /// `kprobe_multi`: attach to many functions by name or address.
    KprobeMulti {
        /// `BPF_F_KPROBE_MULTI_RETURN`.
        flags: u32,
        /// Function names (exclusive with `addrs`).
        syms: &'a [&'a CStr],
        /// Function addresses (exclusive with `syms`).
        addrs: &'a [u64],
        /// One cookie per function, or empty.
        cookies: &'a [u64],
    },
    /// `uprobe_multi`: attach to many offsets of one binary.
    UprobeMulti {
        /// The binary.
        path: &'a CStr,
        /// File offsets.
        offsets: &'a [u64],
        /// One reference counter offset per probe, or empty.
        ref_ctr_offsets: &'a [u64],
        /// One cookie per probe, or empty.
        cookies: &'a [u64],
        /// `BPF_F_UPROBE_MULTI_RETURN`.
        flags: u32,
        /// Only this process (0: all).
        pid: u32,
    },
    /// Iterator link info (`union bpf_iter_link_info`, raw).
    Iter(&'a [u8]),
}

fn count(what: &str, n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::invalid(format!("link_create: {n} {what}")))
}

fn same_len_or_empty(what: &str, s: &[u64], n: usize) -> Result<()> {
    if s.is_empty() || s.len() == n {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "link_create: {} {what} for {n} probes",
            s.len()
        )))
    }
}

/// `BPF_LINK_CREATE`: attaches `prog` to `target` as `attach_type`.
pub fn link_create(
    prog: &ProgFd,
    target: LinkTarget<'_>,
    attach_type: AttachType,
    flags: u32,
    tail: &LinkTail<'_>,
) -> Result<LinkFd> {
    let cmd = Cmd::LINK_CREATE;
    let mut a = LinkCreateAttr {
        prog_fd: fd_u32(prog.as_fd()),
        attach_type,
        flags,
        ..Default::default()
    };
    a.target_fd = match target {
        LinkTarget::None => 0,
        LinkTarget::Fd(fd) => fd_u32(fd),
        LinkTarget::Ifindex(i) => i,
    };
    // Pointer arrays built here must outlive the call.
    let sym_ptrs: Vec<u64>;
    match *tail {
        LinkTail::None => {}
        LinkTail::TargetBtfId(id) => a.set_target_btf_id(id),
        LinkTail::PerfEvent(t) => a.set_tail(&t),
        LinkTail::Tracing(t) => a.set_tail(&t),
        LinkTail::Netfilter(t) => a.set_tail(&t),
        LinkTail::Tcx(t) | LinkTail::Netkit(t) | LinkTail::Cgroup(t) => a.set_tail(&t),
        LinkTail::KprobeMulti {
            flags,
            syms,
            addrs,
            cookies,
        } => {
            if !syms.is_empty() && !addrs.is_empty() {
                return Err(Error::invalid(
                    "link_create: kprobe_multi syms and addrs are exclusive",
                ));
            }
            let n = syms.len().max(addrs.len());
            same_len_or_empty("cookies", cookies, n)?;
            sym_ptrs = syms.iter().map(|s| addr(s.as_ptr())).collect();
            a.set_tail(&LinkCreateKprobeMulti {
                flags,
                cnt: count("kprobe_multi functions", n)?,
                syms: slice_addr(&sym_ptrs),
                addrs: slice_addr(addrs),
                cookies: slice_addr(cookies),
            });
        }
        LinkTail::UprobeMulti {
            path,
            offsets,
            ref_ctr_offsets,
            cookies,
            flags,
            pid,
        } => {
            let n = offsets.len();
            same_len_or_empty("ref_ctr_offsets", ref_ctr_offsets, n)?;
            same_len_or_empty("cookies", cookies, n)?;
            a.set_tail(&LinkCreateUprobeMulti {
                path: addr(path.as_ptr()),
                offsets: slice_addr(offsets),
                ref_ctr_offsets: slice_addr(ref_ctr_offsets),
                cookies: slice_addr(cookies),
                cnt: count("uprobe_multi offsets", n)?,
                flags,
                pid,
                ..Default::default()
            });
        }
        LinkTail::Iter(info) => a.set_tail(&LinkCreateIter {
            iter_info: slice_addr(info),
            iter_info_len: count("bytes of iter_info", info.len())?,
            ..Default::default()
        }),
    }
    // SAFETY: every pointer in the tail points into the borrowed slices
    // and strings of `tail` or into `sym_ptrs` (pointers to the borrowed
    // C strings), with counts set from the same slices; all outlive the
    // call. BPF_LINK_CREATE returns a new fd.
    let fd = unsafe { sys::bpf_fd(cmd, &mut a) }?;
    log::debug!(target: "oxbpf::syscalls", "link_create {attach_type} -> {fd:?}");
    Ok(LinkFd::from_kernel(fd))
}

/// `BPF_LINK_UPDATE`: replaces the link's program by `new_prog`; with
/// `old_prog`, only if the current one is `old_prog` (`BPF_F_REPLACE`).
pub fn link_update(link: &LinkFd, new_prog: &ProgFd, old_prog: Option<&ProgFd>) -> Result<()> {
    let cmd = Cmd::LINK_UPDATE;
    let mut a = LinkUpdateAttr {
        link_fd: fd_u32(link.as_fd()),
        new_prog_fd: fd_u32(new_prog.as_fd()),
        flags: if old_prog.is_some() { F_REPLACE } else { 0 },
        old_prog_fd: old_prog.map_or(0, |p| fd_u32(p.as_fd())),
    };
    // SAFETY: the attribute holds no pointer.
    unsafe { sys::bpf(cmd, &mut a) }.map_err(|e| Error::syscall(cmd, e))?;
    Ok(())
}

/// `BPF_LINK_DETACH`: detaches the program; the link fd stays open but
/// defunct.
pub fn link_detach(link: &LinkFd) -> Result<()> {
    let cmd = Cmd::LINK_DETACH;
    let mut a = LinkDetachAttr {
        link_fd: fd_u32(link.as_fd()),
    };
    // SAFETY: the attribute holds no pointer.
    unsafe { sys::bpf(cmd, &mut a) }.map_err(|e| Error::syscall(cmd, e))?;
    Ok(())
}

/// `BPF_RAW_TRACEPOINT_OPEN`: attaches a raw tracepoint program to the
/// tracepoint `name` (`None` for `tp_btf`/tracing programs, whose target
/// was fixed at load time).
pub fn raw_tracepoint_open(name: Option<&CStr>, prog: &ProgFd) -> Result<LinkFd> {
    let cmd = Cmd::RAW_TRACEPOINT_OPEN;
    let mut a = RawTracepointOpenAttr {
        name: name.map_or(0, |n| addr(n.as_ptr())),
        prog_fd: fd_u32(prog.as_fd()),
        ..Default::default()
    };
    // SAFETY: `name` is zero or points to the borrowed NUL-terminated
    // string, alive for the call; the command returns a new fd.
    let fd = unsafe { sys::bpf_fd(cmd, &mut a) }?;
    Ok(LinkFd::from_kernel(fd))
}
