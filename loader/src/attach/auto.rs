//! Auto-attach from section names.
use crate::error::{Error, Result};
use crate::link::Link;
use crate::program::Program;
use oxbpf_elf_bpf::section::SectionDef;

/// What `Object::attach_all` attached and skipped.
#[derive(Debug, Default)]
pub struct AttachAll {}

/// A program `Object::attach_all` did not attach.
#[derive(Debug)]
pub struct Skipped {}

pub(crate) fn attach_by_section(p: &Program, def: &SectionDef) -> Result<Link> {
    Err(Error::Unsupported {
        what: format!("auto-attaching {} programs", def.name),
        site: format!("program {} (section {})", p.name, p.section),
    })
}
