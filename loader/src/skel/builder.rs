//! The build.rs helper: compile a `.bpf.c` with clang and generate its
//! skeleton module into `OUT_DIR`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::generator::{Embed, SkelOptions, generate};
use crate::error::{Error, Result};

/// Generates a skeleton at build time, from a BPF C source (compiled with
/// clang) or an object file.
///
/// ```no_run
/// // build.rs
/// use std::path::PathBuf;
///
/// let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("run by cargo"));
/// oxbpf::skel::Builder::new("src/bpf/counter.bpf.c")
///     .build_and_generate(out.join("counter.skel.rs"))?;
/// oxbpf::skel::Builder::new("src/bpf/counter.bpf.c")
///     .light(true)
///     .build_and_generate(out.join("counter.lskel.rs"))?;
/// # Ok::<(), oxbpf::Error>(())
/// ```
///
/// Then, in the crate: `mod counter { include!(concat!(env!("OUT_DIR"),
/// "/counter.skel.rs")); }`.
///
/// A C source is compiled with `clang -g -O2 -target bpf` (little- or
/// big-endian as the host), `-D__TARGET_ARCH_<arch>` for `bpf_tracing.h`,
/// the Debian multiarch include directory (for `<asm/types.h>`) when it
/// exists, and the caller's arguments; the object goes to `OUT_DIR` (or
/// beside the generated file). Run from a build script (`OUT_DIR` set), it
/// prints `cargo:rerun-if-changed` for the source and every header clang
/// read.
#[derive(Clone, Debug)]
pub struct Builder {
    source: PathBuf,
    light: bool,
    clang: Option<PathBuf>,
    clang_args: Vec<OsString>,
    name: Option<String>,
    vmlinux_h: bool,
}

impl Builder {
    /// A builder for `source`: a `.c` file (compiled) or an object.
    pub fn new(source: impl Into<PathBuf>) -> Builder {
        Builder {
            source: source.into(),
            light: false,
            clang: None,
            clang_args: Vec::new(),
            name: None,
            vmlinux_h: false,
        }
    }

    /// Generate a light skeleton (see [`SkelOptions::light`]).
    pub fn light(mut self, light: bool) -> Builder {
        self.light = light;
        self
    }

    /// The clang to run: by default `$CLANG`, else `clang-19` if it is on
    /// the `PATH`, else `clang`.
    pub fn clang(mut self, clang: impl Into<PathBuf>) -> Builder {
        self.clang = Some(clang.into());
        self
    }

    /// More clang arguments (`-I`, `-D`...), after the defaults.
    pub fn clang_args<I, S>(mut self, args: I) -> Builder
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.clang_args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Names the skeleton (see [`SkelOptions::name`]).
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Writes a `vmlinux.h` of the running kernel's BTF
    /// (`/sys/kernel/btf/vmlinux`) into the output directory and puts it
    /// on the include path, for sources that `#include "vmlinux.h"`.
    pub fn vmlinux_h(mut self, yes: bool) -> Builder {
        self.vmlinux_h = yes;
        self
    }

    fn clang_path(&self) -> PathBuf {
        if let Some(c) = &self.clang {
            return c.clone();
        }
        if let Some(c) = std::env::var_os("CLANG") {
            return c.into();
        }
        let on_path = std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|dir| dir.join("clang-19").is_file()));
        if on_path { "clang-19" } else { "clang" }.into()
    }

    /// Compiles the C source into `out_dir` and returns the object's path
    /// (an object source is returned as it is).
    pub fn compile(&self, out_dir: &Path) -> Result<PathBuf> {
        let source = &self.source;
        let file_name = source
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some(stem) = file_name.strip_suffix(".c") else {
            return Ok(source.clone());
        };
        let stem = stem.strip_suffix(".bpf").unwrap_or(stem);
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| Error::Io { path, source }
        };
        std::fs::create_dir_all(out_dir).map_err(io(out_dir))?;
        let object = out_dir.join(format!("{stem}.bpf.o"));
        let depfile = out_dir.join(format!("{stem}.bpf.d"));
        let arch = std::env::var("CARGO_CFG_TARGET_ARCH")
            .unwrap_or_else(|_| std::env::consts::ARCH.to_owned());
        let mut cmd = Command::new(self.clang_path());
        cmd.args(["-g", "-O2", "-target", "bpf"])
            .arg(format!("-D__TARGET_ARCH_{}", target_arch_macro(&arch)));
        let multiarch = PathBuf::from(format!("/usr/include/{}-linux-gnu", debian_arch(&arch)));
        if multiarch.is_dir() {
            cmd.arg("-I").arg(&multiarch);
        }
        if self.vmlinux_h {
            let header = out_dir.join("vmlinux.h");
            write_vmlinux_h(&header)?;
            cmd.arg("-I").arg(out_dir);
        }
        if let Some(dir) = source.parent().filter(|d| !d.as_os_str().is_empty()) {
            cmd.arg("-I").arg(dir);
        }
        cmd.args(&self.clang_args)
            .arg("-MD")
            .arg("-MF")
            .arg(&depfile)
            .arg("-c")
            .arg(source)
            .arg("-o")
            .arg(&object);
        log::debug!(target: "oxbpf::skel", "running {cmd:?}");
        let output = cmd
            .output()
            .map_err(|e| Error::InvalidArgument(format!("running {:?}: {e}", cmd.get_program())))?;
        if !output.status.success() {
            return Err(Error::InvalidArgument(format!(
                "{:?} failed ({}) compiling {}:\n{}",
                cmd.get_program(),
                output.status,
                source.display(),
                String::from_utf8_lossy(&output.stderr)
            )));
        }
        if in_build_script() {
            if let Ok(deps) = std::fs::read_to_string(&depfile) {
                for dep in depfile_prerequisites(&deps) {
                    println!("cargo:rerun-if-changed={dep}");
                }
            }
        }
        Ok(object)
    }

    /// Generates the skeleton of `object` into `out_rs`, embedding the
    /// object (or the loader, written beside `out_rs`) with
    /// `include_bytes!`.
    pub fn generate(&self, object: &Path, out_rs: &Path) -> Result<()> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| Error::Io { path, source }
        };
        let bytes = std::fs::read(object).map_err(io(object))?;
        let name = object
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let embed_path = if self.light {
            out_rs.with_extension("loader")
        } else {
            object.to_owned()
        };
        let embed_path = std::path::absolute(&embed_path).map_err(io(&embed_path))?;
        let mut opts = SkelOptions::new()
            .light(self.light)
            .embed(Embed::File(embed_path.clone()));
        opts.name = self.name.clone();
        let skel = generate(&name, &bytes, &opts)?;
        if self.light {
            write_if_changed(&embed_path, &skel.embedded)?;
        }
        write_if_changed(out_rs, skel.source.as_bytes())
    }

    /// Compiles the source if it is C and generates its skeleton module at
    /// `out_rs` (relative paths are under `OUT_DIR` when it is set).
    pub fn build_and_generate(&self, out_rs: impl AsRef<Path>) -> Result<()> {
        let out_dir = std::env::var_os("OUT_DIR").map(PathBuf::from);
        let out_rs = match &out_dir {
            Some(dir) if out_rs.as_ref().is_relative() => dir.join(out_rs),
            _ => out_rs.as_ref().to_owned(),
        };
        if in_build_script() {
            println!("cargo:rerun-if-changed={}", self.source.display());
        }
        let dir = out_dir.unwrap_or_else(|| {
            out_rs
                .parent()
                .map_or_else(|| PathBuf::from("."), Path::to_owned)
        });
        let object = self.compile(&dir)?;
        self.generate(&object, &out_rs)
    }
}

/// Whether cargo runs us as a build script (which reads `cargo:` lines).
fn in_build_script() -> bool {
    std::env::var_os("OUT_DIR").is_some() && std::env::var_os("CARGO_MANIFEST_DIR").is_some()
}

/// Writes `bytes` to `path` unless it holds them already (keeps the
/// file's time, so that cargo does not rebuild for nothing).
fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<()> {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_owned(),
            source,
        })?;
    }
    std::fs::write(path, bytes).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })
}

fn write_vmlinux_h(header: &Path) -> Result<()> {
    let btf = oxbpf_btf::Btf::from_file(Path::new(crate::VMLINUX_BTF))
        .map_err(Error::btf(format!("reading {}", crate::VMLINUX_BTF)))?;
    let text = oxbpf_btf::dump_c_string(&btf, &oxbpf_btf::DumpOptions::default())
        .map_err(Error::btf("writing vmlinux.h"))?;
    write_if_changed(header, text.as_bytes())
}

/// `__TARGET_ARCH_<x>` as libbpf's `bpf_tracing.h` spells the arch.
fn target_arch_macro(arch: &str) -> &str {
    match arch {
        "x86_64" | "x86" => "x86",
        "aarch64" => "arm64",
        "arm" => "arm",
        "s390x" => "s390",
        "powerpc64" => "powerpc",
        "riscv64" => "riscv",
        "loongarch64" => "loongarch",
        "mips64" | "mips" => "mips",
        other => other,
    }
}

/// Debian's multiarch name of a Rust target arch.
fn debian_arch(arch: &str) -> &str {
    match arch {
        "x86" => "i386",
        "powerpc64" => "powerpc64le",
        other => other,
    }
}

/// The prerequisites a make-style depfile (`clang -MD -MF`) lists.
fn depfile_prerequisites(text: &str) -> Vec<String> {
    let joined = text.replace("\\\n", " ");
    let Some((_, deps)) = joined.split_once(": ") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = deps.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&' ') => {
                current.push(' ');
                chars.next();
            }
            c if c.is_whitespace() => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depfiles_list_their_prerequisites() {
        let text = "/out/x.bpf.o: src/x.bpf.c /usr/include/linux/bpf.h \\\n  a\\ b.h\n";
        assert_eq!(
            depfile_prerequisites(text),
            ["src/x.bpf.c", "/usr/include/linux/bpf.h", "a b.h"]
        );
        assert!(depfile_prerequisites("").is_empty());
    }
}
