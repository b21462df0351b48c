//! One operation per run, for `valgrind --tool=callgrind`: the instruction
//! count of a mode minus that of `setup` is the operation's.
//!
//! `btf-callgrind MODE` with MODE one of: `setup` (read the BTF, pick the
//! names, nothing else), `floor`, `oxbpf-parse`, `libbpf-new`,
//! `oxbpf-lookups` (parse, index and 10,000 lookups), `oxbpf-parse-index`
//! (parse and index only), `libbpf-lookups` (btf__new and 10,000 lookups),
//! `libbpf-new-only`.

use std::hint::black_box;

use oxbpf_btf::Btf;
use oxbpf_btf_bench::{LibbpfBtf, floor, sample_names, vmlinux_bytes};

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let data = vmlinux_bytes();
    // The names are picked from a parse done in every mode (setup).
    let names = {
        let btf = Btf::parse(&data).unwrap();
        sample_names(&btf)
    };
    match mode.as_str() {
        "setup" => {}
        "floor" => {
            black_box(floor(black_box(&data)));
        }
        "oxbpf-parse" => {
            black_box(Btf::parse(black_box(&data)).unwrap());
        }
        "oxbpf-parse-index" => {
            let btf = Btf::parse(black_box(&data)).unwrap();
            black_box(btf.build_name_index());
        }
        "oxbpf-lookups" => {
            let btf = Btf::parse(black_box(&data)).unwrap();
            for (n, _, k) in &names {
                black_box(btf.find_by_name_kind(black_box(n), *k).unwrap());
            }
        }
        "libbpf-new" | "libbpf-new-only" => {
            black_box(LibbpfBtf::new(black_box(&data)));
        }
        "libbpf-lookups" => {
            let lb = LibbpfBtf::new(black_box(&data));
            for (_, cn, k) in &names {
                black_box(lb.find_by_name_kind(black_box(cn), *k));
            }
        }
        other => {
            eprintln!("unknown mode `{other}`");
            std::process::exit(2);
        }
    }
}
