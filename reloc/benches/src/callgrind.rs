//! One operation per run, for `valgrind --tool=callgrind`: the instruction
//! count of a mode minus that of `setup` is the operation's.
//!
//! `core-callgrind MODE` with MODE one of: `setup` (libbpf silenced,
//! nothing else), `oxbpf-plan` (`OpenObject::open` + `plan`),
//! `oxbpf-relocator` (read and parse the object and vmlinux BTF, relocate
//! with `CoreRelocator`), `oxbpf-relocator-mmap` (the same with vmlinux
//! mmapped), `libbpf-prepare` (`bpf_object__open_file` +
//! `bpf_object__prepare` + close), `libbpf-open` (open + close).

use std::hint::black_box;

use oxbpf_reloc_bench::{
    libbpf_open, libbpf_open_prepare, libbpf_quiet, object_cpath, oxbpf_core_relocator,
    oxbpf_core_relocator_mmap, oxbpf_open_plan,
};

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let path = object_cpath();
    libbpf_quiet();
    match mode.as_str() {
        "setup" => {}
        "oxbpf-plan" => {
            black_box(oxbpf_open_plan());
        }
        "oxbpf-relocator" => {
            black_box(oxbpf_core_relocator());
        }
        "oxbpf-relocator-mmap" => {
            black_box(oxbpf_core_relocator_mmap());
        }
        "libbpf-prepare" => libbpf_open_prepare(black_box(&path)),
        "libbpf-open" => libbpf_open(black_box(&path)),
        other => {
            eprintln!("unknown mode `{other}`");
            std::process::exit(2);
        }
    }
}
