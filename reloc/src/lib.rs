//! Pure transforms on BPF instructions before they are loaded.
//!
//! In the oxbpf pipeline this crate sits between parsing (`elf-bpf`, `btf`)
//! and planning (`loader`): it takes a program's instructions as the
//! compiler left them and makes them ready for one kernel. It owns
//!
//! - **CO-RE relocation** ([`CoreRelocator`], module [`core`]): every
//!   `.BTF.ext` CO-RE record (field offsets, sizes, existence, signedness
//!   and bitfield shifts; local and target type ids, type existence, size
//!   and matching; enumerator existence and values) resolved against a
//!   target BTF — the running kernel's vmlinux and module BTF, or any BTF
//!   file — and patched into the instruction, or poisoned when it cannot be
//!   resolved, so that the verifier rejects it only if it can run;
//! - subprogram linking (call fixups, func/line info rebasing) and
//!   `ld_imm64` patch points ([`link_program`], module [`link`]).
//!
//! Everything here is pure: no syscalls, no files. The same object and the
//! same target BTF give the same instructions on every host.
//!
//! ```
//! use oxbpf_asm::Insn;
//! use oxbpf_btf::{Btf, BtfBuilder, CoreRelo, CoreReloKind, IntEncoding};
//! use oxbpf_reloc::{CandidateCache, CoreRelocator};
//!
//! // Local: `struct s { int a; int b; }`; the program asks for
//! // `bpf_core_field_exists(s->b)` and `bpf_core_type_size(struct s)`.
//! let mut l = BtfBuilder::new();
//! let int = l.add_int("int", 4, IntEncoding::SIGNED);
//! let s = l.add_struct("s", 8, &[("a", int, 0), ("b", int, 32)]);
//! let field_b = l.add_string("0:1");
//! let whole = l.add_string("0");
//! let local = Btf::from_vec(l.build())?;
//!
//! // Target: `struct s___v2 { long a; }` — a flavor, and no `b`.
//! let mut t = BtfBuilder::new();
//! let long = t.add_int("long", 8, IntEncoding::SIGNED);
//! t.add_struct("s___v2", 8, &[("a", long, 0)]);
//! let target = Btf::from_vec(t.build())?;
//!
//! let mut insns = vec![Insn::mov64_imm(1, 1), Insn::mov64_imm(2, 8), Insn::exit()];
//! let relos = [
//!     (0, CoreRelo { insn_off: 0, type_id: s, access_str_off: field_b, kind: CoreReloKind::FieldExists }),
//!     (1, CoreRelo { insn_off: 8, type_id: s, access_str_off: whole, kind: CoreReloKind::TypeSize }),
//! ];
//! let mut cache = CandidateCache::new();
//! let applied = CoreRelocator::new(&local, &target, &mut cache).relocate(&mut insns, relos)?;
//! assert_eq!((insns[0].imm, insns[1].imm), (0, 8));
//! assert!(applied.iter().all(|a| !a.is_poisoned()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod core;
mod error;
pub mod link;

pub use crate::core::{
    AccessPath, Applied, Bitfield, CandidateCache, CoreRelocator, FieldInfo, MAX_ACCESS_LEN,
    POISON_HELPER_ID, Patch, PoisonReport, Resolution, TargetType, essential_name, find_poisoned,
    function_relos, kind_name, patch, poisoned_insn_in_log, value_when_missing,
};
pub use crate::error::{AmbiguousCandidate, Error, ReloLoc, Result};
pub use crate::link::{Linked, Placed, link_program};
