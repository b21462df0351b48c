//! Reading the committed test objects with the `object` crate.
#![allow(dead_code)]

use object::{Object, ObjectSection, ObjectSymbol, SectionKind, SymbolKind};
use oxbpf_asm::Insn;
use std::path::PathBuf;

/// Path of a file in `tests/data`.
pub fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// A function symbol of an executable section.
pub struct Func {
    pub name: String,
    pub start: usize,
    pub len: usize,
}

/// An executable section: its instructions and the functions in it.
pub struct Code {
    pub name: String,
    pub insns: Vec<Insn>,
    pub funcs: Vec<Func>,
}

/// Reads every executable section of an object, in section order.
pub fn code_sections(file: &str) -> Vec<Code> {
    let bytes = std::fs::read(data(file)).unwrap_or_else(|e| panic!("read {file}: {e}"));
    let obj = object::File::parse(&*bytes).unwrap_or_else(|e| panic!("parse {file}: {e}"));
    let big_endian = !obj.is_little_endian();
    let mut out = Vec::new();
    for sec in obj.sections() {
        if sec.kind() != SectionKind::Text {
            continue;
        }
        let name = sec.name().unwrap().to_string();
        let raw = sec.data().unwrap();
        let insns = Insn::vec_from_bytes(raw, big_endian).unwrap();
        let mut funcs: Vec<Func> = obj
            .symbols()
            .filter(|s| s.kind() == SymbolKind::Text && s.section_index() == Some(sec.index()))
            .map(|s| Func {
                name: s.name().unwrap().to_string(),
                start: s.address() as usize / 8,
                len: s.size() as usize / 8,
            })
            .collect();
        funcs.sort_by_key(|f| f.start);
        out.push(Code { name, insns, funcs });
    }
    assert!(!out.is_empty(), "{file} has no code");
    out
}
