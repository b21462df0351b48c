//! Disassembly in the verifier's syntax.
//!
//! The text of each instruction is what the kernel 6.18 verifier log and
//! `bpftool prog dump xlated` print after the `(code)` column, checked line
//! by line against real verifier logs (see the crate docs for where and why
//! we differ).

use core::fmt;

use crate::error::InsnIdx;
use crate::helpers::helper_name;
use crate::insn::Insn;
use crate::instruction::{AtomicOp, ByteSwap, Call, Imm64, Instruction, Operand, Size, Width};

/// Something a disassembly names: what a naming callback is asked about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Target {
    /// A helper call by id (the default name comes from
    /// [`helper_name`]).
    Helper(i32),
    /// A kfunc call.
    Kfunc {
        /// BTF id of the function.
        btf_id: i32,
        /// `fd_array` index of its module BTF, 0 for vmlinux.
        fd_idx: i16,
    },
    /// A map by fd (`ld_imm64` src 1 or 2).
    MapFd(i32),
    /// A map by `fd_array` index (`ld_imm64` src 5 or 6).
    MapIdx(i32),
    /// A kernel variable (`ld_imm64` src 3).
    Ksym {
        /// BTF id of the VAR.
        btf_id: i32,
        /// Module BTF fd, 0 for vmlinux.
        btf_fd: i32,
    },
    /// A subprogram by the absolute slot index it starts at (calls and
    /// `ld_imm64` src 4).
    Subprog(InsnIdx),
}

/// A naming callback: returns a name for a target, or `None` for the
/// default spelling.
pub type Names<'a> = &'a dyn Fn(&Target) -> Option<String>;

fn no_names(_: &Target) -> Option<String> {
    None
}

fn reg(f: &mut fmt::Formatter<'_>, width: Width, r: u8) -> fmt::Result {
    match width {
        Width::W32 => write!(f, "w{r}"),
        Width::W64 => write!(f, "r{r}"),
    }
}

fn ty(size: Size, signed: bool) -> &'static str {
    match (size, signed) {
        (Size::B, false) => "u8",
        (Size::H, false) => "u16",
        (Size::W, false) => "u32",
        (Size::DW, false) => "u64",
        (Size::B, true) => "s8",
        (Size::H, true) => "s16",
        (Size::W, true) => "s32",
        (Size::DW, true) => "s64",
    }
}

/// An instruction with the context needed to name its targets.
pub struct DisplayInsn<'a> {
    insn: &'a Instruction,
    idx: Option<usize>,
    names: Names<'a>,
}

impl Instruction {
    /// Displays the instruction as found at slot `idx`, asking `names` for
    /// the names of helpers, kfuncs, maps, kernel variables and
    /// subprograms.
    pub fn display_with<'a>(&'a self, idx: usize, names: Names<'a>) -> DisplayInsn<'a> {
        DisplayInsn {
            insn: self,
            idx: Some(idx),
            names,
        }
    }
}

impl fmt::Display for Instruction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(
            &DisplayInsn {
                insn: self,
                idx: None,
                names: &no_names,
            },
            f,
        )
    }
}

impl DisplayInsn<'_> {
    fn subprog_name(&self, rel: i32) -> Option<String> {
        let idx = usize::try_from(self.idx? as isize + 1 + rel as isize).ok()?;
        (self.names)(&Target::Subprog(InsnIdx(idx)))
    }
}

impl fmt::Display for DisplayInsn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Instruction as I;
        match *self.insn {
            I::Alu {
                width,
                op,
                dst,
                src,
            } => {
                reg(f, width, dst)?;
                write!(f, " {} ", op.symbol())?;
                match src {
                    Operand::Reg(s) => reg(f, width, s),
                    Operand::Imm(imm) => write!(f, "{imm}"),
                }
            }
            I::Neg { width, dst } => {
                reg(f, width, dst)?;
                f.write_str(" = -")?;
                reg(f, width, dst)
            }
            I::MovSx {
                width,
                bits,
                dst,
                src,
            } => {
                reg(f, width, dst)?;
                write!(f, " = (s{bits})")?;
                reg(f, width, src)
            }
            I::AddrSpaceCast {
                dst,
                src,
                dst_as,
                src_as,
            } => {
                write!(f, "r{dst} = addr_space_cast(r{src}, {dst_as}, {src_as})")
            }
            I::Endian { kind, bits, dst } => {
                let name = match kind {
                    ByteSwap::ToLe => "le",
                    ByteSwap::ToBe => "be",
                    ByteSwap::Bswap => "bswap",
                };
                write!(f, "r{dst} = {name}{bits} r{dst}")
            }
            I::LdImm64 { dst, imm } => {
                write!(f, "r{dst} = ")?;
                let names = self.names;
                match imm {
                    Imm64::Value(v) => write!(f, "{v:#x}"),
                    Imm64::MapFd(fd) => match names(&Target::MapFd(fd)) {
                        Some(n) => write!(f, "map[{n}]"),
                        None => write!(f, "map[fd:{fd}]"),
                    },
                    Imm64::MapIdx(idx) => match names(&Target::MapIdx(idx)) {
                        Some(n) => write!(f, "map[{n}]"),
                        None => write!(f, "map[idx:{idx}]"),
                    },
                    Imm64::MapValue { fd, off } => {
                        match names(&Target::MapFd(fd)) {
                            Some(n) => write!(f, "map_value[{n}]")?,
                            None => write!(f, "map_value[fd:{fd}]")?,
                        }
                        if off != 0 {
                            write!(f, "+{off}")
                        } else {
                            Ok(())
                        }
                    }
                    Imm64::MapIdxValue { idx, off } => {
                        match names(&Target::MapIdx(idx)) {
                            Some(n) => write!(f, "map_value[{n}]")?,
                            None => write!(f, "map_value[idx:{idx}]")?,
                        }
                        if off != 0 {
                            write!(f, "+{off}")
                        } else {
                            Ok(())
                        }
                    }
                    Imm64::BtfId { btf_id, btf_fd } => {
                        match names(&Target::Ksym { btf_id, btf_fd }) {
                            Some(n) => write!(f, "ksym[{n}]"),
                            None if btf_fd != 0 => {
                                write!(f, "ksym[btf_id:{btf_id},btf_fd:{btf_fd}]")
                            }
                            None => write!(f, "ksym[btf_id:{btf_id}]"),
                        }
                    }
                    Imm64::Func(rel) => match self.subprog_name(rel) {
                        Some(n) => write!(f, "func[{n}#pc{rel:+}]"),
                        None => write!(f, "func[pc{rel:+}]"),
                    },
                }
            }
            I::LdAbs { size, imm } => write!(f, "r0 = *({} *)skb[{imm}]", ty(size, false)),
            I::LdInd { size, src, imm } => {
                write!(f, "r0 = *({} *)skb[r{src} + {imm}]", ty(size, false))
            }
            I::Load {
                size,
                sign_extend,
                dst,
                src,
                off,
            } => {
                write!(f, "r{dst} = *({} *)(r{src} {off:+})", ty(size, sign_extend))
            }
            I::Store {
                size,
                dst,
                off,
                value,
            } => {
                write!(f, "*({} *)(r{dst} {off:+}) = ", ty(size, false))?;
                match value {
                    Operand::Reg(s) => write!(f, "r{s}"),
                    Operand::Imm(imm) => write!(f, "{imm}"),
                }
            }
            I::Atomic {
                size,
                op,
                dst,
                src,
                off,
            } => {
                let t = ty(size, false);
                let prefix = if size == Size::DW {
                    "atomic64"
                } else {
                    "atomic"
                };
                let lock = |f: &mut fmt::Formatter<'_>, sym: &str| {
                    write!(f, "lock *({t} *)(r{dst} {off:+}) {sym} r{src}")
                };
                let fetch = |f: &mut fmt::Formatter<'_>, name: &str| {
                    write!(
                        f,
                        "r{src} = {prefix}_{name}(({t} *)(r{dst} {off:+}), r{src})"
                    )
                };
                match op {
                    AtomicOp::Add => lock(f, "+="),
                    AtomicOp::Or => lock(f, "|="),
                    AtomicOp::And => lock(f, "&="),
                    AtomicOp::Xor => lock(f, "^="),
                    AtomicOp::FetchAdd => fetch(f, "fetch_add"),
                    AtomicOp::FetchOr => fetch(f, "fetch_or"),
                    AtomicOp::FetchAnd => fetch(f, "fetch_and"),
                    AtomicOp::FetchXor => fetch(f, "fetch_xor"),
                    AtomicOp::Xchg => fetch(f, "xchg"),
                    AtomicOp::CmpXchg => {
                        write!(
                            f,
                            "r0 = {prefix}_cmpxchg(({t} *)(r{dst} {off:+}), r0, r{src})"
                        )
                    }
                    AtomicOp::LoadAcquire => {
                        write!(f, "r{dst} = load_acquire(({t} *)(r{src} {off:+}))")
                    }
                    AtomicOp::StoreRelease => {
                        write!(f, "store_release(({t} *)(r{dst} {off:+}), r{src})")
                    }
                }
            }
            I::Ja { off } => write!(f, "goto pc{off:+}"),
            I::Gotol { imm } => write!(f, "gotol pc{imm:+}"),
            I::Jmp {
                width,
                op,
                dst,
                src,
                off,
            } => {
                f.write_str("if ")?;
                reg(f, width, dst)?;
                write!(f, " {} ", op.symbol())?;
                match src {
                    Operand::Reg(s) => reg(f, width, s)?,
                    Operand::Imm(imm) => write!(f, "{:#x}", imm as u32)?,
                }
                write!(f, " goto pc{off:+}")
            }
            I::MayGoto { off } => write!(f, "may_goto pc{off:+}"),
            I::Call(Call::Helper(id)) => {
                let named = (self.names)(&Target::Helper(id));
                let name = named
                    .as_deref()
                    .or_else(|| helper_name(id))
                    .unwrap_or("unknown");
                write!(f, "call {name}#{id}")
            }
            I::Call(Call::Subprog(rel)) => match self.subprog_name(rel) {
                Some(n) => write!(f, "call {n}#pc{rel:+}"),
                None => write!(f, "call pc{rel:+}"),
            },
            I::Call(Call::Kfunc { btf_id, fd_idx }) => {
                let named = (self.names)(&Target::Kfunc { btf_id, fd_idx });
                let name = named.as_deref().unwrap_or("kernel-function");
                write!(f, "call {name}#{btf_id}")?;
                if fd_idx != 0 {
                    write!(f, " (fd_array[{fd_idx}])")
                } else {
                    Ok(())
                }
            }
            I::Exit => f.write_str("exit"),
        }
    }
}

/// A program's disassembly: one numbered line per instruction, in the
/// layout of `bpftool prog dump xlated` (`   3: (bf) r6 = r1`). An
/// `ld_imm64` takes two slot numbers, so the next line skips one. A slot
/// that does not decode prints `<invalid: reason>` and disassembly goes
/// on at the next slot.
pub struct Disasm<'a> {
    insns: &'a [Insn],
    names: Names<'a>,
}

/// Disassembles `insns`, naming helpers from the built-in table.
pub fn disasm(insns: &[Insn]) -> Disasm<'_> {
    Disasm {
        insns,
        names: &no_names,
    }
}

/// Disassembles `insns`, asking `names` for the names of helpers, kfuncs,
/// maps, kernel variables and subprograms (`None` keeps the default).
pub fn disasm_with<'a>(insns: &'a [Insn], names: Names<'a>) -> Disasm<'a> {
    Disasm { insns, names }
}

impl fmt::Display for Disasm<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut idx = 0;
        while let Some(insn) = self.insns.get(idx) {
            write!(f, "{idx:>4}: ({:02x}) ", insn.code)?;
            match Instruction::decode(self.insns, idx) {
                Ok(ins) => {
                    writeln!(f, "{}", ins.display_with(idx, self.names))?;
                    idx += ins.slots();
                }
                Err(e) => {
                    writeln!(f, "<invalid: {e}>")?;
                    idx += 1;
                }
            }
        }
        Ok(())
    }
}
