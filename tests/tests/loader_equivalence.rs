//! Every corpus object, and the CO-RE objects of `reloc/tests/data`: the
//! loader decodes back into its plan, and loading through the generated
//! loader gives the kernel the same objects as loading live — map
//! definitions and contents (the `.kconfig` map's values included), the
//! same translated instructions per program (map ids aside), func_info and
//! line_info, BTF. The loader leaves CO-RE relocations to the kernel and
//! its runtime computes the kconfig values, where live mode does both in
//! user space: the same instructions after the verifier show they agree.

mod loader_support;

use std::path::{Path, PathBuf};

use oxbpf::gen_loader::{GenOptions, KernelVersion, Loader, decode, generate};
use oxbpf::plan::Op;
use oxbpf::{Error, OpenObject};
use oxbpf_tests::{
    FdSnapshot, Feature, KernelObjects, PinDir, corpus, excused_load_failure, kernel_lock, require,
    settled_new_objects,
};

use loader_support::{describe, files_under};

/// Corpus objects a generated loader cannot express, with the step its
/// `Error::Unsupported` names: checked to fail that way, not compared.
const NOT_GENERATED: &[(&str, &str)] = &[
    // The arena must be mapped into the loading process before programs
    // load; a loader program cannot do that.
    ("arena.bpf.o", "arena_map"),
];

/// CO-RE objects whose loader plan is refused: the kernel's CO-RE code
/// would refuse the program whatever its BTF (it sign-extends the local
/// value of an unsigned enumerator with bit 31 set and then finds the
/// ld_imm64 clang wrote zero-extended), with what the refusal names.
const NOT_PLANNED: &[(&str, &str)] = &[("core_enum_unsigned.bpf.o", "IPC_NS_INIT_INO")];

/// CO-RE objects whose program the verifier refuses, live and through the
/// loader alike: a relocation no candidate satisfies poisons its
/// instruction, in user space live and in the kernel through the loader.
const REFUSED: &[&str] = &["core_poison.bpf.o"];

/// The corpus and the CO-RE objects of `reloc/tests/data`.
fn objects() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../reloc/tests/data");
    let mut core: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".bpf.o"))
        .collect();
    core.sort();
    assert!(core.len() >= 4, "CO-RE objects in {}", dir.display());
    corpus().into_iter().chain(core).collect()
}

fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// Whether `path` is one of [`NOT_GENERATED`] or [`NOT_PLANNED`], after
/// checking that its generation (or loader plan) fails naming the step.
fn not_generated(path: &Path, pins: &PinDir) -> bool {
    let file = file_name(path);
    if let Some((_, what)) = NOT_PLANNED.iter().find(|(name, _)| *name == file) {
        match open(path, pins).loader_plan() {
            Err(Error::Unsupported { what: w, site }) => {
                assert!(w.contains(what), "{file}: {w}");
                assert!(site.contains("instruction"), "{file}: {site}");
            }
            other => panic!("{file}: expected Unsupported, got {other:?}"),
        }
        // Live mode relocates it in user space.
        assert!(open(path, pins).plan().is_ok(), "{file}: live plan");
        return true;
    }
    let Some((_, step)) = NOT_GENERATED.iter().find(|(name, _)| *name == file) else {
        return false;
    };
    let plan = open(path, pins).loader_plan().unwrap();
    match generate(&plan, &GenOptions::default()) {
        Err(oxbpf::gen_loader::Error::Unsupported { site, .. }) => {
            assert!(
                site.contains(step),
                "{file}: unsupported at {site}, not {step}"
            )
        }
        other => panic!("{file}: expected Unsupported at {step}, got {other:?}"),
    }
    true
}

fn open(path: &std::path::Path, pins: &PinDir) -> OpenObject {
    let mut open = OpenObject::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    open.set_pin_root(&pins.0);
    open
}

/// [`open`], with the choices a live load makes for the running kernel
/// and a generated loader cannot (its kernel is not known) set as the
/// loader sets them: USDT programs load for perf-event uprobes, not for a
/// uprobe_multi link.
fn open_like_a_loader(path: &std::path::Path, pins: &PinDir) -> OpenObject {
    let mut open = open(path, pins);
    let usdt: Vec<String> = open
        .programs()
        .filter(|p| p.section().starts_with("usdt"))
        .map(|p| p.name().to_owned())
        .collect();
    for name in usdt {
        open.program_mut(&name)
            .unwrap()
            .set_expected_attach_type(None);
    }
    open
}

fn clear(pins: &PinDir) {
    for p in files_under(&pins.0) {
        std::fs::remove_file(p).unwrap();
    }
}

#[test]
fn every_corpus_plan_survives_generate_then_decode() {
    // Not a kernel test, but it opens files: it must not run while the
    // other test counts open fds.
    let _k = kernel_lock();
    let pins = PinDir::new("loader-roundtrip");
    let mut kernel_core = 0;
    for path in objects() {
        if not_generated(&path, &pins) {
            continue;
        }
        let name = path.display().to_string();
        // The plan for a loader, and the live plan (a loader of it applies
        // CO-RE at generation and still fills kconfig values at run time).
        for loader_plan in [true, false] {
            let open = open(&path, &pins);
            let plan = match if loader_plan {
                open.loader_plan()
            } else {
                open.plan()
            } {
                Ok(plan) => plan,
                // The plan is made for the running kernel: one lacking
                // what the object needs (exceptions without DECL_TAG) is
                // refused at planning.
                Err(e) => match excused_load_failure(&path, &e) {
                    Some(why) => {
                        println!("{name}: not plannable here ({why}): {e}");
                        continue;
                    }
                    None => panic!("{name}: {e}"),
                },
            };
            let loader = generate(&plan, &GenOptions::default())
                .unwrap_or_else(|e| panic!("{name}: generate: {e}"));
            assert_eq!(decode(&loader).unwrap(), plan, "{name}");
            let file = Loader::from_bytes(&loader.to_bytes()).unwrap();
            assert_eq!(decode(&file).unwrap(), plan, "{name}: through the file");
            let progs = || {
                plan.ops.iter().filter_map(|op| match op {
                    Op::LoadProg(p) => Some(p),
                    _ => None,
                })
            };
            if loader_plan {
                assert!(progs().all(|p| p.core_applied == 0 && p.poisoned.is_empty()));
                if progs().any(|p| !p.core_relos.is_empty()) {
                    kernel_core += 1;
                    assert!(
                        loader.min_kernel >= KernelVersion::new(5, 17),
                        "{name}: {}",
                        loader.min_kernel
                    );
                }
            } else {
                assert!(progs().all(|p| p.core_relos.is_empty()), "{name}");
            }
        }
    }
    assert!(kernel_core >= 4, "{kernel_core} objects with kernel CO-RE");
}

#[test]
fn loading_through_the_loader_gives_the_same_kernel_objects() {
    require!(Feature::SyscallProgs);
    let _k = kernel_lock();
    let pins = PinDir::new("loader-equiv");
    let mut compared = 0;
    for path in objects() {
        if not_generated(&path, &pins) {
            continue;
        }
        let name = path.display().to_string();
        let fds = FdSnapshot::take();
        let before = KernelObjects::take();
        if REFUSED.contains(&file_name(&path).as_str()) {
            both_refuse(&name, &path, &pins, Some(0));
            fds.assert_no_leak(&name);
            let left = settled_new_objects(&before);
            assert!(left.is_empty(), "{name}: left {left:?}");
            continue;
        }

        let live = match open_like_a_loader(&path, &pins).load() {
            Ok(live) => live,
            // A CO-RE object reading fields this kernel's types lack
            // (reloc/tests/data's are built against the host's): the
            // loader, whose relocations the kernel applies, must refuse
            // it the same way.
            Err(Error::Rejected { core: Some(c), .. }) if c.contains("no such field") => {
                println!("{name}: refused here by CO-RE: {c}");
                clear(&pins);
                both_refuse(&name, &path, &pins, None);
                fds.assert_no_leak(&name);
                let left = settled_new_objects(&before);
                assert!(left.is_empty(), "{name}: left {left:?}");
                continue;
            }
            Err(e) => match excused_load_failure(&path, &e) {
                Some(why) => {
                    println!("{name}: not loadable here ({why}): {e}");
                    fds.assert_no_leak(&name);
                    continue;
                }
                None => panic!("{name}: live: {e}"),
            },
        };
        let live_desc = describe(&live);
        let live_pins = files_under(&pins.0);
        drop(live);
        clear(&pins);

        let via = open(&path, &pins)
            .load_via_loader()
            .unwrap_or_else(|e| panic!("{name}: via loader: {e:?}"));
        let gen_desc = describe(&via);
        assert_eq!(files_under(&pins.0), live_pins, "{name}: pins");
        drop(via);
        clear(&pins);

        assert_eq!(gen_desc.maps, live_desc.maps, "{name}: maps");
        for (g, l) in gen_desc.progs.iter().zip(&live_desc.progs) {
            assert_eq!(g, l, "{name}: program {}", l.name);
        }
        assert_eq!(gen_desc.progs.len(), live_desc.progs.len(), "{name}");
        assert_eq!(gen_desc.btf, live_desc.btf, "{name}: BTF");
        assert!(!live_desc.progs.is_empty(), "{name}: no programs");
        compared += 1;

        fds.assert_no_leak(&name);
        let left = settled_new_objects(&before);
        assert!(left.is_empty(), "{name}: left {left:?}");
    }
    assert!(compared >= 15, "{compared} objects compared");
}

/// Live and through the loader, the verifier refuses the same program at
/// the same instruction, the poisoned one; through the loader the error
/// says the kernel applied the relocation, and its log says which
/// (relocation `#relo` when given).
fn both_refuse(name: &str, path: &Path, pins: &PinDir, relo: Option<usize>) {
    let live = open(path, pins).load().unwrap_err();
    let via = open(path, pins).load_via_loader().unwrap_err();
    let (
        Error::Rejected {
            op: a,
            insn: ia,
            core: Some(ca),
            ..
        },
        Error::Rejected {
            op: b,
            insn: ib,
            core: Some(cb),
            ..
        },
    ) = (&live, &via)
    else {
        panic!("{name}: live {live:?}, via the loader {via:?}")
    };
    assert_eq!((a, ia), (b, ib), "{name}");
    assert!(ca.contains("no such field"), "{name}: {ca}");
    assert!(cb.contains("applied by the kernel"), "{name}: {cb}");
    let log = via.verifier_log().unwrap();
    let relo = relo.map_or("relo #".to_string(), |r| format!("relo #{r}"));
    assert!(log.contains(&relo) && log.contains("invalid insn"), "{log}");
}
