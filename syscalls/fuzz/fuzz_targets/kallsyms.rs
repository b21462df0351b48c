//! `Kallsyms::parse` on any text (`address type name [module]` lines):
//! every symbol it reports is named on some line with a hex address, and
//! the first such line's address is the one reported.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxbpf_syscalls::Kallsyms;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let k = Kallsyms::parse(&text);
    assert!(k.len() <= text.lines().count());
    let mut seen = std::collections::HashSet::new();
    for line in text.lines() {
        let mut f = line.split_ascii_whitespace();
        let (Some(addr), Some(_), Some(name)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if let Ok(addr) = u64::from_str_radix(addr, 16)
            && seen.insert(name)
        {
            assert_eq!(k.get(name), Some(addr), "{name}");
        }
    }
});
