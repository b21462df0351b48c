//! Facts about the running kernel and its file systems: version, possible
//! CPUs, bpffs.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// `KERNEL_VERSION(major, minor, patch)`: the kernel's version code, with
/// the patch level capped at 255 as the kernel does.
pub const fn kernel_version_encode(major: u8, minor: u8, patch: u16) -> u32 {
    let p = if patch > 255 { 255 } else { patch as u32 };
    ((major as u32) << 16) | ((minor as u32) << 8) | p
}

/// Parses the leading `major.minor[.patch]` of a version string.
fn parse_version(s: &str) -> Option<(u8, u8, u16)> {
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let mut parts = s[..end].split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = match parts.next() {
        Some(p) if !p.is_empty() => p.parse().ok()?,
        _ => 0,
    };
    Some((major, minor, patch))
}

/// The upstream version inside a distribution's `uname -v` or
/// `/proc/version_signature`, when the release string hides it (Debian's
/// `6.1.0-18-amd64` is 6.1.76).
fn distro_version(uname_version: &str, signature: Option<&str>) -> Option<(u8, u8, u16)> {
    // Ubuntu: "Ubuntu 5.15.0-91.101-generic 5.15.131".
    if let Some(sig) = signature {
        if let Some(v) = sig.split_whitespace().last().and_then(parse_version) {
            return Some(v);
        }
    }
    // Debian: "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)".
    let rest = &uname_version[uname_version.find("Debian ")? + "Debian ".len()..];
    parse_version(rest)
}

/// The running kernel's release string (`uname -r`).
pub fn kernel_release() -> String {
    rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned()
}

/// The running kernel's version as (major, minor, patch), from `uname`
/// (and, on Debian and Ubuntu, the distribution's record of the upstream
/// version).
pub fn kernel_version() -> Result<(u8, u8, u16)> {
    let uts = rustix::system::uname();
    let version = uts.version().to_string_lossy();
    let signature = std::fs::read_to_string("/proc/version_signature").ok();
    if let Some(v) = distro_version(&version, signature.as_deref()) {
        return Ok(v);
    }
    let release = uts.release().to_string_lossy();
    parse_version(&release).ok_or_else(|| Error::Parse {
        path: PathBuf::from("uname(2) release"),
        what: format!("kernel release {release:?}"),
    })
}

/// The running kernel's `LINUX_VERSION_CODE`, for `kern_version`.
pub fn kernel_version_code() -> Result<u32> {
    let (a, b, c) = kernel_version()?;
    Ok(kernel_version_encode(a, b, c))
}

/// Counts the CPUs of a cpulist such as `0-3,8-11`.
fn parse_cpulist(s: &str) -> Option<u32> {
    let mut n = 0u32;
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((lo, hi)) => (lo.parse::<u32>().ok()?, hi.parse::<u32>().ok()?),
            None => {
                let c = part.parse::<u32>().ok()?;
                (c, c)
            }
        };
        n = n.checked_add(hi.checked_sub(lo)?.checked_add(1)?)?;
    }
    (n > 0).then_some(n)
}

/// The size of a memory page: arena maps count their size in pages.
pub fn page_size() -> usize {
    rustix::param::page_size()
}

/// The number of possible CPUs (`/sys/devices/system/cpu/possible`):
/// per-CPU map values hold one slot per possible CPU.
pub fn possible_cpus() -> Result<u32> {
    static CACHE: OnceLock<u32> = OnceLock::new();
    if let Some(&n) = CACHE.get() {
        return Ok(n);
    }
    let path = Path::new("/sys/devices/system/cpu/possible");
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        what: "reading",
        path: path.to_path_buf(),
        source,
    })?;
    let n = parse_cpulist(&text).ok_or_else(|| Error::Parse {
        path: path.to_path_buf(),
        what: format!("cpu list {:?}", text.trim()),
    })?;
    Ok(*CACHE.get_or_init(|| n))
}

pub(crate) fn fs_magic(path: &Path) -> Option<i64> {
    #[allow(clippy::unnecessary_cast)] // FsWord is not i64 on every target
    rustix::fs::statfs(path).ok().map(|s| s.f_type as i64)
}

const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

/// Whether `path` is on a bpffs.
pub fn is_bpffs(path: &Path) -> bool {
    fs_magic(path) == Some(BPF_FS_MAGIC)
}

/// Mounts a bpffs at `path` (creating the directory) unless it already is
/// one. Returns whether it mounted. Needs root.
pub fn mount_bpffs(path: &Path) -> Result<bool> {
    if is_bpffs(path) {
        return Ok(false);
    }
    std::fs::create_dir_all(path).map_err(|source| Error::Io {
        what: "creating bpffs mount point",
        path: path.to_path_buf(),
        source,
    })?;
    rustix::mount::mount("bpf", path, "bpf", rustix::mount::MountFlags::empty(), None).map_err(
        |errno| Error::Mount {
            fstype: "bpf",
            path: path.to_path_buf(),
            errno,
        },
    )?;
    log::info!(target: "oxbpf::syscalls", "mounted bpffs at {}", path.display());
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse() {
        assert_eq!(parse_version("6.18.44-fc-v669"), Some((6, 18, 44)));
        assert_eq!(parse_version("5.4"), Some((5, 4, 0)));
        assert_eq!(parse_version("6.1.0-18-amd64"), Some((6, 1, 0)));
        assert_eq!(parse_version("abc"), None);
        assert_eq!(parse_version("6.300.1"), None);
        assert_eq!(
            distro_version("#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)", None),
            Some((6, 1, 76))
        );
        assert_eq!(
            distro_version(
                "#101-Ubuntu SMP",
                Some("Ubuntu 5.15.0-91.101-generic 5.15.131\n")
            ),
            Some((5, 15, 131))
        );
        assert_eq!(distro_version("#1 SMP PREEMPT_DYNAMIC @0", None), None);
        assert_eq!(kernel_version_encode(6, 18, 44), 0x06122c);
        assert_eq!(kernel_version_encode(4, 9, 300), 0x0409ff);
    }

    #[test]
    fn cpulists_parse() {
        assert_eq!(parse_cpulist("0-1\n"), Some(2));
        assert_eq!(parse_cpulist("0"), Some(1));
        assert_eq!(parse_cpulist("0-3,8-11"), Some(8));
        assert_eq!(parse_cpulist("3-1"), None);
        assert_eq!(parse_cpulist(""), None);
    }

    #[test]
    fn running_kernel_version_matches_release() {
        let (a, b, _) = kernel_version().unwrap();
        let release = kernel_release();
        assert!(
            release.starts_with(&format!("{a}.{b}")),
            "{release} vs {a}.{b}"
        );
        assert!(possible_cpus().unwrap() >= 1);
    }
}
