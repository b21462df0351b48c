//! `cargo xtask test` and `cargo xtask ci`: run the workspace's tests and
//! summarise them, counting the live-kernel tests apart.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{Error, Workspace, bpf, prereq};

/// Environment variable through which tests find the corpus objects.
pub const BPF_DIR_ENV: &str = "OXBPF_BPF_DIR";

/// Environment variable naming the file where tests record their skips
/// (`oxbpf-tests`' `require!`: `<binary>\t<test>\t<reason>` lines).
pub const SKIP_LOG_ENV: &str = "OXBPF_SKIP_LOG";

/// `cargo xtask test [CARGO TEST ARGS] [-- HARNESS ARGS]`.
pub fn run(ws: &Workspace, args: &[String]) -> Result<(), Error> {
    prereq::ensure()?;
    if !prereq::is_root() {
        println!("warning: not running as root; the live-kernel tests need root and will fail");
    }
    bpf::build_corpus(ws)?;
    let summary = cargo_test(ws, args)?;
    print!("{}", summary.render());
    if summary.ok() {
        Ok(())
    } else {
        Err(Error::Failed(summary.verdict()))
    }
}

/// `cargo xtask ci`: formatting, lints, [`run`], CO-RE against other
/// kernels' BTF ([`crate::core_targets`]: about 45 s with the kernel
/// packages to fetch and unpack, 5 s cached), then the bounded vm-test.
/// The fuzz targets are not run here: `cargo xtask fuzz` on demand (see
/// [`crate::fuzz`] for what a CI slice would cost).
pub fn ci(ws: &Workspace) -> Result<(), Error> {
    let cargo = cargo_program();
    for (component, args) in [
        ("rustfmt", &["fmt", "--all", "--", "--check"][..]),
        (
            "clippy",
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ][..],
        ),
    ] {
        let sub = args[0];
        let present = Command::new(&cargo)
            .args([sub, "--version"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !present {
            return Err(Error::MissingTool {
                tool: format!("cargo {sub}"),
                hint: format!("rustup component add {component}"),
            });
        }
        let what = format!("cargo {}", args.join(" "));
        println!("==> {what}");
        let status = Command::new(&cargo)
            .args(args)
            .current_dir(ws.root())
            .status()
            .map_err(|e| Error::Spawn {
                program: what.clone(),
                source: e,
            })?;
        if !status.success() {
            return Err(Error::Failed(format!("`{what}` failed ({status})")));
        }
    }
    println!("==> cargo xtask test");
    run(ws, &[])?;
    println!("==> cargo xtask core-targets");
    crate::core_targets::run(ws)?;
    println!("==> cargo xtask vm-test {}", CI_VM_TEST.join(" "));
    let args: Vec<String> = CI_VM_TEST.iter().map(|a| a.to_string()).collect();
    crate::vm::run(ws, &args)
}

/// The bounded vm-test of `cargo xtask ci`: one 6.1 kernel, the tests
/// this host cannot run (`vm_*`: fentry, LSM, kprobes) and a few
/// behaviour tests of the common program types, plus the feature probes'
/// unit tests (each BTF probe checked against its declared minimum
/// kernel). The whole matrix (`cargo xtask vm-test --kernel all`) runs on
/// demand.
pub const CI_VM_TEST: &[&str] = &[
    "--kernel",
    "6.1",
    "--filter",
    "oxbpf-tests:vm_",
    "--filter",
    "probe::tests",
    "--filter",
    "probe_prog::tests",
    "--filter",
    "behaviour_tracepoint",
    "--filter",
    "behaviour_tp_btf",
    "--filter",
    "behaviour_raw_tp",
    "--filter",
    "behaviour_xdp_count",
    "--filter",
    "behaviour_maps_btf",
];

pub(crate) fn cargo_program() -> PathBuf {
    std::env::var_os("CARGO")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("cargo"))
}

/// Runs `cargo test`, echoing its output while reading it into a
/// [`Summary`]. cargo's stdout and stderr share one pipe so that the
/// "Running <binary>" lines (stderr) stay in order with the results
/// (stdout). JSON messages (`--message-format=json-render-diagnostics`),
/// which map each test binary to its package, are read but not echoed;
/// rustdoc's JSON diagnostics (doc-tests that fail to compile) are shown
/// rendered.
fn cargo_test(ws: &Workspace, args: &[String]) -> Result<Summary, Error> {
    let (cargo_args, harness_args) = match args.iter().position(|a| a == "--") {
        Some(i) => (&args[..i], &args[i + 1..]),
        None => (args, &[][..]),
    };
    let mut cmd_args: Vec<String> = vec!["test".into()];
    let selects_packages = cargo_args
        .iter()
        .any(|a| a == "-p" || a.starts_with("--package") || a.starts_with("-p"));
    if !selects_packages && !cargo_args.iter().any(|a| a == "--workspace") {
        cmd_args.push("--workspace".into());
    }
    if !cargo_args
        .iter()
        .any(|a| a == "--no-fail-fast" || a == "--fail-fast")
    {
        cmd_args.push("--no-fail-fast".into());
    }
    cmd_args.push("--message-format=json-render-diagnostics".into());
    cmd_args.extend(cargo_args.iter().cloned());
    if !harness_args.is_empty() {
        cmd_args.push("--".into());
        cmd_args.extend(harness_args.iter().cloned());
    }
    println!("==> cargo {}", cmd_args.join(" "));

    // `sh` joins cargo's stderr to its stdout (2>&1) so that one reader
    // sees both in order.
    let skip_log = ws.target().join("oxbpf-test-skips.log");
    let _ = std::fs::remove_file(&skip_log);
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("exec \"$0\" \"$@\" 2>&1")
        .arg(cargo_program())
        .args(&cmd_args)
        .current_dir(ws.root())
        .env(BPF_DIR_ENV, ws.bpf_out())
        .env(SKIP_LOG_ENV, &skip_log)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Spawn {
            program: "sh -c 'cargo test ... 2>&1'".into(),
            source: e,
        })?;
    let reader = child
        .stdout
        .take()
        .ok_or_else(|| Error::Failed("cargo test: no pipe for its output".into()))?;

    let mut summary = Summary::new(ws.clone());
    let mut out = std::io::stdout();
    for line in BufReader::new(reader).split(b'\n') {
        let line = line.map_err(|e| Error::Spawn {
            program: "cargo test (reading its output)".into(),
            source: e,
        })?;
        let line = String::from_utf8_lossy(&line);
        if let Some(shown) = summary.feed(&line) {
            let _ = writeln!(out, "{shown}");
        }
    }
    let status = child.wait().map_err(|e| Error::Spawn {
        program: "cargo test".into(),
        source: e,
    })?;
    summary.cargo_succeeded = status.success();
    summary.cargo_status = status.to_string();
    summary.apply_skips(&std::fs::read_to_string(&skip_log).unwrap_or_default());
    Ok(summary)
}

/// One test binary's results.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BinaryResult {
    /// Package name (from cargo's JSON messages), if known.
    pub package: Option<String>,
    /// How cargo announced it: `unittests src/lib.rs`, `tests/live.rs`,
    /// `doc-tests`.
    pub label: String,
    /// Whether it belongs to the live-kernel test package `oxbpf-tests`.
    pub live: bool,
    /// The executable's file name (`live-0123abcd`).
    pub exe: String,
    /// Tests passed (skipped ones not counted).
    pub passed: u64,
    /// Tests that returned early as skips (libtest shows them as passed;
    /// the skip log says otherwise).
    pub skipped: u64,
    /// Names (with reasons) of the skipped tests.
    pub skipped_names: Vec<String>,
    /// Tests failed.
    pub failed: u64,
    /// Tests ignored (skipped): not passes, so listed by name.
    pub ignored: u64,
    /// Names (with reasons) of the ignored tests.
    pub ignored_names: Vec<String>,
    /// Names of the failed tests.
    pub failed_names: Vec<String>,
    /// Whether its libtest `test result:` line was seen. Binaries with
    /// their own harness (`harness = false`) have none.
    pub finished: bool,
    /// Whether cargo reported the binary as failed (`error: test failed,
    /// to rerun pass ...`): failing tests, a crash, a custom harness
    /// exiting non-zero, or doc-tests that do not compile.
    pub process_failed: bool,
}

impl BinaryResult {
    /// Whether this binary counts as failed.
    pub fn is_failure(&self) -> bool {
        self.failed > 0 || self.process_failed
    }
}

/// What a `cargo test` run did, read from its output.
#[derive(Debug)]
pub struct Summary {
    ws: Workspace,
    /// executable file name -> (package, manifest path)
    executables: HashMap<String, (String, PathBuf)>,
    /// library crate name -> (package, manifest path), for doc-tests
    libraries: HashMap<String, (String, PathBuf)>,
    /// The binaries in the order they ran.
    pub binaries: Vec<BinaryResult>,
    /// Whether cargo itself exited successfully.
    pub cargo_succeeded: bool,
    /// cargo's exit status, for messages.
    pub cargo_status: String,
}

impl Summary {
    /// An empty summary for a run in `ws`.
    pub fn new(ws: Workspace) -> Self {
        Summary {
            ws,
            executables: HashMap::new(),
            libraries: HashMap::new(),
            binaries: Vec::new(),
            cargo_succeeded: false,
            cargo_status: String::new(),
        }
    }

    /// Reads one line of cargo's combined output. Returns what to show for
    /// it: the line itself, a rendered diagnostic, or nothing (cargo's JSON
    /// messages).
    pub fn feed(&mut self, line: &str) -> Option<String> {
        let trimmed = line.trim();
        if trimmed.starts_with("{\"reason\":") {
            self.feed_json(trimmed);
            return None;
        }
        if trimmed.starts_with("{\"$message_type\":") {
            return json_str(trimmed, "rendered").map(|r| r.trim_end().to_string());
        }
        if trimmed.starts_with("error: test failed, to rerun pass")
            || trimmed.starts_with("error: doctest failed, to rerun pass")
        {
            if let Some(bin) = self.binaries.last_mut() {
                bin.process_failed = true;
            }
        } else if let Some(rest) = trimmed.strip_prefix("Running ") {
            // "Running unittests src/lib.rs (target/debug/deps/x-0123abcd)"
            if let (Some(open), true) = (rest.rfind(" ("), rest.ends_with(')')) {
                let label = rest[..open].to_string();
                let exe = &rest[open + 2..rest.len() - 1];
                let file = Path::new(exe)
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let found = self.executables.get(&file).cloned();
                self.start_binary(label, found);
                if let Some(bin) = self.binaries.last_mut() {
                    bin.exe = file;
                }
            }
        } else if let Some(krate) = trimmed.strip_prefix("Doc-tests ") {
            let found = self.libraries.get(krate.trim()).cloned();
            self.start_binary("doc-tests".into(), found);
        } else if let Some(rest) = trimmed.strip_prefix("test result: ") {
            if let Some(bin) = self.binaries.last_mut() {
                bin.passed += count_before(rest, " passed");
                bin.failed += count_before(rest, " failed");
                bin.ignored += count_before(rest, " ignored");
                bin.finished = true;
            }
        } else if let Some(rest) = trimmed.strip_prefix("test ") {
            // "test name ... ok" / "... FAILED" / "... ignored[, reason]"
            if let (Some((name, outcome)), Some(bin)) =
                (rest.split_once(" ... "), self.binaries.last_mut())
            {
                if outcome == "FAILED" {
                    bin.failed_names.push(name.to_string());
                } else if let Some(reason) = outcome.strip_prefix("ignored") {
                    let reason = reason.trim_start_matches(", ").trim();
                    bin.ignored_names.push(if reason.is_empty() {
                        name.to_string()
                    } else {
                        format!("{name} ({reason})")
                    });
                }
            }
        }
        Some(line.to_string())
    }

    fn feed_json(&mut self, json: &str) {
        if json_str(json, "reason").as_deref() != Some("compiler-artifact") {
            return;
        }
        let (Some(manifest), Some(package_id)) = (
            json_str(json, "manifest_path"),
            json_str(json, "package_id"),
        ) else {
            return;
        };
        let manifest = PathBuf::from(manifest);
        let package = package_name(&package_id, &manifest);
        if let Some(exe) = json_str(json, "executable") {
            if let Some(file) = Path::new(&exe).file_name() {
                self.executables.insert(
                    file.to_string_lossy().into_owned(),
                    (package.clone(), manifest.clone()),
                );
            }
        }
        // The "target" object: its kind and name say which library crate
        // the package's doc-tests are named after.
        if let Some(target) = json.find("\"target\":{").map(|i| &json[i..]) {
            let is_lib = target
                .find("\"kind\":[")
                .map(|i| &target[i..])
                .and_then(|k| k.find(']').map(|end| &k[..end]))
                .is_some_and(|kinds| {
                    kinds.contains("\"lib\"")
                        || kinds.contains("\"rlib\"")
                        || kinds.contains("\"proc-macro\"")
                });
            if let (true, Some(name)) = (is_lib, json_str(target, "name")) {
                self.libraries.insert(name, (package, manifest));
            }
        }
    }

    fn start_binary(&mut self, label: String, found: Option<(String, PathBuf)>) {
        let live = found
            .as_ref()
            .is_some_and(|(_, manifest)| self.ws.is_live_test_manifest(manifest));
        self.binaries.push(BinaryResult {
            package: found.map(|(package, _)| package),
            label,
            live,
            ..BinaryResult::default()
        });
    }

    /// Moves the tests a skip log lists (`<exe>\t<test>\t<reason>`
    /// lines) from passed to skipped.
    pub fn apply_skips(&mut self, log: &str) {
        for line in log.lines() {
            let mut f = line.splitn(3, '\t');
            let (Some(exe), Some(test)) = (f.next(), f.next()) else {
                continue;
            };
            let reason = f.next().unwrap_or("");
            if let Some(bin) = self.binaries.iter_mut().rev().find(|b| b.exe == exe) {
                bin.passed = bin.passed.saturating_sub(1);
                bin.skipped += 1;
                bin.skipped_names.push(format!("{test} ({reason})"));
            }
        }
    }

    /// Skipped tests over the binaries `pick` selects.
    pub fn skipped(&self, pick: impl Fn(&BinaryResult) -> bool) -> u64 {
        self.binaries
            .iter()
            .filter(|b| pick(b))
            .map(|b| b.skipped)
            .sum()
    }

    /// `(passed, failed, ignored)` over the binaries `pick` selects.
    pub fn totals(&self, pick: impl Fn(&BinaryResult) -> bool) -> (u64, u64, u64) {
        self.binaries
            .iter()
            .filter(|b| pick(b))
            .fold((0, 0, 0), |(p, f, i), b| {
                (p + b.passed, f + b.failed, i + b.ignored)
            })
    }

    /// Whether everything passed: cargo succeeded and no binary failed.
    pub fn ok(&self) -> bool {
        self.cargo_succeeded && !self.binaries.iter().any(BinaryResult::is_failure)
    }

    /// One line saying why the run failed (or that it passed).
    pub fn verdict(&self) -> String {
        let (_, failed, _) = self.totals(|_| true);
        let failed_bins = self.binaries.iter().filter(|b| b.is_failure()).count();
        if self.ok() {
            "all tests passed".into()
        } else if failed_bins > 0 {
            format!("{failed} tests failed; {failed_bins} test binaries failed")
        } else {
            format!(
                "cargo test failed ({}) before reporting results, see above",
                self.cargo_status
            )
        }
    }

    /// The summary table printed at the end of `cargo xtask test`.
    pub fn render(&self) -> String {
        let mut s = String::new();
        s.push_str("\n==> test summary\n");
        s.push_str(&format!(
            "  {:<16} {:<40} {:>7} {:>7} {:>7} {:>7}\n",
            "package", "binary", "passed", "failed", "ignored", "skipped"
        ));
        for b in &self.binaries {
            let package = b.package.as_deref().unwrap_or("?");
            let mut mark = String::new();
            if b.is_failure() {
                mark.push_str("  <- FAILED");
            }
            if b.live {
                mark.push_str("  (live kernel)");
            }
            if b.finished {
                s.push_str(&format!(
                    "  {:<16} {:<40} {:>7} {:>7} {:>7} {:>7}{mark}\n",
                    package, b.label, b.passed, b.failed, b.ignored, b.skipped
                ));
            } else {
                // No libtest summary: a custom harness, or it never ran.
                let what = if b.process_failed {
                    "did not pass"
                } else {
                    "own harness, exit 0"
                };
                s.push_str(&format!(
                    "  {:<16} {:<40} {:>31}{mark}\n",
                    package, b.label, what
                ));
            }
        }
        for b in &self.binaries {
            for name in &b.failed_names {
                s.push_str(&format!(
                    "  failed:  {} {}: {name}\n",
                    b.package.as_deref().unwrap_or("?"),
                    b.label
                ));
            }
            for name in &b.ignored_names {
                s.push_str(&format!(
                    "  ignored: {} {}: {name}\n",
                    b.package.as_deref().unwrap_or("?"),
                    b.label
                ));
            }
            for name in &b.skipped_names {
                s.push_str(&format!(
                    "  skipped: {} {}: {name}\n",
                    b.package.as_deref().unwrap_or("?"),
                    b.label
                ));
            }
        }
        let (p, f, i) = self.totals(|_| true);
        let sk = self.skipped(|_| true);
        s.push_str(&format!(
            "  total: {p} passed, {f} failed, {i} ignored, {sk} skipped in {} test binaries\n",
            self.binaries.len()
        ));
        let live_bins = self.binaries.iter().filter(|b| b.live).count();
        let (lp, lf, li) = self.totals(|b| b.live);
        let ls = self.skipped(|b| b.live);
        s.push_str(&format!(
            "  live-kernel tests (package oxbpf-tests): {lp} passed, {lf} failed, {li} ignored, {ls} skipped in {live_bins} binaries\n"
        ));
        s.push_str(&format!("  result: {}\n", self.verdict()));
        s
    }
}

/// The number just before `word` in a `test result:` line, e.g.
/// `count_before("ok. 3 passed; 0 failed", " passed") == 3`.
fn count_before(line: &str, word: &str) -> u64 {
    line.find(word)
        .map(|end| &line[..end])
        .and_then(|head| head.rsplit([' ', ';', '.']).next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// The package name in a cargo package id (`path+file:///w/asm#oxbpf-asm@0.1.0`);
/// when cargo leaves it out (directory name == package name:
/// `path+file:///w/a#0.1.0`) the manifest's directory name.
fn package_name(package_id: &str, manifest: &Path) -> String {
    if let Some((_, frag)) = package_id.rsplit_once('#') {
        if let Some((name, _version)) = frag.split_once('@') {
            return name.to_string();
        }
    }
    manifest
        .parent()
        .and_then(|d| d.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| package_id.to_string())
}

/// The string value of the first `"key":"..."` in a JSON text (no nesting
/// awareness: callers pass the sub-slice to search). Unescapes the JSON
/// escapes (a `\uXXXX` that is no scalar value becomes U+FFFD); `null`
/// and non-strings give `None`.
pub(crate) fn json_str(json: &str, key: &str) -> Option<String> {
    let needle = format!("\"{key}\":\"");
    let start = json.find(&needle)? + needle.len();
    let mut value = String::new();
    let mut chars = json[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(value),
            '\\' => match chars.next()? {
                'n' => value.push('\n'),
                't' => value.push('\t'),
                'r' => value.push('\r'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    let c = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32);
                    value.push(c.unwrap_or('\u{fffd}'));
                }
                other => value.push(other),
            },
            c => value.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws() -> Workspace {
        Workspace::new("/w".into(), "/w/target".into())
    }

    const ARTIFACTS: &[&str] = &[
        r#"{"reason":"compiler-artifact","package_id":"path+file:///w/asm#oxbpf-asm@0.1.0","manifest_path":"/w/asm/Cargo.toml","target":{"kind":["lib"],"crate_types":["lib"],"name":"oxbpf_asm","src_path":"/w/asm/src/lib.rs"},"profile":{"test":false},"executable":null,"fresh":true}"#,
        r#"{"reason":"compiler-artifact","package_id":"path+file:///w/asm#oxbpf-asm@0.1.0","manifest_path":"/w/asm/Cargo.toml","target":{"kind":["lib"],"crate_types":["lib"],"name":"oxbpf_asm","src_path":"/w/asm/src/lib.rs"},"profile":{"test":true},"executable":"/w/target/debug/deps/oxbpf_asm-1111","fresh":true}"#,
        r#"{"reason":"compiler-artifact","package_id":"path+file:///w/tests#oxbpf-tests@0.1.0","manifest_path":"/w/tests/Cargo.toml","target":{"kind":["test"],"crate_types":["bin"],"name":"live","src_path":"/w/tests/tests/live.rs"},"profile":{"test":true},"executable":"/w/target/debug/deps/live-2222","fresh":false}"#,
        r#"{"reason":"compiler-artifact","package_id":"path+file:///w/tests#oxbpf-tests@0.1.0","manifest_path":"/w/tests/Cargo.toml","target":{"kind":["lib"],"crate_types":["lib"],"name":"oxbpf_tests","src_path":"/w/tests/src/lib.rs"},"profile":{"test":false},"executable":null,"fresh":true}"#,
        r#"{"reason":"build-finished","success":true}"#,
    ];

    const OUTPUT: &str = "\
     Running unittests src/lib.rs (target/debug/deps/oxbpf_asm-1111)

running 3 tests
test a ... ok
test b ... ignored, needs a newer kernel
test c ... ok

test result: ok. 2 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s

     Running tests/live.rs (target/debug/deps/live-2222)

running 2 tests
test loads_xdp ... ok
test counts_getpid ... FAILED

test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.10s

   Doc-tests oxbpf_tests

running 1 test
test tests/src/lib.rs - (line 3) ... ok

test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.20s
";

    fn summary() -> Summary {
        let mut s = Summary::new(ws());
        for a in ARTIFACTS {
            assert_eq!(s.feed(a), None, "JSON lines are swallowed");
        }
        for line in OUTPUT.lines() {
            assert_eq!(s.feed(line).as_deref(), Some(line), "test output is shown");
        }
        s.cargo_succeeded = false;
        s
    }

    #[test]
    fn binaries_are_attributed_to_packages() {
        let s = summary();
        let pk: Vec<_> = s
            .binaries
            .iter()
            .map(|b| {
                (
                    b.package.as_deref().unwrap_or("?"),
                    b.label.as_str(),
                    b.live,
                )
            })
            .collect();
        assert_eq!(
            pk,
            [
                ("oxbpf-asm", "unittests src/lib.rs", false),
                ("oxbpf-tests", "tests/live.rs", true),
                ("oxbpf-tests", "doc-tests", true),
            ]
        );
    }

    #[test]
    fn counts_and_names() {
        let s = summary();
        assert_eq!(s.totals(|_| true), (4, 1, 1));
        assert_eq!(s.totals(|b| b.live), (2, 1, 0));
        assert_eq!(s.binaries[0].ignored_names, ["b (needs a newer kernel)"]);
        assert_eq!(s.binaries[1].failed_names, ["counts_getpid"]);
        assert!(!s.ok());
        let text = s.render();
        assert!(
            text.contains("live-kernel tests (package oxbpf-tests): 2 passed, 1 failed, 0 ignored, 0 skipped in 2 binaries"),
            "{text}"
        );
        assert!(
            text.contains("failed:  oxbpf-tests tests/live.rs: counts_getpid"),
            "{text}"
        );
    }

    #[test]
    fn custom_harness_passes_unless_cargo_says_it_failed() {
        let mut s = Summary::new(ws());
        s.feed("     Running tests/fd.rs (target/debug/deps/fd-9)");
        s.feed("fd: 35 checks passed");
        s.feed("     Running tests/x.rs (target/debug/deps/x-8)");
        s.cargo_succeeded = true;
        assert!(s.ok(), "{}", s.render());
        assert!(s.render().contains("own harness, exit 0"));

        s.feed("error: test failed, to rerun pass `-p q --test x`");
        s.cargo_succeeded = false;
        assert!(!s.ok());
        assert!(!s.binaries[0].is_failure());
        assert!(s.binaries[1].is_failure());
        assert!(
            s.verdict().contains("1 test binaries failed"),
            "{}",
            s.verdict()
        );
    }

    #[test]
    fn doc_tests_that_do_not_compile_fail_and_show_the_diagnostic() {
        let mut s = Summary::new(ws());
        s.feed("   Doc-tests oxbpf");
        let shown = s.feed(
            r#"{"$message_type":"diagnostic","message":"x","rendered":"error[E0432]: unresolved import\n  --> a.rs:1:1\n"}"#,
        );
        assert_eq!(
            shown.as_deref(),
            Some("error[E0432]: unresolved import\n  --> a.rs:1:1")
        );
        s.feed("error: doctest failed, to rerun pass `-p oxbpf --doc`");
        s.cargo_succeeded = false;
        assert!(s.binaries[0].is_failure());
        assert!(!s.ok());
    }

    #[test]
    fn all_green_is_ok() {
        let mut s = Summary::new(ws());
        s.feed("     Running unittests src/lib.rs (target/debug/deps/q-1)");
        s.feed("test result: ok. 5 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s");
        s.cargo_succeeded = true;
        assert!(s.ok());
        assert_eq!(s.totals(|_| true), (5, 0, 0));
        assert_eq!(
            s.binaries[0].package, None,
            "unknown executables stay unattributed"
        );
    }

    #[test]
    fn skips_are_not_passes() {
        let mut s = summary();
        s.apply_skips("live-2222\tloads_xdp\tfentry: EPERM\nother-9\tx\ty\n");
        assert_eq!(s.totals(|b| b.live), (1, 1, 0));
        assert_eq!(s.skipped(|_| true), 1);
        assert_eq!(s.binaries[1].skipped_names, ["loads_xdp (fentry: EPERM)"]);
        let text = s.render();
        assert!(
            text.contains("skipped: oxbpf-tests tests/live.rs: loads_xdp (fentry: EPERM)"),
            "{text}"
        );
        assert!(
            text.contains("1 passed, 1 failed, 0 ignored, 1 skipped in 2 binaries"),
            "{text}"
        );
    }

    #[test]
    fn count_before_reads_the_number() {
        let line = "ok. 12 passed; 3 failed; 7 ignored; 0 measured; 0 filtered out";
        assert_eq!(count_before(line, " passed"), 12);
        assert_eq!(count_before(line, " failed"), 3);
        assert_eq!(count_before(line, " ignored"), 7);
        assert_eq!(count_before(line, " bogus"), 0);
    }

    #[test]
    fn package_names() {
        assert_eq!(
            package_name(
                "path+file:///w/asm#oxbpf-asm@0.1.0",
                Path::new("/w/asm/Cargo.toml")
            ),
            "oxbpf-asm"
        );
        assert_eq!(
            package_name("path+file:///w/a#0.1.0", Path::new("/w/a/Cargo.toml")),
            "a"
        );
    }

    #[test]
    fn json_strings() {
        let j = r#"{"a":"x\"y\\z","n":null,"b":"/p/q","u":"\u001b[1m\u00e9"}"#;
        assert_eq!(json_str(j, "u").as_deref(), Some("\u{1b}[1m\u{e9}"));
        assert_eq!(json_str(j, "a").as_deref(), Some("x\"y\\z"));
        assert_eq!(json_str(j, "n"), None);
        assert_eq!(json_str(j, "b").as_deref(), Some("/p/q"));
        assert_eq!(json_str(j, "missing"), None);
    }
}
