//! Opcode bit fields, as `Documentation/bpf/standardization/instruction-set.rst`
//! names them.
//!
//! The 8-bit `code` of an instruction is split two ways:
//!
//! * arithmetic and jump classes (`ALU`, `ALU64`, `JMP`, `JMP32`):
//!   `code = op (4 bits) | source (1 bit) | class (3 bits)`, see [`alu`],
//!   [`jmp`] and [`source`];
//! * load and store classes (`LD`, `LDX`, `ST`, `STX`):
//!   `code = mode (3 bits) | size (2 bits) | class (3 bits)`, see [`mode`]
//!   and [`size`].
//!
//! Some operations carry extra selectors outside `code`: signed division
//! and sign-extending moves in `off` ([`alu::OFF_SIGNED`],
//! [`alu::OFF_ADDR_SPACE_CAST`]), atomic operations in `imm` ([`atomic`]),
//! `ld_imm64` and call kinds in `src_reg` ([`pseudo`]).

/// Instruction classes (`code & 0x07`).
pub mod class {
    /// Non-standard loads: `ld_imm64` and legacy packet access.
    pub const LD: u8 = 0x00;
    /// Load from memory into a register.
    pub const LDX: u8 = 0x01;
    /// Store an immediate to memory.
    pub const ST: u8 = 0x02;
    /// Store a register to memory, and atomic operations.
    pub const STX: u8 = 0x03;
    /// 32-bit arithmetic.
    pub const ALU: u8 = 0x04;
    /// 64-bit jumps, calls and exit.
    pub const JMP: u8 = 0x05;
    /// 32-bit jumps and `gotol`.
    pub const JMP32: u8 = 0x06;
    /// 64-bit arithmetic.
    pub const ALU64: u8 = 0x07;
    /// Mask selecting the class bits of `code`.
    pub const MASK: u8 = 0x07;
}

/// Memory access sizes (`code & 0x18`).
pub mod size {
    /// Word, 4 bytes.
    pub const W: u8 = 0x00;
    /// Half word, 2 bytes.
    pub const H: u8 = 0x08;
    /// Byte.
    pub const B: u8 = 0x10;
    /// Double word, 8 bytes.
    pub const DW: u8 = 0x18;
    /// Mask selecting the size bits of `code`.
    pub const MASK: u8 = 0x18;
}

/// Memory access modes (`code & 0xe0`).
pub mod mode {
    /// 64-bit immediate (`ld_imm64`, with size `DW`).
    pub const IMM: u8 = 0x00;
    /// Legacy packet access at an absolute offset.
    pub const ABS: u8 = 0x20;
    /// Legacy packet access at a register-relative offset.
    pub const IND: u8 = 0x40;
    /// Regular load or store.
    pub const MEM: u8 = 0x60;
    /// Sign-extending load.
    pub const MEMSX: u8 = 0x80;
    /// Atomic operation (the operation is in `imm`, see [`super::atomic`]).
    pub const ATOMIC: u8 = 0xc0;
    /// Mask selecting the mode bits of `code`.
    pub const MASK: u8 = 0xe0;
}

/// Operand source bit for ALU and jump classes (`code & 0x08`).
pub mod source {
    /// The operand is the 32-bit `imm`.
    pub const K: u8 = 0x00;
    /// The operand is the register `src_reg`.
    pub const X: u8 = 0x08;
    /// Mask selecting the source bit of `code`.
    pub const MASK: u8 = 0x08;
}

/// Arithmetic operations of the `ALU` and `ALU64` classes (`code & 0xf0`).
pub mod alu {
    /// `dst += src`
    pub const ADD: u8 = 0x00;
    /// `dst -= src`
    pub const SUB: u8 = 0x10;
    /// `dst *= src`
    pub const MUL: u8 = 0x20;
    /// `dst /= src` (unsigned; signed with `off` = [`OFF_SIGNED`]).
    pub const DIV: u8 = 0x30;
    /// `dst |= src`
    pub const OR: u8 = 0x40;
    /// `dst &= src`
    pub const AND: u8 = 0x50;
    /// `dst <<= src`
    pub const LSH: u8 = 0x60;
    /// `dst >>= src` (logical)
    pub const RSH: u8 = 0x70;
    /// `dst = -dst` (source `K` only, no operand).
    pub const NEG: u8 = 0x80;
    /// `dst %= src` (unsigned; signed with `off` = [`OFF_SIGNED`]).
    pub const MOD: u8 = 0x90;
    /// `dst ^= src`
    pub const XOR: u8 = 0xa0;
    /// `dst = src`; with `off` 8/16/32 a sign-extending move (`movsx`),
    /// in `ALU64` with `off` = [`OFF_ADDR_SPACE_CAST`] an address space cast.
    pub const MOV: u8 = 0xb0;
    /// `dst s>>= src` (arithmetic shift)
    pub const ARSH: u8 = 0xc0;
    /// Byte swap, see [`super::endian`].
    pub const END: u8 = 0xd0;
    /// Mask selecting the operation bits of `code`.
    pub const OP_MASK: u8 = 0xf0;

    /// `off` of `DIV`/`MOD` selecting the signed variant (`sdiv`, `smod`).
    pub const OFF_SIGNED: i16 = 1;
    /// `off` of `ALU64 | MOV | X` selecting `addr_space_cast`; `imm` then
    /// holds `(dst_as << 16) | src_as`.
    pub const OFF_ADDR_SPACE_CAST: i16 = 1;
}

/// Byte order selectors of `END` (in the source bit of `code`).
pub mod endian {
    /// `ALU | END | TO_LE`: convert to little endian. In `ALU64` the same
    /// bit pattern means an unconditional byte swap (`bswap`).
    pub const TO_LE: u8 = 0x00;
    /// `ALU | END | TO_BE`: convert to big endian.
    pub const TO_BE: u8 = 0x08;
}

/// Jump operations of the `JMP` and `JMP32` classes (`code & 0xf0`).
pub mod jmp {
    /// Unconditional jump: `off` in `JMP`, `imm` in `JMP32` (`gotol`).
    pub const JA: u8 = 0x00;
    /// `==`
    pub const JEQ: u8 = 0x10;
    /// `>` unsigned
    pub const JGT: u8 = 0x20;
    /// `>=` unsigned
    pub const JGE: u8 = 0x30;
    /// `&` (jump if any bit set)
    pub const JSET: u8 = 0x40;
    /// `!=`
    pub const JNE: u8 = 0x50;
    /// `>` signed
    pub const JSGT: u8 = 0x60;
    /// `>=` signed
    pub const JSGE: u8 = 0x70;
    /// Call (`JMP | CALL | K` only); the kind is in `src_reg`, see
    /// [`super::pseudo`].
    pub const CALL: u8 = 0x80;
    /// Return (`JMP | EXIT | K` only).
    pub const EXIT: u8 = 0x90;
    /// `<` unsigned
    pub const JLT: u8 = 0xa0;
    /// `<=` unsigned
    pub const JLE: u8 = 0xb0;
    /// `<` signed
    pub const JSLT: u8 = 0xc0;
    /// `<=` signed
    pub const JSLE: u8 = 0xd0;
    /// Conditional pseudo jump decided by the runtime (`JMP | JCOND | K`
    /// only); `src_reg` selects the condition, see [`MAY_GOTO`].
    pub const JCOND: u8 = 0xe0;
    /// Mask selecting the operation bits of `code`.
    pub const OP_MASK: u8 = 0xf0;

    /// `src_reg` of `JCOND`: `may_goto`.
    pub const MAY_GOTO: u8 = 0;
}

/// Atomic operations: the `imm` of `STX | ATOMIC` instructions.
pub mod atomic {
    /// Atomic add.
    pub const ADD: i32 = 0x00;
    /// Atomic or.
    pub const OR: i32 = 0x40;
    /// Atomic and.
    pub const AND: i32 = 0x50;
    /// Atomic xor.
    pub const XOR: i32 = 0xa0;
    /// Modifier: return the old value in `src_reg`.
    pub const FETCH: i32 = 0x01;
    /// Atomic exchange (`0xe0 | FETCH`).
    pub const XCHG: i32 = 0xe0 | FETCH;
    /// Atomic compare-and-exchange against `r0` (`0xf0 | FETCH`).
    pub const CMPXCHG: i32 = 0xf0 | FETCH;
    /// Load-acquire: `dst = load_acquire((size *)(src + off))`. Sizes B, H,
    /// W and DW.
    pub const LOAD_ACQ: i32 = 0x100;
    /// Store-release: `store_release((size *)(dst + off), src)`. Sizes B,
    /// H, W and DW.
    pub const STORE_REL: i32 = 0x110;
}

/// `src_reg` values of `ld_imm64` that ask the loader or kernel to
/// interpret the immediate.
pub mod pseudo {
    /// imm is a map fd.
    pub const MAP_FD: u8 = 1;
    /// imm is a map fd, the second slot's imm an offset into its value.
    pub const MAP_VALUE: u8 = 2;
    /// imm is a BTF id of a kernel VAR (typed ksym).
    pub const BTF_ID: u8 = 3;
    /// imm is an instruction offset of a subprogram (callback).
    pub const FUNC: u8 = 4;
    /// imm is an index into `fd_array` naming a map.
    pub const MAP_IDX: u8 = 5;
    /// Like `MAP_IDX`, with a value offset in the second slot.
    pub const MAP_IDX_VALUE: u8 = 6;

    /// `src_reg` of a call to a BPF subprogram (imm is a relative offset).
    pub const CALL: u8 = 1;
    /// `src_reg` of a call to a kernel function (imm is a BTF id).
    pub const KFUNC_CALL: u8 = 2;
}
