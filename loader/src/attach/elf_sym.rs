//! Finding uprobe targets: the binary (a path, or a library name found
//! the way the dynamic loader would), and the file offset of a function
//! from its ELF symbol tables and program headers.

use std::path::{Path, PathBuf};

use object::{Object, ObjectSegment, ObjectSymbol, SymbolKind};

use crate::error::{Error, Result};

/// Directories searched for a library given by name (`libc.so.6`), after
/// the mappings of the target process: Debian's multiarch directories,
/// then the traditional ones.
const LIB_DIRS: &[&str] = &[
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib/aarch64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
    "/usr/local/lib",
];

/// The file a uprobe on `binary` goes to. A name with a `/` is a path;
/// otherwise a shared library (`libc.so.6`, or `libc` for any
/// `libc.so*`) is looked for among the files mapped by process `pid`
/// (this process when `None`), then in the standard library directories;
/// any other name is looked for in `$PATH`.
pub(crate) fn resolve_binary(binary: &str, pid: Option<i32>) -> Result<PathBuf> {
    let not_found = || {
        Error::InvalidArgument(format!(
            "uprobe: cannot find binary {binary:?} (give a path, a library name, or a program in $PATH)"
        ))
    };
    if binary.is_empty() {
        return Err(not_found());
    }
    if binary.contains('/') {
        let p = PathBuf::from(binary);
        return if p.exists() { Ok(p) } else { Err(not_found()) };
    }
    if binary.contains(".so") || binary.starts_with("lib") {
        let maps = match pid {
            Some(p) => format!("/proc/{p}/maps"),
            None => "/proc/self/maps".into(),
        };
        if let Ok(text) = std::fs::read_to_string(&maps) {
            if let Some(p) = library_in_maps(&text, binary) {
                return Ok(p);
            }
        }
        for dir in LIB_DIRS {
            let p = Path::new(dir).join(binary);
            if p.exists() {
                return Ok(p);
            }
            if !binary.contains(".so") {
                let p = Path::new(dir).join(format!("{binary}.so"));
                if p.exists() {
                    return Ok(p);
                }
            }
        }
        return Err(not_found());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(binary))
        .find(|p| p.is_file())
        .ok_or_else(not_found)
}

/// The path of the first mapped file in `/proc/<pid>/maps` text whose
/// file name is `name`, or starts with `name.so` / `name-` when `name`
/// has no `.so`.
pub(crate) fn library_in_maps(maps: &str, name: &str) -> Option<PathBuf> {
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter(|p| p.starts_with('/'))
        .find(|p| {
            let file = p.rsplit('/').next().unwrap_or(p);
            file == name
                || (!name.contains(".so")
                    && (file.starts_with(&format!("{name}.so"))
                        || file.starts_with(&format!("{name}-"))))
        })
        .map(PathBuf::from)
}

/// A binary read for symbol and note lookups.
pub(crate) struct Binary {
    pub(crate) path: PathBuf,
    pub(crate) data: Vec<u8>,
}

impl Binary {
    pub(crate) fn read(path: &Path) -> Result<Binary> {
        let data = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        Ok(Binary {
            path: path.to_owned(),
            data,
        })
    }

    pub(crate) fn parse(&self) -> Result<object::File<'_>> {
        object::File::parse(&*self.data).map_err(|e| {
            Error::InvalidArgument(format!(
                "{}: not an ELF file uprobes can use: {e}",
                self.path.display()
            ))
        })
    }

    /// The file offset of virtual address `vaddr`: in the `PT_LOAD`
    /// segment that maps it.
    pub(crate) fn file_offset(&self, vaddr: u64) -> Result<u64> {
        let file = self.parse()?;
        vaddr_to_offset(&file, vaddr).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "{}: address {vaddr:#x} is in no loadable segment",
                self.path.display()
            ))
        })
    }

    /// Every defined function symbol `(name, address)` of `.symtab` and
    /// `.dynsym` (versions stripped from `.symtab` names: `f@@V1` → `f`).
    pub(crate) fn functions(&self) -> Result<Vec<(String, u64)>> {
        let file = self.parse()?;
        let mut out = Vec::new();
        for sym in file.symbols().chain(file.dynamic_symbols()) {
            if sym.kind() != SymbolKind::Text || !sym.is_definition() || sym.address() == 0 {
                continue;
            }
            let Ok(name) = sym.name() else { continue };
            let name = name.split('@').next().unwrap_or(name);
            if !name.is_empty() {
                out.push((name.to_owned(), sym.address()));
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// The file offset of function `func`, plus `offset` bytes.
    pub(crate) fn function_offset(&self, func: &str, offset: u64) -> Result<u64> {
        let funcs = self.functions()?;
        let mut addrs: Vec<u64> = funcs
            .iter()
            .filter(|(n, _)| n == func)
            .map(|(_, a)| *a)
            .collect();
        addrs.dedup();
        let addr = match addrs.as_slice() {
            [a] => *a,
            [] => {
                return Err(Error::InvalidArgument(format!(
                    "{}: no function symbol {func:?} in .symtab or .dynsym",
                    self.path.display()
                )));
            }
            many => {
                return Err(Error::InvalidArgument(format!(
                    "{}: {} different functions are called {func:?} (addresses {many:x?})",
                    self.path.display(),
                    many.len()
                )));
            }
        };
        let addr = addr.checked_add(offset).ok_or_else(|| {
            Error::InvalidArgument(format!("{func}+{offset:#x}: offset overflows"))
        })?;
        self.file_offset(addr)
    }

    /// `(name, file offset)` of every function whose name matches the
    /// glob `pattern`, each address once.
    pub(crate) fn matching_functions(&self, pattern: &str) -> Result<Vec<(String, u64)>> {
        let file = self.parse()?;
        let mut out: Vec<(String, u64)> = Vec::new();
        for (name, addr) in self.functions()? {
            if !crate::attach::kprobe::glob_match(pattern, &name) {
                continue;
            }
            if out.iter().any(|(_, a)| *a == addr) {
                continue;
            }
            if let Some(off) = vaddr_to_offset(&file, addr) {
                out.push((name, off));
            }
        }
        Ok(out)
    }
}

/// `vaddr - p_vaddr + p_offset` of the loadable segment holding `vaddr`.
pub(crate) fn vaddr_to_offset(file: &object::File<'_>, vaddr: u64) -> Option<u64> {
    file.segments().find_map(|seg| {
        let start = seg.address();
        let (off, size) = seg.file_range();
        (vaddr >= start && vaddr - start < size).then(|| vaddr - start + off)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    extern "C" fn oxbpf_elf_sym_test_target(x: u64) -> u64 {
        std::hint::black_box(x) + 1
    }

    #[test]
    fn finds_a_function_of_this_test_binary() {
        assert_eq!(oxbpf_elf_sym_test_target(1), 2);
        let exe = std::fs::read_link("/proc/self/exe").unwrap();
        let bin = Binary::read(&exe).unwrap();
        // The symbol is mangled (no `no_mangle`: the crate forbids unsafe
        // attributes): find it by a pattern.
        let m = bin
            .matching_functions("*oxbpf_elf_sym_test_target*")
            .unwrap();
        assert_eq!(m.len(), 1, "{m:?}");
        let (name, off) = m[0].clone();
        assert_eq!(bin.function_offset(&name, 0).unwrap(), off);
        // The bytes at that file offset are the code this process runs
        // for the function (read through /proc/self/mem).
        let addr = oxbpf_elf_sym_test_target as *const () as usize as u64;
        let code = &bin.data[off as usize..off as usize + 8];
        use std::io::{Read, Seek, SeekFrom};
        let mut mem = std::fs::File::open("/proc/self/mem").unwrap();
        mem.seek(SeekFrom::Start(addr)).unwrap();
        let mut loaded = [0u8; 8];
        mem.read_exact(&mut loaded).unwrap();
        assert_eq!(code, loaded);
        assert!(
            bin.function_offset("oxbpf_no_such_symbol_anywhere", 0)
                .is_err()
        );
    }

    #[test]
    fn libraries_resolve_from_maps_and_directories() {
        let maps = "7f00-7f01 r-xp 00000000 08:01 1 /usr/lib/x86_64-linux-gnu/libc.so.6\n\
                    7f02-7f03 r--p 00000000 00:00 0 [vdso]\n";
        assert_eq!(
            library_in_maps(maps, "libc.so.6"),
            Some(PathBuf::from("/usr/lib/x86_64-linux-gnu/libc.so.6"))
        );
        assert_eq!(
            library_in_maps(maps, "libc"),
            Some(PathBuf::from("/usr/lib/x86_64-linux-gnu/libc.so.6"))
        );
        assert_eq!(library_in_maps(maps, "libm"), None);
        // This process maps libc (Rust's std links it).
        let libc = resolve_binary("libc.so.6", None).unwrap();
        assert!(libc.ends_with("libc.so.6"), "{}", libc.display());
        let bin = Binary::read(&libc).unwrap();
        assert!(bin.function_offset("getpid", 0).unwrap() > 0);
        assert!(resolve_binary("sh", None).unwrap().is_file());
        assert!(resolve_binary("/nonexistent/x", None).is_err());
        assert!(resolve_binary("", None).is_err());
    }
}
