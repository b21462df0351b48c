//! `RLIMIT_MEMLOCK` on kernels before 5.11.
//!
//! Until Linux 5.11 the kernel charged the memory of BPF maps, programs
//! and BTF against the creating process's `RLIMIT_MEMLOCK` (64 KiB or
//! 8 MiB by default), so loading anything sizeable failed with `EPERM`.
//! Since 5.11 it charges the memory cgroup instead and the limit no longer
//! matters. Loaders therefore lift the limit, but only on kernels that
//! still use it: changing a process's limits is not a library's business
//! otherwise.

use std::sync::OnceLock;

use oxbpf_asm::Insn;
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

use crate::enums::ProgType;
use crate::error::{Error, Result};
use crate::prog::{ProgLoadOptions, VerifierLog, prog_load};

/// `bpf_ktime_get_coarse_ns`, a helper that arrived in 5.11 together with
/// memory-cgroup accounting of BPF memory: a kernel that has it charges
/// the cgroup.
const BPF_FUNC_KTIME_GET_COARSE_NS: i32 = 160;

/// Whether the kernel charges BPF memory to the memory cgroup (5.11+)
/// rather than to `RLIMIT_MEMLOCK`. Probed once per process by loading a
/// socket filter that calls `bpf_ktime_get_coarse_ns`.
pub fn kernel_charges_memcg() -> bool {
    static CACHE: OnceLock<bool> = OnceLock::new();
    *CACHE.get_or_init(|| {
        let insns = [
            Insn::call_helper(BPF_FUNC_KTIME_GET_COARSE_NS),
            Insn::mov64_imm(0, 0),
            Insn::exit(),
        ];
        let opts = ProgLoadOptions::new(ProgType::SOCKET_FILTER, &insns, c"GPL");
        let memcg = prog_load(&opts, &mut VerifierLog::new()).is_ok();
        log::debug!(target: "oxbpf::syscalls", "BPF memory charged to the memory cgroup: {memcg}");
        memcg
    })
}

/// Lifts `RLIMIT_MEMLOCK` to infinity if the kernel still charges BPF
/// memory against it (before 5.11) and the limit is finite; does nothing
/// on newer kernels. Returns whether the limit was changed. Fails if the
/// process may not raise it (no `CAP_SYS_RESOURCE`).
pub fn lift_memlock_limit() -> Result<bool> {
    if kernel_charges_memcg() {
        return Ok(false);
    }
    let current = getrlimit(Resource::Memlock);
    if current.current.is_none() {
        return Ok(false);
    }
    let unlimited = Rlimit {
        current: None,
        maximum: None,
    };
    setrlimit(Resource::Memlock, unlimited).map_err(|errno| {
        Error::invalid(format!(
            "this kernel charges BPF memory to RLIMIT_MEMLOCK (before Linux 5.11) and raising the limit ({:?} bytes) failed: {errno}",
            current.current
        ))
    })?;
    log::info!(target: "oxbpf::syscalls", "RLIMIT_MEMLOCK lifted (a kernel before 5.11 charges BPF memory to it)");
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_kernel_is_probed_consistently() {
        let memcg = kernel_charges_memcg();
        // Both arrived in 5.11: the probe must agree with the version.
        let (major, minor, _) = crate::kernel_version().unwrap();
        assert_eq!(memcg, (major, minor) >= (5, 11), "{major}.{minor}");
        // On a kernel with memcg accounting nothing changes; on an older
        // one (vm-test on 5.10) the limit ends up infinite.
        let changed = lift_memlock_limit().unwrap();
        if memcg {
            assert!(!changed);
        } else {
            assert!(getrlimit(Resource::Memlock).current.is_none());
        }
    }
}
