//! Every corpus object loads, and the kernel holds what the plan asked for:
//! program types and names, map definitions, BTF and line info.

use oxbpf::OpenObject;
use oxbpf::plan::{Op, PatchKind};
use oxbpf_tests::{
    FdSnapshot, KernelObjects, PinDir, corpus, corpus_missing, corpus_sources,
    excused_load_failure, kernel_lock, kernel_struct_has, settled_new_objects,
};

#[test]
fn every_source_has_an_object() {
    let built: Vec<String> = corpus()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for name in corpus_sources() {
        assert!(
            built.contains(&format!("{name}.bpf.o")),
            "{name}.bpf.c was not built"
        );
    }
    assert!(
        corpus_sources().len() >= 12,
        "the corpus has fewer than 12 programs"
    );
}

#[test]
fn every_object_loads_as_planned() {
    let _k = kernel_lock();
    let pins = PinDir::new("corpus");
    let report_attach_btf_id = kernel_struct_has("bpf_prog_info", "attach_btf_id");
    for path in corpus() {
        let name = path.display().to_string();
        let fds = FdSnapshot::take();
        let before = KernelObjects::take();
        let mut open = OpenObject::open(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        open.set_pin_root(&pins.0);
        let plan = match open.plan() {
            Ok(plan) => plan,
            // The plan is made for the running kernel: one lacking what
            // the object needs (exceptions without DECL_TAG) is refused
            // at planning.
            Err(e) => match excused_load_failure(&path, &e) {
                Some(why) => {
                    println!("{name}: not plannable here ({why}): {e}");
                    fds.assert_no_leak(&name);
                    continue;
                }
                None => panic!("{name}: plan: {e}"),
            },
        };
        let has_btf_ext = open.elf().btf_ext.is_some();
        // An object needing what this kernel lacks must fail to load, and
        // only for that reason; every other object must load.
        let obj = match open.load() {
            Ok(obj) => {
                if let Some(missing) = corpus_missing(&path) {
                    panic!("{name} loaded, yet the probes say the kernel lacks {missing}");
                }
                obj
            }
            Err(e) => match excused_load_failure(&path, &e) {
                Some(why) => {
                    println!("{name}: not loadable here ({why}): {e}");
                    fds.assert_no_leak(&name);
                    continue;
                }
                None => panic!("{name}: load: {e:?}"),
            },
        };

        for op in &plan.ops {
            match op {
                Op::CreateMap(m) => {
                    let Ok(map) = obj.map(&m.name) else { continue }; // inner map templates have no handle
                    let info = map.info().unwrap();
                    assert_eq!(info.r#type, m.map_type, "{name}: map {}", m.name);
                    assert_eq!(
                        (
                            info.key_size,
                            info.value_size,
                            info.max_entries,
                            info.map_flags
                        ),
                        (m.key_size, m.value_size, m.max_entries, m.map_flags),
                        "{name}: map {}",
                        m.name
                    );
                    assert_eq!(info.name_str(), m.kernel_name, "{name}: map {}", m.name);
                    assert_eq!(
                        info.btf_key_type_id, m.btf_key_type_id,
                        "{name}: map {}",
                        m.name
                    );
                    assert_eq!(
                        info.btf_value_type_id, m.btf_value_type_id,
                        "{name}: map {}",
                        m.name
                    );
                    if m.btf.is_some() {
                        assert_ne!(
                            info.btf_id, 0,
                            "{name}: map {} has no BTF in the kernel",
                            m.name
                        );
                    }
                }
                Op::LoadProg(p) => {
                    let prog = obj.program(&p.name).unwrap();
                    let info = prog.info().unwrap();
                    assert_eq!(info.r#type, p.prog_type, "{name}: program {}", p.name);
                    assert_eq!(info.name_str(), p.kernel_name, "{name}: program {}", p.name);
                    assert!(info.xlated_prog_len > 0, "{name}: program {}", p.name);
                    // The kernel's map ids are the maps the patches named.
                    let mut wanted: Vec<u32> = p
                        .patches
                        .iter()
                        .filter_map(|patch| match patch.kind {
                            PatchKind::MapFd(r) | PatchKind::MapValue { map: r, .. } => Some(r.0),
                            _ => None,
                        })
                        .collect();
                    wanted.sort_unstable();
                    wanted.dedup();
                    let ids = oxbpf::sys::prog_map_ids(prog.prog_fd()).unwrap();
                    assert_eq!(
                        ids.len(),
                        wanted.len(),
                        "{name}: program {} map ids {ids:?}",
                        p.name
                    );
                    if p.btf.is_some() {
                        assert_ne!(info.btf_id, 0, "{name}: program {}", p.name);
                        assert_eq!(
                            info.nr_func_info as usize,
                            p.func_info.len(),
                            "{name}: {}",
                            p.name
                        );
                        // The verifier drops the line info of the dead code it
                        // removes (a branch on an absent weak kfunc), never adds.
                        let lines = info.nr_line_info as usize;
                        assert!(
                            lines > 0 && lines <= p.line_info.len(),
                            "{name}: {}: kernel has {lines} of {} line infos",
                            p.name,
                            p.line_info.len()
                        );
                        assert!(
                            has_btf_ext && !p.line_info.is_empty(),
                            "{name}: {} has no line info",
                            p.name
                        );
                    }
                    // Kernels before 5.15 do not report attach_btf_id.
                    if let Some(r) = p.attach_btf.filter(|_| report_attach_btf_id) {
                        let Some(Op::FindBtfId(find)) = plan.op(r) else {
                            panic!("{name}: {r} is no btf_find")
                        };
                        let vmlinux =
                            oxbpf::btf::Btf::from_file(std::path::Path::new(oxbpf::VMLINUX_BTF))
                                .unwrap();
                        let id = vmlinux
                            .find_by_name_kind(&find.name, find.kind)
                            .unwrap()
                            .unwrap();
                        assert_eq!(
                            info.attach_btf_id, id.0,
                            "{name}: program {} attaches to {}",
                            p.name, find.name
                        );
                    }
                }
                _ => {}
            }
        }
        drop(obj);
        fds.assert_no_leak(&name);
        // Pinned maps stay (that is what pinning is for); nothing else does.
        let left = settled_new_objects(&before);
        let pinned = std::fs::read_dir(&pins.0).unwrap().count();
        assert!(left.progs.is_empty(), "{name}: programs left {left:?}");
        assert!(
            left.maps.len() <= pinned,
            "{name}: maps left {left:?} with {pinned} pins"
        );
        for entry in std::fs::read_dir(&pins.0).unwrap() {
            std::fs::remove_file(entry.unwrap().path()).unwrap();
        }
    }
}
