//! Random BTF, access strings and instructions for the CO-RE robustness
//! checks, from any source of choices: the seeded generator of
//! `tests/fuzz.rs` and the fuzz input of `fuzz/fuzz_targets/relocate.rs`
//! (each includes this file with `#[path]`).

use oxbpf_asm::Insn;
use oxbpf_btf::{BtfBuilder, FuncLinkage, IntEncoding, Kind, TypeId};

/// Where the generators' choices come from.
pub trait Choices {
    /// Any 64 bits.
    fn next(&mut self) -> u64;
    /// Any 32 bits.
    fn u32(&mut self) -> u32 {
        self.next() as u32
    }
    /// Any byte.
    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
    /// A number below `n` (0 when `n` is 0).
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
    /// True one time in `one_in`.
    fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }
    /// One of `v` (not empty).
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len() as u64) as usize]
    }
}

const NAMES: &[&str] = &[
    "", "s", "s___v2", "t", "a", "b", "c", "e", "E1", "E1___x", "int", "___",
];

/// A small random BTF: every kind, references to any id (forward, self,
/// out of range), names that collide and carry flavors, both bitfield
/// encodings, huge and zero array lengths, typedef cycles.
pub fn random_btf<C: Choices>(r: &mut C) -> Vec<u8> {
    let mut b = BtfBuilder::new();
    let n = 1 + r.below(24) as u32;
    let any = |r: &mut C| TypeId(r.below(u64::from(n) + 3) as u32);
    for _ in 0..n {
        let name = *r.pick(NAMES);
        match r.below(14) {
            0 => {
                let size = *r.pick(&[0, 1, 2, 4, 8, 16, 3]);
                let bits = r.below(129) as u32;
                let off = r.below(64) as u32;
                b.add_int_bits(name, size, IntEncoding(r.below(8) as u8), off, bits);
            }
            1 => {
                b.add_ptr(any(r));
            }
            2 => {
                let idx = any(r);
                let nelems = *r.pick(&[0, 1, 3, 16, u32::MAX, 1 << 20]);
                b.add_array(any(r), idx, nelems);
            }
            3 | 4 => {
                let m = r.below(6) as usize;
                let mut members = Vec::with_capacity(m);
                for _ in 0..m {
                    let mname = *r.pick(&["", "a", "b", "c", "a"]);
                    let off = if r.chance(8) {
                        r.below(1 << 24) as u32
                    } else {
                        8 * r.below(16) as u32
                    };
                    let bf = if r.chance(3) { r.below(70) as u32 } else { 0 };
                    members.push((mname, any(r), off, bf));
                }
                let size = *r.pick(&[0, 4, 8, 16, 64, u32::MAX]);
                let (kf, union) = (r.chance(2), r.chance(4));
                if kf {
                    if union {
                        b.add_union_bitfields(name, size, &members);
                    } else {
                        b.add_struct_bitfields(name, size, &members);
                    }
                } else {
                    let plain: Vec<_> = members.iter().map(|&(n, t, o, _)| (n, t, o)).collect();
                    if union {
                        b.add_union(name, size, &plain);
                    } else {
                        b.add_struct(name, size, &plain);
                    }
                }
            }
            5 => {
                let vals: Vec<(&str, i64)> = (0..r.below(4))
                    .map(|_| {
                        let name = *r.pick(&["A", "B", "B___x", "C"]);
                        let shift = r.below(64);
                        (name, r.next() as i64 >> shift)
                    })
                    .collect();
                let size = *r.pick(&[1, 2, 4, 8, 3]);
                b.add_enum(name, size, r.chance(2), &vals);
            }
            6 => {
                let vals: Vec<(&str, u64)> = (0..r.below(4))
                    .map(|_| (*r.pick(&["A", "B", "C___y"]), r.next()))
                    .collect();
                let size = *r.pick(&[4, 8]);
                b.add_enum64(name, size, r.chance(2), &vals);
            }
            7 => {
                b.add_fwd(name, r.chance(2));
            }
            8 => {
                b.add_typedef(name, any(r));
            }
            9 => {
                let t = any(r);
                match r.below(4) {
                    0 => b.add_const(t),
                    1 => b.add_volatile(t),
                    2 => b.add_restrict(t),
                    _ => b.add_type_tag("tag", t, false),
                };
            }
            10 => {
                let params: Vec<(&str, TypeId)> = (0..r.below(4)).map(|_| ("p", any(r))).collect();
                b.add_func_proto(any(r), &params);
            }
            11 => {
                b.add_float(name, *r.pick(&[4, 8, 16, 3]));
            }
            12 => {
                b.add_func(name, any(r), FuncLinkage::Static);
            }
            _ => {
                // A raw record of any kind with arbitrary fields.
                let kind = Kind::from_u32(1 + r.below(19) as u32).unwrap_or(Kind::Int);
                let vlen = r.below(3) as usize;
                let words = kind.record_size(vlen) / 4 - 3;
                let trailing: Vec<u32> = (0..words)
                    .map(|_| {
                        let shift = r.below(32);
                        r.u32() >> shift
                    })
                    .collect();
                let name_off = if r.chance(10) {
                    r.u32()
                } else {
                    b.add_string(name)
                };
                let kf = r.chance(2);
                let size = r.below(64) as u32;
                b.add_raw(name_off, kind as u32, kf, vlen as u16, size, &trailing);
            }
        }
    }
    b.build()
}

/// An access string: usually well formed with small indices.
pub fn random_access(r: &mut impl Choices) -> String {
    if r.chance(10) {
        let bytes: Vec<u8> = (0..r.below(8))
            .map(|_| *r.pick(b"0123456789::x -"))
            .collect();
        return String::from_utf8_lossy(&bytes).into_owned();
    }
    let n = 1 + r.below(6);
    (0..n)
        .map(|_| match r.below(30) {
            0 => r.next().to_string(),
            1 => r.u32().to_string(),
            2 => (u32::MAX - r.below(4) as u32).to_string(),
            _ => r.below(6).to_string(),
        })
        .collect::<Vec<_>>()
        .join(":")
}

/// One instruction (two for ld_imm64 and the store pair) of the shapes
/// CO-RE relocations patch, or any opcode.
pub fn random_insn(r: &mut impl Choices) -> Vec<Insn> {
    let imm = r.below(64) as i32 - 8;
    let off = r.below(64) as i16 - 8;
    match r.below(10) {
        9 => vec![Insn::ld_imm64(1, 0, imm as u64)[0]],
        0 => vec![Insn::mov64_imm(1, imm)],
        1 => vec![Insn::mov32_imm(1, imm)],
        2 => vec![Insn::alu64_imm(oxbpf_asm::opcode::alu::ADD, 1, imm)],
        3 => vec![Insn::ldx_mem(*r.pick(&[0x00, 0x08, 0x10, 0x18]), 0, 1, off)],
        4 => vec![Insn::ldx_memsx(*r.pick(&[0x00, 0x08, 0x10]), 0, 1, off)],
        5 => vec![
            Insn::stx_mem(0x00, 1, 2, off),
            Insn::atomic_add(0x18, 1, 2, off),
        ],
        6 => Insn::ld_imm64(1, 0, imm as u64).to_vec(),
        7 => vec![Insn::st_mem(0x10, 1, off, imm)],
        _ => vec![Insn::new(r.byte(), 1, 2, off, imm)],
    }
}
