//! CO-RE through the loader: objects compiled against one vmlinux.h load
//! on this kernel with their field offsets, sizes and existence relocated,
//! and a reachable unresolvable relocation is refused with an explanation.
//! The objects are the `reloc` crate's (`reloc/tests/data`).

use std::path::{Path, PathBuf};

use oxbpf::btf::{Btf, Kind, Type};
use oxbpf::{Error, OpenObject};
use oxbpf_tests::{FdSnapshot, Feature, kernel_lock, require};

fn object(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../reloc/tests/data/{name}.bpf.o"))
}

fn slot(obj: &oxbpf::Object, i: u32) -> u64 {
    let v = obj
        .map("results")
        .unwrap()
        .lookup(&i.to_ne_bytes(), 0)
        .unwrap()
        .unwrap();
    u64::from_ne_bytes(v.try_into().unwrap())
}

/// Byte offset of a direct member of a struct in the kernel's BTF,
/// computed here independently of the relocation code.
fn kernel_offset(btf: &Btf<'_>, st: &str, member: &str) -> u64 {
    let id = btf.find_by_name_kind(st, Kind::Struct).unwrap().unwrap();
    let Type::Struct(s) = btf.type_by_id(id).unwrap() else {
        panic!()
    };
    let m = s
        .members()
        .find(|m| btf.string_at(m.name_off).unwrap() == member)
        .unwrap();
    u64::from(m.bit_offset / 8)
}

#[test]
fn field_relocations_follow_the_running_kernel() {
    require!(Feature::SyscallProgs);
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    let open = OpenObject::open(object("core_fields")).unwrap();
    let plan = open.plan().unwrap();
    let text = plan.to_string();
    assert!(text.contains("core_relos"), "{text}");
    let obj = open.load().unwrap();
    let prog = obj.program("core_fields").unwrap();
    prog.run_syscall(&mut []).unwrap();

    let vmlinux = Btf::from_file(Path::new(oxbpf::VMLINUX_BTF)).unwrap();
    assert_eq!(
        slot(&obj, 0),
        rustix_gettid(),
        "task->pid read through a relocated offset"
    );
    assert_eq!(slot(&obj, 1), u64::from(std::process::id()), "task->tgid");
    assert_eq!(
        slot(&obj, 3),
        kernel_offset(&vmlinux, "task_struct", "pid"),
        "bpf_core_field_offset(pid)"
    );
    assert_eq!(slot(&obj, 4), 16, "bpf_core_field_size(comm)");
    assert_eq!(
        slot(&obj, 5),
        kernel_offset(&vmlinux, "task_struct", "comm") + 3,
        "offset of comm[3]"
    );
    assert_eq!(slot(&obj, 6), 1, "__state exists");
    assert_eq!(slot(&obj, 7), 0, "the flavored old `state` does not");
    assert_eq!(slot(&obj, 8), 0, "a field no kernel has");
    assert_eq!(slot(&obj, 9), 1, "pid is signed");
    drop(obj);
    fds.assert_no_leak("core_fields");
}

fn rustix_gettid() -> u64 {
    // The test thread's id: std has no gettid; /proc/thread-self names it.
    let link = std::fs::read_link("/proc/thread-self").unwrap();
    link.file_name().unwrap().to_str().unwrap().parse().unwrap()
}

#[test]
fn a_reachable_unresolved_relocation_is_refused_and_explained() {
    require!(Feature::SyscallProgs);
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    let open = OpenObject::open(object("core_poison")).unwrap();
    assert!(
        open.plan()
            .unwrap()
            .to_string()
            .contains("poisoned: CO-RE relocation"),
        "the plan shows it"
    );
    let err = open.load().unwrap_err();
    let Error::Rejected {
        core: Some(core),
        insn: Some(_),
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert!(
        core.contains("task_struct___old") && core.contains("state"),
        "{core}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("CO-RE relocation") && msg.contains("core_poison.bpf.c"),
        "{msg}"
    );
    fds.assert_no_leak("core_poison");
}

#[test]
fn relocating_against_another_btf_file() {
    let _k = kernel_lock();
    // The running kernel's BTF given as a file gives the same program.
    let mut open = OpenObject::open(object("core_fields")).unwrap();
    let default = open.plan().unwrap();
    open.set_core_btf(oxbpf::VMLINUX_BTF);
    assert_eq!(open.plan().unwrap(), default);
    // A file that is not BTF is a clear error.
    open.set_core_btf("/proc/self/cmdline");
    let err = open.plan().unwrap_err();
    assert!(
        err.to_string()
            .contains("CO-RE target BTF /proc/self/cmdline"),
        "{err}"
    );
}
