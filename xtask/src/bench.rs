//! `cargo xtask bench btf|core|ringbuf|loader`: the benchmarks against
//! libbpf (criterion, oxbpf side by side with libbpf through libbpf-sys),
//! then instruction counts of one operation each under
//! `valgrind --tool=callgrind` (not for `loader`, whose time is the
//! kernel's).
//!
//! - `btf`: package `btf/benches` — vmlinux BTF parse, load, lookups.
//! - `core`: package `reloc/benches` — open and CO-RE-relocate
//!   `reloc/tests/data/core_many.bpf.o` (1,450 relocations) against the
//!   running kernel's BTF, reading it included, without loading programs.
//! - `ringbuf`: package `loader/benches` — ring buffer consumption,
//!   oxbpf's `RingBuffer` and libbpf's `ring_buffer__consume`/`__poll` on
//!   the same map, events/s for 16/64/512-byte records, drained after the
//!   producer and concurrently; callgrind counts of the pure consume path.
//! - `loader`: package `loader/benches` — generated loaders, libbpf's
//!   (`bpf_object__gen_loader`) and oxbpf's, sizes and load times, and
//!   oxbpf's live load; runs `build-bpf` first (it loads corpus objects).
//!
//! The packages are outside the workspace so that nothing else builds
//! libbpf. Not part of `ci`: timings are never assertions, and the benches
//! need libelf-dev, zlib1g-dev and pkg-config (libbpf-sys builds libbpf)
//! and valgrind.

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

/// Modes of the `core-callgrind` binary, in the order they are measured.
pub const CORE_CALLGRIND_MODES: &[&str] = &[
    "setup",
    "oxbpf-plan",
    "oxbpf-relocator",
    "oxbpf-relocator-mmap",
    "libbpf-open",
    "libbpf-prepare",
];

/// Modes of the `ringbuf-callgrind` binary, in the order they are
/// measured.
pub const RINGBUF_CALLGRIND_MODES: &[&str] = &[
    "setup",
    "oxbpf-consume",
    "libbpf-consume",
    "oxbpf-poll",
    "libbpf-poll",
];

/// Records `ringbuf-callgrind` drains (its `RECORDS`).
pub const RINGBUF_CALLGRIND_RECORDS: u64 = 10_000;

/// Which benchmark to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bench {
    /// `btf/benches`.
    Btf,
    /// `reloc/benches`.
    Core,
    /// `loader/benches`, bench `ringbuf`.
    Ringbuf,
    /// `loader/benches`, bench `loader`.
    Loader,
}

/// Parses `btf`, `core`, `ringbuf` or `loader`.
pub fn parse_args(args: &[String]) -> Result<Bench, Error> {
    match args {
        [what] if what == "btf" => Ok(Bench::Btf),
        [what] if what == "core" => Ok(Bench::Core),
        [what] if what == "ringbuf" => Ok(Bench::Ringbuf),
        [what] if what == "loader" => Ok(Bench::Loader),
        _ => Err(Error::Usage(
            "usage: cargo xtask bench btf|core|ringbuf|loader".to_string(),
        )),
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

/// `cargo xtask bench btf|core|ringbuf|loader`.
pub fn run(ws: &Workspace, which: Bench) -> Result<(), Error> {
    let (package, bench, callgrind_bin): (&str, &str, Option<(&str, &[&str])>) = match which {
        Bench::Btf => (
            "btf/benches",
            "btf",
            Some(("btf-callgrind", CALLGRIND_MODES)),
        ),
        Bench::Core => (
            "reloc/benches",
            "core",
            Some(("core-callgrind", CORE_CALLGRIND_MODES)),
        ),
        Bench::Ringbuf => (
            "loader/benches",
            "ringbuf",
            Some(("ringbuf-callgrind", RINGBUF_CALLGRIND_MODES)),
        ),
        Bench::Loader => ("loader/benches", "loader", None),
    };
    if which == Bench::Loader {
        crate::bpf::build_corpus(ws)?;
    }
    let manifest = ws.root().join(package).join("Cargo.toml");
    let target_dir = ws.target().join("bench");
    let status = Command::new(cargo())
        .arg("bench")
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        .args(["--bench", bench])
        // Criterion writes its reports under $CARGO_TARGET_DIR/criterion.
        .env("CARGO_TARGET_DIR", &target_dir)
        .env("OXBPF_BPF_DIR", ws.bpf_out())
        .current_dir(ws.root())
        .status()
        .map_err(spawn_err("cargo"))?;
    if !status.success() {
        return Err(Error::Failed(format!("`cargo bench` failed ({status})")));
    }
    let Some((bin, modes)) = callgrind_bin else {
        return Ok(());
    };
    let status = Command::new(cargo())
        .args(["build", "--release", "--bin", bin, "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        .status()
        .map_err(spawn_err("cargo"))?;
    if !status.success() {
        return Err(Error::Failed(format!("building {bin} failed ({status})")));
    }
    let counts = callgrind(&target_dir.join("release").join(bin), &target_dir, modes)?;
    match which {
        Bench::Btf => report_btf(&counts),
        Bench::Core => report_core(&counts),
        Bench::Ringbuf => report_ringbuf(&counts),
        Bench::Loader => {}
    }
    Ok(())
}

/// Instruction counts of each mode of `bin`, in `modes` order (the first
/// mode is the setup the others are measured against).
fn callgrind<'a>(bin: &Path, dir: &Path, modes: &[&'a str]) -> Result<Vec<(&'a str, u64)>, Error> {
    let name = bin.file_name().unwrap_or_default().to_string_lossy();
    let mut counts = Vec::new();
    for mode in modes {
        let out_file = dir.join(format!("callgrind.{name}.{mode}.out"));
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
                "callgrind of `{name} {mode}` failed ({}):\n{stderr}",
                out.status
            )));
        };
        counts.push((*mode, n));
    }
    Ok(counts)
}

/// A mode's count minus the setup's (the first).
fn net(counts: &[(&str, u64)], mode: &str) -> u64 {
    let setup = counts.first().map_or(0, |c| c.1);
    counts
        .iter()
        .find(|(k, _)| *k == mode)
        .map_or(0, |(_, n)| n.saturating_sub(setup))
}

fn print_counts(counts: &[(&str, u64)]) {
    println!("\n=== callgrind: instructions of one operation (mode minus setup) ===");
    for (mode, _) in &counts[1..] {
        println!("{mode:<22} {:>14}", net(counts, mode));
    }
}

fn report_btf(counts: &[(&str, u64)]) {
    print_counts(counts);
    let net = |m: &str| net(counts, m);
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
}

fn report_core(counts: &[(&str, u64)]) {
    print_counts(counts);
    let net = |m: &str| net(counts, m);
    let r = |a: &str, b: &str| net(a) as f64 / net(b).max(1) as f64;
    println!(
        "user-space instructions (the kernel's share of reads and bpf() calls is not counted): \
         libbpf open+prepare = {:.1}x oxbpf open+plan, {:.1}x the CoreRelocator path",
        r("libbpf-prepare", "oxbpf-plan"),
        r("libbpf-prepare", "oxbpf-relocator")
    );
}

fn report_ringbuf(counts: &[(&str, u64)]) {
    print_counts(counts);
    let per = |m: &str| net(counts, m) as f64 / RINGBUF_CALLGRIND_RECORDS as f64;
    for read in ["consume", "poll"] {
        let (o, l) = (
            per(&format!("oxbpf-{read}")),
            per(&format!("libbpf-{read}")),
        );
        println!(
            "{read}: {o:.1} instructions a record (oxbpf) vs {l:.1} (libbpf) = {:.2}x; \
             {RINGBUF_CALLGRIND_RECORDS} records of 64 B already in the ring",
            o / l
        );
    }
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
        assert_eq!(parse_args(&["btf".to_string()]).unwrap(), Bench::Btf);
        assert_eq!(parse_args(&["core".to_string()]).unwrap(), Bench::Core);
        assert_eq!(
            parse_args(&["ringbuf".to_string()]).unwrap(),
            Bench::Ringbuf
        );
        assert_eq!(parse_args(&["loader".to_string()]).unwrap(), Bench::Loader);
        assert!(parse_args(&[]).is_err());
        assert!(parse_args(&["other".to_string()]).is_err());
    }
}
