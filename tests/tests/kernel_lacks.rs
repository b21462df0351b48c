//! A kernel without a kind of map or program the object needs: the load
//! error names the missing kind (found by probing after the kernel's bare
//! `EINVAL`), not "Invalid argument".

use oxbpf::sys::{MapType, ProbeResult, ProgType, probe_map_type};
use oxbpf::{Error, OpenObject};
use oxbpf_tests::{FdSnapshot, Feature, kernel_lock, object, require};

/// xdp_count.bpf.o with its program set to a type no kernel has.
fn with_unknown_program_type() -> OpenObject {
    let mut open = OpenObject::open(object("xdp_count")).unwrap();
    open.program_mut("xdp_count")
        .unwrap()
        .set_prog_type(ProgType(200));
    open
}

#[test]
fn an_unknown_program_type_is_named() {
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    let err = with_unknown_program_type().load().unwrap_err();
    let Error::KernelLacks { feature, what, .. } = &err else {
        panic!("expected KernelLacks, got {err:?}")
    };
    assert_eq!(feature, "programs of type 200", "{err}");
    assert!(what.contains("xdp_count"), "{err}");
    assert!(
        err.to_string()
            .contains("this kernel has no programs of type 200")
    );
    fds.assert_no_leak("the refused load");
}

/// Runs on every kernel of vm-test: where arenas exist (6.9+) the object
/// loads, elsewhere the error says arenas are missing.
#[test]
fn an_arena_object_loads_or_names_arena_maps() {
    let _k = kernel_lock();
    let result = OpenObject::open(object("arena")).unwrap().load();
    match probe_map_type(MapType::ARENA) {
        ProbeResult::Supported => {
            result.expect("arena maps exist, the object loads");
        }
        ProbeResult::Unsupported => {
            let Err(err) = result else {
                panic!("no arena maps, yet the load worked")
            };
            let Error::KernelLacks { feature, .. } = &err else {
                panic!("expected KernelLacks, got {err:?}")
            };
            assert_eq!(feature, "arena maps (BPF_MAP_TYPE_ARENA)");
        }
        ProbeResult::Inconclusive(e) => panic!("arena probe inconclusive: {e}"),
    }
}

/// The same through a light skeleton: the loader program only reports
/// the step and errno; the runtime probes as the live executor does.
#[test]
fn a_light_skeleton_names_what_the_kernel_lacks() {
    // A light skeleton runs as a syscall program (5.14; refused before as
    // KernelTooOld).
    require!(Feature::SyscallProgs);
    use oxbpf::LightSkeleton;
    use oxbpf::gen_loader::{GenOptions, generate};
    use oxbpf::plan::Op;
    let _k = kernel_lock();
    let fds = FdSnapshot::take();

    // A program type: the runtime replays the failed load live.
    let plan = with_unknown_program_type().loader_plan().unwrap();
    let loader = generate(&plan, &GenOptions::default()).unwrap();
    let err = LightSkeleton::new(loader).load().unwrap_err();
    let Error::KernelLacks { feature, .. } = &err else {
        panic!("expected KernelLacks, got {err:?}")
    };
    assert_eq!(feature, "programs of type 200");

    // A map type: the runtime reads it from the loader's blob.
    let mut plan = OpenObject::open(object("xdp_count"))
        .unwrap()
        .loader_plan()
        .unwrap();
    for op in &mut plan.ops {
        if let Op::CreateMap(m) = op {
            m.map_type = MapType(200);
        }
    }
    let loader = generate(&plan, &GenOptions::default()).unwrap();
    let err = LightSkeleton::new(loader).load().unwrap_err();
    let Error::KernelLacks { feature, .. } = &err else {
        panic!("expected KernelLacks, got {err:?}")
    };
    assert_eq!(feature, "maps of type 200");
    fds.assert_no_leak("refused light skeletons");
}
