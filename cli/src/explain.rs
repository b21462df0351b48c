//! `oxbpf explain FILE`: decode a loader file back into the plan it
//! executes, printed as `oxbpf plan` prints plans. The plan is rebuilt
//! from the loader's instructions and blob (the descriptor only names
//! things), so what is printed is what the loader does.

use std::path::Path;

use oxbpf::gen_loader::{Loader, decode};

use crate::Result;

pub(crate) fn explain(path: &Path) -> Result {
    let bytes = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let loader = Loader::from_bytes(&bytes)?;
    let plan = decode(&loader)?;
    print!("{plan}");
    Ok(())
}
