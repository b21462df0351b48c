//! `oxbpf gen loader OBJ -o FILE`: compile an object's load plan into a
//! loader program and write the loader file that `oxbpf explain` reads and
//! `oxbpf::LightSkeleton` loads.

use std::path::Path;

use oxbpf::OpenObject;
use oxbpf::gen_loader::{GenOptions, generate};

use crate::Result;

pub(crate) fn gen_loader(object: &Path, output: &Path) -> Result {
    // CO-RE relocations and kconfig values are left to the kernel the
    // loader runs on.
    let plan = OpenObject::open(object)?.loader_plan()?;
    let loader = generate(&plan, &GenOptions::default())?;
    let bytes = loader.to_bytes();
    std::fs::write(output, &bytes).map_err(|e| format!("writing {}: {e}", output.display()))?;
    println!(
        "wrote {}: {} steps, {} instructions, blob {} bytes in {} chunk(s), context {} bytes, \
         needs Linux {} or newer ({} bytes)",
        output.display(),
        loader.steps.len(),
        loader.insn_count(),
        loader.blob_size(),
        loader.blob.chunk_count(),
        loader.ctx_size,
        loader.min_kernel,
        bytes.len()
    );
    Ok(())
}
