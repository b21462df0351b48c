//! Writes the seed corpora of the fuzz targets (`btf/fuzz/seeds/`) from the
//! test objects' `.BTF` and `.BTF.ext` sections and a builder-made split
//! BTF: `cargo run -p oxbpf-btf --example fuzz_seeds`.

use std::path::Path;

use object::{Object, ObjectSection};
use oxbpf_btf::{Btf, BtfBuilder, Endian, IntEncoding};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let seeds = root.join("fuzz/seeds");
    for dir in ["btf", "ext", "split", "sanitize"] {
        std::fs::create_dir_all(seeds.join(dir)).unwrap();
    }
    let mut objs: Vec<_> = std::fs::read_dir(root.join("tests/data"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "o"))
        .collect();
    objs.sort();
    for path in objs {
        let stem = path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .replace('.', "_");
        let data = std::fs::read(&path).unwrap();
        let file = object::File::parse(&*data).unwrap();
        let sec = |n: &str| file.section_by_name(n).map(|s| s.data().unwrap().to_vec());
        let Some(btf) = sec(".BTF") else { continue };
        std::fs::write(seeds.join("btf").join(&stem), &btf).unwrap();
        let mut s = vec![0b1010_1010];
        s.extend_from_slice(&btf);
        std::fs::write(seeds.join("sanitize").join(&stem), &s).unwrap();
        if let Some(ext) = sec(".BTF.ext") {
            let mut seed = (btf.len() as u32).to_le_bytes().to_vec();
            seed.extend_from_slice(&btf);
            seed.extend_from_slice(&ext);
            std::fs::write(seeds.join("ext").join(&stem), seed).unwrap();
        }
    }
    // Split BTF: [cut byte][base padded to a multiple of 4][split].
    for e in [Endian::Little, Endian::Big] {
        let mut b = BtfBuilder::new();
        let int = b.add_int("int", 4, IntEncoding::SIGNED);
        b.add_struct("base_s", 4, &[("a", int, 0)]);
        let mut base = b.build_endian(e);
        while base.len() % 4 != 0 {
            base.push(0);
        }
        let parsed = Btf::parse(&base).unwrap();
        let mut m = BtfBuilder::new_split(&parsed);
        let p = m.add_ptr(int);
        let fl = m.add_float("double", 8);
        m.add_struct("mod_s", 16, &[("p", p, 0), ("d", fl, 64)]);
        m.add_typedef("base_t", oxbpf_btf::TypeId(2));
        let mut seed = vec![(base.len() / 4) as u8];
        seed.extend_from_slice(&base);
        seed.extend_from_slice(&m.build_endian(e));
        std::fs::write(seeds.join("split").join(format!("split_{e:?}")), seed).unwrap();
    }
}
