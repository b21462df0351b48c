//! Inputs the fuzz targets (btf/fuzz) once found failing, replayed through
//! what every target does: each must give a result or an error, in bounded
//! time and memory. Files in tests/data/fuzz are named `<target>-<what>`.

use oxbpf_btf::{Btf, BtfExt, BtfFeatures, DumpOptions, dump_c_string, dump_raw, sanitize};

fn replay(data: &[u8]) {
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
