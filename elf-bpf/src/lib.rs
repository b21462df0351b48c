//! Parsing of clang-built BPF ELF objects.
//!
//! [`Object::parse`] is the first step of every load: it reads an object's
//! programs (functions of executable sections, named by their symbols and
//! typed by the [section-name table](section)), its map definitions (the
//! BTF-defined `.maps` and the legacy `maps` section), global data sections,
//! license and version, BTF and BTF.ext, and every relocation of the code,
//! resolved to what it names (a map, a data offset, a function, an extern).
//!
//! It is pure: the same bytes give the same [`Object`] on every host; nothing
//! here looks at the running kernel.
//!
//! ```no_run
//! let bytes = std::fs::read("prog.bpf.o")?;
//! let obj = oxbpf_elf_bpf::Object::parse(&bytes)?;
//! for prog in &obj.programs {
//!     let kind = prog.kind.map(|k| k.prog_type.to_string());
//!     println!("{} in {}: {:?}, {} insns", prog.name(), prog.section(), kind, prog.function.insns.len());
//! }
//! for map in &obj.maps {
//!     println!("map {} ({}) key {} value {}", map.name, map.map_type, map.key_size, map.value_size);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod error;
mod externs;
mod maps;
mod object;
pub mod section;

pub use error::{Error, Result};
pub use externs::{Extern, ExternKind, Externs};
pub use maps::{MapDef, MapInit, MapSyntax, Pinning, StructOps};
pub use object::{
    ARENA_SECTION, DataKind, DataSection, DataSymbol, Endian, FuncRef, Function, KCONFIG_SECTION,
    Object, Program, RelocTarget, Relocation,
};
