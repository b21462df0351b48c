//! The kernel a plan is built for.
//!
//! In live mode the target is the running kernel, read lazily: a fact is
//! only looked up when some part of the object needs it (an object without
//! `tp_btf`/`iter` programs never reads vmlinux BTF).

use std::cell::OnceCell;
use std::path::{Path, PathBuf};

use oxbpf_btf::Btf;

use crate::error::{Error, Result};

/// Where the running kernel publishes its BTF.
pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

/// Facts about the kernel a plan targets.
#[derive(Debug)]
pub(crate) struct Target {
    vmlinux_path: PathBuf,
    vmlinux: OnceCell<Btf<'static>>,
    possible_cpus: OnceCell<u32>,
}

impl Target {
    /// The running kernel.
    pub(crate) fn live() -> Target {
        Target {
            vmlinux_path: VMLINUX_BTF.into(),
            vmlinux: OnceCell::new(),
            possible_cpus: OnceCell::new(),
        }
    }

    /// The kernel's BTF, read on first use.
    pub(crate) fn vmlinux(&self) -> Result<&Btf<'static>> {
        if let Some(btf) = self.vmlinux.get() {
            return Ok(btf);
        }
        let btf = Btf::from_file(&self.vmlinux_path).map_err(Error::btf(format!(
            "reading kernel BTF {}",
            self.vmlinux_path.display()
        )))?;
        Ok(self.vmlinux.get_or_init(|| btf))
    }

    /// Whether something is pinned at `path` (a map an earlier load pinned
    /// by name).
    pub(crate) fn is_pinned(&self, path: &Path) -> bool {
        path.exists()
    }

    /// Number of possible CPUs (the size of per-CPU values and of perf
    /// event arrays left unsized).
    pub(crate) fn possible_cpus(&self) -> Result<u32> {
        if let Some(&n) = self.possible_cpus.get() {
            return Ok(n);
        }
        let n = read_possible_cpus(Path::new(POSSIBLE_CPUS))?;
        Ok(*self.possible_cpus.get_or_init(|| n))
    }
}

const POSSIBLE_CPUS: &str = "/sys/devices/system/cpu/possible";

/// Reads the number of possible CPUs from a cpu-list file.
pub(crate) fn read_possible_cpus(path: &Path) -> Result<u32> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    parse_cpu_list(text.trim()).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "{}: cannot parse CPU list {:?}",
            path.display(),
            text.trim()
        ))
    })
}

/// Parses a kernel CPU list (`0-3,8,10-11`) into the highest CPU + 1, which
/// is how the kernel sizes per-CPU values.
pub(crate) fn parse_cpu_list(list: &str) -> Option<u32> {
    let mut max = None;
    for part in list.split(',') {
        let last = match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                if b < a {
                    return None;
                }
                b
            }
            None => part.trim().parse().ok()?,
        };
        max = Some(max.map_or(last, |m: u32| m.max(last)));
    }
    max?.checked_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0"), Some(1));
        assert_eq!(parse_cpu_list("0-1"), Some(2));
        assert_eq!(parse_cpu_list("0-3,8,10-11"), Some(12));
        assert_eq!(parse_cpu_list(""), None);
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("a-b"), None);
        assert_eq!(parse_cpu_list("4294967295"), None);
    }

    #[test]
    fn this_machine_has_cpus() {
        let n = read_possible_cpus(Path::new(POSSIBLE_CPUS)).unwrap();
        assert!(n >= 1);
    }
}
