//! `Btf::decode_value`: the input is a little-endian u32 type id, a u32
//! length, that many bytes of BTF, then the value's bytes. The decoded
//! value is printed as text and as JSON. An error is fine; a panic, a
//! hang or an unbounded allocation is not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxbpf_btf::{Btf, TypeId};

fuzz_target!(|data: &[u8]| {
    let Some((id, rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    let Some((len, rest)) = rest.split_first_chunk::<4>() else {
        return;
    };
    let len = (u32::from_le_bytes(*len) as usize).min(rest.len());
    let (btf, value) = rest.split_at(len);
    let Ok(btf) = Btf::parse(btf) else { return };
    // Small ids mostly: the fuzzer reaches every type of a small BTF.
    let id = TypeId(u32::from_le_bytes(*id) % btf.types_len().saturating_add(2));
    match btf.decode_value(id, value) {
        Ok(v) => {
            let _ = v.to_string();
            let _ = v.to_json();
        }
        Err(e) => drop(e.to_string()),
    }
});
