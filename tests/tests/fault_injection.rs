//! Fail the live executor at every `bpf()` call of a load and check that
//! nothing is left behind: no fd, no kernel object, no pin.

use oxbpf::sys::{Errno, fault};
use oxbpf::{Error, OpenObject};
use oxbpf_tests::{
    FdSnapshot, Feature, KernelObjects, PinDir, kernel_lock, object, require, settled_new_objects,
};

fn open(pins: &PinDir) -> OpenObject {
    let mut open = OpenObject::open(object("maps_btf")).expect("maps_btf opens");
    open.set_pin_root(&pins.0);
    open
}

fn pins_left(pins: &PinDir) -> Vec<String> {
    std::fs::read_dir(&pins.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn a_failure_at_any_call_leaves_nothing() {
    require!(Feature::BloomMaps);
    let _k = kernel_lock();
    let pins = PinDir::new("fault");

    // A clean load, counting its bpf() calls (planned before anything is
    // pinned, so the plan creates and pins rather than reuses).
    let ops = open(&pins).plan().unwrap().ops.len();
    // A first load answers the process-wide probes the executor caches
    // (whether the kernel charges memory to the cgroup), so that the
    // counted load makes exactly the calls every later one makes.
    drop(open(&pins).load().expect("warm-up load"));
    for p in pins_left(&pins) {
        std::fs::remove_file(pins.0.join(p)).unwrap();
    }
    let counter = fault::count();
    let obj = open(&pins).load().expect("clean load");
    let calls = counter.calls();
    drop(counter);
    drop(obj);
    for p in pins_left(&pins) {
        std::fs::remove_file(pins.0.join(p)).unwrap();
    }
    assert!(calls as usize >= ops, "{calls} calls for {ops} operations");

    let mut failed_steps = Vec::new();
    for k in 0..calls {
        let fds = FdSnapshot::take();
        let before = KernelObjects::take();
        let injection = fault::fail_from(k, Errno::NOMEM);
        let result = open(&pins).load();
        drop(injection);
        let err = match result {
            Ok(_) => panic!("call {k} of {calls} failed, yet the load succeeded"),
            Err(e) => e,
        };
        let Error::Step { op, source, .. } = &err else {
            panic!("call {k}: unexpected error {err:?}")
        };
        assert_eq!(source.errno(), Some(Errno::NOMEM), "call {k}: {err}");
        failed_steps.push(*op);
        fds.assert_no_leak(&format!("failing call {k}"));
        let left = settled_new_objects(&before);
        assert!(
            left.is_empty(),
            "failing call {k} (step %{op}) left kernel objects {left:?}"
        );
        assert!(
            pins_left(&pins).is_empty(),
            "failing call {k} left pins {:?}",
            pins_left(&pins)
        );
    }
    // Every operation of the plan was the failing one at some point.
    failed_steps.dedup();
    assert_eq!(failed_steps, (0..ops).collect::<Vec<_>>());
}
