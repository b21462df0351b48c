//! CO-RE access strings (`"0:1:2"`) from any bytes: a path or an error;
//! what parses prints back to a string that parses to the same path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxbpf_reloc::{AccessPath, MAX_ACCESS_LEN};

fuzz_target!(|data: &[u8]| {
    match AccessPath::parse_bytes(data) {
        Ok(p) => {
            assert!(!p.is_empty() && p.len() <= MAX_ACCESS_LEN);
            let text = p.to_string();
            assert_eq!(AccessPath::parse(&text).unwrap(), p);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
