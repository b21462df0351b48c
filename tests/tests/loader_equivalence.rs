//! Every corpus object: the loader decodes back into its plan, and loading
//! through the generated loader gives the kernel the same objects as
//! loading live — map definitions and contents, the same translated
//! instructions per program (map ids aside), func_info and line_info, BTF.

mod loader_support;

use oxbpf::OpenObject;
use oxbpf::gen_loader::{GenOptions, Loader, decode, generate};
use oxbpf_tests::{FdSnapshot, KernelObjects, PinDir, corpus, kernel_lock, settled_new_objects};

use loader_support::{describe, files_under};

/// Corpus objects a generated loader cannot express, with the step its
/// `Error::Unsupported` names: checked to fail that way, not compared.
const NOT_GENERATED: &[(&str, &str)] = &[
    // The arena must be mapped into the loading process before programs
    // load; a loader program cannot do that.
    ("arena.bpf.o", "arena_map"),
];

/// Whether `path` is one of [`NOT_GENERATED`], after checking that its
/// generation fails naming the step.
fn not_generated(path: &std::path::Path, pins: &PinDir) -> bool {
    let file = path.file_name().unwrap().to_string_lossy();
    let Some((_, step)) = NOT_GENERATED.iter().find(|(name, _)| *name == file) else {
        return false;
    };
    let plan = open(path, pins).plan().unwrap();
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
    for path in corpus() {
        if not_generated(&path, &pins) {
            continue;
        }
        let name = path.display().to_string();
        let plan = open(&path, &pins)
            .plan()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let loader = generate(&plan, &GenOptions::default())
            .unwrap_or_else(|e| panic!("{name}: generate: {e}"));
        assert_eq!(decode(&loader).unwrap(), plan, "{name}");
        let file = Loader::from_bytes(&loader.to_bytes()).unwrap();
        assert_eq!(decode(&file).unwrap(), plan, "{name}: through the file");
    }
}

#[test]
fn loading_through_the_loader_gives_the_same_kernel_objects() {
    let _k = kernel_lock();
    let pins = PinDir::new("loader-equiv");
    let mut compared = 0;
    for path in corpus() {
        if not_generated(&path, &pins) {
            continue;
        }
        let name = path.display().to_string();
        let fds = FdSnapshot::take();
        let before = KernelObjects::take();

        let live = open(&path, &pins)
            .load()
            .unwrap_or_else(|e| panic!("{name}: live: {e}"));
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
    assert!(compared >= 12, "{compared} objects compared");
}
