//! The perf buffer consumer on `perfbuf.bpf.c`: records per CPU in order,
//! and lost records counted when a ring overflows.

use std::ops::ControlFlow;

use oxbpf::{OpenObject, PerfBuffer, PerfRecord, TestRunOptions};
use oxbpf_tests::{FdSnapshot, kernel_lock, object};

fn emit(obj: &oxbpf::Object, first: u8, repeat: u32) {
    let mut packet = vec![0u8; 64];
    packet[0] = first;
    let mut opts = TestRunOptions::new(&packet, 0);
    opts.repeat = repeat;
    let out = obj.program("emit").unwrap().test_run(&opts).unwrap();
    assert_eq!(out.retval, 2);
}

#[test]
fn records_arrive_in_order_from_the_cpu_that_wrote_them() {
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    let obj = OpenObject::open(object("perfbuf")).unwrap().load().unwrap();
    let mut pb = PerfBuffer::new(obj.map("events").unwrap().map_fd(), 8).unwrap();
    assert_eq!(
        pb.cpus().count() as u32,
        oxbpf::sys::possible_cpus().unwrap()
    );
    emit(&obj, 0xab, 20);
    let mut seqs = Vec::new();
    let mut cpus = std::collections::BTreeSet::new();
    let n = pb.consume(|r| {
        let PerfRecord::Sample { cpu, data } = r else {
            panic!("lost records in a big ring: {r:?}")
        };
        assert!(data.len() >= 64, "record of {} bytes", data.len());
        assert_eq!(data[8], 0xab);
        seqs.push(u64::from_ne_bytes(data[..8].try_into().unwrap()));
        cpus.insert(cpu);
        ControlFlow::Continue(())
    });
    assert_eq!(n, 20);
    assert_eq!(
        seqs,
        (0..20).collect::<Vec<_>>(),
        "one test run stays on one CPU, in order"
    );
    assert_eq!(cpus.len(), 1);
    drop(pb);
    drop(obj);
    fds.assert_no_leak("perf buffer");
}

/// Keeps the calling thread on the CPU it runs on: a ring's lost count
/// is reported with the next record written *on that CPU*, so the test
/// runs that overflow and then report must not migrate.
fn stay_on_this_cpu() {
    let mut one = rustix::thread::CpuSet::new();
    one.set(rustix::thread::sched_getcpu());
    rustix::thread::sched_setaffinity(None, &one).expect("sched_setaffinity");
}

#[test]
fn overflow_is_reported_as_lost_records() {
    let _k = kernel_lock();
    stay_on_this_cpu();
    let obj = OpenObject::open(object("perfbuf")).unwrap().load().unwrap();
    // One data page: room for about 4096 / (64 + 16) records.
    let mut pb = PerfBuffer::new(obj.map("events").unwrap().map_fd(), 1).unwrap();
    emit(&obj, 1, 500);
    let tally = |pb: &mut PerfBuffer| {
        let (mut samples, mut lost) = (0u64, 0u64);
        pb.consume(|r| {
            match r {
                PerfRecord::Sample { .. } => samples += 1,
                PerfRecord::Lost { count, .. } => lost += count,
            }
            ControlFlow::Continue(())
        });
        (samples, lost)
    };
    let (first_samples, first_lost) = tally(&mut pb);
    assert!(
        first_samples > 0 && first_samples < 500,
        "{first_samples} samples fit"
    );
    // The kernel reports what it dropped with its next record.
    emit(&obj, 2, 1);
    let (more_samples, more_lost) = tally(&mut pb);
    let (samples, lost) = (first_samples + more_samples, first_lost + more_lost);
    assert_eq!(samples + lost, 501, "{samples} samples + {lost} lost");
    assert!(lost > 0);
}
