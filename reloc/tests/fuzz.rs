//! Randomized robustness test (fixed seeds, no external fuzzer): the
//! public entry points — access-string parsing, resolution and relocation
//! — answer arbitrary local/target BTF pairs, records and instructions
//! with a value or an error, never a panic or a hang. `cargo xtask fuzz`
//! can run more rounds: `OXBPF_FUZZ_ROUNDS=100000`.

use oxbpf_asm::Insn;
use oxbpf_btf::{Btf, BtfBuilder, CoreRelo, CoreReloKind, FuncLinkage, IntEncoding, Kind, TypeId};
use oxbpf_reloc::{
    AccessPath, CandidateCache, CoreRelocator, find_poisoned, function_relos, patch,
};

/// xorshift64*: deterministic, good enough to pick shapes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
    fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len() as u64) as usize]
    }
}

fn rounds(default: u64) -> u64 {
    std::env::var("OXBPF_FUZZ_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const NAMES: &[&str] = &[
    "", "s", "s___v2", "t", "a", "b", "c", "e", "E1", "E1___x", "int", "___",
];

/// A small random BTF: every kind, references to any id (forward, self,
/// out of range), names that collide and carry flavors, both bitfield
/// encodings, huge and zero array lengths, typedef cycles.
fn random_btf(r: &mut Rng) -> Vec<u8> {
    let mut b = BtfBuilder::new();
    let n = 1 + r.below(24) as u32;
    let any = |r: &mut Rng| TypeId(r.below(u64::from(n) + 3) as u32);
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
                let kf = r.chance(2);
                let union = r.chance(4);
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
                        (
                            *r.pick(&["A", "B", "B___x", "C"]),
                            r.next() as i64 >> r.below(64),
                        )
                    })
                    .collect();
                b.add_enum(name, *r.pick(&[1, 2, 4, 8, 3]), r.chance(2), &vals);
            }
            6 => {
                let vals: Vec<(&str, u64)> = (0..r.below(4))
                    .map(|_| (*r.pick(&["A", "B", "C___y"]), r.next()))
                    .collect();
                b.add_enum64(name, *r.pick(&[4, 8]), r.chance(2), &vals);
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
                let trailing: Vec<u32> =
                    (0..words).map(|_| r.next() as u32 >> r.below(32)).collect();
                let name_off = if r.chance(10) {
                    r.next() as u32
                } else {
                    b.add_string(name)
                };
                b.add_raw(
                    name_off,
                    kind as u32,
                    r.chance(2),
                    vlen as u16,
                    r.below(64) as u32,
                    &trailing,
                );
            }
        }
    }
    b.build()
}

/// An access string: usually well formed with small indices.
fn random_access(r: &mut Rng) -> String {
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
            1 => (r.next() as u32).to_string(),
            2 => (u32::MAX - r.below(4) as u32).to_string(),
            _ => r.below(6).to_string(),
        })
        .collect::<Vec<_>>()
        .join(":")
}

fn random_insn(r: &mut Rng) -> Vec<Insn> {
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
        _ => vec![Insn::new(r.next() as u8, 1, 2, off, imm)],
    }
}

/// One round: a local and a target BTF, records on random instructions.
fn round(r: &mut Rng, extra_target: Option<&Btf<'_>>) {
    let mut lb = BtfBuilder::from_btf(&Btf::parse(&random_btf(r)).unwrap()).unwrap();
    let accesses: Vec<u32> = (0..4).map(|_| lb.add_string(&random_access(r))).collect();
    let local_bytes = lb.build();
    let target_bytes = random_btf(r);
    let (Ok(local), Ok(target)) = (Btf::parse(&local_bytes), Btf::parse(&target_bytes)) else {
        return;
    };
    let target = match extra_target {
        Some(t) if r.chance(3) => t,
        _ => &target,
    };
    let mut insns = Vec::new();
    let mut relos = Vec::new();
    for _ in 0..1 + r.below(6) {
        let at = insns.len();
        insns.extend(random_insn(r));
        let relo = CoreRelo {
            insn_off: (at * 8) as u32,
            type_id: TypeId(r.below(u64::from(local.types_len()) + 2) as u32),
            access_str_off: if r.chance(20) {
                r.next() as u32
            } else {
                *r.pick(&accesses)
            },
            kind: CoreReloKind::from_u32(r.below(14) as u32),
        };
        relos.push((if r.chance(30) { at + 100 } else { at }, relo));
    }
    let mut cache = CandidateCache::new();
    let mut rel = CoreRelocator::new(&local, target, &mut cache);
    for (_, relo) in &relos {
        match rel.resolve(relo) {
            Ok(res) => {
                let _ = res.to_string();
                let mut copy = insns.clone();
                let _ = patch(&mut copy, 0, &res, r.chance(2)).map(|p| p.to_string());
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
    match rel.relocate(&mut insns, relos.clone()) {
        Ok(applied) => {
            for a in &applied {
                let _ = a.to_string();
                let _ = a.failure_report(Some("src")).to_string();
            }
            let _ = find_poisoned(&applied, r.below(8) as usize);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    let _ = function_relos("s", relos.iter().map(|(_, r)| *r), r.below(32), insns.len());
}

#[test]
fn random_btf_pairs_and_records_never_panic() {
    let mut r = Rng(0x5eed_c0de_1234_5678);
    for _ in 0..rounds(3000) {
        round(&mut r, None);
    }
}

/// Byte-level mutations of a real object's BTF (the types a clang-built
/// CO-RE program carries), used as local and as target.
#[test]
fn mutated_real_btf_never_panics() {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/core_fields.bpf.o"
    ))
    .unwrap();
    let obj = oxbpf_elf_bpf::Object::parse(&bytes).unwrap();
    let real = obj.btf.as_ref().unwrap();
    let ext = oxbpf_btf::BtfExt::parse(obj.btf_ext.as_deref().unwrap(), real).unwrap();
    let f = &obj.programs[0].function;
    let sec = ext.core_relos_for(&f.section).unwrap();
    let records: Vec<CoreRelo> = sec.records().collect();
    let relos =
        function_relos(&f.section, records.iter().copied(), f.offset, f.insns.len()).unwrap();
    let blob = real.as_bytes().to_vec();
    let hdr = real.header();
    let types = hdr.hdr_len as usize + hdr.type_off as usize
        ..hdr.hdr_len as usize + (hdr.type_off + hdr.type_len) as usize;
    let mut r = Rng(0xfeed_beef_0bad_f00d);
    let mut parsed = 0;
    for i in 0..rounds(1500) {
        let mut m = blob.clone();
        for _ in 0..1 + r.below(8) {
            let pos = types.start + r.below(types.len() as u64) as usize;
            m[pos] = if r.chance(2) {
                r.next() as u8
            } else {
                m[pos] ^ (1 << r.below(8))
            };
        }
        let Ok(mutated) = Btf::parse(&m) else {
            continue;
        };
        parsed += 1;
        let (local, target) = if i % 2 == 0 {
            (&mutated, real)
        } else {
            (real, &mutated)
        };
        let mut cache = CandidateCache::new();
        let mut rel = CoreRelocator::new(local, target, &mut cache);
        let mut insns = f.insns.clone();
        match rel.relocate(&mut insns, relos.iter().copied()) {
            Ok(a) => a.iter().for_each(|a| drop(a.to_string())),
            Err(e) => drop(e.to_string()),
        }
        // Random records on the real instructions, too.
        for _ in 0..4 {
            let relo = CoreRelo {
                insn_off: 0,
                type_id: TypeId(r.below(u64::from(local.types_len()) + 2) as u32),
                access_str_off: records[r.below(records.len() as u64) as usize].access_str_off,
                kind: CoreReloKind::from_u32(r.below(13) as u32),
            };
            let _ = rel
                .resolve(&relo)
                .map(|x| x.to_string())
                .map_err(|e| e.to_string());
        }
    }
    assert!(
        parsed > 100,
        "only {parsed} mutated blobs parsed: the test exercised too little"
    );
}

#[test]
fn access_strings_from_random_bytes() {
    let mut r = Rng(42);
    for _ in 0..rounds(20_000) {
        let len = r.below(300) as usize;
        let s: Vec<u8> = (0..len)
            .map(|_| {
                if r.chance(4) {
                    r.next() as u8
                } else {
                    *r.pick(b"0123456789:")
                }
            })
            .collect();
        if let Ok(p) = AccessPath::parse_bytes(&s) {
            assert!(!p.is_empty() && p.len() <= oxbpf_reloc::MAX_ACCESS_LEN);
            assert_eq!(AccessPath::parse(&p.to_string()).unwrap(), p);
        }
    }
}
