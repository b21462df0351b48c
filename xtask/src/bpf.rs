//! Building BPF objects: the test corpus (`build-bpf`) and the demo
//! (`build-demo`).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use crate::{Error, Workspace};

/// The compiler of every corpus object and of the demo.
pub const CLANG: &str = "clang-19";

/// The older compiler some corpus objects are also built with.
pub const CLANG_OLD: &str = "clang-14";

/// Corpus programs (file stems) also built with [`CLANG_OLD`] into
/// `<name>.clang14.bpf.o`: one per map definition style plus the common
/// program shapes, since users' objects come from older compilers too.
pub const CLANG14_PROGRAMS: &[&str] = &[
    "xdp_count",
    "legacy_maps",
    "maps_btf",
    "tracepoint",
    "syscall",
];

/// Where the kernel exposes its own BTF.
pub const KERNEL_BTF: &str = "/sys/kernel/btf/vmlinux";

/// Include directory for `<asm/...>` headers, which `-target bpf` does not
/// search by itself.
const MULTIARCH_INCLUDE: &str = "/usr/include/x86_64-linux-gnu";

const INSTALL_HINT: &str = "install it with `apt-get install -y {pkg}`, or run \
     `cargo xtask test` as root on Debian, which installs every prerequisite";

/// Fails with [`Error::MissingTool`] unless `program args...` runs.
pub fn require_tool(program: &str, args: &[&str], package: &str) -> Result<(), Error> {
    let status = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(Error::MissingTool {
            tool: program.to_string(),
            hint: format!(
                "`{program} {}` exited with {s}; {}",
                args.join(" "),
                INSTALL_HINT.replace("{pkg}", package)
            ),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::MissingTool {
            tool: program.to_string(),
            hint: INSTALL_HINT.replace("{pkg}", package),
        }),
        Err(e) => Err(Error::Spawn {
            program: program.to_string(),
            source: e,
        }),
    }
}

/// `cargo xtask build-bpf`.
pub fn build_corpus(ws: &Workspace) -> Result<(), Error> {
    require_tool(CLANG, &["--version"], "clang-19")?;
    require_tool(CLANG_OLD, &["--version"], "clang-14")?;

    let out = ws.bpf_out();
    let include = out.join("include");
    let eb = out.join("eb");
    let vm = out.join("vm");
    for dir in [&out, &include, &eb, &vm] {
        fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
    }
    ensure_vmlinux_h(ws, &include)?;

    let sources = corpus_sources(&ws.progs_dir())?;
    for wanted in CLANG14_PROGRAMS {
        if !sources.iter().any(|(name, _)| name == wanted) {
            return Err(Error::Failed(format!(
                "CLANG14_PROGRAMS names `{wanted}`, but tests/progs/{wanted}.bpf.c does not exist"
            )));
        }
    }
    let mut jobs = Vec::new();
    for (name, src) in &sources {
        jobs.push(Job::corpus(
            CLANG,
            "bpf",
            src,
            out.join(format!("{name}.bpf.o")),
            &include,
        ));
        if CLANG14_PROGRAMS.contains(&name.as_str()) {
            jobs.push(Job::corpus(
                CLANG_OLD,
                "bpf",
                src,
                out.join(format!("{name}.clang14.bpf.o")),
                &include,
            ));
        }
        jobs.push(Job::corpus(
            CLANG,
            "bpfeb",
            src,
            eb.join(format!("{name}.bpf.o")),
            &include,
        ));
    }
    // Programs this host cannot load (fentry, LSM, kprobes...), for the
    // vm-test kernels: little-endian, clang-19 only, kept apart so that
    // the host's corpus tests never see them.
    for (name, src) in corpus_sources(&ws.progs_vm_dir())? {
        jobs.push(Job::corpus(
            CLANG,
            "bpf",
            &src,
            vm.join(format!("{name}.bpf.o")),
            &include,
        ));
    }
    prune_stale(ws, &[&out, &eb, &vm], &jobs)?;
    run_jobs(ws, &jobs)
}

/// `cargo xtask build-demo`: `cli/demo/syscount.bpf.c` into the committed
/// `cli/demo/syscount.bpf.o`. The compile runs inside `cli/demo` on a
/// relative file name with `-fdebug-compilation-dir=.`, so no path of the
/// build machine ends up in the object; the result is checked for that.
pub fn build_demo(ws: &Workspace) -> Result<(), Error> {
    require_tool(CLANG, &["--version"], "clang-19")?;
    let dir = ws.demo_dir();
    let obj = dir.join("syscount.bpf.o");
    let tmp = dir.join("syscount.bpf.o.tmp");
    let before = fs::read(&obj).ok();
    let args = [
        "-g",
        "-O2",
        "-target",
        "bpf",
        "-Wall",
        "-Werror",
        "-fdebug-compilation-dir=.",
        "-c",
        "syscount.bpf.c",
        "-o",
        "syscount.bpf.o.tmp",
    ];
    let output = Command::new(CLANG)
        .args(args)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::Spawn {
            program: CLANG.to_string(),
            source: e,
        })?;
    if !output.status.success() {
        let _ = fs::remove_file(&tmp);
        return Err(Error::Failed(format!(
            "{CLANG} failed on {}:\n{}",
            ws.display(&dir.join("syscount.bpf.c")),
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    let built = fs::read(&tmp).map_err(|e| Error::io("cannot read", &tmp, e))?;
    let root = ws.root().as_os_str().as_encoded_bytes();
    if !root.is_empty() && built.windows(root.len()).any(|w| w == root) {
        let _ = fs::remove_file(&tmp);
        return Err(Error::Failed(format!(
            "the demo object embeds the build path {}; it would not be reproducible",
            ws.root().display()
        )));
    }
    fs::rename(&tmp, &obj).map_err(|e| Error::io("cannot replace", &obj, e))?;
    let change = match before {
        Some(old) if old == built => "unchanged",
        Some(_) => "changed",
        None => "new",
    };
    println!(
        "{:>10}  {} ({} bytes, {change})",
        "built",
        ws.display(&obj),
        built.len()
    );
    Ok(())
}

/// The files a make-style depfile (clang `-MD -MF`) lists as prerequisites,
/// in order. Handles line continuations and `\ `-escaped spaces.
pub fn parse_depfile(text: &str) -> Vec<String> {
    let mut deps = Vec::new();
    let mut current = String::new();
    let mut seen_target = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some('\n') => {
                    chars.next();
                    push_token(&mut deps, &mut current, seen_target);
                }
                Some('\r') => {
                    chars.next();
                    if chars.peek() == Some(&'\n') {
                        chars.next();
                    }
                    push_token(&mut deps, &mut current, seen_target);
                }
                Some(' ') | Some('#') | Some('\\') => {
                    current.push(chars.next().unwrap_or(' '));
                }
                _ => current.push('\\'),
            },
            '$' if chars.peek() == Some(&'$') => {
                chars.next();
                current.push('$');
            }
            ':' if !seen_target && chars.peek().is_none_or(|n| n.is_whitespace()) => {
                current.clear();
                seen_target = true;
            }
            c if c.is_whitespace() => push_token(&mut deps, &mut current, seen_target),
            c => current.push(c),
        }
    }
    push_token(&mut deps, &mut current, seen_target);
    deps
}

fn push_token(deps: &mut Vec<String>, current: &mut String, seen_target: bool) {
    if current.is_empty() {
        return;
    }
    let token = std::mem::take(current);
    if seen_target {
        deps.push(token);
    }
}

/// FNV-1a, 64 bits: a cheap fingerprint of the kernel's BTF.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Builds the `oxbpf` command (debug profile, the workspace's target
/// directory) and returns its path: it writes the corpus's `vmlinux.h`.
fn build_oxbpf(ws: &Workspace) -> Result<PathBuf, Error> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(&cargo)
        .args(["build", "--quiet", "-p", "oxbpf-cli", "--bin", "oxbpf"])
        .current_dir(ws.root())
        .stdin(Stdio::null())
        .status()
        .map_err(|e| Error::Spawn {
            program: "cargo".to_string(),
            source: e,
        })?;
    if !status.success() {
        return Err(Error::Failed(format!(
            "`cargo build -p oxbpf-cli` failed ({status}): the corpus's vmlinux.h \
             is written by `oxbpf btf dump`"
        )));
    }
    Ok(ws.target().join("debug").join("oxbpf"))
}

/// Regenerates `<include>/vmlinux.h` with oxbpf's own C dumper
/// (`oxbpf btf dump file /sys/kernel/btf/vmlinux format c`) when it is
/// missing or was made from a different kernel BTF or by a different
/// `oxbpf` binary (a stamp file next to it records the BTF's size and hash
/// and the binary's size and modification time). Rewrites the header only
/// when its content changes, so objects are not rebuilt for nothing.
fn ensure_vmlinux_h(ws: &Workspace, include: &Path) -> Result<(), Error> {
    let header = include.join("vmlinux.h");
    let stamp_path = include.join("vmlinux.h.stamp");
    let btf = fs::read(KERNEL_BTF).map_err(|e| {
        Error::io(
            "cannot read the kernel's BTF (the kernel needs CONFIG_DEBUG_INFO_BTF):",
            KERNEL_BTF,
            e,
        )
    })?;
    let oxbpf = build_oxbpf(ws)?;
    let meta = fs::metadata(&oxbpf).map_err(|e| Error::io("cannot stat", &oxbpf, e))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let stamp = format!(
        "source {KERNEL_BTF}\nbytes {}\nfnv1a64 {:016x}\ngenerator {} {} {mtime}\n",
        btf.len(),
        fnv1a64(&btf),
        oxbpf.display(),
        meta.len(),
    );
    let old_stamp = fs::read_to_string(&stamp_path).ok();
    if header.is_file() && old_stamp.as_deref() == Some(stamp.as_str()) {
        println!("{:>10}  {}", "fresh", ws.display(&header));
        return Ok(());
    }
    let output = Command::new(&oxbpf)
        .args(["btf", "dump", "file", KERNEL_BTF, "format", "c"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::Spawn {
            program: oxbpf.display().to_string(),
            source: e,
        })?;
    if !output.status.success() || output.stdout.is_empty() {
        return Err(Error::Failed(format!(
            "`oxbpf btf dump file {KERNEL_BTF} format c` failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    let unchanged = fs::read(&header).is_ok_and(|old| old == output.stdout);
    if !unchanged {
        let tmp = include.join("vmlinux.h.tmp");
        fs::write(&tmp, &output.stdout).map_err(|e| Error::io("cannot write", &tmp, e))?;
        fs::rename(&tmp, &header).map_err(|e| Error::io("cannot replace", &header, e))?;
    }
    fs::write(&stamp_path, stamp).map_err(|e| Error::io("cannot write", &stamp_path, e))?;
    println!(
        "{:>10}  {} (oxbpf btf dump of {KERNEL_BTF}, {} bytes)",
        if unchanged { "checked" } else { "generated" },
        ws.display(&header),
        output.stdout.len()
    );
    Ok(())
}

/// `(stem, path)` of every `*.bpf.c` in `dir`, sorted by name.
fn corpus_sources(dir: &Path) -> Result<Vec<(String, PathBuf)>, Error> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io("cannot list", dir, e))?;
    let mut sources = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("cannot list", dir, e))?;
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str() else {
            continue;
        };
        if let Some(stem) = name.strip_suffix(".bpf.c") {
            sources.push((stem.to_string(), entry.path()));
        }
    }
    if sources.is_empty() {
        return Err(Error::Failed(format!(
            "no *.bpf.c files in {}",
            dir.display()
        )));
    }
    sources.sort();
    Ok(sources)
}

/// One clang invocation.
struct Job {
    compiler: &'static str,
    target: &'static str,
    src: PathBuf,
    out: PathBuf,
    args: Vec<String>,
}

impl Job {
    fn corpus(
        compiler: &'static str,
        target: &'static str,
        src: &Path,
        out: PathBuf,
        include: &Path,
    ) -> Job {
        let args = vec![
            "-g".to_string(),
            "-O2".to_string(),
            "-target".to_string(),
            target.to_string(),
            "-D__TARGET_ARCH_x86".to_string(),
            "-Wall".to_string(),
            "-Werror".to_string(),
            format!("-I{}", include.display()),
            format!("-I{MULTIARCH_INCLUDE}"),
            "-MD".to_string(),
            "-MF".to_string(),
            sidecar(&out, "d").display().to_string(),
            "-c".to_string(),
            src.display().to_string(),
            "-o".to_string(),
            out.display().to_string(),
        ];
        Job {
            compiler,
            target,
            src: src.to_path_buf(),
            out,
            args,
        }
    }

    /// The command line, recorded next to the object so that a change of
    /// flags rebuilds it.
    fn command_line(&self) -> String {
        let mut line = self.compiler.to_string();
        for arg in &self.args {
            line.push(' ');
            line.push_str(arg);
        }
        line.push('\n');
        line
    }

    /// Whether the object exists, was built by the same command, and is
    /// newer than its source and every header the depfile lists.
    fn is_fresh(&self) -> bool {
        let Some(built) = mtime(&self.out) else {
            return false;
        };
        if fs::read_to_string(sidecar(&self.out, "cmd")).ok() != Some(self.command_line()) {
            return false;
        }
        let Ok(depfile) = fs::read_to_string(sidecar(&self.out, "d")) else {
            return false;
        };
        let deps = parse_depfile(&depfile);
        if deps.is_empty() {
            return false;
        }
        deps.iter()
            .chain(std::iter::once(&self.src.display().to_string()))
            .all(|dep| mtime(Path::new(dep)).is_some_and(|t| t <= built))
    }

    fn run(&self) -> Result<bool, String> {
        if self.is_fresh() {
            return Ok(false);
        }
        let cmd_file = sidecar(&self.out, "cmd");
        let _ = fs::remove_file(&cmd_file);
        let output = Command::new(self.compiler)
            .args(&self.args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.compiler))?;
        if !output.status.success() {
            return Err(String::from_utf8_lossy(&output.stderr).into_owned());
        }
        fs::write(&cmd_file, self.command_line())
            .map_err(|e| format!("cannot write {}: {e}", cmd_file.display()))?;
        Ok(true)
    }
}

/// `<out>.<ext>`: the depfile and command-line record of an object.
fn sidecar(out: &Path, ext: &str) -> PathBuf {
    let mut name = out.as_os_str().to_os_string();
    name.push(".");
    name.push(ext);
    PathBuf::from(name)
}

fn mtime(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Deletes objects (and their sidecars) in `dirs` that no job produces any
/// more, so that a removed source does not leave a stale object behind for
/// the tests to load.
fn prune_stale(ws: &Workspace, dirs: &[&Path], jobs: &[Job]) -> Result<(), Error> {
    for dir in dirs {
        let entries = fs::read_dir(dir).map_err(|e| Error::io("cannot list", *dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("cannot list", *dir, e))?;
            let path = entry.path();
            let is_object = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".bpf.o"));
            if !is_object || jobs.iter().any(|j| j.out == path) {
                continue;
            }
            for file in [sidecar(&path, "d"), sidecar(&path, "cmd"), path.clone()] {
                match fs::remove_file(&file) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io("cannot remove", &file, e)),
                }
            }
            println!(
                "{:>10}  {} (its source is gone)",
                "removed",
                ws.display(&path)
            );
        }
    }
    Ok(())
}

/// Runs the jobs on every core, printing one line per object as it
/// finishes; fails after all ran if any failed.
fn run_jobs(ws: &Workspace, jobs: &[Job]) -> Result<(), Error> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(jobs.len().max(1));
    let next = AtomicUsize::new(0);
    let failures: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let counts = [AtomicUsize::new(0), AtomicUsize::new(0)];
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else {
                        break;
                    };
                    let result = job.run();
                    let what = format!(
                        "{}  ({}, {})",
                        ws.display(&job.out),
                        job.compiler,
                        if job.target == "bpfeb" {
                            "big-endian"
                        } else {
                            "little-endian"
                        }
                    );
                    let mut stdout = io::stdout().lock();
                    match result {
                        Ok(built) => {
                            counts[usize::from(built)].fetch_add(1, Ordering::Relaxed);
                            let verb = if built { "compiled" } else { "fresh" };
                            let _ = writeln!(stdout, "{verb:>10}  {what}");
                        }
                        Err(stderr) => {
                            let _ = writeln!(stdout, "{:>10}  {what}", "FAILED");
                            let _ = write!(stdout, "{stderr}");
                            if let Ok(mut f) = failures.lock() {
                                f.push(ws.display(&job.out).to_string());
                            }
                        }
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap_or_default();
    if !failures.is_empty() {
        return Err(Error::Failed(format!(
            "{} of {} BPF objects failed to compile: {}",
            failures.len(),
            jobs.len(),
            failures.join(", ")
        )));
    }
    println!(
        "{:>10}  {} objects in {} ({} compiled, {} fresh)",
        "done",
        jobs.len(),
        ws.display(&ws.bpf_out()),
        counts[1].load(Ordering::Relaxed),
        counts[0].load(Ordering::Relaxed)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depfile_with_continuations_and_escapes() {
        let text = "/t/x.bpf.o: tests/progs/x.bpf.c tests/progs/common.h \\\n  /usr/include/bpf/bpf_helpers.h \\\n  dir\\ with\\ space/h.h a$$b.h\n";
        assert_eq!(
            parse_depfile(text),
            [
                "tests/progs/x.bpf.c",
                "tests/progs/common.h",
                "/usr/include/bpf/bpf_helpers.h",
                "dir with space/h.h",
                "a$b.h"
            ]
        );
    }

    #[test]
    fn depfile_without_target_lists_nothing() {
        assert!(parse_depfile("").is_empty());
        assert!(parse_depfile("no colon here").is_empty());
    }

    #[test]
    fn depfile_target_with_drive_like_colon_is_not_split_early() {
        // A colon not followed by whitespace belongs to the target name.
        assert_eq!(parse_depfile("a:b.o: c.c"), ["c.c"]);
    }

    #[test]
    fn fnv_known_values() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn corpus_jobs_record_their_command() {
        let job = Job::corpus(
            CLANG,
            "bpfeb",
            Path::new("/w/tests/progs/x.bpf.c"),
            PathBuf::from("/w/target/bpf/eb/x.bpf.o"),
            Path::new("/w/target/bpf/include"),
        );
        let line = job.command_line();
        assert!(line.starts_with("clang-19 -g -O2 -target bpfeb "), "{line}");
        assert!(line.contains(" -MF /w/target/bpf/eb/x.bpf.o.d "), "{line}");
        assert!(line.ends_with(" -o /w/target/bpf/eb/x.bpf.o\n"), "{line}");
    }

    #[test]
    fn fresh_only_when_object_is_newer_than_every_dep() {
        let dir = std::env::temp_dir().join(format!("oxbpf-xtask-fresh-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let src = dir.join("p.bpf.c");
        let hdr = dir.join("h.h");
        fs::write(&src, "int x;").unwrap();
        fs::write(&hdr, "").unwrap();
        let out = dir.join("p.bpf.o");
        let job = Job::corpus(CLANG, "bpf", &src, out.clone(), &dir);
        assert!(!job.is_fresh(), "no object yet");

        let old = SystemTime::now() - std::time::Duration::from_secs(100);
        fs::write(&out, "obj").unwrap();
        fs::write(
            sidecar(&out, "d"),
            format!("{}: {} {}\n", out.display(), src.display(), hdr.display()),
        )
        .unwrap();
        fs::write(sidecar(&out, "cmd"), job.command_line()).unwrap();
        for f in [&src, &hdr] {
            fs::File::options()
                .write(true)
                .open(f)
                .unwrap()
                .set_modified(old)
                .unwrap();
        }
        assert!(job.is_fresh());

        fs::write(sidecar(&out, "cmd"), "clang-19 -O0\n").unwrap();
        assert!(!job.is_fresh(), "different flags");
        fs::write(sidecar(&out, "cmd"), job.command_line()).unwrap();

        let newer = SystemTime::now() + std::time::Duration::from_secs(100);
        fs::File::options()
            .write(true)
            .open(&hdr)
            .unwrap()
            .set_modified(newer)
            .unwrap();
        assert!(!job.is_fresh(), "header newer than object");

        fs::remove_file(&hdr).unwrap();
        assert!(!job.is_fresh(), "header vanished");
        fs::remove_dir_all(&dir).unwrap();
    }
}
