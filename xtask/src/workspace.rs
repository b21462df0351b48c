//! Where things are: the workspace root and the cargo target directory.

use std::path::{Path, PathBuf};

use crate::Error;

/// The workspace's root and target directories.
#[derive(Debug, Clone)]
pub struct Workspace {
    root: PathBuf,
    target: PathBuf,
}

impl Workspace {
    /// A workspace at `root` whose cargo target directory is `target`.
    pub fn new(root: PathBuf, target: PathBuf) -> Self {
        Workspace { root, target }
    }

    /// The workspace this xtask belongs to. The root is the parent of the
    /// xtask package (cargo passes `CARGO_MANIFEST_DIR` to `cargo run`; the
    /// compile-time value is the fallback); the target directory is
    /// `$CARGO_TARGET_DIR` (relative to the current directory, as cargo
    /// reads it) or `<root>/target`.
    pub fn locate() -> Result<Self, Error> {
        let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
        let root = manifest_dir
            .parent()
            .ok_or_else(|| {
                Error::Failed(format!(
                    "xtask package directory {} has no parent",
                    manifest_dir.display()
                ))
            })?
            .to_path_buf();
        let target = match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) if !dir.is_empty() => {
                let dir = PathBuf::from(dir);
                if dir.is_absolute() {
                    dir
                } else {
                    let cwd = std::env::current_dir()
                        .map_err(|e| Error::io("cannot read the current directory for", &dir, e))?;
                    cwd.join(dir)
                }
            }
            _ => root.join("target"),
        };
        Ok(Workspace { root, target })
    }

    /// The workspace root (where the top `Cargo.toml` is).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The cargo target directory.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// `<target>/bpf`: where `build-bpf` puts the corpus objects.
    pub fn bpf_out(&self) -> PathBuf {
        self.target.join("bpf")
    }

    /// `tests/progs`: the corpus sources.
    pub fn progs_dir(&self) -> PathBuf {
        self.root.join("tests").join("progs")
    }

    /// `tests/progs-vm`: sources of the programs only other kernels can
    /// load (built into `<target>/bpf/vm/`).
    pub fn progs_vm_dir(&self) -> PathBuf {
        self.root.join("tests").join("progs-vm")
    }

    /// `<target>/vm`: vm-test's kernel cache, builds and logs.
    pub fn vm_out(&self) -> PathBuf {
        self.target.join("vm")
    }

    /// `cli/demo`: the demo object and its source.
    pub fn demo_dir(&self) -> PathBuf {
        self.root.join("cli").join("demo")
    }

    /// Whether `manifest` is the manifest of package `oxbpf-tests`, whose
    /// test binaries are the live-kernel tests.
    pub fn is_live_test_manifest(&self, manifest: &Path) -> bool {
        manifest == self.root.join("tests").join("Cargo.toml")
    }

    /// `path` relative to the workspace root when it is inside it, for
    /// shorter messages.
    pub fn display<'a>(&self, path: &'a Path) -> std::path::Display<'a> {
        path.strip_prefix(&self.root).unwrap_or(path).display()
    }
}
