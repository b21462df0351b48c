//! Randomized robustness test (fixed seeds, no external fuzzer): the
//! public entry points — access-string parsing, resolution and relocation
//! — answer arbitrary local/target BTF pairs, records and instructions
//! with a value or an error, never a panic or a hang. `cargo xtask fuzz`
//! can run more rounds: `OXBPF_FUZZ_ROUNDS=100000`.

use oxbpf_btf::{Btf, BtfBuilder, CoreRelo, CoreReloKind, TypeId};
use oxbpf_reloc::{
    AccessPath, CandidateCache, CoreRelocator, find_poisoned, function_relos, patch,
};

mod support {
    pub mod random;
}
use support::random::{Choices, random_access, random_btf, random_insn};

/// xorshift64*: deterministic, good enough to pick shapes.
struct Rng(u64);

impl Choices for Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn rounds(default: u64) -> u64 {
    std::env::var("OXBPF_FUZZ_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
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
