//! `explain` shows what a loader does, not what it claims: a change to the
//! blob shows up in the decoded plan, and changes no plan can express (or
//! instructions that are not a loader's) are refused, naming where.

mod support;

use core::mem::offset_of;

use oxbpf_asm::Insn;
use oxbpf_asm::reg::R7;
use oxbpf_gen_loader::{Error, GenOptions, Loader, Step, decode, generate};
use oxbpf_plan::{Op, Plan};
use oxbpf_syscalls::{MapCreateAttr, MapElemAttr};
use support::plans::{Many, many};

fn setup() -> (Plan, Loader) {
    let plan = many(&Many {
        maps: 4,
        progs: 3,
        pin: None,
    });
    let loader = generate(&plan, &GenOptions::default()).unwrap();
    (plan, loader)
}

/// The step of the map named `name` and where its attributes are.
fn map_step(loader: &Loader, name: &str) -> (usize, usize) {
    loader
        .steps
        .iter()
        .enumerate()
        .find_map(|(k, s)| match s {
            Step::CreateMap { name: n, attr, .. } if n == name => Some((k, attr.index())),
            _ => None,
        })
        .unwrap()
}

#[test]
fn a_changed_attribute_shows_in_the_explained_plan() {
    let (plan, mut loader) = setup();
    let (k, attr) = map_step(&loader, "m2");
    let at = attr + offset_of!(MapCreateAttr, max_entries);
    loader.blob.bytes_mut()[at..at + 4].copy_from_slice(&99u32.to_ne_bytes());
    let explained = decode(&loader).unwrap();
    let mut expected = plan.clone();
    let Op::CreateMap(m) = &mut expected.ops[k] else {
        panic!()
    };
    m.max_entries = 99;
    assert_eq!(explained, expected);
    assert!(
        explained
            .to_string()
            .contains("\"m2\" array key 4 value 8 max 99")
    );
    assert_ne!(explained, plan);
}

#[test]
fn a_changed_initial_value_shows_in_the_explained_plan() {
    let (plan, mut loader) = setup();
    let k = plan
        .ops
        .iter()
        .position(|op| matches!(op, Op::UpdateElem(_)))
        .unwrap();
    let Op::UpdateElem(u) = &plan.ops[k] else {
        panic!()
    };
    // The value is the only 16-byte run 0..16 in the blob.
    let blob = loader.blob.bytes().to_vec();
    let at = blob
        .windows(16)
        .position(|w| w == u.value.as_slice())
        .unwrap();
    loader.blob.bytes_mut()[at + 3] = 0xee;
    let Op::UpdateElem(d) = &decode(&loader).unwrap().ops[k] else {
        panic!()
    };
    assert_eq!(d.value[3], 0xee);
}

#[test]
fn a_byte_no_plan_expresses_is_refused_by_field_name() {
    let (_, mut loader) = setup();
    let (k, attr) = map_step(&loader, "m1");
    let at = attr + offset_of!(MapCreateAttr, map_ifindex);
    loader.blob.bytes_mut()[at] = 1;
    match decode(&loader) {
        Err(Error::DecodeStep { step, what }) => {
            assert_eq!(step, k);
            assert!(what.contains("map_ifindex"), "{what}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_freeze_with_a_stray_key_is_refused() {
    let (_, mut loader) = setup();
    let (k, attr) = loader
        .steps
        .iter()
        .enumerate()
        .find_map(|(k, s)| match s {
            Step::Freeze { attr, .. } => Some((k, attr.index())),
            _ => None,
        })
        .unwrap();
    let at = attr + offset_of!(MapElemAttr, key);
    loader.blob.bytes_mut()[at] = 1;
    assert!(matches!(decode(&loader), Err(Error::DecodeStep { step, .. }) if step == k));
}

#[test]
fn names_come_from_the_descriptor_and_show_as_given() {
    let (plan, mut loader) = setup();
    let (k, _) = map_step(&loader, "m3");
    if let Step::CreateMap { name, .. } = &mut loader.steps[k] {
        *name = "renamed".into();
    }
    let explained = decode(&loader).unwrap();
    let Op::CreateMap(m) = &explained.ops[k] else {
        panic!()
    };
    assert_eq!(m.name, "renamed");
    // The kernel's name is in the attributes and did not change.
    assert_eq!(m.kernel_name, "m3");
    assert_ne!(explained, plan);
}

#[test]
fn a_descriptor_that_disagrees_with_the_instructions_is_refused() {
    let (_, loader) = setup();
    // Attributes somewhere else than where the instructions point.
    let mut bad = loader.clone();
    let (k, _) = map_step(&bad, "m0");
    if let Step::CreateMap { attr, .. } = &mut bad.steps[k] {
        attr.0 += 8;
    }
    assert!(matches!(decode(&bad), Err(Error::DecodeStep { step, .. }) if step == k));
    // A map said to be an inner template when it is not.
    let mut bad = loader.clone();
    if let Step::CreateMap { handle, .. } = &mut bad.steps[k] {
        *handle = false;
    }
    assert!(matches!(decode(&bad), Err(Error::DecodeStep { step, .. }) if step == k));
    // A step the descriptor gives to the runtime while the loader does it.
    let mut bad = loader.clone();
    bad.steps[k] = Step::Pin {
        map: oxbpf_plan::Ref(0),
        path: "/sys/fs/bpf/x".into(),
    };
    assert!(matches!(decode(&bad), Err(Error::DecodeStep { .. })));
}

/// Index of the first `call bpf_sys_close` of the error handler.
fn first_close(loader: &Loader) -> usize {
    loader
        .insns
        .iter()
        .position(|i| *i == Insn::call_helper(168))
        .unwrap()
}

#[test]
fn a_handler_that_skips_a_close_is_refused() {
    let (_, mut loader) = setup();
    let at = first_close(&loader);
    loader.insns[at] = Insn::mov64_imm(0, 0);
    assert!(matches!(decode(&loader), Err(Error::DecodeInsn { insn, .. }) if insn.0 == at));
}

#[test]
fn a_handler_that_closes_an_unguarded_word_is_refused() {
    let (_, mut loader) = setup();
    let at = first_close(&loader) - 1;
    // `if w1 s< 0 goto +2` becomes `goto +0`: -1 would be closed.
    loader.insns[at] = Insn::ja(0);
    assert!(matches!(decode(&loader), Err(Error::DecodeInsn { .. })));
}

#[test]
fn a_handler_that_closes_the_wrong_word_is_refused() {
    let (_, mut loader) = setup();
    // Reset of the first closed word moved to another word: the ladder
    // closes a word it does not reset.
    let at = first_close(&loader) + 1;
    assert_eq!(loader.insns[at].src(), R7);
    loader.insns[at].off += 4;
    assert!(decode(&loader).is_err());
}

#[test]
fn steps_out_of_order_are_refused() {
    let (_, mut loader) = setup();
    // The first step marker: `r1 = 0; *(u32 *)(r6 + 0) = r1`.
    let at = loader
        .insns
        .windows(2)
        .position(|w| w[0] == Insn::mov64_imm(1, 0) && w[1].code == 0x63 && w[1].off == 0)
        .unwrap();
    loader.insns[at] = Insn::mov64_imm(1, 5);
    assert!(matches!(decode(&loader), Err(Error::DecodeInsn { .. })));
}

#[test]
fn an_instruction_no_loader_has_is_refused_with_its_index() {
    let (_, mut loader) = setup();
    let at = 10;
    loader.insns[at] = Insn::alu64_imm(oxbpf_asm::opcode::alu::MUL, 3, 3);
    assert!(matches!(decode(&loader), Err(Error::DecodeInsn { insn, .. }) if insn.0 == at));
}

#[test]
fn changed_instructions_never_panic_the_decoder() {
    let (_, loader) = setup();
    for i in 0..loader.insns.len() {
        for m in 0..8 {
            let mut l = loader.clone();
            let x = &mut l.insns[i];
            match m {
                0 => x.off = x.off.wrapping_add(4),
                1 => x.off = x.off.wrapping_sub(4),
                2 => x.off = x.off.wrapping_add(8),
                3 => x.imm ^= 1,
                4 => x.imm = x.imm.wrapping_sub(8),
                5 => x.set_dst((x.dst() + 1) & 0xf),
                6 => x.set_src((x.src() + 1) & 0xf),
                _ => x.code ^= 0x08,
            }
            // Refused or decoded (a change that keeps the loader's shape
            // shows up in the plan), never a panic.
            let _ = decode(&l);
        }
    }
}

#[test]
fn a_kconfig_layout_outside_its_value_or_on_another_step_is_refused() {
    let (_, loader) = setup();
    let k = loader
        .steps
        .iter()
        .position(|s| matches!(s, Step::UpdateElem { kconfig, .. } if !kconfig.is_empty()))
        .unwrap();
    // Past the end of the value: the plan does not hold together.
    let mut bad = loader.clone();
    if let Step::UpdateElem { kconfig, .. } = &mut bad.steps[k] {
        kconfig[0].offset = 14;
    }
    assert!(
        matches!(decode(&bad), Err(Error::Plan(_))),
        "{:?}",
        decode(&bad)
    );
    // On the data section's update: a plan may say so (the runtime would
    // overwrite that value too), and explain shows it.
    let data = loader
        .steps
        .iter()
        .position(|s| matches!(s, Step::UpdateElem { kconfig, .. } if kconfig.is_empty()))
        .unwrap();
    let mut moved = loader.clone();
    let taken = match &mut moved.steps[k] {
        Step::UpdateElem { kconfig, .. } => std::mem::take(kconfig),
        _ => unreachable!(),
    };
    if let Step::UpdateElem { kconfig, .. } = &mut moved.steps[data] {
        *kconfig = taken;
    }
    let text = decode(&moved).unwrap().to_string();
    assert!(text.contains("kconfig 3 (values of the target)"), "{text}");
    // In the file, a layout pointing outside the blob is refused on reading.
    let mut far = loader.clone();
    if let Step::UpdateElem { kconfig, .. } = &mut far.steps[k] {
        kconfig[0].offset = u32::MAX - 8;
    }
    assert!(matches!(
        Loader::from_bytes(&far.to_bytes()),
        Err(Error::Format { .. })
    ));
}

#[test]
fn a_core_relo_record_off_an_instruction_boundary_is_refused() {
    let (plan, mut loader) = setup();
    let k = plan
        .ops
        .iter()
        .position(|op| matches!(op, Op::LoadProg(p) if !p.core_relos.is_empty()))
        .unwrap();
    let Op::LoadProg(p) = &plan.ops[k] else {
        unreachable!()
    };
    let records = oxbpf_plan::CoreRelo::encode_all(&p.core_relos).unwrap();
    let at = loader
        .blob
        .bytes()
        .windows(records.len())
        .position(|w| w == records)
        .unwrap();
    let off = u32::from_ne_bytes(loader.blob.bytes()[at..at + 4].try_into().unwrap());
    loader.blob.bytes_mut()[at..at + 4].copy_from_slice(&(off + 4).to_ne_bytes());
    match decode(&loader) {
        Err(Error::DecodeStep { step, what }) => {
            assert_eq!(step, k);
            assert!(what.contains("CO-RE relocation at byte"), "{what}");
        }
        other => panic!("{other:?}"),
    }
    // On the boundary but at another instruction, explain shows it moved.
    loader.blob.bytes_mut()[at..at + 4].copy_from_slice(&(off - 8).to_ne_bytes());
    let moved = decode(&loader).unwrap();
    let Op::LoadProg(q) = &moved.ops[k] else {
        unreachable!()
    };
    assert_eq!(q.core_relos[0].insn.0 + 1, p.core_relos[0].insn.0);
}
