//! Builds the BPF C programs that live outside `tests/progs` (the oracle's
//! `oracle/progs/*.bpf.c`, the benchmarks' `loader/benches/progs/`) with
//! clang-19, with the flags `cargo xtask build-bpf` uses. They need no
//! `vmlinux.h`: `<linux/bpf.h>` and libbpf-dev's `<bpf/bpf_helpers.h>`.
//! Shared by the oracle's tests and the benchmark package's build script
//! (each includes this file with `#[path]`).

use std::path::Path;
use std::process::Command;
use std::time::SystemTime;

/// The compiler.
pub const CLANG: &str = "clang-19";

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// Compiles `src` into `out` unless `out` is newer than `src` and every
/// file of `deps`. Fails with clang's output, or with what to install
/// when clang-19 is missing.
pub fn compile(src: &Path, deps: &[&Path], out: &Path) -> Result<(), String> {
    if let Some(built) = mtime(out) {
        let newest = std::iter::once(src)
            .chain(deps.iter().copied())
            .filter_map(mtime)
            .max();
        if newest.is_some_and(|n| n <= built) {
            return Ok(());
        }
    }
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let include = src.parent().unwrap_or(Path::new("."));
    let output = Command::new(CLANG)
        .args(["-g", "-O2", "-target", "bpf", "-D__TARGET_ARCH_x86"])
        .args(["-Wall", "-Werror", "-I/usr/include/x86_64-linux-gnu"])
        .arg(format!("-I{}", include.display()))
        .arg("-c")
        .arg(src)
        .arg("-o")
        .arg(out)
        .output()
        .map_err(|e| format!("{CLANG}: {e} (install it with `apt-get install -y clang-19`)"))?;
    if !output.status.success() {
        return Err(format!(
            "{CLANG} {}: {}\n{}",
            src.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(())
}
