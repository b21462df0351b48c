//! BPF instructions: the 8-byte encoding, opcodes, builders and a
//! disassembler that prints the verifier's syntax.
#![forbid(unsafe_code)]

mod insn;
pub mod opcode;

pub use insn::Insn;
