//! `cargo xtask fuzz btf [--time SECONDS]`: every fuzz target of
//! `btf/fuzz` (cargo-fuzz layout) for SECONDS each, on the stable
//! toolchain (`RUSTC_BOOTSTRAP=1` lets cargo-fuzz pass its `-Z` flags).
//!
//! Corpora live in `<target>/fuzz/corpus/<target>`, seeded from
//! `btf/fuzz/seeds/` (the test objects' `.BTF`/`.BTF.ext`); crashes are
//! written to `btf/fuzz/artifacts/<target>/`. Each target's executions are
//! printed; a crash fails the command.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::{Error, Workspace};

/// Fuzz targets of `btf/fuzz` and the seed directory of each.
pub const BTF_TARGETS: &[(&str, &str)] = &[
    ("parse", "btf"),
    ("parse_split", "split"),
    ("ext", "ext"),
    ("dump_c", "btf"),
    ("sanitize", "sanitize"),
];

/// Seconds per target when `--time` is not given.
pub const DEFAULT_SECONDS: u64 = 60;

/// Parses `btf [--time SECONDS]`.
pub fn parse_args(args: &[String]) -> Result<u64, Error> {
    match args {
        [what] if what == "btf" => Ok(DEFAULT_SECONDS),
        [what, flag, secs] if what == "btf" && flag == "--time" => secs
            .parse()
            .map_err(|_| Error::Usage(format!("--time takes seconds, got `{secs}`"))),
        _ => Err(Error::Usage(
            "usage: cargo xtask fuzz btf [--time SECONDS]".to_string(),
        )),
    }
}

fn cargo() -> PathBuf {
    std::env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from)
}

fn spawn_err(e: std::io::Error) -> Error {
    Error::Spawn {
        program: "cargo".to_string(),
        source: e,
    }
}

/// Installs cargo-fuzz (`cargo install`) if `cargo fuzz` is missing.
fn ensure_cargo_fuzz() -> Result<(), Error> {
    let present = Command::new(cargo())
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if present {
        return Ok(());
    }
    println!(
        "{:>10}  cargo-fuzz (cargo install cargo-fuzz)",
        "installing"
    );
    let status = Command::new(cargo())
        .args(["install", "--locked", "cargo-fuzz"])
        .status()
        .map_err(spawn_err)?;
    if !status.success() {
        return Err(Error::Failed(format!(
            "`cargo install cargo-fuzz` failed ({status})"
        )));
    }
    Ok(())
}

/// What libFuzzer said at the end of a run: `Done N runs in S second(s)`.
pub fn parse_done(stderr: &str) -> Option<(u64, u64)> {
    let line = stderr.lines().rev().find(|l| l.starts_with("Done "))?;
    let mut w = line.split_whitespace();
    let runs = w.nth(1)?.parse().ok()?;
    let secs = w.nth(2)?.parse().ok()?;
    Some((runs, secs))
}

/// `cargo xtask fuzz btf --time SECONDS`.
pub fn run(ws: &Workspace, seconds: u64) -> Result<(), Error> {
    ensure_cargo_fuzz()?;
    let fuzz_dir = ws.root().join("btf/fuzz");
    let target_dir = ws.target().join("fuzz");
    let common = |cmd: &mut Command| {
        cmd.env("RUSTC_BOOTSTRAP", "1")
            .current_dir(ws.root())
            .arg("--fuzz-dir")
            .arg(&fuzz_dir)
            .arg("--target-dir")
            .arg(&target_dir)
            .arg("-O");
    };
    let mut build = Command::new(cargo());
    build.args(["fuzz", "build"]);
    common(&mut build);
    let status = build.status().map_err(spawn_err)?;
    if !status.success() {
        return Err(Error::Failed(format!(
            "`cargo fuzz build` failed ({status})"
        )));
    }
    let mut summary = Vec::new();
    for &(target, seeds) in BTF_TARGETS {
        let corpus = corpus_dir(ws, target);
        std::fs::create_dir_all(&corpus).map_err(|e| Error::io("cannot create", &corpus, e))?;
        let seeds = fuzz_dir.join("seeds").join(seeds);
        let mut cmd = Command::new(cargo());
        cmd.args(["fuzz", "run"]);
        common(&mut cmd);
        cmd.arg(target)
            .arg(&corpus)
            .arg(&seeds)
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg("-rss_limit_mb=2048")
            .arg("-timeout=10")
            .arg("-print_final_stats=1")
            .stdin(Stdio::null());
        println!("{:>10}  {target} for {seconds} s", "fuzzing");
        let out = cmd.output().map_err(spawn_err)?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let log = target_dir.join(format!("{target}.log"));
        std::fs::write(&log, stderr.as_bytes()).map_err(|e| Error::io("cannot write", &log, e))?;
        if !out.status.success() {
            let tail: Vec<&str> = stderr.lines().rev().take(30).collect();
            return Err(Error::Failed(format!(
                "fuzz target `{target}` failed ({}); artifacts in {}, log {}:\n{}",
                out.status,
                ws.display(&fuzz_dir.join("artifacts").join(target)),
                ws.display(&log),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            )));
        }
        let (runs, secs) = parse_done(&stderr).unwrap_or((0, seconds));
        summary.push((target, runs, secs));
    }
    for (target, runs, secs) in summary {
        println!(
            "{:>10}  {target}: {runs} execs in {secs} s ({}/s)",
            "fuzzed",
            runs / secs.max(1)
        );
    }
    Ok(())
}

/// Where a target's corpus is kept.
pub fn corpus_dir(ws: &Workspace, target: &str) -> PathBuf {
    ws.target().join("fuzz").join("corpus").join(target)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn args() {
        let a = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        assert_eq!(parse_args(&a("btf")).unwrap(), 60);
        assert_eq!(parse_args(&a("btf --time 20")).unwrap(), 20);
        assert!(parse_args(&a("btf --time x")).is_err());
        assert!(parse_args(&a("elf")).is_err());
    }

    #[test]
    fn done_line() {
        let log =
            "#1 INITED\nDone 191261 runs in 21 second(s)\nstat::number_of_executed_units: 191261\n";
        assert_eq!(parse_done(log), Some((191261, 21)));
        assert_eq!(parse_done("nothing"), None);
    }

    #[test]
    fn every_target_has_seeds() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        for &(t, seeds) in BTF_TARGETS {
            let dir = root.join("btf/fuzz/seeds").join(seeds);
            assert!(
                std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_some()),
                "{t}: no seeds in {}",
                dir.display()
            );
            assert!(
                root.join(format!("btf/fuzz/fuzz_targets/{t}.rs")).is_file(),
                "{t}"
            );
        }
    }
}
