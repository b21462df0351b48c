//! Decoding a loader back into the plan it executes (`oxbpf explain`).
//!
//! The plan is rebuilt from what the loader *does*, not from what its
//! descriptor says: the instructions are interpreted symbolically (each
//! register holds "the context", "blob address X", "the word at ctx+Y", "the
//! result of call n"...), every helper call is collected with its
//! arguments, and each call's attributes are read from the blob with the
//! values the instructions store into them before the call. Attributes are
//! then re-encoded from the decoded operation and compared byte for byte,
//! so a byte no plan operation can express is an error, not a silent
//! omission. The descriptor supplies only what the kernel never sees (the
//! object's full names of maps and programs, whether an attach type of 0
//! was given) and the steps the runtime performs; wherever it overlaps the
//! instructions it must agree with them.
//!
//! The instructions must have exactly the shapes [`crate::generate`]
//! emits; anything else is refused with the instruction's index. The error
//! handler is checked too: it must close exactly the fds the loader
//! creates, each guarded, and none the runtime passed in.

use std::collections::{BTreeMap, HashMap};

use core::mem::{offset_of, size_of};

use oxbpf_asm::opcode::{alu, class, jmp, mode, pseudo, size, source};
use oxbpf_asm::reg::{R0, R1, R6, R7};
use oxbpf_asm::{Insn, InsnIdx};
use oxbpf_btf::Kind;
use oxbpf_plan::{
    CORE_RELO_SIZE, CoreRelo, CoreReloKind, CreateMap, FindBtfId, FindKsym, Freeze, FuncInfo,
    LineInfo, LoadBtf, LoadProg, Op, Patch, PatchKind, Pin, Plan, Produces, Ref, ReuseMap, SetFd,
    StructOpsValue, UpdateElem,
};
use oxbpf_syscalls::{
    AttachType, BtfLoadAttr, Cmd, MapCreateAttr, MapElemAttr, MapType, ProgLoadAttr, UapiStruct,
};
use zerocopy::FromBytes;

use crate::codegen::{
    CloseIf, ENOENT, btf_load_attr, elem_attr, fd_array_index, helper, map_create_attr,
    prog_load_attr,
};
use crate::error::Error;
use crate::layout::{BlobOff, CtxOff, ctx};
use crate::loader::{KFUNC_POISON, Loader, Side, Step};

/// Rebuilds the plan a loader executes, from its instructions and blob
/// (and, for what the kernel never sees and the runtime's steps, its
/// descriptor). See the module documentation for what is checked.
pub fn decode(loader: &Loader) -> Result<Plan, Error> {
    let trace = interpret(loader)?;
    Decoder::new(loader, &trace)?.run()
}

/// What a register holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Val {
    Uninit,
    /// The context pointer.
    Ctx,
    /// The context pointer plus a constant.
    CtxPlus(u32),
    /// The address of a blob byte.
    Blob(BlobOff),
    /// A constant.
    Const(i64),
    /// A 32-bit word read from the context.
    CtxWord(CtxOff),
    /// A 32-bit word read from the blob.
    BlobWord(BlobOff),
    /// What helper call `n` returned.
    Ret(usize),
    /// The upper 32 bits of what helper call `n` returned.
    RetHi(usize),
}

/// A store guarded by a context word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cond {
    /// Done when the word is not 0.
    NonZero(CtxOff),
    /// Done when the word is greater than 0.
    Positive(CtxOff),
}

#[derive(Clone, Copy, Debug)]
struct Write {
    /// Blob or context offset.
    at: u32,
    size: u8,
    val: Val,
    cond: Option<Cond>,
    /// Number of helper calls made before the store.
    calls_before: usize,
    pc: usize,
}

/// How a call's result is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Check {
    /// Any negative result fails the step.
    Required,
    /// `-ENOENT` is success too.
    Optional,
    /// `-ENOENT` is success too, with the result set to 0.
    OptionalZero,
}

#[derive(Clone, Debug)]
struct Call {
    pc: usize,
    helper: i32,
    args: [Val; 5],
    step: u32,
    check: Check,
}

#[derive(Debug, Default)]
struct Trace {
    calls: Vec<Call>,
    blob_writes: Vec<Write>,
    ctx_writes: Vec<Write>,
    /// Words the error handler closes, in its order.
    closes: Vec<(CtxOff, CloseIf)>,
}

const fn code(class: u8, op: u8, src: u8) -> u8 {
    class | op | src
}

const MOV64_X: u8 = code(class::ALU64, alu::MOV, source::X);
const MOV64_K: u8 = code(class::ALU64, alu::MOV, source::K);
const ADD64_K: u8 = code(class::ALU64, alu::ADD, source::K);
const RSH64_K: u8 = code(class::ALU64, alu::RSH, source::K);
const LD_IMM64: u8 = class::LD | size::DW | mode::IMM;
const LDX_W: u8 = class::LDX | size::W | mode::MEM;
const CALL: u8 = code(class::JMP, jmp::CALL, source::K);
const EXIT: u8 = code(class::JMP, jmp::EXIT, source::K);
const JA: u8 = code(class::JMP, jmp::JA, source::K);
const JSGE_K: u8 = code(class::JMP, jmp::JSGE, source::K);
const JEQ_K: u8 = code(class::JMP, jmp::JEQ, source::K);
const JEQ32_K: u8 = code(class::JMP32, jmp::JEQ, source::K);
const JSLE32_K: u8 = code(class::JMP32, jmp::JSLE, source::K);
const JSLT32_K: u8 = code(class::JMP32, jmp::JSLT, source::K);

fn mem_size(code: u8) -> u8 {
    match code & size::MASK {
        size::B => 1,
        size::H => 2,
        size::W => 4,
        _ => 8,
    }
}

fn is_store(code: u8) -> bool {
    matches!(code & class::MASK, class::ST | class::STX) && code & mode::MASK == mode::MEM
}

/// Walks the main path (from the first instruction to `r0 = 0; exit`),
/// then the error handler after it.
fn interpret(loader: &Loader) -> Result<Trace, Error> {
    let insns = &loader.insns;
    let get = |pc: usize| -> Result<Insn, Error> {
        insns
            .get(pc)
            .copied()
            .ok_or_else(|| Error::insn(pc, "the main path runs past the last instruction"))
    };
    let mut t = Trace::default();
    let mut regs = [Val::Uninit; 11];
    regs[R1 as usize] = Val::Ctx;
    let mut step: Option<u32> = None;
    let mut err_jumps: Vec<(usize, usize)> = Vec::new();
    let mut trampolines: HashMap<usize, usize> = HashMap::new();
    let mut pc = 0usize;
    let main_end = loop {
        let insn = get(pc)?;
        let (dst, src) = (insn.dst() as usize, insn.src() as usize);
        if dst > 10 || src > 10 {
            return Err(Error::insn(pc, "register above r10"));
        }
        match insn.code {
            MOV64_X if insn.off == 0 && insn.imm == 0 && dst != 10 => regs[dst] = regs[src],
            MOV64_K if insn.off == 0 && src == 0 && dst != 10 => {
                if dst == R0 as usize && insn.imm == 0 && get(pc + 1)?.code == EXIT {
                    break pc + 2;
                }
                regs[dst] = Val::Const(i64::from(insn.imm));
            }
            ADD64_K if insn.off == 0 && src == 0 => {
                let imm = i64::from(insn.imm);
                regs[dst] = match regs[dst] {
                    Val::Ctx if imm >= 0 => Val::CtxPlus(imm as u32),
                    Val::Const(c) => Val::Const(c.wrapping_add(imm)),
                    Val::Blob(b) => u32::try_from(i64::from(b.0) + imm)
                        .map(|o| Val::Blob(BlobOff(o)))
                        .map_err(|_| Error::insn(pc, "blob address out of range"))?,
                    other => return Err(Error::insn(pc, format!("adds to {other:?}"))),
                };
            }
            RSH64_K if insn.off == 0 && src == 0 && insn.imm == 32 => {
                regs[dst] = match regs[dst] {
                    Val::Ret(n) => Val::RetHi(n),
                    other => return Err(Error::insn(pc, format!("shifts {other:?}"))),
                };
            }
            LD_IMM64 => {
                let next = get(pc + 1)?;
                if src != pseudo::MAP_IDX_VALUE as usize
                    || insn.off != 0
                    || next.code != 0
                    || next.regs != 0
                    || next.off != 0
                {
                    return Err(Error::insn(pc, "ld_imm64 that is not a blob address"));
                }
                let chunk = usize::try_from(insn.imm)
                    .map_err(|_| Error::insn(pc, "negative blob chunk"))?;
                let off = loader
                    .blob
                    .offset_in_chunk(chunk, next.imm as u32)
                    .ok_or_else(|| {
                        Error::insn(
                            pc,
                            format!("chunk {chunk} + {} is not in the blob", next.imm),
                        )
                    })?;
                regs[dst] = Val::Blob(off);
                pc += 2;
                continue;
            }
            LDX_W if insn.imm == 0 && insn.off >= 0 => {
                let off = insn.off as u32;
                regs[dst] = match regs[src] {
                    Val::Ctx => Val::CtxWord(CtxOff(off)),
                    Val::Blob(b) => Val::BlobWord(BlobOff(b.0 + off)),
                    other => return Err(Error::insn(pc, format!("loads through {other:?}"))),
                };
            }
            c if is_store(c) => {
                store(&mut t, &regs, pc, insn, None, &mut step)?;
            }
            CALL if src == 0 && dst == 0 && insn.off == 0 => {
                if regs[R6 as usize] != Val::Ctx || regs[R7 as usize] != Val::Const(-1) {
                    return Err(Error::insn(
                        pc,
                        "a call without r6 = ctx and r7 = -1, which the error handler needs",
                    ));
                }
                let n = t.calls.len();
                let step = step.ok_or_else(|| Error::insn(pc, "a call before any step"))?;
                let mut args = [Val::Uninit; 5];
                args.copy_from_slice(&regs[1..6]);
                let (check, target, len) = parse_check(insns, pc + 1)?;
                err_jumps.push((pc + len, target));
                t.calls.push(Call {
                    pc,
                    helper: insn.imm,
                    args,
                    step,
                    check,
                });
                regs[R0 as usize] = Val::Ret(n);
                for r in &mut regs[1..6] {
                    *r = Val::Uninit;
                }
                pc += len + 1;
                continue;
            }
            JEQ32_K | JSLE32_K if src == 0 && insn.imm == 0 && insn.off > 0 => {
                let Val::CtxWord(w) = regs[dst] else {
                    return Err(Error::insn(
                        pc,
                        "a condition on something but a context word",
                    ));
                };
                let cond = if insn.code == JEQ32_K {
                    Cond::NonZero(w)
                } else {
                    Cond::Positive(w)
                };
                let n = insn.off as usize;
                for j in pc + 1..=pc + n {
                    let inner = get(j)?;
                    if !is_store(inner.code) {
                        return Err(Error::insn(j, "a guarded block holds more than stores"));
                    }
                    store(&mut t, &regs, j, inner, Some(cond), &mut step)?;
                }
                pc += n + 1;
                continue;
            }
            JA if insn.off == 1 && insn.regs == 0 && insn.imm == 0 => {
                let tramp = get(pc + 1)?;
                if tramp.code != JA || tramp.regs != 0 || tramp.imm != 0 || tramp.off <= 0 {
                    return Err(Error::insn(
                        pc + 1,
                        "a jumped-over instruction that is no trampoline",
                    ));
                }
                trampolines.insert(pc + 1, pc + 2 + tramp.off as usize);
                pc += 2;
                continue;
            }
            _ => {
                return Err(Error::insn(
                    pc,
                    format!("code {:#04x} is not a loader instruction here", insn.code),
                ));
            }
        }
        pc += 1;
    };
    // Every error jump reaches the handler, right after the main path.
    for (pc, mut target) in err_jumps {
        let mut hops = 0;
        while target != main_end {
            match trampolines.get(&target) {
                Some(&next) if next > target && hops <= trampolines.len() => {
                    target = next;
                    hops += 1;
                }
                _ => {
                    return Err(Error::insn(
                        pc,
                        "an error jump that does not reach the handler",
                    ));
                }
            }
        }
    }
    t.closes = handler(insns, main_end)?;
    Ok(t)
}

/// Records a store; a store of a constant to `ctx.step` starts a step.
fn store(
    t: &mut Trace,
    regs: &[Val; 11],
    pc: usize,
    insn: Insn,
    cond: Option<Cond>,
    step: &mut Option<u32>,
) -> Result<(), Error> {
    let size = mem_size(insn.code);
    let val = if insn.code & class::MASK == class::ST {
        Val::Const(i64::from(insn.imm))
    } else {
        if insn.imm != 0 {
            return Err(Error::insn(pc, "store with an imm"));
        }
        regs[insn.src() as usize]
    };
    if val == Val::Uninit {
        return Err(Error::insn(pc, "stores an unset register"));
    }
    if insn.off < 0 {
        return Err(Error::insn(pc, "store at a negative offset"));
    }
    let off = insn.off as u32;
    let write = |at| Write {
        at,
        size,
        val,
        cond,
        calls_before: t.calls.len(),
        pc,
    };
    match regs[insn.dst() as usize] {
        Val::Ctx if insn.code & class::MASK == class::STX && cond.is_none() => {
            if off == ctx::STEP.0 {
                match val {
                    Val::Const(k) if size == 4 && (0..=i64::from(u32::MAX)).contains(&k) => {
                        *step = Some(k as u32);
                    }
                    _ => return Err(Error::insn(pc, "ctx.step set to something but a step")),
                }
            } else {
                let w = write(off);
                t.ctx_writes.push(w);
            }
        }
        Val::Blob(b) => {
            let at =
                b.0.checked_add(off)
                    .ok_or_else(|| Error::insn(pc, "blob address out of range"))?;
            let w = write(at);
            t.blob_writes.push(w);
        }
        other => return Err(Error::insn(pc, format!("stores through {other:?}"))),
    }
    Ok(())
}

/// The check after a call: its kind, where it jumps on failure and how
/// many instructions it takes.
fn parse_check(insns: &[Insn], pc: usize) -> Result<(Check, usize, usize), Error> {
    let at = |i: usize| insns.get(pc + i).copied();
    let is = |i: usize, code: u8, imm: i32, off: i16| {
        at(i).is_some_and(|x| x.code == code && x.regs == 0 && x.imm == imm && x.off == off)
    };
    let ja_target = |i: usize| -> Option<usize> {
        let x = at(i)?;
        (x.code == JA && x.regs == 0 && x.imm == 0 && x.off >= 0)
            .then(|| pc + i + 1 + x.off as usize)
    };
    let bad = || {
        Error::insn(
            pc,
            "a call whose result is not checked as a loader checks it",
        )
    };
    if is(0, JSGE_K, 0, 1) {
        return Ok((Check::Required, ja_target(1).ok_or_else(bad)?, 2));
    }
    if is(1, JEQ_K, -ENOENT, 1) {
        if is(0, JSGE_K, 0, 2) {
            return Ok((Check::Optional, ja_target(2).ok_or_else(bad)?, 3));
        }
        if is(0, JSGE_K, 0, 3) && is(3, MOV64_K, 0, 0) {
            return Ok((Check::OptionalZero, ja_target(2).ok_or_else(bad)?, 4));
        }
    }
    Err(bad())
}

/// The error handler: errno saved, the guarded close ladder, the return
/// value; nothing after it.
fn handler(insns: &[Insn], start: usize) -> Result<Vec<(CtxOff, CloseIf)>, Error> {
    let mut pc = start;
    let mut next = |what: &str| -> Result<(usize, Insn), Error> {
        let i = pc;
        pc += 1;
        insns
            .get(i)
            .copied()
            .map(|x| (i, x))
            .ok_or_else(|| Error::insn(i, format!("the error handler ends before {what}")))
    };
    let ldx_ctx = |x: Insn, reg: u8| {
        (x.code == LDX_W && x.dst() == reg && x.src() == R6 && x.imm == 0 && x.off >= 0)
            .then_some(CtxOff(x.off as u32))
    };
    let stx_ctx = |x: Insn, reg: u8| {
        (x.code == class::STX | size::W | mode::MEM
            && x.src() == reg
            && x.dst() == R6
            && x.imm == 0
            && x.off >= 0)
            .then_some(CtxOff(x.off as u32))
    };
    let (i, x) = next("errno")?;
    if x != Insn::neg64(R0) {
        return Err(Error::insn(
            i,
            "the error handler does not start with r0 = -r0",
        ));
    }
    let (i, x) = next("errno")?;
    if stx_ctx(x, R0) != Some(ctx::ERRNO) {
        return Err(Error::insn(i, "the error handler does not save errno"));
    }
    let mut closes = Vec::new();
    loop {
        let (i, x) = next("its return value")?;
        if let Some(w) = ldx_ctx(x, R1) {
            let (j, test) = next("a close")?;
            let close_if = match (test.code, test.dst(), test.src(), test.imm, test.off) {
                (JSLT32_K, R1, 0, 0, 2) => CloseIf::NonNegative,
                (JSLE32_K, R1, 0, 0, 2) => CloseIf::Positive,
                _ => return Err(Error::insn(j, "a close that is not guarded by its word")),
            };
            let (j, call) = next("a close")?;
            if call != Insn::call_helper(helper::SYS_CLOSE) {
                return Err(Error::insn(j, "a close ladder entry without bpf_sys_close"));
            }
            let (j, reset) = next("a close")?;
            if stx_ctx(reset, R7) != Some(w) {
                return Err(Error::insn(j, "a closed word that is not reset to -1"));
            }
            closes.push((w, close_if));
            continue;
        }
        let tail = [
            Insn::ldx_mem(size::W, R0, R6, ctx::STEP.insn_off()),
            Insn::alu64_imm(alu::LSH, R0, 12),
            Insn::ldx_mem(size::W, R1, R6, ctx::ERRNO.insn_off()),
            Insn::alu64_reg(alu::OR, R0, R1),
            Insn::exit(),
        ];
        if x != tail[0] {
            return Err(Error::insn(
                i,
                "unexpected instruction in the error handler",
            ));
        }
        for want in &tail[1..] {
            let (j, got) = next("its exit")?;
            if got != *want {
                return Err(Error::insn(
                    j,
                    "the error handler does not return step << 12 | errno",
                ));
            }
        }
        if pc != insns.len() {
            return Err(Error::insn(pc, "instructions after the error handler"));
        }
        return Ok(closes);
    }
}

/// What a context word holds, and which step filled it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WordKind {
    /// An fd the loader created (BTF, map, program).
    Fd,
    /// An fd the runtime passed in (a pinned map).
    Input,
    /// A BTF lookup's type id.
    Id,
    /// A BTF lookup's module BTF fd.
    Module,
}

struct Decoder<'a> {
    loader: &'a Loader,
    trace: &'a Trace,
    /// Context words: which step filled them, with what.
    words: HashMap<CtxOff, (usize, WordKind)>,
    /// Per step: its call, if the loader makes one.
    call_of_step: Vec<Option<usize>>,
    /// Kallsyms result slots: the lookup step.
    addr_slots: HashMap<BlobOff, usize>,
    /// Blob stores by address (indices into the trace's).
    writes_by_addr: BTreeMap<u32, Vec<usize>>,
    /// Per step: the words it fills.
    words_of_step: HashMap<usize, Vec<(CtxOff, WordKind)>>,
    /// Steps whose map is some later map's inner map template.
    inner_templates: std::collections::HashSet<usize>,
    ops: Vec<Op>,
}

impl<'a> Decoder<'a> {
    fn new(loader: &'a Loader, trace: &'a Trace) -> Result<Decoder<'a>, Error> {
        let n = loader.steps.len();
        let mut call_of_step = vec![None; n];
        let mut last_step = None;
        for (c, call) in trace.calls.iter().enumerate() {
            let k = call.step as usize;
            if k >= n {
                return Err(Error::insn(
                    call.pc,
                    format!("step %{k} of a plan of {n} steps"),
                ));
            }
            if last_step.is_some_and(|last| last >= k) {
                return Err(Error::insn(call.pc, format!("step %{k} out of order")));
            }
            last_step = Some(k);
            call_of_step[k] = Some(c);
        }
        let mut d = Decoder {
            loader,
            trace,
            words: HashMap::new(),
            call_of_step,
            addr_slots: HashMap::new(),
            writes_by_addr: BTreeMap::new(),
            words_of_step: HashMap::new(),
            inner_templates: Default::default(),
            ops: Vec::with_capacity(n),
        };
        for (i, w) in trace.blob_writes.iter().enumerate() {
            d.writes_by_addr.entry(w.at).or_default().push(i);
        }
        d.check_sides()?;
        d.collect_words()?;
        for (&w, &(k, kind)) in &d.words {
            d.words_of_step.entry(k).or_default().push((w, kind));
        }
        for j in 0..n {
            if matches!(loader.steps[j], Step::CreateMap { .. }) {
                if let Some(inner) = d.inner_of(j) {
                    d.inner_templates.insert(inner.index());
                }
            }
        }
        d.check_handler()?;
        Ok(d)
    }

    /// The descriptor's loader steps are exactly the steps the
    /// instructions perform.
    fn check_sides(&self) -> Result<(), Error> {
        for (k, step) in self.loader.steps.iter().enumerate() {
            let has_call = self.call_of_step[k].is_some();
            match (step.side(), has_call) {
                (Side::Loader, false) => {
                    return Err(Error::decode_step(
                        k,
                        format!(
                            "the descriptor says the loader does {}, the instructions do nothing",
                            step.mnemonic()
                        ),
                    ));
                }
                (Side::RuntimeBefore | Side::RuntimeAfter, true) => {
                    return Err(Error::decode_step(
                        k,
                        format!(
                            "the descriptor gives {} to the runtime, yet the loader makes a call",
                            step.mnemonic()
                        ),
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Which words hold what: results the instructions store after each
    /// call, inputs the descriptor names; -1 first for every result word.
    fn collect_words(&mut self) -> Result<(), Error> {
        let first_call = self.trace.calls.first().map_or(usize::MAX, |c| c.pc);
        let mut initialised = std::collections::HashSet::new();
        for w in &self.trace.ctx_writes {
            let off = CtxOff(w.at);
            if w.size != 4 || w.cond.is_some() || w.at < ctx::WORDS.0 {
                return Err(Error::insn(w.pc, "a context store that is no result word"));
            }
            let (n, kind) = match w.val {
                Val::Const(-1) if w.pc < first_call => {
                    initialised.insert(off);
                    continue;
                }
                Val::Ret(n) => (
                    n,
                    match self.trace.calls[n].helper {
                        helper::SYS_BPF => WordKind::Fd,
                        helper::BTF_FIND_BY_NAME_KIND => WordKind::Id,
                        _ => return Err(Error::insn(w.pc, "stores a result no step keeps")),
                    },
                ),
                Val::RetHi(n) if self.trace.calls[n].helper == helper::BTF_FIND_BY_NAME_KIND => {
                    (n, WordKind::Module)
                }
                other => {
                    return Err(Error::insn(
                        w.pc,
                        format!("stores {other:?} into the context"),
                    ));
                }
            };
            let step = self.trace.calls[n].step as usize;
            if self.words.insert(off, (step, kind)).is_some() {
                return Err(Error::insn(w.pc, format!("{off} is written twice")));
            }
        }
        for (k, step) in self.loader.steps.iter().enumerate() {
            if let Step::ReuseMap { fd, .. } = step {
                if self.words.insert(*fd, (k, WordKind::Input)).is_some() {
                    return Err(Error::decode_step(
                        k,
                        format!("the runtime's word {fd} is also written by the loader"),
                    ));
                }
            }
        }
        for (&w, &(k, kind)) in &self.words {
            if matches!(kind, WordKind::Fd | WordKind::Module) && !initialised.contains(&w) {
                return Err(Error::decode_step(
                    k,
                    format!("{w} is not set to -1 before the first step"),
                ));
            }
        }
        Ok(())
    }

    /// The handler closes exactly the fds the loader created.
    fn check_handler(&self) -> Result<(), Error> {
        let mut want: Vec<(CtxOff, CloseIf)> = self
            .words
            .iter()
            .filter_map(|(&w, &(_, kind))| match kind {
                WordKind::Fd => Some((w, CloseIf::NonNegative)),
                WordKind::Module => Some((w, CloseIf::Positive)),
                _ => None,
            })
            .collect();
        let mut have = self.trace.closes.clone();
        want.sort_by_key(|(w, _)| *w);
        have.sort_by_key(|(w, _)| *w);
        if want != have {
            return Err(Error::Decode {
                what: format!(
                    "the error handler closes {have:?}, the loader creates {want:?} \
                     (every created fd must be closed once, nothing else)"
                ),
            });
        }
        Ok(())
    }

    fn run(mut self) -> Result<Plan, Error> {
        for k in 0..self.loader.steps.len() {
            let op = self.step(k)?;
            self.ops.push(op);
        }
        let plan = Plan {
            object: self.loader.object.clone(),
            ops: self.ops,
        };
        plan.validate()?;
        Ok(plan)
    }

    fn step(&mut self, k: usize) -> Result<Op, Error> {
        let (loader, trace) = (self.loader, self.trace);
        let step = &loader.steps[k];
        let Some(c) = self.call_of_step[k] else {
            return Ok(match step {
                Step::ReuseMap { path, expect, .. } => Op::ReuseMap(ReuseMap {
                    path: path.clone(),
                    expect: expect.clone(),
                }),
                Step::Pin { map, path } => Op::Pin(Pin {
                    object: *map,
                    path: path.clone(),
                }),
                _ => unreachable!("check_sides: loader steps have calls"),
            });
        };
        let call = &trace.calls[c];
        let bad = |what: String| Error::decode_step(k, what);
        match call.helper {
            helper::SYS_BPF => {
                let (Val::Const(cmd), Val::Blob(attr), Val::Const(size)) =
                    (call.args[0], call.args[1], call.args[2])
                else {
                    return Err(bad(format!("bpf_sys_bpf with arguments {:?}", call.args)));
                };
                if call.check != Check::Required {
                    return Err(bad("a bpf() command whose failure is ignored".into()));
                }
                if step.attr() != Some(attr) {
                    return Err(bad(format!(
                        "the descriptor puts the attributes at {:?}, the instructions at {attr}",
                        step.attr()
                    )));
                }
                let cmd = u32::try_from(cmd).map(Cmd).unwrap_or(Cmd(u32::MAX));
                let size = usize::try_from(size).unwrap_or(usize::MAX);
                self.check_cmd(k, step, cmd)?;
                let op = match cmd {
                    Cmd::BTF_LOAD => self.load_btf(k, c, attr, size)?,
                    Cmd::MAP_CREATE => self.create_map(k, c, attr, size)?,
                    Cmd::MAP_UPDATE_ELEM => self.update_elem(k, c, attr, size)?,
                    Cmd::MAP_FREEZE => self.freeze(k, c, attr, size)?,
                    Cmd::PROG_LOAD => self.load_prog(k, c, attr, size)?,
                    other => return Err(bad(format!("bpf_sys_bpf({other})"))),
                };
                self.check_result_word(k, c, step.fd_word(), WordKind::Fd)?;
                Ok(op)
            }
            helper::BTF_FIND_BY_NAME_KIND => self.find_btf_id(k, c),
            helper::KALLSYMS_LOOKUP_NAME => self.find_ksym(k, c),
            other => Err(bad(format!("calls helper {other}"))),
        }
    }

    /// The command the loader issues is the step the descriptor names.
    fn check_cmd(&self, k: usize, step: &Step, cmd: Cmd) -> Result<(), Error> {
        if step.cmd() != Some(cmd) {
            return Err(Error::decode_step(
                k,
                format!(
                    "the descriptor says {}, the loader issues {cmd}",
                    step.mnemonic()
                ),
            ));
        }
        Ok(())
    }

    /// The word the descriptor gives for a step's result is the one the
    /// instructions store it in.
    fn check_result_word(
        &self,
        k: usize,
        call: usize,
        want: Option<CtxOff>,
        kind: WordKind,
    ) -> Result<(), Error> {
        let found: Vec<CtxOff> = self
            .words_of_step
            .get(&k)
            .into_iter()
            .flatten()
            .filter(|(_, wk)| *wk == kind)
            .map(|(w, _)| *w)
            .collect();
        let ok = match want {
            Some(w) => found == [w],
            None => found.is_empty(),
        };
        if !ok {
            return Err(Error::insn(
                self.trace.calls[call].pc,
                format!("step %{k} keeps its result in {found:?}, the descriptor says {want:?}"),
            ));
        }
        Ok(())
    }

    // ---- reading the blob as the call sees it ----

    /// The blob stores made before call `c` into `[off, off + len)`.
    fn writes_before(&self, c: usize, off: BlobOff, len: usize) -> Vec<Write> {
        let (start, end) = (u64::from(off.0), u64::from(off.0) + len as u64);
        // Stores are at most 8 bytes: one that overlaps starts at most 7
        // bytes before the range.
        let from = off.0.saturating_sub(7);
        let to = u32::try_from(end).unwrap_or(u32::MAX);
        self.writes_by_addr
            .range(from..to)
            .flat_map(|(_, ws)| ws.iter().map(|&i| self.trace.blob_writes[i]))
            .filter(|w| {
                w.calls_before <= c
                    && u64::from(w.at) < end
                    && u64::from(w.at) + u64::from(w.size) > start
            })
            .collect()
    }

    /// Data a call reads as it is in the blob: nothing may be stored into
    /// it at run time.
    fn data(
        &self,
        k: usize,
        c: usize,
        off: BlobOff,
        len: usize,
        what: &str,
    ) -> Result<&'a [u8], Error> {
        let bytes = self.loader.blob.range(off, len)?;
        if let Some(w) = self.writes_before(c, off, len).first() {
            return Err(Error::insn(
                w.pc,
                format!("stores into the {what} of step %{k}"),
            ));
        }
        Ok(bytes)
    }

    /// A call's attributes: the static bytes with the run-time stores'
    /// fields zeroed, and the stored values by field offset. Every store
    /// must be one of `fields` (offset, size), whole.
    fn attrs<T: UapiStruct>(
        &self,
        k: usize,
        c: usize,
        off: BlobOff,
        len: usize,
        fields: &[(usize, u8)],
    ) -> Result<(T, BTreeMap<usize, Val>), Error> {
        if len != size_of::<T>() {
            return Err(Error::decode_step(
                k,
                format!(
                    "attributes of {len} bytes, {} has {}",
                    T::KERNEL_NAME,
                    size_of::<T>()
                ),
            ));
        }
        let mut bytes = self.loader.blob.range(off, len)?.to_vec();
        let mut dynamic = BTreeMap::new();
        for w in self.writes_before(c, off, len) {
            let rel = w.at.checked_sub(off.0).map(|r| r as usize);
            let Some(rel) = rel.filter(|&r| w.cond.is_none() && fields.contains(&(r, w.size)))
            else {
                return Err(Error::insn(
                    w.pc,
                    format!(
                        "stores {} bytes at {} into the {} of step %{k}, where no field is set \
                         at run time",
                        w.size,
                        BlobOff(w.at),
                        T::KERNEL_NAME
                    ),
                ));
            };
            if dynamic.insert(rel, w.val).is_some() {
                return Err(Error::insn(
                    w.pc,
                    format!("sets field {rel} of step %{k} twice"),
                ));
            }
            bytes[rel..rel + w.size as usize].fill(0);
        }
        let attr = T::read_from_bytes(&bytes)
            .map_err(|_| Error::decode_step(k, format!("attributes are no {}", T::KERNEL_NAME)))?;
        Ok((attr, dynamic))
    }

    /// Compares attributes with their re-encoding from the decoded
    /// operation, naming the first field that differs.
    fn same_bytes<T: UapiStruct>(&self, k: usize, have: &T, want: &T) -> Result<(), Error> {
        let (h, w) = (have.as_bytes(), want.as_bytes());
        if let Some(i) = (0..h.len()).find(|&i| h[i] != w[i]) {
            let field = T::FIELDS
                .iter()
                .find(|f| (f.offset..f.offset + f.size).contains(&i))
                .map_or("?", |f| f.name);
            return Err(Error::decode_step(
                k,
                format!(
                    "{} field {field} (byte {i}) holds a value no plan operation expresses",
                    T::KERNEL_NAME
                ),
            ));
        }
        Ok(())
    }

    /// The step whose word `val` reads, if it is a word of `kind`.
    fn word_ref(&self, k: usize, val: Val, kinds: &[WordKind], what: &str) -> Result<Ref, Error> {
        if let Val::CtxWord(w) = val {
            if let Some(&(owner, kind)) = self.words.get(&w) {
                if kinds.contains(&kind) && owner < k {
                    return Ok(Ref(owner as u32));
                }
            }
        }
        Err(Error::decode_step(
            k,
            format!("{what} is {val:?}, not the result of an earlier step"),
        ))
    }

    fn blob_ptr(&self, k: usize, val: Option<&Val>, what: &str) -> Result<Option<BlobOff>, Error> {
        match val {
            None => Ok(None),
            Some(Val::Blob(b)) => Ok(Some(*b)),
            Some(other) => Err(Error::decode_step(k, format!("{what} points at {other:?}"))),
        }
    }

    fn map_of(&self, k: usize, val: Option<&Val>, what: &str) -> Result<Ref, Error> {
        let val = val.copied().unwrap_or(Val::Uninit);
        let r = self.word_ref(k, val, &[WordKind::Fd, WordKind::Input], what)?;
        match self.ops.get(r.index()) {
            Some(Op::CreateMap(_) | Op::ReuseMap(_)) => Ok(r),
            _ => Err(Error::decode_step(k, format!("{what} is {r}, no map"))),
        }
    }

    fn map_shape(&self, r: Ref) -> Option<&CreateMap> {
        match self.ops.get(r.index()) {
            Some(Op::CreateMap(m)) => Some(m),
            Some(Op::ReuseMap(reuse)) => Some(&reuse.expect),
            _ => None,
        }
    }

    // ---- operations ----

    fn load_btf(&self, k: usize, c: usize, attr: BlobOff, len: usize) -> Result<Op, Error> {
        let btf = offset_of!(BtfLoadAttr, btf);
        let (a, dynamic) = self.attrs::<BtfLoadAttr>(k, c, attr, len, &[(btf, 8)])?;
        let data = match self.blob_ptr(k, dynamic.get(&btf), "btf")? {
            Some(p) => self.data(k, c, p, a.btf_size as usize, "BTF")?.to_vec(),
            None => Vec::new(),
        };
        if data.len() != a.btf_size as usize {
            return Err(Error::decode_step(k, "a BTF size without BTF"));
        }
        self.same_bytes(k, &a, &btf_load_attr(a.btf_size))?;
        Ok(Op::LoadBtf(LoadBtf { data }))
    }

    fn create_map(&self, k: usize, c: usize, attr: BlobOff, len: usize) -> Result<Op, Error> {
        let Step::CreateMap { name, handle, .. } = &self.loader.steps[k] else {
            unreachable!("check_cmd: a map_create step")
        };
        let btf_fd = offset_of!(MapCreateAttr, btf_fd);
        let inner_fd = offset_of!(MapCreateAttr, inner_map_fd);
        let vmlinux_type = offset_of!(MapCreateAttr, btf_vmlinux_value_type_id);
        let (a, dynamic) = self.attrs::<MapCreateAttr>(
            k,
            c,
            attr,
            len,
            &[(btf_fd, 4), (inner_fd, 4), (vmlinux_type, 4)],
        )?;
        let kernel_name = kernel_name(k, &a.map_name)?;
        let mut m = CreateMap::new(name, a.map_type, a.key_size, a.value_size, a.max_entries);
        m.kernel_name = kernel_name;
        m.map_flags = a.map_flags;
        m.numa_node = a.numa_node;
        m.map_extra = a.map_extra;
        m.btf_key_type_id = a.btf_key_type_id;
        m.btf_value_type_id = a.btf_value_type_id;
        if let Some(&v) = dynamic.get(&btf_fd) {
            let r = self.word_ref(k, v, &[WordKind::Fd], "btf_fd")?;
            if !matches!(self.ops[r.index()], Op::LoadBtf(_)) {
                return Err(Error::decode_step(k, format!("btf_fd is {r}, no BTF")));
            }
            m.btf = Some(r);
        } else if m.btf_key_type_id != 0 || m.btf_value_type_id != 0 {
            return Err(Error::decode_step(k, "BTF type ids without a BTF object"));
        }
        if dynamic.contains_key(&inner_fd) {
            m.inner_map = Some(self.map_of(k, dynamic.get(&inner_fd), "inner_map_fd")?);
        }
        if let Some(&v) = dynamic.get(&vmlinux_type) {
            m.btf_vmlinux_value_type =
                Some(self.word_ref(k, v, &[WordKind::Id], "btf_vmlinux_value_type_id")?);
        }
        self.same_bytes(k, &a, &map_create_attr(&m))?;
        let is_inner = self.inner_templates.contains(&k);
        if *handle == is_inner {
            return Err(Error::decode_step(
                k,
                format!(
                    "the descriptor says the map is {}a handle, yet it is {}an inner map template",
                    if *handle { "" } else { "not " },
                    if is_inner { "" } else { "not " }
                ),
            ));
        }
        Ok(Op::CreateMap(m))
    }

    /// The inner map a later map-create step names (read straight from
    /// its stores, before that step is decoded).
    fn inner_of(&self, j: usize) -> Option<Ref> {
        let c = self.call_of_step[j]?;
        let attr = self.loader.steps[j].attr()?;
        let at = attr.0 + offset_of!(MapCreateAttr, inner_map_fd) as u32;
        let w = self
            .writes_before(c, BlobOff(at), 4)
            .into_iter()
            .find(|w| w.at == at)?;
        match w.val {
            Val::CtxWord(word) => self.words.get(&word).map(|&(s, _)| Ref(s as u32)),
            _ => None,
        }
    }

    fn update_elem(&self, k: usize, c: usize, attr: BlobOff, len: usize) -> Result<Op, Error> {
        let map_fd = offset_of!(MapElemAttr, map_fd);
        let key_f = offset_of!(MapElemAttr, key);
        let value_f = offset_of!(MapElemAttr, value);
        let (a, dynamic) =
            self.attrs::<MapElemAttr>(k, c, attr, len, &[(map_fd, 4), (key_f, 8), (value_f, 8)])?;
        let map = self.map_of(k, dynamic.get(&map_fd), "map_fd")?;
        let shape = self
            .map_shape(map)
            .ok_or_else(|| Error::decode_step(k, format!("{map} is no map")))?;
        let key_ptr = self.blob_ptr(k, dynamic.get(&key_f), "key")?;
        let value_ptr = self.blob_ptr(k, dynamic.get(&value_f), "value")?;
        self.same_bytes(k, &a, &elem_attr(a.flags))?;
        let mut kconfig = Vec::new();
        if let Step::UpdateElem {
            value, kconfig: k2, ..
        } = &self.loader.steps[k]
        {
            if *value != value_ptr {
                return Err(Error::decode_step(
                    k,
                    format!(
                        "the descriptor puts the value at {value:?}, the instructions at {value_ptr:?}"
                    ),
                ));
            }
            kconfig.clone_from(k2);
        }
        let plain = |op: Op| {
            if kconfig.is_empty() {
                Ok(op)
            } else {
                Err(Error::decode_step(
                    k,
                    format!("kconfig variables on a {} step", op.mnemonic()),
                ))
            }
        };
        if shape.map_type == MapType::STRUCT_OPS {
            let op = self.struct_ops_value(k, c, map, shape, key_ptr, value_ptr, a.flags)?;
            return plain(op);
        }
        // A value holding another step's fd is a slot of a map-in-map or
        // prog array.
        if let Some(v) = value_ptr {
            let stores: Vec<Write> = self.writes_before(c, v, 4);
            if let Some(w) = stores.first() {
                if stores.len() != 1 || w.at != v.0 || w.size != 4 || w.cond.is_some() {
                    return Err(Error::insn(
                        w.pc,
                        format!("a partial store into the value of step %{k}"),
                    ));
                }
                let value =
                    self.word_ref(k, w.val, &[WordKind::Fd, WordKind::Input], "the slot's fd")?;
                let value_kind = self.ops[value.index()].produces();
                if !matches!(value_kind, Produces::Map | Produces::Prog) || a.flags != 0 {
                    return Err(Error::decode_step(k, "a slot holding no map or program fd"));
                }
                let key = self.data(k, c, key_ptr.unwrap_or_default(), 4, "key")?;
                if key_ptr.is_none() || shape.key_size != 4 || shape.value_size != 4 {
                    return Err(Error::decode_step(
                        k,
                        "a slot of a map without u32 keys and values",
                    ));
                }
                let Ok(key) = <[u8; 4]>::try_from(key) else {
                    unreachable!("4 bytes read")
                };
                return plain(Op::SetFd(SetFd {
                    map,
                    key: u32::from_ne_bytes(key),
                    value,
                    value_kind,
                }));
            }
        }
        let read = |p: Option<BlobOff>, len: u32, what: &str| -> Result<Vec<u8>, Error> {
            match p {
                Some(p) => Ok(self.data(k, c, p, len as usize, what)?.to_vec()),
                None if len == 0 => Ok(Vec::new()),
                None => Err(Error::decode_step(
                    k,
                    format!("no {what} for a map whose {what} has {len} bytes"),
                )),
            }
        };
        Ok(Op::UpdateElem(UpdateElem {
            map,
            key: read(key_ptr, shape.key_size, "key")?,
            value: read(value_ptr, shape.value_size, "value")?,
            flags: a.flags,
            kconfig,
        }))
    }

    /// A struct_ops map's value: its programs' fds stored into their
    /// members at run time.
    #[allow(clippy::too_many_arguments)]
    fn struct_ops_value(
        &self,
        k: usize,
        c: usize,
        map: Ref,
        shape: &CreateMap,
        key: Option<BlobOff>,
        value: Option<BlobOff>,
        flags: u64,
    ) -> Result<Op, Error> {
        let bad = |what: &str| Error::decode_step(k, format!("struct_ops value: {what}"));
        let (Some(key), Some(value)) = (key, value) else {
            return Err(bad("no key or no value"));
        };
        if flags != 0 || shape.key_size != 4 || self.data(k, c, key, 4, "key")? != [0; 4] {
            return Err(bad("not element 0, or flags set"));
        }
        let len = shape.value_size as usize;
        let bytes = self.loader.blob.range(value, len)?.to_vec();
        let mut progs = Vec::new();
        for w in self.writes_before(c, value, len) {
            let at =
                w.at.checked_sub(value.0)
                    .filter(|_| w.size == 4 && w.cond.is_none());
            let Some(at) = at.filter(|&at| at as usize + 8 <= len) else {
                return Err(Error::insn(
                    w.pc,
                    format!("a partial store into the value of step %{k}"),
                ));
            };
            let prog = self.word_ref(k, w.val, &[WordKind::Fd], "a member's program")?;
            if self.ops[prog.index()].produces() != Produces::Prog {
                return Err(bad("a member set to something but a program"));
            }
            if bytes[at as usize..at as usize + 8] != [0; 8] {
                return Err(bad("a member's upper half set"));
            }
            progs.push((at, prog));
        }
        progs.sort_unstable();
        Ok(Op::StructOpsValue(StructOpsValue {
            map,
            value: bytes,
            progs,
        }))
    }

    fn freeze(&self, k: usize, c: usize, attr: BlobOff, len: usize) -> Result<Op, Error> {
        let map_fd = offset_of!(MapElemAttr, map_fd);
        let (a, dynamic) = self.attrs::<MapElemAttr>(k, c, attr, len, &[(map_fd, 4)])?;
        let map = self.map_of(k, dynamic.get(&map_fd), "map_fd")?;
        self.same_bytes(k, &a, &elem_attr(0))?;
        Ok(Op::Freeze(Freeze { map }))
    }

    fn load_prog(&self, k: usize, c: usize, attr: BlobOff, len: usize) -> Result<Op, Error> {
        let Step::LoadProg {
            name,
            attach_type_given,
            core_applied,
            poisoned,
            ..
        } = &self.loader.steps[k]
        else {
            unreachable!("check_cmd: a prog_load step")
        };
        let f_insns = offset_of!(ProgLoadAttr, insns);
        let f_license = offset_of!(ProgLoadAttr, license);
        let f_btf = offset_of!(ProgLoadAttr, prog_btf_fd);
        let f_func = offset_of!(ProgLoadAttr, func_info);
        let f_line = offset_of!(ProgLoadAttr, line_info);
        let f_attach_id = offset_of!(ProgLoadAttr, attach_btf_id);
        let f_attach_fd = offset_of!(ProgLoadAttr, attach_prog_fd);
        let f_fd_array = offset_of!(ProgLoadAttr, fd_array);
        let f_core = offset_of!(ProgLoadAttr, core_relos);
        let (a, dynamic) = self.attrs::<ProgLoadAttr>(
            k,
            c,
            attr,
            len,
            &[
                (f_insns, 8),
                (f_license, 8),
                (f_btf, 4),
                (f_func, 8),
                (f_line, 8),
                (f_attach_id, 4),
                (f_attach_fd, 4),
                (f_fd_array, 8),
                (f_core, 8),
            ],
        )?;
        let license = match self.blob_ptr(k, dynamic.get(&f_license), "license")? {
            Some(p) => String::from_utf8(self.loader.blob.c_str(p)?.to_vec())
                .map_err(|_| Error::decode_step(k, "license is not UTF-8"))?,
            None => return Err(Error::decode_step(k, "no license")),
        };
        let mut p = LoadProg::new(name, a.prog_type, &license);
        p.kernel_name = kernel_name(k, &a.prog_name)?;
        p.expected_attach_type = (a.expected_attach_type != AttachType(0) || *attach_type_given)
            .then_some(a.expected_attach_type);
        p.prog_flags = a.prog_flags;
        p.kern_version = a.kern_version;
        p.core_applied = *core_applied;
        p.poisoned = poisoned.clone();
        if let Some(&v) = dynamic.get(&f_btf) {
            let r = self.word_ref(k, v, &[WordKind::Fd], "prog_btf_fd")?;
            if !matches!(self.ops[r.index()], Op::LoadBtf(_)) {
                return Err(Error::decode_step(k, format!("prog_btf_fd is {r}, no BTF")));
            }
            p.btf = Some(r);
        }
        match (dynamic.get(&f_attach_id), dynamic.get(&f_attach_fd)) {
            (None, None) => {}
            (Some(&id), Some(&module)) => {
                let r = self.word_ref(k, id, &[WordKind::Id], "attach_btf_id")?;
                let m = self.word_ref(k, module, &[WordKind::Module], "attach_btf_obj_fd")?;
                if r != m {
                    return Err(Error::decode_step(k, "attach id and module of two lookups"));
                }
                p.attach_btf = Some(r);
            }
            _ => return Err(Error::decode_step(k, "attach id without its module fd")),
        }
        let fd_array = match dynamic.get(&f_fd_array) {
            None => false,
            Some(Val::CtxPlus(o)) if *o == ctx::WORDS.0 => true,
            Some(other) => {
                return Err(Error::decode_step(
                    k,
                    format!("fd_array is {other:?}, not the result words"),
                ));
            }
        };
        let insns_ptr = self.blob_ptr(k, dynamic.get(&f_insns), "insns")?;
        (p.insns, p.patches) = self.program(k, c, insns_ptr, a.insn_cnt, fd_array)?;
        let func = self.blob_ptr(k, dynamic.get(&f_func), "func_info")?;
        let line = self.blob_ptr(k, dynamic.get(&f_line), "line_info")?;
        let records =
            |ptr: Option<BlobOff>, cnt: u32, rec: usize, what: &str| -> Result<Vec<u32>, Error> {
                let len = cnt as usize * rec;
                match ptr {
                    None if cnt == 0 => Ok(Vec::new()),
                    None => Err(Error::decode_step(
                        k,
                        format!("{cnt} {what} records without an address"),
                    )),
                    Some(p) => Ok(self
                        .data(k, c, p, len, what)?
                        .chunks_exact(4)
                        .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                        .collect()),
                }
            };
        p.func_info = records(func, a.func_info_cnt, 8, "func_info")?
            .chunks_exact(2)
            .map(|r| FuncInfo {
                insn: InsnIdx(r[0] as usize),
                type_id: r[1],
            })
            .collect();
        p.line_info = records(line, a.line_info_cnt, 16, "line_info")?
            .chunks_exact(4)
            .map(|r| LineInfo {
                insn: InsnIdx(r[0] as usize),
                file_name_off: r[1],
                line_off: r[2],
                line_col: r[3],
            })
            .collect();
        if p.btf.is_none() && (func.is_some() || line.is_some()) {
            return Err(Error::decode_step(k, "func_info or line_info without BTF"));
        }
        let core = self.blob_ptr(k, dynamic.get(&f_core), "core_relos")?;
        let core_words = records(core, a.core_relo_cnt, CORE_RELO_SIZE as usize, "core_relos")?;
        for r in core_words.chunks_exact(4) {
            if r[0] % 8 != 0 {
                return Err(Error::decode_step(
                    k,
                    format!("a CO-RE relocation at byte {} of the instructions", r[0]),
                ));
            }
            p.core_relos.push(CoreRelo {
                insn: InsnIdx((r[0] / 8) as usize),
                type_id: r[1],
                access_str_off: r[2],
                kind: CoreReloKind::from_u32(r[3]),
            });
        }
        self.same_bytes(
            k,
            &a,
            &prog_load_attr(
                &p,
                a.insn_cnt,
                a.func_info_cnt,
                a.line_info_cnt,
                a.core_relo_cnt,
            ),
        )?;
        Ok(Op::LoadProg(p))
    }

    /// A program's instructions as the plan had them, and its patches
    /// (in instruction order): `fd_array` map references, and the BTF
    /// ids, kfunc calls and addresses the loader writes in.
    fn program(
        &self,
        k: usize,
        c: usize,
        ptr: Option<BlobOff>,
        cnt: u32,
        fd_array: bool,
    ) -> Result<(Vec<Insn>, Vec<Patch>), Error> {
        let Some(base) = ptr else {
            if cnt != 0 {
                return Err(Error::decode_step(
                    k,
                    format!("{cnt} instructions without an address"),
                ));
            }
            return Ok((Vec::new(), Vec::new()));
        };
        let len = cnt as usize * 8;
        let bytes = self.loader.blob.range(base, len)?;
        let mut insns: Vec<Insn> = bytes
            .chunks_exact(8)
            .map(|b| Insn::read_from_bytes(b).unwrap_or_default())
            .collect();
        // Run-time stores, by instruction.
        let mut stores: BTreeMap<usize, Vec<Write>> = BTreeMap::new();
        for w in self.writes_before(c, base, len) {
            let Some(rel) = w.at.checked_sub(base.0) else {
                return Err(Error::insn(
                    w.pc,
                    format!("a store across the start of the instructions of step %{k}"),
                ));
            };
            stores.entry(rel as usize / 8).or_default().push(w);
        }
        let mut patches = Vec::new();
        let bad = |i: usize, what: &str| Error::decode_step(k, format!("instruction {i}: {what}"));
        let mut skip_next = false;
        for i in 0..insns.len() {
            if std::mem::take(&mut skip_next) {
                if stores.contains_key(&i) {
                    // Stores into a second slot belong to its ld_imm64.
                    if !insns[i - 1].is_ld_imm64() {
                        return Err(bad(i, "run-time stores into a second slot"));
                    }
                }
                continue;
            }
            let insn = insns[i];
            skip_next = insn.is_ld_imm64();
            let mut writes = stores.remove(&i).unwrap_or_default();
            if insn.is_ld_imm64() {
                writes.extend(stores.remove(&(i + 1)).unwrap_or_default());
            }
            let at = |w: &Write| (w.at - base.0) as usize - i * 8;
            let kind = if writes.is_empty() {
                if insn.is_ld_imm64()
                    && matches!(insn.src(), pseudo::MAP_IDX | pseudo::MAP_IDX_VALUE)
                {
                    if !fd_array {
                        return Err(bad(i, "a map index without fd_array"));
                    }
                    let word = u32::try_from(insn.imm)
                        .ok()
                        .and_then(|idx| idx.checked_mul(4))
                        .and_then(|o| o.checked_add(ctx::WORDS.0))
                        .map(CtxOff)
                        .ok_or_else(|| bad(i, "a negative map index"))?;
                    let map = self.map_of(k, Some(&Val::CtxWord(word)), "a map reference")?;
                    let kind = if insn.src() == pseudo::MAP_IDX {
                        PatchKind::MapFd(map)
                    } else {
                        let offset = insns[i + 1].imm as u32;
                        insns[i + 1].imm = 0;
                        PatchKind::MapValue { map, offset }
                    };
                    insns[i].set_src(0);
                    insns[i].imm = 0;
                    Some(kind)
                } else if insn.is_kfunc_call() && insn.off != 0 {
                    return Err(bad(i, "a kfunc call through fd_array"));
                } else {
                    None
                }
            } else {
                writes.sort_by_key(|w| at(w));
                let shape: Vec<(usize, u8, Val, Option<Cond>)> = writes
                    .iter()
                    .map(|w| (at(w), w.size, w.val, w.cond))
                    .collect();
                let kind = self.runtime_patch(k, i, insn, &shape)?;
                if let PatchKind::KfuncCall(_) = kind {
                    insns[i] = Insn::new(insn.code, 0, 0, 0, 0);
                }
                Some(kind)
            };
            if let Some(kind) = kind {
                patches.push(Patch {
                    insn: InsnIdx(i),
                    kind,
                });
            }
        }
        if let Some((i, _)) = stores.into_iter().next() {
            return Err(bad(i, "run-time stores past the instructions"));
        }
        Ok((insns, patches))
    }

    /// Recognises the stores of one run-time patch.
    fn runtime_patch(
        &self,
        k: usize,
        i: usize,
        insn: Insn,
        shape: &[(usize, u8, Val, Option<Cond>)],
    ) -> Result<PatchKind, Error> {
        let bad = || {
            Error::decode_step(
                k,
                format!("instruction {i}: run-time stores {shape:?} are no patch a loader makes"),
            )
        };
        let lookup = |id: CtxOff, module: CtxOff| -> Option<Ref> {
            let (s1, k1) = *self.words.get(&id)?;
            let (s2, k2) = *self.words.get(&module)?;
            (s1 == s2 && k1 == WordKind::Id && k2 == WordKind::Module && s1 < k)
                .then_some(Ref(s1 as u32))
        };
        let ld_clear = insn.is_ld_imm64() && insn.src() == 0 && insn.imm == 0 && insn.off == 0;
        match shape {
            // BTF id of a kernel variable or function.
            [
                (1, 1, Val::Const(regs), Some(Cond::NonZero(c))),
                (4, 4, Val::CtxWord(id), None),
                (12, 4, Val::CtxWord(module), None),
            ] if ld_clear
                && c == id
                && *regs == i64::from(Insn::new(0, insn.dst(), pseudo::BTF_ID, 0, 0).regs) =>
            {
                lookup(*id, *module).map(PatchKind::BtfId).ok_or_else(bad)
            }
            // A kfunc call, poisoned until found.
            [
                (1, 1, Val::Const(regs), Some(Cond::NonZero(c1))),
                (2, 2, Val::Const(idx), Some(Cond::Positive(c2))),
                (4, 4, Val::CtxWord(id), Some(Cond::NonZero(c3))),
            ] if insn == Insn::call_helper(KFUNC_POISON)
                && c1 == id
                && c3 == id
                && *regs == i64::from(Insn::new(0, 0, pseudo::KFUNC_CALL, 0, 0).regs)
                && *idx == i64::from(fd_array_index(*c2)) =>
            {
                let r = lookup(*id, *c2).ok_or_else(bad)?;
                Ok(PatchKind::KfuncCall(r))
            }
            // A kernel address.
            [
                (4, 4, Val::BlobWord(lo), None),
                (12, 4, Val::BlobWord(hi), None),
            ] if ld_clear => {
                let (lo_off, hi_off) = if cfg!(target_endian = "big") {
                    (4, 0)
                } else {
                    (0, 4)
                };
                let slot = BlobOff(lo.0.checked_sub(lo_off).ok_or_else(bad)?);
                if hi.0 != slot.0 + hi_off {
                    return Err(bad());
                }
                let &s = self.addr_slots.get(&slot).ok_or_else(bad)?;
                if s >= k {
                    return Err(bad());
                }
                Ok(PatchKind::Address(Ref(s as u32)))
            }
            _ => Err(bad()),
        }
    }

    fn lookup_name(&self, k: usize, c: usize) -> Result<(String, BlobOff), Error> {
        let call = &self.trace.calls[c];
        let (Val::Blob(name), Val::Const(sz)) = (call.args[0], call.args[1]) else {
            return Err(Error::decode_step(
                k,
                format!("a lookup with arguments {:?}", call.args),
            ));
        };
        let bytes = self.loader.blob.c_str(name)?;
        if sz != bytes.len() as i64 + 1 {
            return Err(Error::decode_step(
                k,
                format!("a name of {} bytes looked up as {sz}", bytes.len() + 1),
            ));
        }
        if !self.writes_before(c, name, bytes.len() + 1).is_empty() {
            return Err(Error::decode_step(k, "a name changed at run time"));
        }
        let name_str = String::from_utf8(bytes.to_vec())
            .map_err(|_| Error::decode_step(k, "a name that is not UTF-8"))?;
        Ok((name_str, name))
    }

    fn find_btf_id(&self, k: usize, c: usize) -> Result<Op, Error> {
        let call = &self.trace.calls[c];
        let (name, name_off) = self.lookup_name(k, c)?;
        let (Val::Const(kind), Val::Const(0)) = (call.args[2], call.args[3]) else {
            return Err(Error::decode_step(
                k,
                format!("bpf_btf_find_by_name_kind with {:?}", call.args),
            ));
        };
        let kind = u32::try_from(kind)
            .ok()
            .and_then(Kind::from_u32)
            .ok_or_else(|| Error::decode_step(k, format!("BTF kind {kind}")))?;
        let optional = match call.check {
            Check::Required => false,
            Check::OptionalZero => true,
            Check::Optional => {
                return Err(Error::decode_step(
                    k,
                    "an optional lookup that keeps -ENOENT",
                ));
            }
        };
        let Step::FindBtfId {
            name: d_name,
            kind: d_kind,
            id,
            module_fd,
        } = &self.loader.steps[k]
        else {
            return Err(Error::decode_step(
                k,
                format!(
                    "the descriptor says {}, the loader looks a type up",
                    self.loader.steps[k].mnemonic()
                ),
            ));
        };
        if (*d_name, *d_kind) != (name_off, kind) {
            return Err(Error::decode_step(
                k,
                "the descriptor's lookup differs from the instructions'",
            ));
        }
        self.check_result_word(k, c, Some(*id), WordKind::Id)?;
        self.check_result_word(k, c, Some(*module_fd), WordKind::Module)?;
        Ok(Op::FindBtfId(FindBtfId {
            name,
            kind,
            optional,
        }))
    }

    fn find_ksym(&mut self, k: usize, c: usize) -> Result<Op, Error> {
        let call = &self.trace.calls[c];
        let loader = self.loader;
        let (name, name_off) = self.lookup_name(k, c)?;
        let (Val::Const(0), Val::Blob(addr)) = (call.args[2], call.args[3]) else {
            return Err(Error::decode_step(
                k,
                format!("bpf_kallsyms_lookup_name with {:?}", call.args),
            ));
        };
        self.loader.blob.range(addr, 8)?;
        let optional = match call.check {
            Check::Required => false,
            Check::Optional => true,
            Check::OptionalZero => {
                return Err(Error::decode_step(
                    k,
                    "an address lookup that zeroes its result",
                ));
            }
        };
        let Step::FindKsym {
            name: d_name,
            addr: d_addr,
        } = &loader.steps[k]
        else {
            return Err(Error::decode_step(
                k,
                format!(
                    "the descriptor says {}, the loader looks a symbol up",
                    loader.steps[k].mnemonic()
                ),
            ));
        };
        if (*d_name, *d_addr) != (name_off, addr) {
            return Err(Error::decode_step(
                k,
                "the descriptor's lookup differs from the instructions'",
            ));
        }
        self.check_result_word(k, c, None, WordKind::Fd)?;
        if self.addr_slots.insert(addr, k).is_some() {
            return Err(Error::decode_step(k, "two lookups share an address slot"));
        }
        Ok(Op::FindKsym(FindKsym { name, optional }))
    }
}

/// A kernel object name attribute: NUL-terminated UTF-8, zeros after.
fn kernel_name(k: usize, raw: &[u8; 16]) -> Result<String, Error> {
    let end = raw
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| Error::decode_step(k, "an object name without its NUL"))?;
    String::from_utf8(raw[..end].to_vec())
        .map_err(|_| Error::decode_step(k, "an object name that is not UTF-8"))
}
