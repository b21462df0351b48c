//! `decode(generate(plan)) == plan` on plans built in code: many maps and
//! programs, every kind of step, several blob chunks, trampolines; the
//! loader file round trip; what generation refuses.

mod support;

use oxbpf_asm::Insn;
use oxbpf_gen_loader::{Error, GenOptions, KernelVersion, Loader, Step, decode, generate};
use oxbpf_plan::{
    CoreReloKind, CreateMap, InsnIdx, LoadProg, Op, Patch, PatchKind, Plan, ReuseMap, UpdateElem,
};
use oxbpf_syscalls::{MapType, ProgType};
use support::plans::{Many, many};

fn opts() -> GenOptions {
    GenOptions::default()
}

fn roundtrip(plan: &Plan, opts: &GenOptions) -> Loader {
    let loader = generate(plan, opts).unwrap_or_else(|e| panic!("generate: {e}"));
    let decoded = decode(&loader).unwrap_or_else(|e| panic!("decode: {e}"));
    assert_eq!(&decoded, plan);
    let file = loader.to_bytes();
    let read = Loader::from_bytes(&file).unwrap();
    assert_eq!(read, loader);
    assert_eq!(decode(&read).unwrap(), *plan);
    loader
}

#[test]
fn eighty_maps_and_eighty_programs_round_trip() {
    let plan = many(&Many {
        maps: 80,
        progs: 80,
        pin: Some("/sys/fs/bpf/x/m0".into()),
    });
    assert!(plan.ops.len() > 160);
    let loader = roundtrip(&plan, &opts());
    // The loader keeps nothing on the stack: no instruction uses r10.
    assert!(
        loader
            .insns
            .iter()
            .all(|i| i.dst() != 10 && i.src() != 10 || i.code == 0x18),
        "the loader uses the stack"
    );
    assert_eq!(loader.blob.chunk_count(), 1);
    // A kallsyms lookup needs 5.16, CO-RE relocations left to the kernel
    // 5.17.
    assert_eq!(loader.min_kernel, KernelVersion::new(5, 17));
}

#[test]
fn kconfig_layouts_and_kernel_core_relos_round_trip() {
    let plan = many(&Many {
        maps: 2,
        progs: 2,
        pin: None,
    });
    let loader = roundtrip(&plan, &opts());
    // The descriptor says where the .kconfig value is and how it is laid out.
    let (value, kconfig) = loader
        .steps
        .iter()
        .find_map(|s| match s {
            Step::UpdateElem { value, kconfig, .. } if !kconfig.is_empty() => {
                Some((*value, kconfig.clone()))
            }
            _ => None,
        })
        .expect("a kconfig step");
    assert_eq!(kconfig, support::plans::many_kconfig());
    assert_eq!(
        loader.blob.range(value.unwrap(), 16).unwrap(),
        &[0; 16],
        "the planner's value"
    );
    // The records are in the blob, 16 bytes each, where the program's
    // attributes point.
    let Some(Op::LoadProg(p0)) = plan.ops.iter().find(|op| matches!(op, Op::LoadProg(_))) else {
        panic!()
    };
    let records = oxbpf_plan::CoreRelo::encode_all(&p0.core_relos).unwrap();
    assert_eq!(records.len(), 32);
    assert!(
        loader
            .blob
            .bytes()
            .windows(records.len())
            .any(|w| w == records)
    );
    // The trace lists them.
    let text = decode(&loader).unwrap().to_string();
    assert!(text.contains("kernel_core_relos 2"), "{text}");
    assert!(
        text.contains("core type_exists struct task_struct"),
        "{text}"
    );
    assert!(text.contains("+4 CONFIG_BPF_SYSCALL: bool"), "{text}");
}

#[test]
fn type_matches_relocations_need_linux_6_0() {
    let mut plan = many(&Many {
        maps: 1,
        progs: 2,
        pin: None,
    });
    for op in &mut plan.ops {
        if let Op::LoadProg(p) = op {
            for r in &mut p.core_relos {
                r.kind = CoreReloKind::TypeMatches;
            }
        }
    }
    let loader = roundtrip(&plan, &opts());
    assert_eq!(loader.min_kernel, KernelVersion::new(6, 0));
    let features = oxbpf_gen_loader::min_kernel_features(&plan);
    assert!(
        features
            .iter()
            .any(|(what, v)| what.contains("type_matches") && *v == KernelVersion::new(6, 0))
    );
}

#[test]
fn no_fixed_limits_on_maps_and_programs() {
    let small = generate(
        &many(&Many {
            maps: 100,
            progs: 100,
            pin: None,
        }),
        &opts(),
    )
    .unwrap();
    let big = generate(
        &many(&Many {
            maps: 2000,
            progs: 2000,
            pin: None,
        }),
        &opts(),
    )
    .unwrap();
    // Instructions grow linearly: 20 times the objects, about 20 times the code.
    let ratio = big.insn_count() as f64 / small.insn_count() as f64;
    assert!((15.0..22.0).contains(&ratio), "ratio {ratio}");
    assert_eq!(
        decode(&big).unwrap(),
        many(&Many {
            maps: 2000,
            progs: 2000,
            pin: None
        })
    );
}

#[test]
fn chunks_and_trampolines_round_trip() {
    let plan = many(&Many {
        maps: 30,
        progs: 30,
        pin: None,
    });
    let mut o = opts();
    o.max_chunk_size = 1024;
    o.trampoline_distance = 40;
    let loader = roundtrip(&plan, &o);
    assert!(
        loader.blob.chunk_count() > 2,
        "{} chunks",
        loader.blob.chunk_count()
    );
    // `goto +1` over a trampoline, more than once.
    let trampolines = loader
        .insns
        .windows(2)
        .filter(|w| w[0] == Insn::ja(1) && w[1].code == 0x05)
        .count();
    assert!(trampolines > 5, "{trampolines} trampolines");
}

#[test]
fn too_many_results_are_refused_not_truncated() {
    let plan = many(&Many {
        maps: 9000,
        progs: 2,
        pin: None,
    });
    match generate(&plan, &opts()) {
        Err(Error::Unsupported { what, .. }) => assert!(what.contains("results"), "{what}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_region_larger_than_a_chunk_is_refused() {
    let plan = many(&Many {
        maps: 2,
        progs: 2,
        pin: None,
    });
    let mut o = opts();
    o.max_chunk_size = 64;
    assert!(matches!(
        generate(&plan, &o),
        Err(Error::Unsupported { .. })
    ));
}

fn one_map_plan(map: CreateMap) -> Plan {
    let mut plan = Plan::new("t");
    plan.push(Op::CreateMap(map));
    plan
}

#[test]
fn what_generation_refuses() {
    // Per-CPU values depend on the target's CPU count.
    let mut plan = one_map_plan(CreateMap::new("pc", MapType::PERCPU_ARRAY, 4, 8, 1));
    plan.push(Op::UpdateElem(UpdateElem::new(
        oxbpf_plan::Ref(0),
        vec![0; 4],
        vec![0; 8],
        0,
    )));
    assert!(matches!(
        generate(&plan, &opts()),
        Err(Error::Unsupported { .. })
    ));

    // An element shorter than the map's: the kernel would read past it.
    let mut plan = one_map_plan(CreateMap::new("a", MapType::ARRAY, 4, 8, 1));
    plan.push(Op::UpdateElem(UpdateElem::new(
        oxbpf_plan::Ref(0),
        vec![0; 4],
        vec![0; 4],
        0,
    )));
    assert!(matches!(
        generate(&plan, &opts()),
        Err(Error::InvalidStep { step: 1, .. })
    ));

    // A patch site with bits the patch would replace.
    let mut plan = one_map_plan(CreateMap::new("a", MapType::ARRAY, 4, 8, 1));
    let mut p = LoadProg::new("p", ProgType::SOCKET_FILTER, "GPL");
    p.insns.extend(Insn::ld_map_fd(1, 7));
    p.insns.extend([Insn::mov64_imm(0, 0), Insn::exit()]);
    p.patches.push(Patch {
        insn: InsnIdx(0),
        kind: PatchKind::MapFd(oxbpf_plan::Ref(0)),
    });
    plan.push(Op::LoadProg(p.clone()));
    assert!(matches!(
        generate(&plan, &opts()),
        Err(Error::InvalidStep { step: 1, .. })
    ));

    // An fd_array index outside a patch point would change meaning.
    p.insns[0] = Insn::ld_map_idx(1, 0)[0];
    p.patches.clear();
    plan.ops[1] = Op::LoadProg(p);
    assert!(matches!(
        generate(&plan, &opts()),
        Err(Error::Unsupported { .. })
    ));

    // A pinned map expected to carry BTF cannot be checked by the runtime.
    let mut plan = Plan::new("t");
    let btf = plan.push(Op::LoadBtf(oxbpf_plan::LoadBtf { data: vec![0; 24] }));
    let mut expect = CreateMap::new("m", MapType::HASH, 4, 8, 1);
    expect.btf = Some(btf);
    plan.push(Op::ReuseMap(ReuseMap {
        path: "/sys/fs/bpf/m".into(),
        expect,
    }));
    assert!(matches!(
        generate(&plan, &opts()),
        Err(Error::Unsupported { .. })
    ));

    // A kernel name the kernel's 16 bytes cannot hold.
    let mut m = CreateMap::new("a", MapType::ARRAY, 4, 8, 1);
    m.kernel_name = "a_name_of_more_than_15_bytes".into();
    assert!(matches!(
        generate(&one_map_plan(m), &opts()),
        Err(Error::InvalidStep { step: 0, .. })
    ));
}

#[test]
fn an_empty_plan_makes_a_loader_that_does_nothing() {
    let plan = Plan::new("empty");
    let loader = roundtrip(&plan, &opts());
    assert_eq!(loader.min_kernel, KernelVersion::new(5, 14));
    assert!(loader.steps.is_empty());
}
