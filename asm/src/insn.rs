//! The 8-byte instruction encoding.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::opcode::{self, class};

/// One 8-byte BPF instruction slot, in host byte order — the form the
/// kernel takes in `BPF_PROG_LOAD`.
///
/// A 64-bit immediate load (`ld_imm64`) occupies two consecutive slots; the
/// second one has `code == 0` and carries the upper 32 bits in `imm`.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Insn {
    /// Opcode: class, size/source and operation bits.
    pub code: u8,
    /// Destination register in the low nibble, source register in the high
    /// nibble (the kernel's little-endian bitfield layout).
    pub regs: u8,
    /// Signed offset (memory offset or jump target).
    pub off: i16,
    /// Signed 32-bit immediate.
    pub imm: i32,
}

impl Insn {
    /// Builds an instruction from its fields. Registers are taken modulo 16.
    pub const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Self {
        Insn { code, regs: (dst & 0xf) | ((src & 0xf) << 4), off, imm }
    }

    /// Destination register field.
    pub const fn dst(self) -> u8 {
        self.regs & 0xf
    }

    /// Source register field (for `ld_imm64` and calls, the pseudo kind).
    pub const fn src(self) -> u8 {
        self.regs >> 4
    }

    /// Sets the destination register field.
    pub fn set_dst(&mut self, dst: u8) {
        self.regs = (self.regs & 0xf0) | (dst & 0xf);
    }

    /// Sets the source register field.
    pub fn set_src(&mut self, src: u8) {
        self.regs = (self.regs & 0x0f) | ((src & 0xf) << 4);
    }

    /// Instruction class (the low three bits of `code`).
    pub const fn class(self) -> u8 {
        self.code & 0x07
    }

    /// Whether this is the first slot of a 64-bit immediate load.
    pub const fn is_ld_imm64(self) -> bool {
        self.code == class::LD | opcode::size::DW | opcode::mode::IMM
    }

    /// Decodes one instruction from 8 bytes of an object of the given
    /// byte order. Big-endian objects store the register nibbles swapped.
    pub fn from_bytes(bytes: [u8; 8], big_endian: bool) -> Self {
        if big_endian {
            Insn {
                code: bytes[0],
                regs: bytes[1].rotate_left(4),
                off: i16::from_be_bytes([bytes[2], bytes[3]]),
                imm: i32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
            }
        } else {
            Insn {
                code: bytes[0],
                regs: bytes[1],
                off: i16::from_le_bytes([bytes[2], bytes[3]]),
                imm: i32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
            }
        }
    }
}

impl core::fmt::Debug for Insn {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "Insn {{ code: {:#04x}, dst: r{}, src: {}, off: {}, imm: {} }}",
            self.code,
            self.dst(),
            self.src(),
            self.off,
            self.imm
        )
    }
}
