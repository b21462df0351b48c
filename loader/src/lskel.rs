//! The light-skeleton runtime: loads an object through its generated
//! loader program, with no ELF or BTF parsing.
//!
//! ```text
//! Loader (gen-loader) ──▶ check min kernel ──▶ open pinned maps ──▶ blob maps (write, freeze)
//!     ──▶ load the loader (fd_array = blob maps) ──▶ BPF_PROG_TEST_RUN ──▶ adopt fds ──▶ pin ──▶ Object
//! ```
//!
//! What the loader program cannot do, the runtime does (see
//! [`oxbpf_gen_loader::Loader`]): it computes the values of the object's
//! kconfig externs from the running kernel (its configuration, version,
//! and the `LINUX_*` facts, with the same code as live loads) and writes
//! them into the blob where the `.kconfig` map's value is, so a loader
//! generated elsewhere gets this kernel's values; it opens maps pinned by
//! an earlier load before the run and passes their fds in the context,
//! and it pins maps after the run. Any failure closes everything and removes the pins this
//! load made; a failure inside the loader has been cleaned up by the
//! loader itself, which reports the step and errno.
//!
//! A program the kernel refuses inside the loader comes back without a
//! verifier log (the loader would need a user-space pointer in its blob).
//! When the plan is at hand (always with [`crate::OpenObject`], by
//! decoding the loader otherwise), the runtime replays the plan up to the
//! failing step with the live executor, which gets the kernel's log and the
//! source line, and returns that error when it fails the same way.

use std::os::fd::AsRawFd;
use std::path::Path;

use std::borrow::Cow;

use oxbpf_gen_loader::{
    Blob, Failure, KernelVersion, LOADER_LICENSE, LOADER_NAME, Loader, Side, Step, ctx,
};
use oxbpf_plan::{CreateMap, Op, Plan};
use oxbpf_syscalls::attr::{obj_name, prog_flags};
use oxbpf_syscalls::{
    AttachType, Cmd, CreatedFd, Errno, MapCreateAttr, MapFd, MapType, ProgLoadAttr,
    ProgLoadOptions, ProgType, VerifierLog,
};

use crate::error::{Error, Result};
use crate::exec::{Created, Executed};
use crate::map::Map;
use crate::object::Object;
use crate::program::Program;
use crate::target::Target;

/// A generated loader, ready to load its object: the light skeleton's
/// runtime.
///
/// ```no_run
/// use oxbpf::LightSkeleton;
///
/// // A loader written by `oxbpf gen loader counter.bpf.o -o counter.loader`;
/// // a deployed binary embeds it with `include_bytes!("counter.loader")`.
/// let bytes = std::fs::read("counter.loader").expect("a loader file");
/// let skel = LightSkeleton::from_bytes(&bytes)?;
/// let obj = skel.load()?;
/// let prog = obj.program("handle_tp")?;
/// # Ok::<(), oxbpf::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct LightSkeleton {
    loader: Loader,
}

impl LightSkeleton {
    /// Wraps a generated loader.
    pub fn new(loader: Loader) -> LightSkeleton {
        LightSkeleton { loader }
    }

    /// Reads a loader file (see `oxbpf_gen_loader`'s format), e.g. one
    /// embedded with `include_bytes!`.
    pub fn from_bytes(bytes: &[u8]) -> Result<LightSkeleton> {
        Ok(LightSkeleton {
            loader: Loader::from_bytes(bytes)?,
        })
    }

    /// The loader.
    pub fn loader(&self) -> &Loader {
        &self.loader
    }

    /// Loads the object: maps named as the object names them (inner map
    /// templates are closed after the load), programs by name. Programs
    /// know their type but not their ELF section, so
    /// [`Program::attach`] needs the section-specific attach methods;
    /// load through [`crate::OpenObject::load_via_loader`] to keep
    /// sections.
    pub fn load(&self) -> Result<Object> {
        let loader = &self.loader;
        let mut done = run(loader, None)?;
        let mut maps = Vec::new();
        let mut programs = Vec::new();
        let mut btf = None;
        for (k, step) in loader.steps.iter().enumerate() {
            let slot = done.slots.get_mut(k).and_then(Option::take);
            match (step, slot) {
                // Inner map templates (no handle) are closed here.
                (Step::CreateMap { name, handle, .. }, Some(Created::Map(fd))) if *handle => {
                    maps.push(Map {
                        name: name.clone(),
                        fd,
                        arena: None,
                    });
                }
                (Step::ReuseMap { expect, .. }, Some(Created::Map(fd))) => maps.push(Map {
                    name: expect.name.clone(),
                    fd,
                    arena: None,
                }),
                (
                    Step::LoadProg {
                        name,
                        attr,
                        attach_type_given,
                        ..
                    },
                    Some(Created::Prog(fd)),
                ) => {
                    let (prog_type, attach_type) = prog_types(loader, *attr);
                    programs.push(Program {
                        name: name.clone(),
                        section: String::new(),
                        attach_target: String::new(),
                        section_def: None,
                        prog_type,
                        expected_attach_type: (attach_type != AttachType(0) || *attach_type_given)
                            .then_some(attach_type),
                        fd,
                    });
                }
                (Step::LoadBtf { .. }, Some(Created::Btf(fd))) => {
                    btf.get_or_insert(fd);
                }
                _ => {}
            }
        }
        Ok(Object::from_parts(
            loader.object.clone(),
            maps,
            programs,
            btf,
        ))
    }
}

/// The program type and expected attach type in a program step's
/// attributes.
fn prog_types(loader: &Loader, attr: oxbpf_gen_loader::BlobOff) -> (ProgType, AttachType) {
    use zerocopy::FromBytes;
    loader
        .blob
        .range(attr, size_of::<ProgLoadAttr>())
        .ok()
        .and_then(|b| ProgLoadAttr::read_from_bytes(b).ok())
        .map_or((ProgType(0), AttachType(0)), |a| {
            (a.prog_type, a.expected_attach_type)
        })
}

/// How a step is named in errors (as the live executor names it).
fn describe(loader: &Loader, k: usize) -> String {
    match &loader.steps[k] {
        Step::LoadBtf { .. } => "btf_load".to_owned(),
        Step::CreateMap { name, .. } => format!("map_create {name:?}"),
        Step::UpdateElem { map, .. } => format!("map_update {map}"),
        Step::SetFd { map, .. } => format!("map_set_fd {map}"),
        Step::StructOpsValue { map, .. } => format!("struct_ops {map}"),
        Step::Freeze { map, .. } => format!("map_freeze {map}"),
        Step::LoadProg { name, .. } => format!("prog_load {name:?}"),
        Step::FindBtfId { name, kind, .. } => {
            format!("btf_find {:?} {kind}", lookup_name(loader, *name))
        }
        Step::FindKsym { name, .. } => format!("ksym_find {:?}", lookup_name(loader, *name)),
        Step::ReuseMap { path, .. } => format!("map_reuse {path:?}"),
        Step::Pin { map, path } => format!("obj_pin {map} at {path:?}"),
    }
}

fn lookup_name(loader: &Loader, at: oxbpf_gen_loader::BlobOff) -> String {
    loader
        .blob
        .c_str(at)
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

/// Runs a generated loader: returns what each step created, by step
/// (`None` for steps that create nothing the caller keeps). `plan`, when
/// given, is the plan the loader was generated from, used to diagnose a
/// program the kernel refuses.
pub(crate) fn run(loader: &Loader, plan: Option<&Plan>) -> Result<Executed> {
    check_kernel(loader.min_kernel)?;
    crate::exec::lift_memlock_limit();
    let mut pinned: Vec<String> = Vec::new();
    let result = run_steps(loader, plan, &mut pinned);
    if result.is_err() {
        for path in pinned {
            if let Err(e) = std::fs::remove_file(&path) {
                log::warn!(target: "oxbpf::lskel", "removing pin {path} after a failed load: {e}");
            }
        }
    }
    result
}

/// The running kernel must be at least the loader's minimum.
fn check_kernel(need: KernelVersion) -> Result<()> {
    let (major, minor, patch) =
        oxbpf_syscalls::kernel_version().map_err(Error::syscall("reading the kernel version"))?;
    let have = KernelVersion {
        major,
        minor,
        patch,
    };
    if have < need {
        return Err(Error::KernelTooOld {
            need: need.to_string(),
            have: have.to_string(),
        });
    }
    Ok(())
}

/// The blob with the running kernel's kconfig values written where each
/// `.kconfig` update's value is (the blob itself when there is none).
fn blob_for_this_kernel<'a>(loader: &'a Loader, target: &Target) -> Result<Cow<'a, Blob>> {
    let mut blob = Cow::Borrowed(&loader.blob);
    for (k, step) in loader.steps.iter().enumerate() {
        let Step::UpdateElem { value, kconfig, .. } = step else {
            continue;
        };
        if kconfig.is_empty() {
            continue;
        }
        let start = value
            .map(|v| v.index())
            .ok_or_else(|| Error::LoaderProtocol {
                what: format!("step %{k} has a kconfig layout but no value"),
            })?;
        let end = kconfig
            .iter()
            .map(|v| v.offset as usize + v.size as usize)
            .max()
            .unwrap_or(0);
        let bytes = blob.to_mut().bytes_mut();
        let len = bytes.len();
        let value = bytes
            .get_mut(start..start + end)
            .ok_or_else(|| Error::LoaderProtocol {
                what: format!(
                    "step %{k}: kconfig values up to byte {} of a {len}-byte blob",
                    start + end
                ),
            })?;
        crate::kconfig::fill(kconfig, value, target)?;
        log::debug!(
            target: "oxbpf::lskel",
            "{}: step %{k}: {} kconfig values of this kernel",
            loader.object,
            kconfig.len()
        );
    }
    Ok(blob)
}

/// The same kconfig values written into a plan's `.kconfig` updates (for a
/// replay with the live executor).
fn fill_plan_kconfig(ops: &mut [Op], target: &Target) -> Result<()> {
    for op in ops {
        if let Op::UpdateElem(u) = op {
            if !u.kconfig.is_empty() {
                crate::kconfig::fill(&u.kconfig, &mut u.value, target)?;
            }
        }
    }
    Ok(())
}

fn run_steps(loader: &Loader, plan: Option<&Plan>, pinned: &mut Vec<String>) -> Result<Executed> {
    let n = loader.steps.len();
    let mut slots: Vec<Option<Created>> = (0..n).map(|_| None).collect();
    let mut ctx = vec![0u8; loader.ctx_size as usize];

    // First the values of this kernel's configuration: a missing option
    // fails the load before anything exists.
    let target = Target::live();
    let blob = blob_for_this_kernel(loader, &target)?;

    // Before: maps pinned by an earlier load, into their words.
    for (k, step) in loader.steps.iter().enumerate() {
        if let Step::ReuseMap { path, expect, fd } = step {
            let map = reuse_pinned(k, path, expect)?;
            put_word(&mut ctx, *fd, map.as_raw_fd());
            slots[k] = Some(Created::Map(map));
        }
    }

    let (retval, fds, owners) = run_loader(loader, &blob, &mut ctx)?;
    if let Some(failure) = Failure::from_retval(retval) {
        drop(fds);
        return Err(failed_step(loader, plan, failure, &ctx, &target));
    }

    // The fds the loader created, by step, typed by the kernel.
    for ((k, want), fd) in owners.into_iter().zip(fds) {
        slots[k] = match (want, fd) {
            (Adopt::Btf, CreatedFd::Btf(fd)) => Some(Created::Btf(fd)),
            (Adopt::Map, CreatedFd::Map(fd)) => Some(Created::Map(fd)),
            (Adopt::Prog, CreatedFd::Prog(fd)) => Some(Created::Prog(fd)),
            // Programs hold their attach targets' module BTF themselves.
            (Adopt::ModuleBtf, CreatedFd::Btf(fd)) => {
                drop(fd);
                continue;
            }
            (want, fd) => {
                return Err(Error::LoaderProtocol {
                    what: format!(
                        "step %{k} ({}) reports {fd:?} where it makes {want:?}",
                        describe(loader, k)
                    ),
                });
            }
        };
    }
    for (k, step) in loader.steps.iter().enumerate() {
        match step {
            Step::LoadBtf { .. } | Step::CreateMap { .. } | Step::LoadProg { .. }
                if slots[k].is_none() =>
            {
                return Err(Error::LoaderProtocol {
                    what: format!(
                        "step %{k} ({}) succeeded without an fd",
                        describe(loader, k)
                    ),
                });
            }
            Step::FindBtfId { id, .. } => {
                let id = get_word(&ctx, *id) as u32;
                slots[k] = Some(Created::BtfId((id != 0).then_some(id)));
            }
            _ => {}
        }
    }

    // After: pins.
    for (k, step) in loader.steps.iter().enumerate() {
        if let Step::Pin { map, path } = step {
            let Some(Some(Created::Map(fd))) = slots.get(map.index()) else {
                return Err(Error::LoaderProtocol {
                    what: format!("step %{k} pins {map}, which is no map"),
                });
            };
            oxbpf_syscalls::obj_pin(fd, Path::new(path)).map_err(|source| Error::Step {
                op: k,
                what: describe(loader, k),
                source,
            })?;
            pinned.push(path.clone());
        }
    }
    Ok(Executed { slots })
}

/// What an fd the loader reports is.
#[derive(Clone, Copy, Debug)]
enum Adopt {
    Btf,
    Map,
    Prog,
    ModuleBtf,
}

/// Creates the blob maps, loads the loader and runs it once. Returns its
/// return value, the fds it created and, for each, its step and kind.
#[allow(clippy::type_complexity)]
fn run_loader(
    loader: &Loader,
    blob: &Blob,
    ctx: &mut [u8],
) -> Result<(u32, Vec<CreatedFd>, Vec<(usize, Adopt)>)> {
    let mut chunks = Vec::with_capacity(blob.chunk_count());
    for (i, (_, bytes)) in blob.chunks().enumerate() {
        let what = || format!("generated loader {}: blob chunk {i}", loader.object);
        let len = u32::try_from(bytes.len()).map_err(|_| Error::LoaderProtocol {
            what: format!("{}: {} bytes", what(), bytes.len()),
        })?;
        let mut attr = MapCreateAttr::new(MapType::ARRAY, 4, len, 1);
        attr.map_name = obj_name("oxbpf_blob");
        let map = oxbpf_syscalls::map_create(&attr).map_err(Error::syscall(what()))?;
        oxbpf_syscalls::map_update_elem(&map, &0u32.to_ne_bytes(), bytes, 0)
            .map_err(Error::syscall(what()))?;
        oxbpf_syscalls::map_freeze(&map).map_err(Error::syscall(what()))?;
        chunks.push(map);
    }
    let fd_array: Vec<_> = chunks.iter().map(std::os::fd::AsFd::as_fd).collect();
    let license = std::ffi::CString::new(LOADER_LICENSE).unwrap_or_default();
    let mut opts = ProgLoadOptions::new(ProgType::SYSCALL, &loader.insns, &license);
    opts.name = LOADER_NAME;
    opts.prog_flags = prog_flags::SLEEPABLE;
    opts.fd_array = &fd_array;
    let prog = oxbpf_syscalls::prog_load(&opts, &mut VerifierLog::new()).map_err(
        Error::syscall(format!(
            "generated loader {}: loading the loader program",
            loader.object
        )),
    )?;

    let mut owners = Vec::new();
    let (retval, fds) = oxbpf_syscalls::prog_run_syscall_with_fds(&prog, ctx, |ctx, _| {
        let mut fds = Vec::new();
        for (k, step) in loader.steps.iter().enumerate() {
            let (word, what, close_if_zero) = match step {
                Step::LoadBtf { fd, .. } => (*fd, Adopt::Btf, false),
                Step::CreateMap { fd, .. } => (*fd, Adopt::Map, false),
                Step::LoadProg { fd, .. } => (*fd, Adopt::Prog, false),
                Step::FindBtfId { module_fd, .. } => (*module_fd, Adopt::ModuleBtf, true),
                _ => continue,
            };
            let fd = get_word(ctx, word);
            if fd > 0 || (fd == 0 && !close_if_zero) {
                fds.push(fd);
                owners.push((k, what));
            }
        }
        fds
    })
    .map_err(Error::syscall(format!(
        "generated loader {}: running the loader program",
        loader.object
    )))?;
    Ok((retval, fds, owners))
}

fn get_word(ctx: &[u8], word: oxbpf_gen_loader::CtxOff) -> i32 {
    ctx.get(word.index()..word.index() + 4)
        .map_or(-1, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

fn put_word(ctx: &mut [u8], word: oxbpf_gen_loader::CtxOff, v: i32) {
    if let Some(b) = ctx.get_mut(word.index()..word.index() + 4) {
        b.copy_from_slice(&v.to_ne_bytes());
    }
}

/// The error of a failed loader run: step `k` failed with `errno`, and the
/// loader has closed what it created.
fn failed_step(
    loader: &Loader,
    plan: Option<&Plan>,
    f: Failure,
    ctx: &[u8],
    target: &Target,
) -> Error {
    let k = f.step as usize;
    let errno = Errno::from_raw_os_error(f.errno as i32);
    let (step_word, errno_word) = (
        get_word(ctx, ctx::STEP) as u32,
        get_word(ctx, ctx::ERRNO) as u32,
    );
    let Some(step) = loader.steps.get(k).filter(|s| s.side() == Side::Loader) else {
        return Error::LoaderProtocol {
            what: format!("the loader reports a failure of step %{k}, which it does not perform"),
        };
    };
    if (step_word, errno_word) != (f.step, f.errno) {
        return Error::LoaderProtocol {
            what: format!(
                "the loader returned step %{} errno {}, its context says step %{step_word} errno {errno_word}",
                f.step, f.errno
            ),
        };
    }
    let what = describe(loader, k);
    log::debug!(target: "oxbpf::lskel", "{}: step %{k} ({what}) failed: {errno:?}", loader.object);
    match step {
        Step::FindBtfId { name, kind, .. } if errno == Errno::NOENT => Error::BtfNotFound {
            op: k,
            name: lookup_name(loader, *name),
            kind: *kind,
        },
        Step::FindKsym { name, .. } if errno == Errno::NOENT => Error::KsymNotFound {
            op: k,
            name: lookup_name(loader, *name),
        },
        Step::FindBtfId { .. } | Step::FindKsym { .. } => Error::LoaderStep { op: k, what, errno },
        Step::LoadProg { .. } | Step::LoadBtf { .. } => {
            let bare = Error::Step {
                op: k,
                what,
                source: oxbpf_syscalls::Error::Syscall {
                    call: step.cmd().unwrap_or(Cmd::PROG_LOAD),
                    errno,
                },
            };
            diagnose(loader, plan, k, target).unwrap_or(bare)
        }
        Step::CreateMap { attr, .. } => {
            let source = oxbpf_syscalls::Error::Syscall {
                call: Cmd::MAP_CREATE,
                errno,
            };
            // The attribute's first word is the map type.
            let map_type = loader
                .blob
                .range(*attr, 4)
                .ok()
                .map(|b| MapType(u32::from_ne_bytes([b[0], b[1], b[2], b[3]])));
            crate::exec::lacking(k, &|| what.clone(), source, || {
                map_type.and_then(crate::exec::missing_map_type)
            })
        }
        _ => Error::Step {
            op: k,
            what,
            source: oxbpf_syscalls::Error::Syscall {
                call: step.cmd().unwrap_or(Cmd::MAP_UPDATE_ELEM),
                errno,
            },
        },
    }
}

/// Replays the plan up to step `k` with the live executor to get the
/// kernel's log for a load the loader saw fail, with the kconfig values
/// the loader had (the verifier prunes code on them). `None` unless the
/// replay fails at the same step.
fn diagnose(loader: &Loader, plan: Option<&Plan>, k: usize, target: &Target) -> Option<Error> {
    let decoded;
    let plan = match plan {
        Some(p) => p,
        None => {
            decoded = oxbpf_gen_loader::decode(loader).ok()?;
            &decoded
        }
    };
    let mut prefix = Plan {
        object: plan.object.clone(),
        ops: plan.ops.get(..=k)?.to_vec(),
    };
    fill_plan_kconfig(&mut prefix.ops, target).ok()?;
    match crate::exec::run(&prefix, target) {
        Err(
            e @ (Error::Rejected { op, .. }
            | Error::Step { op, .. }
            | Error::KernelLacks { op, .. }),
        ) if op == k => Some(e),
        Err(e) => {
            log::warn!(target: "oxbpf::lskel", "replaying step %{k} live failed differently: {e}");
            None
        }
        Ok(done) => {
            log::warn!(target: "oxbpf::lskel", "replaying step %{k} live succeeded; no log");
            drop(done);
            for op in &prefix.ops {
                if let oxbpf_plan::Op::Pin(p) = op {
                    let _ = std::fs::remove_file(&p.path);
                }
            }
            None
        }
    }
}

/// Opens a map pinned by an earlier load and checks it against what the
/// object defines, as the live executor does.
fn reuse_pinned(k: usize, path: &str, want: &CreateMap) -> Result<MapFd> {
    let step = |source| Error::Step {
        op: k,
        what: format!("map_reuse {path:?}"),
        source,
    };
    let fd = oxbpf_syscalls::obj_get(Path::new(path), 0).map_err(step)?;
    let map = MapFd::from_owned(fd).map_err(step)?;
    let have = map.meta();
    let checks = [
        ("map type", have.map_type.0, want.map_type.0),
        ("key size", have.key_size, want.key_size),
        ("value size", have.value_size, want.value_size),
        ("max entries", have.max_entries, want.max_entries),
        ("flags", have.map_flags, want.map_flags),
    ];
    for (attribute, pinned, wanted) in checks {
        if pinned != wanted {
            return Err(Error::IncompatiblePin {
                path: path.to_owned(),
                map: want.name.clone(),
                attribute,
                pinned,
                wanted,
            });
        }
    }
    Ok(map)
}
