//! The C header dump: the header compiles with clang for the BPF target,
//! and the sizes and member offsets clang computes from it are those of the
//! BTF it came from (checked with `_Static_assert`s generated from the BTF).

mod common;

use std::collections::HashMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use oxbpf_btf::{
    Btf, BtfBuilder, DumpOptions, FuncLinkage, IntEncoding, Kind, TypeId, dump_c_string,
};

fn tmp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("oxbpf-btf-dump-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Names that several struct/union/enum types share: asserts skip them
/// (their suffixed names are checked separately).
fn shared_tags(btf: &Btf<'_>) -> HashMap<String, u32> {
    let mut n = HashMap::new();
    for i in 1..=btf.types_len() {
        let t = btf.type_by_id(TypeId(i)).unwrap();
        if matches!(
            t.kind(),
            Kind::Struct | Kind::Union | Kind::Enum | Kind::Enum64
        ) && t.name_off() != 0
        {
            *n.entry(btf.name(TypeId(i)).unwrap().to_string())
                .or_insert(0) += 1;
        }
    }
    n
}

/// Offsets (in bits) of the named members of `id`, looking through
/// anonymous struct/union members as C does; bitfields are marked.
fn members(btf: &Btf<'_>, id: TypeId, base: u32, out: &mut Vec<(String, u32, bool)>) {
    let t = btf.type_by_id(id).unwrap();
    let Some(c) = t.as_composite() else { return };
    for m in c.members() {
        let name = btf.string_at(m.name_off).unwrap();
        let off = base + m.bit_offset;
        if name.is_empty() {
            let inner = btf.skip_mods_and_typedefs(m.ty).unwrap();
            if btf.type_by_id(inner).unwrap().as_composite().is_some() {
                members(btf, inner, off, out);
            }
            continue;
        }
        out.push((name.to_string(), off, m.bitfield_size != 0));
    }
}

/// `_Static_assert`s on the size of every uniquely named struct and union
/// and on the offset of each of its non-bitfield members. Returns the C
/// text and the number of types checked.
fn layout_asserts(btf: &Btf<'_>) -> (String, usize) {
    let shared = shared_tags(btf);
    let mut s = String::new();
    let mut checked = 0;
    for i in 1..=btf.types_len() {
        let id = TypeId(i);
        let t = btf.type_by_id(id).unwrap();
        let kw = match t.kind() {
            Kind::Struct => "struct",
            Kind::Union => "union",
            _ => continue,
        };
        let name = btf.name(id).unwrap();
        if name.is_empty() || shared[name] > 1 {
            continue;
        }
        let size = t.as_composite().unwrap().size();
        writeln!(
            s,
            "_Static_assert(sizeof({kw} {name}) == {size}, \"sizeof {name}\");"
        )
        .unwrap();
        let mut ms = Vec::new();
        members(btf, id, 0, &mut ms);
        let mut seen = std::collections::HashSet::new();
        for (m, off, bf) in ms {
            if bf || !seen.insert(m.clone()) {
                continue;
            }
            assert_eq!(off % 8, 0, "{name}.{m} at bit {off}");
            writeln!(
                s,
                "_Static_assert(__builtin_offsetof({kw} {name}, {m}) == {}, \"{name}.{m}\");",
                off / 8
            )
            .unwrap();
        }
        checked += 1;
    }
    (s, checked)
}

/// Compiles `header` plus `extra` with clang for the BPF target; panics
/// with clang's first errors if it fails.
fn compile(dir: &Path, header: &str, extra: &str, clang: &str) {
    let h = dir.join("vmlinux.h");
    std::fs::write(&h, header).unwrap();
    let c = dir.join("check.c");
    std::fs::write(&c, format!("#include \"vmlinux.h\"\n{extra}")).unwrap();
    let out = Command::new(clang)
        .args(["-target", "bpf", "-fsyntax-only", "-Wall", "-Werror"])
        .arg(&c)
        .output()
        .unwrap_or_else(|e| panic!("{clang} must be installed: {e}"));
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let head: Vec<&str> = err.lines().take(40).collect();
        panic!(
            "{clang} failed on {} ({} error lines):\n{}",
            h.display(),
            err.lines().count(),
            head.join("\n")
        );
    }
}

#[test]
fn vmlinux_header_compiles_with_exact_layouts() {
    let btf = Btf::from_file(Path::new("/sys/kernel/btf/vmlinux")).unwrap();
    let header = dump_c_string(&btf, &DumpOptions::default()).unwrap();
    let (asserts, checked) = layout_asserts(&btf);
    assert!(checked > 9_000, "only {checked} structs and unions checked");
    let dir = tmp_dir("vmlinux");
    compile(&dir, &header, &asserts, "clang-19");
    assert!(header.starts_with("#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n"));
    assert!(header.contains(
        "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute push \
         (__attribute__((preserve_access_index)), apply_to = record)\n#endif\n"
    ));
    assert!(header.trim_end().ends_with("#endif /* __VMLINUX_H__ */"));
    // Every named struct, union, enum and typedef is defined.
    for name in [
        "struct task_struct {",
        "union bpf_attr {",
        "enum bpf_map_type {",
    ] {
        assert!(header.contains(name), "{name}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn vmlinux_header_compiles_with_clang_14() {
    let btf = Btf::from_file(Path::new("/sys/kernel/btf/vmlinux")).unwrap();
    let header = dump_c_string(&btf, &DumpOptions::default()).unwrap();
    let dir = tmp_dir("vmlinux14");
    compile(&dir, &header, "", "clang-14");
    let _ = std::fs::remove_dir_all(&dir);
}

/// BTF with the layouts that need care: packed, packed and aligned,
/// aligned, bitfields with gaps, anonymous unions in structs, arrays of
/// function pointers, 64-bit and signed enums, small enums, conflicting
/// names, forward declarations and a typedef'd anonymous struct.
fn tricky() -> Vec<u8> {
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, IntEncoding::SIGNED);
    let uint = b.add_int("unsigned int", 4, IntEncoding::NONE);
    let ch = b.add_int("char", 1, IntEncoding::SIGNED | IntEncoding::CHAR);
    let u8t = b.add_int("unsigned char", 1, IntEncoding::NONE);
    let u16t = b.add_int("short unsigned int", 2, IntEncoding::NONE);
    let u64t = b.add_int("long long unsigned int", 8, IntEncoding::NONE);
    let long = b.add_int("long int", 8, IntEncoding::SIGNED);
    // struct packed_s { char c; int i; } __packed;  (size 5)
    b.add_struct("packed_s", 5, &[("c", ch, 0), ("i", int, 8)]);
    // struct pa { u8 a; u32 b; } __packed __aligned(4);  (size 8, b at 1)
    let pa = b.add_struct("pa", 8, &[("a", u8t, 0), ("b", uint, 8)]);
    // struct al { int x; } __aligned(64);
    let al = b.add_struct("al", 64, &[("x", int, 0)]);
    // struct holds_al { char c; struct al a; };  (a at 64, size 128)
    b.add_struct("holds_al", 128, &[("c", ch, 0), ("a", al, 512)]);
    // struct holds_pa { char c; struct pa p; };  (p at 1: needs packing)
    b.add_struct("holds_pa", 9, &[("c", ch, 0), ("p", pa, 8)]);
    // Bitfields with gaps and a member after a gap.
    b.add_struct_bitfields(
        "bits",
        16,
        &[
            ("a", uint, 0, 3),
            ("b", uint, 8, 5),
            ("c", u16t, 30, 4),
            ("d", u64t, 64, 33),
            ("e", uint, 100, 2),
        ],
    );
    // A bitfield that straddles its unit: only packed can do it.
    b.add_struct_bitfields("straddle", 5, &[("x", uint, 0, 6), ("y", uint, 30, 10)]);
    // struct with_anon { int k; union { int i; long l; }; struct { char x; int y; } s2; };
    let au = b.add_union("", 8, &[("i", int, 0), ("l", long, 0)]);
    let as_ = b.add_struct("", 8, &[("x", ch, 0), ("y", int, 32)]);
    b.add_struct(
        "with_anon",
        24,
        &[("k", int, 0), ("", au, 64), ("s2", as_, 128)],
    );
    // Function pointers: int (*handlers[4])(int, ...); void (*(*get)(void))(long);
    let proto = b.add_func_proto(int, &[("a", int), ("", TypeId::VOID)]);
    let pproto = b.add_ptr(proto);
    let arr = b.add_array(pproto, int, 4);
    let vproto = b.add_func_proto(TypeId::VOID, &[("l", long)]);
    let pv = b.add_ptr(vproto);
    let getter = b.add_func_proto(pv, &[]);
    let pget = b.add_ptr(getter);
    let fwd = b.add_fwd("later", false);
    let pfwd = b.add_ptr(fwd);
    let cb_proto = b.add_func_proto(int, &[("x", pfwd)]);
    let pcb = b.add_ptr(cb_proto);
    let cch = b.add_const(ch);
    let pcch = b.add_ptr(cch);
    let cpcch = b.add_const(pcch);
    let arr2 = b.add_array(ch, int, 3);
    let parr2 = b.add_ptr(arr2);
    b.add_struct(
        "funcs",
        64,
        &[
            ("handlers", arr, 0),
            ("get", pget, 256),
            ("cb", pcb, 320),
            ("name", cpcch, 384),
            ("row", parr2, 448),
        ],
    );
    // Enums: 64-bit, signed, small, signed 64-bit minimum, 8 bytes with small values.
    let e64 = b.add_enum64("big", 8, false, &[("BIG_A", 1 << 40), ("BIG_B", u64::MAX)]);
    let es = b.add_enum("neg", 4, true, &[("NEG_A", -1), ("NEG_B", 7)]);
    let e1 = b.add_enum("tiny", 1, false, &[("TINY_A", 1), ("TINY_B", 255)]);
    let es64 = b.add_enum64("smin", 8, true, &[("SMIN", i64::MIN as u64), ("SONE", 1)]);
    let ewide = b.add_enum("wide_small", 8, false, &[("WS_A", 1)]);
    b.add_struct(
        "enums",
        32,
        &[
            ("a", e64, 0),
            ("b", es, 64),
            ("c", e1, 96),
            ("d", es64, 128),
            ("e", ewide, 192),
        ],
    );
    // Conflicts: two different `struct dup`, enumerators defined twice.
    b.add_struct("dup", 4, &[("x", int, 0)]);
    let dup2 = b.add_struct("dup", 8, &[("y", long, 0)]);
    b.add_enum("colors", 4, false, &[("RED", 0), ("GREEN", 1)]);
    b.add_enum("colors2", 4, false, &[("RED", 5)]);
    b.add_struct("uses_dup2", 8, &[("d", dup2, 0)]);
    // typedef struct { int a; } anon_t; and a struct using it by value
    // before its id (dependency order).
    let user = b.next_id();
    let anon_td_target = TypeId(user.0 + 1);
    let anon_t = TypeId(user.0 + 2);
    b.add_struct("td_user", 4, &[("v", anon_t, 0)]);
    b.add_struct("", 4, &[("a", int, 0)]);
    let td = b.add_typedef("anon_t", anon_td_target);
    assert_eq!(td, anon_t);
    // Mutually referencing structs by pointer, and one containing the
    // other by value.
    let node = b.next_id();
    b.add_struct("node_a", 16, &[("b", TypeId(node.0 + 1), 0)]);
    b.add_struct(
        "node_b",
        16,
        &[("pa", TypeId(node.0 + 2), 0), ("v", long, 64)],
    );
    b.add_ptr(node);
    // A union with trailing padding and one that needs aligned.
    b.add_union("upad", 12, &[("a", ch, 0), ("b", u16t, 0)]);
    b.add_union("ubig", 24, &[("a", ch, 0), ("b", int, 0)]);
    // A global function and variable: not part of the header.
    let fp = b.add_func_proto(int, &[("x", int)]);
    b.add_func("some_func", fp, FuncLinkage::Global);
    // A gap too big for unnamed bitfields.
    b.add_struct("big_gap", 4096, &[("a", int, 0), ("z", int, 4000 * 8)]);
    // An anonymous enum nothing uses: written on its own.
    b.add_enum("", 4, false, &[("LONE_A", 3)]);
    b.build()
}

#[test]
fn tricky_layouts_compile_and_match() {
    let bytes = tricky();
    let btf = Btf::parse(&bytes).unwrap();
    let header = dump_c_string(&btf, &DumpOptions::default()).unwrap();
    let (mut asserts, checked) = layout_asserts(&btf);
    assert!(checked >= 15, "{checked}");
    // The suffixed duplicate and the renamed enumerator.
    asserts.push_str(
        "_Static_assert(sizeof(struct dup___2) == 8, \"dup2\");\n\
         _Static_assert(sizeof(struct dup) == 4, \"dup\");\n\
         _Static_assert(RED___2 == 5, \"RED2\");\n\
         _Static_assert(LONE_A == 3, \"lone\");\n\
         _Static_assert(BIG_B == 0xffffffffffffffffULL, \"big\");\n\
         _Static_assert(SMIN < 0, \"smin\");\n\
         _Static_assert(sizeof(enum tiny) == 1, \"tiny\");\n\
         _Static_assert(sizeof(enum wide_small) == 8, \"wide\");\n\
         _Static_assert(sizeof(anon_t) == 4, \"anon_t\");\n\
         _Static_assert(_Alignof(struct pa) == 4, \"pa align\");\n\
         _Static_assert(_Alignof(struct al) == 64, \"al align\");\n",
    );
    let dir = tmp_dir("tricky");
    compile(&dir, &header, &asserts, "clang-19");
    compile(&dir, &header, &asserts, "clang-14");
    for want in [
        "struct packed_s {\n\tchar c;\n\tint i;\n} __attribute__((packed));",
        "} __attribute__((packed, aligned(4)));",
        "} __attribute__((aligned(64)));",
        "\tint (*handlers[4])(int, ...);",
        "\tvoid (*(*get)(void))(long int);",
        "\tconst char *const name;",
        "\tchar (*row)[3];",
        "struct later;",
        "enum tiny : unsigned char {",
        "\tSMIN = (-9223372036854775807LL - 1),",
        "typedef struct {\n\tint a;\n} anon_t;",
    ] {
        assert!(header.contains(want), "missing {want:?} in\n{header}");
    }
    // Dependency order: the typedef comes before its user, node_b before
    // node_a (by value), node_a declared before node_b uses its pointer.
    let pos = |s: &str| {
        header
            .find(s)
            .unwrap_or_else(|| panic!("{s} not in\n{header}"))
    };
    assert!(pos("} anon_t;") < pos("struct td_user {"));
    assert!(pos("struct node_b {") < pos("struct node_a {"));
    assert!(!header.contains("some_func"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn object_btf_dumps_compile() {
    for obj in [
        "kinds.bpf.o",
        "globals.bpf.o",
        "core.bpf.o",
        "kinds.bpf.eb.o",
    ] {
        let elf =
            std::fs::read(format!("{}/tests/data/{obj}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let btf = Btf::parse(common::kernel::section(&elf, ".BTF")).unwrap();
        let header = dump_c_string(&btf, &DumpOptions::default()).unwrap();
        let (asserts, _) = layout_asserts(&btf);
        let dir = tmp_dir(obj);
        compile(&dir, &header, &asserts, "clang-19");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn raw_dump_matches_bpftool() {
    // The raw dumper lives in the library; bpftool is the reference.
    for obj in ["kinds.bpf.o", "globals.bpf.o"] {
        let path = format!("{}/tests/data/{obj}", env!("CARGO_MANIFEST_DIR"));
        let elf = std::fs::read(&path).unwrap();
        let btf = Btf::parse(common::kernel::section(&elf, ".BTF")).unwrap();
        let mut out = Vec::new();
        oxbpf_btf::dump_raw(&btf, &mut out).unwrap();
        common::assert_same_dump(
            &String::from_utf8(out).unwrap(),
            &common::bpftool_dump(&path),
        );
    }
}

#[test]
fn malformed_btf_gives_errors_not_hangs() {
    // A struct containing itself by value, and typedefs in a cycle.
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, IntEncoding::SIGNED);
    let me = b.next_id();
    b.add_struct("self_s", 8, &[("a", int, 0), ("me", me, 32)]);
    let bytes = b.build();
    let btf = Btf::parse(&bytes).unwrap();
    assert!(dump_c_string(&btf, &DumpOptions::default()).is_err());

    let mut b = BtfBuilder::new();
    let t1 = b.next_id();
    b.add_typedef("a_t", TypeId(t1.0 + 1));
    b.add_typedef("b_t", t1);
    let bytes = b.build();
    let btf = Btf::parse(&bytes).unwrap();
    assert!(dump_c_string(&btf, &DumpOptions::default()).is_err());

    // An anonymous struct that contains a pointer to itself: inline
    // definitions would never end.
    let mut b = BtfBuilder::new();
    let s = b.next_id();
    let p = TypeId(s.0 + 1);
    b.add_struct("", 8, &[("next", p, 0)]);
    b.add_ptr(s);
    b.add_typedef("loop_t", s);
    let bytes = b.build();
    let btf = Btf::parse(&bytes).unwrap();
    assert!(dump_c_string(&btf, &DumpOptions::default()).is_err());
}

#[test]
fn split_btf_dump_includes_its_base() {
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, IntEncoding::SIGNED);
    let base_s = b.add_struct("base_s", 8, &[("a", int, 0), ("b", int, 32)]);
    let base_bytes = b.build();
    let base = Btf::parse(&base_bytes).unwrap();
    let mut m = BtfBuilder::new_split(&base);
    let p = m.add_ptr(base_s);
    m.add_struct("mod_s", 16, &[("inner", base_s, 0), ("p", p, 64)]);
    let split = m.build();
    let btf = Btf::parse_split(&split, &base).unwrap();
    let header = dump_c_string(&btf, &DumpOptions::default()).unwrap();
    let pos = |s: &str| {
        header
            .find(s)
            .unwrap_or_else(|| panic!("{s} not in\n{header}"))
    };
    assert!(pos("struct base_s {") < pos("struct mod_s {"));
    let (asserts, checked) = layout_asserts(&btf);
    assert_eq!(checked, 2);
    let dir = tmp_dir("split");
    compile(&dir, &header, &asserts, "clang-19");
    let _ = std::fs::remove_dir_all(&dir);
}
