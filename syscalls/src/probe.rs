//! Feature probes: what the running kernel's `BPF_BTF_LOAD` accepts.
//!
//! Each probe loads a minimal BTF blob that uses one feature (a kind, a
//! flag, a linkage) and nothing newer. The answer is tri-state
//! ([`ProbeResult`]): the blob loads (supported); the kernel refuses it
//! with `EINVAL` or `E2BIG` while a blob with only an `int` loads
//! (unsupported); anything else — no permission, `bpf()` missing, a fault
//! injected by a test — is inconclusive and carries the errno. Results are
//! cached per process ([`probe_btf`]); inconclusive ones are not, so a
//! later call probes again.
//!
//! Each feature declares the kernel version that introduced it
//! ([`BtfProbe::min_kernel`]); the tests fail if a probe answers
//! "unsupported" on a newer kernel.
//!
//! The blobs are written here word by word (this crate does not depend on
//! `oxbpf-btf`); the loader turns the answers into the `BtfFeatures` that
//! the BTF sanitizer takes.
//!
//! ```
//! use oxbpf_syscalls::{BtfProbe, ProbeResult, probe_btf};
//!
//! // On this project's 6.18 kernel every BTF feature is there.
//! for p in BtfProbe::ALL {
//!     assert_eq!(probe_btf(p), ProbeResult::Supported, "{p}");
//! }
//! ```

use std::sync::Mutex;

use crate::btf::btf_load;
use crate::error::{Errno, Error};
use crate::prog::VerifierLog;

/// A BTF feature a probe detects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BtfProbe {
    /// `BPF_BTF_LOAD` itself, with an INT (Linux 4.18).
    Btf,
    /// `BTF_KIND_FUNC` and `BTF_KIND_FUNC_PROTO` (Linux 5.0).
    Func,
    /// `BTF_KIND_VAR` and `BTF_KIND_DATASEC` (Linux 5.2).
    VarDatasec,
    /// `BTF_FUNC_GLOBAL` linkage (Linux 5.6).
    FuncGlobal,
    /// `BTF_KIND_FLOAT` (Linux 5.13).
    Float,
    /// `BTF_KIND_DECL_TAG` (Linux 5.16).
    DeclTag,
    /// `BTF_KIND_TYPE_TAG` (Linux 5.17).
    TypeTag,
    /// `BTF_KIND_ENUM64` (Linux 6.0).
    Enum64,
    /// Signed enums: ENUM with the kind_flag set (Linux 6.0).
    EnumSigned,
}

impl BtfProbe {
    /// Every probe, oldest feature first.
    pub const ALL: [BtfProbe; 9] = [
        BtfProbe::Btf,
        BtfProbe::Func,
        BtfProbe::VarDatasec,
        BtfProbe::FuncGlobal,
        BtfProbe::Float,
        BtfProbe::DeclTag,
        BtfProbe::TypeTag,
        BtfProbe::Enum64,
        BtfProbe::EnumSigned,
    ];

    /// The first kernel version (major, minor) with the feature.
    pub const fn min_kernel(self) -> (u8, u8) {
        match self {
            BtfProbe::Btf => (4, 18),
            BtfProbe::Func => (5, 0),
            BtfProbe::VarDatasec => (5, 2),
            BtfProbe::FuncGlobal => (5, 6),
            BtfProbe::Float => (5, 13),
            BtfProbe::DeclTag => (5, 16),
            BtfProbe::TypeTag => (5, 17),
            BtfProbe::Enum64 | BtfProbe::EnumSigned => (6, 0),
        }
    }

    /// A short name ("btf_func", "btf_enum64"...).
    pub const fn name(self) -> &'static str {
        match self {
            BtfProbe::Btf => "btf",
            BtfProbe::Func => "btf_func",
            BtfProbe::VarDatasec => "btf_var_datasec",
            BtfProbe::FuncGlobal => "btf_func_global",
            BtfProbe::Float => "btf_float",
            BtfProbe::DeclTag => "btf_decl_tag",
            BtfProbe::TypeTag => "btf_type_tag",
            BtfProbe::Enum64 => "btf_enum64",
            BtfProbe::EnumSigned => "btf_enum_signed",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// The probe's BTF blob, in native byte order.
    pub fn blob(self) -> Vec<u8> {
        // Strings: "\0int\0x\0.data\0tag\0e\0float\0".
        const INT: u32 = 1;
        const X: u32 = 5;
        const DATA: u32 = 7;
        const TAG: u32 = 13;
        const E: u32 = 17;
        const FLOAT: u32 = 19;
        let strings = b"\0int\0x\0.data\0tag\0e\0float\0";
        let info = |kind: u32, kind_flag: bool, vlen: u32| {
            (kind << 24) | (u32::from(kind_flag) << 31) | vlen
        };
        // [1] int: INT, size 4, signed, 32 bits.
        let mut t: Vec<u32> = vec![INT, info(1, false, 0), 4, (1 << 24) | 32];
        match self {
            BtfProbe::Btf => {}
            BtfProbe::Func | BtfProbe::FuncGlobal => {
                // [2] int (*)(int x); [3] FUNC x, static or global.
                t.extend([0, info(13, false, 1), 1, X, 1]);
                let linkage = u32::from(self == BtfProbe::FuncGlobal);
                t.extend([X, info(12, false, linkage), 2]);
            }
            BtfProbe::VarDatasec => {
                // [2] VAR x: int, global; [3] DATASEC .data {x at 0, 4 bytes}.
                t.extend([X, info(14, false, 0), 1, 1]);
                t.extend([DATA, info(15, false, 1), 4, 2, 0, 4]);
            }
            BtfProbe::Float => t.extend([FLOAT, info(16, false, 0), 4]),
            BtfProbe::DeclTag => {
                // [2] struct x { int x; }; [3] DECL_TAG "tag" on it.
                t.extend([X, info(4, false, 1), 4, X, 1, 0]);
                t.extend([TAG, info(17, false, 0), 2, u32::MAX]);
            }
            BtfProbe::TypeTag => {
                // [2] TYPE_TAG "tag" int; [3] PTR to it.
                t.extend([TAG, info(18, false, 0), 1]);
                t.extend([0, info(2, false, 0), 2]);
            }
            BtfProbe::Enum64 => {
                // [2] enum e: u64 { x = 1 << 32 }.
                t.extend([E, info(19, false, 1), 8, X, 0, 1]);
            }
            BtfProbe::EnumSigned => {
                // [2] enum e { x = -1 }, kind_flag (signed) set.
                t.extend([E, info(6, true, 1), 4, X, u32::MAX]);
            }
        }
        let type_len = (t.len() * 4) as u32;
        let mut out = Vec::with_capacity(24 + type_len as usize + strings.len());
        out.extend_from_slice(&0xeb9f_u16.to_ne_bytes());
        out.extend_from_slice(&[1, 0]);
        for w in [24, 0, type_len, type_len, strings.len() as u32] {
            out.extend_from_slice(&w.to_ne_bytes());
        }
        for w in t {
            out.extend_from_slice(&w.to_ne_bytes());
        }
        out.extend_from_slice(strings);
        out
    }
}

impl std::fmt::Display for BtfProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (major, minor) = self.min_kernel();
        write!(f, "{} (Linux {major}.{minor})", self.name())
    }
}

/// What a probe found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeResult {
    /// The kernel accepted the feature.
    Supported,
    /// The kernel refused the feature while accepting BTF without it.
    Unsupported,
    /// The probe could not tell (the errno of the call that failed:
    /// `EPERM` without privileges, `ENOSYS`, a fault injected by a test...).
    Inconclusive(Errno),
}

impl ProbeResult {
    /// Whether the answer is [`ProbeResult::Supported`].
    pub fn is_supported(self) -> bool {
        self == ProbeResult::Supported
    }
}

static CACHE: Mutex<[Option<ProbeResult>; BtfProbe::ALL.len()]> =
    Mutex::new([None; BtfProbe::ALL.len()]);

/// Probes `feature`, once per process: a supported or unsupported answer
/// is cached, an inconclusive one is not.
pub fn probe_btf(feature: BtfProbe) -> ProbeResult {
    let cached = CACHE.lock().map(|c| c[feature.index()]).unwrap_or(None);
    if let Some(r) = cached {
        return r;
    }
    let r = probe_btf_uncached(feature);
    if !matches!(r, ProbeResult::Inconclusive(_))
        && let Ok(mut c) = CACHE.lock()
    {
        c[feature.index()] = Some(r);
    }
    r
}

/// Probes `feature` now, without the cache.
pub fn probe_btf_uncached(feature: BtfProbe) -> ProbeResult {
    let r = classify(&feature.blob(), feature == BtfProbe::Btf);
    log::debug!(target: "oxbpf::syscalls", "probe {feature}: {r:?}");
    r
}

/// Loads `blob` and says what the answer means (`base`: the blob is the
/// plain-BTF one).
fn classify(blob: &[u8], base: bool) -> ProbeResult {
    match try_load(blob) {
        Ok(()) => ProbeResult::Supported,
        Err(e) if !base && refused(e) => {
            // Refused: unsupported only if plain BTF loads.
            match try_load(&BtfProbe::Btf.blob()) {
                Ok(()) => ProbeResult::Unsupported,
                Err(base) => ProbeResult::Inconclusive(base),
            }
        }
        // No BTF_LOAD at all: EINVAL for an unknown command.
        Err(e) if base && e == Errno::INVAL => ProbeResult::Unsupported,
        Err(e) => ProbeResult::Inconclusive(e),
    }
}

/// Whether the kernel refused a blob as invalid (as opposed to not letting
/// us ask).
fn refused(e: Errno) -> bool {
    e == Errno::INVAL || e == Errno::TOOBIG
}

fn try_load(blob: &[u8]) -> Result<(), Errno> {
    match btf_load(blob, &mut VerifierLog::new()) {
        Ok(_fd) => Ok(()),
        Err(e) => {
            if let Error::Verifier(v) = &e {
                log::trace!(target: "oxbpf::syscalls", "probe log: {}", v.log.trim_end());
            }
            Err(e.errno().unwrap_or(Errno::INVAL))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enums::Cmd;
    use crate::fault;

    #[test]
    fn blobs_are_well_formed() {
        for p in BtfProbe::ALL {
            let b = p.blob();
            let type_len = u32::from_ne_bytes(b[12..16].try_into().unwrap()) as usize;
            let str_len = u32::from_ne_bytes(b[20..24].try_into().unwrap()) as usize;
            assert_eq!(b.len(), 24 + type_len + str_len, "{p}");
            assert_eq!(*b.last().unwrap(), 0);
        }
    }

    #[test]
    fn no_probe_is_unsupported_after_its_minimum_kernel() {
        let (major, minor, _) = crate::kernel::kernel_version().unwrap();
        for p in BtfProbe::ALL {
            let r = probe_btf(p);
            if (major, minor) >= p.min_kernel() {
                assert_eq!(r, ProbeResult::Supported, "{p} on {major}.{minor}");
            } else {
                assert_eq!(r, ProbeResult::Unsupported, "{p} on {major}.{minor}");
            }
            // The cache answers the same.
            assert_eq!(probe_btf(p), r);
        }
    }

    #[test]
    fn an_unknown_kind_is_unsupported() {
        // The same shape as the FLOAT probe, with a kind no kernel has.
        let mut blob = BtfProbe::Float.blob();
        let info_at = 24 + 16 + 4;
        let info = u32::from_ne_bytes(blob[info_at..info_at + 4].try_into().unwrap());
        assert_eq!(info >> 24, 16);
        blob[info_at..info_at + 4].copy_from_slice(&((info & 0xffffff) | (31 << 24)).to_ne_bytes());
        assert_eq!(classify(&blob, false), ProbeResult::Unsupported);
    }

    #[test]
    fn injected_faults_are_inconclusive_and_not_cached() {
        {
            let _g = fault::fail_cmd(Cmd::BTF_LOAD, Errno::PERM);
            assert_eq!(
                probe_btf_uncached(BtfProbe::Float),
                ProbeResult::Inconclusive(Errno::PERM)
            );
            // Through the cache: the cached answer (another test may have
            // probed already) or inconclusive, which is not cached.
            let r = probe_btf(BtfProbe::Float);
            assert!(matches!(
                r,
                ProbeResult::Supported | ProbeResult::Inconclusive(Errno::PERM)
            ));
            let cache = CACHE.lock().unwrap();
            assert!(
                !cache
                    .iter()
                    .any(|r| matches!(r, Some(ProbeResult::Inconclusive(_))))
            );
        }
        {
            // The feature blob refused, the plain one too: cannot tell.
            let _g = fault::fail_cmd(Cmd::BTF_LOAD, Errno::INVAL);
            assert_eq!(
                probe_btf_uncached(BtfProbe::Enum64),
                ProbeResult::Inconclusive(Errno::INVAL)
            );
        }
        {
            // Only the feature's load refused (its first call and the retry
            // with a log), plain BTF loads: unsupported.
            let _g = fault::inject(|_, n| (n < 2).then_some(Errno::INVAL));
            assert_eq!(
                probe_btf_uncached(BtfProbe::TypeTag),
                ProbeResult::Unsupported
            );
        }
        // After the faults, the cached answer is the kernel's (FLOAT came
        // in 5.13: vm-test runs this on 5.10 too), never inconclusive.
        assert!(!matches!(
            probe_btf(BtfProbe::Float),
            ProbeResult::Inconclusive(_)
        ));
    }
}
