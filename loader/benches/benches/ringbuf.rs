//! Ring buffer consumption, oxbpf against libbpf 1.7, on the same map of
//! the same loaded program (loaded once by oxbpf; libbpf's
//! `ring_buffer__new` gets the map fd). Run with `cargo xtask bench
//! ringbuf`.
//!
//! - drain: the producer (`produce_N`, a syscall program run with
//!   BPF_PROG_TEST_RUN, bpf_loop over bpf_ringbuf_reserve/submit) fills the
//!   ring, then the consumer's `consume` (oxbpf `RingBuffer::consume`,
//!   libbpf `ring_buffer__consume`) or `poll` (`RingBuffer::poll`,
//!   `ring_buffer__poll`, timeout 1 s) drains it; only the drain is timed.
//! - concurrent: a producer thread submits the records 256 per test run
//!   while this thread consumes; timed from the start until the consumer
//!   has every record (the producer's pace mostly: see "producer alone"),
//!   with the consumer thread's CPU time per event beside it, the
//!   consumer's own cost. The 2 cores of the machine are both busy.
//!
//! Each consumer adds up the records' sequence numbers, checked against
//! the expected sum after every run. Criterion measures the 64-byte drains;
//! the summary prints medians of events/s for every size and mode.

use std::time::Duration;

use criterion::{Criterion, criterion_group};
use oxbpf_loader_bench::ring::{Consumer, Libbpf, Oxbpf, Producer, Read, SIZES, concurrent, drain};
use oxbpf_loader_bench::timing::mid;

/// Records per drain, by size: as many as fit comfortably in the 16 MiB
/// ring.
fn drain_count(size: usize) -> u32 {
    match size {
        16 => 200_000,
        64 => 100_000,
        _ => 25_000,
    }
}

const CONCURRENT_COUNT: u32 = 200_000;
const BATCH: u32 = 256;

fn consumers(p: &Producer) -> Vec<Box<dyn Consumer>> {
    vec![
        Box::new(Oxbpf::new(p.map())),
        Box::new(Libbpf::new(p.map())),
    ]
}

fn criterion_drains(c: &mut Criterion) {
    let p = Producer::load();
    let mut cs = consumers(&p);
    let mut g = c.benchmark_group("ringbuf drain, 10000 records of 64 B");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    for read in [Read::Consume, Read::Poll] {
        for cons in cs.iter_mut() {
            let id = format!("{} {}", cons.name(), read.name());
            g.bench_function(id, |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| drain(&p, cons.as_mut(), read, 64, 10_000))
                        .sum()
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, criterion_drains);

fn rate(count: u32, d: Duration) -> f64 {
    f64::from(count) / d.as_secs_f64()
}

fn summary() {
    let p = Producer::load();
    let mut cs = consumers(&p);
    println!("\n=== summary: events/s consumed, medians (M = 10^6) ===");
    println!(
        "{:<6} {:<22} {:>14} {:>14} {:>13}",
        "size", "mode", "oxbpf", "libbpf", "oxbpf/libbpf"
    );
    let row = |size: usize, mode: &str, count: u32, t: &[Duration]| {
        let (o, l) = (rate(count, t[0]), rate(count, t[1]));
        println!(
            "{:<6} {:<22} {:>12.2} M {:>12.2} M {:>12.2}x",
            format!("{size} B"),
            mode,
            o / 1e6,
            l / 1e6,
            o / l
        );
    };
    for size in SIZES {
        let count = drain_count(size);
        for read in [Read::Consume, Read::Poll] {
            let mut times: Vec<Vec<Duration>> = vec![Vec::new(); cs.len()];
            // Warm up, then alternate the consumers run by run.
            for c in cs.iter_mut() {
                drain(&p, c.as_mut(), read, size, count);
            }
            for _ in 0..15 {
                for (i, c) in cs.iter_mut().enumerate() {
                    times[i].push(drain(&p, c.as_mut(), read, size, count));
                }
            }
            let med: Vec<Duration> = times.into_iter().map(mid).collect();
            row(size, &format!("drain {}", read.name()), count, &med);
        }
        for read in [Read::Poll, Read::Consume] {
            let mut wall: Vec<Vec<Duration>> = vec![Vec::new(); cs.len()];
            let mut cpu: Vec<Vec<Duration>> = vec![Vec::new(); cs.len()];
            for _ in 0..9 {
                for (i, c) in cs.iter_mut().enumerate() {
                    let (w, u) = concurrent(&p, c.as_mut(), read, size, CONCURRENT_COUNT, BATCH);
                    wall[i].push(w);
                    cpu[i].push(u);
                }
            }
            let wall: Vec<Duration> = wall.into_iter().map(mid).collect();
            let cpu: Vec<Duration> = cpu.into_iter().map(mid).collect();
            row(
                size,
                &format!("concurrent {}", read.name()),
                CONCURRENT_COUNT,
                &wall,
            );
            let ns = |d: Duration| d.as_secs_f64() * 1e9 / f64::from(CONCURRENT_COUNT);
            println!(
                "{:<6} {:<22} {:>9.1} ns/ev {:>9.1} ns/ev {:>12.2}x   (consumer thread CPU per event)",
                "",
                "",
                ns(cpu[0]),
                ns(cpu[1]),
                ns(cpu[0]) / ns(cpu[1])
            );
        }
    }
    // The producer alone, for scale: records submitted per second when
    // nobody consumes (the ring is drained untimed between runs).
    let mut sink = Oxbpf::new(p.map());
    for size in SIZES {
        let count = drain_count(size);
        let mut t = Vec::new();
        for _ in 0..7 {
            let s = std::time::Instant::now();
            p.fill(size, count);
            t.push(s.elapsed());
            sink.consume();
        }
        println!(
            "producer alone, {size} B: {:.2} M records/s",
            rate(count, mid(t)) / 1e6
        );
    }
}

fn main() {
    oxbpf_loader_bench::libbpf_quiet();
    benches();
    Criterion::default().configure_from_args().final_summary();
    summary();
}
