//! Measurements, not assertions: loader size (instructions, blob bytes)
//! and load time through a generated loader vs live, median of runs.
//! Run with
//! `cargo test --release -p oxbpf-tests --test loader_bench -- --ignored --nocapture`.

mod loader_support;

use std::time::{Duration, Instant};

use oxbpf::gen_loader::{GenOptions, generate};
use oxbpf::{LightSkeleton, OpenObject};
use oxbpf_tests::{PinDir, kernel_lock, object};

use loader_support::files_under;
use loader_support::plans::{Many, many};

const RUNS: usize = 21;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T, pins: &PinDir) -> Duration {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let out = f();
        times.push(t.elapsed());
        drop(out);
        for p in files_under(&pins.0) {
            std::fs::remove_file(p).unwrap();
        }
    }
    median(times)
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

#[test]
#[ignore = "a measurement: run with --ignored --nocapture, in release"]
fn loader_size_and_load_time() {
    let _k = kernel_lock();
    let pins = PinDir::new("loader-bench");
    println!(
        "{:<16} {:>6} {:>6} {:>8} {:>8} | {:>12} {:>12} {:>12} {:>12}",
        "object",
        "steps",
        "insns",
        "blob B",
        "file B",
        "live load",
        "lskel load",
        "via loader",
        "lskel/live"
    );
    for name in [
        "xdp_count",
        "tracepoint",
        "maps_btf",
        "map_values",
        "subprogs",
        "externs",
    ] {
        let path = object(name);
        let open = || {
            let mut o = OpenObject::open(&path).unwrap();
            o.set_pin_root(&pins.0);
            o
        };
        let plan = open().loader_plan().unwrap();
        let loader = generate(&plan, &GenOptions::default()).unwrap();
        let file = loader.to_bytes();
        let skel = LightSkeleton::from_bytes(&file).unwrap();
        // Warm up (page cache, kernel BTF parsing in the kernel...).
        let clear = || {
            for p in files_under(&pins.0) {
                std::fs::remove_file(p).unwrap();
            }
        };
        drop(open().load().unwrap());
        clear();
        drop(skel.load().unwrap());
        clear();
        let live = time(RUNS, || open().load().unwrap(), &pins);
        let lskel = time(RUNS, || skel.load().unwrap(), &pins);
        let via = time(RUNS, || open().load_via_loader().unwrap(), &pins);
        println!(
            "{:<16} {:>6} {:>6} {:>8} {:>8} | {:>12} {:>12} {:>12} {:>12.2}",
            name,
            loader.steps.len(),
            loader.insn_count(),
            loader.blob_size(),
            file.len(),
            ms(live),
            ms(lskel),
            ms(via),
            lskel.as_secs_f64() / live.as_secs_f64()
        );
    }
    let plan = many(&Many {
        maps: 80,
        progs: 80,
        pin: None,
    });
    let loader = generate(&plan, &GenOptions::default()).unwrap();
    let file = loader.to_bytes();
    let skel = LightSkeleton::from_bytes(&file).unwrap();
    drop(skel.load().unwrap());
    let lskel = time(RUNS, || skel.load().unwrap(), &pins);
    println!(
        "{:<16} {:>6} {:>6} {:>8} {:>8} | {:>12} {:>12} {:>12} {:>12}",
        "80 maps/80 progs",
        loader.steps.len(),
        loader.insn_count(),
        loader.blob_size(),
        file.len(),
        "-",
        ms(lskel),
        "-",
        "-"
    );
}
