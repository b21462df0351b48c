//! A generated loader for 80 maps and 80 programs (libbpf's keeps its fds
//! on a 512-byte stack and fails verification past about 32 programs):
//! it loads, from a loader file, and the kernel holds exactly what the
//! plan says. Also: the runtime refuses a kernel older than the loader's
//! minimum before touching anything, and reuses a map pinned earlier.

mod loader_support;

use oxbpf::gen_loader::{GenOptions, KernelVersion, Loader, generate};
use oxbpf::plan::{Op, PatchKind};
use oxbpf::{Error, LightSkeleton, TestRunOptions};
use oxbpf_tests::{
    FdSnapshot, Feature, KernelObjects, PinDir, kernel_lock, require, settled_new_objects,
};

use loader_support::plans::{Many, many};

fn map_id(obj: &oxbpf::Object, name: &str) -> u32 {
    obj.map(name).unwrap().info().unwrap().id
}

#[test]
fn eighty_maps_and_eighty_programs_load_from_a_loader_file() {
    require!(Feature::SyscallProgs);
    let _k = kernel_lock();
    let pins = PinDir::new("loader-many");
    let pin = pins.0.join("m0");
    let plan = many(&Many {
        maps: 80,
        progs: 80,
        pin: Some(pin.to_string_lossy().into_owned()),
    });
    for (chunk, trampoline) in [(4 << 20, 30_000), (2048, 100)] {
        let fds = FdSnapshot::take();
        let before = KernelObjects::take();
        let mut opts = GenOptions::default();
        opts.max_chunk_size = chunk;
        opts.trampoline_distance = trampoline;
        let file = generate(&plan, &opts).unwrap().to_bytes();
        let obj = LightSkeleton::from_bytes(&file)
            .unwrap()
            .load()
            .unwrap_or_else(|e| panic!("chunks of {chunk}: {e:?}"));

        // 80 maps, the data map, the .kconfig map, the map-in-map and the
        // prog array; the inner map template is no handle.
        assert_eq!(obj.maps().len(), 84);
        assert!(obj.map("inner").is_err());
        assert_eq!(obj.programs().len(), 80);
        for op in &plan.ops {
            let Op::LoadProg(p) = op else { continue };
            let prog = obj.program(&p.name).unwrap();
            let info = prog.info().unwrap();
            assert_eq!(info.name_str(), p.kernel_name);
            assert_eq!(
                (info.nr_func_info, info.nr_line_info),
                (p.func_info.len() as u32, p.line_info.len() as u32),
                "{}",
                p.name
            );
            let mut want: Vec<u32> = p
                .patches
                .iter()
                .map(|patch| match patch.kind {
                    PatchKind::MapFd(r) | PatchKind::MapValue { map: r, .. } => {
                        let Some(Op::CreateMap(m)) = plan.op(r) else {
                            panic!()
                        };
                        map_id(&obj, &m.name)
                    }
                    other => panic!("{other:?}"),
                })
                .collect();
            want.sort_unstable();
            want.dedup();
            let mut have = oxbpf::sys::prog_map_ids(prog.prog_fd()).unwrap();
            have.sort_unstable();
            assert_eq!(have, want, "{}", p.name);
            let out = prog.test_run(&TestRunOptions::new(&[0u8; 64], 0)).unwrap();
            assert_eq!(out.retval, 0, "{}", p.name);
        }
        // Initial value written and frozen.
        let data = obj.map("many.rodata").unwrap();
        assert_eq!(
            data.lookup(&0u32.to_ne_bytes(), 0).unwrap().unwrap(),
            (0u8..16).collect::<Vec<_>>()
        );
        assert!(
            data.update(&0u32.to_ne_bytes(), &[0; 16], 0).is_err(),
            "not frozen"
        );
        // The .kconfig map holds this kernel's values, written by the
        // runtime (the plan's are zeros), frozen.
        let kconfig = obj.map("many.kconfig").unwrap();
        let value = kconfig.lookup(&0u32.to_ne_bytes(), 0).unwrap().unwrap();
        let version = oxbpf::sys::kernel_version_code().unwrap();
        assert_eq!(value[..4], version.to_ne_bytes(), "LINUX_KERNEL_VERSION");
        assert_eq!(value[4], 1, "CONFIG_BPF_SYSCALL");
        assert_eq!(value[8..], [0; 8], "an absent weak option");
        assert!(kconfig.update(&0u32.to_ne_bytes(), &[0; 16], 0).is_err());
        // Slots: programs in the prog array, a map in the map-in-map.
        let jmp = obj.map("jmp").unwrap();
        for (slot, name) in ["p0", "p1"].into_iter().enumerate() {
            let id = jmp
                .lookup(&(slot as u32).to_ne_bytes(), 0)
                .unwrap()
                .unwrap();
            let want = obj.program(name).unwrap().info().unwrap().id;
            assert_eq!(u32::from_ne_bytes(id[..4].try_into().unwrap()), want);
        }
        let outer = obj.map("outer").unwrap();
        let id = outer.lookup(&1u32.to_ne_bytes(), 0).unwrap().unwrap();
        assert_eq!(
            u32::from_ne_bytes(id[..4].try_into().unwrap()),
            map_id(&obj, "m0")
        );
        // The pin is m0.
        let pinned = oxbpf::sys::obj_get(&pin, 0).unwrap();
        let pinned = oxbpf::sys::MapFd::from_owned(pinned).unwrap();
        assert_eq!(
            oxbpf::sys::map_info(&pinned).unwrap().id,
            map_id(&obj, "m0")
        );
        drop(pinned);
        drop(obj);
        std::fs::remove_file(&pin).unwrap();
        fds.assert_no_leak("many");
        let left = settled_new_objects(&before);
        assert!(left.is_empty(), "left {left:?}");
    }
}

#[test]
fn a_kernel_older_than_the_loader_is_refused_first() {
    let _k = kernel_lock();
    let plan = many(&Many {
        maps: 2,
        progs: 2,
        pin: None,
    });
    let mut loader: Loader = generate(&plan, &GenOptions::default()).unwrap();
    loader.min_kernel = KernelVersion::new(99, 0);
    let fds = FdSnapshot::take();
    let before = KernelObjects::take();
    let counter = oxbpf::sys::fault::count();
    let err = LightSkeleton::new(loader).load().unwrap_err();
    assert_eq!(counter.calls(), 0, "bpf() called before the kernel check");
    drop(counter);
    match &err {
        Error::KernelTooOld { need, .. } => assert_eq!(need, "99.0"),
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string().contains("needs Linux 99.0 or newer"),
        "{err}"
    );
    fds.assert_no_leak("too old");
    assert!(settled_new_objects(&before).is_empty());
}

#[test]
fn a_map_pinned_by_an_earlier_load_is_reused() {
    require!(Feature::SyscallProgs);
    let _k = kernel_lock();
    let pins = PinDir::new("loader-reuse");
    let object = oxbpf_tests::object("maps_btf");
    let open = || {
        let mut o = oxbpf::OpenObject::open(&object).unwrap();
        o.set_pin_root(&pins.0);
        o
    };
    let first = open().load_via_loader().unwrap();
    let id = first.map("pinned_hash").unwrap().info().unwrap().id;
    first
        .map("pinned_hash")
        .unwrap()
        .update(&7u32.to_ne_bytes(), &42u64.to_ne_bytes(), 0)
        .unwrap();
    drop(first);
    let plan = open().loader_plan().unwrap();
    assert!(
        plan.ops.iter().any(|op| matches!(op, Op::ReuseMap(_))),
        "{plan}"
    );
    let second = open().load_via_loader().unwrap();
    let map = second.map("pinned_hash").unwrap();
    assert_eq!(map.info().unwrap().id, id);
    assert_eq!(
        map.lookup(&7u32.to_ne_bytes(), 0).unwrap().unwrap(),
        42u64.to_ne_bytes()
    );
    // The program uses the reused map.
    let prog = second.program("maps_exercise").unwrap();
    assert!(
        oxbpf::sys::prog_map_ids(prog.prog_fd())
            .unwrap()
            .contains(&id)
    );
}

#[test]
fn a_program_the_verifier_refuses_comes_back_with_its_log() {
    require!(Feature::SyscallProgs);
    let _k = kernel_lock();
    let mut plan = many(&Many {
        maps: 3,
        progs: 3,
        pin: None,
    });
    // Program p1 reads r1 after a call clobbered it.
    let k = plan
        .ops
        .iter()
        .position(|op| matches!(op, Op::LoadProg(p) if p.name == "p1"))
        .unwrap();
    let Op::LoadProg(p) = &mut plan.ops[k] else {
        unreachable!()
    };
    let n = p.insns.len();
    p.insns[n - 2] = oxbpf::asm::Insn::mov64_reg(1, 1);
    let file = generate(&plan, &GenOptions::default()).unwrap().to_bytes();
    let fds = FdSnapshot::take();
    let before = KernelObjects::take();
    let err = LightSkeleton::from_bytes(&file)
        .unwrap()
        .load()
        .unwrap_err();
    match &err {
        Error::Rejected { op, program, .. } => {
            assert_eq!((*op, program.as_str()), (k, "p1"));
        }
        other => panic!("{other:?}"),
    }
    let log = err.verifier_log().expect("the verifier's log");
    assert!(log.contains("R1 !read_ok"), "{log}");
    fds.assert_no_leak("refused program");
    let left = settled_new_objects(&before);
    assert!(left.is_empty(), "left {left:?}");
}
