//! `cargo xtask vm-test`: the kernel tests on other kernels, under qemu.
//!
//! For each kernel of the matrix ([`crate::kernel::KERNELS`]):
//!
//! 1. the Debian package is fetched and unpacked ([`crate::kernel`]);
//! 2. an initramfs ([`crate::cpio`]) is written with `/init` (this very
//!    xtask binary, statically linked: as PID 1 it is the guest init of
//!    [`crate::vm_init`]), the statically linked test binaries of
//!    [`VM_TEST_PACKAGES`], the BPF objects at the same path as on the
//!    host (`$OXBPF_BPF_DIR`), the corpus sources (some tests list them),
//!    the kernel's modules and config, and `/bin/sh` and `perl` with their
//!    libraries (the cgroup tests run Perl children);
//! 3. qemu boots the uncompressed `vmlinux` with it (KVM where a probe
//!    boot shows it works, else TCG), and the serial console is read for
//!    the markers until `OXBPF-VM-DONE` or the timeout (a hang or a panic
//!    is reported as such; qemu's exit status says nothing about tests);
//! 4. a table of every test on every kernel is printed; the command fails
//!    on any failed test, crashed binary, or kernel that did not finish.
//!
//! Skips are decided inside the guest by the library's probes (the tests'
//! `require!`), never by kernel versions. What the host adds is an
//! expectation read from each kernel's *build configuration*
//! ([`expected_features`]): a kernel built with `CONFIG_KPROBES=y` must
//! not skip the kprobe tests, so vm-test passes `OXBPF_REQUIRE` and a
//! probe that wrongly says "unsupported" fails instead of hiding tests.
//!
//! Static test binaries are built with `RUSTFLAGS=-C
//! target-feature=+crt-static -C strip=debuginfo` for
//! `x86_64-unknown-linux-gnu` into `<target>/vm/cargo`, a target directory
//! of their own so that the host build is not invalidated.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::cpio::Cpio;
use crate::kernel::{self, PreparedKernel};
use crate::test::{cargo_program, json_str};
use crate::vm_init::{self, Config, Marker};
use crate::{Error, Workspace, bpf};

/// The packages whose test binaries run in the guests.
pub const VM_TEST_PACKAGES: &[&str] = &["oxbpf-tests", "oxbpf-syscalls"];

/// Test binaries not run in the guests, and why.
pub const VM_EXCLUDED_BINARIES: &[(&str, &str)] = &[(
    "oxbpf-syscalls:layout",
    "compares every UAPI struct with the running kernel's BTF field for field, \
     which holds only on kernels at least as new as the definitions",
)];

/// Host programs copied into the guests (with their shared libraries):
/// the cgroup tests run `sh` and `perl` children, the network attach tests
/// `ip`, `tc` and `sysctl`.
const GUEST_PROGRAMS: &[&str] = &[
    "/bin/sh",
    "/usr/bin/perl",
    "/usr/sbin/ip",
    "/usr/sbin/tc",
    "/usr/sbin/sysctl",
];

/// The Rust target of the guest binaries.
const GUEST_TARGET: &str = "x86_64-unknown-linux-gnu";

const QEMU: &str = "qemu-system-x86_64";

const USAGE: &str = "\
usage: cargo xtask vm-test [--kernel NAME]... [--filter PATTERN]... [--timeout S]
                           [--accel auto|kvm|tcg] [--smp N] [--memory MIB] [--verbose]

  --kernel NAME   a kernel of the matrix (6.1, 6.1-cloud, 6.12, 6.12-cloud, 5.10)
                  or `all`; default: 6.1 and 6.12
  --filter PAT    run only the test binaries whose label (package:target)
                  contains PAT, and elsewhere the tests whose name contains
                  PAT (repeatable: any match counts)
  --timeout S     per kernel, from qemu's start to OXBPF-VM-DONE (default 1200)
  --accel A       auto (default: KVM if a probe boot works, else TCG), kvm, tcg
  --verbose       echo the guest's console";

/// How qemu executes the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// Decide with a probe boot.
    Auto,
    /// Hardware virtualisation.
    Kvm,
    /// qemu's emulator.
    Tcg,
}

/// The options of `vm-test`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Kernel names.
    pub kernels: Vec<String>,
    /// libtest filters.
    pub filters: Vec<String>,
    /// Per-kernel timeout.
    pub timeout: Duration,
    /// Accelerator.
    pub accel: Accel,
    /// Virtual CPUs.
    pub smp: u32,
    /// Guest memory in MiB.
    pub memory_mib: u32,
    /// Echo the console.
    pub verbose: bool,
}

impl Options {
    /// Parses the words after `vm-test`.
    pub fn parse(args: &[String]) -> Result<Options, Error> {
        let mut o = Options {
            kernels: Vec::new(),
            filters: Vec::new(),
            timeout: Duration::from_secs(1200),
            accel: Accel::Auto,
            smp: 2,
            memory_mib: 2048,
            verbose: false,
        };
        let mut it = args.iter();
        let usage = |msg: String| Error::Usage(format!("{msg}\n\n{USAGE}"));
        while let Some(a) = it.next() {
            let (flag, inline) = match a.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
                _ => (a.as_str(), None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| it.next().cloned())
                    .ok_or_else(|| usage(format!("{flag} needs a value")))
            };
            match flag {
                "--kernel" => {
                    let v = value()?;
                    if v == "all" {
                        o.kernels
                            .extend(kernel::KERNELS.iter().map(|k| k.name.to_string()));
                    } else {
                        kernel::spec(&v)?;
                        o.kernels.push(v);
                    }
                }
                "--filter" => o.filters.push(value()?),
                "--timeout" => {
                    let v = value()?;
                    let s: u64 = v
                        .parse()
                        .map_err(|_| usage(format!("--timeout {v}: not a number of seconds")))?;
                    o.timeout = Duration::from_secs(s);
                }
                "--accel" => {
                    o.accel = match value()?.as_str() {
                        "auto" => Accel::Auto,
                        "kvm" => Accel::Kvm,
                        "tcg" => Accel::Tcg,
                        v => return Err(usage(format!("--accel {v}: auto, kvm or tcg"))),
                    }
                }
                "--smp" => {
                    let v = value()?;
                    o.smp = v
                        .parse()
                        .ok()
                        .filter(|n| (1..=64).contains(n))
                        .ok_or_else(|| usage(format!("--smp {v}")))?;
                }
                "--memory" => {
                    let v = value()?;
                    o.memory_mib = v
                        .parse()
                        .ok()
                        .filter(|n| *n >= 256)
                        .ok_or_else(|| usage(format!("--memory {v}: MiB, at least 256")))?;
                }
                "--verbose" | "-v" => o.verbose = true,
                "-h" | "--help" => return Err(Error::Usage(USAGE.into())),
                other => return Err(usage(format!("unknown argument `{other}`"))),
            }
        }
        if o.kernels.is_empty() {
            o.kernels = kernel::DEFAULT_KERNELS
                .iter()
                .map(|s| s.to_string())
                .collect();
        }
        let mut seen = BTreeSet::new();
        o.kernels.retain(|k| seen.insert(k.clone()));
        Ok(o)
    }
}

/// `cargo xtask vm-test ARGS`.
pub fn run(ws: &Workspace, args: &[String]) -> Result<(), Error> {
    let opts = Options::parse(args)?;
    for (tool, package) in [
        (QEMU, "qemu-system-x86"),
        ("dpkg-deb", "dpkg"),
        ("tar", "tar"),
    ] {
        bpf::require_tool(tool, &["--version"], package)?;
    }
    let started = Instant::now();
    bpf::build_corpus(ws)?;
    let guest = build_guest(ws)?;
    println!(
        "vm-test: {} test binaries and /init built for {GUEST_TARGET} (static)",
        guest.binaries.len()
    );
    let vm_dir = ws.vm_out();
    let mut kernels = Vec::new();
    for name in &opts.kernels {
        kernels.push(kernel::prepare(&vm_dir, kernel::spec(name)?)?);
    }
    let common = CommonFiles::collect(ws, &guest)?;
    let accel = match opts.accel {
        Accel::Auto => detect_accel(&vm_dir, &kernels[0], &guest, &opts),
        a => a,
    };
    let mut runs = Vec::new();
    for k in &kernels {
        let initrd = write_initramfs(&vm_dir, k, &guest, &common, &opts)?;
        let mut run = boot(&vm_dir, k, &initrd, accel, &opts)?;
        if !run.done && run.boot_secs.is_none() && !run.timed_out {
            // The kernel died before /init ran: no test was involved. Under
            // TCG with two vCPUs Debian's 6.12 has been seen to oops on a
            // half-patched instruction during boot (int3 in
            // sched_clock_cpu); boot once more.
            println!(
                "vm-test: {} crashed before /init (log {}); booting it once more",
                k.spec.name,
                run.log.display()
            );
            let _ = fs::rename(&run.log, run.log.with_extension("log.1"));
            run = boot(&vm_dir, k, &initrd, accel, &opts)?;
        }
        // Each initramfs is some 400 MiB and is written anew by every
        // run: not kept once its kernel has run (the disk is shared).
        if let Err(e) = fs::remove_file(&initrd) {
            println!("vm-test: cannot remove {}: {e}", initrd.display());
        }
        println!("{}", run.one_line());
        runs.push(run);
    }
    let report = render(&runs);
    print!("{report}");
    let _ = fs::write(vm_dir.join("report.txt"), &report);
    println!(
        "vm-test: {} kernel(s) in {:.0} s ({:?})",
        runs.len(),
        started.elapsed().as_secs_f64(),
        accel
    );
    let failed: Vec<_> = runs
        .iter()
        .filter(|r| !r.ok())
        .map(|r| r.kernel.clone())
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::Failed(format!(
            "vm-test failed on {}; logs in {}",
            failed.join(", "),
            vm_dir.join("logs").display()
        )))
    }
}

/// The guest's programs.
#[derive(Debug, Clone)]
pub struct GuestBuild {
    /// `(label, executable)` of each test binary.
    pub binaries: Vec<(String, PathBuf)>,
    /// The xtask binary, which is `/init`.
    pub init: PathBuf,
}

fn guest_cargo(ws: &Workspace, args: &[&str]) -> Result<Vec<String>, Error> {
    let target_dir = ws.vm_out().join("cargo");
    let mut cmd = Command::new(cargo_program());
    cmd.args(args)
        .args([
            "--target",
            GUEST_TARGET,
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(ws.root())
        .env("CARGO_TARGET_DIR", &target_dir)
        .env(
            "RUSTFLAGS",
            "-C target-feature=+crt-static -C strip=debuginfo",
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    println!(
        "==> RUSTFLAGS='-C target-feature=+crt-static -C strip=debuginfo' CARGO_TARGET_DIR={} cargo {} --target {GUEST_TARGET}",
        target_dir.display(),
        args.join(" ")
    );
    let out = cmd.output().map_err(|e| Error::Spawn {
        program: "cargo".into(),
        source: e,
    })?;
    if !out.status.success() {
        return Err(Error::Failed(format!(
            "building the guest binaries failed ({})",
            out.status
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect())
}

/// Builds the static test binaries and `/init`.
pub fn build_guest(ws: &Workspace) -> Result<GuestBuild, Error> {
    let mut args = vec!["test", "--no-run"];
    for p in VM_TEST_PACKAGES {
        args.extend(["-p", p]);
    }
    let lines = guest_cargo(ws, &args)?;
    let mut binaries = test_executables(&lines);
    binaries.retain(
        |(label, _)| match VM_EXCLUDED_BINARIES.iter().find(|(l, _)| l == label) {
            Some((_, why)) => {
                println!("vm-test: not run in the guests: {label}: {why}");
                false
            }
            None => true,
        },
    );
    if binaries.is_empty() {
        return Err(Error::Failed(
            "cargo test --no-run built no test binary".into(),
        ));
    }
    let lines = guest_cargo(ws, &["build", "-p", "oxbpf-xtask", "--bin", "oxbpf-xtask"])?;
    let init = lines
        .iter()
        .filter(|l| l.contains("\"compiler-artifact\""))
        .filter_map(|l| json_str(l, "executable"))
        .find(|e| e.ends_with("/oxbpf-xtask"))
        .ok_or_else(|| Error::Failed("cargo build -p oxbpf-xtask produced no binary".into()))?;
    Ok(GuestBuild {
        binaries,
        init: PathBuf::from(init),
    })
}

/// `(package:target, executable)` of the test binaries in cargo's JSON
/// messages (libraries' unit tests are labelled `package:lib`).
pub fn test_executables(lines: &[String]) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for l in lines {
        if !l.contains("\"reason\":\"compiler-artifact\"") {
            continue;
        }
        let Some(exe) = json_str(l, "executable") else {
            continue;
        };
        if !l.contains("\"test\":true") {
            continue;
        }
        let package = json_str(l, "package_id")
            .and_then(|id| {
                id.rsplit_once('#')
                    .and_then(|(_, f)| f.split_once('@').map(|(n, _)| n.to_string()))
            })
            .unwrap_or_else(|| "?".into());
        let target = l.find("\"target\":{").map(|i| &l[i..]).unwrap_or("");
        let is_lib = target
            .find("\"kind\":[")
            .map(|i| &target[i..])
            .and_then(|k| k.find(']').map(|end| &k[..end]))
            .is_some_and(|k| k.contains("\"lib\""));
        let name = if is_lib {
            "lib".to_string()
        } else {
            json_str(target, "name").unwrap_or_else(|| "?".into())
        };
        out.push((format!("{package}:{name}"), PathBuf::from(exe)));
    }
    out.sort();
    out.dedup();
    out
}

/// Files every kernel's initramfs holds.
struct CommonFiles {
    /// `(path in the guest, mode, host file)`.
    files: Vec<(String, u32, PathBuf)>,
    /// Where the objects are, in the guest as on the host.
    bpf_dir: PathBuf,
}

impl CommonFiles {
    fn collect(ws: &Workspace, guest: &GuestBuild) -> Result<CommonFiles, Error> {
        let mut files = Vec::new();
        for (_, exe) in &guest.binaries {
            let name = exe.file_name().map(|f| f.to_string_lossy().into_owned());
            files.push((
                format!("/oxbpf/bin/{}", name.unwrap_or_default()),
                0o755,
                exe.clone(),
            ));
        }
        let bpf_dir = ws.bpf_out();
        walk(&bpf_dir, &mut |p| {
            let s = p.to_string_lossy();
            if s.ends_with(".bpf.o") {
                files.push((s.into_owned(), 0o644, p.to_path_buf()));
            }
        })?;
        walk(&ws.progs_dir(), &mut |p| {
            files.push((p.to_string_lossy().into_owned(), 0o644, p.to_path_buf()));
        })?;
        // Test data the tests read from the source tree
        // (`<crate>/tests/data/*.bpf.o`).
        let crates = fs::read_dir(ws.root()).map_err(|e| Error::io("cannot list", ws.root(), e))?;
        for c in crates.filter_map(|e| e.ok()) {
            let data = c.path().join("tests").join("data");
            if data.is_dir() {
                walk(&data, &mut |p| {
                    if p.to_string_lossy().ends_with(".bpf.o") {
                        files.push((p.to_string_lossy().into_owned(), 0o644, p.to_path_buf()));
                    }
                })?;
            }
        }
        // The shell and Perl the cgroup tests start, `ip`, `tc` and
        // `sysctl` of the network attach tests, with their libraries and Perl's base
        // modules.
        let mut wanted: BTreeSet<PathBuf> = GUEST_PROGRAMS.iter().map(PathBuf::from).collect();
        for f in dpkg_files("perl-base")? {
            if f.starts_with("/usr/lib") || f.starts_with("/etc/perl") {
                wanted.insert(f);
            }
        }
        for bin in GUEST_PROGRAMS {
            if Path::new(bin).exists() {
                wanted.extend(shared_libraries(Path::new(bin))?);
            }
        }
        for f in wanted {
            // The host's permission bits (programs and libraries stay
            // executable).
            if let Ok(meta) = fs::metadata(&f) {
                if meta.is_file() {
                    use std::os::unix::fs::PermissionsExt;
                    let mode = meta.permissions().mode() & 0o7777;
                    files.push((f.to_string_lossy().into_owned(), mode, f.clone()));
                }
            }
        }
        Ok(CommonFiles { files, bpf_dir })
    }
}

fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) -> Result<(), Error> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io("cannot list", dir, e))?;
    for e in entries {
        let e = e.map_err(|e| Error::io("cannot list", dir, e))?;
        let p = e.path();
        let ty = e.file_type().map_err(|e| Error::io("cannot stat", &p, e))?;
        if ty.is_dir() {
            walk(&p, f)?;
        } else if ty.is_file() {
            f(&p);
        }
    }
    Ok(())
}

/// The files of an installed Debian package (`dpkg -L`).
fn dpkg_files(package: &str) -> Result<Vec<PathBuf>, Error> {
    let out = Command::new("dpkg")
        .args(["-L", package])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::Spawn {
            program: "dpkg -L".into(),
            source: e,
        })?;
    if !out.status.success() {
        return Err(Error::Failed(format!(
            "`dpkg -L {package}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(PathBuf::from)
        .collect())
}

/// The shared libraries and ELF interpreter of `bin` (from `ldd`).
fn shared_libraries(bin: &Path) -> Result<Vec<PathBuf>, Error> {
    let out = Command::new("ldd")
        .arg(bin)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::Spawn {
            program: "ldd".into(),
            source: e,
        })?;
    Ok(parse_ldd(&String::from_utf8_lossy(&out.stdout)))
}

/// Absolute paths in `ldd` output (`libc.so.6 => /lib/.../libc.so.6
/// (0x...)`, `/lib64/ld-linux-x86-64.so.2 (0x...)`).
pub fn parse_ldd(text: &str) -> Vec<PathBuf> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let path = match l.split_once("=>") {
                Some((_, right)) => right.split_whitespace().next()?,
                None => l.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

/// The features a kernel must have, read from its build configuration
/// (`OXBPF_REQUIRE` for its guest).
pub fn expected_features(config: &BTreeMap<String, String>) -> Vec<&'static str> {
    let on = |k: &str| config.get(k).is_some_and(|v| v == "y");
    let mut out = Vec::new();
    if on("CONFIG_KPROBES") && on("CONFIG_KPROBE_EVENTS") {
        out.extend(["kprobe", "kretprobe"]);
    }
    if on("CONFIG_FPROBE") {
        out.push("kprobe_multi");
    }
    if on("CONFIG_BPF_JIT") && on("CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS") {
        out.extend(["fentry", "fexit"]);
    }
    let lsm_active = config
        .get("CONFIG_LSM")
        .is_some_and(|l| l.split(',').any(|m| m == "bpf"));
    if on("CONFIG_BPF_LSM") && lsm_active {
        out.push("lsm");
    }
    out
}

fn write_initramfs(
    vm_dir: &Path,
    k: &PreparedKernel,
    guest: &GuestBuild,
    common: &CommonFiles,
    opts: &Options,
) -> Result<PathBuf, Error> {
    let mut c = Cpio::new();
    for d in ["dev", "proc", "sys", "tmp", "run", "var", "oxbpf"] {
        c.dir(d, 0o755)?;
    }
    c.symlink("var/run", "../run")?;
    let read = |p: &Path| fs::read(p).map_err(|e| Error::io("cannot read", p, e));
    c.file("init", 0o755, &read(&guest.init)?)?;
    for (path, mode, host) in &common.files {
        if !c.contains(path) {
            c.file(path, *mode, &read(host)?)?;
        }
    }
    let mut conf = Config {
        kernel: k.spec.name.to_string(),
        filters: opts.filters.clone(),
        ..Config::default()
    };
    conf.env.push((
        "OXBPF_BPF_DIR".into(),
        common.bpf_dir.to_string_lossy().into_owned(),
    ));
    let expected = expected_features(&k.config_options()?);
    if !expected.is_empty() {
        conf.env.push(("OXBPF_REQUIRE".into(), expected.join(",")));
    }
    for m in &k.modules {
        let name = m
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let path = format!("/lib/modules/{}/{name}", k.release);
        c.file(&path, 0o644, &read(m)?)?;
        conf.modules.push(path);
    }
    c.file(
        &format!("boot/config-{}", k.release),
        0o644,
        &read(&k.config)?,
    )?;
    for (label, exe) in &guest.binaries {
        let name = exe
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        conf.binaries
            .push((label.clone(), format!("/oxbpf/bin/{name}")));
    }
    c.file(vm_init::CONFIG_PATH, 0o644, conf.render().as_bytes())?;
    let bytes = c.finish();
    let path = vm_dir
        .join("initramfs")
        .join(format!("{}.cpio", k.spec.name));
    fs::create_dir_all(path.parent().unwrap_or(vm_dir))
        .map_err(|e| Error::io("cannot create", vm_dir, e))?;
    fs::write(&path, &bytes).map_err(|e| Error::io("cannot write", &path, e))?;
    println!(
        "vm-test: {} initramfs {} ({} MiB; requires: {})",
        k.spec.name,
        path.display(),
        bytes.len() >> 20,
        if expected.is_empty() {
            "nothing".to_string()
        } else {
            expected.join(",")
        }
    );
    Ok(path)
}

/// Tries a KVM boot of `k` with a tiny initramfs (`/init` in probe mode)
/// for 20 s: KVM if `/init` says it is alive, else TCG. On this project's
/// machines `/dev/kvm` exists but a stock kernel stalls in the firmware.
fn detect_accel(vm_dir: &Path, k: &PreparedKernel, guest: &GuestBuild, opts: &Options) -> Accel {
    // The answer holds until the host reboots.
    let boot_id = fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let cache = vm_dir.join("accel");
    if let Ok(text) = fs::read_to_string(&cache) {
        if let Some(answer) = text.strip_prefix(boot_id.trim()).map(str::trim) {
            if !boot_id.trim().is_empty() && matches!(answer, "kvm" | "tcg") {
                println!(
                    "vm-test: accelerator {answer} (probed earlier since this boot, {})",
                    cache.display()
                );
                return if answer == "kvm" {
                    Accel::Kvm
                } else {
                    Accel::Tcg
                };
            }
        }
    }
    let accel = probe_accel(vm_dir, k, guest, opts);
    let _ = fs::write(
        &cache,
        format!(
            "{} {}\n",
            boot_id.trim(),
            if accel == Accel::Kvm { "kvm" } else { "tcg" }
        ),
    );
    accel
}

fn probe_accel(vm_dir: &Path, k: &PreparedKernel, guest: &GuestBuild, opts: &Options) -> Accel {
    let kvm_usable = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok();
    if !kvm_usable {
        println!("vm-test: /dev/kvm cannot be opened: TCG");
        return Accel::Tcg;
    }
    let probe = || -> Result<bool, Error> {
        let mut c = Cpio::new();
        c.dir("dev", 0o755)?;
        let init = fs::read(&guest.init).map_err(|e| Error::io("cannot read", &guest.init, e))?;
        c.file("init", 0o755, &init)?;
        let path = vm_dir.join("initramfs").join("kvm-probe.cpio");
        fs::create_dir_all(path.parent().unwrap_or(vm_dir))
            .map_err(|e| Error::io("cannot create", vm_dir, e))?;
        fs::write(&path, c.finish()).map_err(|e| Error::io("cannot write", &path, e))?;
        let started = Instant::now();
        let mut child = qemu_command(k, &path, Accel::Kvm, opts, "OXBPF_MODE=probe")
            .spawn()
            .map_err(|e| Error::Spawn {
                program: QEMU.into(),
                source: e,
            })?;
        let lines = console_lines(&mut child)?;
        let deadline = started + Duration::from_secs(20);
        let mut alive = false;
        while let Some(line) = recv_until(&lines, deadline) {
            if matches!(Marker::parse(&line), Some(Marker::Alive { .. })) {
                alive = true;
                break;
            }
        }
        kill(&mut child);
        Ok(alive)
    };
    match probe() {
        Ok(true) => {
            println!("vm-test: a KVM probe boot reached /init: KVM");
            Accel::Kvm
        }
        Ok(false) => {
            println!("vm-test: a KVM probe boot did not reach /init in 20 s: TCG");
            Accel::Tcg
        }
        Err(e) => {
            println!("vm-test: KVM probe boot failed ({e}): TCG");
            Accel::Tcg
        }
    }
}

fn qemu_command(
    k: &PreparedKernel,
    initrd: &Path,
    accel: Accel,
    opts: &Options,
    extra_cmdline: &str,
) -> Command {
    let mut c = Command::new(QEMU);
    c.args([
        "-machine",
        "q35",
        "-nodefaults",
        "-no-reboot",
        "-display",
        "none",
    ]);
    match accel {
        Accel::Kvm => c.args(["-accel", "kvm"]),
        _ => c.args(["-accel", "tcg", "-cpu", "max"]),
    };
    c.args([
        "-m",
        &opts.memory_mib.to_string(),
        "-smp",
        &opts.smp.to_string(),
    ])
    .args(["-serial", "stdio", "-monitor", "none"])
    .arg("-kernel")
    .arg(&k.vmlinux)
    .arg("-initrd")
    .arg(initrd)
    .arg("-append")
    .arg(format!(
        "console=ttyS0 panic=-1 quiet loglevel=4 mitigations=off rdinit=/init {extra_cmdline}"
    ))
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    c
}

/// A thread reading the child's stdout (the serial console) and stderr
/// into a channel of lines.
fn console_lines(child: &mut Child) -> Result<mpsc::Receiver<String>, Error> {
    let (tx, rx) = mpsc::channel();
    let out = child
        .stdout
        .take()
        .ok_or_else(|| Error::Failed("qemu: no stdout pipe".into()))?;
    let err = child.stderr.take();
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(out).split(b'\n') {
            let Ok(line) = line else { break };
            if tx
                .send(String::from_utf8_lossy(&line).into_owned())
                .is_err()
            {
                break;
            }
        }
    });
    if let Some(err) = err {
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                if tx2.send(format!("qemu: {line}")).is_err() {
                    break;
                }
            }
        });
    }
    Ok(rx)
}

/// The next line, or `None` at the deadline or when qemu closed its
/// output.
fn recv_until(rx: &mpsc::Receiver<String>, deadline: Instant) -> Option<String> {
    let left = deadline.checked_duration_since(Instant::now())?;
    rx.recv_timeout(left).ok()
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// What one kernel's run showed.
#[derive(Debug, Clone, Default)]
pub struct KernelRun {
    /// Kernel name.
    pub kernel: String,
    /// The Debian package.
    pub package: String,
    /// Seconds from qemu's start to `/init`'s first marker.
    pub boot_secs: Option<f64>,
    /// Seconds from qemu's start to the end.
    pub total_secs: f64,
    /// `(binary, test)` → outcome.
    pub results: BTreeMap<(String, String), String>,
    /// `(binary, test)` → skip reason.
    pub skips: BTreeMap<(String, String), String>,
    /// `(binary, exit status)`.
    pub exits: Vec<(String, String)>,
    /// `(module, error)`.
    pub modules: Vec<(String, Option<String>)>,
    /// `OXBPF-VM-DONE` seen.
    pub done: bool,
    /// Killed at the timeout.
    pub timed_out: bool,
    /// The last console lines (for a crash or hang).
    pub tail: Vec<String>,
    /// The whole console log.
    pub log: PathBuf,
}

impl KernelRun {
    /// Feeds one console line.
    pub fn feed(&mut self, line: &str) {
        self.tail.push(line.to_string());
        if self.tail.len() > 40 {
            self.tail.remove(0);
        }
        match Marker::parse(line) {
            Some(Marker::Result {
                binary,
                test,
                outcome,
                ..
            }) => {
                self.results.insert((binary, test), outcome);
            }
            Some(Marker::Skip {
                binary,
                test,
                reason,
                ..
            }) => {
                self.skips.insert((binary, test), reason);
            }
            Some(Marker::Exit { binary, status, .. }) => self.exits.push((binary, status)),
            Some(Marker::Module { module, error, .. }) => self.modules.push((module, error)),
            Some(Marker::Done { .. }) => self.done = true,
            Some(Marker::Alive { .. }) | None => {}
        }
    }

    /// `(passed, failed, skipped, ignored)`.
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let n = |o: &str| self.results.values().filter(|v| *v == o).count();
        (n("ok"), n("FAILED"), n("skipped"), n("ignored"))
    }

    /// Binaries that exited non-zero without a failed test to show for
    /// it (a crash, a custom harness failing).
    pub fn crashed_binaries(&self) -> Vec<&(String, String)> {
        self.exits
            .iter()
            .filter(|(bin, status)| {
                status != "0"
                    && !self
                        .results
                        .iter()
                        .any(|((b, _), o)| b == bin && o == "FAILED")
            })
            .collect()
    }

    /// Whether the kernel passed: finished, ran at least one test, no
    /// failure, no crash.
    pub fn ok(&self) -> bool {
        self.done
            && !self.results.is_empty()
            && self.counts().1 == 0
            && self.crashed_binaries().is_empty()
    }

    /// One summary line.
    pub fn one_line(&self) -> String {
        let (p, f, s, i) = self.counts();
        let state = if self.timed_out {
            "TIMED OUT"
        } else if !self.done {
            "DID NOT FINISH (panic or crash)"
        } else if self.results.is_empty() {
            "FAILED (no test ran)"
        } else if self.ok() {
            "ok"
        } else {
            "FAILED"
        };
        format!(
            "vm-test: {:<11} {state}: {p} passed, {f} failed, {s} skipped, {i} ignored; boot {} s, total {:.0} s ({})",
            self.kernel,
            self.boot_secs.map_or("?".into(), |b| format!("{b:.1}")),
            self.total_secs,
            self.package
        )
    }
}

fn boot(
    vm_dir: &Path,
    k: &PreparedKernel,
    initrd: &Path,
    accel: Accel,
    opts: &Options,
) -> Result<KernelRun, Error> {
    let logs = vm_dir.join("logs");
    fs::create_dir_all(&logs).map_err(|e| Error::io("cannot create", &logs, e))?;
    let log_path = logs.join(format!("{}.log", k.spec.name));
    let mut log =
        fs::File::create(&log_path).map_err(|e| Error::io("cannot create", &log_path, e))?;
    println!(
        "vm-test: booting {} ({}, {}) under {:?}, timeout {} s",
        k.spec.name,
        k.package,
        k.release,
        accel,
        opts.timeout.as_secs()
    );
    let started = Instant::now();
    let mut child = qemu_command(k, initrd, accel, opts, "")
        .spawn()
        .map_err(|e| Error::Spawn {
            program: QEMU.into(),
            source: e,
        })?;
    let lines = console_lines(&mut child)?;
    let deadline = started + opts.timeout;
    let mut run = KernelRun {
        kernel: k.spec.name.to_string(),
        package: k.package.clone(),
        log: log_path.clone(),
        ..KernelRun::default()
    };
    loop {
        let Some(line) = recv_until(&lines, deadline) else {
            run.timed_out = Instant::now() >= deadline;
            break;
        };
        use std::io::Write;
        let _ = writeln!(log, "{line}");
        if opts.verbose {
            println!("[{}] {line}", k.spec.name);
        }
        if run.boot_secs.is_none() && matches!(Marker::parse(&line), Some(Marker::Alive { .. })) {
            run.boot_secs = Some(started.elapsed().as_secs_f64());
        }
        if let Some(Marker::Result {
            binary,
            test,
            outcome,
            ..
        }) = Marker::parse(&line)
        {
            if outcome == "FAILED" && !opts.verbose {
                println!("vm-test: {} {binary} {test} FAILED", k.spec.name);
            }
        }
        run.feed(&line);
        if run.done {
            // The guest powers off; give qemu a moment to exit.
            let _ = recv_until(&lines, Instant::now() + Duration::from_secs(10));
            break;
        }
    }
    kill(&mut child);
    run.total_secs = started.elapsed().as_secs_f64();
    Ok(run)
}

/// The report: a table of every test on every kernel, the skips with
/// their reasons, failures, and one line per kernel.
pub fn render(runs: &[KernelRun]) -> String {
    let mut s = String::from("\n==> vm-test results\n");
    let tests: BTreeSet<&(String, String)> = runs.iter().flat_map(|r| r.results.keys()).collect();
    let width = tests
        .iter()
        .map(|(b, t)| b.len() + t.len() + 1)
        .max()
        .unwrap_or(10)
        .min(100);
    s.push_str(&format!("  {:<width$}", "test"));
    for r in runs {
        s.push_str(&format!(" {:>10}", r.kernel));
    }
    s.push('\n');
    for key @ (b, t) in &tests {
        let name = format!("{b} {t}");
        s.push_str(&format!("  {name:<width$}"));
        for r in runs {
            let cell = match r.results.get(*key).map(String::as_str) {
                Some("ok") => "ok",
                Some("FAILED") => "FAILED",
                Some("skipped") => "skip",
                Some("ignored") => "ignored",
                Some(_) => "?",
                None => "-",
            };
            s.push_str(&format!(" {cell:>10}"));
        }
        s.push('\n');
    }
    for r in runs {
        for ((b, t), reason) in &r.skips {
            s.push_str(&format!("  skipped on {}: {b} {t}: {reason}\n", r.kernel));
        }
    }
    for r in runs {
        for ((b, t), o) in &r.results {
            if o == "FAILED" {
                s.push_str(&format!("  FAILED on {}: {b} {t}\n", r.kernel));
            }
        }
        for (b, status) in r.crashed_binaries() {
            s.push_str(&format!(
                "  CRASHED on {}: {b} exited with {status} without a failed test\n",
                r.kernel
            ));
        }
        for (m, e) in &r.modules {
            if let Some(e) = e {
                s.push_str(&format!("  module {m} did not load on {}: {e}\n", r.kernel));
            }
        }
        if !r.done {
            s.push_str(&format!(
                "  {} did not finish ({}); last console lines:\n",
                r.kernel,
                if r.timed_out {
                    "timeout"
                } else {
                    "qemu exited: panic or crash"
                }
            ));
            for l in &r.tail {
                s.push_str(&format!("    | {l}\n"));
            }
        }
    }
    for r in runs {
        s.push_str(&format!("  {}\n", r.one_line()));
    }
    let total = runs.iter().fold((0, 0, 0), |(p, f, sk), r| {
        let (a, b, c, _) = r.counts();
        (p + a, f + b, sk + c)
    });
    s.push_str(&format!(
        "vm-test: {} passed, {} failed, {} skipped\n",
        total.0, total.1, total.2
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options() {
        let o = Options::parse(&[]).unwrap();
        assert_eq!(o.kernels, ["6.1", "6.12"]);
        let o = Options::parse(&strings(&[
            "--kernel",
            "6.12",
            "--kernel=6.1-cloud",
            "--filter",
            "vm_",
            "--timeout",
            "60",
            "--accel",
            "tcg",
            "--kernel",
            "6.12",
        ]))
        .unwrap();
        assert_eq!(o.kernels, ["6.12", "6.1-cloud"]);
        assert_eq!(o.filters, ["vm_"]);
        assert_eq!(o.timeout, Duration::from_secs(60));
        assert_eq!(o.accel, Accel::Tcg);
        let ci = Options::parse(&strings(crate::test::CI_VM_TEST)).unwrap();
        assert_eq!(ci.kernels, ["6.1"], "ci boots one 6.1 kernel");
        assert!(ci.filters.iter().any(|f| f == "oxbpf-tests:vm_"));
        let all = Options::parse(&strings(&["--kernel", "all"])).unwrap();
        assert_eq!(all.kernels.len(), kernel::KERNELS.len());
        for bad in [
            &["--kernel", "4.4"][..],
            &["--timeout", "x"],
            &["--bogus"],
            &["--filter"],
        ] {
            assert!(Options::parse(&strings(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn executables_from_cargo_json() {
        let lines = strings(&[
            r#"{"reason":"compiler-artifact","package_id":"path+file:///w/tests#oxbpf-tests@0.1.0","target":{"kind":["test"],"crate_types":["bin"],"name":"vm_lsm","src_path":"/w/tests/tests/vm_lsm.rs"},"profile":{"opt_level":"0","test":true},"executable":"/t/deps/vm_lsm-ab","fresh":true}"#,
            r#"{"reason":"compiler-artifact","package_id":"path+file:///w/syscalls#oxbpf-syscalls@0.1.0","target":{"kind":["lib"],"crate_types":["lib"],"name":"oxbpf_syscalls","src_path":"/w/syscalls/src/lib.rs"},"profile":{"opt_level":"0","test":true},"executable":"/t/deps/oxbpf_syscalls-cd","fresh":true}"#,
            r#"{"reason":"compiler-artifact","package_id":"path+file:///w/syscalls#oxbpf-syscalls@0.1.0","target":{"kind":["lib"],"crate_types":["lib"],"name":"oxbpf_syscalls","src_path":"/w/syscalls/src/lib.rs"},"profile":{"opt_level":"0","test":false},"executable":null,"fresh":true}"#,
            r#"{"reason":"build-finished","success":true}"#,
        ]);
        assert_eq!(
            test_executables(&lines),
            [
                (
                    "oxbpf-syscalls:lib".to_string(),
                    PathBuf::from("/t/deps/oxbpf_syscalls-cd")
                ),
                (
                    "oxbpf-tests:vm_lsm".to_string(),
                    PathBuf::from("/t/deps/vm_lsm-ab")
                ),
            ]
        );
    }

    #[test]
    fn ldd_output() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x00007f)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n\tnot a dynamic executable\n";
        assert_eq!(
            parse_ldd(text),
            [
                PathBuf::from("/lib/x86_64-linux-gnu/libm.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2")
            ]
        );
    }

    #[test]
    fn expectations_come_from_the_config() {
        let cfg = kernel::parse_config(
            "CONFIG_KPROBES=y\nCONFIG_KPROBE_EVENTS=y\n# CONFIG_FPROBE is not set\nCONFIG_BPF_JIT=y\nCONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS=y\nCONFIG_BPF_LSM=y\nCONFIG_LSM=\"landlock,lockdown,bpf\"\n",
        );
        assert_eq!(
            expected_features(&cfg),
            ["kprobe", "kretprobe", "fentry", "fexit", "lsm"]
        );
        let no_bpf_lsm = kernel::parse_config("CONFIG_BPF_LSM=y\nCONFIG_LSM=\"apparmor\"\n");
        assert!(expected_features(&no_bpf_lsm).is_empty());
    }

    #[test]
    fn a_run_is_judged_by_its_markers() {
        let mut r = KernelRun {
            kernel: "6.1".into(),
            ..KernelRun::default()
        };
        for l in [
            "OXBPF-VM-ALIVE 6.1",
            "OXBPF-VM-RESULT 6.1 t:a x ok",
            "OXBPF-VM-SKIP 6.1 t:a y kprobe_multi: EOPNOTSUPP",
            "OXBPF-VM-RESULT 6.1 t:a y skipped",
            "OXBPF-VM-EXIT 6.1 t:a 0",
        ] {
            r.feed(l);
        }
        assert!(!r.ok(), "not done");
        r.feed("[ 9.0] OXBPF-VM-DONE 6.1");
        assert!(r.ok());
        assert_eq!(r.counts(), (1, 0, 1, 0));
        r.feed("OXBPF-VM-EXIT 6.1 t:b signal 11");
        assert!(!r.ok(), "a crashed binary fails the kernel");
        let text = render(&[r]);
        assert!(
            text.contains("skipped on 6.1: t:a y: kprobe_multi: EOPNOTSUPP"),
            "{text}"
        );
        assert!(text.contains("CRASHED on 6.1: t:b"), "{text}");
        assert!(
            text.contains("vm-test: 1 passed, 0 failed, 1 skipped"),
            "{text}"
        );
    }
}
