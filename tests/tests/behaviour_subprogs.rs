//! `subprogs.bpf.c`: bpf-to-bpf calls, a global function, a bpf_loop
//! callback, and .data/.rodata/.bss globals.

use oxbpf::OpenObject;
use oxbpf_tests::{FdSnapshot, Feature, kernel_lock, object, require};

fn results(obj: &oxbpf::Object) -> [u64; 3] {
    let map = obj.map("results").unwrap();
    [0u32, 1, 2].map(|k| {
        let v = map.lookup(&k.to_ne_bytes(), 0).unwrap().unwrap();
        u64::from_ne_bytes(v.try_into().unwrap())
    })
}

#[test]
fn calls_callbacks_and_globals() {
    require!(Feature::SyscallProgs, Feature::BpfLoop);
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    let obj = OpenObject::open(object("subprogs"))
        .unwrap()
        .load()
        .unwrap();
    let run = obj.program("run").unwrap();
    assert_eq!(run.run_syscall(&mut []).unwrap(), 7);
    assert_eq!(results(&obj), [15, 10, 42]);
    // .bss keeps its value between runs: the callback adds 10 more.
    assert_eq!(run.run_syscall(&mut []).unwrap(), 7);
    assert_eq!(results(&obj)[1], 20);
    assert_eq!(
        obj.program("other").unwrap().run_syscall(&mut []).unwrap(),
        6
    );

    // The kernel sees one program made of several functions.
    let info = run.info().unwrap();
    assert_eq!(info.nr_func_info, 4, "run, mul, global_add, loop_cb");
    let bss = obj
        .map("subprogs.bss")
        .unwrap()
        .lookup(&0u32.to_ne_bytes(), 0)
        .unwrap()
        .unwrap();
    assert_eq!(
        u64::from_ne_bytes(bss[..8].try_into().unwrap()),
        20,
        ".bss sum"
    );
    drop(obj);
    fds.assert_no_leak("subprogs");
}

#[test]
fn globals_before_and_after_load() {
    require!(Feature::SyscallProgs, Feature::BpfLoop);
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    let mut open = OpenObject::open(object("subprogs")).unwrap();
    let names: Vec<String> = open
        .globals()
        .iter()
        .map(|g| format!("{}:{}", g.section, g.name))
        .collect();
    for want in [".data:counter", ".rodata:factor", ".bss:sum"] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }
    assert_eq!(open.global("factor").unwrap(), 3u64.to_ne_bytes());
    assert_eq!(open.global(".data:counter").unwrap(), 5u64.to_ne_bytes());
    // Configure the .rodata constant and a .bss start value before load.
    open.set_global("factor", &4u64.to_ne_bytes()).unwrap();
    open.set_global("sum", &1000u64.to_ne_bytes()).unwrap();
    let err = open.set_global("factor", &[1, 2]).unwrap_err();
    assert!(err.to_string().contains("8 bytes, not 2"), "{err}");
    assert!(open.set_global("no_such_var", &[0]).is_err());

    let obj = open.load().unwrap();
    let run = obj.program("run").unwrap();
    assert_eq!(run.run_syscall(&mut []).unwrap(), 7);
    assert_eq!(results(&obj), [20, 1010, 42], "factor 4, sum from 1000");
    assert_eq!(obj.read_global("sum").unwrap(), 1010u64.to_ne_bytes());

    // Live memory: change .data's counter, and the next run sees it.
    obj.write_global("counter", &6u64.to_ne_bytes()).unwrap();
    run.run_syscall(&mut []).unwrap();
    assert_eq!(results(&obj)[0], 24, "counter 6 * factor 4");
    // .rodata is frozen: readable, not writable.
    assert_eq!(obj.read_global("factor").unwrap(), 4u64.to_ne_bytes());
    assert!(obj.write_global("factor", &5u64.to_ne_bytes()).is_err());
    let bss = obj.map("subprogs.bss").unwrap().memory().unwrap();
    let mut sum = [0u8; 8];
    bss.read(0, &mut sum).unwrap();
    assert_eq!(u64::from_ne_bytes(sum), 1020);
    drop(bss);
    drop(obj);
    fds.assert_no_leak("globals");
}

#[test]
fn a_verifier_rejection_names_the_instruction_and_source_line() {
    require!(Feature::SyscallProgs, Feature::BpfLoop);
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    let mut open = OpenObject::open(object("subprogs")).unwrap();
    assert!(
        !open.program("rejected").unwrap().autoload(),
        "SEC(\"?syscall\") is off by default"
    );
    open.program_mut("rejected").unwrap().set_autoload(true);
    let err = open.load().unwrap_err();
    let oxbpf::Error::Rejected {
        program,
        insn,
        source_line,
        ..
    } = &err
    else {
        panic!("not a verifier rejection: {err:?}")
    };
    assert_eq!(program, "rejected");
    assert!(insn.is_some(), "{err}");
    let line = source_line
        .as_ref()
        .expect("line info names the source line");
    assert!(line.file.ends_with("subprogs.bpf.c"), "{line}");
    assert!(line.text.contains("REJECTED HERE"), "{line}");
    let msg = err.to_string();
    assert!(
        msg.contains("rejected program rejected at instruction") && msg.contains("REJECTED HERE"),
        "{msg}"
    );
    assert!(
        err.verifier_log().unwrap().contains("invalid mem access"),
        "{}",
        err.verifier_log().unwrap()
    );
    fds.assert_no_leak("rejected load");
}
