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
