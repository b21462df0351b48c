//! `oxbpf gen skeleton [--light] OBJ [-o FILE]`: generate the Rust
//! skeleton module of an object (see `oxbpf::skel`), self-contained (the
//! object or loader embedded as a byte string).

use std::io::Write as _;
use std::path::Path;

use oxbpf::skel::{SkelOptions, generate};

use crate::Result;

pub(crate) fn gen_skeleton(
    object: &Path,
    light: bool,
    name: Option<&str>,
    output: Option<&Path>,
) -> Result {
    let bytes = std::fs::read(object).map_err(|e| format!("reading {}: {e}", object.display()))?;
    let file_name = object
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut opts = SkelOptions::new().light(light);
    if let Some(name) = name {
        opts = opts.name(name);
    }
    let skel = generate(&file_name, &bytes, &opts)?;
    match output {
        Some(path) => std::fs::write(path, skel.source.as_bytes())
            .map_err(|e| format!("writing {}: {e}", path.display()))?,
        None => std::io::stdout()
            .write_all(skel.source.as_bytes())
            .map_err(|e| format!("writing the skeleton: {e}"))?,
    }
    Ok(())
}
