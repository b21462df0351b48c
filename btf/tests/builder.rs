//! BtfBuilder: what it writes is read back the same by us, by bpftool and
//! by the kernel; round trips; split BTF.

mod common;

use std::sync::Arc;

use common::kernel::btf_load;
use oxbpf_btf::{
    Btf, BtfBuilder, Endian, EnumValue, FuncLinkage, IntEncoding, Kind, Type, TypeId, VarLinkage,
};

fn tmp(name: &str, data: &[u8]) -> String {
    let dir = std::env::temp_dir().join(format!("oxbpf-btf-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn every_kind_reads_back() {
    let bytes = common::all_kinds(Endian::NATIVE);
    let btf = Btf::parse(&bytes).unwrap();
    assert_eq!(btf.types_len(), 33);
    let kinds: Vec<Kind> = btf.types().map(|(_, t)| t.kind()).collect();
    for k in [
        Kind::Int,
        Kind::Ptr,
        Kind::Array,
        Kind::Struct,
        Kind::Union,
        Kind::Enum,
        Kind::Fwd,
        Kind::Typedef,
        Kind::Volatile,
        Kind::Const,
        Kind::Restrict,
        Kind::Func,
        Kind::FuncProto,
        Kind::Var,
        Kind::Datasec,
        Kind::Float,
        Kind::DeclTag,
        Kind::TypeTag,
        Kind::Enum64,
    ] {
        assert!(kinds.contains(&k), "{k} missing");
    }
    let Type::Struct(s) = btf.type_by_id(TypeId(14)).unwrap() else {
        panic!()
    };
    assert!(s.kind_flag());
    let m: Vec<(&str, u32, u32)> = s
        .members()
        .map(|m| {
            (
                btf.string_at(m.name_off).unwrap(),
                m.bit_offset,
                m.bitfield_size,
            )
        })
        .collect();
    assert_eq!(
        m,
        [
            ("a", 0, 0),
            ("flag", 32, 1),
            ("bits", 33, 7),
            ("name", 64, 0),
            ("next", 192, 0)
        ]
    );
    let vals = |id| -> Vec<(String, i128)> {
        let (Type::Enum(e) | Type::Enum64(e)) = btf.type_by_id(TypeId(id)).unwrap() else {
            panic!()
        };
        e.values()
            .map(|v: EnumValue| (btf.string_at(v.name_off).unwrap().into(), v.value()))
            .collect()
    };
    assert_eq!(
        vals(10),
        [
            ("RED".into(), 0),
            ("GREEN".into(), 1),
            ("BLUE".into(), 0xffff_fff0)
        ]
    );
    assert_eq!(vals(11), [("NEG".into(), -5), ("POS".into(), 5)]);
    assert_eq!(
        vals(12),
        [("HUGE".into(), 0xfedc_ba98_7654_3210), ("ONE".into(), 1)]
    );
    assert_eq!(vals(13), [("MIN".into(), i128::from(i64::MIN))]);
    let Type::FuncProto(p) = btf.type_by_id(TypeId(22)).unwrap() else {
        panic!()
    };
    assert!(p.is_variadic());
    assert_eq!(p.ret(), TypeId(1));
    let Type::Func(f) = btf.type_by_id(TypeId(23)).unwrap() else {
        panic!()
    };
    assert_eq!((f.proto, f.linkage), (TypeId(22), FuncLinkage::Global));
    let Type::DeclTag(d) = btf.type_by_id(TypeId(27)).unwrap() else {
        panic!()
    };
    assert_eq!((d.ty, d.component_idx), (TypeId(14), 1));
    let Type::Datasec(ds) = btf.type_by_id(TypeId(26)).unwrap() else {
        panic!()
    };
    assert_eq!(ds.var(1).unwrap().offset, 40);
    let Type::Var(v) = btf.type_by_id(TypeId(25)).unwrap() else {
        panic!()
    };
    assert_eq!(v.linkage, VarLinkage::Static);
    assert_eq!(btf.skip_mods_and_typedefs(TypeId(18)).unwrap(), TypeId(14));
    assert_eq!(btf.skip_mods(TypeId(18)).unwrap(), TypeId(16));
    assert_eq!(btf.resolve_size(TypeId(18)).unwrap(), 32);
    assert_eq!(btf.resolve_size(TypeId(24)).unwrap(), 32);
    assert_eq!(btf.resolve_size(TypeId(9)).unwrap(), 16);
    assert_eq!(btf.resolve_align(TypeId(14)).unwrap(), 8);
    assert_eq!(btf.resolve_align(TypeId(9)).unwrap(), 1);
    assert!(btf.resolve_size(TypeId(23)).is_err());
    assert!(btf.resolve_size(TypeId(6)).is_err());
    assert_eq!(
        btf.find_by_name_kind("handle", Kind::Func).unwrap(),
        Some(TypeId(23))
    );
    assert_eq!(btf.find_by_name("rec_t").unwrap(), Some(TypeId(16)));
    assert_eq!(btf.find_by_name_kind("rec_t", Kind::Struct).unwrap(), None);
    assert_eq!(btf.find_all_by_name("int"), [TypeId(1)]);
}

#[test]
fn bpftool_reads_what_we_write() {
    for e in [Endian::Little, Endian::Big] {
        let bytes = common::all_kinds(e);
        let path = tmp(&format!("all_kinds_{e:?}.btf"), &bytes);
        let btf = Btf::parse(&bytes).unwrap();
        common::assert_same_dump(&common::dump(&btf), &common::bpftool_dump(&path));
    }
}

#[test]
fn kernel_accepts_what_we_write() {
    btf_load(&common::all_kinds(Endian::NATIVE)).unwrap();
    let big = common::all_kinds(Endian::Big);
    let btf = Btf::parse(&big).unwrap();
    btf_load(&btf.to_native_bytes()).unwrap();
}

#[test]
fn from_btf_is_byte_identical() {
    for e in [Endian::Little, Endian::Big] {
        let bytes = common::all_kinds(e);
        let btf = Btf::parse(&bytes).unwrap();
        assert_eq!(BtfBuilder::from_btf(&btf).unwrap().build_endian(e), bytes);
    }
    let vmlinux = std::fs::read("/sys/kernel/btf/vmlinux").unwrap();
    let btf = Btf::parse(&vmlinux).unwrap();
    let mut b = BtfBuilder::from_btf(&btf).unwrap();
    assert_eq!(b.build(), vmlinux);
    // Adding to the copy continues the ids and reuses strings.
    let next = b.next_id();
    assert_eq!(next.0, btf.types_len() + 1);
    let end = b.build().len();
    let int = btf.find_by_name_kind("int", Kind::Int).unwrap().unwrap();
    let id = b.add_typedef("task_struct", int);
    assert_eq!(id, next);
    assert_eq!(
        b.build().len(),
        end + 12,
        "the name was reused, only the record added"
    );
}

#[test]
fn reinterned_copy_has_the_same_types_and_names() {
    let vmlinux = std::fs::read("/sys/kernel/btf/vmlinux").unwrap();
    let btf = Btf::parse(&vmlinux).unwrap();
    let mut b = BtfBuilder::new();
    for (id, t) in btf.types() {
        assert_eq!(b.add_type_from(&btf, id, &t).unwrap(), id);
    }
    let bytes = b.build();
    let copy = Btf::parse(&bytes).unwrap();
    common::assert_same_dump(&common::dump(&copy), &common::dump(&btf));
}

#[test]
fn rewriting_type_by_type_keeps_ids_and_strings() {
    // What sanitization does: same strings, each record copied (or
    // changed) in order. Unchanged, the result is the input.
    let vmlinux = std::fs::read("/sys/kernel/btf/vmlinux").unwrap();
    let btf = Btf::parse(&vmlinux).unwrap();
    let mut b = BtfBuilder::with_strings_from(&btf);
    assert_eq!(b.next_id(), TypeId(1));
    for (id, t) in btf.types() {
        b.add_type_from(&btf, id, &t).unwrap();
    }
    assert_eq!(b.build(), vmlinux);
}

#[test]
fn strings_are_deduplicated() {
    let mut b = BtfBuilder::new();
    let a = b.add_string("abc");
    assert_eq!(b.add_string("abc"), a);
    assert_eq!(b.add_string(""), 0);
    let int = b.add_int("abc", 4, IntEncoding::NONE);
    b.add_struct("abc", 4, &[("abc", int, 0)]);
    let bytes = b.build();
    let btf = Btf::parse(&bytes).unwrap();
    assert_eq!(btf.string_section(), b"\0abc\0");
}

/// A base and a split on it, both made by the builder.
fn base_and_split() -> (Vec<u8>, Vec<u8>) {
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, IntEncoding::SIGNED);
    let long = b.add_int("long", 8, IntEncoding::SIGNED);
    b.add_struct("base_s", 12, &[("x", int, 0), ("y", long, 32)]);
    b.add_fwd("mod_s", false);
    let base = b.build();
    let base_btf = Btf::parse(&base).unwrap();
    let mut s = BtfBuilder::new_split(&base_btf);
    let ps = s.add_ptr(TypeId(3));
    assert_eq!(ps, TypeId(5));
    let ms = s.add_struct("mod_s", 16, &[("base", ps, 0), ("n", int, 64)]);
    s.add_typedef("int", ms); // same name as a base type, other kind
    s.add_struct("base_s", 4, &[("x", int, 0)]); // duplicate of a base name
    let split = s.build();
    (base, split)
}

#[test]
fn split_btf_continues_ids_and_strings() {
    let (base, split) = base_and_split();
    let base_btf = Btf::parse(&base).unwrap();
    let btf = Btf::parse_split(&split, &base_btf).unwrap();
    assert_eq!(btf.first_id(), TypeId(5));
    assert_eq!(btf.types_len(), 8);
    assert_eq!(btf.first_str_off(), base_btf.strings_end());
    assert_eq!(btf.types().len(), 4, "own types only");
    // By id: both.
    assert_eq!(btf.name(TypeId(3)).unwrap(), "base_s");
    assert_eq!(btf.name(TypeId(6)).unwrap(), "mod_s");
    assert!(btf.type_by_id(TypeId(9)).is_err());
    // By name: base first, then split.
    assert_eq!(
        btf.find_by_name_kind("base_s", Kind::Struct).unwrap(),
        Some(TypeId(3))
    );
    assert_eq!(
        btf.find_by_name_kind("mod_s", Kind::Struct).unwrap(),
        Some(TypeId(6))
    );
    assert_eq!(
        btf.find_by_name_kind("mod_s", Kind::Fwd).unwrap(),
        Some(TypeId(4))
    );
    assert_eq!(
        btf.find_by_name_kind("int", Kind::Typedef).unwrap(),
        Some(TypeId(7))
    );
    assert_eq!(btf.find_all_by_name("base_s"), [TypeId(3), TypeId(8)]);
    // Member names in the split that exist in the base are split strings
    // here (the builder does not search the base), both resolve.
    let Type::Struct(s) = btf.type_by_id(TypeId(6)).unwrap() else {
        panic!()
    };
    let names: Vec<&str> = s
        .members()
        .map(|m| btf.string_at(m.name_off).unwrap())
        .collect();
    assert_eq!(names, ["base", "n"]);
    assert_eq!(btf.resolve_size(TypeId(7)).unwrap(), 16);
    assert_eq!(btf.skip_mods_and_typedefs(TypeId(7)).unwrap(), TypeId(6));
    // Owning form.
    let owned = Btf::from_vec_split(
        split.clone(),
        Arc::new(Btf::from_vec(base.clone()).unwrap()),
    )
    .unwrap();
    assert_eq!(common::dump(&owned), common::dump(&btf));
    // Round trip of the split through the builder.
    assert_eq!(BtfBuilder::from_btf(&btf).unwrap().build(), split);
}

#[test]
fn split_btf_matches_bpftool() {
    let (base, split) = base_and_split();
    let bp = tmp("base.btf", &base);
    let sp = tmp("split.btf", &split);
    let out = std::process::Command::new("bpftool")
        .args(["btf", "dump", "file", &sp, "-B", &bp])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let base_btf = Btf::parse(&base).unwrap();
    let btf = Btf::parse_split(&split, &base_btf).unwrap();
    common::assert_same_dump(&common::dump(&btf), &String::from_utf8(out.stdout).unwrap());
}

#[test]
fn split_on_vmlinux() {
    let base = Arc::new(Btf::from_file(std::path::Path::new("/sys/kernel/btf/vmlinux")).unwrap());
    let mut s = BtfBuilder::new_split(&base);
    let ts = base
        .find_by_name_kind("task_struct", Kind::Struct)
        .unwrap()
        .unwrap();
    let p = s.add_ptr(ts);
    let m = s.add_struct("my_mod_state", 8, &[("task", p, 0)]);
    let btf = Btf::from_vec_split(s.build(), base.clone()).unwrap();
    assert_eq!(m.0, base.types_len() + 2);
    assert_eq!(
        btf.find_by_name_kind("my_mod_state", Kind::Struct).unwrap(),
        Some(m)
    );
    assert_eq!(
        btf.find_by_name_kind("task_struct", Kind::Struct).unwrap(),
        Some(ts)
    );
    let Type::Struct(st) = btf.type_by_id(m).unwrap() else {
        panic!()
    };
    let Type::Ptr(r) = btf.type_by_id(st.member(0).unwrap().ty).unwrap() else {
        panic!()
    };
    assert_eq!(btf.name(r.ty).unwrap(), "task_struct");
}

#[test]
fn split_errors() {
    let (base, split) = base_and_split();
    let base_btf = Btf::parse(&base).unwrap();
    // Split BTF parsed without its base: its strings do not start with NUL
    // or its names point below its own strings.
    let alone = Btf::parse(&split);
    if let Ok(b) = alone {
        assert!(b.name(TypeId(2)).is_err());
    }
    // A base of the other byte order is refused.
    let big = BtfBuilder::from_btf(&base_btf)
        .unwrap()
        .build_endian(Endian::Big);
    let big_btf = Btf::parse(&big).unwrap();
    assert!(Btf::parse_split(&split, &big_btf).is_err());
}
