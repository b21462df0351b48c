//! The C dumper on any BTF the parser accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxbpf_btf::{Btf, DumpOptions, dump_c_string};

fuzz_target!(|data: &[u8]| {
    let Ok(btf) = Btf::parse(data) else { return };
    let _ = dump_c_string(&btf, &DumpOptions::default());
});
