//! Instruction decoding and disassembly on any bytes: the first byte says
//! the byte order (bit 0 set: big-endian), the rest are 8-byte slots.
//! Whatever decodes must encode back to the same slots; the disassembly
//! (which prints undecodable slots as `<invalid: ...>`) must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxbpf_asm::{Insn, decode, decode_iter, disasm, disasm_with};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let big_endian = flags & 1 != 0;
    let whole = rest.len() / 8 * 8;
    let Ok(insns) = Insn::vec_from_bytes(&rest[..whole], big_endian) else {
        return;
    };
    for (i, insn) in insns.iter().enumerate() {
        // The cheap predicates the other crates use on raw slots.
        let _ = (insn.jump_target(i), insn.call_target(i), insn.mem_size());
        let _ = (
            insn.is_map_load(),
            insn.is_ksym_load(),
            insn.is_pseudo_func(),
        );
        assert_eq!(
            Insn::from_bytes(insn.to_bytes(big_endian), big_endian),
            *insn
        );
    }
    // Every instruction that decodes re-encodes to the slots it came from.
    for item in decode_iter(&insns) {
        let Ok((idx, ins)) = item else { break };
        let at = idx.0;
        let slots = ins.encode();
        assert_eq!(
            &slots[..],
            &insns[at..at + ins.slots()],
            "insn {at}: {ins:?} re-encodes differently"
        );
        let _ = ins.to_string();
    }
    if let Ok(all) = decode(&insns) {
        assert_eq!(
            oxbpf_asm::encode(&all.iter().map(|(_, i)| *i).collect::<Vec<_>>()),
            insns
        );
    }
    let _ = disasm(&insns).to_string();
    let names = |_: &oxbpf_asm::Target| Some(String::from("x"));
    let _ = disasm_with(&insns, &names).to_string();
});
