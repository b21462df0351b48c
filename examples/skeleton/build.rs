//! Compiles `src/bpf/counter.bpf.c` with clang and generates its two
//! skeletons into `OUT_DIR`: `counter.skel.rs` (the object embedded) and
//! `counter.lskel.rs` (a generated loader embedded).

use std::path::PathBuf;

use oxbpf::skel::Builder;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("cargo sets OUT_DIR")?);
    let source = "src/bpf/counter.bpf.c";
    Builder::new(source).build_and_generate(out.join("counter.skel.rs"))?;
    Builder::new(source)
        .light(true)
        .build_and_generate(out.join("counter.lskel.rs"))?;
    Ok(())
}
