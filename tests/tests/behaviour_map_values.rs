//! `map_values.bpf.c`: `.values` initial slots of an array of maps and of a
//! prog array, filled by the loader.

use oxbpf::{OpenObject, TestRunOptions};
use oxbpf_tests::{FdSnapshot, kernel_lock, object};

fn packet(first: u8) -> Vec<u8> {
    let mut p = vec![0u8; 64];
    p[0] = first;
    p
}

#[test]
fn slots_hold_the_maps_and_programs_the_object_names() {
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    let obj = OpenObject::open(object("map_values"))
        .unwrap()
        .load()
        .unwrap();
    let entry = obj.program("entry").unwrap();
    for (first, retval) in [(1u8, 3u32), (3, 1), (0, 2), (2, 2)] {
        let data = packet(first);
        let out = entry.test_run(&TestRunOptions::new(&data, 0)).unwrap();
        assert_eq!(out.retval, retval, "first byte {first}");
    }
    let value = |map: &str| {
        let v = obj
            .map(map)
            .unwrap()
            .lookup(&0u32.to_ne_bytes(), 0)
            .unwrap()
            .unwrap();
        u64::from_ne_bytes(v.try_into().unwrap())
    };
    assert_eq!(value("inner_a"), 111);
    assert_eq!(value("inner_b"), 222);

    // The kernel reports the inner maps' ids in the outer map's slots.
    let outer = obj.map("outer").unwrap();
    let slot = |k: u32| {
        u32::from_ne_bytes(
            outer
                .lookup(&k.to_ne_bytes(), 0)
                .unwrap()
                .unwrap()
                .try_into()
                .unwrap(),
        )
    };
    assert_eq!(slot(0), obj.map("inner_a").unwrap().info().unwrap().id);
    assert_eq!(slot(1), obj.map("inner_b").unwrap().info().unwrap().id);
    // And the program ids in the prog array's.
    let jmp = obj.map("jmp").unwrap();
    let prog_at = |k: u32| {
        jmp.lookup(&k.to_ne_bytes(), 0)
            .unwrap()
            .map(|v| u32::from_ne_bytes(v.try_into().unwrap()))
    };
    assert_eq!(
        prog_at(1),
        Some(obj.program("tail_one").unwrap().info().unwrap().id)
    );
    assert_eq!(
        prog_at(3),
        Some(obj.program("tail_three").unwrap().info().unwrap().id)
    );
    assert_eq!(prog_at(0), None);
    drop(obj);
    fds.assert_no_leak("map_values");
}
