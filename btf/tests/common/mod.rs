//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod kernel;

use std::fmt::Write;

use oxbpf_btf::{Btf, FuncLinkage, IntEncoding, Type, TypeId, VarLinkage};

/// Renders one type in the format of `bpftool btf dump file F` (raw), so
/// that our reading can be compared with bpftool's line for line.
pub fn bpftool_line(btf: &Btf<'_>, id: TypeId, t: &Type<'_>) -> String {
    let name = |off: u32| -> String {
        match btf.string_at(off) {
            Ok("") => "(anon)".to_string(),
            Ok(s) => s.to_string(),
            Err(e) => format!("<{e}>"),
        }
    };
    let mut s = format!("[{id}] {:#} '{}'", t.kind(), name(t.name_off()));
    match t {
        Type::Void => {}
        Type::Int(i) => {
            let enc = match i.encoding {
                IntEncoding::NONE => "(none)",
                IntEncoding::SIGNED => "SIGNED",
                IntEncoding::CHAR => "CHAR",
                IntEncoding::BOOL => "BOOL",
                _ => "(invalid)",
            };
            write!(
                s,
                " size={} bits_offset={} nr_bits={} encoding={enc}",
                i.size, i.offset, i.bits
            )
            .unwrap();
        }
        Type::Ptr(r)
        | Type::Typedef(r)
        | Type::Volatile(r)
        | Type::Const(r)
        | Type::Restrict(r)
        | Type::TypeTag(r) => write!(s, " type_id={}", r.ty).unwrap(),
        Type::Array(a) => write!(
            s,
            " type_id={} index_type_id={} nr_elems={}",
            a.elem, a.index, a.nelems
        )
        .unwrap(),
        Type::Struct(c) | Type::Union(c) => {
            write!(s, " size={} vlen={}", c.size(), c.len()).unwrap();
            for m in c.members() {
                write!(
                    s,
                    "\n\t'{}' type_id={} bits_offset={}",
                    name(m.name_off),
                    m.ty,
                    m.bit_offset
                )
                .unwrap();
                if m.bitfield_size != 0 {
                    write!(s, " bitfield_size={}", m.bitfield_size).unwrap();
                }
            }
        }
        Type::Enum(e) | Type::Enum64(e) => {
            let enc = if e.is_signed() { "SIGNED" } else { "UNSIGNED" };
            write!(s, " encoding={enc} size={} vlen={}", e.size(), e.len()).unwrap();
            for v in e.values() {
                let suffix = match (e.is_64(), e.is_signed()) {
                    (false, _) => "",
                    (true, true) => "LL",
                    (true, false) => "ULL",
                };
                write!(s, "\n\t'{}' val={}{suffix}", name(v.name_off), v.value()).unwrap();
            }
        }
        Type::Fwd(f) => write!(
            s,
            " fwd_kind={}",
            if f.is_union { "union" } else { "struct" }
        )
        .unwrap(),
        Type::Func(f) => {
            let l = match f.linkage {
                FuncLinkage::Static => "static",
                FuncLinkage::Global => "global",
                FuncLinkage::Extern => "extern",
                FuncLinkage::Other(_) => "(unknown)",
            };
            write!(s, " type_id={} linkage={l}", f.proto).unwrap();
        }
        Type::FuncProto(p) => {
            write!(s, " ret_type_id={} vlen={}", p.ret(), p.len()).unwrap();
            for prm in p.params() {
                write!(s, "\n\t'{}' type_id={}", name(prm.name_off), prm.ty).unwrap();
            }
        }
        Type::Var(v) => {
            let l = match v.linkage {
                VarLinkage::Static => "static",
                VarLinkage::GlobalAllocated => "global",
                VarLinkage::GlobalExtern => "extern",
                VarLinkage::Other(_) => "(unknown)",
            };
            write!(s, " type_id={}, linkage={l}", v.ty).unwrap();
        }
        Type::Datasec(d) => {
            write!(s, " size={} vlen={}", d.size(), d.len()).unwrap();
            for v in d.vars() {
                let vt = btf.type_by_id(v.ty).unwrap();
                write!(
                    s,
                    "\n\ttype_id={} offset={} size={} ({:#} '{}')",
                    v.ty,
                    v.offset,
                    v.size,
                    vt.kind(),
                    name(vt.name_off())
                )
                .unwrap();
            }
        }
        Type::Float(f) => write!(s, " size={}", f.size).unwrap(),
        Type::DeclTag(d) => {
            write!(s, " type_id={} component_idx={}", d.ty, d.component_idx).unwrap()
        }
        _ => s.push_str(" <unknown>"),
    }
    s
}

/// Our rendering of every own type of `btf`, one type per block.
pub fn dump(btf: &Btf<'_>) -> String {
    let mut out = String::new();
    for (id, t) in btf.types() {
        out.push_str(&bpftool_line(btf, id, &t));
        out.push('\n');
    }
    out
}

/// `bpftool btf dump file PATH` output.
pub fn bpftool_dump(path: &str) -> String {
    let out = std::process::Command::new("bpftool")
        .args(["btf", "dump", "file", path])
        .output()
        .expect("bpftool must be installed for this test");
    assert!(
        out.status.success(),
        "bpftool failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Compares two dumps line by line, reporting the first difference.
pub fn assert_same_dump(ours: &str, theirs: &str) {
    let (a, b): (Vec<&str>, Vec<&str>) = (ours.lines().collect(), theirs.lines().collect());
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert_eq!(x, y, "first difference at line {}", i + 1);
    }
    assert_eq!(a.len(), b.len(), "line counts differ");
}
