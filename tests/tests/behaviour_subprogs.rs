//! `subprogs.bpf.c`: bpf-to-bpf calls, a global function, a bpf_loop
//! callback, and .data/.rodata/.bss globals.

use oxbpf::OpenObject;
use oxbpf_tests::{FdSnapshot, kernel_lock, object};

fn results(obj: &oxbpf::Object) -> [u64; 3] {
    let map = obj.map("results").unwrap();
    [0u32, 1, 2].map(|k| {
        let v = map.lookup(&k.to_ne_bytes(), 0).unwrap().unwrap();
        u64::from_ne_bytes(v.try_into().unwrap())
    })
}

#[test]
fn calls_callbacks_and_globals() {
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
