//! CO-RE relocation of a whole object (seeded with the test objects, the
//! CO-RE ones among them): its `.BTF.ext` records, function by function,
//! resolved and patched against this machine's kernel BTF (read once) and
//! against the object's own BTF; then each program linked with its
//! subprograms. Errors are fine; panics, hangs and unbounded allocations
//! are not.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use oxbpf_btf::{Btf, BtfExt};
use oxbpf_elf_bpf::{Function, Object};
use oxbpf_reloc::{CandidateCache, CoreRelocator, function_relos, link_program};

fn vmlinux() -> Option<&'static Btf<'static>> {
    static VMLINUX: OnceLock<Option<Btf<'static>>> = OnceLock::new();
    VMLINUX
        .get_or_init(|| Btf::from_file(std::path::Path::new("/sys/kernel/btf/vmlinux")).ok())
        .as_ref()
}

fuzz_target!(|data: &[u8]| {
    let Ok(obj) = Object::parse(data) else { return };
    let functions: Vec<&Function> = obj
        .programs
        .iter()
        .map(|p| &p.function)
        .chain(&obj.subprograms)
        .collect();
    for p in &obj.programs {
        match link_program(&p.function, &[], &functions) {
            Ok(l) => drop(format!("{l:?}")),
            Err(e) => drop(e.to_string()),
        }
    }
    let (Some(local), Some(ext)) = (&obj.btf, &obj.btf_ext) else {
        return;
    };
    let Ok(ext) = BtfExt::parse(ext, local) else {
        return;
    };
    let mut targets = vec![local];
    targets.extend(vmlinux());
    for target in targets {
        let mut cache = CandidateCache::new();
        let mut rel = CoreRelocator::new(local, target, &mut cache);
        for f in &functions {
            let Some(sec) = ext.core_relos_for(&f.section) else {
                continue;
            };
            let relos = match function_relos(&f.section, sec.records(), f.offset, f.insns.len()) {
                Ok(r) => r,
                Err(e) => {
                    let _ = e.to_string();
                    continue;
                }
            };
            let mut insns = f.insns.clone();
            match rel.relocate(&mut insns, relos) {
                Ok(applied) => {
                    assert_eq!(insns.len(), f.insns.len());
                    for a in &applied {
                        let _ = a.to_string();
                        let _ = a.failure_report(None).to_string();
                    }
                }
                Err(e) => drop(e.to_string()),
            }
        }
    }
});
