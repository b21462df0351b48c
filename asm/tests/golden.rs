//! Disassembly of every instruction form, one golden line each.
//!
//! The expected text of every form the kernel accepts was taken from
//! kernel 6.18 verifier logs (log level 2) of programs built from these
//! very instructions; the forms the kernel never prints (map, variable and
//! function loads before relocation, unnamed kfuncs) are our own choice,
//! documented in the crate docs.

use oxbpf_asm::{Insn, InsnIdx, Instruction, Target, decode, disasm, disasm_with, encode};

fn i(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn::new(code, dst, src, off, imm)
}

fn wide(code: u8, dst: u8, src: u8, lo: i32, hi: i32) -> Vec<Insn> {
    vec![i(code, dst, src, 0, lo), i(0, 0, 0, 0, hi)]
}

/// Checks the line (without its index) and that decode/encode round-trips.
fn check(slots: &[Insn], expected: &str) {
    let text = disasm(slots).to_string();
    let line = text.lines().next().unwrap();
    let (_, got) = line.split_once(": ").unwrap();
    assert_eq!(got, expected, "{slots:?}");
    assert_eq!(text.lines().count(), 1, "{text}");
    let decoded = decode(slots).unwrap();
    let again = encode(&decoded.iter().map(|(_, d)| *d).collect::<Vec<_>>());
    assert_eq!(again, slots);
    // Display of the decoded instruction is the same text minus "(code) ".
    assert_eq!(decoded[0].1.to_string(), expected[5..]);
}

#[test]
fn alu() {
    let cases: &[(Insn, &str)] = &[
        (i(0xb7, 0, 0, 0, 0), "(b7) r0 = 0"),
        (i(0xb7, 1, 0, 0, -5), "(b7) r1 = -5"),
        (i(0x07, 1, 0, 0, -5), "(07) r1 += -5"),
        (i(0x04, 1, 0, 0, 7), "(04) w1 += 7"),
        (i(0xbc, 2, 1, 0, 0), "(bc) w2 = w1"),
        (i(0x87, 1, 0, 0, 0), "(87) r1 = -r1"),
        (i(0x84, 1, 0, 0, 0), "(84) w1 = -w1"),
        (i(0x3f, 1, 2, 1, 0), "(3f) r1 s/= r2"),
        (i(0x9f, 1, 2, 1, 0), "(9f) r1 s%= r2"),
        (i(0x37, 1, 0, 1, 3), "(37) r1 s/= 3"),
        (i(0x97, 1, 0, 1, 3), "(97) r1 s%= 3"),
        (i(0x3c, 1, 2, 1, 0), "(3c) w1 s/= w2"),
        (i(0x34, 1, 0, 1, -3), "(34) w1 s/= -3"),
        (i(0x9c, 1, 2, 1, 0), "(9c) w1 s%= w2"),
        (i(0xbf, 3, 1, 8, 0), "(bf) r3 = (s8)r1"),
        (i(0xbf, 3, 1, 16, 0), "(bf) r3 = (s16)r1"),
        (i(0xbf, 3, 1, 32, 0), "(bf) r3 = (s32)r1"),
        (i(0xbc, 3, 1, 8, 0), "(bc) w3 = (s8)w1"),
        (i(0xbc, 3, 1, 16, 0), "(bc) w3 = (s16)w1"),
        (i(0xdc, 1, 0, 0, 16), "(dc) r1 = be16 r1"),
        (i(0xdc, 1, 0, 0, 64), "(dc) r1 = be64 r1"),
        (i(0xd4, 1, 0, 0, 32), "(d4) r1 = le32 r1"),
        (i(0xd7, 1, 0, 0, 64), "(d7) r1 = bswap64 r1"),
        (i(0xd7, 2, 0, 0, 16), "(d7) r2 = bswap16 r2"),
        (i(0xcf, 1, 2, 0, 0), "(cf) r1 s>>= r2"),
        (i(0xc7, 1, 0, 0, 3), "(c7) r1 s>>= 3"),
        (i(0x67, 1, 0, 0, 3), "(67) r1 <<= 3"),
        (i(0x64, 1, 0, 0, 3), "(64) w1 <<= 3"),
        (i(0xac, 1, 2, 0, 0), "(ac) w1 ^= w2"),
        (i(0xb4, 1, 0, 0, -1), "(b4) w1 = -1"),
        (i(0x17, 1, 0, 0, 0x7fff_ffff), "(17) r1 -= 2147483647"),
        (i(0xbf, 1, 2, 1, 1), "(bf) r1 = addr_space_cast(r2, 0, 1)"),
        (
            i(0xbf, 1, 2, 1, 1 << 16),
            "(bf) r1 = addr_space_cast(r2, 1, 0)",
        ),
    ];
    for (insn, text) in cases {
        check(&[*insn], text);
    }
    // Every two-operand op in both widths and sources, as the verifier
    // prints them.
    let ops = [
        (0x00, "+="),
        (0x10, "-="),
        (0x20, "*="),
        (0x30, "/="),
        (0x40, "|="),
        (0x50, "&="),
        (0x60, "<<="),
        (0x70, ">>="),
        (0x90, "%="),
        (0xa0, "^="),
        (0xb0, "="),
        (0xc0, "s>>="),
    ];
    for (op, sym) in ops {
        check(
            &[i(op | 0x07, 1, 0, 0, 3)],
            &format!("({:02x}) r1 {sym} 3", op | 0x07),
        );
        check(
            &[i(op | 0x0f, 1, 2, 0, 0)],
            &format!("({:02x}) r1 {sym} r2", op | 0x0f),
        );
        check(
            &[i(op | 0x04, 1, 0, 0, 3)],
            &format!("({:02x}) w1 {sym} 3", op | 0x04),
        );
        check(
            &[i(op | 0x0c, 1, 2, 0, 0)],
            &format!("({:02x}) w1 {sym} w2", op | 0x0c),
        );
    }
}

#[test]
fn jumps_and_calls() {
    let conds = [
        (0x10, "=="),
        (0x20, ">"),
        (0x30, ">="),
        (0x40, "&"),
        (0x50, "!="),
        (0x60, "s>"),
        (0x70, "s>="),
        (0xa0, "<"),
        (0xb0, "<="),
        (0xc0, "s<"),
        (0xd0, "s<="),
    ];
    for (op, sym) in conds {
        let c = op | 0x05;
        check(
            &[i(c, 1, 0, 0, -3)],
            &format!("({c:02x}) if r1 {sym} 0xfffffffd goto pc+0"),
        );
        let c = op | 0x0d;
        check(
            &[i(c, 1, 2, 0, 0)],
            &format!("({c:02x}) if r1 {sym} r2 goto pc+0"),
        );
        let c = op | 0x06;
        check(
            &[i(c, 1, 0, 0, 3)],
            &format!("({c:02x}) if w1 {sym} 0x3 goto pc+0"),
        );
        let c = op | 0x0e;
        check(
            &[i(c, 1, 2, 0, 0)],
            &format!("({c:02x}) if w1 {sym} w2 goto pc+0"),
        );
    }
    let cases: &[(Insn, &str)] = &[
        (i(0x25, 1, 0, 3, 5), "(25) if r1 > 0x5 goto pc+3"),
        (i(0x15, 1, 0, -2, -1), "(15) if r1 == 0xffffffff goto pc-2"),
        (i(0x05, 0, 0, 0, 0), "(05) goto pc+0"),
        (i(0x05, 0, 0, -2, 0), "(05) goto pc-2"),
        (i(0x06, 0, 0, 0, 0), "(06) gotol pc+0"),
        (i(0x06, 0, 0, 0, 70000), "(06) gotol pc+70000"),
        (i(0xe5, 0, 0, 0, 0), "(e5) may_goto pc+0"),
        (i(0xe5, 0, 0, 2, 0), "(e5) may_goto pc+2"),
        (i(0x85, 0, 0, 0, 1), "(85) call bpf_map_lookup_elem#1"),
        (i(0x85, 0, 0, 0, 181), "(85) call bpf_loop#181"),
        (
            i(0x85, 0, 0, 0, 200),
            "(85) call bpf_ringbuf_discard_dynptr#200",
        ),
        (i(0x85, 0, 0, 0, 999), "(85) call unknown#999"),
        (i(0x85, 0, 1, 0, 2), "(85) call pc+2"),
        (i(0x85, 0, 1, 0, -5), "(85) call pc-5"),
        (i(0x85, 0, 2, 0, 65481), "(85) call kernel-function#65481"),
        (
            i(0x85, 0, 2, 3, 12),
            "(85) call kernel-function#12 (fd_array[3])",
        ),
        (i(0x95, 0, 0, 0, 0), "(95) exit"),
    ];
    for (insn, text) in cases {
        check(&[*insn], text);
    }
}

#[test]
fn loads_and_stores() {
    let cases: &[(Insn, &str)] = &[
        (i(0x7b, 10, 1, -8, 0), "(7b) *(u64 *)(r10 -8) = r1"),
        (i(0x63, 10, 1, -16, 0), "(63) *(u32 *)(r10 -16) = r1"),
        (i(0x6b, 10, 1, -2, 0), "(6b) *(u16 *)(r10 -2) = r1"),
        (i(0x73, 10, 1, -1, 0), "(73) *(u8 *)(r10 -1) = r1"),
        (i(0x6a, 10, 0, -18, 0x1234), "(6a) *(u16 *)(r10 -18) = 4660"),
        (i(0x72, 10, 0, -20, -1), "(72) *(u8 *)(r10 -20) = -1"),
        (i(0x7a, 10, 0, -32, 7), "(7a) *(u64 *)(r10 -32) = 7"),
        (i(0x62, 10, 0, -8, 0), "(62) *(u32 *)(r10 -8) = 0"),
        (i(0x79, 2, 10, -8, 0), "(79) r2 = *(u64 *)(r10 -8)"),
        (i(0x61, 1, 2, 8, 0), "(61) r1 = *(u32 *)(r2 +8)"),
        (i(0x69, 2, 10, -18, 0), "(69) r2 = *(u16 *)(r10 -18)"),
        (i(0x71, 2, 10, -20, 0), "(71) r2 = *(u8 *)(r10 -20)"),
        (i(0x91, 2, 10, -20, 0), "(91) r2 = *(s8 *)(r10 -20)"),
        (i(0x89, 2, 10, -18, 0), "(89) r2 = *(s16 *)(r10 -18)"),
        (i(0x81, 0, 1, 0, 0), "(81) r0 = *(s32 *)(r1 +0)"),
        (i(0x30, 0, 0, 0, 5), "(30) r0 = *(u8 *)skb[5]"),
        (i(0x28, 0, 0, 0, -1), "(28) r0 = *(u16 *)skb[-1]"),
        (i(0x20, 0, 0, 0, 3), "(20) r0 = *(u32 *)skb[3]"),
        (i(0x50, 0, 7, 0, 3), "(50) r0 = *(u8 *)skb[r7 + 3]"),
        (i(0x48, 0, 7, 0, 3), "(48) r0 = *(u16 *)skb[r7 + 3]"),
        (i(0x40, 0, 7, 0, -3), "(40) r0 = *(u32 *)skb[r7 + -3]"),
    ];
    for (insn, text) in cases {
        check(&[*insn], text);
    }
}

#[test]
fn atomics() {
    let cases: &[(Insn, &str)] = &[
        (i(0xdb, 2, 1, 0, 0x00), "(db) lock *(u64 *)(r2 +0) += r1"),
        (i(0xdb, 2, 1, 0, 0x40), "(db) lock *(u64 *)(r2 +0) |= r1"),
        (i(0xdb, 2, 1, 0, 0x50), "(db) lock *(u64 *)(r2 +0) &= r1"),
        (i(0xdb, 2, 1, 0, 0xa0), "(db) lock *(u64 *)(r2 +0) ^= r1"),
        (
            i(0xdb, 2, 1, 0, 0x01),
            "(db) r1 = atomic64_fetch_add((u64 *)(r2 +0), r1)",
        ),
        (
            i(0xdb, 2, 1, 0, 0x41),
            "(db) r1 = atomic64_fetch_or((u64 *)(r2 +0), r1)",
        ),
        (
            i(0xdb, 2, 1, 0, 0x51),
            "(db) r1 = atomic64_fetch_and((u64 *)(r2 +0), r1)",
        ),
        (
            i(0xdb, 2, 1, 0, 0xa1),
            "(db) r1 = atomic64_fetch_xor((u64 *)(r2 +0), r1)",
        ),
        (
            i(0xdb, 2, 1, 0, 0xe1),
            "(db) r1 = atomic64_xchg((u64 *)(r2 +0), r1)",
        ),
        (
            i(0xdb, 2, 1, 0, 0xf1),
            "(db) r0 = atomic64_cmpxchg((u64 *)(r2 +0), r0, r1)",
        ),
        (i(0xc3, 2, 1, -4, 0x00), "(c3) lock *(u32 *)(r2 -4) += r1"),
        (
            i(0xc3, 2, 1, 0, 0x41),
            "(c3) r1 = atomic_fetch_or((u32 *)(r2 +0), r1)",
        ),
        (
            i(0xc3, 2, 1, 0, 0xe1),
            "(c3) r1 = atomic_xchg((u32 *)(r2 +0), r1)",
        ),
        (
            i(0xc3, 2, 1, 0, 0xf1),
            "(c3) r0 = atomic_cmpxchg((u32 *)(r2 +0), r0, r1)",
        ),
        (
            i(0xdb, 3, 2, 0, 0x100),
            "(db) r3 = load_acquire((u64 *)(r2 +0))",
        ),
        (
            i(0xc3, 3, 2, 0, 0x100),
            "(c3) r3 = load_acquire((u32 *)(r2 +0))",
        ),
        (
            i(0xcb, 3, 2, 0, 0x100),
            "(cb) r3 = load_acquire((u16 *)(r2 +0))",
        ),
        (
            i(0xd3, 3, 2, 8, 0x100),
            "(d3) r3 = load_acquire((u8 *)(r2 +8))",
        ),
        (
            i(0xdb, 2, 1, 0, 0x110),
            "(db) store_release((u64 *)(r2 +0), r1)",
        ),
        (
            i(0xc3, 2, 1, 0, 0x110),
            "(c3) store_release((u32 *)(r2 +0), r1)",
        ),
        (
            i(0xcb, 2, 1, 0, 0x110),
            "(cb) store_release((u16 *)(r2 +0), r1)",
        ),
        (
            i(0xd3, 2, 1, 0, 0x110),
            "(d3) store_release((u8 *)(r2 +0), r1)",
        ),
    ];
    for (insn, text) in cases {
        check(&[*insn], text);
    }
}

#[test]
fn ld_imm64() {
    let cases: &[(Vec<Insn>, &str)] = &[
        (
            wide(0x18, 3, 0, 0x5566_7788, 0x1122_3344),
            "(18) r3 = 0x1122334455667788",
        ),
        (wide(0x18, 3, 0, -1, -1), "(18) r3 = 0xffffffffffffffff"),
        (wide(0x18, 3, 0, 5, 0), "(18) r3 = 0x5"),
        (wide(0x18, 1, 1, 5, 0), "(18) r1 = map[fd:5]"),
        (wide(0x18, 4, 2, 5, 4), "(18) r4 = map_value[fd:5]+4"),
        (wide(0x18, 4, 2, 5, 0), "(18) r4 = map_value[fd:5]"),
        (wide(0x18, 1, 3, 13786, 0), "(18) r1 = ksym[btf_id:13786]"),
        (
            wide(0x18, 1, 3, 42, 7),
            "(18) r1 = ksym[btf_id:42,btf_fd:7]",
        ),
        (wide(0x18, 2, 4, 14, 0), "(18) r2 = func[pc+14]"),
        (wide(0x18, 1, 5, 0, 0), "(18) r1 = map[idx:0]"),
        (wide(0x18, 1, 6, 2, 16), "(18) r1 = map_value[idx:2]+16"),
    ];
    for (slots, text) in cases {
        check(slots, text);
    }
}

#[test]
fn builders_produce_the_documented_encodings() {
    use oxbpf_asm::opcode::{alu, atomic, jmp, pseudo, size};
    use oxbpf_asm::reg::*;
    let pairs: &[(Insn, &str)] = &[
        (Insn::mov64_imm(R0, 0), "(b7) r0 = 0"),
        (Insn::mov64_reg(R6, R1), "(bf) r6 = r1"),
        (Insn::mov32_imm(R1, -1), "(b4) w1 = -1"),
        (Insn::mov32_reg(R2, R1), "(bc) w2 = w1"),
        (Insn::alu64_imm(alu::ADD, R2, -8), "(07) r2 += -8"),
        (Insn::alu64_reg(alu::XOR, R0, R1), "(af) r0 ^= r1"),
        (Insn::alu32_imm(alu::AND, R1, 3), "(54) w1 &= 3"),
        (Insn::alu32_reg(alu::LSH, R1, R2), "(6c) w1 <<= w2"),
        (Insn::alu64_signed_imm(alu::DIV, R1, 3), "(37) r1 s/= 3"),
        (Insn::alu64_signed_reg(alu::MOD, R1, R2), "(9f) r1 s%= r2"),
        (Insn::alu32_signed_imm(alu::MOD, R1, 3), "(94) w1 s%= 3"),
        (Insn::alu32_signed_reg(alu::DIV, R1, R2), "(3c) w1 s/= w2"),
        (Insn::neg64(R1), "(87) r1 = -r1"),
        (Insn::neg32(R1), "(84) w1 = -w1"),
        (Insn::movsx64(R3, R1, 32), "(bf) r3 = (s32)r1"),
        (Insn::movsx32(R3, R1, 8), "(bc) w3 = (s8)w1"),
        (
            Insn::addr_space_cast(R1, R2, 0, 1),
            "(bf) r1 = addr_space_cast(r2, 0, 1)",
        ),
        (Insn::to_le(R1, 16), "(d4) r1 = le16 r1"),
        (Insn::to_be(R1, 32), "(dc) r1 = be32 r1"),
        (Insn::bswap(R1, 64), "(d7) r1 = bswap64 r1"),
        (
            Insn::ldx_mem(size::W, R1, R2, 8),
            "(61) r1 = *(u32 *)(r2 +8)",
        ),
        (
            Insn::ldx_memsx(size::H, R1, R2, 8),
            "(89) r1 = *(s16 *)(r2 +8)",
        ),
        (
            Insn::stx_mem(size::DW, R10, R1, -8),
            "(7b) *(u64 *)(r10 -8) = r1",
        ),
        (
            Insn::st_mem(size::B, R10, -1, 7),
            "(72) *(u8 *)(r10 -1) = 7",
        ),
        (Insn::ld_abs(size::B, 5), "(30) r0 = *(u8 *)skb[5]"),
        (
            Insn::ld_ind(size::W, R7, -3),
            "(40) r0 = *(u32 *)skb[r7 + -3]",
        ),
        (
            Insn::atomic(size::DW, atomic::OR | atomic::FETCH, R2, R1, 0),
            "(db) r1 = atomic64_fetch_or((u64 *)(r2 +0), r1)",
        ),
        (
            Insn::atomic_add(size::W, R2, R1, 0),
            "(c3) lock *(u32 *)(r2 +0) += r1",
        ),
        (
            Insn::atomic_fetch_add(size::DW, R2, R1, 0),
            "(db) r1 = atomic64_fetch_add((u64 *)(r2 +0), r1)",
        ),
        (
            Insn::atomic_xchg(size::DW, R2, R1, 0),
            "(db) r1 = atomic64_xchg((u64 *)(r2 +0), r1)",
        ),
        (
            Insn::atomic_cmpxchg(size::W, R2, R1, 0),
            "(c3) r0 = atomic_cmpxchg((u32 *)(r2 +0), r0, r1)",
        ),
        (
            Insn::load_acquire(size::B, R0, R1, 0),
            "(d3) r0 = load_acquire((u8 *)(r1 +0))",
        ),
        (
            Insn::store_release(size::H, R1, R2, 0),
            "(cb) store_release((u16 *)(r1 +0), r2)",
        ),
        (
            Insn::jmp_imm(jmp::JGT, R1, 5, 3),
            "(25) if r1 > 0x5 goto pc+3",
        ),
        (
            Insn::jmp_reg(jmp::JSGE, R1, R2, -4),
            "(7d) if r1 s>= r2 goto pc-4",
        ),
        (
            Insn::jmp32_imm(jmp::JNE, R1, 5, 1),
            "(56) if w1 != 0x5 goto pc+1",
        ),
        (
            Insn::jmp32_reg(jmp::JLT, R1, R2, 1),
            "(ae) if w1 < w2 goto pc+1",
        ),
        (Insn::ja(-2), "(05) goto pc-2"),
        (Insn::gotol(100_000), "(06) gotol pc+100000"),
        (Insn::may_goto(2), "(e5) may_goto pc+2"),
        (Insn::call_helper(1), "(85) call bpf_map_lookup_elem#1"),
        (Insn::call_subprog(5), "(85) call pc+5"),
        (Insn::call_kfunc(123, 0), "(85) call kernel-function#123"),
        (Insn::exit(), "(95) exit"),
    ];
    for (insn, text) in pairs {
        check(&[*insn], text);
    }
    let wides: &[([Insn; 2], &str)] = &[
        (
            Insn::ld_imm64(R1, 0, 0x1122_3344_5566_7788),
            "(18) r1 = 0x1122334455667788",
        ),
        (
            Insn::ld_imm64(R1, pseudo::MAP_VALUE, (16 << 32) | 5),
            "(18) r1 = map_value[fd:5]+16",
        ),
        (Insn::ld_map_fd(R1, 5), "(18) r1 = map[fd:5]"),
        (
            Insn::ld_map_value(R1, 5, 16),
            "(18) r1 = map_value[fd:5]+16",
        ),
        (Insn::ld_map_idx(R1, 0), "(18) r1 = map[idx:0]"),
        (
            Insn::ld_map_idx_value(R1, 1, 8),
            "(18) r1 = map_value[idx:1]+8",
        ),
        (
            Insn::ld_btf_id(R1, 13786, 0),
            "(18) r1 = ksym[btf_id:13786]",
        ),
        (Insn::ld_func(R2, 4), "(18) r2 = func[pc+4]"),
    ];
    for (slots, text) in wides {
        check(slots, text);
    }
}

#[test]
fn names_from_a_callback() {
    let mut prog = Vec::new();
    prog.extend(Insn::ld_map_fd(1, 5)); // 0
    prog.extend(Insn::ld_map_value(2, 5, 16)); // 2
    prog.extend(Insn::ld_map_idx(3, 1)); // 4
    prog.extend(Insn::ld_btf_id(4, 13786, 0)); // 6
    prog.extend(Insn::ld_func(5, 4)); // 8 -> 13
    prog.push(Insn::call_kfunc(65481, 0)); // 10
    prog.push(Insn::call_helper(1)); // 11
    prog.push(Insn::call_subprog(0)); // 12 -> 13
    prog.push(Insn::exit()); // 13
    let names = |t: &Target| -> Option<String> {
        Some(match *t {
            Target::MapFd(5) => "counts".into(),
            Target::MapIdx(1) => "events".into(),
            Target::Ksym { btf_id: 13786, .. } => "bpf_prog_active".into(),
            Target::Kfunc { btf_id: 65481, .. } => "bpf_rcu_read_lock".into(),
            Target::Helper(1) => "lookup".into(),
            Target::Subprog(InsnIdx(13)) => "cb".into(),
            _ => return None,
        })
    };
    let text = disasm_with(&prog, &names).to_string();
    let expected = "   0: (18) r1 = map[counts]
   2: (18) r2 = map_value[counts]+16
   4: (18) r3 = map[events]
   6: (18) r4 = ksym[bpf_prog_active]
   8: (18) r5 = func[cb#pc+4]
  10: (85) call bpf_rcu_read_lock#65481
  11: (85) call lookup#1
  12: (85) call cb#pc+0
  13: (95) exit
";
    assert_eq!(text, expected);
}

#[test]
fn invalid_slots_print_and_disassembly_goes_on() {
    let prog = [
        i(0x8d, 1, 0, 0, 0), // callx: not in the instruction set
        i(0xb7, 0, 0, 0, 0),
        i(0x18, 1, 0, 0, 1), // ld_imm64 cut short
    ];
    let text = disasm(&prog).to_string();
    assert_eq!(
        text,
        "   0: (8d) <invalid: insn 0: invalid opcode 0x8d>
   1: (b7) r0 = 0
   2: (18) <invalid: insn 2: ld_imm64 is truncated (no second slot)>
"
    );
    assert!(matches!(
        Instruction::decode(&prog, 1),
        Ok(Instruction::Alu { .. })
    ));
}
