//! Subprogram linking: one entry program plus every function it calls,
//! laid out as one instruction sequence with call offsets fixed.
//!
//! The entry program comes first; each function it reaches — through
//! `call` instructions (bpf-to-bpf calls) or `ld_imm64` of a function's
//! address (callbacks for `bpf_loop`, `bpf_for_each_map_elem`...) — is
//! appended once, depth first in instruction order, as libbpf appends
//! them. A function shared by
//! several programs is appended to each of them. Relocations that are not
//! calls (maps, data, externs) are carried over with their instruction
//! indices moved to where their function now sits.

use std::collections::HashMap;

use oxbpf_asm::opcode::pseudo;
use oxbpf_asm::{Insn, InsnIdx};
use oxbpf_elf_bpf::{FuncRef, Function, RelocTarget, Relocation};

use crate::error::Error;

/// A linked program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Linked {
    /// The instructions: the entry program, then the functions it reaches.
    pub insns: Vec<Insn>,
    /// The relocations still to apply (maps, data, externs), with indices
    /// into `insns`.
    pub relocations: Vec<Relocation>,
    /// Where each function starts in `insns`, entry program first.
    pub functions: Vec<Placed>,
}

/// A function placed in a linked program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placed {
    /// The function's name.
    pub name: String,
    /// Its place in the object.
    pub origin: FuncRef,
    /// Its section's name.
    pub section: String,
    /// Its first instruction in the linked program.
    pub start: InsnIdx,
    /// Its number of instruction slots.
    pub len: usize,
}

/// Links `entry` with the functions it reaches among `functions` (every
/// function of the object: programs and subprograms).
///
/// `extra` names functions to include although no instruction reaches
/// them, such as an exception callback (found by the kernel through a
/// `exception_callback:` decl tag, not by a call).
///
/// The order is libbpf's (checked by the oracle's `call_order` object):
/// depth first — a function's body is appended, then its calls are taken
/// in instruction order, and a callee not yet placed is appended and
/// followed through before the caller's next call; the extra functions
/// come after everything the entry reaches.
pub fn link_program(
    entry: &Function,
    extra: &[FuncRef],
    functions: &[&Function],
) -> Result<Linked, Error> {
    let by_place: HashMap<FuncRef, &Function> =
        functions.iter().map(|f| (origin_of(f), *f)).collect();
    let mut linked = Linked {
        insns: Vec::new(),
        relocations: Vec::new(),
        functions: Vec::new(),
    };
    let mut start_of: HashMap<FuncRef, usize> = HashMap::new();
    // Fixups to make once every function's start is known:
    // (insn index in `linked.insns`, target, is call).
    let mut fixups: Vec<(usize, FuncRef, bool)> = Vec::new();
    // The functions being followed, innermost last (an explicit stack: a
    // long call chain in a crafted object must not exhaust ours).
    let mut stack: Vec<Frame<'_>> = Vec::new();
    start_of.insert(origin_of(entry), 0);
    stack.push(Frame::place(entry, &mut linked));
    let mut extras = extra.iter();
    loop {
        let Some(top) = stack.last_mut() else {
            let Some(&root) = extras.next() else { break };
            let callee = *by_place.get(&root).ok_or(Error::NoTarget {
                function: entry.name.clone(),
                insn: 0,
                what: "extra function",
                section: root.section_index,
                offset: root.offset,
            })?;
            if let std::collections::hash_map::Entry::Vacant(slot) = start_of.entry(root) {
                slot.insert(linked.insns.len());
                stack.push(Frame::place(callee, &mut linked));
            }
            continue;
        };
        let Some(&(i, target, is_call)) = top.targets.get(top.next) else {
            stack.pop();
            continue;
        };
        top.next += 1;
        let (caller, base) = (top.func, top.base);
        let Some(&callee) = by_place.get(&target) else {
            return Err(Error::NoTarget {
                function: caller.name.clone(),
                insn: i,
                what: if is_call { "call" } else { "function address" },
                section: target.section_index,
                offset: target.offset,
            });
        };
        fixups.push((base + i, target, is_call));
        if let std::collections::hash_map::Entry::Vacant(slot) = start_of.entry(target) {
            slot.insert(linked.insns.len());
            stack.push(Frame::place(callee, &mut linked));
        }
    }
    if linked.insns.len() > i32::MAX as usize {
        return Err(Error::TooLarge {
            insns: linked.insns.len(),
        });
    }
    for (at, target, is_call) in fixups {
        let rel = start_of[&target] as i64 - (at as i64 + 1);
        let insn = &mut linked.insns[at];
        insn.imm = rel as i32;
        if !is_call {
            insn.set_src(pseudo::FUNC);
            linked.insns[at + 1].imm = 0;
        }
    }
    Ok(linked)
}

fn origin_of(f: &Function) -> FuncRef {
    FuncRef {
        section_index: f.section_index,
        offset: f.offset,
    }
}

/// A function placed in the linked program whose calls are being
/// followed.
struct Frame<'f> {
    func: &'f Function,
    /// Where its body starts in the linked program.
    base: usize,
    /// Its calls and function addresses, in instruction order:
    /// (instruction index in the function, target, is call).
    targets: Vec<(usize, FuncRef, bool)>,
    /// The next of `targets` to follow.
    next: usize,
}

impl<'f> Frame<'f> {
    /// Appends `func`'s body to `linked` (its non-call relocations moved
    /// with it) and lists the functions it refers to.
    fn place(func: &'f Function, linked: &mut Linked) -> Frame<'f> {
        let base = linked.insns.len();
        linked.functions.push(Placed {
            name: func.name.clone(),
            origin: origin_of(func),
            section: func.section.clone(),
            start: InsnIdx(base),
            len: func.insns.len(),
        });
        linked.insns.extend_from_slice(&func.insns);
        let mut targets: Vec<(usize, FuncRef, bool)> = Vec::new();
        for reloc in &func.relocations {
            match reloc.target {
                RelocTarget::Call(target) => targets.push((reloc.insn, target, true)),
                RelocTarget::FuncAddr(target) => targets.push((reloc.insn, target, false)),
                _ => {
                    let mut moved = reloc.clone();
                    moved.insn += base;
                    linked.relocations.push(moved);
                }
            }
        }
        // Calls within the section that the compiler resolved itself carry
        // no relocation: their target is relative to the call.
        for (i, insn) in func.insns.iter().enumerate() {
            let is_local_call = insn.code == 0x85 && insn.src() == pseudo::CALL;
            if is_local_call && !func.relocations.iter().any(|r| r.insn == i) {
                let offset = (func.offset as i64 + 8 * (i as i64 + 1 + i64::from(insn.imm))) as u64;
                targets.push((
                    i,
                    FuncRef {
                        section_index: func.section_index,
                        offset,
                    },
                    true,
                ));
            }
        }
        targets.sort_by_key(|&(i, _, _)| i);
        Frame {
            func,
            base,
            targets,
            next: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn func(
        name: &str,
        section_index: usize,
        offset: u64,
        insns: Vec<Insn>,
        relocations: Vec<Relocation>,
    ) -> Function {
        Function {
            name: name.into(),
            section: if section_index == 1 {
                ".text".into()
            } else {
                "xdp".into()
            },
            section_index,
            offset,
            insns,
            relocations,
            global: false,
        }
    }

    fn call_reloc(insn: usize, section_index: usize, offset: u64) -> Relocation {
        Relocation {
            insn,
            target: RelocTarget::Call(FuncRef {
                section_index,
                offset,
            }),
            symbol: ".text".into(),
        }
    }

    #[test]
    fn callees_are_appended_once_and_calls_fixed() {
        // .text: a (2 insns) at 0, b (2 insns) at 16; a calls b.
        let a = func(
            "a",
            1,
            0,
            vec![Insn::call_subprog(-1), Insn::exit()],
            vec![call_reloc(0, 1, 16)],
        );
        let b = func(
            "b",
            1,
            16,
            vec![Insn::mov64_imm(0, 1), Insn::exit()],
            vec![],
        );
        // Entry calls a twice and b once.
        let entry = func(
            "entry",
            3,
            0,
            vec![
                Insn::call_subprog(-1),
                Insn::call_subprog(-1),
                Insn::call_subprog(-1),
                Insn::exit(),
            ],
            vec![
                call_reloc(0, 1, 0),
                call_reloc(1, 1, 16),
                call_reloc(2, 1, 0),
            ],
        );
        let linked = link_program(&entry, &[], &[&entry, &a, &b]).unwrap();
        let names: Vec<_> = linked
            .functions
            .iter()
            .map(|p| (p.name.as_str(), p.start.0))
            .collect();
        assert_eq!(names, [("entry", 0), ("a", 4), ("b", 6)]);
        assert_eq!(linked.insns.len(), 8);
        // call at i reaches i + 1 + imm.
        let target = |i: usize| (i as i64 + 1 + i64::from(linked.insns[i].imm)) as usize;
        assert_eq!((target(0), target(1), target(2)), (4, 6, 4));
        assert_eq!(target(4), 6, "a's call to b");
        assert!(linked.relocations.is_empty());
    }

    #[test]
    fn callees_are_followed_depth_first() {
        // .text: a at 0 (calls c), b at 16, c at 32; the entry calls a
        // then b: libbpf's order is entry, a, c, b.
        let a = func(
            "a",
            1,
            0,
            vec![Insn::call_subprog(-1), Insn::exit()],
            vec![call_reloc(0, 1, 32)],
        );
        let b = func(
            "b",
            1,
            16,
            vec![Insn::mov64_imm(0, 2), Insn::exit()],
            vec![],
        );
        let c = func(
            "c",
            1,
            32,
            vec![Insn::mov64_imm(0, 3), Insn::exit()],
            vec![],
        );
        let entry = func(
            "entry",
            3,
            0,
            vec![Insn::call_subprog(-1), Insn::call_subprog(-1), Insn::exit()],
            vec![call_reloc(1, 1, 16), call_reloc(0, 1, 0)],
        );
        let linked = link_program(&entry, &[], &[&entry, &a, &b, &c]).unwrap();
        let names: Vec<_> = linked
            .functions
            .iter()
            .map(|p| (p.name.as_str(), p.start.0))
            .collect();
        assert_eq!(names, [("entry", 0), ("a", 3), ("c", 5), ("b", 7)]);
        let target = |i: usize| (i as i64 + 1 + i64::from(linked.insns[i].imm)) as usize;
        assert_eq!((target(0), target(1), target(3)), (3, 7, 5));
    }

    #[test]
    fn a_long_call_chain_needs_no_deep_recursion() {
        // f0 calls f1 calls f2 ... : 100,000 functions in one section.
        let n = 100_000u64;
        let fs: Vec<Function> = (0..n)
            .map(|k| {
                let relocs = if k + 1 < n {
                    vec![call_reloc(0, 1, 16 * (k + 1))]
                } else {
                    vec![]
                };
                func(
                    &format!("f{k}"),
                    1,
                    16 * k,
                    vec![Insn::call_subprog(-1), Insn::exit()],
                    relocs,
                )
            })
            .collect();
        let refs: Vec<&Function> = fs.iter().collect();
        let linked = link_program(&fs[0], &[], &refs).unwrap();
        assert_eq!(linked.functions.len(), n as usize);
    }

    #[test]
    fn extra_functions_follow_everything_the_entry_reaches() {
        // .text: handler (2 insns) at 0, which calls helper; helper at 16;
        // cb at 32, called by the entry.
        let handler = func(
            "handler",
            1,
            0,
            vec![Insn::call_subprog(-1), Insn::exit()],
            vec![call_reloc(0, 1, 16)],
        );
        let helper = func("helper", 1, 16, vec![Insn::exit()], vec![]);
        let cb = func(
            "cb",
            1,
            32,
            vec![Insn::mov64_imm(0, 0), Insn::exit()],
            vec![],
        );
        let entry = func(
            "entry",
            3,
            0,
            vec![Insn::call_subprog(-1), Insn::exit()],
            vec![call_reloc(0, 1, 32)],
        );
        let handler_ref = FuncRef {
            section_index: 1,
            offset: 0,
        };
        let linked =
            link_program(&entry, &[handler_ref], &[&entry, &handler, &helper, &cb]).unwrap();
        let names: Vec<_> = linked
            .functions
            .iter()
            .map(|p| (p.name.as_str(), p.start.0))
            .collect();
        assert_eq!(
            names,
            [("entry", 0), ("cb", 2), ("handler", 4), ("helper", 6)]
        );
        let target = |i: usize| (i as i64 + 1 + i64::from(linked.insns[i].imm)) as usize;
        assert_eq!((target(0), target(4)), (2, 6));
        // An extra function the entry reaches anyway is placed once.
        let cb_ref = FuncRef {
            section_index: 1,
            offset: 32,
        };
        let linked = link_program(&entry, &[cb_ref], &[&entry, &cb]).unwrap();
        assert_eq!(linked.functions.len(), 2);
        // One that does not exist is an error naming the entry.
        let missing = FuncRef {
            section_index: 1,
            offset: 64,
        };
        let err = link_program(&entry, &[missing], &[&entry, &cb]).unwrap_err();
        assert!(err.to_string().contains("entry"), "{err}");
    }

    #[test]
    fn callback_addresses_become_pseudo_func() {
        let cb = func(
            "cb",
            1,
            0,
            vec![Insn::mov64_imm(0, 0), Insn::exit()],
            vec![],
        );
        let [lo, hi] = Insn::ld_imm64(2, 0, 0);
        let map = Relocation {
            insn: 3,
            target: RelocTarget::Map(0),
            symbol: "m".into(),
        };
        let [m0, m1] = Insn::ld_map_fd(1, 0);
        let entry = func(
            "entry",
            3,
            0,
            vec![lo, hi, Insn::mov64_imm(1, 4), m0, m1, Insn::exit()],
            vec![
                Relocation {
                    insn: 0,
                    target: RelocTarget::FuncAddr(FuncRef {
                        section_index: 1,
                        offset: 0,
                    }),
                    symbol: ".text".into(),
                },
                map.clone(),
            ],
        );
        let linked = link_program(&entry, &[], &[&entry, &cb]).unwrap();
        assert_eq!(linked.insns[0].src(), pseudo::FUNC);
        assert_eq!(i64::from(linked.insns[0].imm), 6 - 1, "cb starts at 6");
        assert_eq!(linked.relocations, [map]);
    }

    #[test]
    fn relocations_of_callees_move_with_them() {
        let [m0, m1] = Insn::ld_map_fd(1, 0);
        let callee = func(
            "f",
            1,
            0,
            vec![m0, m1, Insn::exit()],
            vec![Relocation {
                insn: 0,
                target: RelocTarget::Map(2),
                symbol: "m".into(),
            }],
        );
        let entry = func(
            "entry",
            3,
            0,
            vec![Insn::call_subprog(-1), Insn::exit()],
            vec![call_reloc(0, 1, 0)],
        );
        let linked = link_program(&entry, &[], &[&entry, &callee]).unwrap();
        assert_eq!(linked.relocations.len(), 1);
        assert_eq!(linked.relocations[0].insn, 2);
        assert!(linked.insns[2].is_ld_imm64());
    }

    #[test]
    fn recursion_and_unrelocated_local_calls() {
        // f at .text 0 calls itself through a relative call with no relocation.
        let f = func(
            "f",
            1,
            0,
            vec![Insn::call_subprog(-1), Insn::exit()],
            vec![],
        );
        let entry = func(
            "entry",
            3,
            0,
            vec![Insn::call_subprog(-1), Insn::exit()],
            vec![call_reloc(0, 1, 0)],
        );
        let linked = link_program(&entry, &[], &[&entry, &f]).unwrap();
        assert_eq!(linked.functions.len(), 2);
        assert_eq!(linked.insns[2].imm, -1, "f calls itself");
    }

    #[test]
    fn a_call_to_nowhere_is_an_error() {
        let entry = func(
            "entry",
            3,
            0,
            vec![Insn::call_subprog(-1), Insn::exit()],
            vec![call_reloc(0, 1, 8)],
        );
        let err = link_program(&entry, &[], &[&entry]).unwrap_err();
        assert!(
            matches!(
                err,
                Error::NoTarget {
                    insn: 0,
                    section: 1,
                    offset: 8,
                    ..
                }
            ),
            "{err}"
        );
    }
}
