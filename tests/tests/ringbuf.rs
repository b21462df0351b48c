//! The ring buffer consumer on `ringbuf.bpf.c`: records from several rings,
//! in order, discarded ones skipped, early stops, waiting and waking.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use oxbpf::{Object, OpenObject, RingBuffer};
use oxbpf_tests::{FdSnapshot, Feature, kernel_lock, object, require};

#[derive(Debug, PartialEq, Eq)]
struct Record {
    seq: u32,
    ring: u32,
    value: u64,
}

fn decode(bytes: &[u8]) -> Record {
    assert_eq!(bytes.len(), 16, "record size");
    Record {
        seq: u32::from_ne_bytes(bytes[0..4].try_into().unwrap()),
        ring: u32::from_ne_bytes(bytes[4..8].try_into().unwrap()),
        value: u64::from_ne_bytes(bytes[8..16].try_into().unwrap()),
    }
}

fn produce(obj: &Object, count: u32, first: u32) -> u32 {
    let mut ctx = [count.to_ne_bytes(), first.to_ne_bytes()].concat();
    obj.program("produce")
        .unwrap()
        .run_syscall(&mut ctx)
        .unwrap()
}

fn consumer(obj: &Object) -> RingBuffer {
    let mut rb = RingBuffer::new().unwrap();
    assert_eq!(rb.add(obj.map("rb_a").unwrap().map_fd()).unwrap(), 0);
    assert_eq!(rb.add(obj.map("rb_b").unwrap().map_fd()).unwrap(), 1);
    rb
}

/// What `produce(count, first)` submits to ring `ring`, in order.
fn expected(count: u32, first: u32, ring: u32) -> Vec<Record> {
    (0..count.min(64))
        .filter(|i| i % 2 == ring && i % 5 != 4)
        .map(|i| Record {
            seq: first + i,
            ring,
            value: u64::from(first + i) * 3,
        })
        .collect()
}

#[test]
fn records_arrive_in_order_per_ring_without_the_discarded() {
    require!(Feature::SyscallProgs);
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    let obj = OpenObject::open(object("ringbuf")).unwrap().load().unwrap();
    let mut rb = consumer(&obj);
    assert_eq!(produce(&obj, 30, 100), 24);
    let mut seen: [Vec<Record>; 2] = [Vec::new(), Vec::new()];
    let n = rb.consume(|ring, bytes| {
        seen[ring].push(decode(bytes));
        ControlFlow::Continue(())
    });
    assert_eq!(n, 24);
    assert_eq!(seen[0], expected(30, 100, 0));
    assert_eq!(seen[1], expected(30, 100, 1));
    // Nothing is handed out twice.
    assert_eq!(rb.consume(|_, _| ControlFlow::Continue(())), 0);
    drop(rb);
    drop(obj);
    fds.assert_no_leak("ringbuf");
}

#[test]
fn a_break_stops_and_the_rest_comes_next_time() {
    require!(Feature::SyscallProgs);
    let _k = kernel_lock();
    let obj = OpenObject::open(object("ringbuf")).unwrap().load().unwrap();
    let mut rb = consumer(&obj);
    produce(&obj, 10, 0);
    let mut first = Vec::new();
    let n = rb.consume(|_, bytes| {
        first.push(decode(bytes).seq);
        if first.len() == 3 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    assert_eq!(n, 3);
    assert_eq!(first, [0, 2, 6], "ring a: i = 0, 2, (4 discarded), 6");
    let mut rest = Vec::new();
    rb.consume(|_, bytes| {
        rest.push(decode(bytes).seq);
        ControlFlow::Continue(())
    });
    assert_eq!(
        rest,
        [8, 1, 3, 5, 7],
        "the rest of ring a, then ring b (9 discarded)"
    );
}

#[test]
fn poll_times_out_when_empty_and_wakes_when_records_come() {
    require!(Feature::SyscallProgs);
    let _k = kernel_lock();
    let obj = OpenObject::open(object("ringbuf")).unwrap().load().unwrap();
    let mut rb = consumer(&obj);
    let start = Instant::now();
    assert_eq!(
        rb.poll(Some(Duration::from_millis(100)), |_, _| {
            ControlFlow::Continue(())
        })
        .unwrap(),
        0
    );
    assert!(
        start.elapsed() >= Duration::from_millis(90),
        "returned early: {:?}",
        start.elapsed()
    );

    // A producer on another thread: the consumer wakes up for it.
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(200));
            produce(&obj, 4, 7);
        });
        let start = Instant::now();
        let mut got = 0;
        let wanted = expected(4, 7, 0).len() + expected(4, 7, 1).len();
        while got < wanted && start.elapsed() < Duration::from_secs(10) {
            got += rb
                .poll(Some(Duration::from_secs(10)), |_, _| {
                    ControlFlow::Continue(())
                })
                .unwrap();
        }
        assert_eq!(got, 4, "four records, none discarded");
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "woke late: {:?}",
            start.elapsed()
        );
    });
}

#[test]
fn only_ringbuf_maps_are_accepted() {
    require!(Feature::SyscallProgs, Feature::BpfLoop);
    let _k = kernel_lock();
    let obj = OpenObject::open(object("subprogs"))
        .unwrap()
        .load()
        .unwrap();
    let err = RingBuffer::new()
        .unwrap()
        .add(obj.map("results").unwrap().map_fd())
        .unwrap_err();
    assert!(err.to_string().contains("not a ringbuf"), "{err}");
}
