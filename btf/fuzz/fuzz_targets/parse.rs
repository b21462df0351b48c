//! `Btf::parse` on any bytes, then every accessor on what it accepts: an
//! error is fine, a panic, a hang or an unbounded allocation is not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxbpf_btf::{Btf, Type};

fuzz_target!(|data: &[u8]| {
    let Ok(btf) = Btf::parse(data) else { return };
    exercise(&btf);
});

fn exercise(btf: &Btf<'_>) {
    let _ = btf.to_native_bytes();
    let mut out = Vec::new();
    let _ = oxbpf_btf::dump_raw(btf, &mut out);
    for (id, t) in btf.types() {
        let _ = btf.name(id);
        let _ = btf.resolve_size(id);
        let _ = btf.resolve_align(id);
        let _ = btf.skip_mods_and_typedefs(id);
        if let Type::Struct(c) | Type::Union(c) = t {
            for m in c.members() {
                let _ = btf.string_at(m.name_off);
            }
        }
        if let Ok(name) = btf.name(id) {
            let _ = btf.find_by_name_kind(name, t.kind());
            let _ = btf.find_all_by_name(name);
        }
    }
}
