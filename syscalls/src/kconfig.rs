//! Readers of kernel facts exposed as files: the kernel configuration
//! (`/proc/config.gz`, `/boot/config-<release>`) and the symbol table
//! (`/proc/kallsyms`).

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The running kernel's build configuration: `CONFIG_*` names to their
/// values as the config file writes them (`y`, `m`, `n` for "is not set",
/// numbers, quoted strings).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelConfig {
    values: HashMap<String, String>,
    source: PathBuf,
}

impl KernelConfig {
    /// Reads the running kernel's configuration: `/proc/config.gz` if the
    /// kernel exports it, else `/boot/config-$(uname -r)`.
    pub fn read() -> Result<KernelConfig> {
        let proc = Path::new("/proc/config.gz");
        if proc.exists() {
            let file = std::fs::File::open(proc).map_err(|e| io_error("opening", proc, e))?;
            let mut text = String::new();
            flate2::read::GzDecoder::new(file)
                .read_to_string(&mut text)
                .map_err(|e| io_error("decompressing", proc, e))?;
            return Ok(KernelConfig::parse(&text, proc));
        }
        let boot = PathBuf::from(format!("/boot/config-{}", crate::kernel_release()));
        let text = std::fs::read_to_string(&boot).map_err(|e| io_error("reading", &boot, e))?;
        Ok(KernelConfig::parse(&text, &boot))
    }

    /// Parses the text of a config file; `source` names it in messages.
    pub fn parse(text: &str, source: &Path) -> KernelConfig {
        let mut values = HashMap::new();
        for line in text.lines() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("# ") {
                if let Some(name) = rest.strip_suffix(" is not set") {
                    if name.starts_with("CONFIG_") {
                        values.insert(name.to_owned(), "n".to_owned());
                    }
                }
                continue;
            }
            if let Some((name, value)) = line.split_once('=') {
                if name.starts_with("CONFIG_") {
                    values.insert(name.to_owned(), value.to_owned());
                }
            }
        }
        KernelConfig {
            values,
            source: source.to_owned(),
        }
    }

    /// The value of `name` (`CONFIG_HZ`) as written in the file, or `None`
    /// if the file does not mention it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// The file the configuration came from.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// Number of options read.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether no option was read.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Addresses of kernel symbols (`/proc/kallsyms`).
#[derive(Clone, Debug, Default)]
pub struct Kallsyms {
    addresses: HashMap<String, u64>,
}

impl Kallsyms {
    /// Reads `/proc/kallsyms`. Fails if the kernel hides the addresses
    /// (they read as zero without `CAP_SYSLOG` or with `kptr_restrict`).
    pub fn read() -> Result<Kallsyms> {
        let path = Path::new("/proc/kallsyms");
        let text = std::fs::read_to_string(path).map_err(|e| io_error("reading", path, e))?;
        let syms = Kallsyms::parse(&text);
        if !syms.addresses.is_empty() && syms.addresses.values().all(|&a| a == 0) {
            return Err(hidden());
        }
        Ok(syms)
    }

    /// Parses kallsyms text: `address type name [module]` per line. The
    /// first address of a name wins (a name may repeat for static symbols).
    pub fn parse(text: &str) -> Kallsyms {
        let mut addresses = HashMap::new();
        for line in text.lines() {
            let mut fields = line.split_ascii_whitespace();
            let (Some(addr), Some(_kind), Some(name)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            if let Ok(addr) = u64::from_str_radix(addr, 16) {
                addresses.entry(name.to_owned()).or_insert(addr);
            }
        }
        Kallsyms { addresses }
    }

    /// Looks up a few `names` in `/proc/kallsyms` without keeping the
    /// rest: the file is scanned line by line and reading stops once every
    /// name is found. Much cheaper than [`Kallsyms::read`] for one or two
    /// names (no map of 100,000+ symbols is built). Fails, as `read` does,
    /// if the kernel hides the addresses.
    pub fn lookup(names: &[&str]) -> Result<Vec<Option<u64>>> {
        use std::io::BufRead;
        let path = Path::new("/proc/kallsyms");
        let file = std::fs::File::open(path).map_err(|e| io_error("opening", path, e))?;
        let mut reader = std::io::BufReader::with_capacity(1 << 16, file);
        let mut found = vec![None; names.len()];
        let mut missing = names.len();
        let mut line = Vec::new();
        // Hidden addresses all read as 0; a few real ones are 0 too (the
        // first per-CPU symbols), so scanning goes on to a nonzero one.
        let mut any_nonzero = false;
        while missing > 0 || !any_nonzero {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .map_err(|e| io_error("reading", path, e))?;
            if n == 0 {
                break;
            }
            let mut fields = line
                .split(|b| b.is_ascii_whitespace())
                .filter(|f| !f.is_empty());
            let (Some(addr), Some(_kind), Some(name)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let Some(addr) = std::str::from_utf8(addr)
                .ok()
                .and_then(|a| u64::from_str_radix(a, 16).ok())
            else {
                continue;
            };
            any_nonzero |= addr != 0;
            for (i, want) in names.iter().enumerate() {
                if found[i].is_none() && want.as_bytes() == name {
                    found[i] = Some(addr);
                    missing -= 1;
                }
            }
        }
        if !any_nonzero && found.iter().any(Option::is_some) {
            return Err(hidden());
        }
        Ok(found)
    }

    /// The address of `name`.
    pub fn get(&self, name: &str) -> Option<u64> {
        self.addresses.get(name).copied()
    }

    /// Number of symbols read.
    pub fn len(&self) -> usize {
        self.addresses.len()
    }

    /// Whether no symbol was read.
    pub fn is_empty(&self) -> bool {
        self.addresses.is_empty()
    }
}

fn hidden() -> Error {
    Error::invalid(
        "/proc/kallsyms shows every address as 0: run as root (CAP_SYSLOG) or lower kernel.kptr_restrict",
    )
}

fn io_error(what: &'static str, path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        what,
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_lines() {
        let c = KernelConfig::parse(
            "#\n# comment\nCONFIG_HZ=250\nCONFIG_BPF=y\n# CONFIG_FOO is not set\nCONFIG_M=m\nCONFIG_S=\"a b\"\nbad\n",
            Path::new("t"),
        );
        assert_eq!(c.get("CONFIG_HZ"), Some("250"));
        assert_eq!(c.get("CONFIG_BPF"), Some("y"));
        assert_eq!(c.get("CONFIG_FOO"), Some("n"));
        assert_eq!(c.get("CONFIG_M"), Some("m"));
        assert_eq!(c.get("CONFIG_S"), Some("\"a b\""));
        assert_eq!(c.get("CONFIG_NONE"), None);
        assert_eq!(c.len(), 5);
    }

    #[test]
    fn running_kernel_config() {
        let c = KernelConfig::read().unwrap();
        assert_eq!(
            c.get("CONFIG_BPF"),
            Some("y"),
            "from {}",
            c.source().display()
        );
        assert_eq!(c.get("CONFIG_BPF_SYSCALL"), Some("y"));
    }

    #[test]
    fn kallsyms_lines() {
        let k = Kallsyms::parse(
            "ffffffff81000000 T _stext\nffffffff81000010 t dup\nffffffff81000020 t dup\nzz T bad\n0 t\n",
        );
        assert_eq!(k.get("_stext"), Some(0xffff_ffff_8100_0000));
        assert_eq!(k.get("dup"), Some(0xffff_ffff_8100_0010));
        assert_eq!(k.len(), 2);
    }

    #[test]
    fn lookup_finds_what_read_finds() {
        let all = Kallsyms::read().unwrap();
        let names = ["bpf_prog_put", "no_such_symbol_oxbpf", "init_task"];
        let found = Kallsyms::lookup(&names).unwrap();
        for (name, addr) in names.iter().zip(found) {
            assert_eq!(addr, all.get(name), "{name}");
        }
        assert!(all.get("bpf_prog_put").is_some());
    }

    #[test]
    fn running_kernel_symbols() {
        let k = Kallsyms::read().unwrap();
        let addr = k
            .get("bpf_prog_put")
            .expect("bpf_prog_put is a kernel function");
        assert!(addr >= 0xffff_0000_0000_0000, "{addr:#x}");
    }
}
