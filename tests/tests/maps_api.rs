//! Map handle API beyond lookup/update: per-CPU values, and a pinned map
//! that a later load refuses to reuse because it differs.

use oxbpf::{Error, OpenObject, TestRunOptions};
use oxbpf_tests::{FdSnapshot, Feature, PinDir, kernel_lock, object, require};

#[test]
fn per_cpu_values_one_per_possible_cpu() {
    require!(Feature::BloomMaps);
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    let mut open = OpenObject::open(object("maps_btf")).unwrap();
    let pins = PinDir::new("percpu");
    open.set_pin_root(&pins.0);
    let obj = open.load().unwrap();
    let map = obj.map("percpu_cnt").unwrap();
    let cpus = oxbpf::sys::possible_cpus().unwrap() as usize;
    let values: Vec<[u8; 8]> = (0..cpus as u64).map(|c| (100 + c).to_ne_bytes()).collect();
    map.update_percpu(&0u32.to_ne_bytes(), &values, 0).unwrap();
    let back = map.lookup_percpu(&0u32.to_ne_bytes(), 0).unwrap().unwrap();
    assert_eq!(back.len(), cpus);
    for (c, v) in back.iter().enumerate() {
        assert_eq!(
            u64::from_ne_bytes(v.as_slice().try_into().unwrap()),
            100 + c as u64,
            "CPU {c}"
        );
    }
    assert!(
        map.update_percpu(&0u32.to_ne_bytes(), &values[..cpus - 1], 0)
            .is_err(),
        "one value too few"
    );
    let err = obj
        .map("hash_typed")
        .unwrap()
        .lookup_percpu(&0u32.to_ne_bytes(), 0)
        .unwrap_err();
    assert!(err.to_string().contains("not per-CPU"), "{err}");
    drop(obj);
    fds.assert_no_leak("percpu");
}

#[test]
fn a_pinned_map_is_reused_when_compatible_and_refused_when_not() {
    require!(Feature::BloomMaps);
    let _k = kernel_lock();
    let pins = PinDir::new("reuse");
    let open = |max: Option<u32>| {
        let mut o = OpenObject::open(object("maps_btf")).unwrap();
        o.set_pin_root(&pins.0);
        if let Some(max) = max {
            o.map_mut("pinned_hash").unwrap().set_max_entries(max);
        }
        o
    };
    let first = open(None).load().unwrap();
    let id = first.map("pinned_hash").unwrap().info().unwrap().id;
    first
        .map("pinned_hash")
        .unwrap()
        .update(&7u32.to_ne_bytes(), &70u64.to_ne_bytes(), 0)
        .unwrap();
    drop(first);
    // A second load finds it pinned and takes it, with its contents.
    let plan = open(None).plan().unwrap().to_string();
    assert!(plan.contains("map_reuse"), "{plan}");
    let second = open(None).load().unwrap();
    let map = second.map("pinned_hash").unwrap();
    assert_eq!(map.info().unwrap().id, id, "the same kernel map");
    assert_eq!(
        map.lookup(&7u32.to_ne_bytes(), 0).unwrap(),
        Some(70u64.to_ne_bytes().to_vec())
    );
    // The programs use the reused map.
    let packet = [0u8; 64];
    second
        .program("maps_exercise")
        .unwrap()
        .test_run(&TestRunOptions::new(&packet, 0))
        .unwrap();
    drop(second);
    // A load that wants it bigger is refused, naming the attribute.
    let err = open(Some(16)).load().unwrap_err();
    let Error::IncompatiblePin {
        attribute,
        pinned,
        wanted,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!((*attribute, *pinned, *wanted), ("max entries", 8, 16));
    assert!(err.to_string().contains("pinned_hash"), "{err}");
}
