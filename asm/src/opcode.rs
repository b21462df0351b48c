//! Opcode bit fields, as `Documentation/bpf/standardization/instruction-set.rst`
//! names them.

/// Instruction classes (`code & 0x07`).
pub mod class {
    pub const LD: u8 = 0x00;
    pub const LDX: u8 = 0x01;
    pub const ST: u8 = 0x02;
    pub const STX: u8 = 0x03;
    pub const ALU: u8 = 0x04;
    pub const JMP: u8 = 0x05;
    pub const JMP32: u8 = 0x06;
    pub const ALU64: u8 = 0x07;
}

/// Memory access sizes (`code & 0x18`).
pub mod size {
    pub const W: u8 = 0x00;
    pub const H: u8 = 0x08;
    pub const B: u8 = 0x10;
    pub const DW: u8 = 0x18;
}

/// Memory access modes (`code & 0xe0`).
pub mod mode {
    pub const IMM: u8 = 0x00;
    pub const ABS: u8 = 0x20;
    pub const IND: u8 = 0x40;
    pub const MEM: u8 = 0x60;
    pub const MEMSX: u8 = 0x80;
    pub const ATOMIC: u8 = 0xc0;
}

/// Operand source bit for ALU and jump classes (`code & 0x08`).
pub mod source {
    pub const K: u8 = 0x00;
    pub const X: u8 = 0x08;
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
