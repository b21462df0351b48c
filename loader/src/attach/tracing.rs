//! Trampoline programs with cookies, freplace, and cgroups: ordered
//! links, lsm_cgroup and the pre-link `BPF_PROG_ATTACH`.

use std::os::fd::{AsFd, BorrowedFd};

use oxbpf_btf::{Btf, Kind};
use oxbpf_syscalls::attr::{LinkCreateRelative, LinkCreateTracing};
use oxbpf_syscalls::{AttachType, LinkTail, LinkTarget, ProgType};

use crate::attach::net::Anchor;
use crate::attach::target_err;
use crate::error::{Error, Result};
use crate::link::Link;
use crate::program::Program;

impl Program {
    /// Attaches an fentry, fexit, fmod_ret or LSM program to the function
    /// it was loaded for, like [`Program::attach_trampoline`], through
    /// `BPF_LINK_CREATE` with a BPF cookie the program reads with
    /// `bpf_get_attach_cookie()`.
    ///
    /// # Minimum kernel version
    ///
    /// 5.19 (tracing links with cookies).
    pub fn attach_trampoline_with_cookie(&self, cookie: u64) -> Result<Link> {
        let attach_type = match (self.prog_type, self.expected_attach_type) {
            (
                ProgType::TRACING | ProgType::LSM,
                Some(
                    t @ (AttachType::TRACE_FENTRY
                    | AttachType::TRACE_FEXIT
                    | AttachType::MODIFY_RETURN
                    | AttachType::LSM_MAC),
                ),
            ) => t,
            _ => {
                return Err(target_err(
                    &self.name,
                    "a cookie attachment needs an fentry, fexit, fmod_ret or lsm program",
                ));
            }
        };
        let mut tracing = LinkCreateTracing::default();
        tracing.cookie = cookie;
        let tail = LinkTail::Tracing(tracing);
        oxbpf_syscalls::link_create(&self.fd, LinkTarget::None, attach_type, 0, &tail)
            .map(Link::bpf)
            .map_err(Error::syscall(format!(
                "program {}: attaching {attach_type} to {} with cookie {cookie:#x}",
                self.name, self.attach_target
            )))
    }

    /// Attaches a `freplace` program in place of the global function
    /// `func` of the loaded program `target` (which must have BTF): from
    /// then on, calls to `func` in `target` run this program. The
    /// program must have been loaded with a compatible signature.
    ///
    /// # Minimum kernel version
    ///
    /// 5.10 (freplace links to a target given at attach time).
    pub fn attach_freplace(&self, target: &Program, func: &str) -> Result<Link> {
        if self.prog_type != ProgType::EXT {
            return Err(target_err(
                &self.name,
                format!(
                    "freplace needs an ext program, this one is {}",
                    self.prog_type
                ),
            ));
        }
        let what = || {
            format!(
                "program {}: replacing {func} of program {}",
                self.name, target.name
            )
        };
        let btf_id = prog_func_btf_id(target, func)?;
        oxbpf_syscalls::link_create(
            &self.fd,
            LinkTarget::Fd(target.fd.as_fd()),
            AttachType(0),
            0,
            &LinkTail::TargetBtfId(btf_id),
        )
        .map(Link::bpf)
        .map_err(Error::syscall(what()))
    }

    /// Attaches a cgroup program (or an `lsm_cgroup` program) to the
    /// cgroup `cgroup` like [`Program::attach_cgroup`], placed per
    /// `anchor` among the programs of that hook, and only if the hook is
    /// at `expected_revision` (0: any).
    ///
    /// # Minimum kernel version
    ///
    /// 6.16 for an anchor other than [`Anchor::Last`] or a revision.
    pub fn attach_cgroup_anchored(
        &self,
        cgroup: BorrowedFd<'_>,
        anchor: Anchor<'_>,
        expected_revision: u64,
    ) -> Result<Link> {
        let attach_type = self.cgroup_attach_type()?;
        let (flags, relative_fd) = anchor_encode(&anchor)?;
        let mut rel = LinkCreateRelative::default();
        rel.relative_fd = relative_fd;
        rel.expected_revision = expected_revision;
        let tail = LinkTail::Cgroup(rel);
        oxbpf_syscalls::link_create(&self.fd, LinkTarget::Fd(cgroup), attach_type, flags, &tail)
            .map(Link::bpf)
            .map_err(Error::syscall(format!(
                "program {}: attaching to a cgroup as {attach_type}",
                self.name
            )))
    }

    /// Attaches a cgroup program with `BPF_PROG_ATTACH` (the way of
    /// kernels before 5.7, without links) and `flags`
    /// ([`oxbpf_syscalls::F_ALLOW_MULTI`]...); dropping the link detaches
    /// it with `BPF_PROG_DETACH`.
    pub fn attach_cgroup_legacy(&self, cgroup: BorrowedFd<'_>, flags: u32) -> Result<Link> {
        let attach_type = self.cgroup_attach_type()?;
        self.prog_attach_to(cgroup, attach_type, flags, || {
            format!(
                "program {}: BPF_PROG_ATTACH to a cgroup as {attach_type}",
                self.name
            )
        })
    }

    fn cgroup_attach_type(&self) -> Result<AttachType> {
        self.expected_attach_type.ok_or_else(|| {
            target_err(
                &self.name,
                format!(
                    "section {:?} does not say which cgroup hook to attach to",
                    self.section
                ),
            )
        })
    }
}

fn anchor_encode(anchor: &Anchor<'_>) -> Result<(u32, u32)> {
    // Same encoding as tcx.
    anchor.encode_pub()
}

/// The BTF id of the function `func` in the BTF of loaded program
/// `prog`.
fn prog_func_btf_id(prog: &Program, func: &str) -> Result<u32> {
    let what = || format!("program {}: finding function {func} in its BTF", prog.name);
    let info = prog.info()?;
    if info.btf_id == 0 {
        return Err(target_err(&prog.name, "the program has no BTF"));
    }
    let btf_fd = oxbpf_syscalls::btf_get_fd_by_id(info.btf_id).map_err(Error::syscall(what()))?;
    let data = oxbpf_syscalls::btf_data(&btf_fd).map_err(Error::syscall(what()))?;
    let btf = Btf::parse(&data).map_err(Error::btf(what()))?;
    btf.find_by_name_kind(func, Kind::Func)
        .map_err(Error::btf(what()))?
        .map(|id| id.0)
        .ok_or_else(|| target_err(&prog.name, format!("its BTF has no function {func}")))
}
