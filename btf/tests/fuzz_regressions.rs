//! Inputs the fuzz targets (btf/fuzz) once found failing, replayed through
//! what every target does: each must give a result or an error, in bounded
//! time and memory. Files in tests/data/fuzz are named `<target>-<what>`.

use oxbpf_btf::{Btf, BtfExt, BtfFeatures, DumpOptions, dump_c_string, dump_raw, sanitize};

/// What the `decode_value` target does: a u32 type id, a u32 length, that
/// many bytes of BTF, the value's bytes.
fn replay_decode_value(data: &[u8]) -> Option<Result<oxbpf_btf::Value, oxbpf_btf::Error>> {
    let (id, rest) = data.split_first_chunk::<4>()?;
    let (len, rest) = rest.split_first_chunk::<4>()?;
    let len = (u32::from_le_bytes(*len) as usize).min(rest.len());
    let (btf, value) = rest.split_at(len);
    let btf = Btf::parse(btf).ok()?;
    let id = oxbpf_btf::TypeId(u32::from_le_bytes(*id) % btf.types_len().saturating_add(2));
    let v = btf.decode_value(id, value);
    if let Ok(v) = &v {
        let _ = (v.to_string(), v.to_json());
    }
    Some(v)
}

fn replay(data: &[u8]) {
    replay_decode_value(data);
    if let Ok(btf) = Btf::parse(data) {
        let _ = dump_c_string(&btf, &DumpOptions::default());
        let _ = dump_raw(&btf, &mut Vec::new());
        for f in [BtfFeatures::none(), BtfFeatures::all()] {
            if let Ok(out) = sanitize(&btf, &f) {
                assert_eq!(Btf::parse(&out).unwrap().types_len(), btf.types_len());
            }
        }
        let _ = BtfExt::parse(data, &btf);
    }
    // As the split target cuts it.
    if let Some((&cut, rest)) = data.split_first() {
        let at = (usize::from(cut) * 4).min(rest.len());
        let (base, split) = rest.split_at(at);
        if let Ok(base) = Btf::parse(base)
            && let Ok(btf) = Btf::parse_split(split, &base)
        {
            let _ = dump_c_string(&btf, &DumpOptions::default());
        }
    }
}

#[test]
fn fuzz_findings_stay_fixed() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let t = std::time::Instant::now();
        replay(&data);
        assert!(
            t.elapsed() < std::time::Duration::from_secs(20),
            "{} took {:?}",
            path.display(),
            t.elapsed()
        );
        n += 1;
    }
    assert!(n >= 2, "regression inputs missing from {}", dir.display());
}

#[test]
fn huge_gaps_are_one_named_array() {
    // The first finding: a struct of ~3 GiB whose only member is at 0
    // became hundreds of millions of `long: 64;` lines.
    let mut b = oxbpf_btf::BtfBuilder::new();
    let int = b.add_int("int", 4, oxbpf_btf::IntEncoding::SIGNED);
    b.add_struct("huge", 3 << 30, &[("a", int, 0)]);
    let btf = Btf::from_vec(b.build()).unwrap();
    let h = dump_c_string(&btf, &DumpOptions::default()).unwrap();
    assert!(h.contains("\tchar ___pad_4[3221225468];\n"), "{h}");
    assert!(h.len() < 4096);
}

/// Found by the `decode_value` target: an array of 4 294 967 295 elements
/// of a zero-sized struct took nothing from the value's bytes, so decoding
/// made billions of values. Decoding now visits at most 2^20 types.
#[test]
fn arrays_of_zero_sized_elements_are_bounded() {
    let mut b = oxbpf_btf::BtfBuilder::new();
    let int = b.add_int("int", 4, oxbpf_btf::IntEncoding::SIGNED);
    let empty = b.add_struct("empty", 0, &[]);
    let many = b.add_array(empty, int, u32::MAX);
    let s = b.add_struct("s", 4, &[("a", int, 0), ("none", many, 32)]);
    let btf = Btf::from_vec(b.build()).unwrap();
    match btf.decode_value(s, &[1, 0, 0, 0]) {
        Err(oxbpf_btf::Error::TooManySteps { id, steps }) => {
            assert_eq!((id, steps), (s, 1 << 20));
        }
        other => panic!("{other:?}"),
    }
    // A few of them still decode.
    let few = b.add_array(empty, int, 3);
    let t = b.add_struct("t", 4, &[("a", int, 0), ("three", few, 32)]);
    let btf = Btf::from_vec(b.build()).unwrap();
    let v = btf.decode_value(t, &[1, 0, 0, 0]).unwrap();
    assert_eq!(v.to_string(), "{a: 1, three: [{}, {}, {}]}", "{v:?}");
    // The input the fuzzer found ends the same way.
    let data = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/fuzz/decode_value-zero_sized_elements"),
    )
    .unwrap();
    let r = replay_decode_value(&data).expect("the BTF parses");
    assert!(
        matches!(r, Err(oxbpf_btf::Error::TooManySteps { .. })),
        "{r:?}"
    );
}
