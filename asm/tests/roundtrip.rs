//! Every opcode byte × a spread of register, offset and immediate values:
//! what decodes must encode back to the same slots, what the instruction
//! set leaves undefined must be rejected with an error naming the slot,
//! and the predicates on `Insn` must agree with the decoded form.
//!
//! Validity is judged by an oracle written separately from the decoder:
//! a hand-made list of the 128 defined opcode bytes and per-opcode field
//! rules taken from the instruction-set document.

use oxbpf_asm::{Call, Error, Imm64, Insn, InsnIdx, Instruction, Operand, Size, decode, encode};
use std::collections::BTreeSet;

/// The opcode bytes the instruction set defines, listed by hand.
const VALID_CODES: [u8; 128] = [
    // ALU, K: add sub mul div or and lsh rsh neg mod xor mov arsh le
    0x04, 0x14, 0x24, 0x34, 0x44, 0x54, 0x64, 0x74, 0x84, 0x94, 0xa4, 0xb4, 0xc4, 0xd4,
    // ALU, X: same without neg, end is be
    0x0c, 0x1c, 0x2c, 0x3c, 0x4c, 0x5c, 0x6c, 0x7c, 0x9c, 0xac, 0xbc, 0xcc, 0xdc,
    // ALU64, K (0xd7 is bswap)
    0x07, 0x17, 0x27, 0x37, 0x47, 0x57, 0x67, 0x77, 0x87, 0x97, 0xa7, 0xb7, 0xc7, 0xd7,
    // ALU64, X (no neg, no end)
    0x0f, 0x1f, 0x2f, 0x3f, 0x4f, 0x5f, 0x6f, 0x7f, 0x9f, 0xaf, 0xbf, 0xcf,
    // JMP, K: ja jeq jgt jge jset jne jsgt jsge call exit jlt jle jslt jsle jcond
    0x05, 0x15, 0x25, 0x35, 0x45, 0x55, 0x65, 0x75, 0x85, 0x95, 0xa5, 0xb5, 0xc5, 0xd5, 0xe5,
    // JMP, X: conditions only
    0x1d, 0x2d, 0x3d, 0x4d, 0x5d, 0x6d, 0x7d, 0xad, 0xbd, 0xcd, 0xdd,
    // JMP32, K: gotol and conditions
    0x06, 0x16, 0x26, 0x36, 0x46, 0x56, 0x66, 0x76, 0xa6, 0xb6, 0xc6, 0xd6, // JMP32, X
    0x1e, 0x2e, 0x3e, 0x4e, 0x5e, 0x6e, 0x7e, 0xae, 0xbe, 0xce, 0xde,
    // LD: ld_imm64, abs w/h/b, ind w/h/b
    0x18, 0x20, 0x28, 0x30, 0x40, 0x48, 0x50, // LDX: mem w/h/b/dw, memsx w/h/b
    0x61, 0x69, 0x71, 0x79, 0x81, 0x89, 0x91, // ST: mem w/h/b/dw
    0x62, 0x6a, 0x72, 0x7a, // STX: mem w/h/b/dw, atomic w/h/b/dw
    0x63, 0x6b, 0x73, 0x7b, 0xc3, 0xcb, 0xd3, 0xdb,
];

const DSTS: [u8; 6] = [0, 1, 9, 10, 11, 15];
const SRCS: [u8; 11] = [0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 15];
const OFFS: [i16; 11] = [0, 1, -1, 2, 7, 8, 16, 32, 64, i16::MAX, i16::MIN];
const IMMS: [i32; 26] = [
    0,
    1,
    -1,
    3,
    8,
    12,
    16,
    32,
    64,
    0x40,
    0x41,
    0x50,
    0x51,
    0xa0,
    0xa1,
    0xe0,
    0xe1,
    0xf0,
    0xf1,
    0x100,
    0x110,
    0x1_0000,
    0x1_0001,
    i32::MAX,
    i32::MIN,
    -3,
];

fn reg_ok(r: u8) -> bool {
    r <= 10
}

/// The oracle: is this (first slot, second slot) a defined instruction?
fn spec_valid(x: Insn, next: Option<Insn>) -> bool {
    let (code, dst, src, off, imm) = (x.code, x.dst(), x.src(), x.off, x.imm);
    if !VALID_CODES.contains(&code) {
        return false;
    }
    let class = code & 7;
    let op = code & 0xf0;
    let is_x = code & 8 != 0;
    match class {
        4 | 7 => {
            if !reg_ok(dst) {
                return false;
            }
            match op {
                0x80 => src == 0 && off == 0 && imm == 0,
                0xd0 => src == 0 && off == 0 && [16, 32, 64].contains(&imm),
                0xb0 if is_x => {
                    reg_ok(src)
                        && match off {
                            0 | 8 | 16 => imm == 0,
                            32 => class == 7 && imm == 0,
                            1 => class == 7,
                            _ => false,
                        }
                }
                0x30 | 0x90 => {
                    (off == 0 || off == 1)
                        && if is_x {
                            reg_ok(src) && imm == 0
                        } else {
                            src == 0
                        }
                }
                _ => {
                    off == 0
                        && if is_x {
                            reg_ok(src) && imm == 0
                        } else {
                            src == 0
                        }
                }
            }
        }
        5 | 6 => match op {
            0x00 if class == 5 => dst == 0 && src == 0 && imm == 0,
            0x00 => dst == 0 && src == 0 && off == 0,
            0x80 => {
                dst == 0 && matches!((src, off), (0, 0) | (1, 0))
                    || (dst == 0 && src == 2 && off >= 0)
            }
            0x90 => dst == 0 && src == 0 && off == 0 && imm == 0,
            0xe0 => dst == 0 && src == 0 && imm == 0,
            _ => {
                reg_ok(dst)
                    && if is_x {
                        reg_ok(src) && imm == 0
                    } else {
                        src == 0
                    }
            }
        },
        0 => match code {
            0x18 => {
                let Some(n) = next else { return false };
                if n.code != 0 || n.regs != 0 || n.off != 0 || !reg_ok(dst) || off != 0 {
                    return false;
                }
                match src {
                    0 | 2 | 3 | 6 => true,
                    1 | 4 | 5 => n.imm == 0,
                    _ => false,
                }
            }
            0x20 | 0x28 | 0x30 => dst == 0 && src == 0 && off == 0,
            _ => dst == 0 && off == 0 && reg_ok(src),
        },
        1 => reg_ok(dst) && reg_ok(src) && imm == 0,
        2 => reg_ok(dst) && src == 0,
        _ => {
            if !(reg_ok(dst) && reg_ok(src)) {
                return false;
            }
            if code & 0xe0 == 0x60 {
                return imm == 0;
            }
            let wide = code == 0xc3 || code == 0xdb;
            match imm {
                0x100 | 0x110 => true,
                0x00 | 0x40 | 0x50 | 0xa0 | 0x01 | 0x41 | 0x51 | 0xa1 | 0xe1 | 0xf1 => wide,
                _ => false,
            }
        }
    }
}

/// The predicates on the raw slot agree with the decoded variant.
fn check_predicates(x: Insn, d: &Instruction) {
    use Instruction as I;
    assert_eq!(x.is_call(), matches!(d, I::Call(_)), "{x:?}");
    assert_eq!(
        x.is_helper_call(),
        matches!(d, I::Call(Call::Helper(_))),
        "{x:?}"
    );
    assert_eq!(
        x.is_subprog_call(),
        matches!(d, I::Call(Call::Subprog(_))),
        "{x:?}"
    );
    assert_eq!(
        x.is_kfunc_call(),
        matches!(d, I::Call(Call::Kfunc { .. })),
        "{x:?}"
    );
    assert_eq!(x.is_exit(), matches!(d, I::Exit), "{x:?}");
    assert_eq!(
        x.is_jump(),
        matches!(
            d,
            I::Ja { .. } | I::Gotol { .. } | I::Jmp { .. } | I::MayGoto { .. }
        ),
        "{x:?}"
    );
    let rel = match *d {
        I::Ja { off } | I::Jmp { off, .. } | I::MayGoto { off } => Some(off as isize),
        I::Gotol { imm } => Some(imm as isize),
        _ => None,
    };
    assert_eq!(x.jump_target(100), rel.map(|r| 101 + r), "{x:?}");
    let call_rel = match *d {
        I::Call(Call::Subprog(rel))
        | I::LdImm64 {
            imm: Imm64::Func(rel),
            ..
        } => Some(rel as isize),
        _ => None,
    };
    assert_eq!(x.call_target(100), call_rel.map(|r| 101 + r), "{x:?}");
    assert_eq!(x.is_ld_imm64(), matches!(d, I::LdImm64 { .. }), "{x:?}");
    assert_eq!(
        x.is_pseudo_func(),
        matches!(
            d,
            I::LdImm64 {
                imm: Imm64::Func(_),
                ..
            }
        ),
        "{x:?}"
    );
    assert_eq!(
        x.is_ksym_load(),
        matches!(
            d,
            I::LdImm64 {
                imm: Imm64::BtfId { .. },
                ..
            }
        ),
        "{x:?}"
    );
    assert_eq!(
        x.is_map_load(),
        matches!(
            d,
            I::LdImm64 {
                imm: Imm64::MapFd(_)
                    | Imm64::MapValue { .. }
                    | Imm64::MapIdx(_)
                    | Imm64::MapIdxValue { .. },
                ..
            }
        ),
        "{x:?}"
    );
    assert_eq!(x.is_ldx(), matches!(d, I::Load { .. }), "{x:?}");
    assert_eq!(
        x.is_stx(),
        matches!(
            d,
            I::Store {
                value: Operand::Reg(_),
                ..
            }
        ),
        "{x:?}"
    );
    assert_eq!(
        x.is_st(),
        matches!(
            d,
            I::Store {
                value: Operand::Imm(_),
                ..
            }
        ),
        "{x:?}"
    );
    assert_eq!(x.is_atomic(), matches!(d, I::Atomic { .. }), "{x:?}");
    let size = match *d {
        I::Load { size, .. }
        | I::Store { size, .. }
        | I::Atomic { size, .. }
        | I::LdAbs { size, .. }
        | I::LdInd { size, .. } => Some(size),
        _ => None,
    };
    assert_eq!(x.mem_size(), size, "{x:?}");
}

#[test]
fn every_opcode_round_trips_or_is_rejected() {
    let pad = Insn::mov64_imm(0, 0);
    let seconds = [
        Insn::new(0, 0, 0, 0, 0),
        Insn::new(0, 0, 0, 0, 5),
        Insn::new(0, 0, 0, 0, -1),
        Insn::new(1, 0, 0, 0, 0),
        Insn::new(0, 1, 0, 0, 0),
        Insn::new(0, 0, 1, 0, 0),
        Insn::new(0, 0, 0, 1, 0),
    ];
    let mut valid_codes = BTreeSet::new();
    let (mut accepted, mut rejected) = (0u64, 0u64);
    for code in 0..=255u8 {
        for &dst in &DSTS {
            for &src in &SRCS {
                for &off in &OFFS {
                    for &imm in &IMMS {
                        let x = Insn::new(code, dst, src, off, imm);
                        let nexts: &[Option<Insn>] = if x.is_ld_imm64() {
                            &[
                                None,
                                Some(seconds[0]),
                                Some(seconds[1]),
                                Some(seconds[2]),
                                Some(seconds[3]),
                                Some(seconds[4]),
                                Some(seconds[5]),
                                Some(seconds[6]),
                            ]
                        } else {
                            &[None]
                        };
                        for &next in nexts {
                            // Put the slot at index 3 so errors must name it.
                            let mut prog = vec![pad, pad, pad, x];
                            prog.extend(next);
                            let got = Instruction::decode(&prog, 3);
                            let want = spec_valid(x, next);
                            match got {
                                Ok(d) => {
                                    assert!(
                                        want,
                                        "accepted undefined {x:?} next {next:?} as {d:?}"
                                    );
                                    let enc = d.encode();
                                    assert_eq!(&*enc, &prog[3..3 + d.slots()], "{d:?}");
                                    check_predicates(x, &d);
                                    valid_codes.insert(code);
                                    accepted += 1;
                                }
                                Err(e) => {
                                    assert!(!want, "rejected defined {x:?} next {next:?}: {e}");
                                    let idx = match e {
                                        Error::InvalidOpcode { idx, code: c } => {
                                            assert_eq!(c, code);
                                            idx
                                        }
                                        Error::ReservedField { idx, code: c, .. }
                                        | Error::InvalidField { idx, code: c, .. } => {
                                            assert_eq!(c, code);
                                            idx
                                        }
                                        Error::TruncatedLdImm64 { idx }
                                        | Error::BadLdImm64Second { idx, .. } => idx,
                                        other => panic!("unexpected {other:?}"),
                                    };
                                    assert_eq!(idx, InsnIdx(3), "{e}");
                                    rejected += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    let expected: BTreeSet<u8> = VALID_CODES.into_iter().collect();
    assert_eq!(expected.len(), 128);
    assert_eq!(valid_codes, expected);
    assert!(
        accepted > 50_000 && rejected > 1_000_000,
        "{accepted} accepted, {rejected} rejected"
    );
}

#[test]
fn decoded_programs_round_trip_through_encode() {
    let mut prog = Vec::new();
    prog.push(Insn::mov64_imm(0, 0));
    prog.extend(Insn::ld_imm64(1, 0, u64::MAX));
    prog.extend(Insn::ld_map_value(2, 3, 8));
    prog.push(Insn::atomic_fetch_add(oxbpf_asm::opcode::size::DW, 2, 1, 0));
    prog.push(Insn::exit());
    let decoded = decode(&prog).unwrap();
    let idx: Vec<usize> = decoded.iter().map(|(i, _)| i.0).collect();
    assert_eq!(idx, [0, 1, 3, 5, 6]);
    let back = encode(&decoded.into_iter().map(|(_, d)| d).collect::<Vec<_>>());
    assert_eq!(back, prog);
}

#[test]
fn decode_reports_the_first_bad_slot() {
    let prog = [
        Insn::mov64_imm(0, 0),
        Insn::exit(),
        Insn::new(0x8d, 1, 0, 0, 0),
        Insn::exit(),
    ];
    assert_eq!(
        decode(&prog),
        Err(Error::InvalidOpcode {
            idx: InsnIdx(2),
            code: 0x8d
        })
    );
    let truncated = [Insn::mov64_imm(0, 0), Insn::ld_map_fd(1, 3)[0]];
    assert_eq!(
        decode(&truncated),
        Err(Error::TruncatedLdImm64 { idx: InsnIdx(1) })
    );
    let bad_second = [Insn::ld_imm64(1, 0, 5)[0], Insn::mov64_imm(0, 0)];
    assert!(matches!(
        decode(&bad_second),
        Err(Error::BadLdImm64Second {
            idx: InsnIdx(0),
            code: 0xb7,
            ..
        })
    ));
    assert_eq!(
        Instruction::decode(&prog, 4),
        Err(Error::OutOfRange {
            idx: InsnIdx(4),
            len: 4
        })
    );
    // A stray second slot on its own is an undefined opcode 0x00.
    assert_eq!(
        decode(&[Insn::default()]),
        Err(Error::InvalidOpcode {
            idx: InsnIdx(0),
            code: 0
        })
    );
}

#[test]
fn bytes_views() {
    let prog = [
        Insn::mov64_imm(1, -2),
        Insn::ldx_mem(oxbpf_asm::opcode::size::W, 2, 1, 0x1234),
        Insn::exit(),
    ];
    let bytes = Insn::as_bytes(&prog);
    assert_eq!(bytes.len(), 24);
    assert_eq!(&bytes[..8], &[0xb7, 0x01, 0, 0, 0xfe, 0xff, 0xff, 0xff]);
    assert_eq!(Insn::slice_from_bytes(bytes).unwrap(), &prog);
    assert_eq!(Insn::vec_from_bytes(bytes, false).unwrap(), prog);
    assert_eq!(
        Insn::slice_from_bytes(&bytes[..20]),
        Err(Error::BadLength { len: 20 })
    );
    assert_eq!(
        Insn::vec_from_bytes(&bytes[..9], false),
        Err(Error::BadLength { len: 9 })
    );
    // The same bytes at an address that is not 4-aligned.
    let mut buf = [0u8; 40];
    let base = buf.as_ptr() as usize;
    let s = (0..4).find(|s| (base + s) % 4 != 0).unwrap();
    buf[s..s + 24].copy_from_slice(bytes);
    assert!(matches!(
        Insn::slice_from_bytes(&buf[s..s + 24]),
        Err(Error::Misaligned { .. })
    ));
    assert_eq!(Insn::vec_from_bytes(&buf[s..s + 24], false).unwrap(), prog);
    // Big-endian bytes: register nibbles swapped, fields big-endian.
    for x in prog {
        let be = x.to_bytes(true);
        assert_eq!(Insn::from_bytes(be, true), x);
        assert_eq!(Insn::from_bytes(x.to_bytes(false), false), x);
    }
    assert_eq!(prog[1].to_bytes(true), [0x61, 0x21, 0x12, 0x34, 0, 0, 0, 0]);
    assert_eq!(Size::W.bytes(), 4);
}
