//! The live executor: runs a [`Plan`] with `bpf()` syscalls.
//!
//! Each operation's result is kept in a slot indexed by its `Ref`. The
//! slots own their file descriptors, so when operation *k* fails, returning
//! the error drops the slots and closes everything operations `0..k`
//! created — each fd exactly once, and never one the executor did not
//! create.

use std::ffi::CString;
use std::os::fd::AsFd;
use std::path::Path;

use oxbpf_asm::Insn;
use oxbpf_asm::opcode::pseudo;
use oxbpf_plan::{CreateMap, LoadProg, Op, PatchKind, Plan, Ref, ReuseMap};
use oxbpf_syscalls::attr::obj_name;
use oxbpf_syscalls::{
    BtfFd, MapCreateAttr, MapFd, MapMemory, ProgFd, ProgLoadOptions, VerifierLog,
};

use crate::error::{Error, Result};
use crate::target::Target;

/// A kernel object a plan operation created.
#[derive(Debug)]
pub(crate) enum Created {
    Btf(BtfFd),
    Map(MapFd),
    Prog(ProgFd),
    /// A type id in the kernel's BTF (nothing to close); `None` when an
    /// optional lookup found nothing.
    BtfId(Option<u32>),
    /// A kernel address (0 when an optional lookup found nothing).
    Address(u64),
    /// An arena's mapping in this process.
    Arena(MapMemory),
}

/// The results of a plan, by `Ref`: `None` for operations that create
/// nothing.
#[derive(Debug)]
pub(crate) struct Executed {
    pub(crate) slots: Vec<Option<Created>>,
}

impl Executed {
    /// Takes the created object of `r` out of its slot.
    pub(crate) fn take(&mut self, r: Ref) -> Option<Created> {
        self.slots.get_mut(r.index()).and_then(Option::take)
    }

    fn map(&self, r: Ref) -> &MapFd {
        match self.slots.get(r.index()) {
            Some(Some(Created::Map(m))) => m,
            // `Plan::validate` proved every use names an earlier map.
            _ => unreachable!("validated plan: {r} is a created map"),
        }
    }

    fn btf_id(&self, r: Ref) -> Option<u32> {
        match self.slots.get(r.index()) {
            Some(Some(Created::BtfId(id))) => *id,
            _ => unreachable!("validated plan: {r} is a BTF id"),
        }
    }

    fn address(&self, r: Ref) -> u64 {
        match self.slots.get(r.index()) {
            Some(Some(Created::Address(a))) => *a,
            _ => unreachable!("validated plan: {r} is an address"),
        }
    }

    fn btf(&self, r: Ref) -> &BtfFd {
        match self.slots.get(r.index()) {
            Some(Some(Created::Btf(b))) => b,
            _ => unreachable!("validated plan: {r} is a loaded BTF"),
        }
    }
}

/// Before 5.11 the kernel charges BPF memory to `RLIMIT_MEMLOCK`: lift it
/// (only there). If that fails, loading goes on and a map or program the
/// limit refuses fails with `EPERM`, after this warning.
pub(crate) fn lift_memlock_limit() {
    if let Err(e) = oxbpf_syscalls::lift_memlock_limit() {
        log::warn!(target: "oxbpf::exec", "{e}");
    }
}

/// `Some("arena maps (BPF_MAP_TYPE_ARENA)")` if the kernel has no maps of
/// type `t` (probed).
pub(crate) fn missing_map_type(t: oxbpf_syscalls::MapType) -> Option<String> {
    (oxbpf_syscalls::probe_map_type(t) == oxbpf_syscalls::ProbeResult::Unsupported)
        .then(|| type_name("maps", "BPF_MAP_TYPE_", t.name(), t.0))
}

/// `Some("syscall programs (BPF_PROG_TYPE_SYSCALL)")` if the kernel has no
/// programs of type `t` (probed).
pub(crate) fn missing_prog_type(t: oxbpf_syscalls::ProgType) -> Option<String> {
    (oxbpf_syscalls::probe_prog_type(t) == oxbpf_syscalls::ProbeResult::Unsupported)
        .then(|| type_name("programs", "BPF_PROG_TYPE_", t.name(), t.0))
}

/// The error of a failed step: when the kernel answered `EINVAL` without
/// a log and `missing` finds (by probing) a kind of map or program the
/// kernel lacks, the error names it instead of "Invalid argument".
pub(crate) fn lacking(
    op: usize,
    what: &dyn Fn() -> String,
    source: oxbpf_syscalls::Error,
    missing: impl FnOnce() -> Option<String>,
) -> Error {
    let einval = source.errno() == Some(oxbpf_syscalls::Errno::INVAL);
    match einval.then(missing).flatten() {
        Some(feature) => Error::KernelLacks {
            op,
            what: what(),
            feature,
            source,
        },
        None => Error::Step {
            op,
            what: what(),
            source,
        },
    }
}

/// `arena maps (BPF_MAP_TYPE_ARENA)`, or `maps of type 200` for a type
/// this library has no name for (`name`: the enum's [`name`], `raw` its
/// value).
///
/// [`name`]: oxbpf_syscalls::MapType::name
fn type_name(things: &str, prefix: &str, name: Option<&str>, raw: u32) -> String {
    match name {
        Some(name) => format!("{name} {things} ({prefix}{})", name.to_uppercase()),
        None => format!("{things} of type {raw}"),
    }
}

/// Runs every operation of `plan` in order. On failure, everything created
/// so far is closed (by dropping it) and the error names the step.
pub(crate) fn run(plan: &Plan, target: &Target) -> Result<Executed> {
    plan.validate()?;
    lift_memlock_limit();
    let mut pinned = Vec::new();
    let result = run_ops(plan, target, &mut pinned);
    if result.is_err() {
        // A pin outlives the fds: remove the ones this run made.
        for path in pinned {
            if let Err(e) = std::fs::remove_file(&path) {
                log::warn!(target: "oxbpf::exec", "removing pin {path} after a failed load: {e}");
            }
        }
    }
    result
}

fn run_ops(plan: &Plan, target: &Target, pinned: &mut Vec<String>) -> Result<Executed> {
    let mut done = Executed {
        slots: Vec::with_capacity(plan.ops.len()),
    };
    // Every kernel symbol the plan needs, found in one kallsyms scan.
    let ksym_names: Vec<&str> = plan
        .ops
        .iter()
        .filter_map(|op| match op {
            Op::FindKsym(k) => Some(k.name.as_str()),
            _ => None,
        })
        .collect();
    for (i, op) in plan.ops.iter().enumerate() {
        let what = || describe(op);
        let step = |source| Error::Step {
            op: i,
            what: what(),
            source,
        };
        let created = match op {
            Op::LoadBtf(b) => {
                let mut log = VerifierLog::new();
                Some(Created::Btf(
                    oxbpf_syscalls::btf_load(&b.data, &mut log).map_err(step)?,
                ))
            }
            Op::CreateMap(m) => {
                Some(Created::Map(create_map(m, &done).map_err(|e| {
                    lacking(i, &what, e, || missing_map_type(m.map_type))
                })?))
            }
            Op::UpdateElem(u) => {
                oxbpf_syscalls::map_update_elem(done.map(u.map), &u.key, &u.value, u.flags)
                    .map_err(step)?;
                None
            }
            Op::Freeze(f) => {
                oxbpf_syscalls::map_freeze(done.map(f.map)).map_err(step)?;
                None
            }
            Op::MapArena(a) => {
                // The address the map was created for (0: the kernel picks).
                let addr = match plan.ops.get(a.map.index()) {
                    Some(Op::CreateMap(m)) => m.map_extra,
                    Some(Op::ReuseMap(r)) => r.expect.map_extra,
                    _ => 0,
                };
                let memory = oxbpf_syscalls::arena_mmap(done.map(a.map), addr).map_err(step)?;
                if !a.data.is_empty() {
                    let offset = usize::try_from(a.offset).unwrap_or(usize::MAX);
                    memory.write(offset, &a.data).map_err(step)?;
                }
                Some(Created::Arena(memory))
            }
            Op::LoadProg(p) => Some(Created::Prog(load_prog(p, &done).map_err(|e| match e {
                oxbpf_syscalls::Error::Verifier(ref v)
                    if v.call == oxbpf_syscalls::Cmd::PROG_LOAD && !v.log.trim().is_empty() =>
                {
                    let insn = failing_insn(&v.log);
                    let source_line = insn.and_then(|at| source_line(plan, p, at)).map(Box::new);
                    // A poisoned CO-RE relocation says what it stood for.
                    let core = insn.and_then(|at| {
                        p.poisoned
                            .iter()
                            .find(|x| at >= x.insn.0 && at < x.insn.0 + usize::from(x.slots))
                            .map(|x| x.what.clone().into_boxed_str())
                            .or_else(|| {
                                // One left to the kernel: its log says why.
                                let n = p.core_relos.iter().position(|r| r.insn.0 == at)?;
                                Some(
                                    format!(
                                        "CO-RE relocation #{n} ({:?}) applied by the kernel \
                                         (its log says why, at \"relo #{n}\")",
                                        p.core_relos[n].kind
                                    )
                                    .into_boxed_str(),
                                )
                            })
                    });
                    Error::Rejected {
                        op: i,
                        program: p.name.clone(),
                        insn,
                        source_line,
                        core,
                        source: Box::new(e),
                    }
                }
                e => lacking(i, &what, e, || missing_prog_type(p.prog_type)),
            })?)),
            Op::ReuseMap(r) => Some(Created::Map(reuse_map(i, r)?)),
            Op::FindBtfId(b) => {
                let vmlinux = target.vmlinux()?;
                let found = vmlinux
                    .find_by_name_kind(&b.name, b.kind)
                    .map_err(Error::btf("looking a type up in the kernel's BTF"))?;
                if found.is_none() && !b.optional {
                    return Err(Error::BtfNotFound {
                        op: i,
                        name: b.name.clone(),
                        kind: b.kind,
                    });
                }
                Some(Created::BtfId(found.map(|id| id.0)))
            }
            Op::FindKsym(k) => {
                let found = target.ksym(&k.name, &ksym_names)?;
                if found.is_none() && !k.optional {
                    return Err(Error::KsymNotFound {
                        op: i,
                        name: k.name.clone(),
                    });
                }
                Some(Created::Address(found.unwrap_or(0)))
            }
            Op::StructOpsValue(v) => {
                let mut value = v.value.clone();
                for &(at, prog) in &v.progs {
                    let fd = match done.slots.get(prog.index()) {
                        Some(Some(Created::Prog(p))) => u64::from(fd_u32(p)),
                        _ => unreachable!("validated plan: {prog} is a program"),
                    };
                    // `Plan::validate` checked the slot lies in the value.
                    value[at as usize..at as usize + 8].copy_from_slice(&fd.to_ne_bytes());
                }
                oxbpf_syscalls::map_update_elem(done.map(v.map), &0u32.to_ne_bytes(), &value, 0)
                    .map_err(step)?;
                None
            }
            Op::SetFd(set) => {
                let fd = match done.slots.get(set.value.index()) {
                    Some(Some(Created::Map(m))) => fd_u32(m),
                    Some(Some(Created::Prog(p))) => fd_u32(p),
                    _ => unreachable!("validated plan: {} is a map or program", set.value),
                };
                oxbpf_syscalls::map_update_elem(
                    done.map(set.map),
                    &set.key.to_ne_bytes(),
                    &fd.to_ne_bytes(),
                    0,
                )
                .map_err(step)?;
                None
            }
            Op::Pin(p) => {
                oxbpf_syscalls::obj_pin(done.map(p.object), Path::new(&p.path)).map_err(step)?;
                pinned.push(p.path.clone());
                None
            }
        };
        log::debug!(target: "oxbpf::exec", "%{i} = {} done", what());
        done.slots.push(created);
    }
    Ok(done)
}

fn describe(op: &Op) -> String {
    match op {
        Op::LoadBtf(_) => "btf_load".to_owned(),
        Op::CreateMap(m) => format!("map_create {:?}", m.name),
        Op::UpdateElem(u) => format!("map_update {}", u.map),
        Op::Freeze(f) => format!("map_freeze {}", f.map),
        Op::MapArena(a) => format!("arena_map {}", a.map),
        Op::LoadProg(p) => format!("prog_load {:?}", p.name),
        Op::ReuseMap(r) => format!("map_reuse {:?}", r.path),
        Op::Pin(p) => format!("obj_pin {} at {:?}", p.object, p.path),
        Op::FindBtfId(b) => format!("btf_find {:?} {}", b.name, b.kind),
        Op::FindKsym(k) => format!("ksym_find {:?}", k.name),
        Op::SetFd(set) => format!("map_set_fd {} key {}", set.map, set.key),
        Op::StructOpsValue(v) => format!("struct_ops {}", v.map),
    }
}

/// The instruction a verifier log stops at: the last line of the form
/// `N: (op) ...`.
pub(crate) fn failing_insn(log: &str) -> Option<usize> {
    log.lines().rev().find_map(|line| {
        let (n, rest) = line.split_once(": (")?;
        if rest.len() >= 3 && rest.as_bytes()[2] == b')' {
            n.trim().parse().ok()
        } else {
            None
        }
    })
}

/// The source line of instruction `insn` of program `p`: the last
/// line_info record at or before it, decoded with the program's BTF.
fn source_line(plan: &Plan, p: &LoadProg, insn: usize) -> Option<crate::error::SourceLine> {
    let Some(Op::LoadBtf(b)) = p.btf.and_then(|r| plan.op(r)) else {
        return None;
    };
    let btf = oxbpf_btf::Btf::parse(&b.data).ok()?;
    let info = p
        .line_info
        .iter()
        .filter(|l| l.insn.0 <= insn)
        .max_by_key(|l| l.insn.0)?;
    Some(crate::error::SourceLine {
        file: btf.string_at(info.file_name_off).ok()?.to_owned(),
        line: info.line_col >> 10,
        column: info.line_col & 0x3ff,
        text: btf.string_at(info.line_off).ok()?.to_owned(),
    })
}

/// Opens a pinned map and checks it against what the object defines.
fn reuse_map(op: usize, r: &ReuseMap) -> Result<MapFd> {
    let step = |source| Error::Step {
        op,
        what: format!("map_reuse {:?}", r.path),
        source,
    };
    let fd = oxbpf_syscalls::obj_get(Path::new(&r.path), 0).map_err(step)?;
    let map = MapFd::from_owned(fd).map_err(step)?;
    let have = map.meta();
    let want = &r.expect;
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
                path: r.path.clone(),
                map: want.name.clone(),
                attribute,
                pinned,
                wanted,
            });
        }
    }
    Ok(map)
}

fn create_map(m: &CreateMap, done: &Executed) -> oxbpf_syscalls::Result<MapFd> {
    let mut attr = MapCreateAttr::new(m.map_type, m.key_size, m.value_size, m.max_entries);
    attr.map_flags = m.map_flags;
    attr.numa_node = m.numa_node;
    attr.map_extra = m.map_extra;
    attr.map_name = obj_name(&m.kernel_name);
    if let Some(btf) = m.btf {
        attr.btf_fd = fd_u32(done.btf(btf));
        attr.btf_key_type_id = m.btf_key_type_id;
        attr.btf_value_type_id = m.btf_value_type_id;
    }
    if let Some(inner) = m.inner_map {
        attr.inner_map_fd = fd_u32(done.map(inner));
    }
    if let Some(value_type) = m.btf_vmlinux_value_type {
        // A required lookup: had it failed, its step would have.
        attr.btf_vmlinux_value_type_id = done.btf_id(value_type).unwrap_or(0);
    }
    oxbpf_syscalls::map_create(&attr)
}

fn fd_u32(fd: &impl AsFd) -> u32 {
    use std::os::fd::AsRawFd;
    // Open fds are never negative.
    fd.as_fd().as_raw_fd() as u32
}

fn load_prog(p: &LoadProg, done: &Executed) -> oxbpf_syscalls::Result<ProgFd> {
    let mut insns = p.insns.clone();
    for patch in &p.patches {
        let i = patch.insn.0;
        match patch.kind {
            PatchKind::MapFd(map) => {
                insns[i].set_src(pseudo::MAP_FD);
                insns[i].imm = fd_u32(done.map(map)) as i32;
            }
            PatchKind::MapValue { map, offset } => {
                insns[i].set_src(pseudo::MAP_VALUE);
                insns[i].imm = fd_u32(done.map(map)) as i32;
                insns[i + 1].imm = offset as i32;
            }
            PatchKind::BtfId(r) => match done.btf_id(r) {
                Some(id) => {
                    insns[i].set_src(pseudo::BTF_ID);
                    insns[i].imm = id as i32;
                    // The BTF object holding the id: 0 is vmlinux.
                    insns[i + 1].imm = 0;
                }
                None => {
                    // An absent weak ksym reads as NULL.
                    insns[i].set_src(0);
                    (insns[i].imm, insns[i + 1].imm) = (0, 0);
                }
            },
            PatchKind::Address(r) => {
                let addr = done.address(r);
                insns[i].set_src(0);
                (insns[i].imm, insns[i + 1].imm) = (addr as u32 as i32, (addr >> 32) as u32 as i32);
            }
            PatchKind::KfuncCall(r) => match done.btf_id(r) {
                Some(id) => {
                    insns[i].set_src(pseudo::KFUNC_CALL);
                    insns[i].imm = id as i32;
                    insns[i].off = 0;
                }
                None => insns[i] = Insn::call_helper(oxbpf_plan::KFUNC_POISON),
            },
        }
    }
    // `Plan::validate` refused licenses with NUL bytes.
    let license = CString::new(p.license.as_str()).unwrap_or_default();
    let func_info: Vec<u8> = p
        .func_info
        .iter()
        .flat_map(|f| [f.insn.0 as u32, f.type_id])
        .flat_map(u32::to_ne_bytes)
        .collect();
    let line_info: Vec<u8> = p
        .line_info
        .iter()
        .flat_map(|l| [l.insn.0 as u32, l.file_name_off, l.line_off, l.line_col])
        .flat_map(u32::to_ne_bytes)
        .collect();
    // CO-RE relocations left to the kernel (`Plan::validate` checked that
    // their byte offsets fit).
    let core_relos = oxbpf_plan::CoreRelo::encode_all(&p.core_relos).unwrap_or_default();
    let mut opts = ProgLoadOptions::new(p.prog_type, &insns, &license);
    opts.name = &p.kernel_name;
    opts.expected_attach_type = p.expected_attach_type.unwrap_or_default();
    opts.prog_flags = p.prog_flags;
    opts.kern_version = p.kern_version;
    // Attach targets are looked up as required: a missing one failed its step.
    opts.attach_btf_id = p.attach_btf.and_then(|r| done.btf_id(r)).unwrap_or(0);
    if let Some(btf) = p.btf {
        opts.btf = Some(done.btf(btf));
        if !func_info.is_empty() {
            opts.func_info = &func_info;
            opts.func_info_rec_size = 8;
        }
        if !line_info.is_empty() {
            opts.line_info = &line_info;
            opts.line_info_rec_size = 16;
        }
        if !core_relos.is_empty() {
            opts.core_relos = &core_relos;
            opts.core_relo_rec_size = oxbpf_plan::CORE_RELO_SIZE;
        }
    }
    let mut log = VerifierLog::new();
    oxbpf_syscalls::prog_load(&opts, &mut log)
}
