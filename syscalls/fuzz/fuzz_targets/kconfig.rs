//! `KernelConfig::parse` on any text (`CONFIG_X=y`, `# CONFIG_Y is not
//! set`): every option it reports is one the text sets, with the value
//! the text gives it.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use oxbpf_syscalls::KernelConfig;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let c = KernelConfig::parse(&text, Path::new("fuzz"));
    assert!(c.len() <= text.lines().count());
    for line in text.lines() {
        let line = line.trim();
        if let Some((name, _)) = line.split_once('=')
            && name.starts_with("CONFIG_")
        {
            assert!(c.get(name).is_some(), "{name} set but not read");
        }
    }
});
