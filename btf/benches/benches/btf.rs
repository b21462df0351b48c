//! oxbpf-btf against libbpf 1.7 on this machine's `/sys/kernel/btf/vmlinux`,
//! side by side in one run: parse+index, loading from the file, 10,000 name
//! lookups, the floor pass, heap. Criterion measures each; a summary with
//! the ratios (medians of its own repetitions) and the heap figures is
//! printed at the end. Run with `cargo xtask bench btf`.

use std::ffi::CString;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use oxbpf_btf::Btf;
use oxbpf_btf_bench::{
    LOOKUPS, LibbpfBtf, VMLINUX, floor, malloc_in_use, measure_heap, sample_names, vmlinux_bytes,
};

fn mmap_vmlinux() -> Btf<'static> {
    let file = std::fs::File::open(VMLINUX).unwrap();
    // SAFETY: /sys/kernel/btf/vmlinux is read-only and does not change
    // while the kernel runs. The kernel maps it privately and read-only
    // only (a shared mapping is refused).
    let map = unsafe { memmap2::MmapOptions::new().map_copy_read_only(&file) }.unwrap();
    Btf::from_shared(Arc::new(map)).unwrap()
}

fn parse(c: &mut Criterion) {
    let data = vmlinux_bytes();
    let mut g = c.benchmark_group("vmlinux parse (bytes in memory)");
    g.bench_function("floor: header-only pass", |b| {
        b.iter(|| floor(black_box(&data)))
    });
    g.bench_function("oxbpf Btf::parse", |b| {
        b.iter(|| Btf::parse(black_box(&data)).unwrap())
    });
    g.bench_function("libbpf btf__new", |b| {
        b.iter(|| LibbpfBtf::new(black_box(&data)))
    });
    g.finish();

    let mut g = c.benchmark_group("vmlinux load (from the file)");
    let path = CString::new(VMLINUX).unwrap();
    g.bench_function("oxbpf mmap + Btf::from_shared", |b| b.iter(mmap_vmlinux));
    g.bench_function("oxbpf Btf::from_file (read)", |b| {
        b.iter(|| Btf::from_file(Path::new(VMLINUX)).unwrap())
    });
    g.bench_function("libbpf btf__load_vmlinux_btf", |b| {
        b.iter(LibbpfBtf::load_vmlinux)
    });
    g.bench_function("libbpf btf__parse", |b| b.iter(|| LibbpfBtf::parse(&path)));
    g.finish();
}

fn lookups(c: &mut Criterion) {
    let data = vmlinux_bytes();
    let btf = Btf::parse(&data).unwrap();
    let names = sample_names(&btf);
    btf.find_by_name("task_struct").unwrap();
    let lb = LibbpfBtf::new(&data);

    let mut g = c.benchmark_group("10000 name lookups");
    g.bench_function("oxbpf name index build", |b| {
        b.iter(|| black_box(&btf).build_name_index())
    });
    g.bench_function("oxbpf find_by_name_kind (index built)", |b| {
        b.iter(|| {
            for (n, _, k) in &names {
                black_box(btf.find_by_name_kind(black_box(n), *k).unwrap());
            }
        })
    });
    g.bench_function("oxbpf parse + index + lookups", |b| {
        b.iter(|| {
            let btf = Btf::parse(black_box(&data)).unwrap();
            for (n, _, k) in &names {
                black_box(btf.find_by_name_kind(n, *k).unwrap());
            }
        })
    });
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("libbpf btf__find_by_name_kind", |b| {
        b.iter(|| {
            for (_, cn, k) in &names {
                black_box(lb.find_by_name_kind(black_box(cn), *k));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, parse, lookups);

/// Median wall time of `runs` calls of `f`.
fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    f();
    let mut v: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    v.sort();
    v[v.len() / 2]
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

fn summary() {
    let data = vmlinux_bytes();
    let path = CString::new(VMLINUX).unwrap();
    let btf = Btf::parse(&data).unwrap();
    let names = sample_names(&btf);
    let lb = LibbpfBtf::new(&data);
    for (n, cn, k) in names.iter().take(200) {
        let ours = btf
            .find_by_name_kind(n, *k)
            .unwrap()
            .map_or(-1, |id| id.0 as i32);
        assert_eq!(ours, lb.find_by_name_kind(cn, *k), "{n}: ids differ");
    }
    assert_eq!(lb.type_cnt(), btf.types_len() + 1);

    let floor_t = median(101, || {
        black_box(floor(black_box(&data)));
    });
    let parse_t = median(101, || {
        black_box(Btf::parse(black_box(&data)).unwrap());
    });
    let new_t = median(51, || {
        black_box(LibbpfBtf::new(black_box(&data)));
    });
    let mmap_t = median(51, || {
        black_box(mmap_vmlinux());
    });
    let file_t = median(51, || {
        black_box(Btf::from_file(Path::new(VMLINUX)).unwrap());
    });
    let lvm_t = median(51, || {
        black_box(LibbpfBtf::load_vmlinux());
    });
    let lparse_t = median(51, || {
        black_box(LibbpfBtf::parse(&path));
    });
    let index_t = median(21, || {
        black_box(btf.build_name_index());
    });
    let look_t = median(51, || {
        for (n, _, k) in &names {
            black_box(btf.find_by_name_kind(black_box(n), *k).unwrap());
        }
    });
    let first_t = median(21, || {
        let b = Btf::parse(black_box(&data)).unwrap();
        for (n, _, k) in &names {
            black_box(b.find_by_name_kind(n, *k).unwrap());
        }
    });
    let llook_t = median(3, || {
        for (_, cn, k) in &names {
            black_box(lb.find_by_name_kind(black_box(cn), *k));
        }
    });

    // Heap: ours counted by the global allocator; libbpf by mallinfo2.
    let (mapped, peak_map, kept_map) = measure_heap(mmap_vmlinux);
    let (_, peak_idx, kept_idx) = measure_heap(|| mapped.find_by_name("task_struct").unwrap());
    drop(mapped);
    let (read, peak_read, kept_read) = measure_heap(|| Btf::from_file(Path::new(VMLINUX)).unwrap());
    drop(read);
    let before = malloc_in_use();
    let l = LibbpfBtf::load_vmlinux();
    l.find_by_name_kind(c"task_struct", oxbpf_btf::Kind::Struct);
    let libbpf_vm = malloc_in_use().saturating_sub(before);
    drop(l);
    let before = malloc_in_use();
    let l = LibbpfBtf::parse(&path);
    let libbpf_parse = malloc_in_use().saturating_sub(before);
    drop(l);

    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let per = |d: Duration| d.as_secs_f64() * 1e9 / LOOKUPS as f64;
    let kib = |b: usize| b / 1024;
    println!(
        "\n=== summary ({} types, {} bytes of BTF) ===",
        btf.types_len(),
        data.len()
    );
    println!("floor (header-only pass)            {:8.3} ms", ms(floor_t));
    println!(
        "oxbpf Btf::parse (bytes)            {:8.3} ms  = {:.2}x floor",
        ms(parse_t),
        ratio(parse_t, floor_t)
    );
    println!(
        "libbpf btf__new (bytes)             {:8.3} ms  oxbpf is {:.1}x faster",
        ms(new_t),
        ratio(new_t, parse_t)
    );
    println!("oxbpf mmap + from_shared            {:8.3} ms", ms(mmap_t));
    println!("oxbpf from_file (read + parse)      {:8.3} ms", ms(file_t));
    println!(
        "libbpf btf__load_vmlinux_btf        {:8.3} ms  oxbpf mmap is {:.1}x faster, from_file {:.1}x",
        ms(lvm_t),
        ratio(lvm_t, mmap_t),
        ratio(lvm_t, file_t)
    );
    println!(
        "libbpf btf__parse                   {:8.3} ms  oxbpf from_file is {:.1}x faster",
        ms(lparse_t),
        ratio(lparse_t, file_t)
    );
    println!("oxbpf name index build              {:8.3} ms", ms(index_t));
    println!(
        "oxbpf {LOOKUPS} lookups (indexed)       {:8.3} ms  = {:.1} ns each",
        ms(look_t),
        per(look_t)
    );
    println!(
        "oxbpf parse + index + {LOOKUPS} lookups {:8.3} ms  = {:.1} ns each, all included",
        ms(first_t),
        per(first_t)
    );
    println!(
        "libbpf {LOOKUPS} lookups                {:8.1} ms  = {:.0} ns each; oxbpf is {:.0}x faster (index included: {:.0}x)",
        ms(llook_t),
        per(llook_t),
        ratio(llook_t, look_t),
        ratio(llook_t, first_t)
    );
    println!(
        "heap, oxbpf mmap + parse:     peak {} KiB, kept {} KiB (the id index; bytes mapped)",
        kib(peak_map),
        kib(kept_map)
    );
    println!(
        "heap, oxbpf name index:       peak {} KiB, kept {} KiB (built on the first lookup)",
        kib(peak_idx),
        kib(kept_idx)
    );
    println!(
        "heap, oxbpf from_file:        peak {} KiB, kept {} KiB (the bytes read + the id index)",
        kib(peak_read),
        kib(kept_read)
    );
    println!(
        "heap, libbpf btf__load_vmlinux_btf: {} KiB in use after (mallinfo2)",
        kib(libbpf_vm)
    );
    println!(
        "heap, libbpf btf__parse:            {} KiB in use after (mallinfo2)",
        kib(libbpf_parse)
    );
    println!(
        "rust heap live at the end: {} KiB",
        kib(oxbpf_btf_bench::live())
    );
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    summary();
}
