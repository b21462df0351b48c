//! CO-RE (compile once, run everywhere) relocation.
//!
//! The compiler records, in `.BTF.ext`, one [`CoreRelo`] per instruction
//! whose immediate or offset depends on a kernel type's layout: the local
//! root type (in the object's BTF), an access string (`"0:1:2"`) and a
//! [`CoreReloKind`]. [`CoreRelocator`] computes what that value is in a
//! target BTF (the running kernel's, or any BTF file) and patches the
//! instruction.
//!
//! # Resolution
//!
//! 1. **Local spec.** The access string is parsed ([`AccessPath`]) and
//!    walked on the local BTF: the first index is an array index on the
//!    root, the others member indices (anonymous members included) or
//!    array subscripts. This gives the local value — what the compiler put
//!    in the instruction, checked before patching.
//! 2. **Candidates.** Target types with the local root's *essential name*
//!    ([`essential_name`]: the name without a `___flavor` suffix) and a
//!    compatible kind (ENUM and ENUM64 stand for each other), found through
//!    the target's name index and kept in a [`CandidateCache`] shared by
//!    all programs of an object. Module BTFs are searched only when the
//!    main target has no candidate.
//! 3. **Matching**, per kind family:
//!    - *fields* (`FIELD_*`): each named member of the local path is
//!      looked up by name in the target (through anonymous members), each
//!      subscript must be in range (any index for a flexible array), and
//!      member types must be field-compatible (structs/unions, pointers,
//!      integers of any size and sign, floats, same-named or anonymous
//!      enums, arrays of compatible elements). Bitfields in both BTF
//!      encodings are read as (bit offset, bit size) and accessed through
//!      the smallest aligned container of at least their type's size.
//!    - *types* (`TYPE_EXISTS`, `TYPE_SIZE`, `TYPE_ID_TARGET`): same kind
//!      after typedefs, recursively through pointers, arrays and function
//!      prototypes. `TYPE_MATCHES` is the stricter relation of
//!      `llvm_reloc.rst` (members by name, integer sizes and signedness,
//!      enumerators by name, ...). `TYPE_ID_LOCAL` needs no target.
//!    - *enums* (`ENUMVAL_*`): the enumerator with the same essential name.
//! 4. **Agreement.** Every matching candidate must give the same value
//!    (and, for byte offsets, the same field size), else
//!    [`Error::Ambiguous`] names them all. No match: the existence kinds,
//!    `TYPE_SIZE` and `TYPE_ID_TARGET` give 0; field offsets, sizes,
//!    signedness and shifts and enumerator values are *unresolved*
//!    ([`value_when_missing`]).
//!
//! # Patching
//!
//! ALU immediates (`mov`, `add`, ... with an immediate), load/store/atomic
//! offsets (byte offsets only; a load or store of the whole field follows
//! a change of the field's size when that is safe, see [`Patch::Off`]),
//! and `ld_imm64` values. An unresolved relocation *poisons* its
//! instruction: it becomes `call` [`POISON_HELPER_ID`], which the verifier
//! rejects only if the instruction is reachable, so guarded code (`if
//! (bpf_core_field_exists(...))`) still loads. When it is reached, the
//! verifier log names the instruction ([`poisoned_insn_in_log`]) and
//! [`Applied::failure_report`] says which relocation failed.
//!
//! Resolution and patching are separate: [`CoreRelocator::resolve`]
//! answers for one record without touching instructions, for callers that
//! hand records to the kernel instead.
//!
//! # Use in a loader
//!
//! One [`CandidateCache`] per object and target; per program, the records
//! of its section mapped to instruction indices ([`function_relos`]), then
//! [`CoreRelocator::relocate`]; keep the [`Applied`] list to explain a
//! verifier rejection.
//!
//! ```no_run
//! use oxbpf_btf::{Btf, BtfExt};
//! use oxbpf_reloc::{CandidateCache, CoreRelocator, find_poisoned, function_relos, poisoned_insn_in_log};
//!
//! let bytes = std::fs::read("prog.bpf.o")?;
//! let obj = oxbpf_elf_bpf::Object::parse(&bytes)?;
//! let (Some(local), Some(ext)) = (&obj.btf, &obj.btf_ext) else { return Ok(()) };
//! let ext = BtfExt::parse(ext, local)?;
//! let vmlinux = Btf::from_file("/sys/kernel/btf/vmlinux".as_ref())?;
//! let mut cache = CandidateCache::new();
//! for prog in &obj.programs {
//!     let f = &prog.function;
//!     let Some(sec) = ext.core_relos_for(&f.section) else { continue };
//!     let relos = function_relos(&f.section, sec.records(), f.offset, f.insns.len())?;
//!     let mut insns = f.insns.clone();
//!     let applied = CoreRelocator::new(local, &vmlinux, &mut cache).relocate(&mut insns, relos)?;
//!     for a in &applied {
//!         println!("{a}"); // the audit trail
//!     }
//!     // ... load `insns`; if the verifier refuses them:
//!     let log = "...";
//!     if let Some(a) = poisoned_insn_in_log(log).and_then(|i| find_poisoned(&applied, i)) {
//!         eprintln!("{}", a.failure_report(None));
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Cost
//!
//! Every candidate lookup is one hash lookup in the target's name index,
//! cached per local type; matching a field walks only the accessed
//! members (the local member index is tried first in the target). Against
//! this machine's 6.18 vmlinux, 1,450 generated relocations of 180 types
//! take about 0.6 ms with a cold cache (`examples/relocate.rs`), once the
//! target is parsed and its name index built.

mod access;
mod cand;
mod patch;
mod report;
mod spec;

use std::fmt;
use std::rc::Rc;
use std::sync::Arc;

use oxbpf_asm::Insn;
use oxbpf_btf::{Btf, CoreRelo, CoreReloKind, Kind, Type, TypeId};

pub use access::{AccessPath, MAX_ACCESS_LEN};
pub use cand::{CandidateCache, TargetType, essential_name};
pub use patch::{POISON_HELPER_ID, Patch};
pub use report::{PoisonReport, find_poisoned, function_relos, poisoned_insn_in_log};

use crate::error::{AmbiguousCandidate, Error, ReloLoc};
use spec::{Acc, Budget, Fail, FieldLoc, On};

/// The short name of a relocation kind, as `llvm-objdump` and `bpftool`
/// print it ("byte_off", "byte_sz", "field_exists", "signed",
/// "lshift_u64", "rshift_u64", "local_type_id", "target_type_id",
/// "type_exists", "type_size", "enumval_exists", "enumval_value",
/// "type_matches"; "unknown" for kinds newer than this crate).
pub fn kind_name(kind: CoreReloKind) -> &'static str {
    match kind {
        CoreReloKind::FieldByteOffset => "byte_off",
        CoreReloKind::FieldByteSize => "byte_sz",
        CoreReloKind::FieldExists => "field_exists",
        CoreReloKind::FieldSigned => "signed",
        CoreReloKind::FieldLshiftU64 => "lshift_u64",
        CoreReloKind::FieldRshiftU64 => "rshift_u64",
        CoreReloKind::TypeIdLocal => "local_type_id",
        CoreReloKind::TypeIdTarget => "target_type_id",
        CoreReloKind::TypeExists => "type_exists",
        CoreReloKind::TypeSize => "type_size",
        CoreReloKind::EnumvalExists => "enumval_exists",
        CoreReloKind::EnumvalValue => "enumval_value",
        CoreReloKind::TypeMatches => "type_matches",
        CoreReloKind::Other(_) => "unknown",
    }
}

fn is_field_kind(k: CoreReloKind) -> bool {
    use CoreReloKind::*;
    matches!(
        k,
        FieldByteOffset
            | FieldByteSize
            | FieldExists
            | FieldSigned
            | FieldLshiftU64
            | FieldRshiftU64
    )
}

/// The value of a relocation kind when no candidate matches: `Some(0)` for
/// the existence checks and for the kinds where 0 cannot be mistaken for a
/// real answer (a type's size, a target type id); `None` — unresolved, the
/// instruction is poisoned — for field offsets, sizes, signedness and
/// shifts and for enumerator values, where 0 is a valid answer. (This is
/// what libbpf does too, observed with libbpf 1.1.)
pub fn value_when_missing(kind: CoreReloKind) -> Option<u64> {
    use CoreReloKind::*;
    match kind {
        FieldExists | TypeExists | TypeMatches | EnumvalExists | TypeSize | TypeIdTarget => Some(0),
        _ => None,
    }
}

/// The field a field relocation is about. The sizes and signedness are
/// computed for FIELD_BYTE_OFFSET only (they serve to adjust loads and
/// stores of the whole field); the bitfield for every field kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldInfo {
    /// Byte size of the local field; `None` if it has no size or is a
    /// bitfield (the compiler chose its container, see [`Bitfield`]).
    pub local_size: Option<u32>,
    /// Byte size of the target field (of its container, for a bitfield),
    /// when resolved.
    pub target_size: Option<u32>,
    /// Whether the local field is a signed integer or enum.
    pub signed: bool,
    /// The local bitfield, if the field is one.
    pub bitfield: Option<Bitfield>,
}

/// A bitfield's place in the local root type.
///
/// The compiler reads a bitfield through a container (a naturally aligned
/// 1, 2, 4 or 8-byte word holding all its bits) that it picks from its own
/// record layout, which BTF does not fully describe; so the local
/// byte offset, byte size and left shift in the instruction are checked to
/// describe *a* valid container, not recomputed. On the target, the
/// container is the smallest naturally aligned word, of at least the size
/// of the field's type, that holds the field; the four values come from
/// that one choice, so they agree with each other. (libbpf 1.1 chooses the
/// same: `tests/core_kernel.rs` checks the kernel ends up with identical
/// instructions either way. Such a container also stays inside the
/// bitfield's storage unit, which the verifier requires of direct loads
/// through BTF pointers.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bitfield {
    /// Bit offset from the start of the root type.
    pub bit_offset: u64,
    /// Number of bits.
    pub bits: u32,
}

/// What one relocation resolves to on the target. Independent of the
/// instruction: [`CoreRelocator::resolve`] gives it, [`patch`] applies it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    /// The relocation kind.
    pub kind: CoreReloKind,
    /// The local root type id.
    pub local_type: TypeId,
    /// The local root type ([`Resolution::root`]), shared by the
    /// relocations of that type.
    root: Arc<str>,
    /// The access string, a space, the spec: one allocation.
    text: String,
    /// Length of the access string in `text`.
    split: usize,
    /// The value on the local BTF (what the instruction holds).
    pub local_value: u64,
    /// The value on the target; `None` when unresolved (the instruction
    /// is then poisoned).
    pub target_value: Option<u64>,
    /// The (first) matching target type, if any.
    pub target_type: Option<TargetType>,
    /// Number of candidates looked at (same essential name and kind).
    pub candidates: usize,
    /// Field sizes, for field relocations.
    pub field: Option<FieldInfo>,
}

impl Resolution {
    /// Whether the relocation found no value (its instruction is poisoned).
    pub fn is_unresolved(&self) -> bool {
        self.target_value.is_none()
    }

    /// The local root type, C-like ("struct task_struct", "typedef u32").
    pub fn root(&self) -> &str {
        &self.root
    }

    /// The access string ("0:1:2").
    pub fn access(&self) -> &str {
        self.text.get(..self.split).unwrap_or("")
    }

    /// What the access string designates, C-like ("task_struct.pid",
    /// "s[1].c[5]", "pid_type::PIDTYPE_TGID", or the type's name).
    pub fn spec(&self) -> &str {
        self.text.get(self.split + 1..).unwrap_or("")
    }

    fn loc(&self, relo: Option<usize>, insn: Option<usize>) -> ReloLoc {
        ReloLoc {
            relo,
            insn,
            kind: self.kind,
            type_id: self.local_type,
            access: self.access().to_owned(),
        }
    }
}

impl fmt::Display for Resolution {
    /// `byte_off struct task_struct (0:1:2 task_struct.pid): 1234 -> 2356`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} ({} {}): {} -> ",
            kind_name(self.kind),
            self.root,
            self.access(),
            self.spec(),
            self.local_value
        )?;
        match self.target_value {
            Some(v) => write!(f, "{v}")?,
            None => f.write_str("unresolved")?,
        }
        if let Some(t) = self.target_type {
            write!(f, " (target [{}]", t.id)?;
            if t.btf != 0 {
                write!(f, " in BTF {}", t.btf)?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// A relocation applied to an instruction: the audit record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// Number of the relocation in the list given to
    /// [`CoreRelocator::relocate`].
    pub index: usize,
    /// Index of the instruction patched.
    pub insn: usize,
    /// What it resolved to.
    pub resolution: Resolution,
    /// What was done to the instruction.
    pub patch: Patch,
}

impl Applied {
    /// Whether the instruction was poisoned.
    pub fn is_poisoned(&self) -> bool {
        matches!(self.patch, Patch::Poisoned { .. })
    }

    /// The message for a verifier rejection of this (poisoned) relocation,
    /// with the source line if the caller has it (from line_info).
    pub fn failure_report<'a>(&'a self, source: Option<&'a str>) -> PoisonReport<'a> {
        PoisonReport::new(self, self.insn, source)
    }
}

impl fmt::Display for Applied {
    /// `#3 insn 12: byte_off struct task_struct (0:1:2 task_struct.pid): 1234 -> 2356; off 1234 -> 2356`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "#{} insn {}: {}; {}",
            self.index, self.insn, self.resolution, self.patch
        )
    }
}

/// Resolves CO-RE relocations of one object against target BTF and
/// patches instructions.
///
/// ```
/// use oxbpf_asm::{Insn, opcode::size};
/// use oxbpf_btf::{Btf, BtfBuilder, CoreRelo, CoreReloKind, IntEncoding};
/// use oxbpf_reloc::{CandidateCache, CoreRelocator, Patch};
///
/// // The object was compiled against `struct task { int flags; int pid; }`.
/// let mut l = BtfBuilder::new();
/// let int = l.add_int("int", 4, IntEncoding::SIGNED);
/// let task = l.add_struct("task", 8, &[("flags", int, 0), ("pid", int, 32)]);
/// let access = l.add_string("0:1");
/// let local = Btf::from_vec(l.build())?;
///
/// // The kernel has `pid` elsewhere.
/// let mut k = BtfBuilder::new();
/// let kint = k.add_int("int", 4, IntEncoding::SIGNED);
/// let long = k.add_int("long", 8, IntEncoding::SIGNED);
/// k.add_struct("task", 24, &[("state", long, 0), ("flags", kint, 64), ("pid", kint, 128)]);
/// let kernel = Btf::from_vec(k.build())?;
///
/// // r0 = *(u32 *)(r1 + 4): task->pid
/// let mut insns = vec![Insn::ldx_mem(size::W, 0, 1, 4), Insn::exit()];
/// let relo = CoreRelo {
///     insn_off: 0,
///     type_id: task,
///     access_str_off: access,
///     kind: CoreReloKind::FieldByteOffset,
/// };
/// let mut cache = CandidateCache::new();
/// let mut r = CoreRelocator::new(&local, &kernel, &mut cache);
/// let applied = r.relocate(&mut insns, [(0, relo)])?;
/// assert_eq!(insns[0].off, 16);
/// assert_eq!(applied[0].patch, Patch::Off { old: 4, new: 16, size: None });
/// assert_eq!(
///     applied[0].to_string(),
///     "#0 insn 0: byte_off struct task (0:1 task.pid): 4 -> 16 (target [3]); off 4 -> 16"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct CoreRelocator<'a> {
    local: &'a Btf<'a>,
    targets: Vec<&'a Btf<'a>>,
    cache: &'a mut CandidateCache,
    /// Reused accessor buffer.
    scratch: Vec<Acc<'a>>,
}

impl std::fmt::Debug for CoreRelocator<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CoreRelocator")
            .field("local", &self.local)
            .field("targets", &self.targets.len())
            .field("cache", &self.cache.len())
            .finish()
    }
}

impl<'a> CoreRelocator<'a> {
    /// A relocator of relocations recorded against `local` (the object's
    /// BTF) for `target` (vmlinux, or any BTF file). `cache` keeps
    /// candidates between relocators of the same object and target.
    pub fn new(local: &'a Btf<'a>, target: &'a Btf<'a>, cache: &'a mut CandidateCache) -> Self {
        cache.bind(local, &[target]);
        CoreRelocator {
            local,
            targets: vec![target],
            cache,
            scratch: Vec::new(),
        }
    }

    /// Adds module BTFs (split BTF on the main target), searched when the
    /// main target has no candidate for a type. [`TargetType::btf`] `i`
    /// refers to `modules[i - 1]`.
    pub fn with_modules(mut self, modules: &[&'a Btf<'a>]) -> Self {
        self.targets.truncate(1);
        self.targets.extend_from_slice(modules);
        self.cache.bind(self.local, &self.targets);
        self
    }

    fn big_endian(&self) -> bool {
        self.local.endian() == oxbpf_btf::Endian::Big
    }

    /// The target BTFs: the main one, then the modules.
    pub fn targets(&self) -> &[&'a Btf<'a>] {
        &self.targets
    }

    /// Resolves one relocation record without patching anything.
    pub fn resolve(&mut self, relo: &CoreRelo) -> Result<Resolution, Error> {
        let access = self.local.string_bytes_at(relo.access_str_off);
        let loc = |access: &[u8]| ReloLoc {
            relo: None,
            insn: None,
            kind: relo.kind,
            type_id: relo.type_id,
            access: String::from_utf8_lossy(&access[..access.len().min(256)]).into_owned(),
        };
        let access = match access {
            Ok(a) => a,
            Err(source) => {
                return Err(Error::LocalBtf {
                    at: Box::new(loc(b"")),
                    source,
                });
            }
        };
        let path = match access::parse_raw(access) {
            Ok(p) => p,
            Err((pos, reason)) => {
                return Err(Error::BadAccess {
                    at: Box::new(loc(access)),
                    pos,
                    reason,
                });
            }
        };
        let r = self.resolve_path(relo, access, path.indices());
        r.map_err(|f| fail_to_error(f, loc(access)))
    }

    /// Resolves relocations and patches the instructions they apply to.
    /// `relos` gives, for each record, the index in `insns` of the
    /// instruction it applies to (see [`function_relos`]).
    ///
    /// Each instruction is checked to be one the kind may patch and to
    /// hold the local value; unresolved relocations poison their
    /// instruction. On error `insns` is left unchanged.
    pub fn relocate<I>(&mut self, insns: &mut [Insn], relos: I) -> Result<Vec<Applied>, Error>
    where
        I: IntoIterator<Item = (usize, CoreRelo)>,
    {
        let relos = relos.into_iter();
        let mut out = Vec::with_capacity(relos.size_hint().0);
        let mut work = insns.to_vec();
        for (n, (idx, relo)) in relos.enumerate() {
            let res = self.resolve(&relo).map_err(|e| e.at_position(n, idx))?;
            let (patch, held) = patch::apply(&mut work, idx, &res, Some(n), self.big_endian())?;
            let mut res = res;
            res.local_value = held;
            if matches!(patch, Patch::Poisoned { .. }) {
                log::debug!(target: "oxbpf::reloc", "#{n} insn {idx}: {res}: poisoned");
            } else {
                log::trace!(target: "oxbpf::reloc", "#{n} insn {idx}: {res}; {patch}");
            }
            out.push(Applied {
                index: n,
                insn: idx,
                resolution: res,
                patch,
            });
        }
        insns.copy_from_slice(&work);
        Ok(out)
    }

    fn resolve_path(
        &mut self,
        relo: &CoreRelo,
        access: &[u8],
        path: &[u32],
    ) -> Result<Resolution, Fail> {
        let lo = On::local(self.local);
        let (root_r, root_t) = spec::root_kind(lo, relo.type_id)?;
        let root_kind = root_t.kind();
        let root_name = lo.str(root_t.name_off())?;
        let kind = relo.kind;
        if let CoreReloKind::Other(_) = kind {
            return Err(Fail::UnknownKind);
        }
        let want = kind != CoreReloKind::TypeIdLocal;
        if want && root_name.is_empty() {
            return Err(Fail::InvalidLocal(format!(
                "root type [{}] has no name to look for in the target",
                relo.type_id
            )));
        }
        let (root, cands) =
            self.cache
                .get(root_r, root_name, root_kind, &self.targets, want, || {
                    describe_root(root_kind, root_name)
                });
        let cands = cands.unwrap_or_else(|| Rc::from([]));
        // The access string (parsed: ASCII digits and colons), a space, then
        // the spec, appended below.
        let mut text = String::with_capacity(access.len() + 1 + root_name.len() + 24);
        text.push_str(std::str::from_utf8(access).unwrap_or_default());
        let split = text.len();
        text.push(' ');
        let mut res = Resolution {
            kind,
            local_type: relo.type_id,
            root,
            text: String::new(),
            split,
            local_value: 0,
            target_value: None,
            target_type: None,
            candidates: cands.len(),
            field: None,
        };
        if kind == CoreReloKind::TypeIdLocal {
            expect_type_path(path)?;
            push_name(&mut text, root_name);
            res.text = text;
            res.local_value = u64::from(relo.type_id.0);
            res.target_value = Some(res.local_value);
            return Ok(res);
        }
        let mut budget = Budget::new();
        let mut found = Matches::default();
        if is_field_kind(kind) {
            let buf = std::mem::take(&mut self.scratch);
            let spec =
                spec::local_field_spec(self.local, relo.type_id, path, buf, (root_r, root_t))?;
            describe_field(&mut text, root_name, &spec);
            res.local_value = field_value(lo, &spec.loc, kind)?;
            let is_off = kind == CoreReloKind::FieldByteOffset;
            let (local_size, signed) = if is_off {
                field_size_sign(lo, &spec.loc)?
            } else {
                (None, false)
            };
            let bitfield = (spec.loc.bitfield != 0).then_some(Bitfield {
                bit_offset: spec.loc.bit_off,
                bits: spec.loc.bitfield,
            });
            for &c in cands.iter() {
                let to = On::target(self.targets[c.btf]);
                if let Some(loc) = spec::match_field(self.local, &spec, to.btf, c.id, &mut budget)?
                {
                    let value = field_value(to, &loc, kind)?;
                    let size = if is_off {
                        field_size_sign(to, &loc)?.0
                    } else {
                        None
                    };
                    found.push(Found {
                        cand: c,
                        value,
                        size,
                    });
                }
            }
            res.field = Some(FieldInfo {
                local_size: if bitfield.is_some() { None } else { local_size },
                target_size: None,
                signed,
                bitfield,
            });
            self.scratch = spec.accs;
        } else if matches!(
            kind,
            CoreReloKind::EnumvalExists | CoreReloKind::EnumvalValue
        ) {
            let &[idx] = path else {
                return Err(Fail::InvalidLocal(
                    "an enumerator access string is one index".into(),
                ));
            };
            let (vname, raw, signed) = spec::enum_value(lo, relo.type_id, idx)?;
            push_name(&mut text, root_name);
            text.push_str("::");
            push_name(&mut text, vname);
            res.local_value = if kind == CoreReloKind::EnumvalExists {
                1
            } else {
                raw
            };
            for &c in cands.iter() {
                let to = On::target(self.targets[c.btf]);
                if let Some(v) = spec::match_enum_value(to, c.id, vname, idx, signed, &mut budget)?
                {
                    let value = if kind == CoreReloKind::EnumvalExists {
                        1
                    } else {
                        v
                    };
                    found.push(Found {
                        cand: c,
                        value,
                        size: None,
                    });
                }
            }
        } else {
            // TYPE_ID_TARGET, TYPE_EXISTS, TYPE_SIZE, TYPE_MATCHES.
            expect_type_path(path)?;
            push_name(&mut text, root_name);
            res.local_value = match kind {
                CoreReloKind::TypeIdTarget => u64::from(relo.type_id.0),
                CoreReloKind::TypeSize => u64::from(lo.size(relo.type_id)?),
                _ => 1,
            };
            for &c in cands.iter() {
                let to = On::target(self.targets[c.btf]);
                let ok = if kind == CoreReloKind::TypeMatches {
                    spec::types_match(lo, relo.type_id, to, c.id, false, 0, &mut budget)?
                } else {
                    spec::types_compat(lo, relo.type_id, to, c.id, 0, &mut budget)?
                };
                if !ok {
                    continue;
                }
                let value = match kind {
                    CoreReloKind::TypeIdTarget => u64::from(c.id.0),
                    CoreReloKind::TypeSize => u64::from(to.size(c.id)?),
                    _ => 1,
                };
                found.push(Found {
                    cand: c,
                    value,
                    size: None,
                });
            }
        }
        res.text = text;
        self.decide(&mut res, &found)?;
        Ok(res)
    }

    /// Checks the matching candidates agree and fills in the target value.
    fn decide(&self, res: &mut Resolution, found: &Matches) -> Result<(), Fail> {
        let Some(first) = found.first else {
            res.target_value = value_when_missing(res.kind);
            return Ok(());
        };
        if found
            .others
            .iter()
            .any(|f| f.value != first.value || f.size != first.size)
        {
            return Err(Fail::Ambiguous(
                std::iter::once(&first)
                    .chain(&found.others)
                    .map(|f| AmbiguousCandidate {
                        btf: f.cand.btf,
                        id: f.cand.id,
                        name: target_name(&self.targets, f.cand),
                        value: f.value,
                    })
                    .collect(),
            ));
        }
        res.target_value = Some(first.value);
        res.target_type = Some(first.cand);
        if let Some(fi) = &mut res.field {
            fi.target_size = first.size;
        }
        Ok(())
    }
}

/// The matching candidates: the first kept apart, so that the usual single
/// match allocates nothing.
#[derive(Debug, Default)]
struct Matches {
    first: Option<Found>,
    others: Vec<Found>,
}

impl Matches {
    fn push(&mut self, f: Found) {
        if self.first.is_none() {
            self.first = Some(f);
        } else {
            self.others.push(f);
        }
    }
}

/// A matching candidate and what it gives.
#[derive(Clone, Copy, Debug)]
struct Found {
    cand: TargetType,
    value: u64,
    /// Target field size, for byte offsets (they must agree too).
    size: Option<u32>,
}

fn expect_type_path(path: &[u32]) -> Result<(), Fail> {
    if path != [0] {
        return Err(Fail::InvalidLocal(
            "a type relocation's access string is \"0\"".into(),
        ));
    }
    Ok(())
}

/// The value of a field relocation for the field at `loc`.
fn field_value(on: On<'_, '_>, loc: &FieldLoc, kind: CoreReloKind) -> Result<u64, Fail> {
    Ok(match kind {
        CoreReloKind::FieldByteOffset => {
            if loc.bitfield == 0 {
                if loc.bit_off % 8 != 0 {
                    return Err(on.invalid(
                        loc.ty,
                        "a field that is not a bitfield starts inside a byte",
                    ));
                }
                loc.bit_off / 8
            } else {
                spec::field_bytes(on, loc)?.0
            }
        }
        CoreReloKind::FieldByteSize => u64::from(spec::field_bytes(on, loc)?.1),
        CoreReloKind::FieldExists => 1,
        CoreReloKind::FieldSigned => u64::from(spec::field_signed(on, loc)?),
        CoreReloKind::FieldLshiftU64 => spec::field_shifts(on, loc, on.btf.endian())?.0,
        CoreReloKind::FieldRshiftU64 => spec::field_shifts(on, loc, on.btf.endian())?.1,
        _ => return Err(Fail::UnknownKind),
    })
}

/// (byte size, signed) of a field, the size `None` if it has none.
fn field_size_sign(on: On<'_, '_>, loc: &FieldLoc) -> Result<(Option<u32>, bool), Fail> {
    if loc.bitfield != 0 {
        let size = spec::field_bytes(on, loc).ok().map(|b| b.1);
        return Ok((size, spec::field_signed(on, loc)?));
    }
    // One decode for both.
    let (r, t) = (loc.rty, on.ty(loc.rty)?);
    Ok(match t {
        Type::Int(i) => (Some(i.size), i.encoding.is_signed()),
        Type::Enum(e) | Type::Enum64(e) => (Some(e.size()), e.is_signed()),
        Type::Ptr(_) => (Some(8), false),
        Type::Float(f) => (Some(f.size), false),
        Type::Struct(c) | Type::Union(c) => (Some(c.size()), false),
        _ => (on.btf.resolve_size(r).ok(), false),
    })
}

fn push_name(s: &mut String, b: &[u8]) {
    match std::str::from_utf8(b) {
        Ok(n) => s.push_str(n),
        Err(_) => s.push_str(&String::from_utf8_lossy(b)),
    }
}

fn describe_root(kind: Kind, name: &[u8]) -> Arc<str> {
    let mut s = String::with_capacity(name.len() + 10);
    if !matches!(kind, Kind::Int | Kind::Float) {
        s.push_str(kind.name());
        s.push(' ');
    }
    if name.is_empty() {
        s.push_str("(anon)");
    } else {
        push_name(&mut s, name);
    }
    s.into()
}

fn describe_field(s: &mut String, root_name: &[u8], spec: &spec::FieldSpec<'_>) {
    use std::fmt::Write;
    push_name(s, root_name);
    if spec.first != 0 {
        let _ = write!(s, "[{}]", spec.first);
    }
    for a in &spec.accs {
        match a {
            Acc::Field { name: [], .. } => {}
            Acc::Field { name, .. } => {
                s.push('.');
                push_name(s, name);
            }
            Acc::Elem { idx } => {
                let _ = write!(s, "[{idx}]");
            }
        }
    }
}

fn target_name(targets: &[&Btf<'_>], c: TargetType) -> String {
    let Some(btf) = targets.get(c.btf) else {
        return String::new();
    };
    match btf.type_by_id(c.id) {
        Ok(t) => {
            let name = btf.string_bytes_at(t.name_off()).unwrap_or(b"");
            describe_root(t.kind(), name).to_string()
        }
        Err(_) => String::new(),
    }
}

fn fail_to_error(f: Fail, at: ReloLoc) -> Error {
    let at = Box::new(at);
    match f {
        Fail::Local(source) => Error::LocalBtf { at, source },
        Fail::Target(source) => Error::TargetBtf { at, source },
        Fail::InvalidLocal(reason) => Error::InvalidLocal { at, reason },
        Fail::InvalidTarget(id, reason) => Error::InvalidTarget { at, id, reason },
        Fail::TooComplex(what) => Error::TooComplex { at, what },
        Fail::Ambiguous(candidates) => Error::Ambiguous { at, candidates },
        Fail::UnknownKind => Error::UnknownKind { at },
    }
}

/// Applies a resolution to the instruction at `idx` (see
/// [`CoreRelocator::relocate`], which does this for each record).
///
/// `big_endian` is the byte order of the program (of its local BTF), which
/// the bitfield left shift depends on.
pub fn patch(
    insns: &mut [Insn],
    idx: usize,
    res: &Resolution,
    big_endian: bool,
) -> Result<Patch, Error> {
    patch::apply(insns, idx, res, None, big_endian).map(|(p, _)| p)
}

#[cfg(test)]
mod tests;
