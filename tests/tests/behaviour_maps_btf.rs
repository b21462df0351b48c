//! maps_btf.bpf.c in the live kernel: one XDP program exercising eleven
//! map types under `BPF_PROG_TEST_RUN`, a tail call through a program
//! array, an LPM verdict, and a map pinned by name (objects of clang-19
//! and clang-14).
#![forbid(unsafe_code)]

mod behaviour_support;

use std::os::fd::AsRawFd;

use behaviour_support::{entries, ipv4_packet, percpu_u64_sum, u32_at, u64_array, u64_at};
use oxbpf::asm::{Insn, helper_id};
use oxbpf::sys::{MapFd, ProgLoadOptions, VerifierLog};
use oxbpf::{Map, Object, OpenObject, ProgType, TestRunOptions};
use oxbpf_tests::{FdSnapshot, Feature, PinDir, kernel_lock, object, require};

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const XDP_TX: u32 = 3;

/// The packet of the corpus README: byte 0 = 0xAA, EtherType 0x0800, an
/// IPv4 header from 10.1.2.3, 6 bytes of padding; 40 bytes in all.
fn packet() -> Vec<u8> {
    let mut p = ipv4_packet(17, [10, 1, 2, 3], [10, 9, 9, 9], 6);
    p[0] = 0xAA;
    assert_eq!(p.len(), 40);
    p
}

fn run(obj: &Object, prog: &str, data: &[u8]) -> u32 {
    obj.program(prog)
        .unwrap()
        .test_run(&TestRunOptions::new(data, data.len()))
        .unwrap_or_else(|e| panic!("{prog}: {e:?}"))
        .retval
}

/// Peeks at a queue or stack (`BPF_MAP_LOOKUP_ELEM` with no key).
fn peek_u32(map: &Map) -> Option<u32> {
    map.lookup(&[], 0).unwrap().map(|v| u32_at(&v, 0))
}

/// Whether the bloom filter (probably) holds `value`: a lookup with no key
/// reads the value to test from the value buffer.
fn bloom_has(map: &Map, value: [u8; 4]) -> bool {
    let mut v = value;
    oxbpf::sys::map_lookup_elem(map.map_fd(), &[], &mut v, 0).unwrap()
}

/// `bpf_ringbuf_query(events_rb, flags)`, asked by a two-instruction XDP
/// program of this test: the library has no ring buffer reader yet, and
/// the ring's positions are what tells how much was written.
fn ringbuf_query(rb: &Map, flags: i32) -> u32 {
    let call = helper_id("bpf_ringbuf_query").expect("a helper of this kernel");
    let mut insns = Vec::new();
    insns.extend(Insn::ld_map_fd(1, rb.map_fd().as_raw_fd()));
    insns.push(Insn::mov64_imm(2, flags));
    insns.push(Insn::call_helper(call));
    insns.push(Insn::exit());
    let mut opts = ProgLoadOptions::new(ProgType::XDP, &insns, c"GPL");
    opts.name = "rb_query";
    let prog = oxbpf::sys::prog_load(&opts, &mut VerifierLog::new()).unwrap();
    oxbpf::sys::prog_test_run(&prog, &TestRunOptions::new(&[0u8; 14], 0))
        .unwrap()
        .retval
}

const RB_AVAIL_DATA: i32 = 0;
const RB_RING_SIZE: i32 = 1;
const RB_CONS_POS: i32 = 2;
const RB_PROD_POS: i32 = 3;

/// Everything the program writes, to compare before and after a run.
#[derive(Debug, PartialEq)]
struct Snapshot {
    hash_typed: Vec<(u32, u64, u64)>,
    array_sized: Vec<u64>,
    percpu: u64,
    lru: Vec<(u32, u64)>,
    pinned: Vec<(u32, u64)>,
    queue_head: Option<u32>,
    stack_top: Option<u32>,
    rb_prod: u32,
}

fn snapshot(obj: &Object) -> Snapshot {
    let m = |n| obj.map(n).unwrap();
    Snapshot {
        hash_typed: entries(m("hash_typed"))
            .into_iter()
            .map(|(k, v)| (k, u64_at(&v, 0), u64_at(&v, 8)))
            .collect(),
        array_sized: u64_array(m("array_sized")),
        percpu: percpu_u64_sum(m("percpu_cnt"), 0),
        lru: entries(m("lru_numa"))
            .into_iter()
            .map(|(k, v)| (k, u64_at(&v, 0)))
            .collect(),
        pinned: entries(m("pinned_hash"))
            .into_iter()
            .map(|(k, v)| (k, u64_at(&v, 0)))
            .collect(),
        queue_head: peek_u32(m("len_queue")),
        stack_top: peek_u32(m("byte_stack")),
        rb_prod: ringbuf_query(m("events_rb"), RB_PROD_POS),
    }
}

fn load(name: &str, pins: &PinDir) -> Object {
    let mut open = OpenObject::open(object(name)).unwrap();
    open.set_pin_root(&pins.0);
    open.load().unwrap_or_else(|e| panic!("{name}: {e:?}"))
}

#[test]
fn maps_exercise_fills_every_map() {
    require!(Feature::BloomMaps);
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    for name in ["maps_btf", "maps_btf.clang14"] {
        let pins = PinDir::new(&name.replace('.', "-")); // bpffs refuses dots in names
        {
            let obj = load(name, &pins);
            exercise(name, &obj);
            // The tail call's program array lives on in this object; the
            // pinned map lives on in its pin.
        }
        let pin = pins.0.join("pinned_hash");
        assert!(pin.exists(), "{name}: {} was not pinned", pin.display());
        let pinned = MapFd::from_owned(oxbpf::sys::obj_get(&pin, 0).unwrap()).unwrap();
        let mut v = [0u8; 8];
        assert!(oxbpf::sys::map_lookup_elem(&pinned, &0u32.to_le_bytes(), &mut v, 0).unwrap());
        assert_eq!(
            u64::from_le_bytes(v),
            4,
            "{name}: four runs counted in the pin"
        );
        drop(pinned);

        // A second load reuses the pinned map, and its program counts on.
        let obj = load(name, &pins);
        assert_eq!(
            u64_array_of(obj.map("pinned_hash").unwrap()),
            [(0, 4)],
            "{name}"
        );
        assert_eq!(run(&obj, "maps_exercise", &packet()), XDP_PASS, "{name}");
        assert_eq!(
            u64_array_of(obj.map("pinned_hash").unwrap()),
            [(0, 5)],
            "{name}"
        );
        assert_eq!(
            u64_array(obj.map("array_sized").unwrap()),
            [1, 40, 0, 0],
            "{name}: the other maps are new"
        );
    }
    fds.assert_no_leak("maps_btf");
}

fn u64_array_of(map: &Map) -> Vec<(u32, u64)> {
    entries(map)
        .into_iter()
        .map(|(k, v)| (k, u64_at(&v, 0)))
        .collect()
}

fn exercise(name: &str, obj: &Object) {
    let m = |n| obj.map(n).unwrap();
    let rb = m("events_rb");
    assert_eq!(ringbuf_query(rb, RB_RING_SIZE), 4096, "{name}");
    assert_eq!(ringbuf_query(rb, RB_AVAIL_DATA), 0, "{name}");
    let empty = snapshot(obj);

    // 1. One run: every map gets its update.
    assert_eq!(run(obj, "maps_exercise", &packet()), XDP_PASS, "{name}");
    let s = snapshot(obj);
    assert_eq!(s.hash_typed, [(0xAA, 1, 40)], "{name}: hash_typed");
    assert_eq!(s.array_sized, [1, 40, 0, 0], "{name}: array_sized");
    assert_eq!(s.percpu, 1, "{name}: percpu_cnt");
    assert_eq!(s.lru, [(0xAA, 40)], "{name}: lru_numa");
    assert_eq!(s.pinned, [(0, 1)], "{name}: pinned_hash");
    assert_eq!(s.queue_head, Some(40), "{name}: len_queue");
    assert_eq!(s.stack_top, Some(0xAA), "{name}: byte_stack");
    assert!(
        bloom_has(m("src_bloom"), [10, 1, 2, 3]),
        "{name}: src_bloom"
    );
    assert!(
        !bloom_has(m("src_bloom"), [9, 9, 9, 9]),
        "{name}: src_bloom"
    );
    // One 8-byte record {len, src} behind its 8-byte header, not consumed.
    assert_eq!(ringbuf_query(rb, RB_AVAIL_DATA), 16, "{name}: events_rb");
    assert_eq!(ringbuf_query(rb, RB_PROD_POS), 16, "{name}: events_rb");
    assert_eq!(ringbuf_query(rb, RB_CONS_POS), 0, "{name}: events_rb");

    // 2. maps_tail in tail_progs[0]: the tail call happens.
    let tail = obj.program("maps_tail").unwrap();
    m("tail_progs")
        .update(
            &0u32.to_le_bytes(),
            &(tail.prog_fd().as_raw_fd() as u32).to_le_bytes(),
            0,
        )
        .unwrap();
    assert_eq!(
        run(obj, "maps_exercise", &packet()),
        XDP_TX,
        "{name}: tail call"
    );
    let s = snapshot(obj);
    assert_eq!(s.hash_typed, [(0xAA, 2, 80)], "{name}");
    assert_eq!(s.array_sized, [2, 40, 0, 0], "{name}");
    assert_eq!(s.pinned, [(0, 2)], "{name}");
    assert_eq!(s.queue_head, Some(40), "{name}: the oldest");
    assert_eq!(s.rb_prod, 32, "{name}: a second record");

    // 3. An LPM prefix covering the source decides before the tail call.
    let mut key = 8u32.to_le_bytes().to_vec();
    key.extend_from_slice(&[10, 0, 0, 0]);
    m("lpm_verdict")
        .update(&key, &XDP_DROP.to_le_bytes(), 0)
        .unwrap();
    assert_eq!(
        run(obj, "maps_exercise", &packet()),
        XDP_DROP,
        "{name}: LPM"
    );
    // A source outside the prefix still gets the tail call.
    let mut other = packet();
    other[26..30].copy_from_slice(&[11, 1, 2, 3]);
    assert_eq!(
        run(obj, "maps_exercise", &other),
        XDP_TX,
        "{name}: 11.1.2.3"
    );
    assert!(bloom_has(m("src_bloom"), [11, 1, 2, 3]), "{name}");
    let s = snapshot(obj);
    assert_eq!(s.hash_typed, [(0xAA, 4, 160)], "{name}");
    assert_eq!(s.pinned, [(0, 4)], "{name}");
    assert_eq!(s.stack_top, Some(0xAA), "{name}");

    // 4. Too short for an IPv4 header: no map touched.
    assert_eq!(
        run(obj, "maps_exercise", &packet()[..33]),
        XDP_PASS,
        "{name}"
    );
    assert_eq!(snapshot(obj), s, "{name}: a 33-byte packet changed maps");
    assert_eq!(run(obj, "maps_tail", &packet()), XDP_TX, "{name}");
    assert_ne!(s, empty);

    // The queue holds the four lengths, oldest first; the stack the bytes.
    let queue = m("len_queue");
    let mut popped = Vec::new();
    let mut v = [0u8; 4];
    while oxbpf::sys::map_lookup_and_delete_elem(queue.map_fd(), &[], &mut v, 0).unwrap() {
        popped.push(u32::from_le_bytes(v));
    }
    assert_eq!(popped, [40, 40, 40, 40], "{name}: len_queue");
    assert_eq!(peek_u32(queue), None, "{name}: an empty queue");
    // A key for a keyless map is refused before the kernel is asked.
    let err = m("byte_stack").lookup(&[0; 4], 0).unwrap_err();
    assert!(
        matches!(
            err,
            oxbpf::Error::Syscall {
                source: oxbpf::sys::Error::BufferSize { .. },
                ..
            }
        ),
        "{err:?}"
    );
    // The stack holds b0 of each of the four runs.
    let stack = m("byte_stack");
    let mut bytes = Vec::new();
    while oxbpf::sys::map_lookup_and_delete_elem(stack.map_fd(), &[], &mut v, 0).unwrap() {
        bytes.push(u32::from_le_bytes(v));
    }
    assert_eq!(bytes, [0xAA; 4], "{name}: byte_stack");
}
