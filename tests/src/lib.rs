//! Integration tests of oxbpf against the live kernel, and the helpers they
//! share.
//!
//! The BPF objects come from `tests/progs/*.bpf.c`, built by
//! `cargo xtask build-bpf` into `<target>/bpf/`. A test whose object is
//! missing fails with the command to run: a missing build is never a skip.
//!
//! Every test that touches the kernel takes [`kernel_lock`] first, so the
//! tests of one binary run against the kernel one at a time and their fd
//! and kernel-object accounting ([`FdSnapshot`], [`KernelObjects`]) sees
//! only their own work.
//!
//! # Skips
//!
//! A test that needs something not every kernel has (kprobes, fentry,
//! LSM...) starts with [`require!`]`(Feature::X)`. The library's own probe
//! decides ([`oxbpf::sys::probe_prog`]: load and attach a minimal program
//! of that kind), never a kernel version number:
//!
//! - **supported**: the test runs;
//! - **unsupported** (the kernel refuses the kind while a plain socket
//!   filter loads): the test returns early *as a skip*: it prints
//!   `OXBPF-SKIP <feature>: <reason>` and appends
//!   `<binary>\t<test>\t<feature>: <reason>` to the file named by
//!   `$OXBPF_SKIP_LOG`, from which `cargo xtask test` and
//!   `cargo xtask vm-test` count it as skipped, not passed;
//! - **inconclusive** (not even the plain program loads: no root, no
//!   `bpf()`): the test *fails* — a machine that cannot run the suite is
//!   not a machine where everything was skipped;
//! - a feature listed in `$OXBPF_REQUIRE` (comma-separated names, or
//!   `all`) must be supported: there an unsupported answer fails the test.
//!   vm-test sets it per kernel from what that build is known to have, so
//!   a probe that wrongly says "unsupported" cannot hide a whole kernel's
//!   tests.
//!
//! ```no_run
//! use oxbpf_tests::{Feature, require};
//!
//! #[test]
//! fn fentry_counts() {
//!     require!(Feature::Fentry);
//!     // ... load, attach, trigger, check the map
//! }
//! ```
#![forbid(unsafe_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// The directory of built test objects: `$OXBPF_BPF_DIR`, else
/// `$CARGO_TARGET_DIR/bpf`, else `<workspace>/target/bpf`.
pub fn bpf_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("OXBPF_BPF_DIR") {
        return dir.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("bpf")
}

/// Path of the built object `name` (e.g. `"xdp_count"` →
/// `<bpf_dir>/xdp_count.bpf.o`). Panics with the build command if absent.
pub fn object(name: &str) -> PathBuf {
    let path = bpf_dir().join(format!("{name}.bpf.o"));
    assert!(
        path.exists(),
        "{} is missing: run `cargo xtask build-bpf` first",
        path.display()
    );
    path
}

/// Every corpus object built for the host byte order (`<name>.bpf.o`) by
/// the default compiler, and the ones also built by clang-14
/// (`<name>.clang14.bpf.o`). Panics if the directory has none.
pub fn corpus() -> Vec<PathBuf> {
    let dir = bpf_dir();
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}: run `cargo xtask build-bpf` first", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".bpf.o"))
        .collect();
    out.sort();
    assert!(
        !out.is_empty(),
        "no objects in {}: run `cargo xtask build-bpf`",
        dir.display()
    );
    out
}

/// The corpus sources, one name per `tests/progs/*.bpf.c`.
pub fn corpus_sources() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("progs");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("tests/progs exists")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".bpf.c")
                .map(str::to_owned)
        })
        .collect();
    names.sort();
    names
}

static KERNEL: Mutex<()> = Mutex::new(());

/// Serializes the kernel tests of one test binary.
pub fn kernel_lock() -> MutexGuard<'static, ()> {
    // A test that panicked while holding the lock poisons it; the kernel
    // state it guards is still usable.
    KERNEL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The fds open in this process (`/proc/self/fd`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdSnapshot(pub BTreeSet<i32>);

impl FdSnapshot {
    /// Reads `/proc/self/fd`.
    pub fn take() -> FdSnapshot {
        let fds = std::fs::read_dir("/proc/self/fd")
            .expect("/proc/self/fd")
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect();
        FdSnapshot(fds)
    }

    /// Fds open now that were not open at `self` (the directory fd of the
    /// reading itself is never among them: it is closed before returning).
    pub fn leaked(&self) -> Vec<(i32, String)> {
        FdSnapshot::take()
            .0
            .difference(&self.0)
            .map(|fd| {
                let target = std::fs::read_link(format!("/proc/self/fd/{fd}"))
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                (*fd, target)
            })
            .collect()
    }

    /// Panics if any fd opened since `self` is still open.
    pub fn assert_no_leak(&self, context: &str) {
        let leaked = self.leaked();
        assert!(leaked.is_empty(), "{context}: leaked fds {leaked:?}");
    }
}

/// The ids of the kernel's programs, maps, BTF objects and links.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KernelObjects {
    /// Program ids.
    pub progs: BTreeSet<u32>,
    /// Map ids.
    pub maps: BTreeSet<u32>,
    /// BTF object ids.
    pub btfs: BTreeSet<u32>,
    /// Link ids.
    pub links: BTreeSet<u32>,
}

impl KernelObjects {
    /// Enumerates every id (`BPF_*_GET_NEXT_ID`).
    pub fn take() -> KernelObjects {
        use oxbpf::sys;
        let all = |next: fn(u32) -> sys::Result<Option<u32>>| {
            let mut ids = BTreeSet::new();
            let mut id = 0;
            while let Some(n) = next(id).expect("GET_NEXT_ID") {
                ids.insert(n);
                id = n;
            }
            ids
        };
        KernelObjects {
            progs: all(sys::prog_get_next_id),
            maps: all(sys::map_get_next_id),
            btfs: all(sys::btf_get_next_id),
            links: all(sys::link_get_next_id),
        }
    }

    /// Objects that exist now and did not at `self`.
    pub fn new_since(&self) -> KernelObjects {
        let now = KernelObjects::take();
        let diff = |a: &BTreeSet<u32>, b: &BTreeSet<u32>| a.difference(b).copied().collect();
        KernelObjects {
            progs: diff(&now.progs, &self.progs),
            maps: diff(&now.maps, &self.maps),
            btfs: diff(&now.btfs, &self.btfs),
            links: diff(&now.links, &self.links),
        }
    }

    /// Whether there are no ids at all.
    pub fn is_empty(&self) -> bool {
        self.progs.is_empty()
            && self.maps.is_empty()
            && self.btfs.is_empty()
            && self.links.is_empty()
    }
}

/// Waits until the kernel has released objects freed by closing their last
/// fd (maps and BTF are freed from a workqueue, after an RCU grace period),
/// and returns what is still there that did not exist at `before`.
pub fn settled_new_objects(before: &KernelObjects) -> KernelObjects {
    let mut left = before.new_since();
    for _ in 0..100 {
        if left.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        left = before.new_since();
    }
    left
}

/// Mounts bpffs at `/sys/fs/bpf` unless it is mounted there already.
pub fn ensure_bpffs() {
    oxbpf::sys::mount_bpffs(Path::new("/sys/fs/bpf")).expect("mounting bpffs at /sys/fs/bpf");
}

/// A fresh directory on bpffs for one test, removed (with what is pinned
/// in it) when dropped.
#[derive(Debug)]
pub struct PinDir(pub PathBuf);

impl PinDir {
    /// Creates `/sys/fs/bpf/oxbpf-test-<name>-<pid>`.
    pub fn new(name: &str) -> PinDir {
        ensure_bpffs();
        let dir = PathBuf::from(format!(
            "/sys/fs/bpf/oxbpf-test-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating a bpffs directory");
        PinDir(dir)
    }
}

impl Drop for PinDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Path of the built object `name` of `tests/progs-vm/` (e.g. `"fentry"` →
/// `<bpf_dir>/vm/fentry.bpf.o`): programs this host cannot load, tested on
/// other kernels by `cargo xtask vm-test`. Panics with the build command
/// if absent.
pub fn vm_object(name: &str) -> PathBuf {
    let path = bpf_dir().join("vm").join(format!("{name}.bpf.o"));
    assert!(
        path.exists(),
        "{} is missing: run `cargo xtask build-bpf` first",
        path.display()
    );
    path
}

/// A kernel capability a test may need; [`require`] probes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Feature {
    /// kprobe programs on kprobe perf events.
    Kprobe,
    /// kprobe programs on kretprobe perf events.
    Kretprobe,
    /// kprobe_multi links.
    KprobeMulti,
    /// fentry programs.
    Fentry,
    /// fexit programs.
    Fexit,
    /// fmod_ret programs.
    FmodRet,
    /// BPF LSM programs.
    Lsm,
}

impl Feature {
    /// Every feature.
    pub const ALL: [Feature; 7] = [
        Feature::Kprobe,
        Feature::Kretprobe,
        Feature::KprobeMulti,
        Feature::Fentry,
        Feature::Fexit,
        Feature::FmodRet,
        Feature::Lsm,
    ];

    /// The library probe that decides it.
    pub fn probe(self) -> oxbpf::sys::ProgProbe {
        use oxbpf::sys::ProgProbe as P;
        match self {
            Feature::Kprobe => P::Kprobe,
            Feature::Kretprobe => P::Kretprobe,
            Feature::KprobeMulti => P::KprobeMulti,
            Feature::Fentry => P::Fentry,
            Feature::Fexit => P::Fexit,
            Feature::FmodRet => P::FmodRet,
            Feature::Lsm => P::Lsm,
        }
    }

    /// Its name in markers and in `$OXBPF_REQUIRE` (`"fentry"`...).
    pub fn name(self) -> &'static str {
        self.probe().name()
    }

    /// The kernel function the probe attaches to: functions that exist
    /// for BPF's own tests (`net/bpf/test_run.c`) and the LSM hook
    /// `file_open`, in every kernel that has the feature at all.
    fn probe_function(self) -> &'static std::ffi::CStr {
        match self {
            Feature::FmodRet => c"bpf_modify_return_test",
            Feature::Lsm => c"bpf_lsm_file_open",
            _ => c"bpf_fentry_test1",
        }
    }
}

/// What [`probe`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probed {
    /// The kernel has it.
    Supported,
    /// The kernel refuses it; the reason.
    Unsupported(String),
    /// The probe could not tell; the reason.
    Inconclusive(String),
}

/// Probes `feature` with the library's program probes (cached per
/// process).
pub fn probe(feature: Feature) -> Probed {
    let func = feature.probe_function();
    let btf_id = if feature.probe().needs_btf_id() {
        match vmlinux_func_id(func) {
            Ok(Some(id)) => id,
            Ok(None) => {
                return Probed::Unsupported(format!(
                    "vmlinux BTF has no function {}",
                    func.to_string_lossy()
                ));
            }
            Err(e) => {
                return Probed::Inconclusive(format!("cannot read {}: {e}", oxbpf::VMLINUX_BTF));
            }
        }
    } else {
        0
    };
    let report = oxbpf::sys::probe_prog(
        feature.probe(),
        &oxbpf::sys::ProbeTarget::function(func, btf_id),
    );
    match report.result {
        oxbpf::sys::ProbeResult::Supported => Probed::Supported,
        oxbpf::sys::ProbeResult::Unsupported => Probed::Unsupported(report.detail),
        oxbpf::sys::ProbeResult::Inconclusive(_) => Probed::Inconclusive(report.detail),
    }
}

fn vmlinux_func_id(name: &std::ffi::CStr) -> Result<Option<u32>, String> {
    let btf =
        oxbpf::btf::Btf::from_file(Path::new(oxbpf::VMLINUX_BTF)).map_err(|e| e.to_string())?;
    let name = name.to_str().map_err(|e| e.to_string())?;
    btf.find_by_name_kind(name, oxbpf::btf::Kind::Func)
        .map(|id| id.map(|id| id.0))
        .map_err(|e| e.to_string())
}

/// Whether `$OXBPF_REQUIRE` (comma-separated feature names, or `all`)
/// lists `feature`.
pub fn required_by_environment(feature: Feature) -> bool {
    std::env::var("OXBPF_REQUIRE").is_ok_and(|list| requirement_lists(&list, feature))
}

fn requirement_lists(list: &str, feature: Feature) -> bool {
    list.split(',')
        .map(str::trim)
        .any(|w| w == "all" || w == feature.name())
}

/// The name of the running test: libtest names each test's thread after
/// the test.
pub fn current_test_name() -> String {
    std::thread::current()
        .name()
        .filter(|n| *n != "main")
        .unwrap_or("?")
        .to_string()
}

/// Records that the running test is skipped because of `reason`: prints
/// `OXBPF-SKIP <reason>` and appends a line to `$OXBPF_SKIP_LOG` (see the
/// crate docs).
pub fn record_skip(reason: &str) {
    let reason = reason.replace(['\n', '\t'], " ");
    let test = current_test_name();
    println!("OXBPF-SKIP {reason}");
    eprintln!("OXBPF-SKIP {test}: {reason}");
    let Some(log) = std::env::var_os("OXBPF_SKIP_LOG") else {
        return;
    };
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "?".into());
    let line = format!("{binary}\t{test}\t{reason}\n");
    use std::io::Write;
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    // A skip that cannot be recorded would count as a pass.
    if let Err(e) = written {
        panic!(
            "cannot record the skip in {}: {e}",
            PathBuf::from(log).display()
        );
    }
}

/// Whether the test may go on: `true` if the kernel has `feature`.
/// `false` after recording a skip when the kernel refuses it (the caller
/// returns at once: [`require!`] does both). Panics — the test fails —
/// when the probe is inconclusive or `$OXBPF_REQUIRE` lists the feature.
pub fn require(feature: Feature) -> bool {
    match probe(feature) {
        Probed::Supported => true,
        Probed::Unsupported(why) if required_by_environment(feature) => panic!(
            "{} is required here ($OXBPF_REQUIRE) but the kernel refuses it: {why}",
            feature.name()
        ),
        Probed::Unsupported(why) => {
            record_skip(&format!("{}: {why}", feature.name()));
            false
        }
        Probed::Inconclusive(why) => panic!(
            "cannot tell whether the kernel supports {}: {why}",
            feature.name()
        ),
    }
}

/// `require!(Feature::X)`: returns from the calling test, as a recorded
/// skip, unless the kernel has feature `X` (see [`require`]).
#[macro_export]
macro_rules! require {
    ($($feature:expr),+ $(,)?) => {
        $(
            if !$crate::require($feature) {
                return;
            }
        )+
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirement_lists_parse() {
        assert!(requirement_lists("all", Feature::Lsm));
        assert!(requirement_lists("kprobe, fentry", Feature::Fentry));
        assert!(!requirement_lists("kprobe,fentry", Feature::Fexit));
        assert!(!requirement_lists("", Feature::Kprobe));
        assert!(!requirement_lists("kprobes", Feature::Kprobe));
    }

    #[test]
    fn the_test_thread_is_named_after_the_test() {
        assert_eq!(
            current_test_name(),
            "tests::the_test_thread_is_named_after_the_test"
        );
    }

    #[test]
    fn feature_names_are_distinct() {
        let mut names: Vec<_> = Feature::ALL.iter().map(|f| f.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Feature::ALL.len());
    }
}
