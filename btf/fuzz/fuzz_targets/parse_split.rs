//! Split BTF: the first byte picks where the input is cut into a base and
//! a split blob; both are parsed and the split one exercised.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxbpf_btf::Btf;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    // Cut at a multiple of 4 so that two valid blobs can be seeded.
    let at = (usize::from(cut) * 4).min(rest.len());
    let (base, split) = rest.split_at(at);
    let Ok(base) = Btf::parse(base) else { return };
    let Ok(btf) = Btf::parse_split(split, &base) else {
        return;
    };
    let _ = btf.to_native_bytes();
    for i in 0..=btf.types_len().min(4096) {
        let id = oxbpf_btf::TypeId(i);
        let _ = btf.name(id);
        let _ = btf.resolve_size(id);
        let _ = btf.resolve_align(id);
        if let Ok(n) = btf.name(id) {
            let _ = btf.find_by_name(n);
        }
    }
    let mut out = Vec::new();
    let _ = oxbpf_btf::dump_raw(&btf, &mut out);
    let _ = oxbpf_btf::dump_c_string(&btf, &oxbpf_btf::DumpOptions::default());
});
