//! `BTF_LOAD` for tests: a raw `bpf()` call (the library itself makes no
//! syscalls), and an ELF-backed `DatasecSource`.

use std::os::fd::{FromRawFd, OwnedFd};

use object::{Object, ObjectSection, ObjectSymbol};
use oxbpf_btf::DatasecSource;

const BPF_BTF_LOAD: libc::c_long = 18;

/// `union bpf_attr` for BPF_BTF_LOAD (up to btf_token_fd).
#[repr(C)]
#[derive(Default)]
struct BtfLoadAttr {
    btf: u64,
    btf_log_buf: u64,
    btf_size: u32,
    btf_log_size: u32,
    btf_log_level: u32,
    btf_log_true_size: u32,
    btf_flags: u32,
    btf_token_fd: i32,
}

/// Loads `data` with BPF_BTF_LOAD; on failure returns the errno and the
/// last lines of the kernel's log.
pub fn btf_load(data: &[u8]) -> Result<OwnedFd, String> {
    let mut log = vec![0u8; 1 << 20];
    let mut attr = BtfLoadAttr {
        btf: data.as_ptr() as u64,
        btf_log_buf: log.as_mut_ptr() as u64,
        btf_size: data.len() as u32,
        btf_log_size: log.len() as u32,
        btf_log_level: 1,
        ..Default::default()
    };
    // SAFETY: attr is a properly initialised bpf_attr prefix of the size
    // passed; the pointers in it stay valid for the call's duration.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_BTF_LOAD,
            &mut attr as *mut BtfLoadAttr,
            std::mem::size_of::<BtfLoadAttr>(),
        )
    };
    if fd < 0 {
        let err = std::io::Error::last_os_error();
        let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
        let text = String::from_utf8_lossy(&log[..end]);
        let tail: Vec<&str> = text.lines().rev().take(4).collect();
        return Err(format!(
            "BTF_LOAD: {err}; log: {}",
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        ));
    }
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
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
