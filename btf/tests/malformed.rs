//! Malformed BTF: every failure is an error that says where, never a panic,
//! a hang or an unbounded allocation.

mod common;

use oxbpf_btf::{Btf, BtfBuilder, Endian, Error, IntEncoding, Kind, Type, TypeId};

/// Uses every read API on every type, ignoring errors: must not panic.
fn exercise(btf: &Btf<'_>) {
    for (id, t) in btf.types() {
        let _ = btf.name(id);
        let _ = btf.resolve_size(id);
        let _ = btf.resolve_align(id);
        let _ = btf.skip_mods_and_typedefs(id);
        let _ = btf.skip_mods(id);
        let _ = t.ref_type().map(|r| btf.type_by_id(r));
        match t {
            Type::Struct(c) | Type::Union(c) => c.members().for_each(|m| {
                let _ = btf.string_at(m.name_off);
                let _ = btf.type_by_id(m.ty);
            }),
            Type::Enum(e) | Type::Enum64(e) => e.values().for_each(|v| {
                let _ = btf.string_at(v.name_off);
                let _ = v.value();
            }),
            Type::FuncProto(p) => {
                let _ = p.is_variadic();
                p.params().for_each(|p| {
                    let _ = btf.string_at(p.name_off);
                })
            }
            Type::Datasec(d) => d.vars().for_each(|v| {
                let _ = btf.type_by_id(v.ty);
            }),
            _ => {}
        }
        if let Ok(n) = btf.name(id) {
            let _ = btf.find_by_name_kind(n, t.kind());
        }
    }
    let _ = btf.find_by_name("int");
    let _ = btf.to_native_bytes();
    let _ = BtfBuilder::from_btf(btf).map(|b| b.build());
}

#[test]
fn every_truncation_is_an_error() {
    for e in [Endian::Little, Endian::Big] {
        let bytes = common::all_kinds(e);
        for n in 0..bytes.len() {
            assert!(
                Btf::parse(&bytes[..n]).is_err(),
                "{e:?} prefix {n} accepted"
            );
        }
    }
}

#[test]
fn every_bit_flip_is_survived() {
    let mut accepted = 0;
    for e in [Endian::Little, Endian::Big] {
        let bytes = common::all_kinds(e);
        for bit in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            if let Ok(btf) = Btf::parse(&b) {
                accepted += 1;
                exercise(&btf);
            }
        }
    }
    // Most flips hit names and values, which parse: the APIs ran on them.
    assert!(accepted > 1000, "{accepted}");
}

#[test]
fn random_bytes_are_survived() {
    // A tiny xorshift: deterministic, no dependency.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let base = common::all_kinds(Endian::Little);
    for _ in 0..20_000 {
        let mut b = base.clone();
        for _ in 0..(next() % 8 + 1) {
            let i = (next() as usize) % b.len();
            b[i] = next() as u8;
        }
        if let Ok(btf) = Btf::parse(&b) {
            exercise(&btf);
        }
    }
}

fn header(type_len: u32, str_len: u32) -> Vec<u8> {
    let mut h = vec![0x9f, 0xeb, 1, 0];
    for w in [24, 0, type_len, type_len, str_len] {
        h.extend_from_slice(&w.to_le_bytes());
    }
    h
}

/// A blob of raw records and strings "\0int\0".
fn blob(words: &[u32]) -> Vec<u8> {
    let mut b = header(words.len() as u32 * 4, 5);
    for w in words {
        b.extend_from_slice(&w.to_le_bytes());
    }
    b.extend_from_slice(b"\0int\0");
    b
}

const INT: [u32; 4] = [1, 1 << 24, 4, (1 << 24) | 32];

#[test]
fn header_errors() {
    let good = blob(&INT);
    Btf::parse(&good).unwrap();
    let e = Btf::parse(&good[..10]).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Truncated {
                need: 24,
                have: 10,
                ..
            }
        ),
        "{e}"
    );
    let mut b = good.clone();
    b[0] = 0x12;
    assert!(matches!(Btf::parse(&b), Err(Error::BadMagic { .. })));
    let mut b = good.clone();
    b[2] = 7;
    assert!(matches!(
        Btf::parse(&b),
        Err(Error::BadVersion { found: 7, .. })
    ));
    let mut b = good.clone();
    b[4] = 8;
    assert!(matches!(
        Btf::parse(&b),
        Err(Error::BadHeaderLen { hdr_len: 8, .. })
    ));
    let mut b = good.clone();
    b[12..16].copy_from_slice(&u32::MAX.to_le_bytes()); // type_len
    let e = Btf::parse(&b).unwrap_err();
    assert!(
        matches!(
            e,
            Error::SectionOutOfBounds {
                section: "type",
                ..
            }
        ),
        "{e}"
    );
    let mut b = good.clone();
    b[16..20].copy_from_slice(&u32::MAX.to_le_bytes()); // str_off
    assert!(matches!(
        Btf::parse(&b),
        Err(Error::SectionOutOfBounds {
            section: "string",
            ..
        })
    ));
    let mut b = good.clone();
    b[8..12].copy_from_slice(&2u32.to_le_bytes()); // type_off 2
    b[12..16].copy_from_slice(&0u32.to_le_bytes());
    assert!(matches!(
        Btf::parse(&b),
        Err(Error::Misaligned { off: 2, .. })
    ));
    let mut b = good.clone();
    let n = b.len();
    b[n - 5] = b'x'; // strings do not start with NUL
    assert!(matches!(
        Btf::parse(&b),
        Err(Error::BadStringSection { .. })
    ));
    let mut b = good.clone();
    let n = b.len();
    b[n - 1] = b'x'; // last string unterminated
    assert!(matches!(
        Btf::parse(&b),
        Err(Error::BadStringSection { .. })
    ));
}

#[test]
fn record_errors_say_which_type() {
    // Absurd vlen: a struct claiming 65535 members in a 12-byte record.
    let e = Btf::parse(&blob(&[INT, [0, (4 << 24) | 0xffff, 8, 0]].concat()[..7])).unwrap_err();
    assert!(
        matches!(e, Error::RecordTruncated { id: TypeId(2), kind: Kind::Struct, offset: 16, need, .. } if need == 12 + 12 * 0xffff),
        "{e}"
    );
    assert!(
        e.to_string()
            .starts_with("type [2] STRUCT at type-section byte offset 16"),
        "{e}"
    );
    // Unknown kind 25 and kind 0.
    let e = Btf::parse(&blob(&[INT, [0, 25 << 24, 0, 0]].concat()[..7])).unwrap_err();
    assert!(
        matches!(
            e,
            Error::UnknownKind {
                id: TypeId(2),
                kind: 25,
                ..
            }
        ),
        "{e}"
    );
    let e = Btf::parse(&blob(&[0, 0, 0])).unwrap_err();
    assert!(
        matches!(
            e,
            Error::UnknownKind {
                id: TypeId(1),
                kind: 0,
                ..
            }
        ),
        "{e}"
    );
    // A trailing partial header.
    let e = Btf::parse(&blob(&[INT.as_slice(), &[0, 0]].concat())).unwrap_err();
    assert!(
        matches!(
            e,
            Error::RecordTruncated {
                id: TypeId(2),
                need: 12,
                have: 8,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn bad_references_say_where() {
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, IntEncoding::SIGNED);
    let s = b.add_struct("s", 8, &[("a", int, 0), ("b", int, 32)]);
    let bad_td = b.add_typedef("bad", TypeId(99_999));
    let bad_arr = b.add_array(TypeId(99_999), int, 4);
    let bad_name = b.add_raw(70_000, Kind::Typedef as u32, false, 0, int.0, &[]);
    let bytes = b.build();
    let btf = Btf::parse(&bytes).unwrap();
    let e = btf.resolve_size(bad_td).unwrap_err();
    assert_eq!(
        e.to_string(),
        "type [3] TYPEDEF type: type id 99999 out of range (last id is 5)"
    );
    let e = btf.resolve_size(bad_arr).unwrap_err();
    assert_eq!(
        e.to_string(),
        "type [4] ARRAY array element: type id 99999 out of range (last id is 5)"
    );
    let e = btf.skip_mods_and_typedefs(bad_td).unwrap_err();
    assert!(matches!(
        e,
        Error::BadTypeRef {
            from: TypeId(3),
            target: TypeId(99_999),
            ..
        }
    ));
    let e = btf.type_by_id(TypeId(6)).unwrap_err();
    assert!(
        matches!(
            e,
            Error::TypeIdOutOfRange {
                id: TypeId(6),
                max: 5
            }
        ),
        "{e}"
    );
    let e = btf.name(bad_name).unwrap_err();
    assert_eq!(
        e.to_string(),
        "type [5] TYPEDEF name: string offset 70000 invalid (out of range)"
    );
    assert!(matches!(
        btf.string_at(70_000),
        Err(Error::StringOutOfRange { off: 70_000, .. })
    ));
    assert!(btf.string_at(u32::MAX).is_err());
    // The name index skips the bad name and still finds the rest.
    assert_eq!(btf.find_by_name_kind("s", Kind::Struct).unwrap(), Some(s));
    assert_eq!(btf.find_by_name_kind("", Kind::Struct).unwrap(), None);
    // Non-UTF-8 names.
    let mut b = BtfBuilder::new();
    b.add_int("int", 4, IntEncoding::SIGNED);
    let mut bytes = b.build();
    let n = bytes.len();
    bytes[n - 2] = 0xff;
    let btf = Btf::parse(&bytes).unwrap();
    assert!(matches!(
        btf.name(TypeId(1)),
        Err(Error::BadName {
            reason: "not UTF-8",
            ..
        })
    ));
}

#[test]
fn cycles_terminate_with_an_error() {
    let mut b = BtfBuilder::new();
    // [1] typedef a -> [2], [2] typedef b -> [1]
    b.add_typedef("a", TypeId(2));
    b.add_typedef("b", TypeId(1));
    // [3] const -> [3]
    b.add_const(TypeId(3));
    // [4] array of [4]
    let int = b.add_int("int", 4, IntEncoding::SIGNED); // 4
    let arr = b.add_array(TypeId(5), int, 2); // 5: array of itself
    // [6] struct containing itself twice (exponential unfolding)
    let s = b.add_struct("loop", 8, &[("a", TypeId(6), 0), ("b", TypeId(6), 0)]);
    // [7] a chain of 40 typedefs over int: deeper than the bound.
    let mut t = int;
    for i in 0..40 {
        t = b.add_typedef(&format!("t{i}"), t);
    }
    // [8] struct of two of a struct of two of ... 30 levels (a DAG whose
    // unfolding has 2^30 leaves).
    let mut d = int;
    for i in 0..30 {
        d = b.add_struct(&format!("d{i}"), 8, &[("x", d, 0), ("y", d, 0)]);
    }
    let bytes = b.build();
    let btf = Btf::parse(&bytes).unwrap();
    for id in [TypeId(1), TypeId(2), TypeId(3)] {
        assert!(
            matches!(btf.resolve_size(id), Err(Error::TooDeep { .. })),
            "{id}"
        );
        assert!(
            matches!(btf.skip_mods_and_typedefs(id), Err(Error::TooDeep { .. })),
            "{id}"
        );
        assert!(btf.resolve_align(id).is_err());
    }
    assert!(matches!(
        btf.resolve_size(arr),
        Err(Error::TooDeep { .. } | Error::SizeOverflow { .. })
    ));
    assert!(btf.resolve_align(arr).is_err());
    assert!(btf.resolve_align(s).is_err());
    assert!(matches!(btf.resolve_size(t), Err(Error::TooDeep { .. })));
    let e = btf.resolve_align(d).unwrap_err();
    assert!(matches!(e, Error::TooManySteps { .. }), "{e}");
    assert_eq!(
        btf.resolve_size(d).unwrap(),
        8,
        "sizes of structs are recorded, no walk"
    );
}
