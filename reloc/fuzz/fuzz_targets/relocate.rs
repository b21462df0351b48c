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
use oxbpf_btf::{Btf, BtfBuilder, CoreRelo, CoreReloKind, TypeId};
use oxbpf_reloc::{CandidateCache, CoreRelocator, find_poisoned, function_relos, patch};

#[path = "../../tests/support/random.rs"]
mod random;
use random::{Choices, random_access, random_btf, random_insn};

/// Choices read from the fuzz input; zeros once it is used up.
struct Input<'a>(&'a [u8]);

impl Choices for Input<'_> {
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
    let first_bytes = random_btf(r);
    let Ok(first) = Btf::parse(&first_bytes) else {
        return;
    };
    let Ok(mut lb) = BtfBuilder::from_btf(&first) else {
        return;
    };
    let accesses: Vec<u32> = (0..4)
        .map(|_| {
            let a = random_access(r);
            lb.add_string(&a)
        })
        .collect();
    let local_bytes = lb.build();
    let target_bytes = random_btf(r);
    let (Ok(local), Ok(target)) = (Btf::parse(&local_bytes), Btf::parse(&target_bytes)) else {
        return;
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
