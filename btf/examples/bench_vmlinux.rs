//! Quick timing of parse+index and name lookups on the running kernel's BTF
//! (release mode: `cargo run --release -p oxbpf-btf --example bench_vmlinux`).
//! Prints the median of several runs; criterion benches come later.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use oxbpf_btf::{Btf, Kind};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The floor: one pass that only decodes each type header (to find the next).
fn floor(data: &[u8]) -> usize {
    let hdr_len = u32::from_le_bytes(data[4..8].try_into().unwrap()) as usize;
    let type_off = u32::from_le_bytes(data[8..12].try_into().unwrap()) as usize;
    let type_len = u32::from_le_bytes(data[12..16].try_into().unwrap()) as usize;
    let types = &data[hdr_len + type_off..hdr_len + type_off + type_len];
    let mut off = 0;
    let mut n = 0;
    while off + 12 <= types.len() {
        let info = u32::from_le_bytes(types[off + 4..off + 8].try_into().unwrap());
        let vlen = (info & 0xffff) as usize;
        off += 12
            + match (info >> 24) & 0x1f {
                1 | 14 | 17 => 4,
                3 => 12,
                4 | 5 | 15 | 19 => 12 * vlen,
                6 | 13 => 8 * vlen,
                _ => 0,
            };
        n += 1;
    }
    n
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/sys/kernel/btf/vmlinux".into());
    let t = Instant::now();
    let data = std::fs::read(&path).expect("read BTF");
    println!("read {} bytes from {path} in {:?}", data.len(), t.elapsed());
    let runs = 31;

    let floor_t = median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                black_box(floor(black_box(&data)));
                t.elapsed()
            })
            .collect(),
    );
    let parse_t = median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                black_box(Btf::parse(black_box(&data)).unwrap());
                t.elapsed()
            })
            .collect(),
    );
    let file_t = median(
        (0..11)
            .map(|_| {
                let t = Instant::now();
                black_box(Btf::from_file(Path::new(&path)).unwrap());
                t.elapsed()
            })
            .collect(),
    );
    let btf = Btf::parse(&data).unwrap();
    println!("types: {}", btf.types_len());
    println!("floor (header-only pass): {floor_t:?}");
    println!(
        "parse+index:              {parse_t:?}  ({:.2}x floor)",
        parse_t.as_secs_f64() / floor_t.as_secs_f64()
    );
    println!("from_file (read+parse):   {file_t:?}");

    // Names to look up: 10,000 named structs, spread over the id range.
    let names: Vec<(String, Kind)> = btf
        .types()
        .filter(|(_, t)| t.kind() == Kind::Struct && t.name_off() != 0)
        .map(|(id, t)| (btf.name(id).unwrap().to_string(), t.kind()))
        .collect();
    let step = (names.len() / 10_000).max(1);
    let sample: Vec<&(String, Kind)> = names.iter().step_by(step).take(10_000).collect();

    let index_t = median(
        (0..11)
            .map(|_| {
                let b = Btf::parse(&data).unwrap();
                let t = Instant::now();
                black_box(b.build_name_index());
                t.elapsed()
            })
            .collect(),
    );
    let first_t = median(
        (0..11)
            .map(|_| {
                let b = Btf::parse(&data).unwrap();
                let t = Instant::now();
                for (n, k) in &sample {
                    black_box(b.find_by_name_kind(n, *k).unwrap());
                }
                t.elapsed()
            })
            .collect(),
    );
    btf.find_by_name_kind("task_struct", Kind::Struct).unwrap();
    let lookup_t = median(
        (0..31)
            .map(|_| {
                let t = Instant::now();
                for (n, k) in &sample {
                    black_box(btf.find_by_name_kind(black_box(n), *k).unwrap());
                }
                t.elapsed()
            })
            .collect(),
    );
    println!("name index build:         {index_t:?}");
    println!(
        "index heap: {} KiB (id->offset {} KiB)",
        btf.index_heap_bytes() / 1024,
        Btf::parse(&data).unwrap().index_heap_bytes() / 1024
    );
    println!(
        "{} lookups incl. index build: {first_t:?}; after: {lookup_t:?} ({:.1} ns each)",
        sample.len(),
        lookup_t.as_nanos() as f64 / sample.len() as f64
    );
}
