//! Live-kernel tests of the wrappers (need root and a kernel with BPF,
//! which every development and CI machine of the project has: a missing
//! capability is a failure, not a skip).

mod common;

use std::collections::BTreeSet;
use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;

use common::*;
use oxbpf_asm::Insn;
use oxbpf_asm::opcode::pseudo;
use oxbpf_syscalls::attr::{elem_flags, log_level};
use oxbpf_syscalls::*;

fn key(k: u32) -> [u8; 4] {
    k.to_ne_bytes()
}

#[test]
fn hash_map_update_lookup_iterate_delete() {
    let mut a = MapCreateAttr::new(MapType::HASH, 4, 8, 16);
    a.map_name = attr::obj_name("oxbpf_hash");
    let map = map_create(&a).unwrap();
    assert!(map.as_raw_fd() > 2);
    for k in 1..=5u32 {
        map_update_elem(
            &map,
            &key(k),
            &(k as u64 * 10).to_ne_bytes(),
            elem_flags::ANY,
        )
        .unwrap();
    }
    for k in 1..=5u32 {
        let mut v = [0u8; 8];
        assert!(map_lookup_elem(&map, &key(k), &mut v, 0).unwrap());
        assert_eq!(u64::from_ne_bytes(v), k as u64 * 10);
    }
    let mut v = [0u8; 8];
    assert!(!map_lookup_elem(&map, &key(99), &mut v, 0).unwrap());

    // NOEXIST on an existing key fails with EEXIST and names the command.
    let e = map_update_elem(&map, &key(1), &[0; 8], elem_flags::NOEXIST).unwrap_err();
    assert_eq!(e.errno(), Some(Errno::EXIST));
    assert_eq!(e.to_string(), "BPF_MAP_UPDATE_ELEM: File exists (EEXIST)");

    let keys = |map: &MapFd| {
        let mut out = BTreeSet::new();
        let mut cur: Option<[u8; 4]> = None;
        let mut next = [0u8; 4];
        while map_get_next_key(map, cur.as_ref().map(|k| &k[..]), &mut next).unwrap() {
            assert!(out.insert(u32::from_ne_bytes(next)), "key seen twice");
            cur = Some(next);
        }
        out
    };
    assert_eq!(keys(&map), (1..=5).collect());
    assert!(map_delete_elem(&map, &key(3)).unwrap());
    assert!(!map_delete_elem(&map, &key(3)).unwrap());
    assert_eq!(keys(&map), [1, 2, 4, 5].into_iter().collect());

    let info = map_info(&map).unwrap();
    assert_eq!(info.r#type, MapType::HASH);
    assert_eq!(
        (info.key_size, info.value_size, info.max_entries),
        (4, 8, 16)
    );
    assert_eq!(info.name_str(), "oxbpf_hash");
    assert_ne!(info.id, 0);
}

#[test]
fn wrong_buffer_sizes_never_reach_the_kernel() {
    let map = map_create(&MapCreateAttr::new(MapType::HASH, 4, 8, 4)).unwrap();
    let calls = fault::count();
    let e = map_update_elem(&map, &[0u8; 3], &[0; 8], 0).unwrap_err();
    assert!(
        matches!(
            e,
            Error::BufferSize {
                what: "key",
                expected: 4,
                got: 3,
                ..
            }
        ),
        "{e}"
    );
    let e = map_lookup_elem(&map, &key(0), &mut [0u8; 4], 0).unwrap_err();
    assert!(
        matches!(
            e,
            Error::BufferSize {
                what: "value",
                expected: 8,
                got: 4,
                ..
            }
        ),
        "{e}"
    );
    let e = map_get_next_key(&map, None, &mut [0u8; 8]).unwrap_err();
    assert!(
        matches!(
            e,
            Error::BufferSize {
                what: "next_key",
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(calls.calls(), 0);
}

#[test]
fn freeze_makes_map_read_only_for_user_space() {
    let map = map_create(&MapCreateAttr::new(MapType::ARRAY, 4, 8, 2)).unwrap();
    map_update_elem(&map, &key(0), &7u64.to_ne_bytes(), 0).unwrap();
    map_freeze(&map).unwrap();
    let e = map_update_elem(&map, &key(1), &8u64.to_ne_bytes(), 0).unwrap_err();
    assert_eq!(e.errno(), Some(Errno::PERM), "{e}");
    assert!(matches!(
        e,
        Error::Syscall {
            call: Cmd::MAP_UPDATE_ELEM,
            ..
        }
    ));
    let mut v = [0u8; 8];
    assert!(map_lookup_elem(&map, &key(0), &mut v, 0).unwrap());
    assert_eq!(u64::from_ne_bytes(v), 7);
}

#[test]
fn per_cpu_values_have_one_slot_per_possible_cpu() {
    let map = map_create(&MapCreateAttr::new(MapType::PERCPU_ARRAY, 4, 4, 1)).unwrap();
    let ncpu = possible_cpus().unwrap() as usize;
    assert_eq!(map.meta().value_buf_len().unwrap(), 8 * ncpu);
    let mut vals = vec![0u8; 8 * ncpu];
    for cpu in 0..ncpu {
        vals[cpu * 8..cpu * 8 + 4].copy_from_slice(&(cpu as u32 + 100).to_ne_bytes());
    }
    map_update_elem(&map, &key(0), &vals, 0).unwrap();
    let mut back = vec![0u8; 8 * ncpu];
    assert!(map_lookup_elem(&map, &key(0), &mut back, 0).unwrap());
    assert_eq!(back, vals);
}

#[test]
fn queue_push_and_pop_without_key() {
    let map = map_create(&MapCreateAttr::new(MapType::QUEUE, 0, 4, 4)).unwrap();
    for v in [5u32, 6] {
        map_update_elem(&map, &[], &v.to_ne_bytes(), 0).unwrap();
    }
    let mut out = [0u8; 4];
    assert!(map_lookup_and_delete_elem(&map, &[], &mut out, 0).unwrap());
    assert_eq!(u32::from_ne_bytes(out), 5);
    assert!(map_lookup_elem(&map, &[], &mut out, 0).unwrap()); // peek
    assert_eq!(u32::from_ne_bytes(out), 6);
}

#[test]
fn xdp_test_run_returns_retval_and_packet() {
    let prog = ret_prog(ProgType::XDP, 2, "oxbpf_pass");
    let pkt: Vec<u8> = (0..64u8).collect();
    let out = prog_test_run(&prog, &TestRunOptions::new(&pkt, 256)).unwrap();
    assert_eq!(out.retval, 2);
    assert_eq!(out.data_out, pkt);

    let mut o = TestRunOptions::new(&pkt, 0);
    o.repeat = 10;
    let out = prog_test_run(&prog, &o).unwrap();
    assert_eq!(out.retval, 2);
    assert!(out.data_out.is_empty());

    let e = prog_test_run(&prog, &TestRunOptions::new(&pkt, 10)).unwrap_err();
    assert!(
        matches!(
            e,
            Error::TestRunOutputTooSmall {
                buffer: "data_out",
                capacity: 10,
                needed: 64
            }
        ),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        "BPF_PROG_TEST_RUN: data_out needs 64 bytes, capacity was 10"
    );
}

#[test]
fn prog_info_reports_type_name_insns_and_maps() {
    let map = counter_map();
    let map_id = map_info(&map).unwrap().id;
    let mut insns = Insn::ld_map_fd(1, map.as_raw_fd()).to_vec();
    insns.extend([Insn::mov64_imm(0, 2), Insn::exit()]);
    let mut o = ProgLoadOptions::new(ProgType::XDP, &insns, c"GPL");
    o.name = "oxbpf_info";
    let prog = prog_load(&o, &mut VerifierLog::new()).unwrap();

    let info = prog_info(&prog).unwrap();
    assert_eq!(info.r#type, ProgType::XDP);
    assert_eq!(info.name_str(), "oxbpf_info");
    assert_eq!(info.nr_map_ids, 1);
    assert_eq!(info.xlated_prog_len as usize, insns.len() * 8);
    assert!(info.is_gpl_compatible());
    assert_ne!(info.tag, [0; 8]);

    let x = prog_xlated_insns(&prog).unwrap();
    assert_eq!(x.len(), insns.len());
    // The kernel reports the map reference by map id.
    assert_eq!(x[0].src(), pseudo::MAP_FD);
    assert_eq!(x[0].imm as u32, map_id);
    assert_eq!(&x[2..], &insns[2..]);
    assert_eq!(prog_map_ids(&prog).unwrap(), vec![map_id]);

    let no_gpl = {
        let insns = [Insn::mov64_imm(0, 2), Insn::exit()];
        let o = ProgLoadOptions::new(ProgType::XDP, &insns, c"Proprietary");
        prog_load(&o, &mut VerifierLog::new()).unwrap()
    };
    assert!(!prog_info(&no_gpl).unwrap().is_gpl_compatible());
    assert!(prog_map_ids(&no_gpl).unwrap().is_empty());
}

#[test]
fn verifier_rejection_returns_the_log() {
    // `exit` with r0 never written.
    let insns = [Insn::exit()];
    let o = ProgLoadOptions::new(ProgType::XDP, &insns, c"GPL");
    let mut log = VerifierLog::new();
    let e = prog_load(&o, &mut log).unwrap_err();
    let Error::Verifier(v) = &e else {
        panic!("expected a verifier error, got {e}")
    };
    assert_eq!(v.call, Cmd::PROG_LOAD);
    assert_eq!(v.errno, Errno::ACCESS);
    assert!(v.log.contains("R0 !read_ok"), "{}", v.log);
    assert!(!v.truncated);
    assert!(e.to_string().contains("R0 !read_ok"), "{e}");
    assert!(
        e.to_string()
            .starts_with("BPF_PROG_LOAD: Permission denied (EACCES): "),
        "{e}"
    );
    // Fast path without log, then one logged attempt.
    assert_eq!(log.attempts(), 2);
    assert_eq!(log.text(), v.log);
}

/// `r1 = 0; r1 = 1; ... r1 = n-1`, then `r0 = r1; exit` (or, failing, a
/// plain `exit` with r0 unset).
fn long_prog(n: i32, valid: bool) -> Vec<Insn> {
    let mut v: Vec<Insn> = (0..n).map(|i| Insn::mov64_imm(1, i)).collect();
    if valid {
        v.push(Insn::mov64_reg(0, 1));
    }
    v.push(Insn::exit());
    v
}

#[test]
fn log_grows_until_complete_on_failure() {
    let insns = long_prog(300, false);
    let o = ProgLoadOptions::new(ProgType::SOCKET_FILTER, &insns, c"GPL");
    let mut log = VerifierLog::new();
    log.level = log_level::LEVEL2;
    log.initial_size = 256;
    let Error::Verifier(v) = prog_load(&o, &mut log).unwrap_err() else {
        panic!("not a verifier error")
    };
    assert!(log.attempts() > 2, "the 256-byte buffer should have grown");
    assert!(!v.truncated);
    // Complete: from the first instruction to the error.
    assert!(
        v.log.contains("0: (b7) r1 = 0"),
        "{}",
        &v.log[..200.min(v.log.len())]
    );
    assert!(v.log.contains("299: (b7) r1 = 299"));
    assert!(v.log.contains("R0 !read_ok"));
    assert!(v.log.len() > 256 * 4);
}

#[test]
fn log_on_success_is_kept_and_complete() {
    let insns = long_prog(300, true);
    let o = ProgLoadOptions::new(ProgType::SOCKET_FILTER, &insns, c"GPL");
    let mut log = VerifierLog::always(log_level::LEVEL2);
    log.initial_size = 512;
    let prog = prog_load(&o, &mut log).unwrap();
    assert!(prog.as_raw_fd() > 2);
    assert!(log.attempts() > 1);
    assert!(!log.truncated());
    assert!(log.text().contains("0: (b7) r1 = 0"));
    assert!(log.text().contains("300: (bf) r0 = r1"));
    assert!(log.text().contains("processed 302 insns"), "{}", log.text());
}

#[test]
fn log_capped_at_max_size_is_marked_truncated() {
    let insns = long_prog(300, false);
    let o = ProgLoadOptions::new(ProgType::SOCKET_FILTER, &insns, c"GPL");
    let mut log = VerifierLog::new();
    log.level = log_level::LEVEL2;
    log.initial_size = 256;
    log.max_size = 1024;
    let Error::Verifier(v) = prog_load(&o, &mut log).unwrap_err() else {
        panic!("not a verifier error")
    };
    assert!(v.truncated);
    assert_eq!(v.errno, Errno::NOSPC);
    assert!(v.log.len() < 1024);
    assert!(v.to_string().ends_with("(log truncated)"), "{v}");
}

#[test]
fn btf_load_of_a_hand_made_blob() {
    let blob = int_btf(32);
    let btf = btf_load(&blob, &mut VerifierLog::new()).unwrap();
    let info = btf_info(&btf).unwrap();
    assert_ne!(info.id, 0);
    assert_eq!(info.btf_size as usize, blob.len());
    assert_eq!(info.kernel_btf, 0);
    assert_eq!(btf_data(&btf).unwrap(), blob);

    // A map whose key and value are described by that BTF.
    let mut a = MapCreateAttr::new(MapType::ARRAY, 4, 4, 1);
    a.btf_fd = btf.as_raw_fd() as u32;
    a.btf_key_type_id = 1;
    a.btf_value_type_id = 1;
    let map = map_create(&a).unwrap();
    let mi = map_info(&map).unwrap();
    assert_eq!(
        (mi.btf_id, mi.btf_key_type_id, mi.btf_value_type_id),
        (info.id, 1, 1)
    );

    // The same id through BTF_GET_FD_BY_ID.
    let again = btf_get_fd_by_id(info.id).unwrap();
    assert_eq!(btf_info(&again).unwrap().id, info.id);
}

#[test]
fn btf_rejection_returns_the_kernel_log() {
    // An int of 64 bits in 4 bytes.
    let blob = int_btf(64);
    let mut log = VerifierLog::new();
    let e = btf_load(&blob, &mut log).unwrap_err();
    let Error::Verifier(v) = &e else {
        panic!("expected a log, got {e}")
    };
    assert_eq!(v.call, Cmd::BTF_LOAD);
    assert_eq!(v.errno, Errno::INVAL);
    assert!(v.log.contains("[1] INT int"), "{}", v.log);
    assert!(
        e.to_string()
            .starts_with("BPF_BTF_LOAD: Invalid argument (EINVAL): "),
        "{e}"
    );
}

fn pin_dir() -> PathBuf {
    let dir = PathBuf::from("/sys/fs/bpf");
    mount_bpffs(&dir).unwrap();
    assert!(is_bpffs(&dir));
    dir
}

#[test]
fn pin_and_get_map_and_program() {
    let dir = pin_dir();
    let tag = format!("oxbpf_syscalls_test_{}", std::process::id());
    let map_path = dir.join(format!("{tag}_map"));
    let prog_path = dir.join(format!("{tag}_prog"));
    let _ = std::fs::remove_file(&map_path);
    let _ = std::fs::remove_file(&prog_path);

    let map = map_create(&MapCreateAttr::new(MapType::ARRAY, 4, 8, 1)).unwrap();
    map_update_elem(&map, &key(0), &99u64.to_ne_bytes(), 0).unwrap();
    obj_pin(&map, &map_path).unwrap();
    let prog = ret_prog(ProgType::XDP, 1, "oxbpf_pinned");
    obj_pin(&prog, &prog_path).unwrap();
    // Pinning twice at one path fails.
    assert_eq!(
        obj_pin(&map, &map_path).unwrap_err().errno(),
        Some(Errno::EXIST)
    );

    let got = MapFd::from_owned(obj_get(&map_path, 0).unwrap()).unwrap();
    assert_eq!(got.meta(), map.meta());
    assert_eq!(map_info(&got).unwrap().id, map_info(&map).unwrap().id);
    let mut v = [0u8; 8];
    assert!(map_lookup_elem(&got, &key(0), &mut v, 0).unwrap());
    assert_eq!(u64::from_ne_bytes(v), 99);

    let got = ProgFd::from_owned(obj_get(&prog_path, 0).unwrap()).unwrap();
    assert_eq!(prog_info(&got).unwrap().id, prog_info(&prog).unwrap().id);
    // A program fd is not a map (the kernel would answer the map info
    // query with program info), and a map fd not a program.
    let e = MapFd::from_owned(obj_get(&prog_path, 0).unwrap()).unwrap_err();
    assert!(
        matches!(e, Error::FdKind { expected: "anon_inode:bpf-map", ref found, .. } if found == "anon_inode:bpf-prog"),
        "{e}"
    );
    assert!(matches!(
        ProgFd::from_owned(obj_get(&map_path, 0).unwrap()),
        Err(Error::FdKind { .. })
    ));
    assert!(matches!(
        LinkFd::from_owned(obj_get(&map_path, 0).unwrap()),
        Err(Error::FdKind { .. })
    ));
    assert!(matches!(
        BtfFd::from_owned(obj_get(&map_path, 0).unwrap()),
        Err(Error::FdKind { .. })
    ));

    std::fs::remove_file(&map_path).unwrap();
    std::fs::remove_file(&prog_path).unwrap();
    assert_eq!(
        obj_get(&map_path, 0).unwrap_err().errno(),
        Some(Errno::NOENT)
    );
}

/// All ids from a `*_get_next_id` function.
fn all_ids(next: fn(u32) -> Result<Option<u32>>) -> Vec<u32> {
    let mut ids = Vec::new();
    let mut cur = 0;
    while let Some(id) = next(cur).unwrap() {
        assert!(id > cur);
        ids.push(id);
        cur = id;
    }
    ids
}

#[test]
fn ids_iterate_and_open() {
    let map = map_create(&MapCreateAttr::new(MapType::HASH, 8, 8, 2)).unwrap();
    let prog = ret_prog(ProgType::XDP, 2, "oxbpf_ids");
    let map_id = map_info(&map).unwrap().id;
    let prog_id = prog_info(&prog).unwrap().id;
    assert!(all_ids(map_get_next_id).contains(&map_id));
    assert!(all_ids(prog_get_next_id).contains(&prog_id));
    // A BTF object of this test (vmlinux BTF has no id before 5.11).
    let btf = btf_load(&int_btf(32), &mut VerifierLog::new()).unwrap();
    let btf_id = btf_info(&btf).unwrap().id;
    assert!(all_ids(btf_get_next_id).contains(&btf_id));

    let m = map_get_fd_by_id(map_id).unwrap();
    assert_eq!(m.meta(), map.meta());
    let p = prog_get_fd_by_id(prog_id).unwrap();
    assert_eq!(prog_info(&p).unwrap().id, prog_id);
    assert_eq!(
        prog_test_run(&p, &TestRunOptions::new(&[0; 64], 0))
            .unwrap()
            .retval,
        2
    );

    let e = map_get_fd_by_id(u32::MAX).unwrap_err();
    assert_eq!(e.errno(), Some(Errno::NOENT));
    assert_eq!(
        e.to_string(),
        "BPF_MAP_GET_FD_BY_ID: No such file or directory (ENOENT)"
    );
}

#[test]
fn raw_tracepoint_counts_syscalls_until_closed() {
    let map = counter_map();
    let prog = counter_prog(ProgType::RAW_TRACEPOINT, &map, "oxbpf_rawtp");
    let link = raw_tracepoint_open(Some(c"sys_enter"), &prog).unwrap();
    syscalls(100);
    let n = read_counter(&map);
    assert!(n >= 100, "counted {n} syscalls");

    let info = link_info(&link).unwrap();
    assert_eq!(info.link_type(), LinkType::RAW_TRACEPOINT);
    assert_eq!(info.prog_id, prog_info(&prog).unwrap().id);
    assert!(info.raw_tracepoint().is_some());
    assert!(info.perf_event().is_none());
    assert!(all_ids(link_get_next_id).contains(&info.id));
    let again = link_get_fd_by_id(info.id).unwrap();
    assert_eq!(link_info(&again).unwrap().id, info.id);

    drop(again);
    drop(link);
    let before = read_counter(&map);
    syscalls(100);
    assert_eq!(
        read_counter(&map),
        before,
        "program still attached after the link was closed"
    );
}

#[test]
fn tracepoint_through_perf_event_link() {
    if !kernel_enum_has("bpf_link_type", "BPF_LINK_TYPE_PERF_EVENT") {
        return skip(
            "perf_event_links: vmlinux BTF's enum bpf_link_type has no BPF_LINK_TYPE_PERF_EVENT",
        );
    }
    let id = tracepoint_id("raw_syscalls", "sys_enter").unwrap();
    assert!(id > 0);
    let map = counter_map();
    let prog = counter_prog(ProgType::TRACEPOINT, &map, "oxbpf_tp_link");
    let event = perf_event_open_tracepoint(id, -1, 0).unwrap();
    assert!(event.as_raw_fd() > 2);
    let tail = LinkTail::PerfEvent(LinkCreatePerfEvent { bpf_cookie: 0x1234 });
    let link = link_create(
        &prog,
        LinkTarget::Fd(event.as_fd()),
        AttachType::PERF_EVENT,
        0,
        &tail,
    )
    .unwrap();
    syscalls(100);
    assert!(read_counter(&map) >= 100, "counted {}", read_counter(&map));

    let info = link_info(&link).unwrap();
    assert_eq!(info.link_type(), LinkType::PERF_EVENT);
    // Kernels before the perf event part of link info leave it zero.
    if kernel_enum_has("bpf_perf_event_type", "BPF_PERF_EVENT_TRACEPOINT") {
        let pe = info.perf_event().expect("perf_event info");
        assert_eq!(pe.r#type, PerfEventType::TRACEPOINT);
        let tp = pe.tracepoint().expect("tracepoint info");
        assert_eq!(tp.cookie, 0x1234);
        assert_eq!(tp.name_len as usize, "sys_enter".len() + 1);
    } else {
        println!("no perf_event link info in this kernel: its part not checked");
    }

    drop(link);
    let before = read_counter(&map);
    syscalls(100);
    assert_eq!(read_counter(&map), before);
}

#[test]
fn tracepoint_through_perf_event_ioctl() {
    let id = tracepoint_id("raw_syscalls", "sys_enter").unwrap();
    let map = counter_map();
    let prog = counter_prog(ProgType::TRACEPOINT, &map, "oxbpf_tp_ioctl");
    let event = perf_event_open_tracepoint(id, -1, 0).unwrap();
    perf_event_set_bpf(event.as_fd(), &prog).unwrap();
    perf_event_enable(event.as_fd()).unwrap();
    syscalls(100);
    assert!(read_counter(&map) >= 100, "counted {}", read_counter(&map));
    perf_event_disable(event.as_fd()).unwrap();

    // A second program on the same event is refused.
    let other = counter_prog(ProgType::TRACEPOINT, &map, "oxbpf_tp_other");
    let e = perf_event_set_bpf(event.as_fd(), &other).unwrap_err();
    assert_eq!(e.errno(), Some(Errno::EXIST), "{e}");
    assert!(
        e.to_string().starts_with("ioctl PERF_EVENT_IOC_SET_BPF"),
        "{e}"
    );

    drop(event);
    let before = read_counter(&map);
    syscalls(100);
    assert_eq!(read_counter(&map), before);
}

#[test]
fn tracepoint_id_errors_name_the_file() {
    let e = tracepoint_id("no_such_category", "nope").unwrap_err();
    assert!(matches!(e, Error::Io { .. }));
    assert!(
        e.to_string().contains("events/no_such_category/nope/id"),
        "{e}"
    );
    assert_eq!(e.errno(), Some(Errno::NOENT));
    assert!(matches!(
        tracepoint_id("..", "x").unwrap_err(),
        Error::InvalidInput { .. }
    ));
    assert!(matches!(
        tracepoint_id("a/b", "x").unwrap_err(),
        Error::InvalidInput { .. }
    ));
}

#[test]
fn tcx_link_create_update_detach() {
    if !kernel_enum_has("bpf_attach_type", "BPF_TCX_INGRESS") {
        return skip("tcx_links: vmlinux BTF's enum bpf_attach_type has no BPF_TCX_INGRESS");
    }
    const LOOPBACK: u32 = 1;
    const TCX_NEXT: i32 = -1;
    let a = ret_prog(ProgType::SCHED_CLS, TCX_NEXT, "oxbpf_tcx_a");
    let b = ret_prog(ProgType::SCHED_CLS, TCX_NEXT, "oxbpf_tcx_b");
    let link = link_create(
        &a,
        LinkTarget::Ifindex(LOOPBACK),
        AttachType::TCX_INGRESS,
        0,
        &LinkTail::Tcx(LinkCreateRelative::default()),
    )
    .unwrap();
    let info = link_info(&link).unwrap();
    assert_eq!(info.link_type(), LinkType::TCX);
    let tcx = info.tcx().unwrap();
    assert_eq!(
        (tcx.ifindex, tcx.attach_type),
        (LOOPBACK, AttachType::TCX_INGRESS)
    );
    let (a_id, b_id) = (prog_info(&a).unwrap().id, prog_info(&b).unwrap().id);
    assert_eq!(info.prog_id, a_id);

    link_update(&link, &b, None).unwrap();
    assert_eq!(link_info(&link).unwrap().prog_id, b_id);
    // Replacing "a" fails: "b" is attached now.
    let e = link_update(&link, &a, Some(&a)).unwrap_err();
    assert_eq!(e.errno(), Some(Errno::PERM), "{e}");
    link_update(&link, &a, Some(&b)).unwrap();
    assert_eq!(link_info(&link).unwrap().prog_id, a_id);

    link_detach(&link).unwrap();
    let e = link_update(&link, &b, None).unwrap_err();
    assert_eq!(e.errno(), Some(Errno::NOLINK), "{e}");
}

#[test]
fn fault_injection_fails_the_chosen_call_only() {
    let g = fault::fail_nth(1, Errno::NOMEM);
    let attr = MapCreateAttr::new(MapType::ARRAY, 4, 4, 1);
    let first = map_create(&attr).unwrap();
    let e = map_create(&attr).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Syscall {
                call: Cmd::MAP_CREATE,
                errno: Errno::NOMEM
            }
        ),
        "{e}"
    );
    let third = map_create(&attr).unwrap();
    assert_eq!(g.calls(), 3);
    drop(g);
    assert_ne!(map_info(&first).unwrap().id, map_info(&third).unwrap().id);

    // A load fails only if every attempt does; an injected failure has no
    // log, so it is a plain syscall error.
    let g = fault::fail_cmd(Cmd::PROG_LOAD, Errno::PERM);
    let insns = [Insn::mov64_imm(0, 2), Insn::exit()];
    let mut log = VerifierLog::new();
    let e = prog_load(
        &ProgLoadOptions::new(ProgType::XDP, &insns, c"GPL"),
        &mut log,
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Syscall {
                call: Cmd::PROG_LOAD,
                errno: Errno::PERM
            }
        ),
        "{e}"
    );
    assert_eq!(g.calls(), 2);
    assert_eq!(log.attempts(), 2);
    drop(g);

    // Failing only the fast path: the logged retry succeeds.
    let g = fault::fail_nth(0, Errno::INVAL);
    let prog = prog_load(
        &ProgLoadOptions::new(ProgType::XDP, &insns, c"GPL"),
        &mut log,
    )
    .unwrap();
    assert_eq!(g.calls(), 2);
    drop(g);
    assert_eq!(
        prog_test_run(&prog, &TestRunOptions::new(&[0; 64], 0))
            .unwrap()
            .retval,
        2
    );
}

#[test]
fn prog_load_options_are_checked() {
    let insns = [Insn::mov64_imm(0, 2), Insn::exit()];
    let mut o = ProgLoadOptions::new(ProgType::XDP, &insns, c"GPL");
    o.func_info = &[0; 10];
    o.func_info_rec_size = 8;
    let e = prog_load(&o, &mut VerifierLog::new()).unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e}");

    // An fd_array index outside fd_array.
    let map = counter_map();
    let mut insns = Insn::ld_map_idx(1, 1).to_vec();
    insns.extend([Insn::mov64_imm(0, 2), Insn::exit()]);
    let fds = [map.as_fd()];
    let mut o = ProgLoadOptions::new(ProgType::XDP, &insns, c"GPL");
    o.fd_array = &fds;
    let e = prog_load(&o, &mut VerifierLog::new()).unwrap_err();
    assert!(
        e.to_string()
            .contains("instruction 0 uses fd_array[1], fd_array has 1 fds"),
        "{e}"
    );
    // Index 0 is fine, and the kernel resolves it to the map (where it
    // knows fd_array, 5.14: an older one refuses the longer attr, E2BIG).
    insns[0..2].copy_from_slice(&Insn::ld_map_idx(1, 0));
    let mut o = ProgLoadOptions::new(ProgType::XDP, &insns, c"GPL");
    o.fd_array = &fds;
    let prog = match prog_load(&o, &mut VerifierLog::new()) {
        Err(e) if e.errno() == Some(Errno::TOOBIG) => {
            return skip(&format!("fd_array: the kernel does not know it: {e}"));
        }
        r => r.unwrap(),
    };
    assert_eq!(
        prog_map_ids(&prog).unwrap(),
        vec![map_info(&map).unwrap().id]
    );

    let mut a = MapCreateAttr::new(MapType::ARRAY, 4, 4, 1);
    a.excl_prog_hash = 0x1000;
    assert!(matches!(
        map_create(&a).unwrap_err(),
        Error::InvalidInput { .. }
    ));
}

#[test]
fn map_create_errors_name_the_command() {
    let e = map_create(&MapCreateAttr::new(MapType::ARRAY, 4, 0, 1)).unwrap_err();
    assert_eq!(e.to_string(), "BPF_MAP_CREATE: Invalid argument (EINVAL)");
    assert_eq!(e.errno().map(|e| e.raw_os_error()), Some(22));
}

#[test]
fn try_clone_gives_an_independent_fd() {
    let map = counter_map();
    let c = map.try_clone().unwrap();
    assert_ne!(c.as_raw_fd(), map.as_raw_fd());
    drop(map);
    assert_eq!(read_counter(&c), 0);
}
