//! `BTF_LOAD` for tests (through `oxbpf-syscalls`: the library itself makes
//! no syscalls), and an ELF-backed `DatasecSource`.

use object::{Object, ObjectSection, ObjectSymbol};
use oxbpf_btf::DatasecSource;
use oxbpf_syscalls::{BtfFd, Error, VerifierLog};

/// Loads `data` with BPF_BTF_LOAD; on failure returns the errno (as the
/// C library words it) and the last lines of the kernel's log.
pub fn btf_load(data: &[u8]) -> Result<BtfFd, String> {
    oxbpf_syscalls::btf_load(data, &mut VerifierLog::new()).map_err(|e| {
        let errno = e
            .errno()
            .map(|n| std::io::Error::from_raw_os_error(n.raw_os_error()).to_string())
            .unwrap_or_default();
        let log = match &e {
            Error::Verifier(v) => {
                let tail: Vec<&str> = v.log.lines().rev().take(4).collect();
                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
            }
            _ => String::new(),
        };
        format!("BTF_LOAD: {errno}; log: {log}")
    })
}

/// Section sizes and symbol values of an ELF object.
pub struct ElfSource {
    pub sections: Vec<(String, u32)>,
    /// (section name, symbol name, value)
    pub symbols: Vec<(String, String, u32)>,
}

impl ElfSource {
    pub fn new(elf: &[u8]) -> ElfSource {
        let file = object::File::parse(elf).unwrap();
        let sections = file
            .sections()
            .map(|s| (s.name().unwrap().to_string(), s.size() as u32))
            .collect();
        let mut symbols = Vec::new();
        for sym in file.symbols() {
            let Some(idx) = sym.section_index() else {
                continue;
            };
            let sec = file.section_by_index(idx).unwrap();
            symbols.push((
                sec.name().unwrap().to_string(),
                sym.name().unwrap().to_string(),
                sym.address() as u32,
            ));
        }
        ElfSource { sections, symbols }
    }
}

impl DatasecSource for ElfSource {
    fn section_size(&self, name: &str) -> Option<u32> {
        self.sections
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, s)| s)
    }
    fn var_offset(&self, section: &str, var: &str) -> Option<u32> {
        self.symbols
            .iter()
            .find(|(s, n, _)| s == section && n == var)
            .map(|&(_, _, v)| v)
    }
}

/// The bytes of section `name` of an ELF object.
pub fn section<'a>(elf: &'a [u8], name: &str) -> &'a [u8] {
    let file = object::File::parse(elf).unwrap();
    let data = file.section_by_name(name).unwrap().data().unwrap();
    let off = data.as_ptr() as usize - elf.as_ptr() as usize;
    &elf[off..off + data.len()]
}
