//! The crate's error type.

use core::fmt;

/// Index of an instruction slot in a program (an `ld_imm64` takes two).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InsnIdx(pub usize);

impl fmt::Display for InsnIdx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// What went wrong while decoding instructions or viewing bytes as
/// instructions. Every variant names the slot index and, where there is
/// one, the opcode byte.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The opcode byte is not a defined instruction.
    #[error("insn {idx}: invalid opcode {code:#04x}")]
    InvalidOpcode {
        /// Slot index.
        idx: InsnIdx,
        /// The opcode byte.
        code: u8,
    },
    /// A field the instruction does not use is not zero.
    #[error("insn {idx} (code {code:#04x}): reserved field {field} is {value}, must be 0")]
    ReservedField {
        /// Slot index.
        idx: InsnIdx,
        /// The opcode byte.
        code: u8,
        /// Field name (`dst_reg`, `src_reg`, `off`, `imm`, `next_imm`).
        field: &'static str,
        /// The value found.
        value: i64,
    },
    /// A field has a value the instruction does not define (a register
    /// above r10, a sign-extension width, a byte-swap width, an atomic
    /// operation, an `ld_imm64` or call kind).
    #[error("insn {idx} (code {code:#04x}): invalid {field} {value}")]
    InvalidField {
        /// Slot index.
        idx: InsnIdx,
        /// The opcode byte.
        code: u8,
        /// What the field means here.
        field: &'static str,
        /// The value found.
        value: i64,
    },
    /// An `ld_imm64` is the last slot: its second half is missing.
    #[error("insn {idx}: ld_imm64 is truncated (no second slot)")]
    TruncatedLdImm64 {
        /// Index of the first slot.
        idx: InsnIdx,
    },
    /// The second slot of an `ld_imm64` has a non-zero code, registers or
    /// offset.
    #[error(
        "insn {idx}: bad second slot of ld_imm64 (code {code:#04x}, regs {regs:#04x}, off {off}; all must be 0)"
    )]
    BadLdImm64Second {
        /// Index of the first slot.
        idx: InsnIdx,
        /// Opcode of the second slot.
        code: u8,
        /// Register byte of the second slot.
        regs: u8,
        /// Offset of the second slot.
        off: i16,
    },
    /// An instruction index past the end of the program.
    #[error("insn {idx}: out of range (program has {len} slots)")]
    OutOfRange {
        /// The index asked for.
        idx: InsnIdx,
        /// Number of slots in the program.
        len: usize,
    },
    /// A byte buffer is not a whole number of 8-byte instructions.
    #[error("instruction bytes: length {len} is not a multiple of 8")]
    BadLength {
        /// The buffer length.
        len: usize,
    },
    /// A byte buffer is not aligned to 4 bytes, so it cannot be viewed as
    /// `[Insn]` without copying.
    #[error("instruction bytes at address {addr:#x} are not 4-byte aligned")]
    Misaligned {
        /// The buffer's address.
        addr: usize,
    },
}
