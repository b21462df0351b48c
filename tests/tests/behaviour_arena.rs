//! `arena.bpf.c`: a BPF arena with `__arena` globals and a page a program
//! allocates, shared between the program and this process.

use oxbpf::gen_loader::{GenOptions, generate};
use oxbpf::{Object, OpenObject};
use oxbpf_tests::{FdSnapshot, Feature, kernel_lock, object, require};

fn u64_global(obj: &Object, name: &str) -> u64 {
    u64::from_ne_bytes(obj.read_global(name).unwrap().try_into().unwrap())
}

fn bump(obj: &Object) -> u32 {
    obj.program("bump").unwrap().run_syscall(&mut []).unwrap()
}

#[test]
fn arena_globals_and_pages_are_shared_with_the_program() {
    require!(Feature::ArenaMaps, Feature::SyscallProgs);
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    let obj = OpenObject::open(object("arena")).unwrap().load().unwrap();
    let arena = obj.map("arena").unwrap();
    let memory = arena.arena().unwrap();
    let page = oxbpf::sys::page_size();
    assert_eq!(memory.len(), 4 * page);

    // The globals' image was written before any program ran: in the last
    // page, as libbpf lays it out.
    assert_eq!(u64_global(&obj, "start_value"), 42);
    assert_eq!(u64_global(&obj, "hits"), 0);
    let globals = obj.globals();
    let start = globals.iter().find(|g| g.name == "start_value").unwrap();
    let mut raw = [0u8; 8];
    memory.read(3 * page + start.offset, &mut raw).unwrap();
    assert_eq!(
        u64::from_ne_bytes(raw),
        42,
        "image at the arena's last page"
    );

    for n in 1..=3u64 {
        assert_eq!(bump(&obj), 0, "run {n}: the page allocation failed");
        assert_eq!(u64_global(&obj, "hits"), n);
        assert_eq!(u64_global(&obj, "start_value"), 42 + n);
    }

    // The program's pointer is an address of this process, inside the
    // arena's mapping, where the program's writes are.
    let ptr = u64_global(&obj, "page_ptr");
    let base = memory.address();
    assert!(
        (base..base + memory.len() as u64).contains(&ptr),
        "page_ptr {ptr:#x} outside the arena at {base:#x}"
    );
    let at = usize::try_from(ptr - base).unwrap();
    let mut value = [0u8; 8];
    memory.read(at, &mut value).unwrap();
    assert_eq!(u64::from_ne_bytes(value), 7 + 2);

    // Writes from this process reach the program.
    obj.write_global("start_value", &100u64.to_ne_bytes())
        .unwrap();
    memory.write(at, &1000u64.to_ne_bytes()).unwrap();
    bump(&obj);
    assert_eq!(u64_global(&obj, "start_value"), 101);
    memory.read(at, &mut value).unwrap();
    assert_eq!(u64::from_ne_bytes(value), 1001);

    drop(obj);
    fds.assert_no_leak("arena");
}

#[test]
fn initial_arena_globals_are_configurable_before_load() {
    require!(Feature::ArenaMaps, Feature::SyscallProgs);
    let _k = kernel_lock();
    let mut open = OpenObject::open(object("arena")).unwrap();
    assert_eq!(open.global("start_value").unwrap(), 42u64.to_ne_bytes());
    open.set_global("start_value", &5u64.to_ne_bytes()).unwrap();
    let obj = open.load().unwrap();
    bump(&obj);
    assert_eq!(u64_global(&obj, "start_value"), 6);
}

#[test]
fn a_generated_loader_refuses_arenas_by_name() {
    let plan = OpenObject::open(object("arena")).unwrap().plan().unwrap();
    let err = generate(&plan, &GenOptions::default()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("arena"), "{text}");
    assert!(text.contains("arena_map"), "names the step: {text}");
}
