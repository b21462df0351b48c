//! Sanitization: the first byte is the feature set; whatever `sanitize`
//! returns must parse, with the same number of types.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxbpf_btf::{Btf, BtfFeature, BtfFeatures, sanitize};

fuzz_target!(|data: &[u8]| {
    let Some((&bits, blob)) = data.split_first() else {
        return;
    };
    let features = BtfFeatures::from_fn(|f| {
        let i = BtfFeature::ALL.iter().position(|&g| g == f).unwrap_or(0);
        bits & (1 << i) != 0
    });
    let Ok(btf) = Btf::parse(blob) else { return };
    if let Ok(out) = sanitize(&btf, &features) {
        let s = Btf::parse(&out).expect("sanitize output parses");
        assert_eq!(s.types_len(), btf.types_len());
    }
});
