//! Compiling a plan into a loader program and its blob.
//!
//! The program uses no stack. `r6` holds the context and `r7` the
//! constant -1 throughout; each
//! step sets `ctx.step`, points `r2` at its attributes in the blob,
//! stores the runtime values the attributes need (blob addresses, fds from
//! context words), calls its helper and checks `r0`. Every failure jumps
//! (through trampolines when the program is long) to one error handler
//! that closes the fds the loader created, each guarded by its word
//! still holding an fd, and returns `step << 12 | errno`.
//!
//! Because every failure path reaches the handler in the same verifier
//! state, the verifier checks the handler once and prunes the other
//! arrivals: the cost of verifying a loader grows linearly with the
//! number of steps. The success branch of each check is the jump, so the
//! verifier never holds more than one pending branch.

use core::mem::{offset_of, size_of};

use oxbpf_asm::Insn;
use oxbpf_asm::opcode::{alu, jmp, pseudo, size};
use oxbpf_asm::reg::{R0, R1, R2, R3, R4, R5, R6, R7};
use oxbpf_plan::{
    CORE_RELO_SIZE, CoreRelo, CoreReloKind, CreateMap, FindBtfId, FindKsym, LoadBtf, LoadProg, Op,
    PatchKind, Plan, Ref, SetFd, StructOpsValue, UpdateElem,
};
use oxbpf_syscalls::attr::obj_name;
use oxbpf_syscalls::{BtfLoadAttr, Cmd, MapCreateAttr, MapElemAttr, MapType, ProgLoadAttr};
use zerocopy::IntoBytes;

use crate::error::Error;
use crate::layout::{Blob, BlobOff, CtxOff, Failure, KernelVersion, ctx};
use crate::loader::{KFUNC_POISON, Loader, Step};

/// Options of [`crate::generate`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct GenOptions {
    /// The largest blob chunk (one map value), in bytes. The kernel's
    /// limit for an array map value is `KMALLOC_MAX_SIZE`, 4 MiB on
    /// x86-64; a smaller value splits the blob into more chunks (tests use
    /// it). Rounded down to a multiple of 8.
    pub max_chunk_size: u32,
    /// How far (in instructions) an error check may be from the error
    /// handler or the trampoline it jumps to before a new trampoline is
    /// placed. Jump offsets are 16-bit, so at most about 32000; tests make
    /// it small to exercise trampolines with small plans.
    pub trampoline_distance: u32,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            max_chunk_size: 4 << 20,
            trampoline_distance: TRAMPOLINE_DISTANCE as u32,
        }
    }
}

impl GenOptions {
    /// The defaults.
    pub fn new() -> GenOptions {
        GenOptions::default()
    }
}

/// Helper ids the loader calls (`enum bpf_func_id`).
pub(crate) mod helper {
    /// `bpf_sys_bpf`.
    pub const SYS_BPF: i32 = 166;
    /// `bpf_btf_find_by_name_kind`.
    pub const BTF_FIND_BY_NAME_KIND: i32 = 167;
    /// `bpf_sys_close`.
    pub const SYS_CLOSE: i32 = 168;
    /// `bpf_kallsyms_lookup_name`.
    pub const KALLSYMS_LOOKUP_NAME: i32 = 179;
}

/// `ENOENT`: what the lookups return when the name is not there.
pub(crate) const ENOENT: i32 = 2;

/// Distance (in instructions) after which a pending error jump goes
/// through a trampoline instead (jump offsets are 16-bit).
const TRAMPOLINE_DISTANCE: usize = 30_000;

/// The kernel features a loader for `plan` relies on, each with the
/// release that introduced it. The loader's minimum kernel is the newest.
pub fn min_kernel_features(plan: &Plan) -> Vec<(&'static str, KernelVersion)> {
    let mut features = vec![
        (
            "BPF_PROG_TYPE_SYSCALL run by BPF_PROG_TEST_RUN, with bpf_sys_bpf \
             (BTF_LOAD, MAP_CREATE, MAP_UPDATE_ELEM, MAP_FREEZE, PROG_LOAD)",
            KernelVersion::new(5, 14),
        ),
        ("bpf_sys_close", KernelVersion::new(5, 14)),
        (
            "PROG_LOAD fd_array with BPF_PSEUDO_MAP_IDX and BPF_PSEUDO_MAP_IDX_VALUE",
            KernelVersion::new(5, 14),
        ),
    ];
    if plan.ops.iter().any(|op| matches!(op, Op::FindBtfId(_))) {
        features.push(("bpf_btf_find_by_name_kind", KernelVersion::new(5, 14)));
    }
    if plan.ops.iter().any(|op| matches!(op, Op::FindKsym(_))) {
        features.push(("bpf_kallsyms_lookup_name", KernelVersion::new(5, 16)));
    }
    let relos = || {
        plan.ops.iter().flat_map(|op| match op {
            Op::LoadProg(p) => &p.core_relos[..],
            _ => &[],
        })
    };
    if relos().next().is_some() {
        features.push((
            "PROG_LOAD core_relos: CO-RE relocations applied by the kernel",
            KernelVersion::new(5, 17),
        ));
    }
    if relos().any(|r| r.kind == CoreReloKind::TypeMatches) {
        features.push((
            "bpf_core_type_matches() relocations applied by the kernel",
            KernelVersion::new(6, 0),
        ));
    }
    features
}

/// Where a step's results live.
#[derive(Clone, Copy, Debug)]
enum Words {
    None,
    /// An fd (of a BTF object, map or program).
    Fd(CtxOff),
    /// A BTF lookup: the type id and the module BTF fd.
    Found {
        id: CtxOff,
        module_fd: CtxOff,
    },
    /// A kallsyms lookup: the address, in the blob.
    Addr,
}

/// How the error handler decides whether a word holds an fd to close.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CloseIf {
    /// The word is `>= 0` (fds of created objects; -1 until created).
    NonNegative,
    /// The word is `> 0` (module BTF fds: 0 means vmlinux or absent).
    Positive,
}

/// Compiles `plan` into a loader. See the crate documentation for the
/// loader's contract.
pub fn generate(plan: &Plan, opts: &GenOptions) -> Result<Loader, Error> {
    plan.validate()?;
    if plan.ops.len() >= Failure::MAX_STEPS {
        return Err(Error::unsupported(
            format!(
                "{} operations (a loader reports the failing step in 20 bits)",
                plan.ops.len()
            ),
            plan.object.clone(),
        ));
    }
    let mut g = Gen {
        plan,
        trampoline_distance: (opts.trampoline_distance as usize).clamp(1, TRAMPOLINE_DISTANCE),
        insns: Vec::new(),
        blob: BlobBuilder::new(opts.max_chunk_size),
        words: Vec::with_capacity(plan.ops.len()),
        created: Vec::new(),
        addr_slots: vec![None; plan.ops.len()],
        pending: Vec::new(),
        steps: Vec::with_capacity(plan.ops.len()),
        ctx_end: ctx::WORDS.0,
        inner_templates: plan
            .ops
            .iter()
            .filter_map(|op| match op {
                Op::CreateMap(m) => m.inner_map.map(Ref::index),
                _ => None,
            })
            .collect(),
        licenses: Vec::new(),
    };
    g.assign_words()?;
    g.prologue();
    for (k, op) in plan.ops.iter().enumerate() {
        g.trampoline_if_far();
        let step = g.op(k, op)?;
        g.steps.push(step);
    }
    g.epilogue()?;
    let min_kernel = min_kernel_features(plan)
        .into_iter()
        .map(|(_, v)| v)
        .max()
        .unwrap_or_default();
    let blob = g.blob.finish(&plan.object)?;
    log::debug!(
        target: "oxbpf::gen",
        "{}: {} steps, {} instructions, {} blob bytes in {} chunks, context {} bytes",
        plan.object,
        plan.ops.len(),
        g.insns.len(),
        blob.bytes().len(),
        blob.chunk_count(),
        g.ctx_end
    );
    Ok(Loader {
        object: plan.object.clone(),
        min_kernel,
        insns: g.insns,
        blob,
        ctx_size: g.ctx_end,
        steps: g.steps,
    })
}

/// Sizes of a map an element is written to.
struct MapShape {
    map_type: MapType,
    key_size: u32,
    value_size: u32,
}

struct Gen<'a> {
    plan: &'a Plan,
    trampoline_distance: usize,
    insns: Vec<Insn>,
    blob: BlobBuilder,
    /// Per step: where its results live.
    words: Vec<Words>,
    /// Words the loader fills, in step order, and how the error handler
    /// tests them.
    created: Vec<(CtxOff, CloseIf)>,
    /// Per step: the blob slot of a kallsyms lookup.
    addr_slots: Vec<Option<BlobOff>>,
    /// `ja` instructions to point at the next trampoline or the handler.
    pending: Vec<usize>,
    steps: Vec<Step>,
    ctx_end: u32,
    /// Steps whose map is another map's inner map template.
    inner_templates: std::collections::HashSet<usize>,
    /// License strings already in the blob: programs of one object share
    /// theirs (8 bytes a program otherwise; libbpf's loader shares it too).
    licenses: Vec<(Vec<u8>, BlobOff)>,
}

fn site(k: usize, op: &Op) -> String {
    match op {
        Op::CreateMap(m) => format!("%{k} map_create {:?}", m.name),
        Op::LoadProg(p) => format!("%{k} prog_load {:?}", p.name),
        Op::FindBtfId(f) => format!("%{k} btf_find {:?}", f.name),
        Op::FindKsym(f) => format!("%{k} ksym_find {:?}", f.name),
        Op::ReuseMap(r) => format!("%{k} map_reuse {:?}", r.path),
        Op::Pin(p) => format!("%{k} obj_pin {:?}", p.path),
        other => format!("%{k} {}", other.mnemonic()),
    }
}

impl Gen<'_> {
    // ---- layout ----

    fn word(&mut self, k: usize) -> Result<CtxOff, Error> {
        let at = self.ctx_end;
        if at + 4 > ctx::MAX_SIZE {
            return Err(Error::unsupported(
                format!(
                    "more than {} results (the loader's context holds {} bytes)",
                    (ctx::MAX_SIZE - ctx::WORDS.0) / 4,
                    ctx::MAX_SIZE
                ),
                site(k, &self.plan.ops[k]),
            ));
        }
        self.ctx_end += 4;
        Ok(CtxOff(at))
    }

    fn assign_words(&mut self) -> Result<(), Error> {
        for (k, op) in self.plan.ops.iter().enumerate() {
            let words = match op {
                Op::LoadBtf(_) | Op::CreateMap(_) | Op::LoadProg(_) => {
                    let w = self.word(k)?;
                    self.created.push((w, CloseIf::NonNegative));
                    Words::Fd(w)
                }
                Op::ReuseMap(_) => Words::Fd(self.word(k)?),
                Op::FindBtfId(_) => {
                    let id = self.word(k)?;
                    let module_fd = self.word(k)?;
                    self.created.push((module_fd, CloseIf::Positive));
                    Words::Found { id, module_fd }
                }
                Op::FindKsym(_) => Words::Addr,
                Op::UpdateElem(_)
                | Op::Freeze(_)
                | Op::Pin(_)
                | Op::SetFd(_)
                | Op::StructOpsValue(_)
                | Op::MapArena(_) => Words::None,
            };
            self.words.push(words);
        }
        Ok(())
    }

    fn fd_word(&self, r: Ref) -> CtxOff {
        match self.words.get(r.index()) {
            Some(Words::Fd(w)) => *w,
            // `Plan::validate` checked that every use names an earlier
            // operation of the right kind; all of those have an fd word.
            _ => unreachable!("validated plan: {r} has an fd"),
        }
    }

    fn found_words(&self, r: Ref) -> (CtxOff, CtxOff) {
        match self.words.get(r.index()) {
            Some(Words::Found { id, module_fd }) => (*id, *module_fd),
            _ => unreachable!("validated plan: {r} is a BTF lookup"),
        }
    }

    fn map_shape(&self, r: Ref) -> MapShape {
        let m = match self.plan.op(r) {
            Some(Op::CreateMap(m)) => m,
            Some(Op::ReuseMap(reuse)) => &reuse.expect,
            _ => unreachable!("validated plan: {r} is a map"),
        };
        MapShape {
            map_type: m.map_type,
            key_size: m.key_size,
            value_size: m.value_size,
        }
    }

    // ---- emission ----

    fn emit(&mut self, insn: Insn) {
        self.insns.push(insn);
    }

    fn emit2(&mut self, pair: [Insn; 2]) {
        self.insns.extend(pair);
    }

    /// `reg = &blob[off]`.
    fn blob_ptr(&mut self, reg: u8, off: BlobOff) {
        let (chunk, inner) = self.blob.locate(off);
        self.emit2(Insn::ld_map_idx_value(reg, chunk as i32, inner));
    }

    /// `r1 = k; *(u32 *)(r6 + step) = r1` (the verifier refuses `BPF_ST`
    /// into the context).
    fn mark_step(&mut self, k: usize) {
        // generate() refused plans of 2^20 operations or more.
        self.emit(Insn::mov64_imm(R1, k as i32));
        self.store_word(ctx::STEP, R1);
    }

    /// `reg = *(u32 *)(r6 + word)`.
    fn load_word(&mut self, reg: u8, word: CtxOff) {
        self.emit(Insn::ldx_mem(size::W, reg, R6, word.insn_off()));
    }

    /// `*(u32 *)(r6 + word) = reg`.
    fn store_word(&mut self, word: CtxOff, reg: u8) {
        self.emit(Insn::stx_mem(size::W, R6, reg, word.insn_off()));
    }

    /// `*(u64 *)(r2 + field) = &blob[off]`, through `r3`.
    fn set_ptr_field(&mut self, field: usize, off: BlobOff) {
        self.blob_ptr(R3, off);
        self.emit(Insn::stx_mem(size::DW, R2, R3, field as i16));
    }

    /// `*(u32 *)(r2 + field) = ctx word`, through `r3`.
    fn set_word_field(&mut self, field: usize, word: CtxOff) {
        self.load_word(R3, word);
        self.emit(Insn::stx_mem(size::W, R2, R3, field as i16));
    }

    /// `bpf_sys_bpf(cmd, r2, size)`, then the required check.
    fn sys_bpf(&mut self, cmd: Cmd, attr_size: usize) {
        self.emit(Insn::mov64_imm(R1, cmd.0 as i32));
        self.emit(Insn::mov64_imm(R3, attr_size as i32));
        self.emit(Insn::call_helper(helper::SYS_BPF));
        self.check_required();
    }

    fn jump_to_handler(&mut self) {
        self.pending.push(self.insns.len());
        self.emit(Insn::ja(0));
    }

    /// `if r0 s>= 0 goto +1; goto err`.
    fn check_required(&mut self) {
        self.emit(Insn::jmp_imm(jmp::JSGE, R0, 0, 1));
        self.jump_to_handler();
    }

    /// A lookup that may find nothing: `-ENOENT` goes on as success.
    /// With `zero`, `r0` is 0 on that path.
    fn check_optional(&mut self, zero: bool) {
        self.emit(Insn::jmp_imm(jmp::JSGE, R0, 0, if zero { 3 } else { 2 }));
        self.emit(Insn::jmp_imm(jmp::JEQ, R0, -ENOENT, 1));
        self.jump_to_handler();
        if zero {
            self.emit(Insn::mov64_imm(R0, 0));
        }
    }

    /// When the oldest pending error jump is getting out of reach, emit
    /// `goto +1; T: goto <later>` and send the pending jumps to `T`.
    fn trampoline_if_far(&mut self) {
        let Some(&first) = self.pending.first() else {
            return;
        };
        if self.insns.len() - first < self.trampoline_distance {
            return;
        }
        self.emit(Insn::ja(1));
        let t = self.insns.len();
        self.emit(Insn::ja(0));
        for j in std::mem::take(&mut self.pending) {
            self.insns[j].off = (t - j - 1) as i16;
        }
        self.pending.push(t);
    }

    /// `r6 = ctx; r7 = -1`, and every word the loader fills set to -1, so
    /// that the error handler never sees a value the loader did not put
    /// there.
    fn prologue(&mut self) {
        self.emit(Insn::mov64_reg(R6, R1));
        self.emit(Insn::mov64_imm(R7, -1));
        for (w, _) in self.created.clone() {
            self.store_word(w, R7);
        }
    }

    /// Success: `r0 = 0; exit`. Then the error handler: errno to the
    /// context, every created fd closed once, `step << 12 | errno`.
    fn epilogue(&mut self) -> Result<(), Error> {
        self.emit(Insn::mov64_imm(R0, 0));
        self.emit(Insn::exit());
        let handler = self.insns.len();
        for j in std::mem::take(&mut self.pending) {
            self.insns[j].off = i16::try_from(handler - j - 1).map_err(|_| {
                Error::unsupported(
                    "an error jump longer than 32767 instructions".to_owned(),
                    self.plan.object.clone(),
                )
            })?;
        }
        self.emit(Insn::neg64(R0));
        self.store_word(ctx::ERRNO, R0);
        for (w, close_if) in self.created.clone().into_iter().rev() {
            self.load_word(R1, w);
            let op = match close_if {
                CloseIf::NonNegative => jmp::JSLT,
                CloseIf::Positive => jmp::JSLE,
            };
            self.emit(Insn::jmp32_imm(op, R1, 0, 2));
            self.emit(Insn::call_helper(helper::SYS_CLOSE));
            self.store_word(w, R7);
        }
        self.load_word(R0, ctx::STEP);
        self.emit(Insn::alu64_imm(alu::LSH, R0, 12));
        self.load_word(R1, ctx::ERRNO);
        self.emit(Insn::alu64_reg(alu::OR, R0, R1));
        self.emit(Insn::exit());
        Ok(())
    }

    // ---- operations ----

    fn op(&mut self, k: usize, op: &Op) -> Result<Step, Error> {
        match op {
            Op::LoadBtf(b) => self.load_btf(k, b),
            Op::CreateMap(m) => self.create_map(k, m),
            Op::UpdateElem(u) => self.update_elem(k, u),
            Op::Freeze(f) => {
                let attr = self.blob.put(elem_attr(0).as_bytes(), k, "attributes")?;
                self.mark_step(k);
                self.blob_ptr(R2, attr);
                self.set_word_field(offset_of!(MapElemAttr, map_fd), self.fd_word(f.map));
                self.sys_bpf(Cmd::MAP_FREEZE, size_of::<MapElemAttr>());
                Ok(Step::Freeze { map: f.map, attr })
            }
            Op::LoadProg(p) => self.load_prog(k, p),
            Op::SetFd(set) => self.set_fd(k, set),
            Op::StructOpsValue(v) => self.struct_ops_value(k, v),
            Op::FindBtfId(f) => self.find_btf_id(k, f),
            Op::FindKsym(f) => self.find_ksym(k, f),
            Op::MapArena(_) => Err(Error::unsupported(
                "an arena map (a loader program cannot map the arena into the \
                 loading process, which fixes the user address the programs' \
                 arena pointers need and holds the __arena globals)",
                site(k, op),
            )),
            Op::ReuseMap(r) => {
                if r.expect.btf.is_some()
                    || r.expect.inner_map.is_some()
                    || r.expect.btf_vmlinux_value_type.is_some()
                {
                    return Err(Error::unsupported(
                        "a pinned map expected to have BTF or an inner map (the runtime checks \
                         type, sizes and flags only)",
                        site(k, op),
                    ));
                }
                check_kernel_name(k, "map", &r.expect.kernel_name)?;
                Ok(Step::ReuseMap {
                    path: r.path.clone(),
                    expect: r.expect.clone(),
                    fd: self.fd_word(Ref(k as u32)),
                })
            }
            Op::Pin(p) => Ok(Step::Pin {
                map: p.object,
                path: p.path.clone(),
            }),
        }
    }

    fn load_btf(&mut self, k: usize, b: &LoadBtf) -> Result<Step, Error> {
        let btf_size = u32::try_from(b.data.len())
            .map_err(|_| Error::step(k, format!("BTF of {} bytes", b.data.len())))?;
        let data = self.blob.put_nonempty(&b.data, k, "BTF")?;
        let attr = self
            .blob
            .put(btf_load_attr(btf_size).as_bytes(), k, "attributes")?;
        self.mark_step(k);
        self.blob_ptr(R2, attr);
        if let Some(data) = data {
            self.set_ptr_field(offset_of!(BtfLoadAttr, btf), data);
        }
        self.sys_bpf(Cmd::BTF_LOAD, size_of::<BtfLoadAttr>());
        let fd = self.fd_word(Ref(k as u32));
        self.store_word(fd, R0);
        Ok(Step::LoadBtf { attr, fd })
    }

    fn create_map(&mut self, k: usize, m: &CreateMap) -> Result<Step, Error> {
        check_kernel_name(k, "map", &m.kernel_name)?;
        if m.btf.is_none() && (m.btf_key_type_id != 0 || m.btf_value_type_id != 0) {
            return Err(Error::step(k, "BTF type ids without a BTF object"));
        }
        let attr = self
            .blob
            .put(map_create_attr(m).as_bytes(), k, "attributes")?;
        self.mark_step(k);
        self.blob_ptr(R2, attr);
        if let Some(btf) = m.btf {
            self.set_word_field(offset_of!(MapCreateAttr, btf_fd), self.fd_word(btf));
        }
        if let Some(inner) = m.inner_map {
            self.set_word_field(offset_of!(MapCreateAttr, inner_map_fd), self.fd_word(inner));
        }
        if let Some(value_type) = m.btf_vmlinux_value_type {
            // The type id alone, as the live executor gives it: a value
            // type in a module's BTF would also need its fd and
            // BPF_F_VTYPE_BTF_OBJ_FD.
            let (id, _) = self.found_words(value_type);
            self.set_word_field(offset_of!(MapCreateAttr, btf_vmlinux_value_type_id), id);
        }
        self.sys_bpf(Cmd::MAP_CREATE, size_of::<MapCreateAttr>());
        let fd = self.fd_word(Ref(k as u32));
        self.store_word(fd, R0);
        Ok(Step::CreateMap {
            name: m.name.clone(),
            attr,
            fd,
            handle: !self.inner_templates.contains(&k),
        })
    }

    fn update_elem(&mut self, k: usize, u: &UpdateElem) -> Result<Step, Error> {
        let shape = self.map_shape(u.map);
        if matches!(
            shape.map_type,
            MapType::PERCPU_HASH
                | MapType::PERCPU_ARRAY
                | MapType::LRU_PERCPU_HASH
                | MapType::PERCPU_CGROUP_STORAGE
        ) {
            return Err(Error::unsupported(
                format!(
                    "an element of per-CPU map {} (its value size depends on the target's CPU count)",
                    u.map
                ),
                site(k, &self.plan.ops[k]),
            ));
        }
        // The kernel reads the map's key and value sizes from the blob:
        // anything shorter would let it read past the bytes given.
        if u.key.len() != shape.key_size as usize || u.value.len() != shape.value_size as usize {
            return Err(Error::step(
                k,
                format!(
                    "element of {} key and {} value bytes for map {} of key size {} and value size {}",
                    u.key.len(),
                    u.value.len(),
                    u.map,
                    shape.key_size,
                    shape.value_size
                ),
            ));
        }
        let key = self.blob.put_nonempty(&u.key, k, "key")?;
        let value = self.blob.put_nonempty(&u.value, k, "value")?;
        let attr = self
            .blob
            .put(elem_attr(u.flags).as_bytes(), k, "attributes")?;
        self.mark_step(k);
        self.blob_ptr(R2, attr);
        self.set_word_field(offset_of!(MapElemAttr, map_fd), self.fd_word(u.map));
        if let Some(key) = key {
            self.set_ptr_field(offset_of!(MapElemAttr, key), key);
        }
        if let Some(value) = value {
            self.set_ptr_field(offset_of!(MapElemAttr, value), value);
        }
        self.sys_bpf(Cmd::MAP_UPDATE_ELEM, size_of::<MapElemAttr>());
        Ok(Step::UpdateElem {
            map: u.map,
            attr,
            value,
            kconfig: u.kconfig.clone(),
        })
    }

    /// A map slot set to another step's fd: the loader writes the fd into
    /// the value bytes, then updates the element.
    fn set_fd(&mut self, k: usize, set: &SetFd) -> Result<Step, Error> {
        let shape = self.map_shape(set.map);
        if shape.key_size != 4 || shape.value_size != 4 {
            return Err(Error::step(
                k,
                format!(
                    "fd slot of map {} of key size {} and value size {} (4 and 4 expected)",
                    set.map, shape.key_size, shape.value_size
                ),
            ));
        }
        let key = self.blob.put(&set.key.to_ne_bytes(), k, "key")?;
        let value = self.blob.put(&[0; 4], k, "value")?;
        let attr = self.blob.put(elem_attr(0).as_bytes(), k, "attributes")?;
        self.mark_step(k);
        self.blob_ptr(R4, value);
        self.load_word(R3, self.fd_word(set.value));
        self.emit(Insn::stx_mem(size::W, R4, R3, 0));
        self.blob_ptr(R2, attr);
        self.set_word_field(offset_of!(MapElemAttr, map_fd), self.fd_word(set.map));
        self.set_ptr_field(offset_of!(MapElemAttr, key), key);
        self.set_ptr_field(offset_of!(MapElemAttr, value), value);
        self.sys_bpf(Cmd::MAP_UPDATE_ELEM, size_of::<MapElemAttr>());
        Ok(Step::SetFd {
            map: set.map,
            value: set.value,
            attr,
        })
    }

    /// A struct_ops map's value: the loader writes each program's fd
    /// into its 8-byte member, then updates element 0.
    fn struct_ops_value(&mut self, k: usize, v: &StructOpsValue) -> Result<Step, Error> {
        let shape = self.map_shape(v.map);
        if shape.map_type != MapType::STRUCT_OPS
            || shape.key_size != 4
            || shape.value_size as usize != v.value.len()
        {
            return Err(Error::step(
                k,
                format!(
                    "a struct_ops value of {} bytes for map {} ({} key {} value {})",
                    v.value.len(),
                    v.map,
                    shape.map_type,
                    shape.key_size,
                    shape.value_size
                ),
            ));
        }
        for &(at, _) in &v.progs {
            let slot = &v.value[at as usize..at as usize + 8];
            if slot.iter().any(|&b| b != 0) {
                return Err(Error::step(
                    k,
                    format!(
                        "struct_ops member at byte {at} is not clear: a loader cannot restore \
                         the bytes the program's fd replaces"
                    ),
                ));
            }
        }
        let key = self.blob.put(&0u32.to_ne_bytes(), k, "key")?;
        let value = self.blob.put(&v.value, k, "value")?;
        let attr = self.blob.put(elem_attr(0).as_bytes(), k, "attributes")?;
        self.mark_step(k);
        for &(at, prog) in &v.progs {
            // The fd's upper half stays the zero the blob holds.
            self.blob_ptr(R4, BlobOff(value.0 + at));
            self.load_word(R3, self.fd_word(prog));
            self.emit(Insn::stx_mem(size::W, R4, R3, 0));
        }
        self.blob_ptr(R2, attr);
        self.set_word_field(offset_of!(MapElemAttr, map_fd), self.fd_word(v.map));
        self.set_ptr_field(offset_of!(MapElemAttr, key), key);
        self.set_ptr_field(offset_of!(MapElemAttr, value), value);
        self.sys_bpf(Cmd::MAP_UPDATE_ELEM, size_of::<MapElemAttr>());
        Ok(Step::StructOpsValue { map: v.map, attr })
    }

    fn find_btf_id(&mut self, k: usize, f: &FindBtfId) -> Result<Step, Error> {
        let name = self.name_region(k, &f.name)?;
        let (id, module_fd) = self.found_words(Ref(k as u32));
        self.mark_step(k);
        self.blob_ptr(R1, name);
        self.emit(Insn::mov64_imm(R2, f.name.len() as i32 + 1));
        self.emit(Insn::mov64_imm(R3, f.kind as i32));
        self.emit(Insn::mov64_imm(R4, 0));
        self.emit(Insn::call_helper(helper::BTF_FIND_BY_NAME_KIND));
        if f.optional {
            self.check_optional(true);
        } else {
            self.check_required();
        }
        // r0 = module BTF fd << 32 | type id (fd 0: vmlinux).
        self.store_word(id, R0);
        self.emit(Insn::alu64_imm(alu::RSH, R0, 32));
        self.store_word(module_fd, R0);
        Ok(Step::FindBtfId {
            name,
            kind: f.kind,
            id,
            module_fd,
        })
    }

    fn find_ksym(&mut self, k: usize, f: &FindKsym) -> Result<Step, Error> {
        let name = self.name_region(k, &f.name)?;
        let addr = self.blob.put(&[0; 8], k, "address")?;
        self.addr_slots[k] = Some(addr);
        self.mark_step(k);
        self.blob_ptr(R1, name);
        self.emit(Insn::mov64_imm(R2, f.name.len() as i32 + 1));
        self.emit(Insn::mov64_imm(R3, 0));
        self.blob_ptr(R4, addr);
        self.emit(Insn::call_helper(helper::KALLSYMS_LOOKUP_NAME));
        if f.optional {
            // The helper stores 0 when it finds nothing.
            self.check_optional(false);
        } else {
            self.check_required();
        }
        Ok(Step::FindKsym { name, addr })
    }

    /// A name for a lookup helper: NUL-terminated, no inner NUL.
    fn name_region(&mut self, k: usize, name: &str) -> Result<BlobOff, Error> {
        if name.is_empty() || name.contains('\0') || name.len() > i32::MAX as usize - 1 {
            return Err(Error::step(k, format!("lookup of the name {name:?}")));
        }
        let mut bytes = name.as_bytes().to_vec();
        bytes.push(0);
        self.blob.put(&bytes, k, "name")
    }

    fn load_prog(&mut self, k: usize, p: &LoadProg) -> Result<Step, Error> {
        check_kernel_name(k, "program", &p.kernel_name)?;
        if p.btf.is_none() && (!p.func_info.is_empty() || !p.line_info.is_empty()) {
            return Err(Error::step(
                k,
                "func_info or line_info without a BTF object",
            ));
        }
        let site = || format!("%{k} prog_load {:?}", p.name);
        let (insns, runtime_patches, uses_fd_array) = self.prepare_insns(k, p, &site)?;
        let insn_cnt = u32::try_from(insns.len())
            .map_err(|_| Error::step(k, format!("{} instructions", insns.len())))?;
        let insns_off = self
            .blob
            .put_nonempty(Insn::as_bytes(&insns), k, "instructions")?;
        let mut license = p.license.as_bytes().to_vec();
        license.push(0);
        let license = match self.licenses.iter().find(|(l, _)| *l == license) {
            Some(&(_, off)) => off,
            None => {
                let off = self.blob.put(&license, k, "license")?;
                self.licenses.push((license, off));
                off
            }
        };
        let index = |i: oxbpf_asm::InsnIdx| {
            u32::try_from(i.0).map_err(|_| Error::step(k, format!("record for instruction {i}")))
        };
        let mut func_info = Vec::with_capacity(p.func_info.len() * 8);
        for f in &p.func_info {
            func_info.extend(index(f.insn)?.to_ne_bytes());
            func_info.extend(f.type_id.to_ne_bytes());
        }
        let mut line_info = Vec::with_capacity(p.line_info.len() * 16);
        for l in &p.line_info {
            for v in [index(l.insn)?, l.file_name_off, l.line_off, l.line_col] {
                line_info.extend(v.to_ne_bytes());
            }
        }
        let count = |n: usize| u32::try_from(n).map_err(|_| Error::step(k, "too many records"));
        let func_info_off = self.blob.put_nonempty(&func_info, k, "func_info")?;
        let line_info_off = self.blob.put_nonempty(&line_info, k, "line_info")?;
        let core_relos = CoreRelo::encode_all(&p.core_relos)
            .ok_or_else(|| Error::step(k, "a CO-RE relocation past 4 GiB of instructions"))?;
        let core_relos_off = self.blob.put_nonempty(&core_relos, k, "core_relos")?;
        let attr = prog_load_attr(
            p,
            insn_cnt,
            count(p.func_info.len())?,
            count(p.line_info.len())?,
            count(p.core_relos.len())?,
        );
        let attr_off = self.blob.put(attr.as_bytes(), k, "attributes")?;

        self.mark_step(k);
        self.blob_ptr(R2, attr_off);
        if let Some(off) = insns_off {
            self.set_ptr_field(offset_of!(ProgLoadAttr, insns), off);
        }
        self.set_ptr_field(offset_of!(ProgLoadAttr, license), license);
        if let Some(btf) = p.btf {
            self.set_word_field(offset_of!(ProgLoadAttr, prog_btf_fd), self.fd_word(btf));
        }
        if let Some(off) = func_info_off {
            self.set_ptr_field(offset_of!(ProgLoadAttr, func_info), off);
        }
        if let Some(off) = line_info_off {
            self.set_ptr_field(offset_of!(ProgLoadAttr, line_info), off);
        }
        if let Some(off) = core_relos_off {
            self.set_ptr_field(offset_of!(ProgLoadAttr, core_relos), off);
        }
        if let Some(target) = p.attach_btf {
            let (id, module_fd) = self.found_words(target);
            self.set_word_field(offset_of!(ProgLoadAttr, attach_btf_id), id);
            // The union's `attach_btf_obj_fd`: 0 for vmlinux.
            self.set_word_field(offset_of!(ProgLoadAttr, attach_prog_fd), module_fd);
        }
        if uses_fd_array {
            self.emit(Insn::mov64_reg(R3, R6));
            self.emit(Insn::alu64_imm(alu::ADD, R3, ctx::WORDS.0 as i32));
            self.emit(Insn::stx_mem(
                size::DW,
                R2,
                R3,
                offset_of!(ProgLoadAttr, fd_array) as i16,
            ));
        }
        if let Some(base) = insns_off {
            for (i, kind) in runtime_patches {
                self.trampoline_if_far();
                self.runtime_patch(base, i, kind, &insns[i])?;
            }
        }
        self.sys_bpf(Cmd::PROG_LOAD, size_of::<ProgLoadAttr>());
        let fd = self.fd_word(Ref(k as u32));
        self.store_word(fd, R0);
        Ok(Step::LoadProg {
            name: p.name.clone(),
            attr: attr_off,
            fd,
            attach_type_given: p.expected_attach_type.is_some(),
            core_applied: p.core_applied,
            poisoned: p.poisoned.clone(),
        })
    }

    /// The instructions as the blob holds them: map references become
    /// `fd_array` indices (the words of the maps); BTF ids, kfunc calls
    /// and addresses the loader writes at run time (returned, in plan
    /// order) start as their "absent" form.
    #[allow(clippy::type_complexity)]
    fn prepare_insns(
        &self,
        k: usize,
        p: &LoadProg,
        site: &dyn Fn() -> String,
    ) -> Result<(Vec<Insn>, Vec<(usize, PatchKind)>, bool), Error> {
        let mut insns = p.insns.clone();
        let mut patched = vec![false; insns.len()];
        let mut runtime = Vec::new();
        let mut uses_fd_array = false;
        for patch in &p.patches {
            let i = patch.insn.0;
            let dirty = |what: &str| {
                Error::step(
                    k,
                    format!(
                        "patch site at instruction {i} is not clear ({what}): a loader cannot \
                         restore the bits its patch replaces"
                    ),
                )
            };
            if std::mem::replace(&mut patched[i], true) {
                return Err(Error::step(k, format!("two patches at instruction {i}")));
            }
            let insn = insns[i];
            let next_imm = insns.get(i + 1).map_or(0, |n| n.imm);
            match patch.kind {
                PatchKind::MapFd(map) => {
                    if insn.src() != 0 || insn.imm != 0 {
                        return Err(dirty("src or imm set"));
                    }
                    insns[i].set_src(pseudo::MAP_IDX);
                    insns[i].imm = fd_array_index(self.fd_word(map));
                    uses_fd_array = true;
                }
                PatchKind::MapValue { map, offset } => {
                    if insn.src() != 0 || insn.imm != 0 || next_imm != 0 {
                        return Err(dirty("src, imm or the next imm set"));
                    }
                    insns[i].set_src(pseudo::MAP_IDX_VALUE);
                    insns[i].imm = fd_array_index(self.fd_word(map));
                    insns[i + 1].imm = offset as i32;
                    uses_fd_array = true;
                }
                PatchKind::BtfId(_) | PatchKind::Address(_) => {
                    if insn.src() != 0 || insn.imm != 0 || next_imm != 0 {
                        return Err(dirty("src, imm or the next imm set"));
                    }
                    runtime.push((i, patch.kind));
                }
                PatchKind::KfuncCall(_) => {
                    if insn.regs != 0 || insn.imm != 0 || insn.off != 0 {
                        return Err(dirty("registers, off or imm set"));
                    }
                    insns[i] = Insn::call_helper(KFUNC_POISON);
                    runtime.push((i, patch.kind));
                }
            }
        }
        // What is not a patch point must not look like one to the decoder
        // or mean something else under our fd_array.
        for (i, insn) in p.insns.iter().enumerate() {
            if patched[i] {
                continue;
            }
            if insn.is_ld_imm64() && matches!(insn.src(), pseudo::MAP_IDX | pseudo::MAP_IDX_VALUE) {
                return Err(Error::unsupported(
                    format!("ld_imm64 of fd_array index at instruction {i} outside a patch point"),
                    site(),
                ));
            }
            if insn.is_kfunc_call() && insn.off != 0 {
                return Err(Error::unsupported(
                    format!(
                        "kfunc call through fd_array[{}] at instruction {i}",
                        insn.off
                    ),
                    site(),
                ));
            }
        }
        Ok((insns, runtime, uses_fd_array))
    }

    /// Code that writes a lookup's result into instruction `i` of a
    /// program whose instructions start at `base`.
    fn runtime_patch(
        &mut self,
        base: BlobOff,
        i: usize,
        kind: PatchKind,
        insn: &Insn,
    ) -> Result<(), Error> {
        let at = u32::try_from(i)
            .ok()
            .and_then(|i| i.checked_mul(8))
            .and_then(|o| base.0.checked_add(o))
            .map(BlobOff)
            .ok_or_else(|| Error::unsupported("a program this long", self.plan.object.clone()))?;
        self.blob_ptr(R4, at);
        match kind {
            PatchKind::BtfId(r) => {
                let (id, module_fd) = self.found_words(r);
                self.load_word(R3, id);
                self.emit(Insn::stx_mem(size::W, R4, R3, 4));
                self.emit(Insn::jmp32_imm(jmp::JEQ, R3, 0, 1));
                let regs = Insn::new(0, insn.dst(), pseudo::BTF_ID, 0, 0).regs;
                self.emit(Insn::st_mem(size::B, R4, 1, i32::from(regs)));
                self.load_word(R3, module_fd);
                self.emit(Insn::stx_mem(size::W, R4, R3, 12));
            }
            PatchKind::KfuncCall(r) => {
                let (id, module_fd) = self.found_words(r);
                self.load_word(R3, id);
                self.emit(Insn::jmp32_imm(jmp::JEQ, R3, 0, 2));
                self.emit(Insn::stx_mem(size::W, R4, R3, 4));
                let regs = Insn::new(0, 0, pseudo::KFUNC_CALL, 0, 0).regs;
                self.emit(Insn::st_mem(size::B, R4, 1, i32::from(regs)));
                self.load_word(R3, module_fd);
                self.emit(Insn::jmp32_imm(jmp::JSLE, R3, 0, 1));
                self.emit(Insn::st_mem(size::H, R4, 2, fd_array_index(module_fd)));
            }
            PatchKind::Address(r) => {
                let Some(slot) = self.addr_slots[r.index()] else {
                    unreachable!("validated plan: {r} is an earlier kallsyms lookup")
                };
                let (lo, hi) = if cfg!(target_endian = "big") {
                    (4, 0)
                } else {
                    (0, 4)
                };
                self.blob_ptr(R3, slot);
                self.emit(Insn::ldx_mem(size::W, R5, R3, lo));
                self.emit(Insn::stx_mem(size::W, R4, R5, 4));
                self.emit(Insn::ldx_mem(size::W, R5, R3, hi));
                self.emit(Insn::stx_mem(size::W, R4, R5, 12));
            }
            PatchKind::MapFd(_) | PatchKind::MapValue { .. } => {
                unreachable!("map references are fd_array indices")
            }
        }
        Ok(())
    }
}

/// The static part of a step's `BPF_MAP_CREATE` attributes (the fds are
/// written at run time). [`crate::decode`] re-encodes what it decoded
/// with the same function and compares, so that no attribute byte
/// escapes the explained plan.
pub(crate) fn map_create_attr(m: &CreateMap) -> MapCreateAttr {
    let mut attr = MapCreateAttr::new(m.map_type, m.key_size, m.value_size, m.max_entries);
    attr.map_flags = m.map_flags;
    attr.numa_node = m.numa_node;
    attr.map_extra = m.map_extra;
    attr.map_name = obj_name(&m.kernel_name);
    attr.btf_key_type_id = m.btf_key_type_id;
    attr.btf_value_type_id = m.btf_value_type_id;
    attr
}

/// The static part of `BPF_MAP_UPDATE_ELEM`/`BPF_MAP_FREEZE` attributes.
pub(crate) fn elem_attr(flags: u64) -> MapElemAttr {
    let mut attr = MapElemAttr::default();
    attr.flags = flags;
    attr
}

/// The static part of `BPF_BTF_LOAD` attributes.
pub(crate) fn btf_load_attr(btf_size: u32) -> BtfLoadAttr {
    BtfLoadAttr {
        btf_size,
        ..Default::default()
    }
}

/// The static part of `BPF_PROG_LOAD` attributes.
pub(crate) fn prog_load_attr(
    p: &LoadProg,
    insn_cnt: u32,
    func_info_cnt: u32,
    line_info_cnt: u32,
    core_relo_cnt: u32,
) -> ProgLoadAttr {
    let mut attr = ProgLoadAttr {
        prog_type: p.prog_type,
        insn_cnt,
        kern_version: p.kern_version,
        prog_flags: p.prog_flags,
        prog_name: obj_name(&p.kernel_name),
        expected_attach_type: p.expected_attach_type.unwrap_or_default(),
        func_info_cnt,
        line_info_cnt,
        core_relo_cnt,
        ..Default::default()
    };
    if func_info_cnt > 0 {
        attr.func_info_rec_size = 8;
    }
    if line_info_cnt > 0 {
        attr.line_info_rec_size = 16;
    }
    if core_relo_cnt > 0 {
        attr.core_relo_rec_size = CORE_RELO_SIZE;
    }
    attr
}

/// The `fd_array` index of a context word.
pub(crate) fn fd_array_index(word: CtxOff) -> i32 {
    ((word.0 - ctx::WORDS.0) / 4) as i32
}

/// Kernel names go into 16-byte, NUL-terminated attributes.
fn check_kernel_name(k: usize, what: &str, name: &str) -> Result<(), Error> {
    if name.len() > 15 || name.contains('\0') {
        return Err(Error::step(
            k,
            format!("{what} kernel name {name:?} does not fit the kernel's 15 bytes"),
        ));
    }
    Ok(())
}

/// The blob under construction: regions appended at 8-byte alignment, a
/// new chunk started when a region would not fit the current one.
pub(crate) struct BlobBuilder {
    bytes: Vec<u8>,
    ends: Vec<u32>,
    start: usize,
    max: usize,
}

impl BlobBuilder {
    pub(crate) fn new(max_chunk_size: u32) -> BlobBuilder {
        BlobBuilder {
            bytes: Vec::new(),
            ends: Vec::new(),
            start: 0,
            max: (max_chunk_size as usize & !7).max(8),
        }
    }

    fn close_chunk(&mut self) {
        let end = self.bytes.len().next_multiple_of(8);
        self.bytes.resize(end, 0);
        // put() keeps the blob below 4 GiB.
        self.ends.push(end as u32);
        self.start = end;
    }

    /// Appends `data` (at least one byte) and returns where it is.
    pub(crate) fn put(&mut self, data: &[u8], k: usize, what: &str) -> Result<BlobOff, Error> {
        let len = data.len().max(1);
        if len > self.max {
            return Err(Error::unsupported(
                format!(
                    "{what} of {len} bytes (a blob chunk, one map value, holds {} bytes)",
                    self.max
                ),
                format!("step %{k}"),
            ));
        }
        let mut at = self.bytes.len().next_multiple_of(8);
        if at + len - self.start > self.max {
            self.close_chunk();
            at = self.start;
        }
        if at + len > u32::MAX as usize {
            return Err(Error::unsupported(
                "a blob of 4 GiB or more".to_owned(),
                format!("step %{k}"),
            ));
        }
        self.bytes.resize(at, 0);
        self.bytes.extend_from_slice(data);
        self.bytes.resize(at + len, 0);
        Ok(BlobOff(at as u32))
    }

    /// Like [`BlobBuilder::put`], but nothing for empty data.
    pub(crate) fn put_nonempty(
        &mut self,
        data: &[u8],
        k: usize,
        what: &str,
    ) -> Result<Option<BlobOff>, Error> {
        if data.is_empty() {
            return Ok(None);
        }
        self.put(data, k, what).map(Some)
    }

    /// The chunk of a placed offset and the offset inside it.
    fn locate(&self, off: BlobOff) -> (usize, u32) {
        let chunk = self.ends.partition_point(|&end| end <= off.0);
        let start = if chunk == 0 { 0 } else { self.ends[chunk - 1] };
        (chunk, off.0 - start)
    }

    pub(crate) fn finish(mut self, object: &str) -> Result<Blob, Error> {
        if self.bytes.len() > self.start || self.ends.is_empty() {
            if self.bytes.len() == self.start {
                self.bytes.resize(self.start + 8, 0);
            }
            self.close_chunk();
        }
        if self.ends.len() > Blob::MAX_CHUNKS {
            return Err(Error::unsupported(
                format!(
                    "a blob of {} chunks (a program references at most {} maps)",
                    self.ends.len(),
                    Blob::MAX_CHUNKS
                ),
                object.to_owned(),
            ));
        }
        Blob::new(self.bytes, self.ends)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_do_not_cross_chunks() {
        let mut b = BlobBuilder::new(32);
        assert_eq!(b.put(&[1; 20], 0, "a").unwrap(), BlobOff(0));
        // 24 + 16 > 32: a new chunk at 24.
        assert_eq!(b.put(&[2; 16], 0, "b").unwrap(), BlobOff(24));
        assert_eq!(b.locate(BlobOff(24)), (1, 0));
        assert_eq!(b.put(&[3; 8], 0, "c").unwrap(), BlobOff(40));
        assert!(b.put(&[4; 33], 0, "d").is_err());
        let blob = b.finish("t").unwrap();
        assert_eq!(blob.chunk_count(), 2);
        assert_eq!(blob.locate(BlobOff(40)), Some((1, 16)));
        assert_eq!(blob.range(BlobOff(40), 8).unwrap(), &[3; 8]);
    }

    #[test]
    fn an_empty_blob_has_one_chunk() {
        let blob = BlobBuilder::new(64).finish("t").unwrap();
        assert_eq!(blob.chunk_count(), 1);
        assert_eq!(blob.bytes().len(), 8);
    }
}
