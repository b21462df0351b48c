//! `BtfExt::parse`: the input is a little-endian u32 length, that many
//! bytes of BTF (whose strings the ext names), then the `.BTF.ext` bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxbpf_btf::{Btf, BtfExt};

fuzz_target!(|data: &[u8]| {
    let Some((len, rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    let len = (u32::from_le_bytes(*len) as usize).min(rest.len());
    let (btf, ext) = rest.split_at(len);
    let Ok(btf) = Btf::parse(btf) else { return };
    let Ok(ext) = BtfExt::parse(ext, &btf) else {
        return;
    };
    for s in ext.func_info() {
        for r in s.records() {
            let _ = btf.name(r.type_id);
        }
        let _ = ext.func_info_for(s.name());
    }
    for s in ext.line_info() {
        for r in s.records() {
            let _ = btf.string_at(r.file_name_off);
            let _ = btf.string_at(r.line_off);
            let _ = (r.line(), r.column());
        }
    }
    for s in ext.core_relos() {
        for r in s.records() {
            let _ = btf.string_at(r.access_str_off);
            let _ = btf.resolve_size(r.type_id);
        }
    }
});
