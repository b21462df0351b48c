//! `exceptions.bpf.c`: bpf_throw caught by the exception callback the
//! loader links in from its decl tag, and a bpf_for_each_map_elem callback.

use oxbpf::{OpenObject, TestRunOptions};
use oxbpf_tests::{FdSnapshot, Feature, kernel_lock, object, require};

#[test]
fn throw_is_caught_by_the_tagged_callback() {
    require!(Feature::BpfThrow);
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    let obj = OpenObject::open(object("exceptions"))
        .unwrap()
        .load()
        .unwrap();
    for (i, v) in [1u64, 2, 3].into_iter().enumerate() {
        obj.map("nums")
            .unwrap()
            .update(&(i as u32).to_ne_bytes(), &v.to_ne_bytes(), 0)
            .unwrap();
    }
    let prog = obj.program("catch_me").unwrap();
    let run = |first: u8| {
        let mut packet = vec![0u8; 64];
        packet[0] = first;
        prog.test_run(&TestRunOptions::new(&packet, 0))
            .unwrap()
            .retval
    };
    assert_eq!(run(7), 71, "bpf_throw(70) -> callback returns cookie + 1");
    assert_eq!(run(1), 0, "no throw");
    let sum = obj
        .map("sum_out")
        .unwrap()
        .lookup(&0u32.to_ne_bytes(), 0)
        .unwrap()
        .unwrap();
    assert_eq!(
        u64::from_ne_bytes(sum.try_into().unwrap()),
        6,
        "bpf_for_each_map_elem summed 1 + 2 + 3"
    );
    // The callback is part of the program the kernel holds.
    assert_eq!(
        prog.info().unwrap().nr_func_info,
        3,
        "catch_me, add_up, handle_exception"
    );
    drop(obj);
    fds.assert_no_leak("exceptions");
}
