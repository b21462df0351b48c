//! Generated loaders, oxbpf's against libbpf 1.7's, side by side in one
//! run; run with `cargo xtask bench loader`.
//!
//! Per object: the size of each loader (instructions, data blob bytes) and
//! the median time to load the object through it — create the blob map,
//! write and freeze it, load the loader program, run it once, take the
//! fds (libbpf's loader run by `libbpf_loader::run` with the same
//! `oxbpf::sys` calls oxbpf's `LightSkeleton::load` makes), then close
//! everything, untimed, before the next run — and oxbpf's live load
//! (`OpenObject::open` + `load`: parsing the ELF and BTF included).
//! Generation itself is not timed (it happens at build time).
//!
//! Objects: a representative set of the corpus (`<target>/bpf`, built by
//! `cargo xtask build-bpf`), the CO-RE-heavy `reloc/tests/data/core_many`
//! (1,450 relocations: both loaders hand them to the kernel, which
//! relocates against its own BTF), and the oracle's many-maps (50,
//! 70) and many-programs (80) objects. An object libbpf cannot generate or
//! load shows its refusal instead of numbers.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{Criterion, criterion_group};
use oxbpf::gen_loader::{GenOptions, generate};
use oxbpf::{LightSkeleton, OpenObject, sys};
use oxbpf_loader_bench::libbpf_loader;
use oxbpf_loader_bench::timing::median;

const RUNS: usize = 31;

/// Creates, writes and freezes the blob maps and loads a loader program
/// (verification included) without running it: the first half of a
/// light-skeleton load, as both runtimes do it.
fn verify_only(insns: &[oxbpf::asm::Insn], chunks: &[&[u8]]) -> (Vec<sys::MapFd>, sys::ProgFd) {
    let maps: Vec<sys::MapFd> = chunks
        .iter()
        .map(|bytes| {
            let attr = sys::MapCreateAttr::new(sys::MapType::ARRAY, 4, bytes.len() as u32, 1);
            let map = sys::map_create(&attr).unwrap();
            sys::map_update_elem(&map, &0u32.to_ne_bytes(), bytes, 0).unwrap();
            sys::map_freeze(&map).unwrap();
            map
        })
        .collect();
    let fd_array: Vec<_> = maps.iter().map(AsFd::as_fd).collect();
    let mut opts = sys::ProgLoadOptions::new(sys::ProgType::SYSCALL, insns, c"Dual BSD/GPL");
    opts.prog_flags = sys::attr::prog_flags::SLEEPABLE;
    opts.fd_array = &fd_array;
    let prog = sys::prog_load(&opts, &mut sys::VerifierLog::new()).unwrap();
    (maps, prog)
}

fn bpf_dir() -> PathBuf {
    std::env::var_os("OXBPF_BPF_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bpf"))
}

fn objects() -> Vec<(String, PathBuf)> {
    let corpus = bpf_dir();
    let mut out: Vec<(String, PathBuf)> = [
        "xdp_count",
        "tracepoint",
        "subprogs",
        "externs",
        "ringbuf",
        "sockmap",
        "usdt",
    ]
    .iter()
    .map(|n| (n.to_string(), corpus.join(format!("{n}.bpf.o"))))
    .collect();
    let reloc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../reloc/tests/data");
    for n in ["core_fields", "core_many"] {
        out.push((format!("reloc/{n}"), reloc.join(format!("{n}.bpf.o"))));
    }
    for n in ["fifty_maps", "many_maps", "many_progs"] {
        out.push((
            format!("oracle/{n}"),
            oxbpf_loader_bench::built_object(&format!("{n}.bpf.o")),
        ));
    }
    for (name, path) in &out {
        assert!(
            path.exists(),
            "{name}: {} is missing (run `cargo xtask build-bpf`)",
            path.display()
        );
    }
    out
}

/// Both generated loaders of one object, and the object's path.
struct Loaders {
    path: PathBuf,
    ours: LightSkeleton,
    libbpf: Result<libbpf_loader::LibbpfLoader, String>,
}

impl Loaders {
    fn new(path: &Path) -> Loaders {
        let plan = OpenObject::open(path).unwrap().loader_plan().unwrap();
        let ours = LightSkeleton::new(generate(&plan, &GenOptions::default()).unwrap());
        let libbpf = libbpf_loader::generate(path, &std::env::temp_dir())
            .and_then(|l| libbpf_loader::run(&l).map(|_| l));
        Loaders {
            path: path.to_owned(),
            ours,
            libbpf,
        }
    }

    fn live(&self) -> oxbpf::Object {
        OpenObject::open(&self.path).unwrap().load().unwrap()
    }
}

fn criterion_loads(c: &mut Criterion) {
    let path = bpf_dir().join("xdp_count.bpf.o");
    let l = Loaders::new(&path);
    let lib = l.libbpf.as_ref().expect("libbpf loads xdp_count");
    let mut g = c.benchmark_group("load xdp_count.bpf.o");
    g.sample_size(30).measurement_time(Duration::from_secs(4));
    g.bench_function("libbpf generated loader", |b| {
        b.iter(|| libbpf_loader::run(lib).unwrap())
    });
    g.bench_function("oxbpf generated loader", |b| {
        b.iter(|| l.ours.load().unwrap())
    });
    g.bench_function("oxbpf live", |b| b.iter(|| l.live()));
    g.finish();
}

criterion_group!(benches, criterion_loads);

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1e3)
}

fn summary() {
    println!(
        "\n=== summary: generated loaders; times are medians of {RUNS} runs, wall ms (thread CPU ms); \
         load = blob map + load loader + run + take fds; verify = blob map + load loader only ==="
    );
    println!(
        "| object | libbpf insns | ours insns | ratio | libbpf blob B | ours blob B | ratio | libbpf load | ours load | ratio | libbpf verify | ours verify | ours live load | ours loader/live (wall) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut refusals = Vec::new();
    for (name, path) in objects() {
        let l = Loaders::new(&path);
        let ours_insns = l.ours.loader().insn_count();
        let ours_blob = l.ours.loader().blob_size();
        let ours_t = median(RUNS, || l.ours.load().unwrap(), drop);
        let live_t = median(RUNS, || l.live(), drop);
        let loader = l.ours.loader();
        let chunks: Vec<&[u8]> = loader.blob.chunks().map(|(_, b)| b).collect();
        let ours_v = median(RUNS, || verify_only(&loader.insns, &chunks), drop);
        let (li, lb, lt, lv) = match &l.libbpf {
            Ok(lib) => {
                let t = median(RUNS, || libbpf_loader::run(lib).unwrap(), drop);
                let v = median(RUNS, || verify_only(&lib.insns, &[&lib.data]), drop);
                (
                    Some(lib.insns.len()),
                    Some(lib.data.len()),
                    Some(t),
                    Some(v),
                )
            }
            Err(e) => {
                refusals.push(format!("{name}: libbpf: {e}"));
                (None, None, None, None)
            }
        };
        let ratio = |ours: f64, lib: Option<f64>| {
            lib.map_or("-".to_owned(), |l| format!("{:.2}", ours / l))
        };
        let t = |d: (Duration, Duration)| format!("{} ({})", ms(d.0), ms(d.1));
        println!(
            "| {name} | {} | {ours_insns} | {} | {} | {ours_blob} | {} | {} | {} | {} | {} | {} | {} | {:.2} |",
            li.map_or("-".to_owned(), |v| v.to_string()),
            ratio(ours_insns as f64, li.map(|v| v as f64)),
            lb.map_or("-".to_owned(), |v| v.to_string()),
            ratio(ours_blob as f64, lb.map(|v| v as f64)),
            lt.map_or("-".to_owned(), t),
            t(ours_t),
            lt.map_or("-".to_owned(), |lt| format!(
                "{:.2} ({:.2})",
                ours_t.0.as_secs_f64() / lt.0.as_secs_f64(),
                ours_t.1.as_secs_f64() / lt.1.as_secs_f64()
            )),
            lv.map_or("-".to_owned(), t),
            t(ours_v),
            t(live_t),
            ours_t.0.as_secs_f64() / live_t.0.as_secs_f64(),
        );
    }
    println!("(ratio = ours / libbpf's; below 1 is smaller or faster)");
    for r in refusals {
        println!("{r}");
    }
}

fn main() {
    oxbpf_loader_bench::libbpf_quiet();
    benches();
    Criterion::default().configure_from_args().final_summary();
    summary();
}
