//! Builds the benchmarks' BPF programs with clang-19 into `OUT_DIR`: the
//! ring buffer producer (`progs/`) and the oracle's many-maps (70, 50)
//! and many-programs objects (`oracle/progs/`).

use std::path::{Path, PathBuf};

#[path = "../../oracle/progs/compile.rs"]
mod compile;

fn main() {
    let here = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap());
    let oracle = here.join("../../oracle/progs");
    let header = oracle.join("repeat.h");
    let many_maps = oracle.join("many_maps.bpf.c");
    let builds: [(PathBuf, &[&Path]); 4] = [
        (here.join("progs/ringbuf_bench.bpf.c"), &[]),
        (many_maps.clone(), &[&header]),
        (oracle.join("fifty_maps.bpf.c"), &[&header, &many_maps]),
        (oracle.join("many_progs.bpf.c"), &[&header]),
    ];
    for (src, deps) in builds {
        println!("cargo:rerun-if-changed={}", src.display());
        for d in deps {
            println!("cargo:rerun-if-changed={}", d.display());
        }
        let name = src
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace(".bpf.c", ".bpf.o");
        if let Err(e) = compile::compile(&src, deps, &out.join(name)) {
            panic!("{e}");
        }
    }
    println!("cargo:rerun-if-changed=../../oracle/progs/compile.rs");
}
