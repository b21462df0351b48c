//! Reading the running kernel's BTF, checked against bpftool's reading.

mod common;

use std::path::Path;

use oxbpf_btf::{Btf, Kind, Type, TypeId};

const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

#[test]
fn vmlinux_matches_bpftool_type_for_type() {
    let btf = Btf::from_file(Path::new(VMLINUX)).unwrap();
    let ours = common::dump(&btf);
    let theirs = common::bpftool_dump(VMLINUX);
    common::assert_same_dump(&ours, &theirs);
}

#[test]
fn vmlinux_lookups() {
    let btf = Btf::from_file(Path::new(VMLINUX)).unwrap();
    let theirs = common::bpftool_dump(VMLINUX);
    // Every named STRUCT, in bpftool's listing, is found by name and kind
    // with the lowest id carrying that name and kind.
    let mut seen = std::collections::HashMap::new();
    for line in theirs.lines().filter(|l| l.starts_with('[')) {
        let mut parts = line.splitn(3, ' ');
        let id: u32 = parts
            .next()
            .unwrap()
            .trim_matches(|c| c == '[' || c == ']')
            .parse()
            .unwrap();
        let kind = parts.next().unwrap();
        let rest = parts.next().unwrap();
        let name = rest[1..].split('\'').next().unwrap();
        if name == "(anon)" {
            continue;
        }
        seen.entry((kind.to_string(), name.to_string()))
            .or_insert(id);
    }
    let kinds = [
        ("STRUCT", Kind::Struct),
        ("UNION", Kind::Union),
        ("TYPEDEF", Kind::Typedef),
        ("FUNC", Kind::Func),
        ("ENUM", Kind::Enum),
        ("INT", Kind::Int),
        ("VAR", Kind::Var),
        ("DATASEC", Kind::Datasec),
    ];
    let mut checked = 0;
    for ((k, name), id) in &seen {
        let Some(&(_, kind)) = kinds.iter().find(|(s, _)| s == k) else {
            continue;
        };
        assert_eq!(
            btf.find_by_name_kind(name, kind).unwrap(),
            Some(TypeId(*id)),
            "{k} {name}"
        );
        checked += 1;
    }
    assert!(checked > 50_000, "only {checked} names checked");
    assert_eq!(
        btf.find_by_name_kind("no_such_type_xyz", Kind::Struct)
            .unwrap(),
        None
    );
    let ts = btf
        .find_by_name_kind("task_struct", Kind::Struct)
        .unwrap()
        .unwrap();
    assert_eq!(btf.kind(ts).unwrap(), Kind::Struct);
    assert_eq!(btf.name(ts).unwrap(), "task_struct");
}

#[test]
fn vmlinux_sizes_agree_with_records() {
    let btf = Btf::from_file(Path::new(VMLINUX)).unwrap();
    // resolve_size of a typedef equals the size of what it names, and of
    // an array the element size times the count.
    for (id, t) in btf.types() {
        match t {
            Type::Typedef(r) => {
                let target = btf.skip_mods_and_typedefs(id).unwrap();
                assert_ne!(btf.kind(target).unwrap(), Kind::Typedef);
                if let (Ok(a), Ok(b)) = (btf.resolve_size(id), btf.resolve_size(r.ty)) {
                    assert_eq!(a, b, "typedef [{id}]");
                }
            }
            Type::Array(a) => {
                if let Ok(es) = btf.resolve_size(a.elem) {
                    assert_eq!(btf.resolve_size(id).unwrap(), es * a.nelems, "array [{id}]");
                }
            }
            Type::Struct(c) => {
                assert_eq!(btf.resolve_size(id).unwrap(), c.size());
                // Every non-bitfield member lies inside the struct.
                for m in c.members() {
                    if m.bitfield_size == 0
                        && let Ok(ms) = btf.resolve_size(m.ty)
                    {
                        assert!(
                            m.bit_offset / 8 + ms <= c.size(),
                            "[{id}] member at {}",
                            m.bit_offset
                        );
                    }
                }
            }
            _ => {}
        }
    }
}
