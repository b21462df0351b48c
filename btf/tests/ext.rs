//! `.BTF.ext` of real clang objects (little- and big-endian), checked
//! against the ELF symbol table and the C source, and synthetic sections
//! for forward compatibility and malformed input.

mod common;

use std::collections::BTreeSet;

use common::kernel::section;
use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};
use oxbpf_btf::{
    Btf, BtfBuilder, BtfExt, BtfExtBuilder, CoreRelo, CoreReloKind, Endian, Error, FuncInfo,
    FuncLinkage, Kind, LineInfo, Type, TypeId,
};

fn read(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// (section name, offset) of every function symbol, with its name.
fn functions(elf: &[u8]) -> Vec<(String, u64, String)> {
    let file = object::File::parse(elf).unwrap();
    file.symbols()
        .filter(|s| s.kind() == SymbolKind::Text && s.size() > 0)
        .map(|s| {
            let sec = file.section_by_index(s.section_index().unwrap()).unwrap();
            (
                sec.name().unwrap().to_string(),
                s.address(),
                s.name().unwrap().to_string(),
            )
        })
        .collect()
}

fn section_size(elf: &[u8], name: &str) -> u64 {
    let file = object::File::parse(elf).unwrap();
    file.section_by_name(name).unwrap().size()
}

#[test]
fn func_info_names_every_function_at_its_symbol() {
    for obj in [
        "core.bpf.o",
        "core.bpf.eb.o",
        "globals.bpf.o",
        "globals.bpf.eb.o",
    ] {
        let elf = read(obj);
        let btf = Btf::parse(section(&elf, ".BTF")).unwrap();
        let ext = BtfExt::parse(section(&elf, ".BTF.ext"), &btf).unwrap();
        assert_eq!(ext.func_info_rec_size(), 8);
        let mut ours: Vec<(String, u64, String)> = Vec::new();
        for sec in ext.func_info() {
            for fi in sec.records() {
                assert_eq!(btf.kind(fi.type_id).unwrap(), Kind::Func, "{obj}");
                ours.push((
                    sec.name().to_string(),
                    u64::from(fi.insn_off),
                    btf.name(fi.type_id).unwrap().to_string(),
                ));
            }
        }
        let mut theirs = functions(&elf);
        ours.sort();
        theirs.sort();
        assert_eq!(ours, theirs, "{obj}");
    }
}

#[test]
fn line_info_points_at_the_source_lines() {
    for (obj, src) in [
        ("core.bpf.o", "core.bpf.c"),
        ("core.bpf.eb.o", "core.bpf.c"),
        ("globals.bpf.o", "globals.bpf.c"),
    ] {
        let elf = read(obj);
        let source = String::from_utf8(read(src)).unwrap();
        let lines: Vec<&str> = source.lines().collect();
        let btf = Btf::parse(section(&elf, ".BTF")).unwrap();
        let ext = BtfExt::parse(section(&elf, ".BTF.ext"), &btf).unwrap();
        assert_eq!(ext.line_info_rec_size(), 16);
        let mut n = 0;
        for sec in ext.line_info() {
            let size = section_size(&elf, sec.name());
            for li in sec.records() {
                assert!(btf.string_at(li.file_name_off).unwrap().ends_with(src));
                assert_eq!(li.insn_off % 8, 0);
                assert!(u64::from(li.insn_off) < size);
                let text = btf.string_at(li.line_off).unwrap();
                let line = lines[li.line() as usize - 1];
                assert_eq!(text.trim(), line.trim(), "{obj} line {}", li.line());
                // Column 0 means unknown (clang uses it for function entries).
                assert!(
                    li.column() as usize <= line.len() + 1,
                    "{obj} {}:{} {line:?}",
                    li.line(),
                    li.column()
                );
                n += 1;
            }
        }
        assert!(n > 10, "{obj}: only {n} line_info records");
    }
}

/// Checks that an access string walks valid members/enumerators of `ty`.
fn check_access(btf: &Btf<'_>, r: &CoreRelo) {
    let access = btf.string_at(r.access_str_off).unwrap();
    let idx: Vec<u32> = access.split(':').map(|s| s.parse().unwrap()).collect();
    match r.kind {
        CoreReloKind::TypeExists
        | CoreReloKind::TypeSize
        | CoreReloKind::TypeIdLocal
        | CoreReloKind::TypeIdTarget
        | CoreReloKind::TypeMatches => assert_eq!(idx, [0]),
        CoreReloKind::EnumvalExists | CoreReloKind::EnumvalValue => {
            let Type::Enum(e) = btf
                .type_by_id(btf.skip_mods_and_typedefs(r.type_id).unwrap())
                .unwrap()
            else {
                panic!("enum relo on a non-enum")
            };
            assert_eq!(idx.len(), 1);
            assert!((idx[0] as usize) < e.len());
        }
        _ => {
            let mut ty = r.type_id;
            for &i in &idx[1..] {
                let id = btf.skip_mods_and_typedefs(ty).unwrap();
                match btf.type_by_id(id).unwrap() {
                    Type::Struct(c) | Type::Union(c) => ty = c.member(i as usize).unwrap().ty,
                    Type::Array(a) => ty = a.elem,
                    t => panic!("access {access} through {:?}", t.kind()),
                }
            }
        }
    }
}

#[test]
fn core_relos_are_what_the_source_asks_for() {
    for obj in ["core.bpf.o", "core.bpf.eb.o"] {
        let elf = read(obj);
        let btf = Btf::parse(section(&elf, ".BTF")).unwrap();
        let ext = BtfExt::parse(section(&elf, ".BTF.ext"), &btf).unwrap();
        assert_eq!(ext.core_relo_rec_size(), 16);
        let mut kinds = BTreeSet::new();
        let mut roots = BTreeSet::new();
        for sec in ext.core_relos() {
            let size = section_size(&elf, sec.name());
            for r in sec.records() {
                assert!(u64::from(r.insn_off) < size && r.insn_off % 8 == 0);
                check_access(&btf, &r);
                kinds.insert(format!("{:?}", r.kind));
                roots.insert(btf.name(r.type_id).unwrap().to_string());
            }
        }
        // core.bpf.c: BPF_CORE_READ (offsets), field_exists, field_size,
        // BPF_CORE_READ_BITFIELD_PROBED (offset, size, shifts, signedness),
        // type_exists, enum_value, type_size.
        let want: BTreeSet<String> = [
            CoreReloKind::FieldByteOffset,
            CoreReloKind::FieldByteSize,
            CoreReloKind::FieldExists,
            CoreReloKind::FieldSigned,
            CoreReloKind::FieldLshiftU64,
            CoreReloKind::FieldRshiftU64,
            CoreReloKind::TypeExists,
            CoreReloKind::TypeSize,
            CoreReloKind::EnumvalValue,
        ]
        .iter()
        .map(|k| format!("{k:?}"))
        .collect();
        assert_eq!(kinds, want, "{obj}");
        let want_roots: BTreeSet<String> = ["task_struct", "my_state"].map(String::from).into();
        assert_eq!(roots, want_roots, "{obj}");
    }
}

/// A small BTF with one FUNC and strings for section, file and line.
fn small_btf() -> (Vec<u8>, TypeId, [u32; 4]) {
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, IntEncodingExt::SIGNED);
    let proto = b.add_func_proto(int, &[]);
    let func = b.add_func("f", proto, FuncLinkage::Global);
    let strs = [
        b.add_string("xdp"),
        b.add_string("f.c"),
        b.add_string("return 0;"),
        b.add_string("0:1"),
    ];
    (b.build(), func, strs)
}

use oxbpf_btf::IntEncoding as IntEncodingExt;

#[test]
fn builder_round_trip_both_orders() {
    let (btf_le, func, [sec, file, line, acc]) = small_btf();
    let mut eb = BtfExtBuilder::new();
    eb.add_func_info(
        sec,
        FuncInfo {
            insn_off: 0,
            type_id: func,
        },
    )
    .add_line_info(
        sec,
        LineInfo {
            insn_off: 8,
            file_name_off: file,
            line_off: line,
            line_col: (42 << 10) | 5,
        },
    )
    .add_core_relo(
        sec,
        CoreRelo {
            insn_off: 16,
            type_id: TypeId(1),
            access_str_off: acc,
            kind: CoreReloKind::Other(99),
        },
    );
    let btf = Btf::parse(&btf_le).unwrap();
    let big_btf_bytes = {
        let b = oxbpf_btf::BtfBuilder::from_btf(&btf).unwrap();
        b.build_endian(Endian::Big)
    };
    let big = Btf::parse(&big_btf_bytes).unwrap();
    for (b, e) in [(&btf, Endian::Little), (&big, Endian::Big)] {
        let bytes = eb.build_endian(e);
        let ext = BtfExt::parse(&bytes, b).unwrap();
        assert_eq!(ext.header().endian, e);
        let li = ext.line_info_for("xdp").unwrap().records().next().unwrap();
        assert_eq!((li.line(), li.column()), (42, 5));
        assert_eq!(b.string_at(li.line_off).unwrap(), "return 0;");
        let cr = ext.core_relos_for("xdp").unwrap().records().next().unwrap();
        assert_eq!(cr.kind, CoreReloKind::Other(99));
        assert_eq!(b.string_at(cr.access_str_off).unwrap(), "0:1");
        let fi = ext.func_info_for("xdp").unwrap().records().next().unwrap();
        assert_eq!(fi.type_id, func);
        assert!(ext.func_info_for("tc").is_none());
    }
    // An ext of the other byte order than its BTF is refused.
    let e = BtfExt::parse(&eb.build_endian(Endian::Big), &btf).unwrap_err();
    assert!(e.to_string().contains("byte order"), "{e}");
}

/// Assembles a .BTF.ext by hand: header (32 bytes) + func_info sub-section.
fn ext_with_func_info(words: &[u32]) -> Vec<u8> {
    let len = words.len() as u32 * 4;
    let mut out = vec![0x9f, 0xeb, 1, 0];
    for w in [32, 0, len, len, 0, len, 0].iter().chain(words) {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out
}

#[test]
fn larger_records_are_read_forward_compatibly() {
    let (btf_bytes, func, [sec, ..]) = small_btf();
    let btf = Btf::parse(&btf_bytes).unwrap();
    // rec_size 12: a newer compiler's func_info with one extra word.
    let bytes = ext_with_func_info(&[12, sec, 2, 0, func.0, 0xdead, 64, func.0, 0xbeef]);
    let ext = BtfExt::parse(&bytes, &btf).unwrap();
    let s = ext.func_info_for("xdp").unwrap();
    assert_eq!(s.rec_size(), 12);
    let recs: Vec<FuncInfo> = s.records().collect();
    assert_eq!(
        recs,
        [
            FuncInfo {
                insn_off: 0,
                type_id: func
            },
            FuncInfo {
                insn_off: 64,
                type_id: func
            }
        ]
    );
    assert_eq!(s.raw_records().len(), 24);
}

#[test]
fn malformed_ext_is_an_error_saying_where() {
    let (btf_bytes, func, [sec, ..]) = small_btf();
    let btf = Btf::parse(&btf_bytes).unwrap();
    // Record smaller than func_info's 8 bytes.
    let e = BtfExt::parse(&ext_with_func_info(&[4, sec, 1, 0]), &btf).unwrap_err();
    assert!(
        matches!(
            e,
            Error::ExtRecordSize {
                rec_size: 4,
                min: 8,
                ..
            }
        ),
        "{e}"
    );
    // Count running past the end.
    let e = BtfExt::parse(&ext_with_func_info(&[8, sec, 1000, 0, func.0]), &btf).unwrap_err();
    assert!(matches!(e, Error::ExtMalformed { offset: 4, .. }), "{e}");
    // Absurd count: no allocation, no overflow.
    let e = BtfExt::parse(&ext_with_func_info(&[0xffff_fff0, sec, u32::MAX]), &btf).unwrap_err();
    assert!(matches!(e, Error::ExtMalformed { .. }), "{e}");
    // Section name offset past the strings.
    let e = BtfExt::parse(&ext_with_func_info(&[8, 99_999, 1, 0, func.0]), &btf).unwrap_err();
    assert!(matches!(e, Error::ExtBadSecName { off: 99_999, .. }), "{e}");
    // Truncated section header.
    let e = BtfExt::parse(&ext_with_func_info(&[8, sec]), &btf).unwrap_err();
    assert!(matches!(e, Error::ExtMalformed { .. }), "{e}");
    // Header problems.
    let good = ext_with_func_info(&[8, sec, 1, 0, func.0]);
    assert!(matches!(
        BtfExt::parse(&good[..20], &btf),
        Err(Error::Truncated { .. })
    ));
    let mut bad = good.clone();
    bad[0] = 0;
    assert!(matches!(
        BtfExt::parse(&bad, &btf),
        Err(Error::BadMagic { .. })
    ));
    let mut bad = good.clone();
    bad[2] = 2;
    assert!(matches!(
        BtfExt::parse(&bad, &btf),
        Err(Error::BadVersion { found: 2, .. })
    ));
    let mut bad = good.clone();
    bad[4] = 200;
    assert!(matches!(
        BtfExt::parse(&bad, &btf),
        Err(Error::BadHeaderLen { .. })
    ));
    let mut bad = good.clone();
    bad[12..16].copy_from_slice(&1000u32.to_le_bytes());
    assert!(matches!(
        BtfExt::parse(&bad, &btf),
        Err(Error::SectionOutOfBounds { .. })
    ));
    // Every truncation and every bit flip: a result or an error, no panic.
    for n in 0..good.len() {
        let _ = BtfExt::parse(&good[..n], &btf);
    }
    for i in 0..good.len() * 8 {
        let mut b = good.clone();
        b[i / 8] ^= 1 << (i % 8);
        if let Ok(ext) = BtfExt::parse(&b, &btf) {
            for s in ext.func_info() {
                s.records().for_each(drop);
            }
        }
    }
}
