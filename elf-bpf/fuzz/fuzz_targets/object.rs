//! `Object::parse` on any bytes (seeded with the test objects), then what
//! the loader reads next: every field of what it accepts, and its
//! `.BTF.ext` against its `.BTF`. An error is fine; a panic, a hang or an
//! unbounded allocation is not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxbpf_btf::BtfExt;
use oxbpf_elf_bpf::{Object, RelocTarget};

fuzz_target!(|data: &[u8]| {
    let obj = match Object::parse(data) {
        Ok(obj) => obj,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    // Debug walks every field (programs, maps, externs, data, BTF).
    let _ = format!("{obj:?}");
    for p in &obj.programs {
        let _ = (p.name(), p.section(), p.kind.map(|k| k.prog_type));
        for r in &p.function.relocations {
            assert!(
                r.insn < p.function.insns.len(),
                "relocation outside its function"
            );
            match r.target {
                RelocTarget::Map(i) => {
                    assert!(
                        i < obj.maps.len(),
                        "relocation names map {i} of {}",
                        obj.maps.len()
                    );
                }
                RelocTarget::Data { section, .. } => assert!(section < obj.data.len()),
                RelocTarget::Arena { .. } => {
                    assert!(
                        obj.arena.is_some(),
                        "arena relocation without an arena section"
                    )
                }
                _ => {}
            }
            if matches!(
                r.target,
                RelocTarget::Map(_) | RelocTarget::Data { .. } | RelocTarget::Arena { .. }
            ) {
                // The loader patches both slots of the ld_imm64.
                assert!(r.insn + 1 < p.function.insns.len());
            }
        }
    }
    if let (Some(btf), Some(ext)) = (&obj.btf, &obj.btf_ext)
        && let Ok(ext) = BtfExt::parse(ext, btf)
    {
        for p in &obj.programs {
            let _ = ext.core_relos_for(&p.function.section);
            let _ = ext.func_info_for(&p.function.section);
        }
    }
});
