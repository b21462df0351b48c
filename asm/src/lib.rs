//! BPF instructions: the 8-byte encoding, opcodes, builders, a decoder and
//! a disassembler that prints the verifier's syntax.
//!
//! # Place in the pipeline
//!
//! This is the bottom crate of oxbpf. `elf-bpf` reads program sections
//! into [`Insn`]s, `reloc` patches them (map loads, calls, CO-RE offsets)
//! with the predicates and builders here, `gen-loader` writes whole loader
//! programs with the builders, `syscalls` hands `&[Insn]` to
//! `BPF_PROG_LOAD` as bytes ([`Insn::as_bytes`]), and the CLI prints them
//! with [`disasm`]. It is pure: no syscalls, no files.
//!
//! # Two views of an instruction
//!
//! * [`Insn`] is the raw 8-byte slot, exactly as the kernel takes it. It
//!   has builders (`Insn::mov64_imm`, `Insn::ld_map_fd`, ...) and cheap
//!   predicates (`is_call`, `is_map_load`, `jump_target`, ...).
//! * [`Instruction`] is the decoded form: an enum covering the whole
//!   instruction set of `Documentation/bpf/standardization/instruction-set.rst`
//!   plus the Linux extensions (`may_goto`, `addr_space_cast`, load-acquire
//!   and store-release, every `ld_imm64` pseudo source). [`decode`] turns
//!   slots into instructions (an `ld_imm64` is one instruction over two
//!   slots) and rejects anything undefined — unknown opcodes, non-zero
//!   unused fields, registers above r10, a truncated `ld_imm64` — with an
//!   [`Error`] naming the slot index and opcode. [`Instruction::encode`]
//!   is the exact inverse.
//!
//! # Example
//!
//! ```
//! use oxbpf_asm::{decode, disasm, opcode::{alu, jmp, size}, Insn, Instruction, reg::*};
//!
//! let mut prog = Vec::new();
//! prog.extend(Insn::ld_map_fd(R1, 5));
//! prog.push(Insn::mov64_reg(R2, R10));
//! prog.push(Insn::alu64_imm(alu::ADD, R2, -8));
//! prog.push(Insn::st_mem(size::W, R10, -8, 0));
//! prog.push(Insn::call_helper(1));
//! prog.push(Insn::jmp_imm(jmp::JEQ, R0, 0, 1));
//! prog.push(Insn::ldx_mem(size::DW, R0, R0, 0));
//! prog.push(Insn::exit());
//!
//! let decoded = decode(&prog).unwrap();
//! assert_eq!(decoded.len(), 8); // 9 slots: ld_imm64 takes two
//! assert!(matches!(decoded[0].1, Instruction::LdImm64 { .. }));
//!
//! let text = disasm(&prog).to_string();
//! assert_eq!(
//!     text,
//!     "   0: (18) r1 = map[fd:5]\n\
//!      \x20  2: (bf) r2 = r10\n\
//!      \x20  3: (07) r2 += -8\n\
//!      \x20  4: (62) *(u32 *)(r10 -8) = 0\n\
//!      \x20  5: (85) call bpf_map_lookup_elem#1\n\
//!      \x20  6: (15) if r0 == 0x0 goto pc+1\n\
//!      \x20  7: (79) r0 = *(u64 *)(r0 +0)\n\
//!      \x20  8: (95) exit\n"
//! );
//! ```
//!
//! # Disassembly syntax
//!
//! Every instruction the kernel accepts prints as the kernel 6.18 verifier
//! log prints it (checked against verifier logs at log level 2, and
//! against `bpftool prog dump xlated`): `r1 = *(u32 *)(r2 +8)`,
//! `w0 += w1`, `if r1 > 0x5 goto pc+3` (jump immediates in hex, as a
//! 32-bit value), `r0 = -5` (ALU immediates in decimal), `r1 = be16 r1`,
//! `r1 = bswap64 r1`, `r3 = (s8)r1`, `r0 = *(s32 *)(r1 +0)`,
//! `lock *(u64 *)(r1 +0) += r2`, `r0 = atomic64_fetch_add((u64 *)(r1 +0), r0)`
//! (32-bit atomics print `atomic_...` and, like the kernel, `r` registers),
//! `r0 = load_acquire((u64 *)(r1 +0))`, `store_release((u8 *)(r1 +0), r2)`,
//! `r0 = *(u8 *)skb[5]`, `r0 = *(u32 *)skb[r7 + -3]`,
//! `r1 = addr_space_cast(r2, 0, 1)`, `gotol pc+70000`, `may_goto pc+2`,
//! `call bpf_map_lookup_elem#1`, `call pc+5`, `exit`.
//!
//! Where the kernel has nothing to print yet — the verifier shows map,
//! variable and function loads after it has replaced them by addresses,
//! and bpftool by kernel map ids — we print what the instruction says:
//!
//! | instruction                     | ours                          | kernel / bpftool            |
//! |---------------------------------|-------------------------------|-----------------------------|
//! | `ld_imm64` src 1 (map fd)       | `r1 = map[fd:5]`              | address / `map[id:29]`      |
//! | `ld_imm64` src 2 (map value)    | `r1 = map_value[fd:5]+16`     | address / `map[id:29][0]+16`|
//! | `ld_imm64` src 5 / 6            | `map[idx:0]`, `map_value[idx:0]+16` | address               |
//! | `ld_imm64` src 3 (kernel var)   | `r1 = ksym[btf_id:13786]`     | address                     |
//! | `ld_imm64` src 4 (function)     | `r1 = func[pc+4]`             | the raw imm, `0x4`          |
//! | kfunc call, no name known       | `call kernel-function#65481`  | `call bpf_rcu_read_lock#65481` |
//! | kfunc call from a module BTF    | `... #id (fd_array[2])`       | `call name#id`              |
//! | helper id missing from table    | `call unknown#999`            | `call unknown#999`          |
//!
//! With [`disasm_with`] a caller supplies names ([`Target`]): a named map
//! prints `map[counts]` / `map_value[counts]+16`, a named kernel variable
//! `ksym[bpf_prog_active]`, a named kfunc `call bpf_rcu_read_lock#65481`
//! (the kernel's own spelling), a named subprogram `call name#pc+5` and
//! `func[name#pc+4]`.
//!
//! Lines are numbered like `bpftool prog dump xlated` (`{idx:>4}: (code) `);
//! the verifier log has the same text without the padding.
//!
//! How this is checked: `tests/kernel_log.rs` loads the clang-built
//! `tests/data/progs.bpfel.o` into the running kernel (through bpftool) and
//! compares every instruction line the verifier prints with ours, and does
//! the same against the listing committed by `tests/data/build.sh`;
//! `tests/golden.rs` holds one line per form, taken from verifier logs of
//! hand-built programs.
//!
//! # Helper names
//!
//! [`helper_name`] and [`helper_id`] use a table generated once from
//! `enum bpf_func_id` of kernel 6.18 by `asm/scripts/gen-helpers.sh`
//! (committed as `src/helper_table.rs`).
//!
//! # Not covered
//!
//! `JMP | CALL | X` (`callx`, 0x8d), which LLVM can emit for indirect
//! calls, is not part of the instruction set document and the kernel
//! rejects it ("unknown opcode 8d"); it decodes as an invalid opcode.
//! Kernel-internal encodings (`BPF_PROBE_MEM*`, per-cpu moves) never reach
//! the kernel from user space and are rejected the same way.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod disasm;
mod error;
mod helper_table;
mod helpers;
mod insn;
mod instruction;
pub mod opcode;
pub mod reg;

pub use disasm::{Disasm, DisplayInsn, Names, Target, disasm, disasm_with};
pub use error::{Error, InsnIdx};
pub use helpers::{helper_count, helper_id, helper_name};
pub use insn::Insn;
pub use instruction::{
    AluOp, AtomicOp, ByteSwap, Call, Decode, Encoded, Imm64, Instruction, JmpOp, Operand, Size,
    Width, decode, decode_iter, encode,
};
