//! Relocates every program of a BPF object against a target BTF and prints
//! what was done, with timings.
//!
//! ```text
//! cargo run --release -p oxbpf-reloc --example relocate -- OBJ [TARGET_BTF] [-q]
//! ```
//!
//! TARGET_BTF defaults to `/sys/kernel/btf/vmlinux`; `-q` prints only the
//! summary.

use std::time::Instant;

use oxbpf_btf::{Btf, BtfExt};
use oxbpf_elf_bpf::Object;
use oxbpf_reloc::{CandidateCache, CoreRelocator, function_relos};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quiet = args.iter().any(|a| a == "-q");
    let pos: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let Some(obj_path) = pos.first() else {
        return Err("usage: relocate OBJ [TARGET_BTF] [-q]".into());
    };
    let target_path = pos.get(1).map_or("/sys/kernel/btf/vmlinux", |s| s.as_str());

    let bytes = std::fs::read(obj_path)?;
    let obj = Object::parse(&bytes)?;
    let local = obj.btf.as_ref().ok_or("object has no BTF")?;
    let ext_bytes = obj.btf_ext.as_deref().ok_or("object has no BTF.ext")?;
    let ext = BtfExt::parse(ext_bytes, local)?;

    let t0 = Instant::now();
    let target = Btf::from_file(std::path::Path::new(target_path))?;
    let t_parse = t0.elapsed();
    let t2 = Instant::now();
    let _ = target.find_by_name("task_struct");
    let t_index = t2.elapsed();
    let mut cache = CandidateCache::new();
    let t1 = Instant::now();
    let mut total = 0;
    let mut poisoned = 0;
    let mut lines = Vec::new();
    for prog in &obj.programs {
        let f = &prog.function;
        let Some(sec) = ext.core_relos_for(&f.section) else {
            continue;
        };
        let relos = function_relos(&f.section, sec.records(), f.offset, f.insns.len())?;
        let mut insns = f.insns.clone();
        let applied = CoreRelocator::new(local, &target, &mut cache).relocate(&mut insns, relos)?;
        total += applied.len();
        poisoned += applied.iter().filter(|a| a.is_poisoned()).count();
        if !quiet {
            lines.push(format!(
                "program {} ({} relocations)",
                f.name,
                applied.len()
            ));
            lines.extend(applied.iter().map(|a| format!("  {a}")));
        }
    }
    let t_reloc = t1.elapsed();
    // REPEAT=n: relocate n more times, each with a fresh cache (the
    // target's name index stays built), and report the best and median.
    let repeat: usize = std::env::var("REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if repeat > 0 {
        let cpu0 = on_cpu_ns();
        let mut times = Vec::with_capacity(repeat);
        for _ in 0..repeat {
            let mut cache = CandidateCache::new();
            let t = Instant::now();
            for prog in &obj.programs {
                let f = &prog.function;
                let Some(sec) = ext.core_relos_for(&f.section) else {
                    continue;
                };
                let relos = function_relos(&f.section, sec.records(), f.offset, f.insns.len())?;
                let mut insns = f.insns.clone();
                CoreRelocator::new(local, &target, &mut cache).relocate(&mut insns, relos)?;
            }
            times.push(t.elapsed().as_secs_f64() * 1e6);
        }
        let cpu = on_cpu_ns().zip(cpu0).map(|(b, a)| b.saturating_sub(a));
        times.sort_by(f64::total_cmp);
        println!(
            "x{repeat}: best {:.1} µs, median {:.1} µs ({:.0} ns per relocation){}",
            times[0],
            times[repeat / 2],
            times[repeat / 2] * 1e3 / total.max(1) as f64,
            match cpu {
                Some(ns) => format!(
                    "; on-CPU {:.1} µs per run ({:.0} ns per relocation)",
                    ns as f64 / 1e3 / repeat as f64,
                    ns as f64 / (repeat * total.max(1)) as f64
                ),
                None => String::new(),
            }
        );
    }
    for l in lines {
        println!("{l}");
    }
    let (lookups, hits) = cache.stats();
    println!(
        "{total} relocations ({poisoned} poisoned) in {:.1} µs; target BTF read+parsed in {:.1} µs, \
         name index built in {:.1} µs; candidate lookups {lookups} ({hits} cached)",
        t_reloc.as_secs_f64() * 1e6,
        t_parse.as_secs_f64() * 1e6,
        t_index.as_secs_f64() * 1e6
    );
    Ok(())
}

/// Time this thread has spent on a CPU, in ns (`/proc/thread-self/schedstat`),
/// which a loaded machine does not inflate the way it does wall time.
fn on_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}
