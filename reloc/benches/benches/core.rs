//! oxbpf against libbpf 1.7 on this machine: open `core_many.bpf.o` (1,450
//! CO-RE relocations) and relocate it against the running kernel's BTF,
//! reading that BTF included, without loading programs. Side by side in
//! one run; a summary with medians and ratios is printed at the end. Run
//! with `cargo xtask bench core`.
//!
//! - oxbpf end to end: `OpenObject::open` + `plan()` — parse, read vmlinux
//!   BTF, link, relocate, decide every kernel operation (creates nothing).
//! - oxbpf `CoreRelocator` path: the same parse and BTF read, then only the
//!   relocations (no linking, no plan); also with vmlinux BTF mmapped
//!   instead of read (sysfs serves `read` 4 KiB at a time).
//! - libbpf: `bpf_object__open_file` + `bpf_object__prepare` + close.
//!   prepare also loads the object's BTF into the kernel and creates its
//!   `.bss` map (plan only decides to); that kernel work is timed on its
//!   own and the ratio is given with and without it.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use oxbpf::btf::Btf;
use oxbpf_reloc_bench::{
    KernelWork, Parsed, VMLINUX, libbpf_log, libbpf_open, libbpf_open_prepare, libbpf_quiet,
    object_cpath, oxbpf_core_relocator, oxbpf_core_relocator_mmap, oxbpf_open_plan, vmlinux_mapped,
};

const RELOCATIONS: usize = 1450;

fn end_to_end(c: &mut Criterion) {
    libbpf_quiet();
    let path = object_cpath();
    let mut g = c.benchmark_group("core_many open + relocate, vmlinux read included");
    g.sample_size(20).measurement_time(Duration::from_secs(10));
    g.bench_function("oxbpf OpenObject::open + plan", |b| b.iter(oxbpf_open_plan));
    g.bench_function("oxbpf CoreRelocator path", |b| b.iter(oxbpf_core_relocator));
    g.bench_function("oxbpf CoreRelocator path, vmlinux mmapped", |b| {
        b.iter(oxbpf_core_relocator_mmap)
    });
    g.bench_function("libbpf open_file + prepare", |b| {
        b.iter(|| libbpf_open_prepare(black_box(&path)))
    });
    g.finish();

    let parsed = Parsed::read();
    let target = Btf::from_file(Path::new(VMLINUX)).unwrap();
    target.find_by_name("task_struct").unwrap();
    let work = KernelWork::new();
    let mut g = c.benchmark_group("parts");
    g.bench_function(
        "oxbpf relocate only (vmlinux parsed, name index built)",
        |b| b.iter(|| parsed.relocate(black_box(&target))),
    );
    g.bench_function("oxbpf Btf::from_file(vmlinux)", |b| {
        b.iter(|| Btf::from_file(Path::new(VMLINUX)).unwrap())
    });
    g.bench_function("oxbpf mmap + Btf::from_shared(vmlinux)", |b| {
        b.iter(vmlinux_mapped)
    });
    g.bench_function("libbpf open_file only", |b| {
        b.iter(|| libbpf_open(black_box(&path)))
    });
    g.bench_function("kernel work in prepare (BTF_LOAD + MAP_CREATE)", |b| {
        b.iter(|| work.run())
    });
    g.finish();
}

criterion_group!(benches, end_to_end);

/// This thread's CPU time (user and kernel), which other work on a busy
/// machine does not inflate the way it does wall time.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(r, 0, "clock_gettime");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Medians of the wall time and of the thread's CPU time of `runs` calls
/// of `f` (after one warm-up call).
fn median(runs: usize, mut f: impl FnMut()) -> (Duration, Duration) {
    f();
    let mut wall = Vec::with_capacity(runs);
    let mut cpu = Vec::with_capacity(runs);
    for _ in 0..runs {
        let (t, c) = (Instant::now(), thread_cpu());
        f();
        cpu.push(thread_cpu() - c);
        wall.push(t.elapsed());
    }
    wall.sort();
    cpu.sort();
    (wall[runs / 2], cpu[runs / 2])
}

fn summary() {
    let path = object_cpath();
    // Both sides really relocate all 1,450 records.
    assert_eq!(oxbpf_open_plan(), RELOCATIONS, "oxbpf plan");
    assert_eq!(oxbpf_core_relocator(), RELOCATIONS, "oxbpf CoreRelocator");
    assert_eq!(oxbpf_core_relocator_mmap(), RELOCATIONS, "oxbpf mmap");
    let log = libbpf_log(|| libbpf_open_prepare(&path));
    let patched = log
        .lines()
        .filter(|l| l.contains(": patched insn #"))
        .count();
    assert_eq!(
        patched, RELOCATIONS,
        "libbpf patched {patched} instructions"
    );
    libbpf_quiet();

    let parsed = Parsed::read();
    let target = Btf::from_file(Path::new(VMLINUX)).unwrap();
    target.find_by_name("task_struct").unwrap();
    let work = KernelWork::new();

    let plan_t = median(31, || {
        black_box(oxbpf_open_plan());
    });
    let reloc_path_t = median(31, || {
        black_box(oxbpf_core_relocator());
    });
    let reloc_mmap_t = median(31, || {
        black_box(oxbpf_core_relocator_mmap());
    });
    let mmap_t = median(31, || {
        black_box(vmlinux_mapped());
    });
    let reloc_only_t = median(101, || {
        black_box(parsed.relocate(black_box(&target)));
    });
    let vmlinux_t = median(31, || {
        black_box(Btf::from_file(Path::new(VMLINUX)).unwrap());
    });
    let libbpf_t = median(11, || libbpf_open_prepare(black_box(&path)));
    let libbpf_open_t = median(31, || libbpf_open(black_box(&path)));
    let kernel_t = median(31, || work.run());

    let ms = |(w, c): (Duration, Duration)| {
        format!(
            "{:9.3} ms {:9.3} ms",
            w.as_secs_f64() * 1e3,
            c.as_secs_f64() * 1e3
        )
    };
    let r = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    let net = |a: (Duration, Duration)| {
        (
            a.0.saturating_sub(kernel_t.0),
            a.1.saturating_sub(kernel_t.1),
        )
    };
    let libbpf_net = net(libbpf_t);
    println!("\n=== summary: core_many.bpf.o, {RELOCATIONS} CO-RE relocations; medians ===");
    println!("                                             wall      thread CPU");
    println!("oxbpf OpenObject::open + plan          {}", ms(plan_t));
    println!(
        "oxbpf CoreRelocator path               {}",
        ms(reloc_path_t)
    );
    println!("  of which vmlinux Btf::from_file      {}", ms(vmlinux_t));
    println!(
        "oxbpf CoreRelocator path, mmap         {}",
        ms(reloc_mmap_t)
    );
    println!("  of which vmlinux mmap + from_shared  {}", ms(mmap_t));
    println!(
        "  relocation only (index built)        {}  = {:.0} ns per relocation (CPU)",
        ms(reloc_only_t),
        reloc_only_t.1.as_secs_f64() * 1e9 / RELOCATIONS as f64
    );
    println!("libbpf open_file + prepare             {}", ms(libbpf_t));
    println!(
        "  of which open_file alone             {}",
        ms(libbpf_open_t)
    );
    println!(
        "  kernel work (BTF_LOAD + MAP_CREATE)  {} (plan only decides these)",
        ms(kernel_t)
    );
    let line = |what: &str, ours: (Duration, Duration)| {
        println!(
            "libbpf prepare / {what}: wall {:.1}x, CPU {:.1}x; libbpf's kernel work subtracted: wall {:.1}x, CPU {:.1}x",
            r(libbpf_t.0, ours.0),
            r(libbpf_t.1, ours.1),
            r(libbpf_net.0, ours.0),
            r(libbpf_net.1, ours.1)
        )
    };
    line("oxbpf open + plan", plan_t);
    line("oxbpf CoreRelocator path", reloc_path_t);
    line(
        "CoreRelocator path, vmlinux mmapped (as libbpf 1.7 does)",
        reloc_mmap_t,
    );
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    summary();
}
