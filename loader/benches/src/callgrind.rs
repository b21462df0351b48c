//! One consume per run, for `valgrind --tool=callgrind`: the instruction
//! count of a mode minus that of `setup` is the consume path's alone.
//!
//! `ringbuf-callgrind MODE` with MODE one of: `setup` (load the producer,
//! create both consumers on its map, fill the ring with RECORDS records
//! of 64 bytes), then the same followed by one drain with
//! `oxbpf-consume` (`RingBuffer::consume`), `oxbpf-poll`
//! (`RingBuffer::poll`), `libbpf-consume` (`ring_buffer__consume`) or
//! `libbpf-poll` (`ring_buffer__poll`). The records are in the ring before
//! the drain starts, so the counts repeat exactly; the kernel's share (the
//! poll's epoll_wait) is not counted.

use std::time::Duration;

use oxbpf_loader_bench::ring::{Consumer, Libbpf, Oxbpf, Producer, Seen};

/// Records drained.
const RECORDS: u32 = 10_000;

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    oxbpf_loader_bench::libbpf_quiet();
    let p = Producer::load();
    let mut ox = Oxbpf::new(p.map());
    let mut lib = Libbpf::new(p.map());
    p.fill(64, RECORDS);
    let poll = Duration::from_secs(1);
    let c: &mut dyn Consumer = match mode.as_str() {
        "setup" => return,
        "oxbpf-consume" | "oxbpf-poll" => &mut ox,
        "libbpf-consume" | "libbpf-poll" => &mut lib,
        other => {
            eprintln!("unknown mode `{other}`");
            std::process::exit(2);
        }
    };
    if mode.ends_with("poll") {
        c.poll(poll);
    } else {
        c.consume();
    }
    assert_eq!(c.seen(), Seen::of(u64::from(RECORDS)), "{mode}");
}
