//! BTF, the BPF Type Format: reading, writing and fixing it.
//!
//! In the oxbpf pipeline this crate sits at the bottom, beside `asm`:
//! `elf-bpf` reads an object's `.BTF` and `.BTF.ext` sections with it and
//! fixes the DATASEC sizes and VAR offsets the compiler leaves at zero
//! ([`fixup_datasecs`]); `reloc` resolves CO-RE relocations against the
//! kernel's BTF (`/sys/kernel/btf/vmlinux`) and rebases func_info and
//! line_info ([`BtfExt`]); `loader` hands the fixed blob to `BTF_LOAD` and
//! reads map definitions from it. The crate is pure: no syscalls, no
//! `/proc` or `/sys` access except reading a file the caller names.
//!
//! [`Btf`] is a zero-copy view over borrowed, owned or shared (mmapped)
//! bytes. [`Btf::parse`] checks the header and the bounds of every type
//! record in one pass and keeps one `u32` offset per type; views
//! ([`Type`]) are decoded on access, and type references and string
//! offsets are checked when they are used. A name index is built on the
//! first lookup by name. On this project's 6.18 vmlinux (126 610 types)
//! parse+index runs at the speed of a pass that only decodes each type
//! header (≈0.55 ms), and a lookup by name takes ≈40 ns.
//!
//! - **Byte order**: BTF of either byte order is read (the magic tells);
//!   [`Btf::to_native_bytes`] converts for `BTF_LOAD`.
//! - **Split BTF** (kernel modules): [`Btf::parse_split`] continues the ids
//!   and string offsets of its base; lookups search both.
//! - **Writing**: [`BtfBuilder`] makes BTF from scratch (tests), copies or
//!   rewrites an existing one keeping ids and string offsets.
//! - **Object fixups**: [`fixup_datasecs`] fills the DATASEC sizes and VAR
//!   offsets clang leaves at zero and rewrites the extern declarations the
//!   kernel refuses, from what the ELF says ([`DatasecSource`]).
//! - **`.BTF.ext`**: [`BtfExt`] reads func_info, line_info and CO-RE
//!   relocations, forward-compatibly with larger records.
//! - **Sanitization**: [`sanitize`] rewrites the kinds a target kernel
//!   lacks ([`BtfFeatures`], filled from the `syscalls` probes or
//!   [`BtfFeatures::for_kernel`]) into kinds it accepts, one record for one,
//!   so ids, string offsets and sizes stay.
//! - **Dumping**: [`dump_c`] writes a C header (`vmlinux.h`) with exact
//!   layouts; [`dump_raw`] writes bpftool's raw listing.
//!
//! Malformed input gives an [`Error`] that says where (type id and kind,
//! member, byte offset, string offset), never a panic; reference chains are
//! bounded ([`MAX_RESOLVE_DEPTH`]), so cycles end in an error.
//!
//! ```
//! use oxbpf_btf::{Btf, BtfBuilder, IntEncoding, Kind, Type, TypeId};
//!
//! // Make a small BTF: `struct task { int pid; const char *comm; }`.
//! let mut b = BtfBuilder::new();
//! let int = b.add_int("int", 4, IntEncoding::SIGNED);
//! let ch = b.add_int("char", 1, IntEncoding::CHAR | IntEncoding::SIGNED);
//! let cch = b.add_const(ch);
//! let ptr = b.add_ptr(cch);
//! let task = b.add_struct("task", 16, &[("pid", int, 0), ("comm", ptr, 64)]);
//! let bytes = b.build();
//!
//! // Read it back.
//! let btf = Btf::parse(&bytes)?;
//! let id = btf.find_by_name_kind("task", Kind::Struct)?.expect("defined above");
//! assert_eq!(id, task);
//! let Type::Struct(s) = btf.type_by_id(id)? else { unreachable!() };
//! let names: Vec<&str> = s
//!     .members()
//!     .map(|m| btf.string_at(m.name_off))
//!     .collect::<Result<_, _>>()?;
//! assert_eq!(names, ["pid", "comm"]);
//! let comm = s.member(1).expect("two members");
//! assert_eq!(comm.bit_offset, 64);
//! assert_eq!(btf.resolve_size(comm.ty)?, 8);
//! assert_eq!(btf.skip_mods_and_typedefs(cch)?, ch);
//! assert_eq!(btf.name(TypeId::VOID)?, "");
//! # Ok::<(), oxbpf_btf::Error>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod btf;
mod builder;
mod dump;
mod error;
mod ext;
mod fixup;
mod sanitize;
mod types;
mod value;

pub use crate::btf::{BTF_MAGIC, Btf, Header, MAX_RESOLVE_DEPTH, MAX_RESOLVE_STEPS, NameIndex};
pub use crate::builder::BtfBuilder;
pub use crate::dump::{DumpOptions, dump_c, dump_c_string, dump_raw, raw_type_string};
pub use crate::error::{Error, ExtSectionKind, Field};
pub use crate::ext::{
    BtfExt, BtfExtBuilder, CoreRelo, CoreReloKind, ExtHeader, ExtRecord, ExtSection, FuncInfo,
    LineInfo,
};
pub use crate::fixup::{DatasecSource, fixup_datasecs};
pub use crate::sanitize::{BtfFeature, BtfFeatures, needed_features, sanitize};
pub use crate::types::{
    Array, Composite, Datasec, DeclTag, Endian, Enum, EnumValue, Float, Func, FuncLinkage,
    FuncProto, Fwd, Int, IntEncoding, Kind, Member, Param, Ref, Type, TypeId, Var, VarLinkage,
    VarSecinfo,
};
pub use crate::value::{Enumerator, Value};

/// The view of an ENUM64 record (the same view as ENUM's; see [`Enum::is_64`]).
pub type Enum64<'a> = Enum<'a>;
