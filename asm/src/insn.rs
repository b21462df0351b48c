//! The 8-byte instruction encoding.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::error::Error;
use crate::instruction::Size;
use crate::opcode::{self, alu, class, endian, jmp, mode, pseudo, source};

/// One 8-byte BPF instruction slot, in host byte order — the form the
/// kernel takes in `BPF_PROG_LOAD`.
///
/// A 64-bit immediate load (`ld_imm64`) occupies two consecutive slots; the
/// second one has `code == 0` and carries the upper 32 bits in `imm`.
#[repr(C)]
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, Default, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
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
        Insn {
            code,
            regs: (dst & 0xf) | ((src & 0xf) << 4),
            off,
            imm,
        }
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

    /// Encodes the instruction as 8 bytes of an object of the given byte
    /// order; the inverse of [`Insn::from_bytes`].
    pub fn to_bytes(self, big_endian: bool) -> [u8; 8] {
        let mut out = [0u8; 8];
        out[0] = self.code;
        if big_endian {
            out[1] = self.regs.rotate_left(4);
            out[2..4].copy_from_slice(&self.off.to_be_bytes());
            out[4..8].copy_from_slice(&self.imm.to_be_bytes());
        } else {
            out[1] = self.regs;
            out[2..4].copy_from_slice(&self.off.to_le_bytes());
            out[4..8].copy_from_slice(&self.imm.to_le_bytes());
        }
        out
    }

    /// Views instructions as their bytes (host order, as the kernel takes
    /// them), without copying.
    pub fn as_bytes(insns: &[Insn]) -> &[u8] {
        IntoBytes::as_bytes(insns)
    }

    /// Views host-order bytes as instructions without copying.
    ///
    /// The length must be a multiple of 8 ([`Error::BadLength`]) and the
    /// buffer 4-byte aligned ([`Error::Misaligned`]), since `Insn` holds an
    /// `i32`. Bytes from a file (an ELF section at any offset, or of the
    /// other byte order) are better read with [`Insn::vec_from_bytes`],
    /// which copies and has no alignment requirement.
    pub fn slice_from_bytes(bytes: &[u8]) -> Result<&[Insn], Error> {
        if bytes.len() % 8 != 0 {
            return Err(Error::BadLength { len: bytes.len() });
        }
        <[Insn]>::ref_from_bytes(bytes).map_err(|_| Error::Misaligned {
            addr: bytes.as_ptr() as usize,
        })
    }

    /// Reads instructions from bytes of the given byte order, copying (no
    /// alignment requirement). The length must be a multiple of 8.
    pub fn vec_from_bytes(bytes: &[u8], big_endian: bool) -> Result<Vec<Insn>, Error> {
        if bytes.len() % 8 != 0 {
            return Err(Error::BadLength { len: bytes.len() });
        }
        Ok(bytes
            .chunks_exact(8)
            .map(|c| {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                Insn::from_bytes(b, big_endian)
            })
            .collect())
    }

    // ---- builders: arithmetic ----

    /// `dst = imm` (64-bit, imm sign-extended).
    pub const fn mov64_imm(dst: u8, imm: i32) -> Self {
        Self::alu64_imm(alu::MOV, dst, imm)
    }

    /// `dst = src` (64-bit).
    pub const fn mov64_reg(dst: u8, src: u8) -> Self {
        Self::alu64_reg(alu::MOV, dst, src)
    }

    /// `wdst = imm` (32-bit, upper half zeroed).
    pub const fn mov32_imm(dst: u8, imm: i32) -> Self {
        Self::alu32_imm(alu::MOV, dst, imm)
    }

    /// `wdst = wsrc` (32-bit, upper half zeroed).
    pub const fn mov32_reg(dst: u8, src: u8) -> Self {
        Self::alu32_reg(alu::MOV, dst, src)
    }

    /// `dst op= imm`, 64-bit; `op` is an [`alu`] constant.
    pub const fn alu64_imm(op: u8, dst: u8, imm: i32) -> Self {
        Self::new(class::ALU64 | op | source::K, dst, 0, 0, imm)
    }

    /// `dst op= src`, 64-bit; `op` is an [`alu`] constant.
    pub const fn alu64_reg(op: u8, dst: u8, src: u8) -> Self {
        Self::new(class::ALU64 | op | source::X, dst, src, 0, 0)
    }

    /// `wdst op= imm`, 32-bit; `op` is an [`alu`] constant.
    pub const fn alu32_imm(op: u8, dst: u8, imm: i32) -> Self {
        Self::new(class::ALU | op | source::K, dst, 0, 0, imm)
    }

    /// `wdst op= wsrc`, 32-bit; `op` is an [`alu`] constant.
    pub const fn alu32_reg(op: u8, dst: u8, src: u8) -> Self {
        Self::new(class::ALU | op | source::X, dst, src, 0, 0)
    }

    /// Signed `dst s/= imm` or `dst s%= imm` (64-bit); `op` is
    /// [`alu::DIV`] or [`alu::MOD`].
    pub const fn alu64_signed_imm(op: u8, dst: u8, imm: i32) -> Self {
        Self::new(class::ALU64 | op | source::K, dst, 0, alu::OFF_SIGNED, imm)
    }

    /// Signed `dst s/= src` or `dst s%= src` (64-bit).
    pub const fn alu64_signed_reg(op: u8, dst: u8, src: u8) -> Self {
        Self::new(class::ALU64 | op | source::X, dst, src, alu::OFF_SIGNED, 0)
    }

    /// Signed `wdst s/= imm` or `wdst s%= imm` (32-bit).
    pub const fn alu32_signed_imm(op: u8, dst: u8, imm: i32) -> Self {
        Self::new(class::ALU | op | source::K, dst, 0, alu::OFF_SIGNED, imm)
    }

    /// Signed `wdst s/= wsrc` or `wdst s%= wsrc` (32-bit).
    pub const fn alu32_signed_reg(op: u8, dst: u8, src: u8) -> Self {
        Self::new(class::ALU | op | source::X, dst, src, alu::OFF_SIGNED, 0)
    }

    /// `dst = -dst` (64-bit).
    pub const fn neg64(dst: u8) -> Self {
        Self::new(class::ALU64 | alu::NEG, dst, 0, 0, 0)
    }

    /// `wdst = -wdst` (32-bit).
    pub const fn neg32(dst: u8) -> Self {
        Self::new(class::ALU | alu::NEG, dst, 0, 0, 0)
    }

    /// `dst = (s8|s16|s32)src`: sign-extending move; `bits` is 8, 16 or 32.
    pub const fn movsx64(dst: u8, src: u8, bits: u8) -> Self {
        Self::new(
            class::ALU64 | alu::MOV | source::X,
            dst,
            src,
            bits as i16,
            0,
        )
    }

    /// `wdst = (s8|s16)wsrc`: 32-bit sign-extending move; `bits` is 8 or 16.
    pub const fn movsx32(dst: u8, src: u8, bits: u8) -> Self {
        Self::new(class::ALU | alu::MOV | source::X, dst, src, bits as i16, 0)
    }

    /// `dst = addr_space_cast(src, dst_as, src_as)` (arena pointers).
    pub const fn addr_space_cast(dst: u8, src: u8, dst_as: u16, src_as: u16) -> Self {
        let imm = ((dst_as as u32) << 16) | src_as as u32;
        Self::new(
            class::ALU64 | alu::MOV | source::X,
            dst,
            src,
            alu::OFF_ADDR_SPACE_CAST,
            imm as i32,
        )
    }

    /// `dst = le<bits> dst` (host to little endian; bits 16, 32 or 64).
    pub const fn to_le(dst: u8, bits: i32) -> Self {
        Self::new(class::ALU | alu::END | endian::TO_LE, dst, 0, 0, bits)
    }

    /// `dst = be<bits> dst` (host to big endian; bits 16, 32 or 64).
    pub const fn to_be(dst: u8, bits: i32) -> Self {
        Self::new(class::ALU | alu::END | endian::TO_BE, dst, 0, 0, bits)
    }

    /// `dst = bswap<bits> dst` (unconditional swap; bits 16, 32 or 64).
    pub const fn bswap(dst: u8, bits: i32) -> Self {
        Self::new(class::ALU64 | alu::END, dst, 0, 0, bits)
    }

    // ---- builders: memory ----

    /// `dst = *(size *)(src + off)`; `size` is a [`opcode::size`] constant.
    pub const fn ldx_mem(size: u8, dst: u8, src: u8, off: i16) -> Self {
        Self::new(class::LDX | mode::MEM | size, dst, src, off, 0)
    }

    /// `dst = *(ssize *)(src + off)`, sign-extending (sizes B, H, W).
    pub const fn ldx_memsx(size: u8, dst: u8, src: u8, off: i16) -> Self {
        Self::new(class::LDX | mode::MEMSX | size, dst, src, off, 0)
    }

    /// `*(size *)(dst + off) = src`.
    pub const fn stx_mem(size: u8, dst: u8, src: u8, off: i16) -> Self {
        Self::new(class::STX | mode::MEM | size, dst, src, off, 0)
    }

    /// `*(size *)(dst + off) = imm`.
    pub const fn st_mem(size: u8, dst: u8, off: i16, imm: i32) -> Self {
        Self::new(class::ST | mode::MEM | size, dst, 0, off, imm)
    }

    /// Legacy `r0 = *(size *)skb[imm]` (context in r6; sizes B, H, W).
    pub const fn ld_abs(size: u8, imm: i32) -> Self {
        Self::new(class::LD | mode::ABS | size, 0, 0, 0, imm)
    }

    /// Legacy `r0 = *(size *)skb[src + imm]` (context in r6; sizes B, H, W).
    pub const fn ld_ind(size: u8, src: u8, imm: i32) -> Self {
        Self::new(class::LD | mode::IND | size, 0, src, 0, imm)
    }

    /// Atomic operation `op` (an [`opcode::atomic`] constant) on
    /// `(size *)(dst + off)` with `src`; `size` is W or DW for
    /// read-modify-write operations.
    pub const fn atomic(size: u8, op: i32, dst: u8, src: u8, off: i16) -> Self {
        Self::new(class::STX | mode::ATOMIC | size, dst, src, off, op)
    }

    /// `lock *(size *)(dst + off) += src`.
    pub const fn atomic_add(size: u8, dst: u8, src: u8, off: i16) -> Self {
        Self::atomic(size, opcode::atomic::ADD, dst, src, off)
    }

    /// `src = atomic_fetch_add((size *)(dst + off), src)`.
    pub const fn atomic_fetch_add(size: u8, dst: u8, src: u8, off: i16) -> Self {
        Self::atomic(
            size,
            opcode::atomic::ADD | opcode::atomic::FETCH,
            dst,
            src,
            off,
        )
    }

    /// `src = atomic_xchg((size *)(dst + off), src)`.
    pub const fn atomic_xchg(size: u8, dst: u8, src: u8, off: i16) -> Self {
        Self::atomic(size, opcode::atomic::XCHG, dst, src, off)
    }

    /// `r0 = atomic_cmpxchg((size *)(dst + off), r0, src)`.
    pub const fn atomic_cmpxchg(size: u8, dst: u8, src: u8, off: i16) -> Self {
        Self::atomic(size, opcode::atomic::CMPXCHG, dst, src, off)
    }

    /// `dst = load_acquire((size *)(src + off))` (any size).
    pub const fn load_acquire(size: u8, dst: u8, src: u8, off: i16) -> Self {
        Self::atomic(size, opcode::atomic::LOAD_ACQ, dst, src, off)
    }

    /// `store_release((size *)(dst + off), src)` (any size).
    pub const fn store_release(size: u8, dst: u8, src: u8, off: i16) -> Self {
        Self::atomic(size, opcode::atomic::STORE_REL, dst, src, off)
    }

    // ---- builders: 64-bit immediates ----

    /// The two slots of an `ld_imm64` from its parts: `src` is the pseudo
    /// kind ([`pseudo`] constant or 0), `lo` and `hi` the two `imm`s.
    pub const fn ld_imm64_parts(dst: u8, src: u8, lo: i32, hi: i32) -> [Insn; 2] {
        [
            Self::new(class::LD | opcode::size::DW | mode::IMM, dst, src, 0, lo),
            Self::new(0, 0, 0, 0, hi),
        ]
    }

    /// `dst = imm` as two slots; `src_pseudo` is 0 for a plain constant or
    /// a [`pseudo`] kind, whose low and high 32 bits go to the two `imm`s.
    pub const fn ld_imm64(dst: u8, src_pseudo: u8, imm: u64) -> [Insn; 2] {
        Self::ld_imm64_parts(
            dst,
            src_pseudo,
            imm as u32 as i32,
            (imm >> 32) as u32 as i32,
        )
    }

    /// `dst = map[fd]` ([`pseudo::MAP_FD`]).
    pub const fn ld_map_fd(dst: u8, fd: i32) -> [Insn; 2] {
        Self::ld_imm64_parts(dst, pseudo::MAP_FD, fd, 0)
    }

    /// `dst = &map_value(fd) + off` ([`pseudo::MAP_VALUE`]).
    pub const fn ld_map_value(dst: u8, fd: i32, off: u32) -> [Insn; 2] {
        Self::ld_imm64_parts(dst, pseudo::MAP_VALUE, fd, off as i32)
    }

    /// `dst = map[fd_array[idx]]` ([`pseudo::MAP_IDX`]).
    pub const fn ld_map_idx(dst: u8, idx: i32) -> [Insn; 2] {
        Self::ld_imm64_parts(dst, pseudo::MAP_IDX, idx, 0)
    }

    /// `dst = &map_value(fd_array[idx]) + off` ([`pseudo::MAP_IDX_VALUE`]).
    pub const fn ld_map_idx_value(dst: u8, idx: i32, off: u32) -> [Insn; 2] {
        Self::ld_imm64_parts(dst, pseudo::MAP_IDX_VALUE, idx, off as i32)
    }

    /// `dst = &ksym` by BTF id of a kernel VAR ([`pseudo::BTF_ID`]);
    /// `btf_fd` is the module BTF fd or 0 for vmlinux.
    pub const fn ld_btf_id(dst: u8, btf_id: i32, btf_fd: i32) -> [Insn; 2] {
        Self::ld_imm64_parts(dst, pseudo::BTF_ID, btf_id, btf_fd)
    }

    /// `dst = &subprog` at slot offset `rel` from the next slot
    /// ([`pseudo::FUNC`]).
    pub const fn ld_func(dst: u8, rel: i32) -> [Insn; 2] {
        Self::ld_imm64_parts(dst, pseudo::FUNC, rel, 0)
    }

    // ---- builders: jumps and calls ----

    /// `if dst op imm goto pc+off` (64-bit compare); `op` is a [`jmp`]
    /// constant.
    pub const fn jmp_imm(op: u8, dst: u8, imm: i32, off: i16) -> Self {
        Self::new(class::JMP | op | source::K, dst, 0, off, imm)
    }

    /// `if dst op src goto pc+off` (64-bit compare).
    pub const fn jmp_reg(op: u8, dst: u8, src: u8, off: i16) -> Self {
        Self::new(class::JMP | op | source::X, dst, src, off, 0)
    }

    /// `if wdst op imm goto pc+off` (32-bit compare).
    pub const fn jmp32_imm(op: u8, dst: u8, imm: i32, off: i16) -> Self {
        Self::new(class::JMP32 | op | source::K, dst, 0, off, imm)
    }

    /// `if wdst op wsrc goto pc+off` (32-bit compare).
    pub const fn jmp32_reg(op: u8, dst: u8, src: u8, off: i16) -> Self {
        Self::new(class::JMP32 | op | source::X, dst, src, off, 0)
    }

    /// `goto pc+off`.
    pub const fn ja(off: i16) -> Self {
        Self::new(class::JMP | jmp::JA, 0, 0, off, 0)
    }

    /// `gotol pc+imm` (32-bit offset).
    pub const fn gotol(imm: i32) -> Self {
        Self::new(class::JMP32 | jmp::JA, 0, 0, 0, imm)
    }

    /// `may_goto pc+off`.
    pub const fn may_goto(off: i16) -> Self {
        Self::new(class::JMP | jmp::JCOND, 0, jmp::MAY_GOTO, off, 0)
    }

    /// `call` helper number `id`.
    pub const fn call_helper(id: i32) -> Self {
        Self::new(class::JMP | jmp::CALL, 0, 0, 0, id)
    }

    /// `call pc+rel`: a BPF subprogram ([`pseudo::CALL`]).
    pub const fn call_subprog(rel: i32) -> Self {
        Self::new(class::JMP | jmp::CALL, 0, pseudo::CALL, 0, rel)
    }

    /// `call` a kernel function by BTF id ([`pseudo::KFUNC_CALL`]);
    /// `fd_array_idx` names the module BTF in `fd_array`, 0 for vmlinux.
    pub const fn call_kfunc(btf_id: i32, fd_array_idx: i16) -> Self {
        Self::new(
            class::JMP | jmp::CALL,
            0,
            pseudo::KFUNC_CALL,
            fd_array_idx,
            btf_id,
        )
    }

    /// `exit`.
    pub const fn exit() -> Self {
        Self::new(class::JMP | jmp::EXIT, 0, 0, 0, 0)
    }

    // ---- predicates ----

    /// Any call (`JMP | CALL | K`): helper, subprogram or kfunc.
    pub const fn is_call(self) -> bool {
        self.code == class::JMP | jmp::CALL | source::K
    }

    /// A call to a helper by id (src 0).
    pub const fn is_helper_call(self) -> bool {
        self.is_call() && self.src() == 0
    }

    /// A call to a BPF subprogram (src [`pseudo::CALL`]).
    pub const fn is_subprog_call(self) -> bool {
        self.is_call() && self.src() == pseudo::CALL
    }

    /// A call to a kernel function (src [`pseudo::KFUNC_CALL`]).
    pub const fn is_kfunc_call(self) -> bool {
        self.is_call() && self.src() == pseudo::KFUNC_CALL
    }

    /// `exit`.
    pub const fn is_exit(self) -> bool {
        self.code == class::JMP | jmp::EXIT | source::K
    }

    /// A jump, conditional or not (`goto`, `gotol`, `if ...`, `may_goto`);
    /// not calls or exit. Looks at the opcode only: fields are not
    /// validated (see [`crate::Instruction::decode`]).
    pub const fn is_jump(self) -> bool {
        let c = self.class();
        let op = self.code & jmp::OP_MASK;
        (c == class::JMP || c == class::JMP32) && op != jmp::CALL && op != jmp::EXIT && op != 0xf0
    }

    /// Whether the jump offset is in `imm` (`gotol`) rather than `off`.
    pub const fn is_gotol(self) -> bool {
        self.code == class::JMP32 | jmp::JA
    }

    /// The slot a jump at slot `idx` goes to (`idx + 1 + offset`), or
    /// `None` if this is not a jump. May be out of the program's range.
    pub const fn jump_target(self, idx: usize) -> Option<isize> {
        if !self.is_jump() {
            return None;
        }
        let rel = if self.is_gotol() {
            self.imm as isize
        } else {
            self.off as isize
        };
        Some(idx as isize + 1 + rel)
    }

    /// The slot a subprogram call or a `ld_imm64` of a function
    /// ([`pseudo::FUNC`]) at slot `idx` refers to (`idx + 1 + imm`).
    pub const fn call_target(self, idx: usize) -> Option<isize> {
        if self.is_subprog_call() || self.is_pseudo_func() {
            Some(idx as isize + 1 + self.imm as isize)
        } else {
            None
        }
    }

    /// First slot of `ld_imm64` of a function address ([`pseudo::FUNC`]).
    pub const fn is_pseudo_func(self) -> bool {
        self.is_ld_imm64() && self.src() == pseudo::FUNC
    }

    /// First slot of `ld_imm64` of a map or map value (src 1, 2, 5 or 6).
    pub const fn is_map_load(self) -> bool {
        self.is_ld_imm64()
            && matches!(
                self.src(),
                pseudo::MAP_FD | pseudo::MAP_VALUE | pseudo::MAP_IDX | pseudo::MAP_IDX_VALUE
            )
    }

    /// First slot of `ld_imm64` of a kernel variable ([`pseudo::BTF_ID`]).
    pub const fn is_ksym_load(self) -> bool {
        self.is_ld_imm64() && self.src() == pseudo::BTF_ID
    }

    /// A load into a register (`LDX`, `MEM` or `MEMSX`).
    pub const fn is_ldx(self) -> bool {
        self.class() == class::LDX
    }

    /// A store of a register (`STX | MEM`; atomics are not included).
    pub const fn is_stx(self) -> bool {
        self.class() == class::STX && self.code & mode::MASK == mode::MEM
    }

    /// A store of an immediate (`ST`).
    pub const fn is_st(self) -> bool {
        self.class() == class::ST
    }

    /// An atomic operation (`STX | ATOMIC`).
    pub const fn is_atomic(self) -> bool {
        self.class() == class::STX && self.code & mode::MASK == mode::ATOMIC
    }

    /// The memory access size of loads, stores, atomics and legacy packet
    /// loads; `None` for other instructions (including `ld_imm64`).
    pub const fn mem_size(self) -> Option<Size> {
        match self.class() {
            class::LDX | class::ST | class::STX => Some(Size::from_code(self.code)),
            class::LD if matches!(self.code & mode::MASK, mode::ABS | mode::IND) => {
                Some(Size::from_code(self.code))
            }
            _ => None,
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
