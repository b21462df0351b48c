//! The objects the oracle tests load: the corpus of `tests/progs` (built
//! into `<target>/bpf/*.bpf.o`, both compilers), `tests/progs-vm`
//! (`<target>/bpf/vm/`), the CO-RE objects of `reloc/tests/data`, and the
//! oracle's own `oracle/progs/*.bpf.c` (built here, into
//! `<target>/bpf/oracle/`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use oxbpf_tests::{bpf_dir, corpus};

#[path = "../../progs/compile.rs"]
mod compile;

/// The file name of `p`.
pub fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

fn objects_in(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}: run `cargo xtask build-bpf` first", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".bpf.o"))
        .collect();
    assert!(!found.is_empty(), "no objects in {}", dir.display());
    found.sort();
    found
}

/// Every object of the corpus with its label (file name; `vm/` and
/// `reloc/` prefixes for the other two directories).
pub fn objects() -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> =
        corpus().into_iter().map(|p| (file_name(&p), p)).collect();
    let dirs = [
        ("vm/", bpf_dir().join("vm")),
        (
            "reloc/",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../reloc/tests/data"),
        ),
    ];
    for (prefix, dir) in dirs {
        out.extend(
            objects_in(&dir)
                .into_iter()
                .map(|p| (format!("{prefix}{}", file_name(&p)), p)),
        );
    }
    out
}

/// The oracle's own objects (`oracle/progs/*.bpf.c`: many maps, many
/// programs), compiled with clang-19 when missing or older than their
/// source, labelled `oracle/<name>.bpf.o`.
pub fn oracle_objects() -> Vec<(String, PathBuf)> {
    let src_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("progs");
    let out_dir = bpf_dir().join("oracle");
    let mut out = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&src_dir)
        .unwrap_or_else(|e| panic!("{}: {e}", src_dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    // Sources include one another (fifty_maps includes many_maps): each
    // object depends on every file of the directory.
    let deps: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    for src in files
        .iter()
        .filter(|p| p.to_string_lossy().ends_with(".bpf.c"))
    {
        let name = file_name(src).replace(".bpf.c", ".bpf.o");
        let obj = out_dir.join(&name);
        compile::compile(src, &deps, &obj).unwrap_or_else(|e| panic!("{e}"));
        out.push((format!("oracle/{name}"), obj));
    }
    out
}
