//! The system packages the build and the tests need, and their installation.
//!
//! The list lives in `.ci/packages`, shared with `.ci/run`, so that CI and
//! `cargo xtask test` cannot disagree about it.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::Error;
use crate::bpf::{CLANG, CLANG_OLD, require_tool};

/// The text of `.ci/packages`.
const PACKAGE_FILE: &str = include_str!("../../.ci/packages");

/// The Debian packages of `.ci/packages`, in file order (comments and
/// blank lines dropped).
pub fn packages() -> Vec<&'static str> {
    parse_package_list(PACKAGE_FILE)
}

/// Parses a package list: one name per line, `#` starts a comment.
pub fn parse_package_list(text: &str) -> Vec<&str> {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or("").trim())
        .filter(|name| !name.is_empty())
        .collect()
}

/// Whether this process runs with effective uid 0 (read from
/// `/proc/self/status`, to stay free of `unsafe` and of libc).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
            .unwrap_or(false)
    })
}

/// Makes sure every package is installed. On Debian (dpkg-query present),
/// missing packages are installed with `apt-get` when running as root, and
/// reported otherwise. Elsewhere the compilers and bpftool are checked
/// directly.
pub fn ensure() -> Result<(), Error> {
    let wanted = packages();
    if !Path::new("/usr/bin/dpkg-query").exists() {
        println!("prerequisites: not Debian (no dpkg-query); checking the tools directly");
        require_tool(CLANG, &["--version"], "clang-19")?;
        require_tool(CLANG_OLD, &["--version"], "clang-14")?;
        return require_tool("bpftool", &["version"], "bpftool");
    }
    let missing = missing_packages(&wanted)?;
    if missing.is_empty() {
        println!("prerequisites: all {} packages installed", wanted.len());
        return Ok(());
    }
    let list = missing.join(" ");
    if !is_root() || !Path::new("/usr/bin/apt-get").exists() {
        return Err(Error::Failed(format!(
            "missing packages: {list}\ninstall them as root: apt-get update && apt-get install -y {list}"
        )));
    }
    println!("prerequisites: installing {list}");
    apt_get(&["update"])?;
    let mut install = vec!["install", "-y"];
    install.extend(missing.iter().copied());
    apt_get(&install)?;
    let still = missing_packages(&wanted)?;
    if !still.is_empty() {
        return Err(Error::Failed(format!(
            "apt-get ran but these packages are still missing: {}",
            still.join(" ")
        )));
    }
    Ok(())
}

/// The packages of `wanted` that dpkg does not report as installed.
fn missing_packages<'a>(wanted: &[&'a str]) -> Result<Vec<&'a str>, Error> {
    // dpkg-query exits non-zero when it knows nothing about a package;
    // what matters is the status it prints for the ones it knows.
    let output = Command::new("dpkg-query")
        .arg("-W")
        .arg("-f=${Package} ${db:Status-Status}\\n")
        .args(wanted)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| Error::Spawn {
            program: "dpkg-query".to_string(),
            source: e,
        })?;
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(wanted
        .iter()
        .copied()
        .filter(|pkg| {
            !text.lines().any(|line| {
                let mut words = line.split_whitespace();
                // Multi-arch packages print as name:arch.
                let name = words.next().unwrap_or("");
                let name = name.split(':').next().unwrap_or("");
                name == *pkg && words.next() == Some("installed")
            })
        })
        .collect())
}

fn apt_get(args: &[&str]) -> Result<(), Error> {
    let status = Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .status()
        .map_err(|e| Error::Spawn {
            program: "apt-get".to_string(),
            source: e,
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::Failed(format!(
            "`apt-get {}` failed ({status})",
            args.join(" ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_list_drops_comments_and_blank_lines() {
        let text = "# header\n\nclang-19   # compiler\n  bpftool\n#gone\n";
        assert_eq!(parse_package_list(text), ["clang-19", "bpftool"]);
    }

    #[test]
    fn shared_list_has_the_toolchain() {
        let pkgs = packages();
        for needed in ["clang-19", "clang-14", "llvm-19", "libbpf-dev", "bpftool"] {
            assert!(pkgs.contains(&needed), "{needed} missing from .ci/packages");
        }
    }
}
