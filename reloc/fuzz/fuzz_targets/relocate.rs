//! CO-RE relocation over arbitrary local/target BTF pairs. The first byte
//! picks the mode:
//!
//! - even: *generated* — the input drives a generator of small BTF (every
//!   kind, references to any id, colliding and flavored names, both
//!   bitfield encodings, huge and zero array lengths, typedef cycles, raw
//!   records of any kind), access strings, records of every kind and the
//!   instructions they sit on;
//! - odd: *raw* — a little-endian u32 length, that many bytes of local
//!   BTF, a u32 length and the target BTF, then 16-byte records
//!   (`insn_off`, `type_id`, `access_str_off`, `kind`) on a fixed
//!   instruction mix.
//!
//! Resolution, patching and whole-function relocation must answer with a
//! value or an error, never a panic, a hang or an unbounded allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxbpf_asm::Insn;
use oxbpf_btf::{Btf, BtfBuilder, CoreRelo, CoreReloKind, FuncLinkage, IntEncoding, Kind, TypeId};
use oxbpf_reloc::{CandidateCache, CoreRelocator, find_poisoned, function_relos, patch};

/// Choices read from the fuzz input; zeros once it is used up.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }
    fn next(&mut self) -> u64 {
        u64::from(self.u32()) | u64::from(self.u32()) << 32
    }
    fn below(&mut self, n: u64) -> u64 {
        match n {
            0 => 0,
            1..=256 => u64::from(self.byte()) % n,
            _ => u64::from(self.u32()) % n,
        }
    }
    fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len() as u64) as usize]
    }
}

const NAMES: &[&str] = &[
    "", "s", "s___v2", "t", "a", "b", "c", "e", "E1", "E1___x", "int", "___",
];

fn generated_btf(r: &mut Input<'_>) -> Vec<u8> {
    let mut b = BtfBuilder::new();
    let n = 1 + r.below(24) as u32;
    let any = |r: &mut Input<'_>| TypeId(r.below(u64::from(n) + 3) as u32);
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

fn generated_access(r: &mut Input<'_>) -> String {
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

fn generated_insn(r: &mut Input<'_>) -> Vec<Insn> {
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

/// Resolves and patches `relos` every way the crate offers.
fn exercise(
    local: &Btf<'_>,
    target: &Btf<'_>,
    mut insns: Vec<Insn>,
    relos: &[(usize, CoreRelo)],
    r: &mut Input<'_>,
) {
    let mut cache = CandidateCache::new();
    let mut rel = CoreRelocator::new(local, target, &mut cache);
    for (_, relo) in relos {
        match rel.resolve(relo) {
            Ok(res) => {
                let _ = res.to_string();
                let mut copy = insns.clone();
                let _ = patch(&mut copy, 0, &res, r.chance(2)).map(|p| p.to_string());
            }
            Err(e) => drop(e.to_string()),
        }
    }
    let len = insns.len();
    match rel.relocate(&mut insns, relos.iter().copied()) {
        Ok(applied) => {
            assert_eq!(insns.len(), len);
            for a in &applied {
                let _ = a.to_string();
                let _ = a.failure_report(Some("src")).to_string();
            }
            let _ = find_poisoned(&applied, r.below(8) as usize);
        }
        Err(e) => drop(e.to_string()),
    }
    let at = r.below(32);
    let _ = function_relos("s", relos.iter().map(|(_, r)| *r), at, insns.len());
}

fn generated(r: &mut Input<'_>) {
    let first_bytes = generated_btf(r);
    let Ok(first) = Btf::parse(&first_bytes) else {
        return;
    };
    let Ok(mut lb) = BtfBuilder::from_btf(&first) else {
        return;
    };
    let accesses: Vec<u32> = (0..4)
        .map(|_| {
            let a = generated_access(r);
            lb.add_string(&a)
        })
        .collect();
    let local_bytes = lb.build();
    let target_bytes = generated_btf(r);
    let (Ok(local), Ok(target)) = (Btf::parse(&local_bytes), Btf::parse(&target_bytes)) else {
        return;
    };
    let mut insns = Vec::new();
    let mut relos = Vec::new();
    for _ in 0..1 + r.below(6) {
        let at = insns.len();
        insns.extend(generated_insn(r));
        let relo = CoreRelo {
            insn_off: (at * 8) as u32,
            type_id: TypeId(r.below(u64::from(local.types_len()) + 2) as u32),
            access_str_off: if r.chance(20) {
                r.u32()
            } else {
                *r.pick(&accesses)
            },
            kind: CoreReloKind::from_u32(r.below(14) as u32),
        };
        relos.push((if r.chance(30) { at + 100 } else { at }, relo));
    }
    let same = r.chance(4);
    exercise(
        &local,
        if same { &local } else { &target },
        insns,
        &relos,
        r,
    );
}

fn raw(data: &[u8]) {
    fn split<'a>(r: &mut Input<'a>) -> &'a [u8] {
        let n = (r.u32() as usize).min(r.0.len());
        let (a, b) = r.0.split_at(n);
        r.0 = b;
        a
    }
    let mut r = Input(data);
    let local = split(&mut r);
    let target = split(&mut r);
    let (Ok(local), Ok(target)) = (Btf::parse(local), Btf::parse(target)) else {
        return;
    };
    let insns = vec![
        Insn::ldx_mem(0x00, 0, 1, 4),
        Insn::mov64_imm(1, 4),
        Insn::ld_imm64(1, 0, 7)[0],
        Insn::ld_imm64(1, 0, 7)[1],
        Insn::stx_mem(0x18, 1, 2, 8),
        Insn::st_mem(0x10, 1, 0, 1),
        Insn::exit(),
    ];
    let mut relos = Vec::new();
    while r.0.len() >= 16 && relos.len() < 64 {
        let relo = CoreRelo {
            insn_off: r.u32(),
            type_id: TypeId(r.u32()),
            access_str_off: r.u32(),
            kind: CoreReloKind::from_u32(r.u32()),
        };
        relos.push(((relo.insn_off / 8) as usize, relo));
    }
    exercise(&local, &target, insns, &relos, &mut Input(&[]));
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        generated(&mut Input(rest));
    } else {
        raw(rest);
    }
});
