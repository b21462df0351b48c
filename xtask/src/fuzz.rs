//! `cargo xtask fuzz [TARGET|CRATE|all] [--time SECONDS]`: the cargo-fuzz
//! targets of every parser and decoder, SECONDS each, on the stable
//! toolchain (`RUSTC_BOOTSTRAP=1` lets cargo-fuzz pass its `-Z` flags).
//!
//! Each crate with targets has a `<crate>/fuzz/` directory (cargo-fuzz
//! layout, its own workspace, excluded from the main one); [`TARGETS`]
//! lists them all. The targets are built optimised *with* debug
//! assertions and overflow checks (`-O -a`), so arithmetic that would wrap
//! silently in release is a finding too.
//!
//! Corpora live in `<target>/fuzz/corpus/<target>`. Seeds come from
//! committed files (`<crate>/fuzz/seeds/<dir>/`) or are made from the test
//! objects when the run starts ([`Seeds`]): the objects of `<target>/bpf`
//! (`cargo xtask build-bpf`), `reloc/tests/data` and the demo, with their
//! DWARF stripped (`llvm-objcopy --strip-debug`; the `.BTF`, `.BTF.ext` and
//! code stay), the program sections of those, and the loader files
//! `oxbpf gen loader` makes of them. Crashes are written to
//! `<crate>/fuzz/artifacts/<target>/`; a crash fails the command. Every
//! run is appended to `<target>/fuzz/runs.tsv`, so the totals per target
//! (time, executions) are printed across runs.
//!
//! Not part of `cargo xtask ci`. Measured on the 2-core development
//! machine: installing cargo-fuzz takes 173 s and the cold ASan builds of
//! the seven fuzz crates 496 s, before any fuzzing; the CI would spend
//! about 12 minutes for a 10-second slice of each of the 15 targets
//! (warm: the builds are incremental and a slice run costs the 150 s of
//! fuzzing plus about 20 s of seeds). The inputs fuzzing found are
//! replayed by the crates' normal tests, which CI runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::{Error, Workspace};

/// Where a target's seeds come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seeds {
    /// Committed files in `<crate>/fuzz/seeds/<dir>/`.
    Committed(&'static str),
    /// The test objects (ELF), DWARF stripped.
    Objects,
    /// The program sections of the test objects, each behind a byte
    /// saying its byte order (0 little, 1 big).
    ProgramText,
    /// Loader files `oxbpf gen loader` makes of the test objects.
    Loaders,
}

/// A fuzz target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FuzzTarget {
    /// The crate's folder (its fuzz directory is `<crate>/fuzz`).
    pub krate: &'static str,
    /// The target (a `[[bin]]` of that fuzz crate).
    pub name: &'static str,
    /// Its seeds.
    pub seeds: Seeds,
}

const fn t(krate: &'static str, name: &'static str, seeds: Seeds) -> FuzzTarget {
    FuzzTarget { krate, name, seeds }
}

/// Every fuzz target, crate by crate. Names are unique across crates.
pub const TARGETS: &[FuzzTarget] = &[
    t("btf", "parse", Seeds::Committed("btf")),
    t("btf", "parse_split", Seeds::Committed("split")),
    t("btf", "ext", Seeds::Committed("ext")),
    t("btf", "dump_c", Seeds::Committed("btf")),
    t("btf", "sanitize", Seeds::Committed("sanitize")),
    t("btf", "decode_value", Seeds::Committed("value")),
    t("asm", "decode", Seeds::ProgramText),
    t("elf-bpf", "object", Seeds::Objects),
    t("reloc", "access", Seeds::Committed("access")),
    t("reloc", "relocate", Seeds::Committed("relocate")),
    t("reloc", "relocate_object", Seeds::Objects),
    t("gen-loader", "loader_file", Seeds::Loaders),
    t("syscalls", "kconfig", Seeds::Committed("kconfig")),
    t("syscalls", "kallsyms", Seeds::Committed("kallsyms")),
    t("loader", "open_plan", Seeds::Objects),
];

/// Seconds per target when `--time` is not given.
pub const DEFAULT_SECONDS: u64 = 60;

/// Seeds larger than this (after stripping) are left out: a mutation of a
/// megabyte-sized object mostly re-parses the same bytes.
const MAX_SEED: u64 = 256 * 1024;

/// What `cargo xtask fuzz` was asked to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The targets, in [`TARGETS`] order.
    pub targets: Vec<FuzzTarget>,
    /// Seconds per target.
    pub seconds: u64,
}

const USAGE: &str = "usage: cargo xtask fuzz [TARGET|CRATE|all] [--time SECONDS]";

/// Parses `[TARGET|CRATE|all] [--time SECONDS]` (either order).
pub fn parse_args(args: &[String]) -> Result<Options, Error> {
    let mut seconds = DEFAULT_SECONDS;
    let mut what: Option<&str> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--time" => {
                let secs = it
                    .next()
                    .ok_or_else(|| Error::Usage(format!("--time takes seconds\n{USAGE}")))?;
                seconds = secs
                    .parse()
                    .map_err(|_| Error::Usage(format!("--time takes seconds, got `{secs}`")))?;
            }
            "-h" | "--help" => return Err(Error::Usage(help())),
            other if what.is_none() && !other.starts_with('-') => what = Some(other),
            other => return Err(Error::Usage(format!("unexpected `{other}`\n{USAGE}"))),
        }
    }
    let targets = select(what.unwrap_or("all"))?;
    Ok(Options { targets, seconds })
}

/// The targets `what` names: one target, a crate's targets, or all.
pub fn select(what: &str) -> Result<Vec<FuzzTarget>, Error> {
    let picked: Vec<FuzzTarget> = TARGETS
        .iter()
        .copied()
        .filter(|t| what == "all" || t.name == what || t.krate == what)
        .collect();
    if picked.is_empty() {
        return Err(Error::Usage(format!(
            "no fuzz target or crate `{what}`\n{}",
            help()
        )));
    }
    Ok(picked)
}

fn help() -> String {
    let mut s = format!("{USAGE}\n\ntargets (crate: targets):\n");
    let mut by_crate: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for t in TARGETS {
        by_crate.entry(t.krate).or_default().push(t.name);
    }
    for (k, names) in by_crate {
        s.push_str(&format!("  {k}: {}\n", names.join(", ")));
    }
    s
}

fn cargo() -> PathBuf {
    std::env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from)
}

fn spawn_err(program: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::Spawn {
        program: program.to_string(),
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
        .map_err(spawn_err("cargo install"))?;
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

/// `cargo fuzz <sub> --fuzz-dir <crate>/fuzz --target-dir <target>/fuzz -O -a`.
fn fuzz_command(ws: &Workspace, sub: &str, krate: &str) -> Command {
    let mut cmd = Command::new(cargo());
    cmd.args(["fuzz", sub])
        .env("RUSTC_BOOTSTRAP", "1")
        .current_dir(ws.root())
        .arg("--fuzz-dir")
        .arg(ws.root().join(krate).join("fuzz"))
        .arg("--target-dir")
        .arg(ws.target().join("fuzz"))
        .args(["-O", "-a"]);
    cmd
}

/// `cargo xtask fuzz`: builds the selected targets, makes their seeds,
/// runs each for `opts.seconds`.
pub fn run(ws: &Workspace, opts: &Options) -> Result<(), Error> {
    ensure_cargo_fuzz()?;
    let target_dir = ws.target().join("fuzz");
    // One build per crate: all its targets, or the one selected.
    let mut crates: Vec<&str> = opts.targets.iter().map(|t| t.krate).collect();
    crates.dedup();
    for krate in crates {
        let mut build = fuzz_command(ws, "build", krate);
        let of_crate = TARGETS.iter().filter(|t| t.krate == krate).count();
        let selected: Vec<_> = opts.targets.iter().filter(|t| t.krate == krate).collect();
        if selected.len() < of_crate {
            for t in &selected {
                build.arg(t.name);
            }
        }
        println!("{:>10}  {krate}/fuzz", "building");
        let status = build.status().map_err(spawn_err("cargo fuzz build"))?;
        if !status.success() {
            return Err(Error::Failed(format!(
                "`cargo fuzz build` of {krate}/fuzz failed ({status})"
            )));
        }
    }
    let mut made: BTreeMap<&str, PathBuf> = BTreeMap::new();
    let mut summary = Vec::new();
    for t in &opts.targets {
        let seeds = match t.seeds {
            Seeds::Committed(dir) => ws.root().join(t.krate).join("fuzz/seeds").join(dir),
            generated => {
                let key = seed_dir_name(generated);
                match made.get(key) {
                    Some(dir) => dir.clone(),
                    None => {
                        let dir = make_seeds(ws, generated)?;
                        made.insert(key, dir.clone());
                        dir
                    }
                }
            }
        };
        let corpus = corpus_dir(ws, t.name);
        std::fs::create_dir_all(&corpus).map_err(|e| Error::io("cannot create", &corpus, e))?;
        let mut cmd = fuzz_command(ws, "run", t.krate);
        cmd.arg(t.name)
            .arg(&corpus)
            .arg(&seeds)
            .arg("--")
            .arg(format!("-max_total_time={}", opts.seconds))
            .arg("-rss_limit_mb=2048")
            .arg("-timeout=10")
            .arg("-print_final_stats=1")
            .stdin(Stdio::null());
        println!("{:>10}  {} for {} s", "fuzzing", t.name, opts.seconds);
        let out = cmd.output().map_err(spawn_err("cargo fuzz run"))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let log = target_dir.join(format!("{}.log", t.name));
        std::fs::write(&log, stderr.as_bytes()).map_err(|e| Error::io("cannot write", &log, e))?;
        let (runs, secs) = parse_done(&stderr).unwrap_or((0, opts.seconds));
        record(ws, t.name, secs, runs, out.status.success())?;
        if !out.status.success() {
            let tail: Vec<&str> = stderr.lines().rev().take(30).collect();
            let artifacts = ws.root().join(t.krate).join("fuzz/artifacts").join(t.name);
            return Err(Error::Failed(format!(
                "fuzz target `{}` failed ({}); artifacts in {}, log {}:\n{}\n\
                 replay one with: RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir {}/fuzz \
                 --target-dir {} -O -a {} {}/<artifact>",
                t.name,
                out.status,
                ws.display(&artifacts),
                ws.display(&log),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
                t.krate,
                ws.display(&target_dir),
                t.name,
                ws.display(&artifacts),
            )));
        }
        summary.push((t.name, runs, secs));
    }
    let totals = totals(&std::fs::read_to_string(runs_file(ws)).unwrap_or_default());
    for (target, runs, secs) in summary {
        let (all_secs, all_runs, n) = totals.get(target).copied().unwrap_or_default();
        println!(
            "{:>10}  {target}: {runs} execs in {secs} s ({}/s); all runs: {all_runs} execs in {all_secs} s over {n} run(s)",
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

fn runs_file(ws: &Workspace) -> PathBuf {
    ws.target().join("fuzz").join("runs.tsv")
}

/// Appends a run to `<target>/fuzz/runs.tsv`:
/// `unix-time  target  seconds  execs  ok|crash`.
fn record(ws: &Workspace, target: &str, secs: u64, runs: u64, ok: bool) -> Result<(), Error> {
    use std::io::Write as _;
    let path = runs_file(ws);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let line = format!(
        "{now}\t{target}\t{secs}\t{runs}\t{}\n",
        if ok { "ok" } else { "crash" }
    );
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(line.as_bytes()))
        .map_err(|e| Error::io("cannot append to", &path, e))
}

/// Per target: (seconds, executions, runs) summed over a runs file.
pub fn totals(tsv: &str) -> BTreeMap<String, (u64, u64, u64)> {
    let mut out: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
    for line in tsv.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let [_, target, secs, runs, _] = f[..] else {
            continue;
        };
        let (Ok(secs), Ok(runs)) = (secs.parse::<u64>(), runs.parse::<u64>()) else {
            continue;
        };
        let e = out.entry(target.to_string()).or_default();
        e.0 += secs;
        e.1 += runs;
        e.2 += 1;
    }
    out
}

fn seed_dir_name(seeds: Seeds) -> &'static str {
    match seeds {
        Seeds::Committed(dir) => dir,
        Seeds::Objects => "objects",
        Seeds::ProgramText => "text",
        Seeds::Loaders => "loaders",
    }
}

/// The test objects seeds are made from: `<target>/bpf/**.bpf.o`,
/// `reloc/tests/data/*.bpf.o` and the demo.
fn test_objects(ws: &Workspace) -> Result<Vec<PathBuf>, Error> {
    let mut out = Vec::new();
    let bpf = ws.bpf_out();
    for dir in [
        bpf.clone(),
        bpf.join("eb"),
        ws.root().join("reloc/tests/data"),
        ws.demo_dir(),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let p = e.map_err(|e| Error::io("cannot list", &dir, e))?.path();
            if p.to_string_lossy().ends_with(".bpf.o") {
                out.push(p);
            }
        }
    }
    out.sort();
    if out.is_empty() {
        return Err(Error::Failed(
            "no test objects to seed from (run `cargo xtask build-bpf`)".into(),
        ));
    }
    Ok(out)
}

/// A seed file's name for object `p`: its parent folder and name.
fn seed_name(p: &Path) -> String {
    let parent = p
        .parent()
        .and_then(|d| d.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{parent}_{name}").replace(['.', '-'], "_")
}

/// Makes a generated seed directory, `<target>/fuzz/seeds/<kind>/`.
/// The loader seeds need the `oxbpf` command: while the workspace does
/// not build, the loaders of an earlier run are used again (said so).
fn make_seeds(ws: &Workspace, kind: Seeds) -> Result<PathBuf, Error> {
    let dir = ws.target().join("fuzz/seeds").join(seed_dir_name(kind));
    let oxbpf = match kind {
        Seeds::Loaders => match build_cli(ws) {
            Ok(path) => Some(path),
            Err(e) if std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_some()) => {
                println!(
                    "{:>10}  the loader seeds of an earlier run in {} ({e})",
                    "reusing",
                    ws.display(&dir)
                );
                return Ok(dir);
            }
            Err(e) => return Err(e),
        },
        _ => None,
    };
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
    let objects = test_objects(ws)?;
    let mut n = 0;
    match kind {
        Seeds::Committed(_) => unreachable!("committed seeds are not made"),
        Seeds::Objects => {
            for o in &objects {
                let out = dir.join(seed_name(o));
                if strip_debug(o, &out)? {
                    n += 1;
                }
            }
        }
        Seeds::ProgramText => {
            for o in &objects {
                let bytes = std::fs::read(o).map_err(|e| Error::io("cannot read", o, e))?;
                let Ok(sections) = exec_sections(&bytes) else {
                    continue;
                };
                let big = bytes.get(5) == Some(&2);
                for (i, text) in sections.iter().enumerate() {
                    if text.len() as u64 > MAX_SEED {
                        continue;
                    }
                    let mut seed = vec![u8::from(big)];
                    seed.extend_from_slice(text);
                    let out = dir.join(format!("{}_{i}", seed_name(o)));
                    std::fs::write(&out, &seed).map_err(|e| Error::io("cannot write", &out, e))?;
                    n += 1;
                }
            }
        }
        Seeds::Loaders => {
            let oxbpf = oxbpf.expect("built above");
            for o in &objects {
                let out = dir.join(seed_name(o));
                let ok = Command::new(&oxbpf)
                    .args(["gen", "loader"])
                    .arg(o)
                    .arg("-o")
                    .arg(&out)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .map_err(spawn_err("oxbpf gen loader"))?
                    .success();
                if ok {
                    n += 1;
                } else {
                    let _ = std::fs::remove_file(&out);
                }
            }
        }
    }
    println!(
        "{:>10}  {n} {} seeds from {} test objects in {}",
        "seeded",
        seed_dir_name(kind),
        objects.len(),
        ws.display(&dir)
    );
    if n == 0 {
        return Err(Error::Failed(format!(
            "no {} seeds could be made from the test objects",
            seed_dir_name(kind)
        )));
    }
    Ok(dir)
}

/// Copies `obj` to `out` without DWARF; false if the result is too large
/// to be a useful seed.
fn strip_debug(obj: &Path, out: &Path) -> Result<bool, Error> {
    let tool = ["llvm-objcopy-19", "llvm-objcopy"]
        .into_iter()
        .find(|t| {
            Command::new(t)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .ok_or_else(|| Error::MissingTool {
            tool: "llvm-objcopy".into(),
            hint: "apt-get install -y llvm-19".into(),
        })?;
    let status = Command::new(tool)
        .arg("--strip-debug")
        .arg(obj)
        .arg(out)
        .stderr(Stdio::null())
        .status()
        .map_err(spawn_err("llvm-objcopy"))?;
    let size = std::fs::metadata(out).map(|m| m.len()).unwrap_or(u64::MAX);
    if !status.success() || size > MAX_SEED {
        let _ = std::fs::remove_file(out);
        return Ok(false);
    }
    Ok(true)
}

/// Builds the `oxbpf` command (debug) and returns its path.
fn build_cli(ws: &Workspace) -> Result<PathBuf, Error> {
    let status = Command::new(cargo())
        .args(["build", "--quiet", "-p", "oxbpf-cli", "--bin", "oxbpf"])
        .current_dir(ws.root())
        .status()
        .map_err(spawn_err("cargo build -p oxbpf-cli"))?;
    if !status.success() {
        return Err(Error::Failed(format!(
            "`cargo build -p oxbpf-cli` failed ({status}); it makes the loader seeds"
        )));
    }
    Ok(ws.target().join("debug").join("oxbpf"))
}

/// The contents of the non-empty executable (`SHF_EXECINSTR`) sections of
/// an ELF64 file of either byte order.
pub fn exec_sections(elf: &[u8]) -> Result<Vec<&[u8]>, String> {
    if elf.get(..5) != Some(b"\x7fELF\x02") {
        return Err("not an ELF64 file".into());
    }
    let big = match elf.get(5) {
        Some(1) => false,
        Some(2) => true,
        _ => return Err("unknown byte order".into()),
    };
    let int = |o: usize, n: usize| -> Result<u64, String> {
        let b = elf
            .get(o..o + n)
            .ok_or_else(|| format!("truncated ELF at {o:#x}"))?;
        Ok(if big {
            b.iter().fold(0, |v, &x| v << 8 | u64::from(x))
        } else {
            b.iter().rev().fold(0, |v, &x| v << 8 | u64::from(x))
        })
    };
    let shoff = int(0x28, 8)? as usize;
    let shentsize = int(0x3a, 2)? as usize;
    let shnum = int(0x3c, 2)? as usize;
    if shentsize < 0x40 {
        return Err(format!("section header size {shentsize}"));
    }
    let mut out = Vec::new();
    for i in 0..shnum {
        let at = shoff
            .checked_add(i * shentsize)
            .ok_or("section header offset overflows")?;
        const SHT_PROGBITS: u64 = 1;
        const SHF_EXECINSTR: u64 = 4;
        let (ty, flags) = (int(at + 4, 4)?, int(at + 8, 8)?);
        if ty != SHT_PROGBITS || flags & SHF_EXECINSTR == 0 {
            continue;
        }
        let (off, size) = (int(at + 0x18, 8)? as usize, int(at + 0x20, 8)? as usize);
        let data = off
            .checked_add(size)
            .and_then(|end| elf.get(off..end))
            .ok_or_else(|| format!("section {i} outside the file"))?;
        if !data.is_empty() {
            out.push(data);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn a(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn args() {
        let all = parse_args(&[]).unwrap();
        assert_eq!((all.targets.len(), all.seconds), (TARGETS.len(), 60));
        let btf = parse_args(&a("btf --time 20")).unwrap();
        assert_eq!(btf.seconds, 20);
        assert!(btf.targets.iter().all(|t| t.krate == "btf"));
        assert_eq!(btf.targets.len(), 6);
        let one = parse_args(&a("--time 5 decode")).unwrap();
        assert_eq!(
            (one.targets[0].name, one.targets.len(), one.seconds),
            ("decode", 1, 5)
        );
        assert_eq!(
            parse_args(&a("gen-loader")).unwrap().targets[0].name,
            "loader_file"
        );
        assert!(parse_args(&a("btf --time x")).is_err());
        assert!(parse_args(&a("btf --time")).is_err());
        assert!(parse_args(&a("nothing")).is_err());
        assert!(parse_args(&a("btf asm")).is_err());
    }

    #[test]
    fn names_are_unique_and_no_crate_shadows_a_target() {
        let names: BTreeSet<_> = TARGETS.iter().map(|t| t.name).collect();
        assert_eq!(names.len(), TARGETS.len());
        for t in TARGETS {
            assert!(
                !names.contains(t.krate),
                "crate {} is also a target",
                t.krate
            );
        }
    }

    #[test]
    fn done_line() {
        let log =
            "#1 INITED\nDone 191261 runs in 21 second(s)\nstat::number_of_executed_units: 191261\n";
        assert_eq!(parse_done(log), Some((191261, 21)));
        assert_eq!(parse_done("nothing"), None);
    }

    #[test]
    fn run_totals() {
        let tsv =
            "1\tdecode\t60\t1000\tok\n2\tdecode\t30\t500\tcrash\n3\tparse\t10\t7\tok\nbad line\n";
        let t = totals(tsv);
        assert_eq!(t["decode"], (90, 1500, 2));
        assert_eq!(t["parse"], (10, 7, 1));
        assert_eq!(t.len(), 2);
    }

    /// Every target is a `[[bin]]` of its crate's fuzz directory, whose
    /// folder the root manifest excludes; committed seeds exist.
    #[test]
    fn every_target_is_declared_and_seeded() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let workspace = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
        for t in TARGETS {
            let fuzz = root.join(t.krate).join("fuzz");
            let manifest = std::fs::read_to_string(fuzz.join("Cargo.toml")).unwrap();
            assert!(
                manifest.contains(&format!("name = \"{}\"", t.name)),
                "{}: not a [[bin]] of {}",
                t.name,
                fuzz.display()
            );
            assert!(
                fuzz.join(format!("fuzz_targets/{}.rs", t.name)).is_file(),
                "{}",
                t.name
            );
            assert!(
                workspace.contains(&format!("\"{}/fuzz\"", t.krate)),
                "the workspace does not exclude {}/fuzz",
                t.krate
            );
            if let Seeds::Committed(dir) = t.seeds {
                let dir = fuzz.join("seeds").join(dir);
                assert!(
                    std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_some()),
                    "{}: no seeds in {}",
                    t.name,
                    dir.display()
                );
            }
        }
    }

    /// An ELF64 file with a null section, a `.text` of one instruction
    /// and a data section.
    fn tiny_elf(big: bool) -> Vec<u8> {
        let put = |v: &mut Vec<u8>, x: u64, n: usize| {
            let b = x.to_le_bytes();
            let mut b = b[..n].to_vec();
            if big {
                b.reverse();
            }
            v.extend(b);
        };
        let mut e = b"\x7fELF\x02".to_vec();
        e.push(if big { 2 } else { 1 });
        e.resize(0x28, 0);
        put(&mut e, 0x48, 8); // e_shoff: after the header and the code
        e.resize(0x3a, 0);
        put(&mut e, 0x40, 2); // e_shentsize
        put(&mut e, 3, 2); // e_shnum
        put(&mut e, 0, 2);
        e.resize(0x40, 0);
        e.extend([0xb7, 0, 0, 0, 0, 0, 0, 0]); // r0 = 0 at 0x40
        e.resize(0x48 + 0x40, 0); // section 0: null
        for (ty, flags) in [(1u64, 6u64), (1, 3)] {
            let start = e.len();
            put(&mut e, 0, 4);
            put(&mut e, ty, 4);
            put(&mut e, flags, 8);
            put(&mut e, 0, 8);
            put(&mut e, 0x40, 8);
            put(&mut e, 8, 8);
            e.resize(start + 0x40, 0);
        }
        e
    }

    #[test]
    fn program_sections_of_both_byte_orders() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let obj = std::fs::read(root.join("reloc/tests/data/core_enum_unsigned.bpf.o")).unwrap();
        let text = exec_sections(&obj).unwrap();
        assert!(!text.is_empty());
        assert!(text.iter().all(|t| t.len() % 8 == 0));
        for big in [false, true] {
            let elf = tiny_elf(big);
            assert_eq!(
                exec_sections(&elf).unwrap(),
                [&[0xb7u8, 0, 0, 0, 0, 0, 0, 0][..]]
            );
        }
        assert!(exec_sections(b"\x7fELF\x02\x01").is_err(), "truncated");
        assert!(exec_sections(b"\x7fELF\x01\x01\x01\x00").is_err(), "ELF32");
        assert_eq!(seed_name(Path::new("/t/bpf/eb/x-y.bpf.o")), "eb_x_y_bpf_o");
    }
}
