//! Sanitization: for each feature, BTF that uses it is rewritten as if the
//! kernel lacked it; the result no longer uses it, keeps every id, name and
//! size, and loads into the running kernel.

mod common;

use common::kernel::{ElfSource, btf_load, section};
use oxbpf_btf::{
    Btf, BtfFeature, BtfFeatures, Endian, FuncLinkage, Kind, Type, TypeId, fixup_datasecs,
    needed_features, sanitize,
};

fn read(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// The fixed (loadable) BTF of a test object.
fn fixed(obj: &str) -> Vec<u8> {
    let elf = read(obj);
    let btf = Btf::parse(section(&elf, ".BTF")).unwrap();
    fixup_datasecs(&btf, &ElfSource::new(&elf)).unwrap()
}

/// Whether `t` uses feature `f`.
fn uses(t: &Type<'_>, f: BtfFeature) -> bool {
    match f {
        BtfFeature::Func => matches!(t, Type::Func(_) | Type::FuncProto(_)),
        BtfFeature::FuncGlobal => matches!(t, Type::Func(x) if x.linkage == FuncLinkage::Global),
        BtfFeature::VarDatasec => matches!(t, Type::Var(_) | Type::Datasec(_)),
        BtfFeature::Float => matches!(t, Type::Float(_)),
        BtfFeature::DeclTag => matches!(t, Type::DeclTag(_)),
        BtfFeature::TypeTag => matches!(t, Type::TypeTag(_)),
        BtfFeature::Enum64 => matches!(t, Type::Enum64(_)),
        BtfFeature::EnumSigned => {
            matches!(t, Type::Enum(e) | Type::Enum64(e) if e.is_signed())
        }
        _ => unreachable!("new feature {f}: teach this test"),
    }
}

/// Sanitizes `bytes` for `features` and checks the result: no record uses
/// a missing feature, the same ids, names (of kept kinds) and sizes, and
/// the kernel loads it. Returns how many records changed.
fn check(what: &str, bytes: &[u8], features: &BtfFeatures) -> usize {
    let btf = Btf::parse(bytes).unwrap();
    let out = sanitize(&btf, features).unwrap();
    let s = Btf::parse(&out).unwrap();
    assert_eq!(s.endian(), Endian::NATIVE);
    assert_eq!(s.types_len(), btf.types_len(), "{what}: type count");
    assert_eq!(s.string_section(), btf.string_section(), "{what}: strings");
    let mut changed = 0;
    for ((id, a), (_, b)) in btf.types().zip(s.types()) {
        for f in features.missing() {
            assert!(!uses(&b, f), "{what}: [{id}] {} still uses {f}", b.kind());
        }
        if a != b {
            changed += 1;
        }
        if a.kind() == b.kind() && a.kind() != Kind::DeclTag {
            assert_eq!(btf.name(id).unwrap(), s.name(id).unwrap(), "{what}: [{id}]");
        }
        // A type with a size keeps it (layouts of containing types hold).
        if let Ok(size) = btf.resolve_size(id)
            && !matches!(a, Type::Var(_))
        {
            assert_eq!(s.resolve_size(id).unwrap(), size, "{what}: [{id}] {a:?}");
        }
    }
    assert!(needed_features(&s, features).is_empty(), "{what}");
    if let Err(e) = btf_load(&out) {
        panic!(
            "{what} without {:?}: {e}",
            features.missing().collect::<Vec<_>>()
        );
    }
    changed
}

const OBJECTS: [&str; 6] = [
    "kinds.bpf.o",
    "kinds.bpf.eb.o",
    "globals.bpf.o",
    "globals.bpf.eb.o",
    "core.bpf.o",
    "core.bpf.eb.o",
];

#[test]
fn kinds_object_uses_every_feature() {
    // The test object exists to exercise each rewrite: check it does.
    let bytes = fixed("kinds.bpf.o");
    let btf = Btf::parse(&bytes).unwrap();
    assert_eq!(
        needed_features(&btf, &BtfFeatures::none()),
        BtfFeature::ALL,
        "kinds.bpf.c should use every feature"
    );
}

#[test]
fn each_missing_feature_is_rewritten_and_loads() {
    for obj in OBJECTS {
        let bytes = fixed(obj);
        let btf = Btf::parse(&bytes).unwrap();
        for f in BtfFeature::ALL {
            let features = BtfFeatures::all().without(f);
            let used = needed_features(&btf, &features);
            let changed = check(&format!("{obj} without {f}"), &bytes, &features);
            assert_eq!(used.is_empty(), changed == 0, "{obj} without {f}");
        }
    }
}

#[test]
fn every_kernel_version_loads() {
    // The feature sets of real kernels, oldest first, on every object and on
    // the builder-made blob with every kind.
    let versions = [
        (4, 18),
        (5, 0),
        (5, 2),
        (5, 6),
        (5, 13),
        (5, 16),
        (5, 17),
        (6, 0),
    ];
    let mut blobs: Vec<(String, Vec<u8>)> =
        OBJECTS.iter().map(|o| (o.to_string(), fixed(o))).collect();
    blobs.push(("all_kinds".into(), common::all_kinds(Endian::NATIVE)));
    for (name, bytes) in &blobs {
        for (major, minor) in versions {
            let features = BtfFeatures::for_kernel(major, minor);
            check(&format!("{name} for {major}.{minor}"), bytes, &features);
        }
        // Nothing changes for a kernel with everything.
        let btf = Btf::parse(bytes).unwrap();
        assert_eq!(
            sanitize(&btf, &BtfFeatures::all()).unwrap(),
            btf.to_native_bytes().as_ref(),
            "{name}"
        );
    }
}

#[test]
fn datasec_becomes_a_struct_with_the_same_layout() {
    let bytes = fixed("kinds.bpf.o");
    let btf = Btf::parse(&bytes).unwrap();
    let out = sanitize(&btf, &BtfFeatures::none()).unwrap();
    let s = Btf::parse(&out).unwrap();
    let data = btf
        .find_by_name_kind(".data", Kind::Datasec)
        .unwrap()
        .unwrap();
    let Type::Datasec(d) = btf.type_by_id(data).unwrap() else {
        panic!()
    };
    let Type::Struct(c) = s.type_by_id(data).unwrap() else {
        panic!("DATASEC .data not rewritten into a STRUCT")
    };
    assert_eq!(c.size(), d.size());
    assert_eq!(c.len(), d.len());
    for (v, m) in d.vars().zip(c.members()) {
        let Type::Var(var) = btf.type_by_id(v.ty).unwrap() else {
            panic!()
        };
        assert_eq!(m.ty, var.ty);
        assert_eq!(m.bit_offset, v.offset * 8);
        assert_eq!(s.string_at(m.name_off).unwrap(), btf.name(v.ty).unwrap());
        assert_eq!(s.resolve_size(m.ty).unwrap(), v.size);
    }
    // FUNC became a TYPEDEF of the same name; its prototype an ENUM.
    let acc = btf
        .find_by_name_kind("account", Kind::Func)
        .unwrap()
        .unwrap();
    assert_eq!(s.kind(acc).unwrap(), Kind::Typedef);
    assert_eq!(s.name(acc).unwrap(), "account");
    let proto = btf.type_by_id(acc).unwrap().ref_type().unwrap();
    assert_eq!(s.kind(proto).unwrap(), Kind::Enum);
}

#[test]
fn split_btf_is_sanitized_on_its_base() {
    use oxbpf_btf::{BtfBuilder, IntEncoding};
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, IntEncoding::SIGNED);
    let base_bytes = b.build();
    let base = Btf::parse(&base_bytes).unwrap();
    let mut m = BtfBuilder::new_split(&base);
    let fl = m.add_float("double", 8);
    let tt = m.add_type_tag("user", int, false);
    let p = m.add_ptr(tt);
    let st = m.add_struct("mod_s", 16, &[("d", fl, 0), ("p", p, 64)]);
    let split = m.build();
    let btf = Btf::parse_split(&split, &base).unwrap();
    let out = sanitize(&btf, &BtfFeatures::none()).unwrap();
    let s = Btf::parse_split(&out, &base).unwrap();
    assert_eq!(s.types_len(), btf.types_len());
    assert_eq!(s.kind(fl).unwrap(), Kind::Struct);
    assert_eq!(s.kind(tt).unwrap(), Kind::Const);
    assert_eq!(s.resolve_size(st).unwrap(), 16);
    assert_eq!(s.skip_mods_and_typedefs(tt).unwrap(), int);
    assert_eq!(s.kind(TypeId(1)).unwrap(), Kind::Int);
}

#[test]
fn vmlinux_sanitized_for_the_oldest_kernel_loads() {
    // 126k types, every kind the kernel has: the strongest check that each
    // rewrite is valid wherever it appears.
    let data = std::fs::read("/sys/kernel/btf/vmlinux").unwrap();
    let changed = check("vmlinux", &data, &BtfFeatures::none());
    assert!(changed > 50_000, "only {changed} records rewritten");
}
