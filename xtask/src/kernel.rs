//! The kernels vm-test boots: Debian's packages, fetched with `apt-get
//! download` into `<target>/vm/debs/`, and from each the uncompressed
//! `vmlinux`, the config and the few modules the tests need.
//!
//! - **Which package.** Each [`KernelSpec`] names a Debian meta package
//!   (`linux-image-amd64`...) of a suite; `apt-cache depends` says which
//!   versioned package it stands for today. bookworm's packages come from
//!   the system's apt lists; other suites (bullseye's 5.10) from a private
//!   apt configuration under `<target>/vm/apt/<suite>/` whose sources reuse
//!   the system's mirrors with the other suite name (the system's sources
//!   and lists are never changed).
//! - **vmlinux.** qemu boots an ELF `vmlinux` through its PVH entry point
//!   (`CONFIG_PVH`, on in Debian's kernels) in about 3 s under TCG here,
//!   where the bzImage takes about 12 s (real-mode firmware path and the
//!   decompressor, both slow under emulation). The compressed payload's
//!   place is read from the bzImage's setup header (`payload_offset` and
//!   `payload_length`, boot protocol 2.08) and decompressed by `xz`,
//!   `zstd`, `lz4` or `gzip` by its magic bytes (6.1 and 5.10 use xz, 6.1
//!   cloud lz4, 6.12 zstd). The kernel build appends the uncompressed size
//!   (4 bytes) to the payload, which `xz --single-stream` ignores and which
//!   is cut off for `zstd` and `lz4`.
//! - **Modules.** The .deb has no `modules.dep`, so the load order comes
//!   from each module's own `.modinfo` `depends=` list; 6.12's modules are
//!   `.ko.xz` and are decompressed here (the kernel would need
//!   `CONFIG_MODULE_DECOMPRESS` and `finit_module` flags otherwise).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::Error;

/// A kernel vm-test knows how to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelSpec {
    /// The name on the command line (`6.1`, `6.12-cloud`...).
    pub name: &'static str,
    /// Debian suite.
    pub suite: &'static str,
    /// The meta package that points at the current versioned image.
    pub meta: &'static str,
}

/// Every kernel of the matrix.
pub const KERNELS: &[KernelSpec] = &[
    KernelSpec {
        name: "6.1",
        suite: "bookworm",
        meta: "linux-image-amd64",
    },
    KernelSpec {
        name: "6.1-cloud",
        suite: "bookworm",
        meta: "linux-image-cloud-amd64",
    },
    KernelSpec {
        name: "6.12",
        suite: "bookworm",
        meta: "linux-image-6.12-amd64",
    },
    KernelSpec {
        name: "6.12-cloud",
        suite: "bookworm",
        meta: "linux-image-6.12-cloud-amd64",
    },
    KernelSpec {
        name: "5.10",
        suite: "bullseye",
        meta: "linux-image-amd64",
    },
];

/// The kernels run when `--kernel` is not given.
pub const DEFAULT_KERNELS: &[&str] = &["6.1", "6.12"];

/// The modules the tests need (tc and XDP on veth pairs); their
/// dependencies come along.
pub const WANTED_MODULES: &[&str] = &["veth", "sch_ingress", "cls_bpf", "act_bpf"];

/// Looks a kernel up by name.
pub fn spec(name: &str) -> Result<KernelSpec, Error> {
    KERNELS
        .iter()
        .copied()
        .find(|k| k.name == name)
        .ok_or_else(|| {
            let names: Vec<_> = KERNELS.iter().map(|k| k.name).collect();
            Error::Usage(format!(
                "unknown kernel `{name}`; known: {} (or `all`)",
                names.join(", ")
            ))
        })
}

/// A kernel ready to boot.
#[derive(Debug, Clone)]
pub struct PreparedKernel {
    /// Its spec.
    pub spec: KernelSpec,
    /// The versioned Debian package it came from.
    pub package: String,
    /// `uname -r` of the kernel (`6.1.0-56-amd64`).
    pub release: String,
    /// The uncompressed ELF image.
    pub vmlinux: PathBuf,
    /// Its build configuration (`/boot/config-<release>`).
    pub config: PathBuf,
    /// Uncompressed modules in load order (dependencies first).
    pub modules: Vec<PathBuf>,
}

impl PreparedKernel {
    /// The `CONFIG_*` options set in the kernel's config (`=y`, `=m` or a
    /// value).
    pub fn config_options(&self) -> Result<BTreeMap<String, String>, Error> {
        let text = fs::read_to_string(&self.config)
            .map_err(|e| Error::io("cannot read", &self.config, e))?;
        Ok(parse_config(&text))
    }
}

/// `CONFIG_X=value` lines of a kernel config (quotes kept off strings).
pub fn parse_config(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| l.starts_with("CONFIG_"))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect()
}

/// Fetches (if not cached) and unpacks kernel `spec` under `vm_dir`.
pub fn prepare(vm_dir: &Path, spec: KernelSpec) -> Result<PreparedKernel, Error> {
    let apt = Apt::for_suite(vm_dir, spec.suite)?;
    let package = apt.resolve_meta(spec.meta)?;
    let debs = vm_dir.join("debs");
    mkdir(&debs)?;
    let deb = match find_deb(&debs, &package)? {
        Some(d) => d,
        None => {
            println!(
                "vm-test: downloading {package} ({} {})",
                spec.suite, spec.meta
            );
            apt.download(&package, &debs)?;
            find_deb(&debs, &package)?.ok_or_else(|| {
                Error::Failed(format!(
                    "apt-get download {package} left no {package}_*.deb in {}",
                    debs.display()
                ))
            })?
        }
    };
    let dir = vm_dir.join("kernels").join(&package);
    let stamp = dir.join("ready");
    let listing = deb_listing(&deb)?;
    let release = listing
        .iter()
        .find_map(|p| p.strip_prefix("./boot/vmlinuz-"))
        .ok_or_else(|| Error::Failed(format!("{}: no ./boot/vmlinuz-*", deb.display())))?
        .to_string();
    let vmlinux = dir.join("vmlinux");
    let config = dir.join(format!("config-{release}"));
    let mod_dir = dir.join("modules");
    let order_file = dir.join("modules.order");
    if !stamp.exists() {
        let _ = fs::remove_dir_all(&dir);
        let raw = dir.join("deb");
        mkdir(&raw)?;
        extract(
            &deb,
            &raw,
            &[
                format!("./boot/vmlinuz-{release}"),
                format!("./boot/config-{release}"),
            ],
        )?;
        let bz = fs::read(raw.join(format!("boot/vmlinuz-{release}")))
            .map_err(|e| Error::io("cannot read", raw.join("boot"), e))?;
        let elf = extract_vmlinux(&bz)?;
        write(&vmlinux, &elf)?;
        fs::rename(raw.join(format!("boot/config-{release}")), &config)
            .map_err(|e| Error::io("cannot move", &config, e))?;
        let order = unpack_modules(&deb, &listing, &raw, &mod_dir)?;
        write(&order_file, order.join("\n").as_bytes())?;
        let _ = fs::remove_dir_all(&raw);
        write(&stamp, package.as_bytes())?;
    }
    let order =
        fs::read_to_string(&order_file).map_err(|e| Error::io("cannot read", &order_file, e))?;
    let modules = order
        .lines()
        .filter(|l| !l.is_empty())
        .map(|m| mod_dir.join(format!("{m}.ko")))
        .collect();
    Ok(PreparedKernel {
        spec,
        package,
        release,
        vmlinux,
        config,
        modules,
    })
}

/// How apt is asked about one suite.
struct Apt {
    /// Extra `-o` options (empty: the system's configuration).
    options: Vec<String>,
    suite: String,
}

impl Apt {
    fn for_suite(vm_dir: &Path, suite: &str) -> Result<Apt, Error> {
        let system_suite = system_suites()?;
        if system_suite.iter().any(|(_, s)| s == suite) {
            return Ok(Apt {
                options: Vec::new(),
                suite: suite.into(),
            });
        }
        // A private configuration: the system's mirrors, another suite.
        let dir = vm_dir.join("apt").join(suite);
        let lists = dir.join("lists");
        let cache = dir.join("cache");
        let parts = dir.join("sources.list.d");
        for d in [
            &lists.join("partial"),
            &cache.join("archives/partial"),
            &parts,
        ] {
            mkdir(d)?;
        }
        let mut sources = String::new();
        let mut seen = BTreeSet::new();
        for (uri, s) in &system_suite {
            // bookworm → suite, bookworm-security → suite-security ...
            let tail = s.split_once('-').map(|(_, t)| format!("-{t}"));
            if tail.as_deref() == Some("-backports") {
                continue;
            }
            let line = format!("deb {uri} {suite}{} main\n", tail.unwrap_or_default());
            if seen.insert(line.clone()) {
                sources.push_str(&line);
            }
        }
        if sources.is_empty() {
            return Err(Error::Failed(
                "no Debian mirror found in the system's apt sources".into(),
            ));
        }
        let list = dir.join("sources.list");
        write(&list, sources.as_bytes())?;
        let options = vec![
            format!("Dir::Etc::SourceList={}", list.display()),
            format!("Dir::Etc::SourceParts={}", parts.display()),
            format!("Dir::State::Lists={}", lists.display()),
            format!("Dir::Cache={}", cache.display()),
        ];
        let apt = Apt {
            options,
            suite: suite.into(),
        };
        let fresh = fs::read_dir(&lists)
            .map(|d| d.filter_map(|e| e.ok()).any(|e| e.file_name() != "partial"))
            .unwrap_or(false);
        if !fresh {
            println!(
                "vm-test: apt-get update for {suite} (private lists in {})",
                dir.display()
            );
            apt.run("apt-get", &["update", "-qq"], None)?;
        }
        Ok(apt)
    }

    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        for o in &self.options {
            c.arg("-o").arg(o);
        }
        c.stdin(Stdio::null());
        c
    }

    fn run(&self, program: &str, args: &[&str], cwd: Option<&Path>) -> Result<String, Error> {
        let mut c = self.command(program);
        c.args(args);
        if let Some(d) = cwd {
            c.current_dir(d);
        }
        let out = c.output().map_err(|e| Error::Spawn {
            program: program.into(),
            source: e,
        })?;
        if !out.status.success() {
            return Err(Error::Failed(format!(
                "`{program} {}` ({} sources) failed ({}):\n{}",
                args.join(" "),
                self.suite,
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The versioned image package a meta package depends on.
    fn resolve_meta(&self, meta: &str) -> Result<String, Error> {
        let text = self.run("apt-cache", &["depends", meta], None)?;
        parse_depends(&text, meta).ok_or_else(|| {
            Error::Failed(format!(
                "`apt-cache depends {meta}` ({}) names no linux-image package:\n{text}\n\
                 (run `apt-get update` if the lists are old)",
                self.suite
            ))
        })
    }

    fn download(&self, package: &str, into: &Path) -> Result<(), Error> {
        self.run("apt-get", &["download", "-qq", package], Some(into))
            .map(drop)
    }
}

/// The first `Depends: linux-image-...` of `apt-cache depends` output.
pub fn parse_depends(text: &str, meta: &str) -> Option<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("Depends:"))
        .map(str::trim)
        .find(|p| p.starts_with("linux-image-") && *p != meta)
        .map(str::to_string)
}

/// `(uri, suite)` of every Debian source of the system (deb822
/// `*.sources` and one-line `sources.list` formats).
fn system_suites() -> Result<Vec<(String, String)>, Error> {
    let mut texts = Vec::new();
    if let Ok(t) = fs::read_to_string("/etc/apt/sources.list") {
        texts.push(("list", t));
    }
    if let Ok(dir) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut paths: Vec<_> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            let kind = match p.extension().and_then(|e| e.to_str()) {
                Some("sources") => "sources",
                Some("list") => "list",
                _ => continue,
            };
            if let Ok(t) = fs::read_to_string(&p) {
                texts.push((kind, t));
            }
        }
    }
    let mut out = Vec::new();
    for (kind, text) in texts {
        if kind == "sources" {
            out.extend(parse_deb822_sources(&text));
        } else {
            out.extend(parse_one_line_sources(&text));
        }
    }
    Ok(out)
}

/// `(uri, suite)` pairs of deb822 stanzas of type `deb`.
pub fn parse_deb822_sources(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let field = |name: &str| {
            stanza
                .lines()
                .filter(|l| !l.starts_with('#'))
                .find_map(|l| l.strip_prefix(name).map(str::trim))
                .unwrap_or("")
                .to_string()
        };
        let enabled = field("Enabled:");
        if !field("Types:").split_whitespace().any(|t| t == "deb") || enabled == "no" {
            continue;
        }
        let uris = field("URIs:");
        let suites = field("Suites:");
        for uri in uris.split_whitespace() {
            for suite in suites.split_whitespace() {
                out.push((uri.to_string(), suite.to_string()));
            }
        }
    }
    out
}

/// `(uri, suite)` of `deb [opts] uri suite components` lines.
pub fn parse_one_line_sources(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix("deb ")?;
            let rest = match rest.trim_start().strip_prefix('[') {
                Some(r) => r.split_once(']')?.1,
                None => rest,
            };
            let mut words = rest.split_whitespace();
            Some((words.next()?.to_string(), words.next()?.to_string()))
        })
        .collect()
}

/// The cached `<package>_*.deb` in `dir`.
fn find_deb(dir: &Path, package: &str) -> Result<Option<PathBuf>, Error> {
    let prefix = format!("{package}_");
    let entries = fs::read_dir(dir).map_err(|e| Error::io("cannot list", dir, e))?;
    for e in entries {
        let e = e.map_err(|e| Error::io("cannot list", dir, e))?;
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&prefix) && name.ends_with(".deb") {
            return Ok(Some(e.path()));
        }
    }
    Ok(None)
}

/// The paths (`./lib/modules/...`) a .deb holds.
fn deb_listing(deb: &Path) -> Result<Vec<String>, Error> {
    let out = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(deb)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|child| {
            Command::new("tar")
                .arg("-t")
                .stdin(
                    child
                        .stdout
                        .ok_or_else(|| std::io::Error::other("no pipe"))?,
                )
                .output()
        })
        .map_err(|e| Error::Spawn {
            program: "dpkg-deb --fsys-tarfile | tar -t".into(),
            source: e,
        })?;
    if !out.status.success() {
        return Err(Error::Failed(format!(
            "cannot list {}: {}",
            deb.display(),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect())
}

/// Extracts `members` of the .deb's data into `dir`.
fn extract(deb: &Path, dir: &Path, members: &[String]) -> Result<(), Error> {
    let child = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(deb)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Spawn {
            program: "dpkg-deb".into(),
            source: e,
        })?;
    let stdout = child
        .stdout
        .ok_or_else(|| Error::Failed("dpkg-deb: no pipe".into()))?;
    let out = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(dir)
        .args(members)
        .stdin(stdout)
        .output()
        .map_err(|e| Error::Spawn {
            program: "tar".into(),
            source: e,
        })?;
    if !out.status.success() {
        return Err(Error::Failed(format!(
            "cannot extract {} from {}: {}",
            members.join(" "),
            deb.display(),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}

/// The module name of a path (`.../sch_ingress.ko.xz` → `sch_ingress`;
/// `-` and `_` are the same to the kernel, so `-` becomes `_`).
pub fn module_name(path: &str) -> Option<String> {
    let file = path.rsplit('/').next()?;
    let stem = file
        .strip_suffix(".ko")
        .or_else(|| file.strip_suffix(".ko.xz"))
        .or_else(|| file.strip_suffix(".ko.zst"))
        .or_else(|| file.strip_suffix(".ko.gz"))?;
    Some(stem.replace('-', "_"))
}

/// Extracts [`WANTED_MODULES`] and their dependencies from the .deb,
/// decompressed, into `out` as `<name>.ko`; returns the names in load
/// order.
fn unpack_modules(
    deb: &Path,
    listing: &[String],
    scratch: &Path,
    out: &Path,
) -> Result<Vec<String>, Error> {
    mkdir(out)?;
    let by_name: BTreeMap<String, &String> = listing
        .iter()
        .filter(|p| p.contains("/kernel/"))
        .filter_map(|p| module_name(p).map(|n| (n, p)))
        .collect();
    let mut deps: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut todo: Vec<String> = WANTED_MODULES.iter().map(|m| m.to_string()).collect();
    while let Some(name) = todo.pop() {
        if deps.contains_key(&name) {
            continue;
        }
        let Some(member) = by_name.get(&name) else {
            // Built into this kernel (or missing: the tests will say).
            println!(
                "vm-test: module {name} is not in {} (built in?)",
                deb.display()
            );
            deps.insert(name, Vec::new());
            continue;
        };
        extract(deb, scratch, &[(*member).clone()])?;
        let packed = scratch.join(member.trim_start_matches("./"));
        let bytes = decompress_file(&packed)?;
        let needs = modinfo_depends(&bytes)
            .map_err(|e| Error::Failed(format!("{}: {e}", packed.display())))?;
        write(&out.join(format!("{name}.ko")), &bytes)?;
        todo.extend(needs.iter().cloned());
        deps.insert(name, needs);
    }
    // Only modules that were found get loaded.
    let present: BTreeSet<String> = deps
        .keys()
        .filter(|n| out.join(format!("{n}.ko")).exists())
        .cloned()
        .collect();
    load_order(&deps).map(|order| order.into_iter().filter(|n| present.contains(n)).collect())
}

/// Orders modules so that each comes after its dependencies
/// (depth-first; a cycle is an error).
pub fn load_order(deps: &BTreeMap<String, Vec<String>>) -> Result<Vec<String>, Error> {
    fn visit(
        name: &str,
        deps: &BTreeMap<String, Vec<String>>,
        state: &mut BTreeMap<String, bool>,
        out: &mut Vec<String>,
    ) -> Result<(), Error> {
        match state.get(name) {
            Some(true) => return Ok(()),
            Some(false) => {
                return Err(Error::Failed(format!(
                    "module dependency cycle through {name}"
                )));
            }
            None => {}
        }
        state.insert(name.to_string(), false);
        for d in deps.get(name).map(Vec::as_slice).unwrap_or(&[]) {
            visit(d, deps, state, out)?;
        }
        state.insert(name.to_string(), true);
        out.push(name.to_string());
        Ok(())
    }
    let mut state = BTreeMap::new();
    let mut out = Vec::new();
    for name in deps.keys() {
        visit(name, deps, &mut state, &mut out)?;
    }
    Ok(out)
}

/// The `depends=` list of a module's `.modinfo` section (ELF64
/// little-endian), names normalised like [`module_name`].
pub fn modinfo_depends(elf: &[u8]) -> Result<Vec<String>, String> {
    let modinfo = elf_section(elf, ".modinfo")?.ok_or("no .modinfo section")?;
    let deps = modinfo
        .split(|b| *b == 0)
        .filter_map(|kv| kv.strip_prefix(b"depends="))
        .next()
        .unwrap_or(b"");
    Ok(String::from_utf8_lossy(deps)
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.replace('-', "_"))
        .collect())
}

/// The bytes of section `name` of a little-endian ELF64 file.
pub fn elf_section<'a>(elf: &'a [u8], name: &str) -> Result<Option<&'a [u8]>, String> {
    let u16_at = |o: usize| -> Result<usize, String> {
        elf.get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
            .ok_or_else(|| format!("truncated ELF at {o:#x}"))
    };
    let u32_at = |o: usize| -> Result<usize, String> {
        elf.get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or_else(|| format!("truncated ELF at {o:#x}"))
    };
    let u64_at = |o: usize| -> Result<usize, String> {
        elf.get(o..o + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as usize)
            .ok_or_else(|| format!("truncated ELF at {o:#x}"))
    };
    if elf.get(..6) != Some(b"\x7fELF\x02\x01") {
        return Err("not a little-endian ELF64 file".into());
    }
    let shoff = u64_at(0x28)?;
    let shentsize = u16_at(0x3a)?;
    let shnum = u16_at(0x3c)?;
    let shstrndx = u16_at(0x3e)?;
    if shentsize < 0x40 {
        return Err(format!("section header size {shentsize}"));
    }
    let header = |i: usize| -> Result<(usize, usize, usize), String> {
        let at = shoff
            .checked_add(i.checked_mul(shentsize).ok_or("overflow")?)
            .ok_or("overflow")?;
        Ok((u32_at(at)?, u64_at(at + 0x18)?, u64_at(at + 0x20)?))
    };
    let bytes = |off: usize, size: usize| -> Result<&'a [u8], String> {
        off.checked_add(size)
            .and_then(|end| elf.get(off..end))
            .ok_or_else(|| format!("section data {off:#x}+{size:#x} outside the file"))
    };
    let (_, str_off, str_size) = header(shstrndx)?;
    let strtab = bytes(str_off, str_size)?;
    for i in 0..shnum {
        let (name_off, off, size) = header(i)?;
        let sec_name = strtab
            .get(name_off..)
            .and_then(|s| s.split(|b| *b == 0).next())
            .unwrap_or(b"");
        if sec_name == name.as_bytes() {
            return bytes(off, size).map(Some);
        }
    }
    Ok(None)
}

/// A compression format of kernel images and modules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// xz (`FD 37 7A 58 5A 00`).
    Xz,
    /// zstd (`28 B5 2F FD`).
    Zstd,
    /// gzip (`1F 8B`).
    Gzip,
    /// lz4, legacy frame format (`02 21 4C 18`; Debian's 6.1 cloud kernel).
    Lz4,
}

impl Compression {
    /// The format `data` starts with.
    pub fn sniff(data: &[u8]) -> Option<Compression> {
        if data.starts_with(b"\xfd7zXZ\x00") {
            Some(Compression::Xz)
        } else if data.starts_with(b"\x28\xb5\x2f\xfd") {
            Some(Compression::Zstd)
        } else if data.starts_with(b"\x1f\x8b") {
            Some(Compression::Gzip)
        } else if data.starts_with(b"\x02\x21\x4c\x18") {
            Some(Compression::Lz4)
        } else {
            None
        }
    }

    fn command(self) -> (&'static str, &'static [&'static str], &'static str) {
        match self {
            Compression::Xz => ("xz", &["-dc", "--single-stream"], "xz-utils"),
            Compression::Zstd => ("zstd", &["-dcq"], "zstd"),
            Compression::Gzip => ("gzip", &["-dc"], "gzip"),
            Compression::Lz4 => ("lz4", &["-dcq"], "lz4"),
        }
    }

    /// Decompresses `data` with the format's command-line tool.
    pub fn decompress(self, data: &[u8]) -> Result<Vec<u8>, Error> {
        let (program, args, package) = self.command();
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    Error::MissingTool {
                        tool: program.into(),
                        hint: format!("apt-get install -y {package}"),
                    }
                } else {
                    Error::Spawn {
                        program: program.into(),
                        source: e,
                    }
                }
            })?;
        let mut stdin = child
            .stdin
            .take()
            .ok_or_else(|| Error::Failed(format!("{program}: no pipe")))?;
        let out = std::thread::scope(|s| {
            let writer = s.spawn(move || stdin.write_all(data));
            let out = child.wait_with_output();
            (writer.join(), out)
        });
        let out = out.1.map_err(|e| Error::Spawn {
            program: program.into(),
            source: e,
        })?;
        if !out.status.success() {
            return Err(Error::Failed(format!(
                "`{program} {}` failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(out.stdout)
    }
}

/// A module file's bytes, decompressed if it is compressed.
fn decompress_file(path: &Path) -> Result<Vec<u8>, Error> {
    let data = fs::read(path).map_err(|e| Error::io("cannot read", path, e))?;
    match Compression::sniff(&data) {
        Some(c) => c.decompress(&data),
        None => Ok(data),
    }
}

/// The compressed payload of an x86 bzImage: `(format, bytes)`, from the
/// setup header's `payload_offset`/`payload_length` (relative to the
/// protected-mode code after `(setup_sects + 1) * 512` bytes). The 4-byte
/// size the kernel build appends to zstd and lz4 payloads is cut off (xz
/// stops at its stream's end by itself).
pub fn bzimage_payload(bz: &[u8]) -> Result<(Compression, &[u8]), Error> {
    let bad = |what: &str| Error::Failed(format!("not a bzImage: {what}"));
    if bz.len() < 0x250 || bz.get(0x202..0x206) != Some(b"HdrS") {
        return Err(bad("no HdrS signature"));
    }
    let version = u16::from_le_bytes([bz[0x206], bz[0x207]]);
    if version < 0x0208 {
        return Err(bad(&format!("boot protocol {version:#x} < 2.08")));
    }
    let setup_sects = match bz[0x1f1] {
        0 => 4,
        n => usize::from(n),
    };
    let word = |o: usize| u32::from_le_bytes([bz[o], bz[o + 1], bz[o + 2], bz[o + 3]]) as usize;
    let (offset, length) = (word(0x248), word(0x24c));
    let start = (setup_sects + 1) * 512 + offset;
    let payload = start
        .checked_add(length)
        .and_then(|end| bz.get(start..end))
        .ok_or_else(|| bad("payload outside the file"))?;
    let format = Compression::sniff(payload).ok_or_else(|| {
        bad(&format!(
            "unknown payload magic {:02x?}",
            &payload[..4.min(payload.len())]
        ))
    })?;
    let payload = match format {
        Compression::Zstd | Compression::Lz4 => &payload[..payload.len().saturating_sub(4)],
        _ => payload,
    };
    Ok((format, payload))
}

/// The ELF `vmlinux` inside a bzImage.
pub fn extract_vmlinux(bz: &[u8]) -> Result<Vec<u8>, Error> {
    let (format, payload) = bzimage_payload(bz)?;
    let elf = format.decompress(payload)?;
    if !elf.starts_with(b"\x7fELF") {
        return Err(Error::Failed(format!(
            "the {format:?} payload of the bzImage is not an ELF file"
        )));
    }
    Ok(elf)
}

fn mkdir(dir: &Path) -> Result<(), Error> {
    fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))
}

fn write(path: &Path, data: &[u8]) -> Result<(), Error> {
    fs::write(path, data).map_err(|e| Error::io("cannot write", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_packages_resolve_to_the_image() {
        let text = "linux-image-amd64\n  Depends: linux-image-6.1.0-56-amd64\n";
        assert_eq!(
            parse_depends(text, "linux-image-amd64").as_deref(),
            Some("linux-image-6.1.0-56-amd64")
        );
        assert_eq!(parse_depends("x\n  Depends: kmod\n", "x"), None);
    }

    #[test]
    fn sources_in_both_formats() {
        let deb822 = "Types: deb\n# c\nURIs: http://m/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb-src\nURIs: http://s\nSuites: x\n\nTypes: deb\nURIs: http://sec/debian-security\nSuites: bookworm-security\nEnabled: yes\n";
        assert_eq!(
            parse_deb822_sources(deb822),
            [
                ("http://m/debian".to_string(), "bookworm".to_string()),
                (
                    "http://m/debian".to_string(),
                    "bookworm-updates".to_string()
                ),
                (
                    "http://sec/debian-security".to_string(),
                    "bookworm-security".to_string()
                ),
            ]
        );
        let list = "# x\ndeb [arch=amd64 signed-by=/k] http://m/debian bookworm main\ndeb-src http://m bookworm main\ndeb http://o bullseye main contrib\n";
        assert_eq!(
            parse_one_line_sources(list),
            [
                ("http://m/debian".to_string(), "bookworm".to_string()),
                ("http://o".to_string(), "bullseye".to_string()),
            ]
        );
    }

    #[test]
    fn module_names_and_order() {
        assert_eq!(
            module_name("./lib/x/sch_ingress.ko.xz").as_deref(),
            Some("sch_ingress")
        );
        assert_eq!(
            module_name("a/nf-conntrack.ko").as_deref(),
            Some("nf_conntrack")
        );
        assert_eq!(module_name("a/b.txt"), None);
        let deps: BTreeMap<String, Vec<String>> = [
            ("a", vec!["b", "c"]),
            ("b", vec!["c"]),
            ("c", vec![]),
            ("d", vec![]),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
        .collect();
        assert_eq!(load_order(&deps).unwrap(), ["c", "b", "a", "d"]);
        let cyclic: BTreeMap<String, Vec<String>> = [("a", "b"), ("b", "a")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), vec![v.to_string()]))
            .collect();
        assert!(load_order(&cyclic).is_err());
    }

    /// A minimal ELF64 with sections [null, .modinfo, .shstrtab].
    fn tiny_elf(modinfo: &[u8]) -> Vec<u8> {
        let shstrtab = b"\0.modinfo\0.shstrtab\0";
        let mut f = vec![0u8; 0x40];
        f[..6].copy_from_slice(b"\x7fELF\x02\x01");
        let modinfo_off = f.len();
        f.extend_from_slice(modinfo);
        let str_off = f.len();
        f.extend_from_slice(shstrtab);
        while f.len() % 8 != 0 {
            f.push(0);
        }
        let shoff = f.len();
        let mut sh = |name: u32, off: usize, size: usize| {
            let mut h = vec![0u8; 0x40];
            h[..4].copy_from_slice(&name.to_le_bytes());
            h[0x18..0x20].copy_from_slice(&(off as u64).to_le_bytes());
            h[0x20..0x28].copy_from_slice(&(size as u64).to_le_bytes());
            f.extend_from_slice(&h);
        };
        sh(0, 0, 0);
        sh(1, modinfo_off, modinfo.len());
        sh(10, str_off, shstrtab.len());
        f[0x28..0x30].copy_from_slice(&(shoff as u64).to_le_bytes());
        f[0x3a..0x3c].copy_from_slice(&0x40u16.to_le_bytes());
        f[0x3c..0x3e].copy_from_slice(&3u16.to_le_bytes());
        f[0x3e..0x40].copy_from_slice(&2u16.to_le_bytes());
        f
    }

    #[test]
    fn modinfo_depends_are_read_from_the_section() {
        let elf = tiny_elf(b"license=GPL\0depends=nf-defrag,libcrc32c\0vermagic=6.1\0");
        assert_eq!(modinfo_depends(&elf).unwrap(), ["nf_defrag", "libcrc32c"]);
        let none = tiny_elf(b"depends=\0");
        assert!(modinfo_depends(&none).unwrap().is_empty());
        assert!(modinfo_depends(b"\x7fELF\x02\x01").is_err(), "truncated");
        let mut bad = tiny_elf(b"depends=a\0");
        bad[0x28..0x30].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(
            modinfo_depends(&bad).is_err(),
            "header offset outside the file"
        );
    }

    #[test]
    fn bzimage_payload_is_found_from_the_header() {
        let mut bz = vec![0u8; 5 * 512 + 64];
        bz[0x1f1] = 4;
        bz[0x202..0x206].copy_from_slice(b"HdrS");
        bz[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
        bz[0x248..0x24c].copy_from_slice(&16u32.to_le_bytes());
        bz[0x24c..0x250].copy_from_slice(&12u32.to_le_bytes());
        let at = 5 * 512 + 16;
        bz[at..at + 4].copy_from_slice(b"\x28\xb5\x2f\xfd");
        let (format, payload) = bzimage_payload(&bz).unwrap();
        assert_eq!(format, Compression::Zstd);
        assert_eq!(payload.len(), 8, "the appended size is cut off");
        bz[0x24c..0x250].copy_from_slice(&4096u32.to_le_bytes());
        assert!(bzimage_payload(&bz).is_err());
        assert!(bzimage_payload(b"short").is_err());
    }
}
