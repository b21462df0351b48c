//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod kernel;

use oxbpf_btf::{Btf, FuncLinkage, IntEncoding, VarLinkage};

/// Our rendering of every own type of `btf` in bpftool's raw format (the
/// library's [`oxbpf_btf::dump_raw`]), one type per block.
pub fn dump(btf: &Btf<'_>) -> String {
    let mut out = Vec::new();
    oxbpf_btf::dump_raw(btf, &mut out).unwrap();
    String::from_utf8(out).unwrap()
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

/// A BTF with every kind, valid for the kernel. Returns the bytes in
/// byte order `e`.
pub fn all_kinds(e: oxbpf_btf::Endian) -> Vec<u8> {
    use oxbpf_btf::BtfBuilder;
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, IntEncoding::SIGNED); // 1
    let uchar = b.add_int("unsigned char", 1, IntEncoding::CHAR); // 2
    let boolean = b.add_int("_Bool", 1, IntEncoding::BOOL); // 3
    let u64t = b.add_int("long long unsigned int", 8, IntEncoding::NONE); // 4
    let fl = b.add_float("double", 8); // 5
    let fwd = b.add_fwd("later", false); // 6
    let fwd_u = b.add_fwd("later_u", true); // 7
    let p_fwd = b.add_ptr(fwd); // 8
    let arr = b.add_array(uchar, int, 16); // 9
    let en = b.add_enum(
        "color",
        4,
        false,
        &[("RED", 0), ("GREEN", 1), ("BLUE", 0xffff_fff0)],
    ); // 10
    let sen = b.add_enum("sign", 4, true, &[("NEG", -5), ("POS", 5)]); // 11
    let en64 = b.add_enum64(
        "big",
        8,
        false,
        &[("HUGE", 0xfedc_ba98_7654_3210), ("ONE", 1)],
    ); // 12
    let sen64 = b.add_enum64("sbig", 8, true, &[("MIN", i64::MIN as u64)]); // 13
    let s = b.add_struct_bitfields(
        "rec",
        32,
        &[
            ("a", int, 0, 0),
            ("flag", boolean, 32, 1),
            ("bits", int, 33, 7),
            ("name", arr, 64, 0),
            ("next", p_fwd, 192, 0),
        ],
    ); // 14
    let u = b.add_union("val", 8, &[("i", int, 0), ("f", fl, 0), ("u", u64t, 0)]); // 15
    let td = b.add_typedef("rec_t", s); // 16
    let c = b.add_const(td); // 17
    let v = b.add_volatile(c); // 18
    let tt = b.add_type_tag("user", int, false); // 19
    let ptt = b.add_ptr(tt); // 20
    let r = b.add_restrict(ptt); // 21
    let proto = b.add_func_proto(int, &[("r", r), ("v", v), ("", oxbpf_btf::TypeId::VOID)]); // 22
    let f = b.add_func("handle", proto, FuncLinkage::Global); // 23
    let g = b.add_var("global_rec", s, VarLinkage::GlobalAllocated); // 24
    let st = b.add_var("static_u", u, VarLinkage::Static); // 25
    b.add_datasec(".data", 48, &[(g, 0, 32), (st, 40, 8)]); // 26
    b.add_decl_tag("tagged", s, 1, false); // 27
    b.add_decl_tag("fn_tag", f, -1, false); // 28
    b.add_typedef("en_t", en); // 29
    b.add_typedef("sen_t", sen); // 30
    b.add_typedef("en64_t", en64); // 31
    b.add_typedef("sen64_t", sen64); // 32
    b.add_typedef("fwd_u_t", fwd_u); // 33
    b.build_endian(e)
}
