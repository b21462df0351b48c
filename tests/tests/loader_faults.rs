//! Make step k of a generated loader fail, for every k, and check that
//! nothing is left: the error names step k, no fd is open that was not
//! before, no map, program or BTF object remains, no pin. The steps the
//! loader performs are broken through their attributes in the blob (or,
//! for lookups, a flag in the instructions); the runtime's steps through
//! the file system. Then the same for every `bpf()` call the runtime
//! itself makes.

mod loader_support;

use core::mem::offset_of;
use std::path::{Path, PathBuf};

use oxbpf::gen_loader::{GenOptions, Loader, Step, generate};
use oxbpf::plan::Plan;
use oxbpf::sys::{BtfLoadAttr, Errno, MapCreateAttr, MapElemAttr, ProgLoadAttr, fault};
use oxbpf::{LightSkeleton, OpenObject};
use oxbpf_tests::{
    FdSnapshot, Feature, KernelObjects, PinDir, corpus_missing, kernel_lock, object, require,
    settled_new_objects,
};

use loader_support::plans::{Many, many};
use loader_support::{failed_step, files_under};

fn put(loader: &mut Loader, at: usize, bytes: &[u8]) {
    loader.blob.bytes_mut()[at..at + bytes.len()].copy_from_slice(bytes);
}

/// The instruction that sets up argument `reg` = 0 of step `k`'s helper
/// call `helper`.
fn helper_arg(loader: &Loader, k: usize, helper: i32, reg: u8) -> usize {
    let marker = loader
        .insns
        .windows(2)
        .position(|w| {
            w[0] == oxbpf::asm::Insn::mov64_imm(1, k as i32)
                && w[1].code == 0x63
                && w[1].dst() == 6
                && w[1].off == 0
        })
        .unwrap_or_else(|| panic!("no marker of step {k}"));
    let call = marker
        + loader.insns[marker..]
            .iter()
            .position(|i| *i == oxbpf::asm::Insn::call_helper(helper))
            .unwrap();
    (marker..call)
        .rev()
        .find(|&i| loader.insns[i] == oxbpf::asm::Insn::mov64_imm(reg, 0))
        .unwrap()
}

/// Makes step `k` fail; returns a pin file to restore afterwards, if the
/// breakage removed one.
fn break_step(loader: &mut Loader, k: usize, pins: &Path) -> Option<PathBuf> {
    match loader.steps[k].clone() {
        Step::LoadBtf { attr, .. } => put(
            loader,
            attr.index() + offset_of!(BtfLoadAttr, btf_size),
            &1u32.to_ne_bytes(),
        ),
        Step::CreateMap { attr, .. } => put(
            loader,
            attr.index() + offset_of!(MapCreateAttr, map_type),
            &0x7fffu32.to_ne_bytes(),
        ),
        Step::UpdateElem { attr, .. }
        | Step::SetFd { attr, .. }
        | Step::StructOpsValue { attr, .. } => put(
            loader,
            attr.index() + offset_of!(MapElemAttr, flags),
            &0x100u64.to_ne_bytes(),
        ),
        // MAP_FREEZE reads only map_fd: anything after it is refused.
        Step::Freeze { attr, .. } => put(
            loader,
            attr.index() + offset_of!(MapElemAttr, key),
            &1u64.to_ne_bytes(),
        ),
        Step::LoadProg { attr, .. } => put(
            loader,
            attr.index() + offset_of!(ProgLoadAttr, prog_type),
            &0x7fffu32.to_ne_bytes(),
        ),
        // Lookups with a flag set: EINVAL.
        Step::FindBtfId { .. } => {
            let i = helper_arg(loader, k, 167, 4);
            loader.insns[i].imm = 1;
        }
        Step::FindKsym { .. } => {
            let i = helper_arg(loader, k, 179, 3);
            loader.insns[i].imm = 1;
        }
        Step::ReuseMap { path, .. } => {
            std::fs::remove_file(&path).unwrap();
            return Some(PathBuf::from(path));
        }
        Step::Pin { path, .. } => {
            let name = Path::new(&path).file_name().unwrap().to_owned();
            let bad = pins.join("no-such-dir").join(name);
            if let Step::Pin { path, .. } = &mut loader.steps[k] {
                *path = bad.to_string_lossy().into_owned();
            }
        }
    }
    None
}

/// Breaks every step of `loader` in turn and checks what is left.
/// `restore` puts back a pin a broken step removed.
fn every_step_fails_cleanly(name: &str, loader: &Loader, pins: &PinDir, restore: &dyn Fn()) {
    steps_fail_cleanly(name, loader, pins, restore, 0..loader.steps.len());
}

/// Breaks the given steps of `loader` in turn and checks what is left.
fn steps_fail_cleanly(
    name: &str,
    loader: &Loader,
    pins: &PinDir,
    restore: &dyn Fn(),
    steps: impl IntoIterator<Item = usize>,
) {
    let n = loader.steps.len();
    assert!(n > 3, "{name}: {n} steps");
    for k in steps {
        let mut broken = loader.clone();
        let pins_before = files_under(&pins.0);
        let fds = FdSnapshot::take();
        let before = KernelObjects::take();
        let removed = break_step(&mut broken, k, &pins.0);
        let result = LightSkeleton::new(broken).load();
        let err = match result {
            Ok(_) => panic!("{name}: step {k} broken, yet the load succeeded"),
            Err(e) => e,
        };
        assert_eq!(
            failed_step(&err),
            Some(k),
            "{name}: step {k} ({}) broken: {err:?}",
            loader.steps[k].mnemonic()
        );
        fds.assert_no_leak(&format!("{name}: step {k}"));
        let left = settled_new_objects(&before);
        assert!(left.is_empty(), "{name}: step {k} left {left:?}");
        let mut expected_pins = pins_before;
        if let Some(p) = &removed {
            expected_pins.retain(|x| x != p);
        }
        assert_eq!(
            files_under(&pins.0),
            expected_pins,
            "{name}: step {k}: pins"
        );
        if removed.is_some() {
            restore();
        }
    }
}

fn plan_of(name: &str, pins: &PinDir) -> Plan {
    let mut open = OpenObject::open(object(name)).unwrap();
    open.set_pin_root(&pins.0);
    open.loader_plan().unwrap()
}

#[test]
fn a_failure_at_any_step_of_a_corpus_loader_leaves_nothing() {
    require!(Feature::SyscallProgs);
    let _k = kernel_lock();
    let pins = PinDir::new("loader-faults");
    for name in [
        "maps_btf",
        "map_values",
        "externs",
        "subprogs",
        "tp_btf",
        "struct_ops",
    ] {
        if let Some(missing) = corpus_missing(&object(name)) {
            println!("{name}: not loadable here ({missing})");
            continue;
        }
        let plan = plan_of(name, &pins);
        let loader = generate(&plan, &GenOptions::default()).unwrap();
        every_step_fails_cleanly(name, &loader, &pins, &|| {});
        assert!(files_under(&pins.0).is_empty());
    }

    // maps_btf again with its map pinned: the plan reuses the pin (a step
    // of the runtime, before the loader).
    if corpus_missing(&object("maps_btf")).is_some() {
        return;
    }
    let pin_it = || {
        let mut open = OpenObject::open(object("maps_btf")).unwrap();
        open.set_pin_root(&pins.0);
        drop(open.load_via_loader().unwrap());
    };
    pin_it();
    let plan = plan_of("maps_btf", &pins);
    assert!(plan.to_string().contains("map_reuse"), "{plan}");
    let loader = generate(&plan, &GenOptions::default()).unwrap();
    every_step_fails_cleanly("maps_btf (pinned)", &loader, &pins, &pin_it);
}

#[test]
fn a_failure_at_any_step_of_a_loader_of_eighty_maps_and_programs_leaves_nothing() {
    require!(Feature::SyscallProgs);
    let _k = kernel_lock();
    let pins = PinDir::new("loader-faults-many");
    let plan = many(&Many {
        maps: 80,
        progs: 80,
        pin: Some(pins.0.join("m0").to_string_lossy().into_owned()),
    });
    let mut opts = GenOptions::default();
    // Several chunks and trampolines on the way to the handler.
    opts.max_chunk_size = 4096;
    opts.trampoline_distance = 300;
    let loader = generate(&plan, &opts).unwrap();
    assert!(loader.blob.chunk_count() > 2);
    // Every step would take minutes (each run waits for the kernel to free
    // a sleepable loader program and up to 160 objects): every step where
    // the kind of step changes, every 8th, and the last. The corpus test
    // above breaks every step of its objects.
    let n = loader.steps.len();
    let steps = (0..n).filter(|&k| {
        k % 8 == 0
            || k + 1 == n
            || k == 0
            || loader.steps[k].mnemonic() != loader.steps[k - 1].mnemonic()
            || loader.steps[k].mnemonic() != loader.steps[k + 1].mnemonic()
    });
    steps_fail_cleanly("many", &loader, &pins, &|| {}, steps);
}

#[test]
fn a_failure_of_any_runtime_call_leaves_nothing() {
    require!(Feature::SyscallProgs);
    let _k = kernel_lock();
    let pins = PinDir::new("loader-runtime-faults");
    let plan = plan_of("maps_btf", &pins);
    let loader = generate(&plan, &GenOptions::default()).unwrap();
    let skel = LightSkeleton::new(loader);

    let counter = fault::count();
    let obj = skel.load().expect("clean load");
    let calls = counter.calls();
    drop(counter);
    drop(obj);
    for p in files_under(&pins.0) {
        std::fs::remove_file(p).unwrap();
    }
    assert!(calls > 5, "{calls} calls");
    for i in 0..calls {
        let fds = FdSnapshot::take();
        let before = KernelObjects::take();
        let injection = fault::fail_from(i, Errno::NOMEM);
        let result = skel.load();
        drop(injection);
        assert!(
            result.is_err(),
            "call {i} of {calls} failed, yet the load succeeded"
        );
        fds.assert_no_leak(&format!("runtime call {i}"));
        let left = settled_new_objects(&before);
        assert!(left.is_empty(), "runtime call {i} left {left:?}");
        assert!(
            files_under(&pins.0).is_empty(),
            "runtime call {i} left pins"
        );
    }
}
