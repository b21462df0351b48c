//! Unit tests on hand-made local/target BTF pairs: every kind, every
//! compatibility rule, patching and poisoning.

use oxbpf_asm::opcode::{alu, class, jmp, mode, size};
use oxbpf_asm::{Insn, Size};
use oxbpf_btf::{Btf, BtfBuilder, CoreRelo, CoreReloKind as K, Endian, IntEncoding, TypeId};

use super::*;

const S: IntEncoding = IntEncoding::SIGNED;
const U: IntEncoding = IntEncoding::NONE;

fn relo(ty: TypeId, access: u32, kind: K) -> CoreRelo {
    CoreRelo {
        insn_off: 0,
        type_id: ty,
        access_str_off: access,
        kind,
    }
}

fn parse(b: &BtfBuilder) -> Btf<'static> {
    Btf::from_vec(b.build()).unwrap()
}

fn resolve(l: &Btf<'_>, t: &Btf<'_>, r: CoreRelo) -> Result<Resolution, Error> {
    let mut c = CandidateCache::new();
    CoreRelocator::new(l, t, &mut c).resolve(&r)
}

/// The target value, or `None` if unresolved; panics on error.
fn val(l: &Btf<'_>, t: &Btf<'_>, ty: TypeId, access: u32, kind: K) -> Option<u64> {
    match resolve(l, t, relo(ty, access, kind)) {
        Ok(r) => r.target_value,
        Err(e) => panic!("{e}"),
    }
}

fn local_val(l: &Btf<'_>, t: &Btf<'_>, ty: TypeId, access: u32, kind: K) -> u64 {
    resolve(l, t, relo(ty, access, kind)).unwrap().local_value
}

/// `struct task { int flags; long state; char comm[16]; int pid; }` and a
/// target where fields moved, changed size and one disappeared.
struct Task {
    local: Btf<'static>,
    target: Btf<'static>,
    task: TypeId,
    /// Access strings: flags, state, comm, comm[3], pid, task[2].pid.
    a: [u32; 6],
}

fn task() -> Task {
    let mut l = BtfBuilder::new();
    let int = l.add_int("int", 4, S);
    let long = l.add_int("long", 8, S);
    let ch = l.add_int("char", 1, S | IntEncoding::CHAR);
    let idx = l.add_int("__ARRAY_SIZE_TYPE__", 4, U);
    let comm = l.add_array(ch, idx, 16);
    let task = l.add_struct(
        "task",
        40,
        &[
            ("flags", int, 0),
            ("state", long, 64),
            ("comm", comm, 128),
            ("pid", int, 256),
        ],
    );
    let a = [
        l.add_string("0:0"),
        l.add_string("0:1"),
        l.add_string("0:2"),
        l.add_string("0:2:3"),
        l.add_string("0:3"),
        l.add_string("2:3"),
    ];
    let mut t = BtfBuilder::new();
    let tint = t.add_int("int", 4, S);
    let u16_ = t.add_int("unsigned short", 2, U);
    let tch = t.add_int("char", 1, S | IntEncoding::CHAR);
    let tidx = t.add_int("__ARRAY_SIZE_TYPE__", 4, U);
    let tcomm = t.add_array(tch, tidx, 32);
    let pid_t = t.add_typedef("pid_t", tint);
    let cpid = t.add_const(pid_t);
    // No `state`; `flags` a u16 at 64; comm[32] at 0; pid (const pid_t) at 100.
    t.add_struct(
        "task",
        104,
        &[("comm", tcomm, 0), ("flags", u16_, 512), ("pid", cpid, 800)],
    );
    Task {
        local: parse(&l),
        target: parse(&t),
        task,
        a,
    }
}

#[test]
fn field_kinds_follow_the_target_layout() {
    let x = task();
    let (l, t, ty) = (&x.local, &x.target, x.task);
    let [flags, state, comm, comm3, pid, pid2] = x.a;
    assert_eq!(val(l, t, ty, flags, K::FieldByteOffset), Some(64));
    assert_eq!(val(l, t, ty, flags, K::FieldByteSize), Some(2));
    assert_eq!(val(l, t, ty, flags, K::FieldSigned), Some(0));
    assert_eq!(local_val(l, t, ty, flags, K::FieldSigned), 1);
    assert_eq!(val(l, t, ty, flags, K::FieldExists), Some(1));
    // Non-bitfields: the shifts extract the whole field (little-endian).
    assert_eq!(val(l, t, ty, flags, K::FieldLshiftU64), Some(48));
    assert_eq!(val(l, t, ty, flags, K::FieldRshiftU64), Some(48));
    assert_eq!(local_val(l, t, ty, flags, K::FieldLshiftU64), 32);
    // Through a const typedef.
    assert_eq!(val(l, t, ty, pid, K::FieldByteOffset), Some(100));
    assert_eq!(val(l, t, ty, pid, K::FieldSigned), Some(1));
    assert_eq!(val(l, t, ty, pid, K::FieldByteSize), Some(4));
    // Arrays: size, element offsets.
    assert_eq!(val(l, t, ty, comm, K::FieldByteSize), Some(32));
    assert_eq!(val(l, t, ty, comm3, K::FieldByteOffset), Some(3));
    assert_eq!(local_val(l, t, ty, comm3, K::FieldByteOffset), 19);
    // The root's own index: task[2].pid.
    assert_eq!(local_val(l, t, ty, pid2, K::FieldByteOffset), 2 * 40 + 32);
    assert_eq!(val(l, t, ty, pid2, K::FieldByteOffset), Some(2 * 104 + 100));
    // Missing field: exists is 0, the rest unresolved.
    assert_eq!(val(l, t, ty, state, K::FieldExists), Some(0));
    for k in [
        K::FieldByteOffset,
        K::FieldByteSize,
        K::FieldSigned,
        K::FieldLshiftU64,
        K::FieldRshiftU64,
    ] {
        assert_eq!(val(l, t, ty, state, k), None, "{k:?}");
    }
}

#[test]
fn flavors_are_ignored_on_both_sides() {
    let mut l = BtfBuilder::new();
    let int = l.add_int("int", 4, S);
    let old = l.add_struct("task___old", 8, &[("pad", int, 0), ("state", int, 32)]);
    let a = l.add_string("0:1");
    let whole = l.add_string("0");
    let l = parse(&l);
    let mut t = BtfBuilder::new();
    let tint = t.add_int("int", 4, S);
    t.add_struct(
        "task",
        12,
        &[("x", tint, 0), ("y", tint, 32), ("state", tint, 64)],
    );
    let t = parse(&t);
    let r = resolve(&l, &t, relo(old, a, K::FieldByteOffset)).unwrap();
    assert_eq!(r.target_value, Some(8));
    assert_eq!(r.root(), "struct task___old");
    assert_eq!(r.spec(), "task___old.state");
    // A target type that is itself flavored is found when no exact name is.
    let mut t2 = BtfBuilder::new();
    let tint = t2.add_int("int", 4, S);
    let tt = t2.add_struct("task___2", 4, &[("state", tint, 0)]);
    let t2 = parse(&t2);
    let r = resolve(&l, &t2, relo(old, whole, K::TypeIdTarget)).unwrap();
    assert_eq!(r.target_value, Some(u64::from(tt.0)));
    assert_eq!(val(&l, &t2, old, a, K::FieldByteOffset), Some(0));
}

#[test]
fn anonymous_members_are_looked_through() {
    // local: struct s { int a; union { int b; struct { int c; int d; }; }; }
    let mut l = BtfBuilder::new();
    let int = l.add_int("int", 4, S);
    let inner = l.add_struct("", 8, &[("c", int, 0), ("d", int, 32)]);
    let un = l.add_union("", 8, &[("b", int, 0), ("", inner, 0)]);
    let s = l.add_struct("s", 12, &[("a", int, 0), ("", un, 32)]);
    let d = l.add_string("0:1:1:1"); // s.d through two anonymous members
    let b = l.add_string("0:1:0");
    let anon_end = l.add_string("0:1");
    let l = parse(&l);
    // target: struct s { struct { int x; int d; }; int a; int b; }
    let mut t = BtfBuilder::new();
    let tint = t.add_int("int", 4, S);
    let tin = t.add_struct("", 8, &[("x", tint, 0), ("d", tint, 32)]);
    t.add_struct("s", 16, &[("", tin, 0), ("a", tint, 64), ("b", tint, 96)]);
    let t = parse(&t);
    let r = resolve(&l, &t, relo(s, d, K::FieldByteOffset)).unwrap();
    assert_eq!((r.local_value, r.target_value), (8, Some(4)));
    assert_eq!(r.spec(), "s.d");
    assert_eq!(val(&l, &t, s, b, K::FieldByteOffset), Some(12));
    // An access that ends at an anonymous member names nothing to look for.
    let e = resolve(&l, &t, relo(s, anon_end, K::FieldByteOffset)).unwrap_err();
    assert!(matches!(e, Error::InvalidLocal { .. }), "{e}");
}

#[test]
fn multi_dimensional_and_flexible_arrays() {
    // local: struct m { int n; int a[3][4]; int flex[]; }
    let mut l = BtfBuilder::new();
    let int = l.add_int("int", 4, S);
    let idx = l.add_int("__ARRAY_SIZE_TYPE__", 4, U);
    let row = l.add_array(int, idx, 4);
    let a = l.add_array(row, idx, 3);
    let flex = l.add_array(int, idx, 0);
    let m = l.add_struct("m", 52, &[("n", int, 0), ("a", a, 32), ("flex", flex, 416)]);
    let a23 = l.add_string("0:1:2:3");
    let a2 = l.add_string("0:1:2");
    let f7 = l.add_string("0:2:7");
    let bad = l.add_string("0:1:3");
    let l = parse(&l);
    // target: struct m { long pad; int a[2][8]; int n; int flex[]; }
    let mut t = BtfBuilder::new();
    let tint = t.add_int("int", 4, S);
    let long = t.add_int("long", 8, S);
    let tidx = t.add_int("__ARRAY_SIZE_TYPE__", 4, U);
    let trow = t.add_array(tint, tidx, 8);
    let ta = t.add_array(trow, tidx, 2);
    let tflex = t.add_array(tint, tidx, 0);
    t.add_struct(
        "m",
        76,
        &[
            ("pad", long, 0),
            ("a", ta, 64),
            ("n", tint, 576),
            ("flex", tflex, 608),
        ],
    );
    let t = parse(&t);
    assert_eq!(
        local_val(&l, &t, m, a23, K::FieldByteOffset),
        4 + (2 * 4 + 3) * 4
    );
    // a[2] is out of the target's 2 rows: no match.
    assert_eq!(val(&l, &t, m, a23, K::FieldByteOffset), None);
    assert_eq!(val(&l, &t, m, a23, K::FieldExists), Some(0));
    assert_eq!(val(&l, &t, m, a2, K::FieldExists), Some(0));
    // A flexible array takes any index, locally and on the target.
    assert_eq!(local_val(&l, &t, m, f7, K::FieldByteOffset), 52 + 28);
    assert_eq!(val(&l, &t, m, f7, K::FieldByteOffset), Some(76 + 28));
    // Locally out of range: the record is wrong.
    let e = resolve(&l, &t, relo(m, bad, K::FieldByteOffset)).unwrap_err();
    assert!(e.to_string().contains("element 3"), "{e}");
    // Array element types must be compatible: int rows vs pointer rows.
    let mut t2 = BtfBuilder::new();
    let tint = t2.add_int("int", 4, S);
    let p = t2.add_ptr(tint);
    let tidx = t2.add_int("__ARRAY_SIZE_TYPE__", 4, U);
    let prow = t2.add_array(p, tidx, 4);
    let pa = t2.add_array(prow, tidx, 3);
    t2.add_struct("m", 100, &[("a", pa, 0)]);
    let t2 = parse(&t2);
    assert_eq!(val(&l, &t2, m, a23, K::FieldExists), Some(0));
}

/// A struct with bitfields `x:3` (u32), `y:5` (signed int), `z:40` (u64)
/// in either BTF encoding.
fn bitfields(b: &mut BtfBuilder, kind_flag: bool, shift: u32) -> TypeId {
    let u32_ = b.add_int("unsigned int", 4, U);
    let i32_ = b.add_int("int", 4, S);
    let u64_ = b.add_int("unsigned long long", 8, U);
    let long = b.add_int("long", 8, S);
    if kind_flag {
        b.add_struct_bitfields(
            "bits",
            24,
            &[
                ("pad", long, 0, 0),
                ("x", u32_, 64 + shift, 3),
                ("y", i32_, 67 + shift, 5),
                ("z", u64_, 128, 40),
            ],
        )
    } else {
        // The old encoding: bitfield INTs whose offset/bits say it.
        let x = b.add_int_bits("unsigned int", 4, U, 0, 3);
        let y = b.add_int_bits("int", 4, S, 0, 5);
        let z = b.add_int_bits("unsigned long long", 8, U, 0, 40);
        b.add_struct(
            "bits",
            24,
            &[
                ("pad", long, 0),
                ("x", x, 64 + shift),
                ("y", y, 67 + shift),
                ("z", z, 128),
            ],
        )
    }
}

#[test]
fn bitfields_in_both_encodings() {
    for (lkf, tkf) in [(true, true), (false, false), (true, false), (false, true)] {
        let mut l = BtfBuilder::new();
        let s = bitfields(&mut l, lkf, 0);
        let x = l.add_string("0:1");
        let y = l.add_string("0:2");
        let z = l.add_string("0:3");
        let l = parse(&l);
        let mut t = BtfBuilder::new();
        bitfields(&mut t, tkf, 13);
        let t = parse(&t);
        let v = |a, k| val(&l, &t, s, a, k);
        // x: target bits 77..80, container u32 at byte 8.
        assert_eq!(v(x, K::FieldByteOffset), Some(8));
        assert_eq!(v(x, K::FieldByteSize), Some(4));
        assert_eq!(v(x, K::FieldLshiftU64), Some(64 - (13 + 3)));
        assert_eq!(v(x, K::FieldRshiftU64), Some(61));
        assert_eq!(v(x, K::FieldSigned), Some(0));
        assert_eq!(local_val(&l, &t, s, x, K::FieldLshiftU64), 61);
        // y: signed, bits 80..85.
        assert_eq!(v(y, K::FieldSigned), Some(1));
        assert_eq!(v(y, K::FieldLshiftU64), Some(64 - (16 + 5)));
        assert_eq!(v(y, K::FieldRshiftU64), Some(59));
        // z: 40 bits of a u64 at bit 128.
        assert_eq!(v(z, K::FieldByteOffset), Some(16));
        assert_eq!(v(z, K::FieldByteSize), Some(8));
        assert_eq!(v(z, K::FieldLshiftU64), Some(24));
        assert_eq!(v(z, K::FieldRshiftU64), Some(24));
        let r = resolve(&l, &t, relo(s, y, K::FieldByteOffset)).unwrap();
        let bf = r.field.unwrap().bitfield.unwrap();
        assert_eq!((bf.bit_offset, bf.bits), (67, 5), "{lkf} {tkf}");
    }
}

#[test]
fn bitfield_containers_grow_to_hold_the_field() {
    // A u8 bitfield straddling a byte boundary needs a 2-byte container,
    // and a u32 one straddling a 4-byte boundary an 8-byte one; one that
    // straddles an 8-byte boundary fits none.
    let mut t = BtfBuilder::new();
    let u8_ = t.add_int("unsigned char", 1, U);
    let u32_ = t.add_int("unsigned int", 4, U);
    t.add_struct_bitfields(
        "s",
        16,
        &[("a", u8_, 6, 4), ("b", u32_, 28, 8), ("c", u32_, 60, 8)],
    );
    let t = parse(&t);
    let mut l = BtfBuilder::new();
    let lu8 = l.add_int("unsigned char", 1, U);
    let lu32 = l.add_int("unsigned int", 4, U);
    let s = l.add_struct_bitfields(
        "s",
        8,
        &[("a", lu8, 0, 4), ("b", lu32, 32, 8), ("c", lu32, 40, 8)],
    );
    let a = l.add_string("0:0");
    let b = l.add_string("0:1");
    let c = l.add_string("0:2");
    let l = parse(&l);
    assert_eq!(val(&l, &t, s, a, K::FieldByteOffset), Some(0));
    assert_eq!(val(&l, &t, s, a, K::FieldByteSize), Some(2));
    assert_eq!(val(&l, &t, s, a, K::FieldLshiftU64), Some(64 - 10));
    assert_eq!(val(&l, &t, s, b, K::FieldByteOffset), Some(0));
    assert_eq!(val(&l, &t, s, b, K::FieldByteSize), Some(8));
    assert_eq!(val(&l, &t, s, b, K::FieldLshiftU64), Some(64 - 36));
    let e = resolve(&l, &t, relo(s, c, K::FieldByteSize)).unwrap_err();
    assert!(matches!(e, Error::InvalidTarget { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("does not fit an aligned 8-byte word"),
        "{e}"
    );
}

#[test]
fn big_endian_shifts() {
    let mut l = BtfBuilder::new();
    let s = bitfields(&mut l, true, 0);
    let x = l.add_string("0:1");
    let pad = l.add_string("0:0");
    let l = Btf::from_vec(l.build_endian(Endian::Big)).unwrap();
    let mut t = BtfBuilder::new();
    bitfields(&mut t, true, 13);
    let t = Btf::from_vec(t.build_endian(Endian::Big)).unwrap();
    // Container u32 at byte 8; x at bit 13 of it, from the most
    // significant end: the register holds the container in its low half.
    assert_eq!(val(&l, &t, s, x, K::FieldLshiftU64), Some(32 + 13));
    assert_eq!(val(&l, &t, s, x, K::FieldRshiftU64), Some(61));
    assert_eq!(local_val(&l, &t, s, x, K::FieldLshiftU64), 32);
    assert_eq!(val(&l, &t, s, pad, K::FieldLshiftU64), Some(0));
}

#[test]
fn field_compatibility_rules() {
    // local: struct c { int i; int *p; struct x s; enum e en; float f; u8 arr[2]; }
    let mut l = BtfBuilder::new();
    let int = l.add_int("int", 4, S);
    let p = l.add_ptr(int);
    let x = l.add_struct("x", 4, &[("v", int, 0)]);
    let en = l.add_enum("e", 4, false, &[("A", 0)]);
    let f = l.add_float("float", 4);
    let u8_ = l.add_int("unsigned char", 1, U);
    let idx = l.add_int("__ARRAY_SIZE_TYPE__", 4, U);
    let arr = l.add_array(u8_, idx, 2);
    let c = l.add_struct(
        "c",
        32,
        &[
            ("i", int, 0),
            ("p", p, 64),
            ("s", x, 128),
            ("en", en, 160),
            ("f", f, 192),
            ("arr", arr, 224),
        ],
    );
    let acc: Vec<u32> = (0..6).map(|i| l.add_string(&format!("0:{i}"))).collect();
    let l = parse(&l);
    let check = |t: &Btf<'_>, want: [u64; 6]| {
        for (i, &a) in acc.iter().enumerate() {
            assert_eq!(
                val(&l, t, c, a, K::FieldExists),
                Some(want[i]),
                "member {i}"
            );
        }
    };
    // Compatible changes: int -> long long (unsigned), pointer to another
    // type, struct -> union, enum64 of the same name, double, a longer
    // array of another integer.
    let mut t = BtfBuilder::new();
    let ull = t.add_int("unsigned long long", 8, U);
    let chr = t.add_int("char", 1, S);
    let pc = t.add_ptr(chr);
    let ux = t.add_union("x___2", 8, &[("w", ull, 0)]);
    let e64 = t.add_enum64("e", 8, false, &[("A", 0)]);
    let dbl = t.add_float("double", 8);
    let u16_ = t.add_int("unsigned short", 2, U);
    let tidx = t.add_int("__ARRAY_SIZE_TYPE__", 4, U);
    let tarr = t.add_array(u16_, tidx, 9);
    t.add_struct(
        "c",
        64,
        &[
            ("i", ull, 0),
            ("p", pc, 64),
            ("s", ux, 128),
            ("en", e64, 192),
            ("f", dbl, 256),
            ("arr", tarr, 320),
        ],
    );
    check(&parse(&t), [1; 6]);
    // Incompatible: int -> pointer, pointer -> int, struct -> int,
    // enum of another name, float -> int, array -> int.
    let mut t = BtfBuilder::new();
    let tint = t.add_int("int", 4, S);
    let tp = t.add_ptr(tint);
    let other = t.add_enum("other", 4, false, &[("A", 0)]);
    t.add_struct(
        "c",
        64,
        &[
            ("i", tp, 0),
            ("p", tint, 64),
            ("s", tint, 128),
            ("en", other, 160),
            ("f", tint, 192),
            ("arr", tint, 224),
        ],
    );
    check(&parse(&t), [0; 6]);
    // An anonymous enum is compatible with any enum.
    let mut t = BtfBuilder::new();
    let anon = t.add_enum("", 4, false, &[("A", 0)]);
    t.add_struct("c", 64, &[("en", anon, 0)]);
    assert_eq!(val(&l, &parse(&t), c, acc[3], K::FieldExists), Some(1));
}

#[test]
fn typedef_roots_and_modifiers() {
    // typedef struct { int a; } foo_t; relocations recorded on the typedef.
    let mut l = BtfBuilder::new();
    let int = l.add_int("int", 4, S);
    let anon = l.add_struct("", 4, &[("a", int, 0)]);
    let td = l.add_typedef("foo_t", anon);
    let cst = l.add_const(td);
    let a = l.add_string("0:0");
    let zero = l.add_string("0");
    let l = parse(&l);
    let mut t = BtfBuilder::new();
    let tint = t.add_int("int", 4, S);
    let tanon = t.add_struct("", 8, &[("b", tint, 0), ("a", tint, 32)]);
    let ttd = t.add_typedef("foo_t", tanon);
    let t = parse(&t);
    assert_eq!(val(&l, &t, td, a, K::FieldByteOffset), Some(4));
    assert_eq!(val(&l, &t, cst, a, K::FieldByteOffset), Some(4));
    assert_eq!(val(&l, &t, td, zero, K::TypeSize), Some(8));
    assert_eq!(
        val(&l, &t, td, zero, K::TypeIdTarget),
        Some(u64::from(ttd.0))
    );
    // The anonymous struct itself has no name to look for.
    let e = resolve(&l, &t, relo(anon, zero, K::TypeExists)).unwrap_err();
    assert!(e.to_string().contains("no name"), "{e}");
    // ...but its local id needs none.
    assert_eq!(
        val(&l, &t, anon, zero, K::TypeIdLocal),
        Some(u64::from(anon.0))
    );
}

#[test]
fn type_kinds_and_compatibility() {
    let mut l = BtfBuilder::new();
    let int = l.add_int("int", 4, S);
    let s = l.add_struct("s", 4, &[("a", int, 0)]);
    let u = l.add_union("u", 4, &[("a", int, 0)]);
    let e = l.add_enum("e", 4, false, &[("A", 1)]);
    let ps = l.add_ptr(s);
    let pps = l.add_typedef("ps_t", ps);
    let fp = l.add_func_proto(int, &[("x", int), ("y", ps)]);
    let pfp = l.add_ptr(fp);
    let cb = l.add_typedef("cb_t", pfp);
    let idx = l.add_int("__ARRAY_SIZE_TYPE__", 4, U);
    let arr = l.add_array(int, idx, 4);
    let arr_t = l.add_typedef("arr_t", arr);
    let zero = l.add_string("0");
    let l = parse(&l);

    let mut t = BtfBuilder::new();
    let tlong = t.add_int("long", 8, S);
    let ts = t.add_struct("s", 16, &[("b", tlong, 0)]);
    // `u` is a struct in the target: not a candidate for a local union.
    t.add_struct("u", 4, &[("a", tlong, 0)]);
    let te = t.add_enum64("e", 8, false, &[("A", 1)]);
    let tps = t.add_ptr(ts);
    t.add_typedef("ps_t", tps);
    let tfp = t.add_func_proto(tlong, &[("x", tlong), ("y", tps)]);
    let tpfp = t.add_ptr(tfp);
    t.add_typedef("cb_t", tpfp);
    let tidx = t.add_int("__ARRAY_SIZE_TYPE__", 4, U);
    let tarr = t.add_array(tlong, tidx, 2);
    t.add_typedef("arr_t", tarr);
    let t = parse(&t);

    let v = |ty, k| val(&l, &t, ty, zero, k);
    assert_eq!(v(s, K::TypeExists), Some(1));
    assert_eq!(v(s, K::TypeSize), Some(16));
    assert_eq!(v(s, K::TypeIdTarget), Some(u64::from(ts.0)));
    assert_eq!(local_val(&l, &t, s, zero, K::TypeIdTarget), u64::from(s.0));
    assert_eq!(v(s, K::TypeIdLocal), Some(u64::from(s.0)));
    assert_eq!(v(u, K::TypeExists), Some(0));
    assert_eq!(v(u, K::TypeSize), Some(0), "no type: size 0");
    assert_eq!(v(u, K::TypeIdTarget), Some(0), "no type: id 0");
    assert_eq!(v(u, K::TypeMatches), Some(0));
    assert_eq!(v(e, K::TypeExists), Some(1), "enum64 stands for enum");
    assert_eq!(v(e, K::TypeSize), Some(8));
    assert_eq!(v(e, K::TypeIdTarget), Some(u64::from(te.0)));
    assert_eq!(v(pps, K::TypeExists), Some(1));
    assert_eq!(v(pps, K::TypeSize), Some(8));
    assert_eq!(
        v(cb, K::TypeExists),
        Some(1),
        "same arity, compatible types"
    );
    assert_eq!(v(arr_t, K::TypeExists), Some(1), "array lengths may differ");
    assert_eq!(v(arr_t, K::TypeSize), Some(16));

    // Function prototypes of another arity, pointers to other kinds.
    let mut t = BtfBuilder::new();
    let tint = t.add_int("int", 4, S);
    let tfp = t.add_func_proto(tint, &[("x", tint)]);
    let tpfp = t.add_ptr(tfp);
    t.add_typedef("cb_t", tpfp);
    let tpi = t.add_ptr(tint);
    t.add_typedef("ps_t", tpi);
    let t = parse(&t);
    assert_eq!(val(&l, &t, cb, zero, K::TypeExists), Some(0));
    assert_eq!(val(&l, &t, pps, zero, K::TypeExists), Some(0));
    // A type access string is "0".
    let mut l2 = BtfBuilder::from_btf(&l).unwrap();
    let one = l2.add_string("1");
    let l2 = parse(&l2);
    let e = resolve(&l2, &t, relo(s, one, K::TypeExists)).unwrap_err();
    assert!(matches!(e, Error::InvalidLocal { .. }), "{e}");
}

#[test]
fn type_matches_relation() {
    let mut l = BtfBuilder::new();
    let int = l.add_int("int", 4, S);
    let uint = l.add_int("unsigned int", 4, U);
    let node = l.add_fwd("node", false);
    let pnode = l.add_ptr(node);
    let inner = l.add_struct("inner", 4, &[("v", int, 0)]);
    let e = l.add_enum("e", 4, false, &[("B", 2), ("A", 1)]);
    let fp = l.add_func_proto(int, &[("x", uint)]);
    let pfp = l.add_ptr(fp);
    let idx = l.add_int("__ARRAY_SIZE_TYPE__", 4, U);
    let arr = l.add_array(int, idx, 2);
    let anon = l.add_union("", 4, &[("q", int, 0)]);
    let m = l.add_struct(
        "m",
        48,
        &[
            ("next", pnode, 0),
            ("in", inner, 64),
            ("e", e, 96),
            ("cb", pfp, 128),
            ("arr", arr, 192),
            ("", anon, 256),
        ],
    );
    let zero = l.add_string("0");
    let l = parse(&l);

    // The same layout with other member order and offsets, extra members,
    // the node a full struct behind its pointer, extra enumerators.
    #[allow(clippy::type_complexity)]
    fn good(
        t: &mut BtfBuilder,
    ) -> (
        TypeId,
        TypeId,
        TypeId,
        TypeId,
        TypeId,
        TypeId,
        TypeId,
        TypeId,
    ) {
        let tint = t.add_int("int", 4, S);
        let tuint = t.add_int("unsigned int", 4, U);
        let tnode = t.add_struct("node", 4, &[("whatever", tint, 0)]);
        let tp = t.add_ptr(tnode);
        let tin = t.add_struct("inner", 8, &[("pad", tint, 0), ("v", tint, 32)]);
        let te = t.add_enum64("e", 4, false, &[("A", 1), ("C", 3), ("B", 2)]);
        let tfp = t.add_func_proto(tint, &[("y", tuint)]);
        let tpfp = t.add_ptr(tfp);
        let tidx = t.add_int("__ARRAY_SIZE_TYPE__", 4, U);
        let tarr = t.add_array(tint, tidx, 7);
        let tanon = t.add_union("", 4, &[("q", tint, 0)]);
        (tint, tuint, tp, tin, te, tpfp, tarr, tanon)
    }
    let mut t = BtfBuilder::new();
    let (tint, _, tp, tin, te, tpfp, tarr, tanon) = good(&mut t);
    t.add_struct(
        "m",
        64,
        &[
            ("extra", tint, 0),
            ("", tanon, 32),
            ("cb", tpfp, 64),
            ("arr", tarr, 128),
            ("e", te, 384),
            ("in", tin, 416),
            ("next", tp, 448),
        ],
    );
    let t = parse(&t);
    assert_eq!(val(&l, &t, m, zero, K::TypeMatches), Some(1));
    assert_eq!(val(&l, &t, m, zero, K::TypeExists), Some(1));

    // Each of these breaks the match (but not existence).
    type Change = fn(&mut BtfBuilder) -> TypeId;
    let changes: [(&str, Change); 7] = [
        ("a missing member", |t| {
            let (_, _, tp, tin, te, tpfp, tarr, tanon) = good(t);
            // `arr` renamed.
            t.add_struct(
                "m",
                64,
                &[
                    ("next", tp, 0),
                    ("in", tin, 64),
                    ("e", te, 96),
                    ("cb", tpfp, 128),
                    ("arr2", tarr, 192),
                    ("", tanon, 256),
                ],
            )
        }),
        ("an int of another sign", |t| {
            let (_, tuint, tp, _, te, tpfp, tarr, tanon) = good(t);
            let tin = t.add_struct("inner", 4, &[("v", tuint, 0)]);
            t.add_struct(
                "m",
                64,
                &[
                    ("next", tp, 0),
                    ("in", tin, 64),
                    ("e", te, 96),
                    ("cb", tpfp, 128),
                    ("arr", tarr, 192),
                    ("", tanon, 256),
                ],
            )
        }),
        ("an enum of another size", |t| {
            let (_, _, tp, tin, _, tpfp, tarr, tanon) = good(t);
            let te = t.add_enum64("e", 8, false, &[("A", 1), ("B", 2)]);
            t.add_struct(
                "m",
                64,
                &[
                    ("next", tp, 0),
                    ("in", tin, 64),
                    ("e", te, 96),
                    ("cb", tpfp, 128),
                    ("arr", tarr, 192),
                    ("", tanon, 256),
                ],
            )
        }),
        ("a missing enumerator", |t| {
            let (_, _, tp, tin, _, tpfp, tarr, tanon) = good(t);
            let te = t.add_enum("e", 4, false, &[("A", 1)]);
            t.add_struct(
                "m",
                64,
                &[
                    ("next", tp, 0),
                    ("in", tin, 64),
                    ("e", te, 96),
                    ("cb", tpfp, 128),
                    ("arr", tarr, 192),
                    ("", tanon, 256),
                ],
            )
        }),
        ("a pointer to another name", |t| {
            let (tint, _, _, tin, te, tpfp, tarr, tanon) = good(t);
            let other = t.add_struct("other", 4, &[("whatever", tint, 0)]);
            let tp = t.add_ptr(other);
            t.add_struct(
                "m",
                64,
                &[
                    ("next", tp, 0),
                    ("in", tin, 64),
                    ("e", te, 96),
                    ("cb", tpfp, 128),
                    ("arr", tarr, 192),
                    ("", tanon, 256),
                ],
            )
        }),
        ("a callback of another arity", |t| {
            let (tint, tuint, tp, tin, te, _, tarr, tanon) = good(t);
            let tfp = t.add_func_proto(tint, &[("y", tuint), ("z", tuint)]);
            let tpfp = t.add_ptr(tfp);
            t.add_struct(
                "m",
                64,
                &[
                    ("next", tp, 0),
                    ("in", tin, 64),
                    ("e", te, 96),
                    ("cb", tpfp, 128),
                    ("arr", tarr, 192),
                    ("", tanon, 256),
                ],
            )
        }),
        ("an anonymous member that differs", |t| {
            let (_, tuint, tp, tin, te, tpfp, tarr, _) = good(t);
            let tanon = t.add_union("", 4, &[("q", tuint, 0)]);
            t.add_struct(
                "m",
                64,
                &[
                    ("next", tp, 0),
                    ("in", tin, 64),
                    ("e", te, 96),
                    ("cb", tpfp, 128),
                    ("arr", tarr, 192),
                    ("", tanon, 256),
                ],
            )
        }),
    ];
    for (what, change) in changes {
        let mut t = BtfBuilder::new();
        change(&mut t);
        let t = parse(&t);
        assert_eq!(val(&l, &t, m, zero, K::TypeMatches), Some(0), "{what}");
        assert_eq!(val(&l, &t, m, zero, K::TypeExists), Some(1), "{what}");
    }
}

#[test]
fn type_matches_scalars_and_forward_declarations() {
    let mut l = BtfBuilder::new();
    let u32_ = l.add_int("u32_base", 4, U);
    let td = l.add_typedef("u32", u32_);
    let f = l.add_fwd("opaque", false);
    let ft = l.add_typedef("opaque_t", f);
    let zero = l.add_string("0");
    let l = parse(&l);
    let mut t = BtfBuilder::new();
    let tu32 = t.add_int("unsigned int", 4, U);
    t.add_typedef("u32", tu32);
    let ts = t.add_struct("opaque", 8, &[]);
    t.add_typedef("opaque_t", ts);
    let t = parse(&t);
    assert_eq!(val(&l, &t, td, zero, K::TypeMatches), Some(1));
    assert_eq!(
        val(&l, &t, ft, zero, K::TypeMatches),
        Some(1),
        "fwd matches struct"
    );
    let mut t = BtfBuilder::new();
    let ts32 = t.add_int("int", 4, S);
    t.add_typedef("u32", ts32);
    let tu = t.add_union("opaque", 8, &[]);
    t.add_typedef("opaque_t", tu);
    let t = parse(&t);
    assert_eq!(
        val(&l, &t, td, zero, K::TypeMatches),
        Some(0),
        "sign differs"
    );
    assert_eq!(
        val(&l, &t, ft, zero, K::TypeMatches),
        Some(0),
        "struct fwd vs union"
    );
}

#[test]
fn enum_kinds_32_and_64_bit_signed_and_flavored() {
    let mut l = BtfBuilder::new();
    let e = l.add_enum(
        "state",
        4,
        true,
        &[("RUNNING", 0), ("DEAD", -4), ("GONE___old", 9)],
    );
    let big = l.add_enum64("ctx", 8, false, &[("USER", 0xffff_ffff_ffff_fe00)]);
    let a: Vec<u32> = ["0", "1", "2", "3"]
        .iter()
        .map(|s| l.add_string(s))
        .collect();
    let l = parse(&l);
    let mut t = BtfBuilder::new();
    let te = t.add_enum("state", 4, true, &[("DEAD", -5), ("RUNNING", 7)]);
    t.add_enum("ctx", 4, false, &[("USER", 0xffff_fe00)]);
    let t = parse(&t);
    let v = |ty, i: usize, k| val(&l, &t, ty, a[i], k);
    assert_eq!(v(e, 0, K::EnumvalExists), Some(1));
    assert_eq!(v(e, 0, K::EnumvalValue), Some(7));
    assert_eq!(
        v(e, 1, K::EnumvalValue),
        Some(-5i64 as u64),
        "sign-extended"
    );
    assert_eq!(local_val(&l, &t, e, a[1], K::EnumvalValue), -4i64 as u64);
    assert_eq!(v(e, 2, K::EnumvalExists), Some(0));
    assert_eq!(v(e, 2, K::EnumvalValue), None, "unresolved");
    // Local enum64, target 32-bit enum: zero-extended unsigned.
    assert_eq!(v(big, 0, K::EnumvalValue), Some(0xffff_fe00));
    assert_eq!(
        local_val(&l, &t, big, a[0], K::EnumvalValue),
        0xffff_ffff_ffff_fe00
    );
    let r = resolve(&l, &t, relo(e, a[1], K::EnumvalValue)).unwrap();
    assert_eq!(r.spec(), "state::DEAD");
    assert_eq!(r.target_type, Some(TargetType { btf: 0, id: te }));
    // Locally out of range.
    let err = resolve(&l, &t, relo(e, a[3], K::EnumvalValue)).unwrap_err();
    assert!(err.to_string().contains("enumerator 3"), "{err}");
    // A 32-bit target enum from before signed BTF enums (no flag): the
    // local enum's signedness applies.
    let mut t3 = BtfBuilder::new();
    t3.add_enum("state", 4, false, &[("DEAD", 0xffff_fffc)]);
    let t3 = parse(&t3);
    assert_eq!(val(&l, &t3, e, a[1], K::EnumvalValue), Some(-4i64 as u64));
    assert_eq!(val(&l, &t3, big, a[0], K::EnumvalExists), Some(0));
    // A flavored enumerator name finds the plain one.
    let mut t2 = BtfBuilder::new();
    t2.add_enum("state", 4, true, &[("GONE", 11)]);
    assert_eq!(val(&l, &parse(&t2), e, a[2], K::EnumvalValue), Some(11));
}

#[test]
fn ambiguous_candidates_are_an_error_naming_them() {
    let mut l = BtfBuilder::new();
    let int = l.add_int("int", 4, S);
    let s = l.add_struct("s", 8, &[("a", int, 0), ("b", int, 32)]);
    let b = l.add_string("0:1");
    let a = l.add_string("0:0");
    let zero = l.add_string("0");
    let l = parse(&l);
    let mut t = BtfBuilder::new();
    let tint = t.add_int("int", 4, S);
    let s1 = t.add_struct("s", 8, &[("a", tint, 0), ("b", tint, 32)]);
    let s2 = t.add_struct("s", 12, &[("a", tint, 0), ("c", tint, 32), ("b", tint, 64)]);
    let t = parse(&t);
    // Both have `a` at 0: they agree.
    let r = resolve(&l, &t, relo(s, a, K::FieldByteOffset)).unwrap();
    assert_eq!((r.target_value, r.candidates), (Some(0), 2));
    assert_eq!(r.target_type, Some(TargetType { btf: 0, id: s1 }));
    assert_eq!(val(&l, &t, s, b, K::FieldExists), Some(1));
    let e = resolve(&l, &t, relo(s, b, K::FieldByteOffset)).unwrap_err();
    let Error::Ambiguous { candidates, .. } = &e else {
        panic!("{e}");
    };
    assert_eq!(
        candidates
            .iter()
            .map(|c| (c.id, c.value))
            .collect::<Vec<_>>(),
        [(s1, 4), (s2, 8)]
    );
    assert_eq!(
        e.to_string(),
        format!(
            "CO-RE relocation (byte_off, type [{s}], access \"0:1\"): ambiguous: 2 candidates \
             disagree: [{s1}] struct s gives 4; [{s2}] struct s gives 8"
        )
    );
    assert!(matches!(
        resolve(&l, &t, relo(s, zero, K::TypeSize)),
        Err(Error::Ambiguous { .. })
    ));
    assert!(matches!(
        resolve(&l, &t, relo(s, zero, K::TypeIdTarget)),
        Err(Error::Ambiguous { .. })
    ));
}

#[test]
fn malformed_records_are_errors_saying_where() {
    let x = task();
    let (l, t) = (&x.local, &x.target);
    let mut b = BtfBuilder::from_btf(l).unwrap();
    let bad = b.add_string("0:x");
    let deep = b.add_string("0:9");
    let through = b.add_string("0:0:1");
    let l2 = parse(&b);
    let e = resolve(&l2, t, relo(x.task, bad, K::FieldByteOffset)).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "CO-RE relocation (byte_off, type [{}], access \"0:x\"): malformed access string: \
             expected a digit or ':' at byte 2",
            x.task
        )
    );
    let e = resolve(&l2, t, relo(x.task, deep, K::FieldByteOffset)).unwrap_err();
    assert!(e.to_string().contains("member 9 of"), "{e}");
    let e = resolve(&l2, t, relo(x.task, through, K::FieldByteOffset)).unwrap_err();
    assert!(
        e.to_string().contains("neither struct, union nor array"),
        "{e}"
    );
    let e = resolve(&l2, t, relo(x.task, 999_999, K::FieldByteOffset)).unwrap_err();
    assert!(matches!(e, Error::LocalBtf { .. }), "{e}");
    let e = resolve(&l2, t, relo(TypeId(999), x.a[0], K::FieldByteOffset)).unwrap_err();
    assert!(matches!(e, Error::LocalBtf { .. }), "{e}");
    let e = resolve(&l2, t, relo(x.task, x.a[0], K::Other(77))).unwrap_err();
    assert!(matches!(e, Error::UnknownKind { .. }), "{e}");
    assert!(e.to_string().contains("(unknown, type"), "{e}");
}

// ---- patching ----------------------------------------------------------

/// Resolves `r` and applies it to `insns[0]`.
fn apply(l: &Btf<'_>, t: &Btf<'_>, r: CoreRelo, insns: &mut [Insn]) -> Result<Vec<Applied>, Error> {
    let mut c = CandidateCache::new();
    CoreRelocator::new(l, t, &mut c).relocate(insns, [(0, r)])
}

#[test]
fn patches_alu_immediates_offsets_and_ld_imm64() {
    let x = task();
    let (l, t, ty) = (&x.local, &x.target, x.task);
    let pid = x.a[4];
    // mov64, add, mov32.
    for insn in [
        Insn::mov64_imm(1, 32),
        Insn::alu64_imm(alu::ADD, 1, 32),
        Insn::mov32_imm(1, 32),
    ] {
        let mut p = vec![insn, Insn::exit()];
        let a = apply(l, t, relo(ty, pid, K::FieldByteOffset), &mut p).unwrap();
        assert_eq!(p[0].imm, 100);
        assert_eq!(a[0].patch, Patch::Imm { old: 32, new: 100 });
    }
    // ld_imm64: both halves.
    let mut p = Insn::ld_imm64(2, 0, 32).to_vec();
    p.push(Insn::exit());
    let a = apply(l, t, relo(ty, pid, K::FieldByteOffset), &mut p).unwrap();
    assert_eq!((p[0].imm, p[1].imm), (100, 0));
    assert_eq!(a[0].patch, Patch::Imm64 { old: 32, new: 100 });
    // LDX, ST, STX offsets.
    for insn in [
        Insn::ldx_mem(size::W, 0, 1, 32),
        Insn::st_mem(size::W, 1, 32, 7),
        Insn::stx_mem(size::W, 1, 2, 32),
    ] {
        let mut p = vec![insn];
        let a = apply(l, t, relo(ty, pid, K::FieldByteOffset), &mut p).unwrap();
        assert_eq!(p[0].off, 100);
        assert_eq!(
            a[0].patch,
            Patch::Off {
                old: 32,
                new: 100,
                size: None
            }
        );
        assert_eq!(p[0].code, insn.code);
    }
}

#[test]
fn loads_and_stores_follow_the_field_size() {
    // local: struct f { int i; unsigned u; int partial; }; target: i is
    // long, u is unsigned short, partial is long.
    let mut l = BtfBuilder::new();
    let int = l.add_int("int", 4, S);
    let uint = l.add_int("unsigned int", 4, U);
    let f = l.add_struct("f", 12, &[("i", int, 0), ("u", uint, 32), ("big", int, 64)]);
    let (i, u, big) = (
        l.add_string("0:0"),
        l.add_string("0:1"),
        l.add_string("0:2"),
    );
    let l = parse(&l);
    let mut t = BtfBuilder::new();
    let long = t.add_int("long", 8, S);
    let u16_ = t.add_int("unsigned short", 2, U);
    let i128_ = t.add_int("__int128", 16, S);
    t.add_struct(
        "f",
        48,
        &[("i", long, 0), ("u", u16_, 64), ("big", i128_, 128)],
    );
    let t = parse(&t);
    let one = |r: CoreRelo, insn: Insn| {
        let mut p = vec![insn];
        apply(&l, &t, r, &mut p).map(|a| (p[0], a[0].patch))
    };
    let off = K::FieldByteOffset;
    // Signed int -> long: a zero-extending u32 load becomes a u64 load.
    let (p, patch) = one(relo(f, i, off), Insn::ldx_mem(size::W, 0, 1, 0)).unwrap();
    assert_eq!(p.code, class::LDX | mode::MEM | size::DW);
    assert_eq!(
        patch,
        Patch::Off {
            old: 0,
            new: 0,
            size: Some((Size::W, Size::DW))
        }
    );
    // A sign-extending load of 8 bytes is a plain load.
    let (p, _) = one(relo(f, i, off), Insn::ldx_memsx(size::W, 0, 1, 0)).unwrap();
    assert_eq!(p.code, class::LDX | mode::MEM | size::DW);
    // Unsigned u32 -> u16: shrinks.
    let (p, _) = one(relo(f, u, off), Insn::ldx_mem(size::W, 0, 1, 4)).unwrap();
    assert_eq!((p.code, p.off), (class::LDX | mode::MEM | size::H, 8));
    // Stores follow too.
    let (p, _) = one(relo(f, u, off), Insn::stx_mem(size::W, 1, 2, 4)).unwrap();
    assert_eq!(p.code & size::MASK, size::H);
    let (p, _) = one(relo(f, i, off), Insn::st_mem(size::W, 1, 0, 3)).unwrap();
    assert_eq!(p.code & size::MASK, size::DW);
    // A partial access (one byte of the int) keeps its size.
    let (p, patch) = one(relo(f, u, off), Insn::ldx_mem(size::B, 0, 1, 4)).unwrap();
    assert_eq!(p.code & size::MASK, size::B);
    assert_eq!(
        patch,
        Patch::Off {
            old: 4,
            new: 8,
            size: None
        }
    );
    // 16 bytes is no load size; atomics are not resized.
    let e = one(relo(f, big, off), Insn::ldx_mem(size::W, 0, 1, 8)).unwrap_err();
    assert!(e.to_string().contains("not 1, 2, 4 or 8"), "{e}");
    let e = one(relo(f, i, off), Insn::atomic_add(size::W, 1, 2, 0)).unwrap_err();
    assert!(e.to_string().contains("atomic"), "{e}");
    // A signed field that shrinks cannot be loaded zero-extended.
    let mut t2 = BtfBuilder::new();
    let i16_ = t2.add_int("short", 2, S);
    t2.add_struct("f", 2, &[("i", i16_, 0)]);
    let t2 = parse(&t2);
    let mut p = vec![Insn::ldx_mem(size::W, 0, 1, 0)];
    let e = apply(&l, &t2, relo(f, i, off), &mut p).unwrap_err();
    assert!(
        matches!(e, Error::MemSize { .. }) && e.to_string().contains("sign"),
        "{e}"
    );
    assert_eq!(p[0], Insn::ldx_mem(size::W, 0, 1, 0), "unchanged on error");
    let mut p = vec![Insn::ldx_memsx(size::W, 0, 1, 0)];
    apply(&l, &t2, relo(f, i, off), &mut p).unwrap();
    assert_eq!(
        p[0],
        Insn::ldx_memsx(size::H, 0, 1, 0),
        "sign-extending: fine"
    );
}

#[test]
fn bitfield_loads_take_the_target_container_size() {
    let mut l = BtfBuilder::new();
    let s = bitfields(&mut l, true, 0);
    let x = l.add_string("0:1");
    let l = parse(&l);
    let mut t = BtfBuilder::new();
    let u8_ = t.add_int("unsigned char", 1, U);
    let i32_ = t.add_int("int", 4, S);
    t.add_struct_bitfields("bits", 4, &[("x", u8_, 2, 3), ("y", i32_, 5, 5)]);
    let t = parse(&t);
    // The compiler read x through an 8-byte word at 8 (a valid container).
    let mut p = vec![Insn::ldx_mem(size::DW, 0, 1, 8)];
    let a = apply(&l, &t, relo(s, x, K::FieldByteOffset), &mut p).unwrap();
    assert_eq!(
        a[0].patch,
        Patch::Off {
            old: 8,
            new: 0,
            size: Some((Size::DW, Size::B))
        }
    );
    // And its byte size and shift were those of that container.
    let mut p = vec![Insn::mov64_imm(1, 8), Insn::mov64_imm(2, 61)];
    let mut c = CandidateCache::new();
    let applied = CoreRelocator::new(&l, &t, &mut c)
        .relocate(
            &mut p,
            [
                (0, relo(s, x, K::FieldByteSize)),
                (1, relo(s, x, K::FieldLshiftU64)),
            ],
        )
        .unwrap();
    assert_eq!((p[0].imm, p[1].imm), (1, 64 - 5));
    assert_eq!(
        applied[0].resolution.local_value, 8,
        "the value the insn held"
    );
    // A value no container explains is refused.
    let mut p = vec![Insn::mov64_imm(1, 3)];
    let e = apply(&l, &t, relo(s, x, K::FieldByteSize), &mut p).unwrap_err();
    assert!(matches!(e, Error::LocalValueMismatch { .. }), "{e}");
}

#[test]
fn patching_checks_the_instruction() {
    let x = task();
    let (l, t, ty) = (&x.local, &x.target, x.task);
    let pid = x.a[4];
    let r = relo(ty, pid, K::FieldByteOffset);
    let err = |insns: &mut [Insn]| apply(l, t, r, insns).unwrap_err().to_string();
    let e = err(&mut [Insn::jmp_imm(jmp::JEQ, 1, 32, 0)]);
    assert!(e.contains("cannot patch insn (code 0x15)"), "{e}");
    assert!(e.contains("#0") && e.contains("at insn 0"), "{e}");
    let e = err(&mut [Insn::alu64_reg(alu::ADD, 1, 2)]);
    assert!(e.contains("register operand"), "{e}");
    let e = err(&mut [Insn::mov64_imm(1, 31)]);
    assert_eq!(
        e,
        format!(
            "CO-RE relocation #0 (byte_off, type [{ty}], access \"0:3\") at insn 0: insn imm \
             holds 31, the local BTF gives 32"
        )
    );
    let e = err(&mut [Insn::ldx_mem(size::W, 0, 1, 31)]);
    assert!(e.contains("insn off holds 31"), "{e}");
    let e = err(&mut Insn::ld_map_fd(1, 32));
    assert!(e.contains("ld_imm64 of a map"), "{e}");
    let e = err(&mut [Insn::ld_imm64(1, 0, 32)[0]]);
    assert!(e.contains("without its second slot"), "{e}");
    let e = err(&mut []);
    assert!(e.contains("out of range (0 instructions)"), "{e}");
    // Other kinds do not go into a load offset.
    let mut p = vec![Insn::ldx_mem(size::W, 0, 1, 4)];
    let e = apply(l, t, relo(ty, pid, K::FieldByteSize), &mut p).unwrap_err();
    assert!(
        e.to_string().contains("takes only a field byte offset"),
        "{e}"
    );
    // Values that do not fit.
    let mut b = BtfBuilder::new();
    let bint = b.add_int("int", 4, S);
    let bidx = b.add_int("__ARRAY_SIZE_TYPE__", 4, U);
    let huge = b.add_array(bint, bidx, 20_000);
    b.add_struct("task", 80_008, &[("pad", huge, 0), ("pid", bint, 640_000)]);
    let far = parse(&b);
    let mut p = vec![Insn::ldx_mem(size::W, 0, 1, 32)];
    let e = apply(l, &far, r, &mut p).unwrap_err();
    assert!(
        matches!(
            e,
            Error::ValueOutOfRange {
                field: "off",
                value: 80_000,
                ..
            }
        ),
        "{e}"
    );
    let mut p = vec![Insn::mov64_imm(1, 32)];
    apply(l, &far, r, &mut p).unwrap();
    assert_eq!(p[0].imm, 80_000);
}

#[test]
fn unresolved_relocations_poison_their_instruction() {
    let x = task();
    let (l, t, ty) = (&x.local, &x.target, x.task);
    let state = x.a[1];
    let call = Insn::call_helper(POISON_HELPER_ID);
    let mut p = vec![Insn::ldx_mem(size::DW, 0, 1, 8), Insn::exit()];
    let a = apply(l, t, relo(ty, state, K::FieldByteOffset), &mut p).unwrap();
    assert_eq!(p, [call, Insn::exit()]);
    assert_eq!(a[0].patch, Patch::Poisoned { slots: 1 });
    let mut p = Insn::ld_imm64(3, 0, 8).to_vec();
    let a = apply(l, t, relo(ty, state, K::FieldByteOffset), &mut p).unwrap();
    assert_eq!(p, [call, call]);
    assert_eq!(a[0].patch, Patch::Poisoned { slots: 2 });
    assert_eq!(find_poisoned(&a, 1).map(|a| a.insn), Some(0));
    assert!(find_poisoned(&a, 2).is_none());
    assert_eq!(POISON_HELPER_ID, 195_896_080);
    // The instruction is still checked before it is poisoned.
    let mut p = vec![Insn::ldx_mem(size::DW, 0, 1, 9)];
    assert!(apply(l, t, relo(ty, state, K::FieldByteOffset), &mut p).is_err());
    // Existence checks are not poisoned: they say 0.
    let mut p = vec![Insn::mov64_imm(0, 1)];
    apply(l, t, relo(ty, state, K::FieldExists), &mut p).unwrap();
    assert_eq!(p, [Insn::mov64_imm(0, 0)]);
    // The report.
    let mut p = vec![Insn::ldx_mem(size::DW, 0, 1, 8)];
    let a = apply(l, t, relo(ty, state, K::FieldByteOffset), &mut p).unwrap();
    assert_eq!(
        a[0].failure_report(Some("prog.c:7: x = t->state;"))
            .to_string(),
        "CO-RE relocation #0 (byte_off, root type `struct task`, access `0:1` = `task.state`) \
         failed at insn 0: the target has no such field (1 candidate type); \
         source: prog.c:7: x = t->state;"
    );
    assert_eq!(
        a[0].to_string(),
        "#0 insn 0: byte_off struct task (0:1 task.state): 8 -> unresolved; poisoned: call 0xbad2310"
    );
    let empty = parse(&BtfBuilder::new());
    let mut p = vec![Insn::ldx_mem(size::DW, 0, 1, 8)];
    let a = apply(l, &empty, relo(ty, state, K::FieldByteOffset), &mut p).unwrap();
    assert!(
        a[0].failure_report(None)
            .to_string()
            .ends_with("failed at insn 0: the target BTF has no type named like `struct task`"),
        "{}",
        a[0].failure_report(None)
    );
}

#[test]
fn relocate_is_all_or_nothing() {
    let x = task();
    let (l, t, ty) = (&x.local, &x.target, x.task);
    let mut p = vec![Insn::mov64_imm(1, 32), Insn::mov64_imm(2, 99)];
    let before = p.clone();
    let mut c = CandidateCache::new();
    let e = CoreRelocator::new(l, t, &mut c)
        .relocate(
            &mut p,
            [
                (0, relo(ty, x.a[4], K::FieldByteOffset)),
                (1, relo(ty, x.a[4], K::FieldByteOffset)),
            ],
        )
        .unwrap_err();
    assert_eq!(
        e.relo_loc().map(|at| (at.relo, at.insn)),
        Some((Some(1), Some(1)))
    );
    assert_eq!(p, before);
}

#[test]
fn the_cache_is_shared_and_rebinds() {
    let x = task();
    let (l, t, ty) = (&x.local, &x.target, x.task);
    let mut c = CandidateCache::new();
    for _ in 0..3 {
        let mut p = vec![Insn::mov64_imm(1, 32)];
        CoreRelocator::new(l, t, &mut c)
            .relocate(&mut p, [(0, relo(ty, x.a[4], K::FieldByteOffset))])
            .unwrap();
    }
    assert_eq!(c.stats(), (3, 2));
    assert_eq!(c.len(), 1);
    let other = x.local.clone_for_test();
    let _ = CoreRelocator::new(l, &other, &mut c);
    assert!(c.is_empty());
}

trait CloneForTest {
    fn clone_for_test(&self) -> Btf<'static>;
}

impl CloneForTest for Btf<'_> {
    fn clone_for_test(&self) -> Btf<'static> {
        Btf::from_vec(self.as_bytes().to_vec()).unwrap()
    }
}

#[test]
fn module_targets() {
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, S);
    let base = parse(&b);
    let mut m = BtfBuilder::new_split(&base);
    let ms = m.add_struct("mod_only", 8, &[("x", int, 0), ("y", int, 32)]);
    let module =
        Btf::from_vec_split(m.build(), std::sync::Arc::new(base.clone_for_test())).unwrap();
    let mut l = BtfBuilder::new();
    let lint = l.add_int("int", 4, S);
    let ls = l.add_struct("mod_only", 4, &[("y", lint, 0)]);
    let y = l.add_string("0:0");
    let zero = l.add_string("0");
    let l = parse(&l);
    let mut c = CandidateCache::new();
    let mods = [&module];
    let mut r = CoreRelocator::new(&l, &base, &mut c).with_modules(&mods);
    assert_eq!(r.targets().len(), 2);
    let res = r.resolve(&relo(ls, y, K::FieldByteOffset)).unwrap();
    assert_eq!(res.target_value, Some(4));
    assert_eq!(res.target_type, Some(TargetType { btf: 1, id: ms }));
    let res = r.resolve(&relo(ls, zero, K::TypeIdTarget)).unwrap();
    assert_eq!(res.target_value, Some(u64::from(ms.0)));
    assert!(
        res.to_string()
            .ends_with(&format!("(target [{ms}] in BTF 1)")),
        "{res}"
    );
}

#[test]
fn verifier_logs_and_function_records() {
    let log = "func#0 @0\n0: R1=ctx() R10=fp0\n; x = t->state; @ prog.c:7\n\
               12: (85) call unknown#195896080\ninvalid func unknown#195896080\n\
               processed 13 insns (limit 1000000)\n";
    assert_eq!(poisoned_insn_in_log(log), Some(12));
    assert_eq!(
        poisoned_insn_in_log("0: (85) call unknown#195896080\nR1 !read_ok\n"),
        None
    );
    assert_eq!(
        poisoned_insn_in_log("invalid func unknown#195896080\n"),
        None
    );
    assert_eq!(poisoned_insn_in_log(""), None);
    let r = |off| relo(TypeId(1), 0, K::FieldByteOffset).with_off(off);
    let recs = [r(0), r(16), r(40), r(48), r(200)];
    let got = function_relos("tp/x", recs, 16, 5).unwrap();
    assert_eq!(
        got.iter()
            .map(|(i, r)| (*i, r.insn_off))
            .collect::<Vec<_>>(),
        [(0, 16), (3, 40), (4, 48)]
    );
    let e = function_relos("tp/x", [r(20)], 16, 5).unwrap_err();
    assert_eq!(
        e.to_string(),
        "CO-RE record 0 of section tp/x: insn_off 20 is not on an instruction boundary \
         (function at byte 16, 5 instructions)"
    );
}

trait WithOff {
    fn with_off(self, off: u32) -> CoreRelo;
}

impl WithOff for CoreRelo {
    fn with_off(mut self, off: u32) -> CoreRelo {
        self.insn_off = off;
        self
    }
}

#[test]
fn kind_names_and_missing_values() {
    use CoreReloKind::*;
    let all = [
        FieldByteOffset,
        FieldByteSize,
        FieldExists,
        FieldSigned,
        FieldLshiftU64,
        FieldRshiftU64,
        TypeIdLocal,
        TypeIdTarget,
        TypeExists,
        TypeSize,
        EnumvalExists,
        EnumvalValue,
        TypeMatches,
    ];
    let names: Vec<&str> = all.iter().map(|&k| kind_name(k)).collect();
    assert_eq!(
        names,
        [
            "byte_off",
            "byte_sz",
            "field_exists",
            "signed",
            "lshift_u64",
            "rshift_u64",
            "local_type_id",
            "target_type_id",
            "type_exists",
            "type_size",
            "enumval_exists",
            "enumval_value",
            "type_matches"
        ]
    );
    for (i, k) in all.into_iter().enumerate() {
        assert_eq!(k.to_u32(), i as u32);
        let zero = matches!(
            k,
            FieldExists | TypeExists | TypeMatches | EnumvalExists | TypeSize | TypeIdTarget
        );
        assert_eq!(value_when_missing(k), zero.then_some(0), "{k:?}");
    }
}

#[test]
fn compiler_containers_other_than_ours_are_accepted() {
    // A 2-bit u8 bitfield at bit 75 (byte 9, bit 3). Our container is the
    // byte at 9; a compiler may have read the 8-byte word at 8 (clang does,
    // for records aligned to 8): the left shift it emits is then 51.
    let mut l = BtfBuilder::new();
    let u8_ = l.add_int("unsigned char", 1, U);
    let long = l.add_int("long", 8, S);
    let s = l.add_struct_bitfields("w", 16, &[("l", long, 0, 0), ("w", u8_, 75, 2)]);
    let w = l.add_string("0:1");
    let l = parse(&l);
    let t = l.clone_for_test();
    let mut c = CandidateCache::new();
    let mut r = CoreRelocator::new(&l, &t, &mut c);
    let mut p = vec![
        Insn::mov64_imm(1, 8),
        Insn::mov64_imm(2, 8),
        Insn::mov64_imm(3, 51),
        Insn::mov64_imm(4, 62),
    ];
    let kinds = [
        K::FieldByteOffset,
        K::FieldByteSize,
        K::FieldLshiftU64,
        K::FieldRshiftU64,
    ];
    let relos = kinds.iter().enumerate().map(|(i, &k)| (i, relo(s, w, k)));
    let a = r.relocate(&mut p, relos).unwrap();
    // Patched to our container: the byte at 9.
    assert_eq!(p.iter().map(|i| i.imm).collect::<Vec<_>>(), [9, 1, 59, 62]);
    assert_eq!(
        a.iter()
            .map(|a| a.resolution.local_value)
            .collect::<Vec<_>>(),
        [8, 8, 51, 62]
    );
    // Values no container gives are refused.
    for (k, bad) in [
        (K::FieldByteOffset, 10),
        (K::FieldByteSize, 3),
        (K::FieldLshiftU64, 52),
        (K::FieldRshiftU64, 61),
    ] {
        let mut p = vec![Insn::mov64_imm(1, bad)];
        let e = r.relocate(&mut p, [(0, relo(s, w, k))]).unwrap_err();
        assert!(matches!(e, Error::LocalValueMismatch { .. }), "{k:?}: {e}");
    }
}
