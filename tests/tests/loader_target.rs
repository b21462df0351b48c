//! Generated loaders adapt to the kernel they run on, not the one they
//! were planned on: the runtime computes the kconfig values from the
//! running kernel (whatever configuration the plan was made with, whatever
//! the blob holds), and the CO-RE relocations are the kernel's, made when
//! it loads the program, against its own BTF.

mod loader_support;

use std::path::{Path, PathBuf};

use oxbpf::gen_loader::{GenOptions, KernelVersion, Loader, Step, decode, generate};
use oxbpf::plan::{KconfigVar, Op, Plan, UpdateElem};
use oxbpf::sys::KernelConfig;
use oxbpf::{Error, LightSkeleton, OpenObject};
use oxbpf_tests::{
    FdSnapshot, Feature, KernelObjects, kernel_lock, object, require, settled_new_objects,
};

/// A configuration unlike any real kernel's for what `externs.bpf.c` reads.
const ELSEWHERE: &str = "\
CONFIG_HZ=123
CONFIG_BPF_SYSCALL=n
CONFIG_BPF_JIT=m
CONFIG_BPF=m
CONFIG_DEFAULT_HOSTNAME=\"elsewhere\"
CONFIG_OXBPF_NOT_A_CONFIG=77
";

/// The `.kconfig` update of a plan.
fn kconfig_update(plan: &Plan) -> &UpdateElem {
    plan.ops
        .iter()
        .find_map(|op| match op {
            Op::UpdateElem(u) if !u.kconfig.is_empty() => Some(u),
            _ => None,
        })
        .expect("a .kconfig update")
}

fn var<'a>(vars: &'a [KconfigVar], name: &str) -> &'a KconfigVar {
    vars.iter().find(|v| v.name == name).unwrap()
}

fn slot<'a>(value: &'a [u8], v: &KconfigVar) -> &'a [u8] {
    &value[v.offset as usize..(v.offset + v.size) as usize]
}

/// What a live load on this kernel writes into `externs`' `.kconfig` map.
fn live_kconfig() -> Vec<u8> {
    let live = OpenObject::open(object("externs")).unwrap().load().unwrap();
    live.map("externs.kconfig")
        .unwrap()
        .lookup(&0u32.to_ne_bytes(), 0)
        .unwrap()
        .unwrap()
}

fn loaded_kconfig(obj: &oxbpf::Object) -> Vec<u8> {
    obj.map("externs.kconfig")
        .unwrap()
        .lookup(&0u32.to_ne_bytes(), 0)
        .unwrap()
        .unwrap()
}

#[test]
fn a_loader_planned_with_another_configuration_gets_this_kernels_values() {
    require!(Feature::SyscallProgs, Feature::TaskFromPid);
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    let before = KernelObjects::take();
    let mut open = OpenObject::open(object("externs")).unwrap();
    open.assume_kconfig(KernelConfig::parse(ELSEWHERE, Path::new("elsewhere")));
    // The live plan holds the other configuration's values...
    let plan = open.plan().unwrap();
    let planned = kconfig_update(&plan);
    let vars = &planned.kconfig;
    assert_eq!(
        slot(&planned.value, var(vars, "CONFIG_HZ")),
        123i32.to_ne_bytes()
    );
    assert_eq!(slot(&planned.value, var(vars, "CONFIG_BPF")), b"m");
    assert_eq!(
        slot(&planned.value, var(vars, "CONFIG_OXBPF_NOT_A_CONFIG")),
        77u64.to_ne_bytes()
    );
    // ... and so does its loader's blob; the runtime writes this kernel's.
    let loader = generate(&plan, &GenOptions::default()).unwrap();
    let obj = LightSkeleton::new(loader).load().unwrap();
    let got = loaded_kconfig(&obj);
    let want = live_kconfig();
    assert_eq!(got, want, "the live load's values");
    assert_ne!(got, planned.value);

    // Each value against the kernel's own facts.
    let config = KernelConfig::read().unwrap();
    let hz: i32 = config.get("CONFIG_HZ").unwrap().parse().unwrap();
    assert_eq!(slot(&got, var(vars, "CONFIG_HZ")), hz.to_ne_bytes());
    assert_eq!(slot(&got, var(vars, "CONFIG_BPF_SYSCALL")), [1]);
    assert_eq!(slot(&got, var(vars, "CONFIG_BPF")), b"y");
    assert_eq!(
        slot(&got, var(vars, "CONFIG_OXBPF_NOT_A_CONFIG")),
        [0; 8],
        "weak, not set by this kernel"
    );
    assert_eq!(
        slot(&got, var(vars, "LINUX_KERNEL_VERSION")),
        oxbpf::sys::kernel_version_code().unwrap().to_ne_bytes()
    );
    // The program reads them.
    let mut ctx = (std::process::id() as i32).to_ne_bytes();
    let prog = obj.program("read_externs").unwrap();
    assert_eq!(prog.run_syscall(&mut ctx).unwrap(), 0);
    let out = obj
        .map("out")
        .unwrap()
        .lookup(&0u32.to_ne_bytes(), 0)
        .unwrap()
        .unwrap();
    assert_eq!(
        out,
        (hz as u64).to_ne_bytes(),
        "CONFIG_HZ as the program sees it"
    );
    drop(obj);
    fds.assert_no_leak("externs");
    let left = settled_new_objects(&before);
    assert!(left.is_empty(), "left {left:?}");
}

/// The step of a loader whose value the runtime fills, and where the value
/// is in the blob.
fn kconfig_step(loader: &Loader) -> (usize, usize, Vec<KconfigVar>) {
    loader
        .steps
        .iter()
        .enumerate()
        .find_map(|(k, s)| match s {
            Step::UpdateElem {
                value: Some(v),
                kconfig,
                ..
            } if !kconfig.is_empty() => Some((k, v.index(), kconfig.clone())),
            _ => None,
        })
        .expect("a kconfig step")
}

#[test]
fn a_loader_file_carries_the_layout_not_values() {
    require!(Feature::SyscallProgs, Feature::TaskFromPid);
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    let plan = OpenObject::open(object("externs"))
        .unwrap()
        .loader_plan()
        .unwrap();
    // A plan for a loader reads no configuration: zeros and the layout.
    let planned = kconfig_update(&plan);
    assert!(planned.value.iter().all(|&b| b == 0));
    let loader = generate(&plan, &GenOptions::default()).unwrap();
    let (_, at, vars) = kconfig_step(&loader);
    assert_eq!(vars, planned.kconfig);
    // explain shows the layout.
    let text = decode(&loader).unwrap().to_string();
    assert!(text.contains("(values of the target)"), "{text}");
    assert!(text.contains("CONFIG_DEFAULT_HOSTNAME: char[16]"), "{text}");
    assert!(
        text.contains("CONFIG_OXBPF_NOT_A_CONFIG: u64 (weak)"),
        "{text}"
    );
    assert!(text.contains("CONFIG_BPF_JIT: tristate"), "{text}");
    // Whatever the file's blob holds there, the runtime overwrites it.
    let mut file = loader.clone();
    let size = vars.iter().map(|v| v.offset + v.size).max().unwrap() as usize;
    file.blob.bytes_mut()[at..at + size].fill(0xff);
    let read = Loader::from_bytes(&file.to_bytes()).unwrap();
    let obj = LightSkeleton::new(read).load().unwrap();
    assert_eq!(loaded_kconfig(&obj), live_kconfig());
    drop(obj);
    fds.assert_no_leak("externs from a file");
}

#[test]
fn an_option_this_kernel_lacks_fails_before_anything_is_created() {
    require!(Feature::SyscallProgs);
    let _k = kernel_lock();
    let plan = OpenObject::open(object("externs"))
        .unwrap()
        .loader_plan()
        .unwrap();
    let mut loader = generate(&plan, &GenOptions::default()).unwrap();
    let (k, _, _) = kconfig_step(&loader);
    if let Step::UpdateElem { kconfig, .. } = &mut loader.steps[k] {
        let hz = kconfig.iter_mut().find(|v| v.name == "CONFIG_HZ").unwrap();
        hz.name = "CONFIG_OXBPF_NOT_ON_THIS_KERNEL".into();
    }
    let fds = FdSnapshot::take();
    let before = KernelObjects::take();
    let counter = oxbpf::sys::fault::count();
    let err = LightSkeleton::new(loader).load().unwrap_err();
    let calls = counter.calls();
    drop(counter);
    match &err {
        Error::Kconfig { name, reason } => {
            assert_eq!(name, "CONFIG_OXBPF_NOT_ON_THIS_KERNEL");
            assert!(reason.contains("__weak"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // Only the probe of bpf_get_attach_cookie (LINUX_HAS_BPF_COOKIE) may
    // have reached the kernel; no map or program of the object exists.
    assert!(calls <= 1, "{calls} bpf() calls");
    fds.assert_no_leak("missing option");
    assert!(settled_new_objects(&before).is_empty());
}

fn core_object(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../reloc/tests/data/{name}.bpf.o"))
}

/// The `results` array of `core_fields` after one run.
fn core_results(obj: &oxbpf::Object) -> Vec<Vec<u8>> {
    obj.program("core_fields")
        .unwrap()
        .run_syscall(&mut [])
        .unwrap();
    let results = obj.map("results").unwrap();
    (0..16u32)
        .map(|i| results.lookup(&i.to_ne_bytes(), 0).unwrap().unwrap())
        .collect()
}

#[test]
fn the_kernel_relocates_what_the_loader_hands_it() {
    require!(Feature::SyscallProgs);
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    let open = || OpenObject::open(core_object("core_fields")).unwrap();
    let live_plan = open().plan().unwrap();
    let loader_plan = open().loader_plan().unwrap();
    let prog = |plan: &Plan| {
        plan.ops
            .iter()
            .find_map(|op| match op {
                Op::LoadProg(p) => Some(p.clone()),
                _ => None,
            })
            .unwrap()
    };
    let (live, via_plan) = (prog(&live_plan), prog(&loader_plan));
    assert!(live.core_applied > 0 && live.core_relos.is_empty());
    assert_eq!(via_plan.core_relos.len(), live.core_applied);
    assert_eq!(via_plan.core_applied, 0);
    // The loader's instructions are the compiler's: at some relocation
    // sites this kernel's offsets differ from the ones compiled in.
    let elf = open();
    let compiled = &elf.elf().programs[0].function.insns;
    let mut differ = 0;
    for r in &via_plan.core_relos {
        let i = r.insn.0;
        assert_eq!(via_plan.insns[i], compiled[i], "instruction {i}");
        if live.insns[i] != via_plan.insns[i] {
            differ += 1;
        }
    }
    assert!(differ > 0, "no relocation changes an instruction here");
    // Loaded through the loader, the program computes what the live one
    // does: the kernel relocated the same way.
    let loader = generate(&loader_plan, &GenOptions::default()).unwrap();
    assert_eq!(loader.min_kernel, KernelVersion::new(5, 17));
    let via = LightSkeleton::new(loader).load().unwrap();
    let live_obj = open().load().unwrap();
    assert_eq!(core_results(&via), core_results(&live_obj));
    drop((via, live_obj));
    fds.assert_no_leak("core_fields");
}

#[test]
fn type_matches_relocations_raise_the_minimum_kernel_to_6_0() {
    // Not a kernel test, but it opens files: not while another test
    // counts open fds.
    let _k = kernel_lock();
    let plan = OpenObject::open(core_object("core_types"))
        .unwrap()
        .loader_plan()
        .unwrap();
    let loader = generate(&plan, &GenOptions::default()).unwrap();
    assert_eq!(loader.min_kernel, KernelVersion::new(6, 0));
    // With a CO-RE BTF file named, the planner relocates against it and
    // the loader needs no kernel CO-RE.
    let mut open = OpenObject::open(core_object("core_types")).unwrap();
    open.set_core_btf(oxbpf::VMLINUX_BTF);
    let plan = open.loader_plan().unwrap();
    assert!(plan.ops.iter().all(|op| match op {
        Op::LoadProg(p) => p.core_relos.is_empty() && p.core_applied > 0,
        _ => true,
    }));
    let loader = generate(&plan, &GenOptions::default()).unwrap();
    assert!(
        loader.min_kernel < KernelVersion::new(5, 17),
        "{}",
        loader.min_kernel
    );
}
