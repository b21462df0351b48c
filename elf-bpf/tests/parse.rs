//! Parsing clang-built objects, and refusing malformed ones without panics.

use oxbpf_btf::{Kind, Type};
use oxbpf_elf_bpf::{DataKind, Endian, MapSyntax, Object, Pinning, RelocTarget};
use oxbpf_syscalls::{MapType, ProgType};

const LE: &[u8] = include_bytes!("data/relocs.bpfel.o");
const BE: &[u8] = include_bytes!("data/relocs.bpfeb.o");

fn parse(bytes: &[u8]) -> Object {
    Object::parse(bytes).unwrap_or_else(|e| panic!("parse failed: {e}"))
}

#[test]
fn programs_maps_and_data_of_a_real_object() {
    let obj = parse(LE);
    assert_eq!(obj.endian, Endian::Little);
    assert_eq!(obj.license, "GPL");
    assert_eq!(obj.kern_version, None);

    assert_eq!(obj.programs.len(), 1);
    let prog = &obj.programs[0];
    assert_eq!((prog.name(), prog.section()), ("prog", "xdp"));
    assert_eq!(prog.kind.map(|k| k.prog_type), Some(ProgType::XDP));
    assert!(prog.autoload);
    let names: Vec<&str> = obj.subprograms.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["cb", "helper"]);

    let legacy = obj.map("legacy").unwrap();
    assert_eq!(legacy.syntax, MapSyntax::Legacy);
    assert_eq!(
        (
            legacy.map_type,
            legacy.key_size,
            legacy.value_size,
            legacy.max_entries
        ),
        (MapType::ARRAY, 4, 8, 4)
    );
    let hash = obj.map("btf_hash").unwrap();
    assert_eq!(hash.syntax, MapSyntax::Btf);
    assert_eq!(
        (
            hash.map_type,
            hash.key_size,
            hash.value_size,
            hash.max_entries
        ),
        (MapType::HASH, 4, 8, 16)
    );
    assert_eq!(hash.pinning, Pinning::ByName);
    let btf = obj.btf.as_ref().unwrap();
    assert_eq!(btf.name(hash.btf_key_type.unwrap()).unwrap(), "__u32");
    assert_eq!(btf.name(hash.btf_value_type.unwrap()).unwrap(), "__u64");
    let outer = obj.map("outer").unwrap();
    assert_eq!(
        (outer.map_type, outer.key_size, outer.value_size),
        (MapType::ARRAY_OF_MAPS, 4, 4)
    );
    let inner = outer.inner.as_deref().unwrap();
    assert_eq!(
        (
            inner.map_type,
            inner.key_size,
            inner.value_size,
            inner.max_entries
        ),
        (MapType::ARRAY, 4, 4, 1)
    );

    let data = |name: &str| {
        obj.data
            .iter()
            .find(|d| d.name == name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    assert_eq!(data(".data").kind, DataKind::Data);
    assert_eq!(data(".data").bytes, 7u64.to_le_bytes());
    assert_eq!(data(".rodata").kind, DataKind::Rodata);
    assert_eq!(data(".rodata").bytes, 42u32.to_le_bytes());
    assert_eq!(
        (data(".bss").kind, data(".bss").bytes.len()),
        (DataKind::Bss, 8)
    );
    assert_eq!(data(".data.custom").bytes, 3u32.to_le_bytes());
    let counter = oxbpf_elf_bpf::DataSymbol {
        name: "counter".into(),
        offset: 0,
        size: 8,
    };
    assert_eq!(data(".data").symbols, [counter]);
}

#[test]
fn every_relocation_kind_is_resolved() {
    let obj = parse(LE);
    let data_index = |name: &str| obj.data.iter().position(|d| d.name == name).unwrap();
    let map_index = |name: &str| obj.maps.iter().position(|m| m.name == name).unwrap();
    let relocs = &obj.programs[0].function.relocations;
    let targets: Vec<&RelocTarget> = relocs.iter().map(|r| &r.target).collect();
    assert!(targets.contains(&&RelocTarget::Map(map_index("btf_hash"))));
    assert!(targets.contains(&&RelocTarget::Map(map_index("legacy"))));
    assert!(targets.contains(&&RelocTarget::Map(map_index("outer"))));
    assert!(targets.contains(&&RelocTarget::Data {
        section: data_index(".data"),
        offset: 0
    }));
    assert!(targets.contains(&&RelocTarget::Data {
        section: data_index(".data.custom"),
        offset: 0
    }));
    assert!(targets.contains(&&RelocTarget::Extern {
        name: "CONFIG_HZ".into(),
        weak: true
    }));
    let text = &obj.subprograms;
    let at = |f: &oxbpf_elf_bpf::FuncRef| {
        text.iter()
            .find(|s| s.section_index == f.section_index && s.offset == f.offset)
    };
    let call = targets
        .iter()
        .find_map(|t| {
            if let RelocTarget::Call(f) = t {
                Some(f)
            } else {
                None
            }
        })
        .unwrap();
    assert_eq!(at(call).unwrap().name, "helper");
    let addr = targets
        .iter()
        .find_map(|t| {
            if let RelocTarget::FuncAddr(f) = t {
                Some(f)
            } else {
                None
            }
        })
        .unwrap();
    assert_eq!(at(addr).unwrap().name, "cb");
    // Every relocated instruction is the kind its target needs.
    for r in relocs {
        let insn = obj.programs[0].function.insns[r.insn];
        match r.target {
            RelocTarget::Call(_) => assert_eq!(insn.code, 0x85, "{r:?}"),
            _ => assert!(insn.is_ld_imm64(), "{r:?}"),
        }
    }
    // The subprogram reads .rodata.
    let helper = text.iter().find(|f| f.name == "helper").unwrap();
    assert!(helper.relocations.iter().any(|r| r.target
        == RelocTarget::Data {
            section: data_index(".rodata"),
            offset: 0
        }));
}

#[test]
fn datasec_sizes_and_offsets_are_fixed() {
    let obj = parse(LE);
    let btf = obj.btf.as_ref().unwrap();
    for (name, size) in [
        (".data", 8),
        (".rodata", 4),
        (".bss", 8),
        (".data.custom", 4),
    ] {
        let id = btf.find_by_name_kind(name, Kind::Datasec).unwrap().unwrap();
        let Type::Datasec(sec) = btf.type_by_id(id).unwrap() else {
            panic!()
        };
        assert_eq!(sec.size(), size, "{name}");
        for v in sec.vars() {
            assert!(v.offset + v.size <= size, "{name}: var past the end");
        }
    }
}

#[test]
fn big_endian_object_parses_to_the_same_program() {
    let (le, be) = (parse(LE), parse(BE));
    assert_eq!(be.endian, Endian::Big);
    assert_eq!(le.programs.len(), be.programs.len());
    for (a, b) in le.programs.iter().zip(&be.programs) {
        assert_eq!(a.name(), b.name());
        assert_eq!(a.function.insns.len(), b.function.insns.len());
        assert_eq!(a.function.relocations, b.function.relocations);
        for (x, y) in a.function.insns.iter().zip(&b.function.insns) {
            // Immediates of data loads differ only by byte order of data.
            assert_eq!((x.code, x.regs, x.off), (y.code, y.regs, y.off));
        }
    }
    let strip = |o: &Object| {
        o.maps
            .iter()
            .map(|m| (m.name.clone(), m.map_type, m.key_size, m.value_size))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&le), strip(&be));
    let be_data = be.data.iter().find(|d| d.name == ".data").unwrap();
    assert_eq!(be_data.bytes, 7u64.to_be_bytes());
}

#[test]
fn truncated_objects_are_errors() {
    for len in 0..LE.len() {
        if let Ok(obj) = Object::parse(&LE[..len]) {
            // Only a cut that loses nothing the parser reads may succeed.
            assert!(
                len > LE.len() / 2,
                "{len}: parsed a truncated object: {obj:?}"
            );
        }
    }
}

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn bit_flipped_objects_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut errors = 0;
    for _ in 0..20_000 {
        let mut bytes = LE.to_vec();
        for _ in 0..1 + rng.next() % 4 {
            let bit = rng.next() as usize % (bytes.len() * 8);
            bytes[bit / 8] ^= 1 << (bit % 8);
        }
        if Object::parse(&bytes).is_err() {
            errors += 1;
        }
    }
    // Most flips land in code or strings and still parse; some must not.
    assert!(
        errors > 100,
        "only {errors} of 20000 mutations were refused"
    );
}

#[test]
fn random_bytes_and_odd_headers_are_errors() {
    let mut rng = Rng(42);
    for len in [0, 1, 16, 64, 100, 4096] {
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        assert!(Object::parse(&bytes).is_err());
    }
    // An ELF header that is not BPF.
    let mut not_bpf = LE.to_vec();
    not_bpf[18] = 62; // EM_X86_64
    let err = Object::parse(&not_bpf).unwrap_err();
    assert!(err.to_string().contains("EM_BPF"), "{err}");
}

/// Byte offsets of ELF64 structures in `LE`, found with the `object` crate.
mod layout {
    use object::read::elf::{FileHeader, SectionHeader};
    use object::{LittleEndian as LE, elf};

    pub struct Places {
        /// File offset of the section header table.
        pub shoff: usize,
        /// Index of the first SHT_REL section applying to code.
        pub rel_index: usize,
        /// File offset of that section's contents (its Elf64_Rel array).
        pub rel_data: usize,
        /// File offset of the symbol table's contents.
        pub symtab_data: usize,
        /// Number of symbols.
        pub nsyms: usize,
    }

    pub fn find(data: &[u8]) -> Places {
        let header = elf::FileHeader64::<LE>::parse(data).unwrap();
        let sections = header.sections(LE, data).unwrap();
        let mut rel = None;
        let mut symtab = None;
        for (i, s) in sections.enumerate() {
            if s.sh_type(LE) == elf::SHT_REL && rel.is_none() {
                let target = sections
                    .section(object::SectionIndex(s.sh_info(LE) as usize))
                    .unwrap();
                if target.sh_flags(LE).contains(elf::SHF_EXECINSTR) {
                    rel = Some((i.0, s.sh_offset(LE) as usize));
                }
            }
            if s.sh_type(LE) == elf::SHT_SYMTAB {
                symtab = Some((s.sh_offset(LE) as usize, s.sh_size(LE) as usize / 24));
            }
        }
        let (rel_index, rel_data) = rel.unwrap();
        let (symtab_data, nsyms) = symtab.unwrap();
        Places {
            shoff: header.e_shoff(LE) as usize,
            rel_index,
            rel_data,
            symtab_data,
            nsyms,
        }
    }
}

fn corrupt(f: impl FnOnce(&mut Vec<u8>, &layout::Places)) -> String {
    let mut bytes = LE.to_vec();
    let places = layout::find(LE);
    f(&mut bytes, &places);
    match Object::parse(&bytes) {
        Ok(_) => panic!("a corrupted object parsed"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn out_of_range_indices_are_named() {
    // Relocation whose symbol index is past the symbol table.
    let msg = corrupt(|b, p| {
        let info = p.rel_data + 8;
        let sym = (p.nsyms as u64 + 1000) << 32 | 1;
        b[info..info + 8].copy_from_slice(&sym.to_le_bytes());
    });
    assert!(
        msg.contains("symbol index") && msg.contains("out of range"),
        "{msg}"
    );

    // Relocation pointing past the end of its section.
    let msg = corrupt(|b, p| {
        b[p.rel_data..p.rel_data + 8].copy_from_slice(&0x10_0000u64.to_le_bytes());
    });
    assert!(msg.contains("relocation at byte offset 0x100000"), "{msg}");

    // Relocation not on an instruction boundary.
    let msg = corrupt(|b, p| {
        let off = u64::from_le_bytes(b[p.rel_data..p.rel_data + 8].try_into().unwrap());
        b[p.rel_data..p.rel_data + 8].copy_from_slice(&(off + 3).to_le_bytes());
    });
    assert!(msg.contains("instruction boundary"), "{msg}");

    // A REL section whose sh_link names no symbol table.
    let msg = corrupt(|b, p| {
        let link = p.shoff + p.rel_index * 64 + 40;
        b[link..link + 4].copy_from_slice(&9999u32.to_le_bytes());
    });
    assert!(!msg.is_empty());

    // A function symbol whose size runs past its section.
    let msg = corrupt(|b, p| {
        for i in 0..p.nsyms {
            let sym = p.symtab_data + i * 24;
            if b[sym + 4] & 0xf == 2 {
                // STT_FUNC: make st_size huge.
                b[sym + 16..sym + 24].copy_from_slice(&0x8000_0000u64.to_le_bytes());
                return;
            }
        }
        panic!("no function symbol");
    });
    assert!(msg.contains("past section end"), "{msg}");
}
