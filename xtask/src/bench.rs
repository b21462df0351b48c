//! `cargo xtask bench btf`: the BTF benchmarks (criterion, oxbpf-btf side
//! by side with libbpf through libbpf-sys; package `btf/benches`, outside
//! the workspace so that nothing else builds libbpf), then instruction
//! counts of one operation each under `valgrind --tool=callgrind`.
//!
//! Not part of `ci`: timings are never assertions, and the benches need
//! libelf-dev, zlib1g-dev and pkg-config (libbpf-sys builds libbpf) and
//! valgrind.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::{Error, Workspace};

/// Modes of the `btf-callgrind` binary, in the order they are measured.
pub const CALLGRIND_MODES: &[&str] = &[
    "setup",
    "floor",
    "oxbpf-parse",
    "libbpf-new",
    "oxbpf-parse-index",
    "oxbpf-lookups",
    "libbpf-lookups",
];

/// Parses `btf`.
pub fn parse_args(args: &[String]) -> Result<(), Error> {
    match args {
        [what] if what == "btf" => Ok(()),
        _ => Err(Error::Usage("usage: cargo xtask bench btf".to_string())),
    }
}

fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

fn spawn_err(program: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::Spawn {
        program: program.to_string(),
        source: e,
    }
}

/// The instruction count valgrind reports (`==pid== Collected : N`).
pub fn parse_collected(stderr: &str) -> Option<u64> {
    stderr
        .lines()
        .find_map(|l| l.split("Collected :").nth(1))
        .and_then(|n| n.trim().parse().ok())
}

/// `cargo xtask bench btf`.
pub fn run(ws: &Workspace) -> Result<(), Error> {
    let manifest = ws.root().join("btf/benches/Cargo.toml");
    let target_dir = ws.target().join("bench");
    let status = Command::new(cargo())
        .arg("bench")
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        .args(["--bench", "btf"])
        // Criterion writes its reports under $CARGO_TARGET_DIR/criterion.
        .env("CARGO_TARGET_DIR", &target_dir)
        .current_dir(ws.root())
        .status()
        .map_err(spawn_err("cargo"))?;
    if !status.success() {
        return Err(Error::Failed(format!("`cargo bench` failed ({status})")));
    }
    let status = Command::new(cargo())
        .args([
            "build",
            "--release",
            "--bin",
            "btf-callgrind",
            "--manifest-path",
        ])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        .status()
        .map_err(spawn_err("cargo"))?;
    if !status.success() {
        return Err(Error::Failed(format!(
            "building btf-callgrind failed ({status})"
        )));
    }
    callgrind(&target_dir.join("release/btf-callgrind"), &target_dir)
}

fn callgrind(bin: &Path, dir: &Path) -> Result<(), Error> {
    let mut counts = Vec::new();
    for mode in CALLGRIND_MODES {
        let out_file = dir.join(format!("callgrind.{mode}.out"));
        let out = Command::new("valgrind")
            .arg("--tool=callgrind")
            .arg(format!("--callgrind-out-file={}", out_file.display()))
            .arg(bin)
            .arg(mode)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::MissingTool {
                tool: "valgrind".to_string(),
                hint: format!("install it with `apt-get install -y valgrind` ({e})"),
            })?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let n = parse_collected(&stderr).filter(|_| out.status.success());
        let Some(n) = n else {
            return Err(Error::Failed(format!(
                "callgrind of `btf-callgrind {mode}` failed ({}):\n{stderr}",
                out.status
            )));
        };
        counts.push((*mode, n));
    }
    let setup = counts[0].1;
    let net = |m: &str| {
        counts
            .iter()
            .find(|(k, _)| *k == m)
            .map_or(0, |(_, n)| n.saturating_sub(setup))
    };
    println!("\n=== callgrind: instructions of one operation (mode minus setup) ===");
    for (mode, _) in &counts[1..] {
        println!("{mode:<20} {:>14}", net(mode));
    }
    let r = |a: &str, b: &str| net(a) as f64 / net(b).max(1) as f64;
    println!(
        "oxbpf parse = {:.2}x floor; libbpf btf__new = {:.1}x oxbpf parse",
        r("oxbpf-parse", "floor"),
        r("libbpf-new", "oxbpf-parse")
    );
    let look = net("oxbpf-lookups").saturating_sub(net("oxbpf-parse-index"));
    let llook = net("libbpf-lookups").saturating_sub(net("libbpf-new"));
    println!(
        "10000 lookups: oxbpf {} instructions after the index ({} each), libbpf {} ({} each)",
        look,
        look / 10_000,
        llook,
        llook / 10_000
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collected_line() {
        let err = "==123== Events    : Ir\n==123== Collected : 4523901\n==123==\n";
        assert_eq!(parse_collected(err), Some(4_523_901));
        assert_eq!(parse_collected("nothing"), None);
    }

    #[test]
    fn args() {
        assert!(parse_args(&["btf".to_string()]).is_ok());
        assert!(parse_args(&[]).is_err());
    }
}
