//! `oxbpf btf dump file PATH [format {c|raw}] [--base BASE]`: BTF as a C
//! header (a `vmlinux.h`) or in bpftool's raw listing, like
//! `bpftool btf dump file PATH format c`.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use oxbpf::btf::{Btf, DumpOptions, dump_c_string, dump_raw};

use crate::Result;

/// Output format of `btf dump`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// A C header.
    C,
    /// bpftool's raw listing, one type per record.
    Raw,
}

/// Parses the words after `btf dump file PATH`: nothing, or `format c`,
/// or `format raw`.
pub(crate) fn parse_format(words: &[String]) -> Result<Format> {
    match words {
        [] => Ok(Format::Raw),
        [kw, f] if kw == "format" => match f.as_str() {
            "c" => Ok(Format::C),
            "raw" => Ok(Format::Raw),
            other => Err(format!("unknown format `{other}` (c or raw)").into()),
        },
        other => Err(format!(
            "expected `format c` or `format raw` after the file, got `{}`",
            other.join(" ")
        )
        .into()),
    }
}

/// Reads BTF from a raw BTF file (`/sys/kernel/btf/*`) or from the `.BTF`
/// section of an ELF object.
fn read_btf(path: &Path, base: Option<Arc<Btf<'static>>>) -> Result<Btf<'static>> {
    let data = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let data = if data.starts_with(b"\x7fELF") {
        let obj = oxbpf::elf::Object::parse(&data)?;
        match obj.btf {
            Some(btf) => btf.as_bytes().to_vec(),
            None => return Err(format!("{}: no .BTF section", path.display()).into()),
        }
    } else {
        data
    };
    Ok(match base {
        Some(base) => Btf::from_vec_split(data, base)?,
        None => Btf::from_vec(data)?,
    })
}

/// `oxbpf btf dump file PATH ...`.
pub(crate) fn dump_file(path: &Path, format: Format, base: Option<&Path>) -> Result {
    let base = match base {
        Some(b) => Some(Arc::new(read_btf(b, None)?)),
        None => None,
    };
    let btf = read_btf(path, base)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let written = match format {
        Format::C => {
            let text = dump_c_string(&btf, &DumpOptions::default())?;
            out.write_all(text.as_bytes())
        }
        Format::Raw => match dump_raw(&btf, &mut out) {
            Ok(()) => Ok(()),
            Err(oxbpf::btf::Error::Write { source }) => Err(source),
            Err(e) => return Err(e.into()),
        },
    };
    match written.and_then(|()| out.flush()) {
        // `oxbpf btf dump ... | head` is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn formats() {
        assert_eq!(parse_format(&words("")).unwrap(), Format::Raw);
        assert_eq!(parse_format(&words("format c")).unwrap(), Format::C);
        assert_eq!(parse_format(&words("format raw")).unwrap(), Format::Raw);
        assert!(parse_format(&words("format json")).is_err());
        assert!(parse_format(&words("c")).is_err());
    }
}
