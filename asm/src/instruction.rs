//! The decoded form of an instruction: one enum variant per kind of
//! operation, with the operands it really has.
//!
//! [`Instruction::decode`] accepts exactly the encodings of the
//! instruction-set document (unused fields must be zero, registers at most
//! r10); [`Instruction::encode`] is its inverse, so
//! `encode(decode(x)) == x` for every accepted `x`.

use crate::error::{Error, InsnIdx};
use crate::insn::Insn;
use crate::opcode::{alu, atomic, class, endian, jmp, mode, pseudo, size, source};
use crate::reg;

/// Operand width of arithmetic and jump instructions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Width {
    /// `ALU` / `JMP32`: 32-bit operands (`w` registers).
    W32,
    /// `ALU64` / `JMP`: 64-bit operands (`r` registers).
    W64,
}

/// Memory access size of loads, stores and atomics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Size {
    /// 1 byte.
    B,
    /// 2 bytes.
    H,
    /// 4 bytes.
    W,
    /// 8 bytes.
    DW,
}

impl Size {
    /// The size bits of `code` ([`size`] constants).
    pub const fn code(self) -> u8 {
        match self {
            Size::B => size::B,
            Size::H => size::H,
            Size::W => size::W,
            Size::DW => size::DW,
        }
    }

    /// The size selected by the size bits of `code`.
    pub const fn from_code(code: u8) -> Size {
        match code & size::MASK {
            size::B => Size::B,
            size::H => Size::H,
            size::W => Size::W,
            _ => Size::DW,
        }
    }

    /// Number of bytes accessed.
    pub const fn bytes(self) -> u8 {
        match self {
            Size::B => 1,
            Size::H => 2,
            Size::W => 4,
            Size::DW => 8,
        }
    }
}

/// Second operand of arithmetic, jump and store instructions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operand {
    /// A register (`src_reg`, source bit `X`).
    Reg(u8),
    /// The immediate (`imm`, source bit `K`).
    Imm(i32),
}

/// Two-operand arithmetic operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AluOp {
    /// `+=`
    Add,
    /// `-=`
    Sub,
    /// `*=`
    Mul,
    /// `/=` unsigned
    Div,
    /// `s/=` signed (`DIV` with `off` 1)
    SDiv,
    /// `|=`
    Or,
    /// `&=`
    And,
    /// `<<=`
    Lsh,
    /// `>>=` logical
    Rsh,
    /// `%=` unsigned
    Mod,
    /// `s%=` signed (`MOD` with `off` 1)
    SMod,
    /// `^=`
    Xor,
    /// `=`
    Mov,
    /// `s>>=` arithmetic
    Arsh,
}

impl AluOp {
    /// The operation bits of `code` and the `off` value that encode it.
    pub const fn code_off(self) -> (u8, i16) {
        match self {
            AluOp::Add => (alu::ADD, 0),
            AluOp::Sub => (alu::SUB, 0),
            AluOp::Mul => (alu::MUL, 0),
            AluOp::Div => (alu::DIV, 0),
            AluOp::SDiv => (alu::DIV, alu::OFF_SIGNED),
            AluOp::Or => (alu::OR, 0),
            AluOp::And => (alu::AND, 0),
            AluOp::Lsh => (alu::LSH, 0),
            AluOp::Rsh => (alu::RSH, 0),
            AluOp::Mod => (alu::MOD, 0),
            AluOp::SMod => (alu::MOD, alu::OFF_SIGNED),
            AluOp::Xor => (alu::XOR, 0),
            AluOp::Mov => (alu::MOV, 0),
            AluOp::Arsh => (alu::ARSH, 0),
        }
    }

    /// The verifier's spelling of the operator (`+=`, `s>>=`, `=`...).
    pub const fn symbol(self) -> &'static str {
        match self {
            AluOp::Add => "+=",
            AluOp::Sub => "-=",
            AluOp::Mul => "*=",
            AluOp::Div => "/=",
            AluOp::SDiv => "s/=",
            AluOp::Or => "|=",
            AluOp::And => "&=",
            AluOp::Lsh => "<<=",
            AluOp::Rsh => ">>=",
            AluOp::Mod => "%=",
            AluOp::SMod => "s%=",
            AluOp::Xor => "^=",
            AluOp::Mov => "=",
            AluOp::Arsh => "s>>=",
        }
    }
}

/// Byte swap kinds (`END`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ByteSwap {
    /// `ALU | END | TO_LE`: host to little endian.
    ToLe,
    /// `ALU | END | TO_BE`: host to big endian.
    ToBe,
    /// `ALU64 | END`: unconditional swap.
    Bswap,
}

/// Conditional jump comparisons.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JmpOp {
    /// `==`
    Eq,
    /// `>` unsigned
    Gt,
    /// `>=` unsigned
    Ge,
    /// `&`
    Set,
    /// `!=`
    Ne,
    /// `s>`
    Sgt,
    /// `s>=`
    Sge,
    /// `<` unsigned
    Lt,
    /// `<=` unsigned
    Le,
    /// `s<`
    Slt,
    /// `s<=`
    Sle,
}

impl JmpOp {
    /// The operation bits of `code`.
    pub const fn code(self) -> u8 {
        match self {
            JmpOp::Eq => jmp::JEQ,
            JmpOp::Gt => jmp::JGT,
            JmpOp::Ge => jmp::JGE,
            JmpOp::Set => jmp::JSET,
            JmpOp::Ne => jmp::JNE,
            JmpOp::Sgt => jmp::JSGT,
            JmpOp::Sge => jmp::JSGE,
            JmpOp::Lt => jmp::JLT,
            JmpOp::Le => jmp::JLE,
            JmpOp::Slt => jmp::JSLT,
            JmpOp::Sle => jmp::JSLE,
        }
    }

    /// The comparison of the operation bits `op`, if it is one.
    pub const fn from_code(op: u8) -> Option<JmpOp> {
        Some(match op & jmp::OP_MASK {
            jmp::JEQ => JmpOp::Eq,
            jmp::JGT => JmpOp::Gt,
            jmp::JGE => JmpOp::Ge,
            jmp::JSET => JmpOp::Set,
            jmp::JNE => JmpOp::Ne,
            jmp::JSGT => JmpOp::Sgt,
            jmp::JSGE => JmpOp::Sge,
            jmp::JLT => JmpOp::Lt,
            jmp::JLE => JmpOp::Le,
            jmp::JSLT => JmpOp::Slt,
            jmp::JSLE => JmpOp::Sle,
            _ => return None,
        })
    }

    /// The verifier's spelling of the comparison.
    pub const fn symbol(self) -> &'static str {
        match self {
            JmpOp::Eq => "==",
            JmpOp::Gt => ">",
            JmpOp::Ge => ">=",
            JmpOp::Set => "&",
            JmpOp::Ne => "!=",
            JmpOp::Sgt => "s>",
            JmpOp::Sge => "s>=",
            JmpOp::Lt => "<",
            JmpOp::Le => "<=",
            JmpOp::Slt => "s<",
            JmpOp::Sle => "s<=",
        }
    }
}

/// Atomic operations (`STX | ATOMIC`, selected by `imm`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AtomicOp {
    /// `lock *(size *)(dst + off) += src`
    Add,
    /// `lock ... |= src`
    Or,
    /// `lock ... &= src`
    And,
    /// `lock ... ^= src`
    Xor,
    /// `src = atomic_fetch_add((size *)(dst + off), src)`
    FetchAdd,
    /// `src = atomic_fetch_or(...)`
    FetchOr,
    /// `src = atomic_fetch_and(...)`
    FetchAnd,
    /// `src = atomic_fetch_xor(...)`
    FetchXor,
    /// `src = atomic_xchg((size *)(dst + off), src)`
    Xchg,
    /// `r0 = atomic_cmpxchg((size *)(dst + off), r0, src)`
    CmpXchg,
    /// `dst = load_acquire((size *)(src + off))`
    LoadAcquire,
    /// `store_release((size *)(dst + off), src)`
    StoreRelease,
}

impl AtomicOp {
    /// The `imm` that encodes the operation ([`atomic`] constants).
    pub const fn imm(self) -> i32 {
        match self {
            AtomicOp::Add => atomic::ADD,
            AtomicOp::Or => atomic::OR,
            AtomicOp::And => atomic::AND,
            AtomicOp::Xor => atomic::XOR,
            AtomicOp::FetchAdd => atomic::ADD | atomic::FETCH,
            AtomicOp::FetchOr => atomic::OR | atomic::FETCH,
            AtomicOp::FetchAnd => atomic::AND | atomic::FETCH,
            AtomicOp::FetchXor => atomic::XOR | atomic::FETCH,
            AtomicOp::Xchg => atomic::XCHG,
            AtomicOp::CmpXchg => atomic::CMPXCHG,
            AtomicOp::LoadAcquire => atomic::LOAD_ACQ,
            AtomicOp::StoreRelease => atomic::STORE_REL,
        }
    }

    /// The operation an `imm` encodes, if any.
    pub const fn from_imm(imm: i32) -> Option<AtomicOp> {
        Some(match imm {
            0x00 => AtomicOp::Add,
            0x40 => AtomicOp::Or,
            0x50 => AtomicOp::And,
            0xa0 => AtomicOp::Xor,
            0x01 => AtomicOp::FetchAdd,
            0x41 => AtomicOp::FetchOr,
            0x51 => AtomicOp::FetchAnd,
            0xa1 => AtomicOp::FetchXor,
            0xe1 => AtomicOp::Xchg,
            0xf1 => AtomicOp::CmpXchg,
            0x100 => AtomicOp::LoadAcquire,
            0x110 => AtomicOp::StoreRelease,
            _ => return None,
        })
    }

    /// Whether the operation exists for this size: read-modify-write
    /// operations only for W and DW, load-acquire and store-release for
    /// every size.
    pub const fn allows(self, size: Size) -> bool {
        match self {
            AtomicOp::LoadAcquire | AtomicOp::StoreRelease => true,
            _ => matches!(size, Size::W | Size::DW),
        }
    }
}

/// What a 64-bit immediate load (`ld_imm64`) loads, by its `src_reg`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Imm64 {
    /// src 0: the 64-bit constant.
    Value(u64),
    /// src 1 ([`pseudo::MAP_FD`]): the map with this fd.
    MapFd(i32),
    /// src 2 ([`pseudo::MAP_VALUE`]): the address `off` bytes into the
    /// value of the map with this fd.
    MapValue {
        /// Map fd.
        fd: i32,
        /// Offset into the map value (the second slot's `imm`).
        off: u32,
    },
    /// src 3 ([`pseudo::BTF_ID`]): the address of a kernel variable.
    BtfId {
        /// BTF id of the `VAR`.
        btf_id: i32,
        /// fd of the module BTF the id belongs to (the second slot's
        /// `imm`), 0 for vmlinux.
        btf_fd: i32,
    },
    /// src 4 ([`pseudo::FUNC`]): the address of the subprogram at this
    /// instruction offset, relative to the slot after the `ld_imm64`'s
    /// first slot (like calls).
    Func(i32),
    /// src 5 ([`pseudo::MAP_IDX`]): the map at this `fd_array` index.
    MapIdx(i32),
    /// src 6 ([`pseudo::MAP_IDX_VALUE`]): an address in the value of the
    /// map at this `fd_array` index.
    MapIdxValue {
        /// `fd_array` index.
        idx: i32,
        /// Offset into the map value.
        off: u32,
    },
}

impl Imm64 {
    /// The `src_reg` pseudo kind, and the `imm` of the first and second
    /// slots.
    pub const fn parts(self) -> (u8, i32, i32) {
        match self {
            Imm64::Value(v) => (0, v as u32 as i32, (v >> 32) as u32 as i32),
            Imm64::MapFd(fd) => (pseudo::MAP_FD, fd, 0),
            Imm64::MapValue { fd, off } => (pseudo::MAP_VALUE, fd, off as i32),
            Imm64::BtfId { btf_id, btf_fd } => (pseudo::BTF_ID, btf_id, btf_fd),
            Imm64::Func(rel) => (pseudo::FUNC, rel, 0),
            Imm64::MapIdx(idx) => (pseudo::MAP_IDX, idx, 0),
            Imm64::MapIdxValue { idx, off } => (pseudo::MAP_IDX_VALUE, idx, off as i32),
        }
    }
}

/// Call targets (`JMP | CALL | K`, selected by `src_reg`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Call {
    /// src 0: helper function by its id (`enum bpf_func_id`).
    Helper(i32),
    /// src 1 ([`pseudo::CALL`]): subprogram at this instruction offset,
    /// relative to the next slot.
    Subprog(i32),
    /// src 2 ([`pseudo::KFUNC_CALL`]): kernel function by BTF id.
    Kfunc {
        /// BTF id of the `FUNC`.
        btf_id: i32,
        /// Index into `fd_array` of the module BTF fd (the `off` field),
        /// 0 for vmlinux.
        fd_idx: i16,
    },
}

/// One decoded instruction. `ld_imm64` is one value covering two slots.
///
/// Register fields are plain numbers 0..=10; [`Instruction::decode`] never
/// produces others, and [`Instruction::encode`] keeps only the low four
/// bits of what it is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Instruction {
    /// `dst op= src`: arithmetic with a register or immediate operand
    /// (includes `mov`, signed division and modulo).
    Alu {
        /// ALU (32) or ALU64 (64).
        width: Width,
        /// The operation.
        op: AluOp,
        /// Destination register.
        dst: u8,
        /// Second operand.
        src: Operand,
    },
    /// `dst = -dst`.
    Neg {
        /// ALU or ALU64.
        width: Width,
        /// Register negated.
        dst: u8,
    },
    /// `dst = (s8|s16|s32)src`: sign-extending move (`off` = bits).
    MovSx {
        /// ALU (bits 8, 16) or ALU64 (bits 8, 16, 32).
        width: Width,
        /// Width of the source value in bits.
        bits: u8,
        /// Destination register.
        dst: u8,
        /// Source register.
        src: u8,
    },
    /// `dst = addr_space_cast(src, dst_as, src_as)` (ALU64 only).
    AddrSpaceCast {
        /// Destination register.
        dst: u8,
        /// Source register.
        src: u8,
        /// Target address space (`imm >> 16`).
        dst_as: u16,
        /// Source address space (`imm & 0xffff`).
        src_as: u16,
    },
    /// Byte swap of `dst` (`END`).
    Endian {
        /// to_le, to_be (ALU) or bswap (ALU64).
        kind: ByteSwap,
        /// Width swapped: 16, 32 or 64.
        bits: u8,
        /// Register swapped.
        dst: u8,
    },
    /// 64-bit immediate load, two slots.
    LdImm64 {
        /// Destination register.
        dst: u8,
        /// What is loaded.
        imm: Imm64,
    },
    /// Legacy packet load `r0 = *(size *)skb[imm]`.
    LdAbs {
        /// B, H or W.
        size: Size,
        /// Packet offset.
        imm: i32,
    },
    /// Legacy packet load `r0 = *(size *)skb[src + imm]`.
    LdInd {
        /// B, H or W.
        size: Size,
        /// Offset register.
        src: u8,
        /// Added offset.
        imm: i32,
    },
    /// `dst = *(size *)(src + off)`; with `sign_extend` a `MEMSX` load.
    Load {
        /// Access size (B, H, W; DW only without sign extension).
        size: Size,
        /// Sign-extending (`MEMSX`) rather than zero-extending (`MEM`).
        sign_extend: bool,
        /// Destination register.
        dst: u8,
        /// Base address register.
        src: u8,
        /// Byte offset.
        off: i16,
    },
    /// `*(size *)(dst + off) = value`: `ST` for an immediate, `STX` for a
    /// register.
    Store {
        /// Access size.
        size: Size,
        /// Base address register.
        dst: u8,
        /// Byte offset.
        off: i16,
        /// Value stored.
        value: Operand,
    },
    /// Atomic operation on `(size *)(dst + off)` (for load-acquire, on
    /// `(size *)(src + off)` into `dst`).
    Atomic {
        /// Access size.
        size: Size,
        /// The operation.
        op: AtomicOp,
        /// `dst_reg` field.
        dst: u8,
        /// `src_reg` field.
        src: u8,
        /// Byte offset.
        off: i16,
    },
    /// `goto pc+off`.
    Ja {
        /// Slot offset relative to the next slot.
        off: i16,
    },
    /// `gotol pc+imm` (`JMP32 | JA`).
    Gotol {
        /// Slot offset relative to the next slot.
        imm: i32,
    },
    /// `if dst op src goto pc+off`.
    Jmp {
        /// JMP (64) or JMP32 (32).
        width: Width,
        /// Comparison.
        op: JmpOp,
        /// Left operand.
        dst: u8,
        /// Right operand.
        src: Operand,
        /// Slot offset relative to the next slot.
        off: i16,
    },
    /// `may_goto pc+off` (`JMP | JCOND`, src 0).
    MayGoto {
        /// Slot offset relative to the next slot.
        off: i16,
    },
    /// `call`.
    Call(Call),
    /// `exit`.
    Exit,
}

/// At most two slots: what [`Instruction::encode`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Encoded {
    insns: [Insn; 2],
    len: u8,
}

impl Encoded {
    fn one(insn: Insn) -> Self {
        Encoded {
            insns: [insn, Insn::default()],
            len: 1,
        }
    }
}

impl core::ops::Deref for Encoded {
    type Target = [Insn];
    fn deref(&self) -> &[Insn] {
        &self.insns[..self.len as usize]
    }
}

impl IntoIterator for Encoded {
    type Item = Insn;
    type IntoIter = core::iter::Take<core::array::IntoIter<Insn, 2>>;
    fn into_iter(self) -> Self::IntoIter {
        self.insns.into_iter().take(self.len as usize)
    }
}

fn width_class(width: Width, c32: u8, c64: u8) -> u8 {
    match width {
        Width::W32 => c32,
        Width::W64 => c64,
    }
}

impl Instruction {
    /// Number of slots the instruction occupies (2 for `ld_imm64`).
    pub const fn slots(&self) -> usize {
        match self {
            Instruction::LdImm64 { .. } => 2,
            _ => 1,
        }
    }

    /// Encodes the instruction into its one or two slots.
    pub fn encode(&self) -> Encoded {
        use Instruction as I;
        let insn = match *self {
            I::Alu {
                width,
                op,
                dst,
                src,
            } => {
                let cls = width_class(width, class::ALU, class::ALU64);
                let (opc, off) = op.code_off();
                match src {
                    Operand::Reg(s) => Insn::new(cls | opc | source::X, dst, s, off, 0),
                    Operand::Imm(imm) => Insn::new(cls | opc | source::K, dst, 0, off, imm),
                }
            }
            I::Neg { width, dst } => Insn::new(
                width_class(width, class::ALU, class::ALU64) | alu::NEG,
                dst,
                0,
                0,
                0,
            ),
            I::MovSx {
                width,
                bits,
                dst,
                src,
            } => Insn::new(
                width_class(width, class::ALU, class::ALU64) | alu::MOV | source::X,
                dst,
                src,
                i16::from(bits),
                0,
            ),
            I::AddrSpaceCast {
                dst,
                src,
                dst_as,
                src_as,
            } => Insn::new(
                class::ALU64 | alu::MOV | source::X,
                dst,
                src,
                alu::OFF_ADDR_SPACE_CAST,
                ((u32::from(dst_as) << 16) | u32::from(src_as)) as i32,
            ),
            I::Endian { kind, bits, dst } => {
                let code = match kind {
                    ByteSwap::ToLe => class::ALU | alu::END | endian::TO_LE,
                    ByteSwap::ToBe => class::ALU | alu::END | endian::TO_BE,
                    ByteSwap::Bswap => class::ALU64 | alu::END | endian::TO_LE,
                };
                Insn::new(code, dst, 0, 0, i32::from(bits))
            }
            I::LdImm64 { dst, imm } => {
                let (src, lo, hi) = imm.parts();
                let [a, b] = Insn::ld_imm64_parts(dst, src, lo, hi);
                return Encoded {
                    insns: [a, b],
                    len: 2,
                };
            }
            I::LdAbs { size, imm } => Insn::new(class::LD | mode::ABS | size.code(), 0, 0, 0, imm),
            I::LdInd { size, src, imm } => {
                Insn::new(class::LD | mode::IND | size.code(), 0, src, 0, imm)
            }
            I::Load {
                size,
                sign_extend,
                dst,
                src,
                off,
            } => {
                let m = if sign_extend { mode::MEMSX } else { mode::MEM };
                Insn::new(class::LDX | m | size.code(), dst, src, off, 0)
            }
            I::Store {
                size,
                dst,
                off,
                value,
            } => match value {
                Operand::Reg(s) => Insn::new(class::STX | mode::MEM | size.code(), dst, s, off, 0),
                Operand::Imm(imm) => {
                    Insn::new(class::ST | mode::MEM | size.code(), dst, 0, off, imm)
                }
            },
            I::Atomic {
                size,
                op,
                dst,
                src,
                off,
            } => Insn::new(
                class::STX | mode::ATOMIC | size.code(),
                dst,
                src,
                off,
                op.imm(),
            ),
            I::Ja { off } => Insn::new(class::JMP | jmp::JA, 0, 0, off, 0),
            I::Gotol { imm } => Insn::new(class::JMP32 | jmp::JA, 0, 0, 0, imm),
            I::Jmp {
                width,
                op,
                dst,
                src,
                off,
            } => {
                let cls = width_class(width, class::JMP32, class::JMP);
                match src {
                    Operand::Reg(s) => Insn::new(cls | op.code() | source::X, dst, s, off, 0),
                    Operand::Imm(imm) => Insn::new(cls | op.code() | source::K, dst, 0, off, imm),
                }
            }
            I::MayGoto { off } => Insn::new(class::JMP | jmp::JCOND, 0, jmp::MAY_GOTO, off, 0),
            I::Call(Call::Helper(id)) => Insn::new(class::JMP | jmp::CALL, 0, 0, 0, id),
            I::Call(Call::Subprog(rel)) => {
                Insn::new(class::JMP | jmp::CALL, 0, pseudo::CALL, 0, rel)
            }
            I::Call(Call::Kfunc { btf_id, fd_idx }) => Insn::new(
                class::JMP | jmp::CALL,
                0,
                pseudo::KFUNC_CALL,
                fd_idx,
                btf_id,
            ),
            I::Exit => Insn::new(class::JMP | jmp::EXIT, 0, 0, 0, 0),
        };
        Encoded::one(insn)
    }

    /// Decodes the instruction starting at slot `idx` of `insns`, reading
    /// the second slot of an `ld_imm64`. Returns the instruction; its
    /// [`slots`](Self::slots) says where the next one starts.
    ///
    /// An `idx` past the end is [`Error::OutOfRange`].
    pub fn decode(insns: &[Insn], idx: usize) -> Result<Instruction, Error> {
        let Some(&insn) = insns.get(idx) else {
            return Err(Error::OutOfRange {
                idx: InsnIdx(idx),
                len: insns.len(),
            });
        };
        Decoder {
            idx: InsnIdx(idx),
            insn,
        }
        .decode(insns.get(idx + 1).copied())
    }
}

/// Field checks for one slot.
struct Decoder {
    idx: InsnIdx,
    insn: Insn,
}

impl Decoder {
    fn bad_opcode(&self) -> Error {
        Error::InvalidOpcode {
            idx: self.idx,
            code: self.insn.code,
        }
    }

    fn reserved(&self, field: &'static str, value: i64) -> Result<(), Error> {
        if value == 0 {
            Ok(())
        } else {
            Err(Error::ReservedField {
                idx: self.idx,
                code: self.insn.code,
                field,
                value,
            })
        }
    }

    fn invalid(&self, field: &'static str, value: i64) -> Error {
        Error::InvalidField {
            idx: self.idx,
            code: self.insn.code,
            field,
            value,
        }
    }

    fn dst(&self) -> Result<u8, Error> {
        let r = self.insn.dst();
        if r > reg::MAX {
            Err(self.invalid("dst_reg", i64::from(r)))
        } else {
            Ok(r)
        }
    }

    fn src(&self) -> Result<u8, Error> {
        let r = self.insn.src();
        if r > reg::MAX {
            Err(self.invalid("src_reg", i64::from(r)))
        } else {
            Ok(r)
        }
    }

    fn no_dst(&self) -> Result<(), Error> {
        self.reserved("dst_reg", i64::from(self.insn.dst()))
    }

    fn no_src(&self) -> Result<(), Error> {
        self.reserved("src_reg", i64::from(self.insn.src()))
    }

    fn no_off(&self) -> Result<(), Error> {
        self.reserved("off", i64::from(self.insn.off))
    }

    fn no_imm(&self) -> Result<(), Error> {
        self.reserved("imm", i64::from(self.insn.imm))
    }

    /// The second operand: `imm` (with `src_reg` zero) or `src_reg`
    /// (with `imm` zero).
    fn operand(&self) -> Result<Operand, Error> {
        if self.insn.code & source::MASK == source::X {
            self.no_imm()?;
            Ok(Operand::Reg(self.src()?))
        } else {
            self.no_src()?;
            Ok(Operand::Imm(self.insn.imm))
        }
    }

    fn decode(&self, next: Option<Insn>) -> Result<Instruction, Error> {
        match self.insn.class() {
            class::ALU => self.alu(Width::W32),
            class::ALU64 => self.alu(Width::W64),
            class::JMP => self.jmp(Width::W64),
            class::JMP32 => self.jmp(Width::W32),
            class::LD => self.ld(next),
            class::LDX => self.ldx(),
            class::ST => self.st(),
            _ => self.stx(),
        }
    }

    fn alu(&self, width: Width) -> Result<Instruction, Error> {
        let code = self.insn.code;
        let x = code & source::MASK == source::X;
        let op = match code & alu::OP_MASK {
            alu::ADD => AluOp::Add,
            alu::SUB => AluOp::Sub,
            alu::MUL => AluOp::Mul,
            alu::OR => AluOp::Or,
            alu::AND => AluOp::And,
            alu::LSH => AluOp::Lsh,
            alu::RSH => AluOp::Rsh,
            alu::XOR => AluOp::Xor,
            alu::ARSH => AluOp::Arsh,
            alu::DIV | alu::MOD => {
                let div = code & alu::OP_MASK == alu::DIV;
                let op = match (self.insn.off, div) {
                    (0, true) => AluOp::Div,
                    (0, false) => AluOp::Mod,
                    (alu::OFF_SIGNED, true) => AluOp::SDiv,
                    (alu::OFF_SIGNED, false) => AluOp::SMod,
                    (off, _) => return Err(self.invalid("off (signedness)", i64::from(off))),
                };
                let dst = self.dst()?;
                return Ok(Instruction::Alu {
                    width,
                    op,
                    dst,
                    src: self.operand()?,
                });
            }
            alu::MOV => {
                let dst = self.dst()?;
                let off = self.insn.off;
                if !x || off == 0 {
                    self.no_off()?;
                    return Ok(Instruction::Alu {
                        width,
                        op: AluOp::Mov,
                        dst,
                        src: self.operand()?,
                    });
                }
                let src = self.src()?;
                return match (width, off) {
                    (_, 8 | 16) | (Width::W64, 32) => {
                        self.no_imm()?;
                        Ok(Instruction::MovSx {
                            width,
                            bits: off as u8,
                            dst,
                            src,
                        })
                    }
                    (Width::W64, alu::OFF_ADDR_SPACE_CAST) => {
                        let imm = self.insn.imm as u32;
                        Ok(Instruction::AddrSpaceCast {
                            dst,
                            src,
                            dst_as: (imm >> 16) as u16,
                            src_as: imm as u16,
                        })
                    }
                    _ => Err(self.invalid("off (mov variant)", i64::from(off))),
                };
            }
            alu::NEG => {
                if x {
                    return Err(self.bad_opcode());
                }
                let dst = self.dst()?;
                self.no_src()?;
                self.no_off()?;
                self.no_imm()?;
                return Ok(Instruction::Neg { width, dst });
            }
            alu::END => {
                let kind = match (width, x) {
                    (Width::W32, false) => ByteSwap::ToLe,
                    (Width::W32, true) => ByteSwap::ToBe,
                    (Width::W64, false) => ByteSwap::Bswap,
                    (Width::W64, true) => return Err(self.bad_opcode()),
                };
                let dst = self.dst()?;
                self.no_src()?;
                self.no_off()?;
                let bits = match self.insn.imm {
                    16 => 16,
                    32 => 32,
                    64 => 64,
                    other => return Err(self.invalid("imm (swap width)", i64::from(other))),
                };
                return Ok(Instruction::Endian { kind, bits, dst });
            }
            _ => return Err(self.bad_opcode()),
        };
        let dst = self.dst()?;
        self.no_off()?;
        Ok(Instruction::Alu {
            width,
            op,
            dst,
            src: self.operand()?,
        })
    }

    fn jmp(&self, width: Width) -> Result<Instruction, Error> {
        let code = self.insn.code;
        let x = code & source::MASK == source::X;
        let op = code & jmp::OP_MASK;
        if let Some(cmp) = JmpOp::from_code(op) {
            let dst = self.dst()?;
            let src = self.operand()?;
            return Ok(Instruction::Jmp {
                width,
                op: cmp,
                dst,
                src,
                off: self.insn.off,
            });
        }
        // JA, CALL, EXIT and JCOND exist only with source K.
        if x {
            return Err(self.bad_opcode());
        }
        match (op, width) {
            (jmp::JA, Width::W64) => {
                self.no_dst()?;
                self.no_src()?;
                self.no_imm()?;
                Ok(Instruction::Ja { off: self.insn.off })
            }
            (jmp::JA, Width::W32) => {
                self.no_dst()?;
                self.no_src()?;
                self.no_off()?;
                Ok(Instruction::Gotol { imm: self.insn.imm })
            }
            (jmp::CALL, Width::W64) => {
                self.no_dst()?;
                let imm = self.insn.imm;
                let call = match self.insn.src() {
                    0 => {
                        self.no_off()?;
                        Call::Helper(imm)
                    }
                    pseudo::CALL => {
                        self.no_off()?;
                        Call::Subprog(imm)
                    }
                    pseudo::KFUNC_CALL => {
                        if self.insn.off < 0 {
                            return Err(
                                self.invalid("off (fd_array index)", i64::from(self.insn.off))
                            );
                        }
                        Call::Kfunc {
                            btf_id: imm,
                            fd_idx: self.insn.off,
                        }
                    }
                    other => return Err(self.invalid("src_reg (call kind)", i64::from(other))),
                };
                Ok(Instruction::Call(call))
            }
            (jmp::EXIT, Width::W64) => {
                self.no_dst()?;
                self.no_src()?;
                self.no_off()?;
                self.no_imm()?;
                Ok(Instruction::Exit)
            }
            (jmp::JCOND, Width::W64) => {
                self.no_dst()?;
                self.no_imm()?;
                match self.insn.src() {
                    jmp::MAY_GOTO => Ok(Instruction::MayGoto { off: self.insn.off }),
                    other => Err(self.invalid("src_reg (jcond kind)", i64::from(other))),
                }
            }
            _ => Err(self.bad_opcode()),
        }
    }

    fn ld(&self, next: Option<Insn>) -> Result<Instruction, Error> {
        let code = self.insn.code;
        let size = Size::from_code(code);
        match code & mode::MASK {
            mode::IMM if size == Size::DW => {
                let dst = self.dst()?;
                self.no_off()?;
                let Some(hi) = next else {
                    return Err(Error::TruncatedLdImm64 { idx: self.idx });
                };
                if hi.code != 0 || hi.regs != 0 || hi.off != 0 {
                    return Err(Error::BadLdImm64Second {
                        idx: self.idx,
                        code: hi.code,
                        regs: hi.regs,
                        off: hi.off,
                    });
                }
                let lo = self.insn.imm;
                let hi = hi.imm;
                let hi_zero = || {
                    if hi == 0 {
                        Ok(())
                    } else {
                        Err(Error::ReservedField {
                            idx: self.idx,
                            code,
                            field: "next_imm",
                            value: i64::from(hi),
                        })
                    }
                };
                let imm = match self.insn.src() {
                    0 => Imm64::Value(u64::from(lo as u32) | (u64::from(hi as u32) << 32)),
                    pseudo::MAP_FD => {
                        hi_zero()?;
                        Imm64::MapFd(lo)
                    }
                    pseudo::MAP_VALUE => Imm64::MapValue {
                        fd: lo,
                        off: hi as u32,
                    },
                    pseudo::BTF_ID => Imm64::BtfId {
                        btf_id: lo,
                        btf_fd: hi,
                    },
                    pseudo::FUNC => {
                        hi_zero()?;
                        Imm64::Func(lo)
                    }
                    pseudo::MAP_IDX => {
                        hi_zero()?;
                        Imm64::MapIdx(lo)
                    }
                    pseudo::MAP_IDX_VALUE => Imm64::MapIdxValue {
                        idx: lo,
                        off: hi as u32,
                    },
                    other => return Err(self.invalid("src_reg (ld_imm64 kind)", i64::from(other))),
                };
                Ok(Instruction::LdImm64 { dst, imm })
            }
            mode::ABS if size != Size::DW => {
                self.no_dst()?;
                self.no_src()?;
                self.no_off()?;
                Ok(Instruction::LdAbs {
                    size,
                    imm: self.insn.imm,
                })
            }
            mode::IND if size != Size::DW => {
                self.no_dst()?;
                self.no_off()?;
                Ok(Instruction::LdInd {
                    size,
                    src: self.src()?,
                    imm: self.insn.imm,
                })
            }
            _ => Err(self.bad_opcode()),
        }
    }

    fn ldx(&self) -> Result<Instruction, Error> {
        let size = Size::from_code(self.insn.code);
        let sign_extend = match self.insn.code & mode::MASK {
            mode::MEM => false,
            mode::MEMSX if size != Size::DW => true,
            _ => return Err(self.bad_opcode()),
        };
        let dst = self.dst()?;
        let src = self.src()?;
        self.no_imm()?;
        Ok(Instruction::Load {
            size,
            sign_extend,
            dst,
            src,
            off: self.insn.off,
        })
    }

    fn st(&self) -> Result<Instruction, Error> {
        if self.insn.code & mode::MASK != mode::MEM {
            return Err(self.bad_opcode());
        }
        let dst = self.dst()?;
        self.no_src()?;
        Ok(Instruction::Store {
            size: Size::from_code(self.insn.code),
            dst,
            off: self.insn.off,
            value: Operand::Imm(self.insn.imm),
        })
    }

    fn stx(&self) -> Result<Instruction, Error> {
        let size = Size::from_code(self.insn.code);
        match self.insn.code & mode::MASK {
            mode::MEM => {
                let dst = self.dst()?;
                let src = self.src()?;
                self.no_imm()?;
                Ok(Instruction::Store {
                    size,
                    dst,
                    off: self.insn.off,
                    value: Operand::Reg(src),
                })
            }
            mode::ATOMIC => {
                let dst = self.dst()?;
                let src = self.src()?;
                let imm = self.insn.imm;
                let op = AtomicOp::from_imm(imm)
                    .ok_or_else(|| self.invalid("imm (atomic op)", i64::from(imm)))?;
                if !op.allows(size) {
                    return Err(self.invalid("size (atomic op)", i64::from(size.bytes())));
                }
                Ok(Instruction::Atomic {
                    size,
                    op,
                    dst,
                    src,
                    off: self.insn.off,
                })
            }
            _ => Err(self.bad_opcode()),
        }
    }
}

/// Iterator over the instructions of a slice, yielding each with the index
/// of its first slot. After an error it stops.
#[derive(Clone, Debug)]
pub struct Decode<'a> {
    insns: &'a [Insn],
    idx: usize,
    failed: bool,
}

impl<'a> Iterator for Decode<'a> {
    type Item = Result<(InsnIdx, Instruction), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.idx >= self.insns.len() {
            return None;
        }
        let idx = self.idx;
        match Instruction::decode(self.insns, idx) {
            Ok(i) => {
                self.idx += i.slots();
                Some(Ok((InsnIdx(idx), i)))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Iterates over the instructions of `insns`, see [`Decode`].
pub fn decode_iter(insns: &[Insn]) -> Decode<'_> {
    Decode {
        insns,
        idx: 0,
        failed: false,
    }
}

/// Decodes a whole program: each instruction with the index of its first
/// slot. The first invalid slot is an error naming its index.
pub fn decode(insns: &[Insn]) -> Result<Vec<(InsnIdx, Instruction)>, Error> {
    decode_iter(insns).collect()
}

/// Encodes a sequence of instructions into slots.
pub fn encode(instructions: &[Instruction]) -> Vec<Insn> {
    let mut out = Vec::with_capacity(instructions.len());
    for i in instructions {
        out.extend(i.encode());
    }
    out
}
