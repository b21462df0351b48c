//! The attachments that are not links: `BPF_PROG_ATTACH`,
//! `BPF_PROG_DETACH` and `BPF_PROG_QUERY`.
//!
//! Older attach points (cgroups before 5.7, sockmaps before 6.10, legacy
//! flow dissector and `lirc_mode2`) only know these commands: the
//! attachment lives in the target until it is detached, whatever happens
//! to the fds. `BPF_PROG_QUERY` also answers for link-based attach points
//! (tcx, netkit, cgroups), in the kernel's execution order.

use std::os::fd::{AsFd, BorrowedFd};

use crate::enums::{AttachType, Cmd};
use crate::error::{Error, Result};
use crate::fd::ProgFd;
use crate::layout::uapi_struct;
use crate::sys::{self, fd_u32, slice_addr_mut};

/// `BPF_F_ALLOW_OVERRIDE` of `BPF_PROG_ATTACH` (cgroups).
pub const F_ALLOW_OVERRIDE: u32 = 1 << 0;
/// `BPF_F_ALLOW_MULTI` of `BPF_PROG_ATTACH` (cgroups).
pub const F_ALLOW_MULTI: u32 = 1 << 1;
/// `BPF_F_BEFORE`: insert before the relative program or link (or first).
pub const F_BEFORE: u32 = 1 << 3;
/// `BPF_F_AFTER`: insert after the relative program or link (or last).
pub const F_AFTER: u32 = 1 << 4;
/// `BPF_F_ID`: the relative object is given by id, not fd.
pub const F_ID: u32 = 1 << 5;
/// `BPF_F_LINK`: the relative object is a link.
pub const F_LINK: u32 = 1 << 13;

uapi_struct! {
    /// `BPF_PROG_ATTACH` / `BPF_PROG_DETACH`.
    pub struct ProgAttachAttr = "bpf_attr:attach_bpf_fd" {
        /// The target: cgroup, map, netns fd (C union with `target_ifindex`).
        pub target_fd: u32,
        /// The program.
        pub attach_bpf_fd: u32,
        /// The attach type.
        pub attach_type: AttachType,
        /// `BPF_F_ALLOW_*`, `BPF_F_REPLACE`, `BPF_F_BEFORE`...
        pub attach_flags: u32,
        /// With `BPF_F_REPLACE`: the program to replace.
        pub replace_bpf_fd: u32,
        /// With `BPF_F_BEFORE`/`AFTER`: the relative program or link (C
        /// union with `relative_id`).
        pub relative_fd: u32,
        /// Fail with `ESTALE` unless the attach point is at this revision.
        pub expected_revision: u64,
    }
}

uapi_struct! {
    /// `BPF_PROG_QUERY`.
    pub struct ProgQueryAttr = "bpf_attr.query" {
        /// The target (C union with `target_ifindex`).
        pub target_fd: u32,
        /// The attach type asked about.
        pub attach_type: AttachType,
        /// `BPF_F_QUERY_EFFECTIVE`.
        pub query_flags: u32,
        /// Out: the attach flags of the attach point.
        pub attach_flags: u32,
        /// Buffer of `prog_cnt` program ids.
        pub prog_ids: u64,
        /// In: capacity of the buffers; out: number of programs.
        pub prog_cnt: u32,
        pub(crate) _pad0: [u8; 4],
        /// Buffer of per-program attach flags (cgroups).
        pub prog_attach_flags: u64,
        /// Buffer of link ids, one per program (0: not a link).
        pub link_ids: u64,
        /// Buffer of per-link attach flags.
        pub link_attach_flags: u64,
        /// Out: the attach point's revision (tcx, netkit, cgroup).
        pub revision: u64,
    }
}

/// Where an attach-type command applies.
#[derive(Clone, Copy, Debug)]
pub enum AttachTarget<'a> {
    /// A cgroup, sockmap, netns... fd.
    Fd(BorrowedFd<'a>),
    /// A network interface (tcx, netkit).
    Ifindex(u32),
}

impl AttachTarget<'_> {
    fn raw(self) -> u32 {
        match self {
            AttachTarget::Fd(fd) => fd_u32(fd),
            AttachTarget::Ifindex(i) => i,
        }
    }
}

/// `BPF_PROG_ATTACH`: attaches `prog` to `target` as `attach_type` with
/// `flags` ([`F_ALLOW_MULTI`]...). The attachment stays until
/// [`prog_detach`] (or the target goes away).
pub fn prog_attach(
    prog: &ProgFd,
    target: AttachTarget<'_>,
    attach_type: AttachType,
    flags: u32,
) -> Result<()> {
    let cmd = Cmd::PROG_ATTACH;
    let mut a = ProgAttachAttr {
        target_fd: target.raw(),
        attach_bpf_fd: fd_u32(prog.as_fd()),
        attach_type,
        attach_flags: flags,
        ..Default::default()
    };
    // SAFETY: the attribute holds no pointer.
    unsafe { sys::bpf(cmd, &mut a) }.map_err(|e| Error::syscall(cmd, e))?;
    log::debug!(target: "oxbpf::syscalls", "prog_attach {attach_type} flags {flags:#x}");
    Ok(())
}

/// `BPF_PROG_DETACH`: detaches `prog` (or, with `None`, the one program
/// of a single-program attach point) from `target`.
pub fn prog_detach(
    prog: Option<&ProgFd>,
    target: AttachTarget<'_>,
    attach_type: AttachType,
) -> Result<()> {
    let cmd = Cmd::PROG_DETACH;
    let mut a = ProgAttachAttr {
        target_fd: target.raw(),
        attach_bpf_fd: prog.map_or(0, |p| fd_u32(p.as_fd())),
        attach_type,
        ..Default::default()
    };
    // SAFETY: the attribute holds no pointer.
    unsafe { sys::bpf(cmd, &mut a) }.map_err(|e| Error::syscall(cmd, e))?;
    Ok(())
}

/// What [`prog_query`] found at an attach point.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProgQuery {
    /// The attach point's flags (`BPF_F_ALLOW_MULTI`...).
    pub attach_flags: u32,
    /// The programs, in the order the kernel runs them.
    pub prog_ids: Vec<u32>,
    /// For each program, the id of the link that holds it (0: attached
    /// without a link). Empty when the kernel does not report link ids
    /// for this attach type.
    pub link_ids: Vec<u32>,
    /// The attach point's revision (tcx, netkit, cgroups on 6.6+; else 0).
    pub revision: u64,
}

/// Most programs a single query returns: grows from 8 on `ENOSPC`.
const MAX_QUERY: u32 = 1 << 16;

/// `BPF_PROG_QUERY`: the programs attached to `target` as `attach_type`.
/// `effective` (`BPF_F_QUERY_EFFECTIVE`, cgroups only) includes those
/// inherited from ancestors.
pub fn prog_query(
    target: AttachTarget<'_>,
    attach_type: AttachType,
    effective: bool,
) -> Result<ProgQuery> {
    const QUERY_EFFECTIVE: u32 = 1;
    let cmd = Cmd::PROG_QUERY;
    let mut cap: u32 = 8;
    // Kernels before 6.6 do not know `link_ids` and refuse a query that
    // sets it (EINVAL): asked again without it, their answer has no links.
    let mut with_links = true;
    loop {
        let mut prog_ids = vec![0u32; cap as usize];
        let mut link_ids = vec![0u32; if with_links { cap as usize } else { 0 }];
        let mut a = ProgQueryAttr {
            target_fd: target.raw(),
            attach_type,
            query_flags: if effective { QUERY_EFFECTIVE } else { 0 },
            prog_ids: slice_addr_mut(&mut prog_ids),
            prog_cnt: cap,
            // Zero when empty.
            link_ids: slice_addr_mut(&mut link_ids),
            ..Default::default()
        };
        // SAFETY: `prog_ids` points to a live buffer of `cap` u32, the
        // capacity given in `prog_cnt`, and `link_ids` to another or is
        // zero; the kernel writes at most that many ids into each.
        match unsafe { sys::bpf(cmd, &mut a) } {
            Ok(_) => {
                let n = (a.prog_cnt.min(cap)) as usize;
                prog_ids.truncate(n);
                link_ids.truncate(n);
                if link_ids.iter().all(|&l| l == 0) {
                    link_ids.clear();
                }
                return Ok(ProgQuery {
                    attach_flags: a.attach_flags,
                    prog_ids,
                    link_ids,
                    revision: a.revision,
                });
            }
            Err(e) if e == crate::Errno::NOSPC && cap < MAX_QUERY => {
                cap = a.prog_cnt.clamp(cap * 2, MAX_QUERY);
            }
            Err(e) if e == crate::Errno::INVAL && with_links => with_links = false,
            Err(e) => return Err(Error::syscall(cmd, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::UapiStruct;

    #[test]
    fn layouts_match_the_uapi_header() {
        assert_eq!(size_of::<ProgAttachAttr>(), 32);
        assert_eq!(
            ProgAttachAttr::field("expected_revision").unwrap().offset,
            24
        );
        assert_eq!(size_of::<ProgQueryAttr>(), 64);
        assert_eq!(ProgQueryAttr::field("prog_ids").unwrap().offset, 16);
        assert_eq!(ProgQueryAttr::field("prog_cnt").unwrap().offset, 24);
        assert_eq!(ProgQueryAttr::field("link_ids").unwrap().offset, 40);
        assert_eq!(ProgQueryAttr::field("revision").unwrap().offset, 56);
    }

    #[test]
    fn query_of_a_cgroup_without_programs_is_empty() {
        let dir = std::fs::File::open(cgroup2().expect("a cgroup2 mount")).unwrap();
        let q = prog_query(
            AttachTarget::Fd(dir.as_fd()),
            AttachType::CGROUP_DEVICE,
            false,
        );
        // The root may have programs (systemd's device filters), but the
        // call itself must work and return ids that exist.
        let q = q.unwrap();
        for id in &q.prog_ids {
            assert!(*id > 0);
        }
    }

    #[test]
    fn detach_of_nothing_is_an_error() {
        let err = prog_detach(
            None,
            AttachTarget::Ifindex(u32::MAX),
            AttachType::TCX_INGRESS,
        )
        .unwrap_err();
        assert!(err.errno().is_some(), "{err}");
    }

    fn cgroup2() -> Option<String> {
        let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        info.lines().find_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            (right.split(' ').next()? == "cgroup2")
                .then(|| left.split(' ').nth(4).map(str::to_owned))?
        })
    }
}
