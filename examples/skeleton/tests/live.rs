//! Both skeletons of the counter, loaded and attached in the live kernel:
//! the program counts exactly the getpid() calls this test's thread makes
//! (its thread id configured through `.rodata` before load), writes them
//! into `.bss` (whose starting value is set before load too) and the
//! `per_tid` hash map, stops when user space clears
//! `.data`'s `enabled` through the mapped memory, and stops when detached.
//! Each test filters on its own thread, so they can run side by side.

use oxbpf_example_skeleton::{counter, counter_light, getpid_calls, gettid};

macro_rules! counts_this_threads_getpid_calls {
    ($skel:ty, $configure:expr) => {{
        let tid = gettid();
        let mut open = <$skel>::open().expect("open");
        // The C initializers, decoded through the generated types.
        assert_eq!(open.rodata().target_tid, 0);
        assert_eq!(open.rodata().weight, 1);
        assert_eq!(open.data().enabled, 1);
        assert_eq!(open.bss().calls, 0);
        open.rodata_mut().target_tid = tid;
        open.rodata_mut().weight = 3;
        // .bss set before load: the program adds to this value.
        open.bss_mut().calls = 1000;
        open.bss_mut().last.nr = 77;
        $configure(&mut open);
        let mut skel = open.load().expect("load");

        assert_eq!(skel.rodata().target_tid(), tid);
        assert_eq!(skel.rodata().weight(), 3);
        assert!(!skel.rodata().view().is_writable(), ".rodata is frozen");
        assert_eq!(
            skel.maps().per_tid().max_entries(),
            128,
            "configured before load"
        );
        assert_eq!(skel.progs().count_getpid().section(), "raw_tp/sys_enter");
        assert!(skel.links().count_getpid().is_none());

        getpid_calls(5);
        assert_eq!(
            skel.bss().calls(),
            1000,
            "set before load, not attached yet"
        );
        assert_eq!(skel.bss().last().nr, 77, "set before load");

        skel.attach().expect("attach");
        assert!(skel.links().count_getpid().is_some());
        getpid_calls(7);
        assert_eq!(
            skel.bss().calls(),
            1021,
            "1000 set before load + 7 calls of weight 3"
        );
        let last = skel.bss().last();
        assert_eq!((last.tid, last.nr), (tid, skel.bss().last().nr));
        let stats = skel
            .maps()
            .per_tid()
            .lookup(&tid)
            .expect("lookup")
            .expect("this thread has an entry");
        assert_eq!(stats.calls, 7);
        assert!(stats.last_ns > 0);
        let keys: Vec<u32> = skel
            .maps()
            .per_tid()
            .keys()
            .collect::<oxbpf::Result<_>>()
            .expect("keys");
        assert_eq!(keys, [tid], "only this thread is counted");

        // .data written through the mapped memory: the program sees it.
        skel.data().set_enabled(0).expect("set enabled");
        getpid_calls(4);
        assert_eq!(skel.bss().calls(), 1021, "counting is off");
        skel.data().set_enabled(1).expect("set enabled");
        skel.bss().set_calls(100).expect("set calls");
        getpid_calls(2);
        assert_eq!(skel.bss().calls(), 106);
        let mut whole = skel.bss().get();
        assert_eq!(whole.calls, 106);
        assert_eq!(whole.last.tid, tid);
        whole.calls = 0;
        skel.bss().set(&whole).expect("set .bss");
        assert_eq!(skel.bss().calls(), 0);

        skel.detach();
        assert!(skel.links().count_getpid().is_none());
        getpid_calls(3);
        assert_eq!(skel.bss().calls(), 0, "detached");
        assert_eq!(
            skel.maps().per_tid().lookup(&tid).unwrap().unwrap().calls,
            9,
            "7 + 2 counted while attached and enabled"
        );
    }};
}

#[test]
fn the_regular_skeleton_counts_this_threads_getpid_calls() {
    counts_this_threads_getpid_calls!(
        counter::CounterSkel,
        |open: &mut counter::OpenCounterSkel| {
            // Typed, and what the object can change: OpenMapMut.
            open.maps_mut().per_tid().set_max_entries(128);
            open.progs_mut().count_getpid().set_autoload(true);
        }
    );
}

#[test]
fn the_light_skeleton_counts_this_threads_getpid_calls() {
    counts_this_threads_getpid_calls!(
        counter_light::CounterSkel,
        |open: &mut counter_light::OpenCounterSkel| {
            // Typed, and only what the loader can honour: the size (no
            // progs_mut(); see the module docs).
            let mut per_tid = open.maps_mut().per_tid();
            assert_eq!((per_tid.name(), per_tid.max_entries()), ("per_tid", 64));
            per_tid.set_max_entries(128);
            assert_eq!(per_tid.max_entries(), 128);
        }
    );
}

#[test]
fn the_light_skeleton_sizes_maps_by_name_too() {
    let mut open = counter_light::CounterSkel::open().expect("open");
    open.light_mut()
        .set_max_entries("per_tid", 32)
        .expect("per_tid");
    assert!(matches!(
        open.light_mut().set_max_entries("nonexistent", 1),
        Err(oxbpf::Error::NotFound { .. })
    ));
    assert!(
        open.light_mut().set_max_entries("counter.bss", 2).is_err(),
        "a data section's map has the section's size"
    );
    let skel = open.load().expect("load");
    assert_eq!(skel.maps().per_tid().max_entries(), 32);
}

macro_rules! data_set_before_load_switches_counting_off {
    ($skel:ty) => {{
        let mut open = <$skel>::open().expect("open");
        open.rodata_mut().target_tid = gettid();
        open.data_mut().enabled = 0;
        let mut skel = open.load().expect("load");
        assert_eq!(skel.data().enabled(), 0);
        skel.attach().expect("attach");
        getpid_calls(3);
        assert_eq!(skel.bss().calls(), 0, "disabled before load");
        skel.data().set_enabled(1).expect("enable");
        getpid_calls(2);
        assert_eq!(skel.bss().calls(), 2);
    }};
}

#[test]
fn data_set_before_load_switches_counting_off() {
    data_set_before_load_switches_counting_off!(counter::CounterSkel);
    data_set_before_load_switches_counting_off!(counter_light::CounterSkel);
}

#[test]
fn the_light_skeleton_parses_no_object() {
    // What the light skeleton embeds is a loader file, and its programs
    // still know their sections (for attach) without the object.
    let open = counter_light::CounterSkel::open().expect("open");
    assert!(open.light().loader().insn_count() > 0);
    let skel = open.load().expect("load");
    assert_eq!(skel.progs().count_getpid().section(), "raw_tp/sys_enter");
    assert_eq!(skel.object().name(), "counter.bpf.o");
    assert!(skel.object().map("counter.bss").is_ok());
}

#[test]
fn set_global_before_a_plain_load_reaches_bss() {
    // No skeleton: OpenObject::set_global on .bss variables (a section of
    // zeros the loader would otherwise leave to the kernel's zeroed map).
    let tid = gettid();
    let mut open = oxbpf::OpenObject::from_bytes("counter.bpf.o", oxbpf_example_skeleton::OBJECT)
        .expect("open");
    assert_eq!(open.global("calls").expect("calls"), 0u64.to_ne_bytes());
    open.set_global("target_tid", &tid.to_ne_bytes())
        .expect("target_tid")
        .set_global("calls", &500u64.to_ne_bytes())
        .expect("calls")
        .set_global(".bss:last", &[0, 0, 0, 0, 9, 0, 0, 0])
        .expect("last");
    assert!(open.set_global("calls", &[1]).is_err(), "wrong size");
    let object = open.load().expect("load");
    let calls =
        |o: &oxbpf::Object| u64::from_ne_bytes(o.read_global("calls").unwrap().try_into().unwrap());
    assert_eq!(
        calls(&object),
        500,
        "the map holds the value set before load"
    );
    assert_eq!(
        object.read_global("last").unwrap(),
        [0, 0, 0, 0, 9, 0, 0, 0]
    );
    let link = object
        .program("count_getpid")
        .expect("program")
        .attach()
        .expect("attach");
    getpid_calls(4);
    drop(link);
    assert_eq!(calls(&object), 504, "the program counted on from 500");
    let last = object.read_global("last").unwrap();
    assert_eq!(last[..4], tid.to_ne_bytes(), "the program wrote last.tid");
}
