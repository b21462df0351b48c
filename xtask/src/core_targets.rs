//! `cargo xtask core-targets`: CO-RE relocation against other kernels'
//! BTF.
//!
//! The `.BTF` section of Debian's 6.1 and 6.12 kernels ([`KERNELS`]) is
//! extracted from the uncompressed `vmlinux` that vm-test unpacks from the
//! kernel package ([`crate::kernel::prepare`]: `apt-get download` into
//! `<target>/vm/debs/`, cached) and cached as
//! `<target>/core-btf/<release>.btf` (not committed: 5–6 MB each). Then
//! the `#[ignore]`d test `relocates_against_other_btf_files` of
//! `reloc/tests/core_kernel.rs` runs with `OXBPF_CORE_TARGETS` naming the
//! files: it relocates the CO-RE test objects against each and checks
//! every value against its own walk of that BTF.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::kernel;
use crate::{Error, Workspace};

/// The kernels (vm-test names) whose BTF the CO-RE objects are relocated
/// against.
pub const KERNELS: &[&str] = &["6.1", "6.12"];

/// The environment variable the test reads: BTF files, `:`-separated.
pub const TARGETS_ENV: &str = "OXBPF_CORE_TARGETS";

/// The test that reads [`TARGETS_ENV`].
pub const TEST: (&str, &str, &str) = (
    "oxbpf-reloc",
    "core_kernel",
    "relocates_against_other_btf_files",
);

/// Where the extracted BTF files are cached.
pub fn btf_dir(ws: &Workspace) -> PathBuf {
    ws.target().join("core-btf")
}

/// The `.BTF` of each of [`KERNELS`], fetched and extracted unless cached.
pub fn fetch(ws: &Workspace) -> Result<Vec<PathBuf>, Error> {
    let dir = btf_dir(ws);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
    let mut out = Vec::new();
    for name in KERNELS {
        let k = kernel::prepare(&ws.vm_out(), kernel::spec(name)?)?;
        let file = dir.join(format!("{}.btf", k.release));
        if !file.exists() {
            extract_btf(&k.vmlinux, &file)?;
        }
        println!(
            "{:>10}  {} ({}): {}",
            "btf",
            name,
            k.package,
            ws.display(&file)
        );
        out.push(file);
    }
    Ok(out)
}

/// Writes the `.BTF` section of the ELF file `vmlinux` to `out`.
pub fn extract_btf(vmlinux: &Path, out: &Path) -> Result<(), Error> {
    let elf = std::fs::read(vmlinux).map_err(|e| Error::io("cannot read", vmlinux, e))?;
    let btf = kernel::elf_section(&elf, ".BTF")
        .map_err(|e| Error::Failed(format!("{}: {e}", vmlinux.display())))?
        .ok_or_else(|| {
            Error::Failed(format!(
                "{} has no .BTF section (CONFIG_DEBUG_INFO_BTF off?)",
                vmlinux.display()
            ))
        })?;
    check_btf_header(btf).map_err(|e| Error::Failed(format!("{}: .BTF {e}", vmlinux.display())))?;
    let tmp = out.with_extension("btf.tmp");
    std::fs::write(&tmp, btf).map_err(|e| Error::io("cannot write", &tmp, e))?;
    std::fs::rename(&tmp, out).map_err(|e| Error::io("cannot move", out, e))
}

/// The BTF magic (0xeB9F) in either byte order and a header whose type and
/// string sections lie inside the blob.
pub fn check_btf_header(btf: &[u8]) -> Result<(), String> {
    let big = match btf.get(..2) {
        Some([0x9f, 0xeb]) => false,
        Some([0xeb, 0x9f]) => true,
        _ => return Err("has no BTF magic".into()),
    };
    let word = |o: usize| -> Result<u64, String> {
        let b: [u8; 4] = btf
            .get(o..o + 4)
            .and_then(|b| b.try_into().ok())
            .ok_or("is truncated")?;
        Ok(u64::from(if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }))
    };
    let hdr_len = word(4)?;
    for (off, len) in [(8, 12), (16, 20)] {
        let end = hdr_len + word(off)? + word(len)?;
        if end > btf.len() as u64 {
            return Err(format!(
                "section ends at {end}, past the blob's {}",
                btf.len()
            ));
        }
    }
    Ok(())
}

/// `cargo xtask core-targets`: fetch, extract, run the test.
pub fn run(ws: &Workspace) -> Result<(), Error> {
    let files = fetch(ws)?;
    let list = std::env::join_paths(&files)
        .map_err(|e| Error::Failed(format!("BTF paths cannot be joined: {e}")))?;
    let (package, test_file, test) = TEST;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let args = [
        "test",
        "-p",
        package,
        "--test",
        test_file,
        "--",
        "--ignored",
        "--exact",
        test,
    ];
    println!(
        "==> {TARGETS_ENV}={} cargo {}",
        list.to_string_lossy(),
        args.join(" ")
    );
    let status = Command::new(cargo)
        .args(args)
        .env(TARGETS_ENV, &list)
        .current_dir(ws.root())
        .status()
        .map_err(|e| Error::Spawn {
            program: "cargo test".into(),
            source: e,
        })?;
    if !status.success() {
        return Err(Error::Failed(format!(
            "CO-RE relocation against {} failed ({status})",
            KERNELS.join(", ")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn btf_headers() {
        // magic, version 1, flags 0, hdr_len 24, types 0+4, strings 4+1
        let mut le = vec![0x9f, 0xeb, 1, 0];
        for w in [24u32, 0, 4, 4, 1] {
            le.extend(w.to_le_bytes());
        }
        le.extend([0; 5]);
        assert_eq!(check_btf_header(&le), Ok(()));
        let mut be = vec![0xeb, 0x9f, 1, 0];
        for w in [24u32, 0, 4, 4, 1] {
            be.extend(w.to_be_bytes());
        }
        be.extend([0; 5]);
        assert_eq!(check_btf_header(&be), Ok(()));
        assert!(
            check_btf_header(&le[..le.len() - 1]).is_err(),
            "strings cut"
        );
        assert!(check_btf_header(&le[..10]).is_err());
        assert!(check_btf_header(b"\x7fELF").is_err());
    }

    #[test]
    fn the_test_exists_and_reads_the_variable() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let text = std::fs::read_to_string(root.join("reloc/tests/core_kernel.rs")).unwrap();
        assert!(text.contains(&format!("fn {}()", TEST.2)));
        assert!(text.contains(TARGETS_ENV));
    }
}
