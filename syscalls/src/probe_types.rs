//! Whether the kernel has a map type or a program type.
//!
//! The kernel answers `EINVAL` both for a type it does not know and for
//! attributes it does not like, so a failed `BPF_MAP_CREATE` or
//! `BPF_PROG_LOAD` says little on an older kernel. These probes create the
//! simplest map, or load the simplest program, of one type: if that fails
//! while a plain array map (or socket filter) works, the kernel lacks the
//! type, and the loader can say so by name.

use std::sync::Mutex;

use oxbpf_asm::Insn;

use crate::attr::MapCreateAttr;
use crate::btf::btf_load;
use crate::enums::{AttachType, MapType, ProgType};
use crate::error::Errno;
use crate::map::map_create;
use crate::probe::ProbeResult;
use crate::prog::{ProgLoadOptions, VerifierLog, prog_load};

/// `BPF_F_NO_PREALLOC`.
const F_NO_PREALLOC: u32 = 1;
/// `BPF_F_MMAPABLE`.
const F_MMAPABLE: u32 = 1 << 10;
/// `BPF_F_SLEEPABLE`.
const F_SLEEPABLE: u32 = 1 << 4;

/// BTF with one type, `[1] int` (4 bytes, signed): local storage maps
/// need BTF key and value types.
fn int_btf() -> Vec<u8> {
    let strings = b"\0int\0";
    let types: [u32; 4] = [1, 1 << 24, 4, (1 << 24) | 32];
    let mut out = Vec::new();
    let header: [u32; 5] = [24, 0, 16, 16, strings.len() as u32];
    out.extend_from_slice(&0xeb9f_u16.to_ne_bytes());
    out.extend_from_slice(&[1, 0]);
    for w in header {
        out.extend_from_slice(&w.to_ne_bytes());
    }
    for w in types {
        out.extend_from_slice(&w.to_ne_bytes());
    }
    out.extend_from_slice(strings);
    out
}

/// Tries to create the simplest map of `t`.
fn try_map(t: MapType) -> Result<(), Option<Errno>> {
    let page = rustix::param::page_size() as u32;
    let attr = |k, v, max| MapCreateAttr::new(t, k, v, max);
    let mut a = match t {
        MapType::STACK_TRACE => attr(4, 8, 1),
        MapType::LPM_TRIE => MapCreateAttr {
            map_flags: F_NO_PREALLOC,
            ..attr(8, 4, 1)
        },
        MapType::CGROUP_STORAGE | MapType::PERCPU_CGROUP_STORAGE => attr(16, 4, 0),
        MapType::QUEUE | MapType::STACK | MapType::BLOOM_FILTER => attr(0, 4, 1),
        MapType::RINGBUF | MapType::USER_RINGBUF => attr(0, 0, page),
        MapType::ARENA => MapCreateAttr {
            map_flags: F_MMAPABLE,
            ..attr(0, 0, 1)
        },
        MapType::SK_STORAGE
        | MapType::INODE_STORAGE
        | MapType::TASK_STORAGE
        | MapType::CGRP_STORAGE => MapCreateAttr {
            map_flags: F_NO_PREALLOC,
            btf_key_type_id: 1,
            btf_value_type_id: 1,
            ..attr(4, 4, 0)
        },
        _ => attr(4, 4, 1),
    };
    // Kept alive until the map is created.
    let mut _btf = None;
    let mut _inner = None;
    match t {
        MapType::SK_STORAGE
        | MapType::INODE_STORAGE
        | MapType::TASK_STORAGE
        | MapType::CGRP_STORAGE => {
            let btf = btf_load(&int_btf(), &mut VerifierLog::new()).map_err(|e| e.errno())?;
            a.btf_fd = std::os::fd::AsRawFd::as_raw_fd(&btf) as u32;
            _btf = Some(btf);
        }
        MapType::ARRAY_OF_MAPS | MapType::HASH_OF_MAPS => {
            let inner =
                map_create(&MapCreateAttr::new(MapType::ARRAY, 4, 4, 1)).map_err(|e| e.errno())?;
            a.inner_map_fd = std::os::fd::AsRawFd::as_raw_fd(&inner) as u32;
            _inner = Some(inner);
        }
        _ => {}
    }
    map_create(&a).map(drop).map_err(|e| e.errno())
}

/// Whether the kernel can create maps of type `t`, probed once per
/// process. `STRUCT_OPS` maps need a kernel struct to implement and are
/// not probed (inconclusive).
pub fn probe_map_type(t: MapType) -> ProbeResult {
    static CACHE: Mutex<Vec<(MapType, ProbeResult)>> = Mutex::new(Vec::new());
    cached(&CACHE, t, || {
        if t == MapType::STRUCT_OPS {
            return ProbeResult::Inconclusive(Errno::NOTSUP);
        }
        classify(try_map(t), || try_map(MapType::ARRAY))
    })
}

/// The expected attach type the simplest program of `t` needs.
fn attach_type_for(t: ProgType) -> AttachType {
    match t {
        ProgType::CGROUP_SOCK_ADDR => AttachType::CGROUP_INET4_CONNECT,
        ProgType::CGROUP_SOCKOPT => AttachType::CGROUP_GETSOCKOPT,
        ProgType::SK_LOOKUP => AttachType::SK_LOOKUP,
        ProgType::NETFILTER => AttachType::NETFILTER,
        ProgType::CGROUP_SOCK => AttachType::CGROUP_INET_SOCK_CREATE,
        ProgType::SK_REUSEPORT => AttachType::SK_REUSEPORT_SELECT,
        _ => AttachType(0),
    }
}

/// Tries to load `r0 = 0; exit` as a program of `t`.
fn try_prog(t: ProgType) -> Result<(), Option<Errno>> {
    let insns = [Insn::mov64_imm(0, 0), Insn::exit()];
    let mut opts = ProgLoadOptions::new(t, &insns, c"GPL");
    opts.expected_attach_type = attach_type_for(t);
    if t == ProgType::SYSCALL {
        // "Syscall programs can only be sleepable".
        opts.prog_flags = F_SLEEPABLE;
    }
    prog_load(&opts, &mut VerifierLog::new())
        .map(drop)
        .map_err(|e| e.errno())
}

/// Whether the kernel can load programs of type `t`, probed once per
/// process. Types whose programs need a BTF attach target (tracing, LSM,
/// extension, struct_ops) are not probed this way (inconclusive).
pub fn probe_prog_type(t: ProgType) -> ProbeResult {
    static CACHE: Mutex<Vec<(ProgType, ProbeResult)>> = Mutex::new(Vec::new());
    cached(&CACHE, t, || {
        if matches!(
            t,
            ProgType::TRACING | ProgType::EXT | ProgType::LSM | ProgType::STRUCT_OPS
        ) {
            return ProbeResult::Inconclusive(Errno::NOTSUP);
        }
        classify(try_prog(t), || try_prog(ProgType::SOCKET_FILTER))
    })
}

/// A refusal (`EINVAL`, `E2BIG`, `EOPNOTSUPP`) is an unsupported type if
/// the baseline works; anything else says nothing.
fn classify(
    got: Result<(), Option<Errno>>,
    baseline: impl FnOnce() -> Result<(), Option<Errno>>,
) -> ProbeResult {
    match got {
        Ok(()) => ProbeResult::Supported,
        Err(Some(e)) if [Errno::INVAL, Errno::TOOBIG, Errno::NOTSUP].contains(&e) => {
            match baseline() {
                Ok(()) => ProbeResult::Unsupported,
                Err(b) => ProbeResult::Inconclusive(b.unwrap_or(Errno::INVAL)),
            }
        }
        Err(e) => ProbeResult::Inconclusive(e.unwrap_or(Errno::INVAL)),
    }
}

/// Caches conclusive answers per type.
fn cached<T: Copy + PartialEq>(
    cache: &Mutex<Vec<(T, ProbeResult)>>,
    t: T,
    probe: impl FnOnce() -> ProbeResult,
) -> ProbeResult {
    if let Some(&(_, r)) = cache
        .lock()
        .ok()
        .and_then(|c| c.iter().find(|(k, _)| *k == t).copied())
        .as_ref()
    {
        return r;
    }
    let r = probe();
    if !matches!(r, ProbeResult::Inconclusive(_))
        && let Ok(mut c) = cache.lock()
    {
        c.push((t, r));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every probe answers (no probed type is inconclusive for root), the
    /// types every supported kernel (5.10+) has are found, and on a kernel
    /// with every type (6.9+, arenas) every probed type is found: the
    /// probes' minimal attributes are right, so a refusal means the type
    /// is missing, not that the probe is wrong.
    #[test]
    fn types_are_found_where_they_exist() {
        let (major, minor, _) = crate::kernel_version().unwrap();
        let all = (major, minor) >= (6, 9);
        for n in 1..=33 {
            let t = MapType(n);
            let r = probe_map_type(t);
            if t == MapType::STRUCT_OPS {
                assert!(matches!(r, ProbeResult::Inconclusive(_)));
            } else if all || n <= MapType::DEVMAP_HASH.0 {
                assert_eq!(r, ProbeResult::Supported, "{t}");
            } else {
                assert!(!matches!(r, ProbeResult::Inconclusive(_)), "{t}: {r:?}");
            }
        }
        for n in 1..=32 {
            let t = ProgType(n);
            let r = probe_prog_type(t);
            match t {
                ProgType::TRACING | ProgType::EXT | ProgType::LSM | ProgType::STRUCT_OPS => {
                    assert!(matches!(r, ProbeResult::Inconclusive(_)), "{t}")
                }
                // Needs CONFIG_BPF_LIRC_MODE2, which Debian's kernels lack.
                ProgType::LIRC_MODE2 => {}
                _ if all || n <= ProgType::SK_LOOKUP.0 => {
                    assert_eq!(r, ProbeResult::Supported, "{t}")
                }
                _ => assert!(!matches!(r, ProbeResult::Inconclusive(_)), "{t}: {r:?}"),
            }
        }
    }

    #[test]
    fn an_unknown_type_is_unsupported() {
        assert_eq!(probe_map_type(MapType(200)), ProbeResult::Unsupported);
        assert_eq!(probe_prog_type(ProgType(200)), ProbeResult::Unsupported);
    }
}
