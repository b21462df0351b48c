//! The tokio consumers: a task awaiting ring buffer and perf buffer records
//! is woken by the kernel when a program (run from another thread) submits
//! them, and receives exactly what was submitted.

use std::ops::ControlFlow;
use std::time::Duration;

use oxbpf::{
    AsyncPerfBuffer, AsyncRingBuffer, Object, OpenObject, PerfBuffer, PerfRecord, RingBuffer,
    TestRunOptions,
};
use oxbpf_tests::{FdSnapshot, Feature, kernel_lock, object, require};
use tokio::time::timeout;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .unwrap()
}

/// `ringbuf.bpf.c`'s `produce(count, first)`: records `{seq, ring, value}`
/// to rb_a (even i) and rb_b (odd i), every fifth discarded.
fn produce(obj: &Object, count: u32, first: u32) -> u32 {
    let mut ctx = [count.to_ne_bytes(), first.to_ne_bytes()].concat();
    obj.program("produce")
        .unwrap()
        .run_syscall(&mut ctx)
        .unwrap()
}

#[test]
fn a_waiting_task_is_woken_by_ring_buffer_records() {
    require!(Feature::SyscallProgs);
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    let obj = OpenObject::open(object("ringbuf")).unwrap().load().unwrap();
    let rt = runtime();
    let mut rb = RingBuffer::new().unwrap();
    rb.add(obj.map("rb_a").unwrap().map_fd()).unwrap();
    rb.add(obj.map("rb_b").unwrap().map_fd()).unwrap();
    let mut rb = rt.block_on(async { AsyncRingBuffer::new(rb) }).unwrap();

    // Nothing submitted: the wait does not return.
    let idle = rt.block_on(async {
        timeout(
            Duration::from_millis(100),
            rb.consume(|_, _| ControlFlow::Continue(())),
        )
        .await
    });
    assert!(idle.is_err(), "consume returned with empty rings: {idle:?}");

    // Another thread submits while the task waits.
    let seen = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(150));
            assert_eq!(produce(&obj, 30, 100), 24);
        });
        rt.block_on(async {
            let mut seen = Vec::new();
            while seen.len() < 24 {
                let n = timeout(
                    Duration::from_secs(10),
                    rb.consume(|ring, bytes| {
                        let seq = u32::from_ne_bytes(bytes[0..4].try_into().unwrap());
                        seen.push((ring, seq));
                        ControlFlow::Continue(())
                    }),
                )
                .await
                .expect("no wakeup within 10 s")
                .unwrap();
                assert!(n > 0);
            }
            seen
        })
    });
    let expected: Vec<(usize, u32)> = (0..30)
        .filter(|i| i % 5 != 4)
        .map(|i| ((i % 2) as usize, 100 + i))
        .collect();
    let mut by_ring = seen.clone();
    by_ring.sort_by_key(|&(ring, seq)| (ring, seq));
    let mut want = expected.clone();
    want.sort_by_key(|&(ring, seq)| (ring, seq));
    assert_eq!(by_ring, want);
    for ring in 0..2 {
        let order: Vec<u32> = seen.iter().filter(|r| r.0 == ring).map(|r| r.1).collect();
        assert!(order.is_sorted(), "ring {ring} out of order: {order:?}");
    }
    // Everything was handed out once: empty again, and back to sync use.
    let mut rb = rb.into_inner();
    assert_eq!(rb.consume(|_, _| ControlFlow::Continue(())), 0);
    drop(rb);
    drop(rt);
    drop(obj);
    fds.assert_no_leak("async ring buffer");
}

#[test]
fn a_waiting_task_is_woken_by_perf_buffer_records() {
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    let obj = OpenObject::open(object("perfbuf")).unwrap().load().unwrap();
    let rt = runtime();
    let pb = PerfBuffer::new(obj.map("events").unwrap().map_fd(), 8).unwrap();
    let mut pb = rt.block_on(async { AsyncPerfBuffer::new(pb) }).unwrap();
    let seqs = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(150));
            let packet = [7u8; 64];
            let mut opts = TestRunOptions::new(&packet, 0);
            opts.repeat = 10;
            let out = obj.program("emit").unwrap().test_run(&opts).unwrap();
            assert_eq!(out.retval, 2);
        });
        rt.block_on(async {
            let mut seqs = Vec::new();
            while seqs.len() < 10 {
                timeout(
                    Duration::from_secs(10),
                    pb.consume(|r| {
                        let PerfRecord::Sample { data, .. } = r else {
                            panic!("lost records in a big ring: {r:?}")
                        };
                        assert_eq!(data[8], 7);
                        seqs.push(u64::from_ne_bytes(data[..8].try_into().unwrap()));
                        ControlFlow::Continue(())
                    }),
                )
                .await
                .expect("no wakeup within 10 s")
                .unwrap();
            }
            seqs
        })
    });
    assert_eq!(seqs, (0..10).collect::<Vec<u64>>());
    drop(pb);
    drop(rt);
    drop(obj);
    fds.assert_no_leak("async perf buffer");
}

#[test]
fn outside_a_runtime_registration_is_an_error() {
    let rb = RingBuffer::new().unwrap();
    let err = AsyncRingBuffer::new(rb).unwrap_err();
    assert!(
        err.to_string().contains("registering a ring buffer"),
        "{err}"
    );
}
