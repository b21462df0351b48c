//! The generated loader a light skeleton embeds, and where in its blob the
//! initial values of its data sections are.
//!
//! A light skeleton sets `.rodata` and `.data` before load by writing into
//! the loader's blob the bytes its `map_update` step hands the kernel. The
//! loader file does not say where a step's value is (the loader's
//! instructions point at it), so generation finds out: it plans the
//! object twice with each settable section filled with a different marker
//! and compiles both plans. Everything else being equal, the two blobs
//! differ exactly in the values, one contiguous run per section, in plan
//! (= section) order. Filling the sections also makes the planner emit the
//! `map_update` of a section that is all zeros, which it otherwise leaves
//! out (there would be nothing to set). The loader kept is the first, with
//! the object's real initial values written back over the marker.

use oxbpf_gen_loader::{GenOptions, Loader, Step, generate};

use crate::error::{Error, Result};
use crate::open::OpenObject;
use crate::target::Target;

/// A loader for a light skeleton.
#[derive(Debug)]
pub(crate) struct LightLoader {
    /// The loader file (`Loader::to_bytes`).
    pub(crate) loader: Loader,
    /// Per data section of the object, the blob offset of its initial
    /// value, for the sections asked for.
    pub(crate) initial: Vec<Option<usize>>,
    /// The struct_ops maps registered by writing their value when
    /// attached (not by the loader): map name, value laid out for the
    /// kernel planned for, and the program whose fd goes at each offset.
    pub(crate) struct_ops: StructOpsValues,
}

/// Struct_ops values: map name, value, (offset, program) slots.
pub(crate) type StructOpsValues = Vec<(String, Vec<u8>, Vec<(u32, String)>)>;

const MARKERS: [u8; 2] = [0xa5, 0x5a];

fn plan_with_markers(
    name: &str,
    bytes: &[u8],
    sections: &[usize],
    marker: u8,
) -> Result<(OpenObject, Loader, StructOpsValues)> {
    let mut open = OpenObject::from_bytes(name, bytes)?;
    for &i in sections {
        if let Some(s) = open.elf.data.get_mut(i) {
            s.bytes.fill(marker);
        }
    }
    // What `OpenObject::plan` plans, with the layout of the struct_ops
    // values live mode writes at attach time.
    let target = Target::live_with(open.core_btf.as_deref(), open.btf_features);
    let (plan, layout) = crate::planner::build_with_layout(&open, &target)?;
    let loader = generate(&plan, &GenOptions::default())?;
    let struct_ops = layout
        .struct_ops
        .iter()
        .filter_map(|p| {
            let map = open.elf.maps.get(p.map)?;
            Some((map.name.clone(), p.value.clone(), p.progs.clone()))
        })
        .collect();
    Ok((open, loader, struct_ops))
}

/// Plans `bytes` for the running kernel (as `oxbpf gen loader` does) and
/// compiles the plan into a loader whose data sections `sections` (indices
/// into the object's data sections, none empty) can be set before load.
pub(crate) fn build(name: &str, bytes: &[u8], sections: &[usize]) -> Result<LightLoader> {
    let (open, mut loader, struct_ops) = plan_with_markers(name, bytes, sections, MARKERS[0])?;
    let (_, other, _) = plan_with_markers(name, bytes, sections, MARKERS[1])?;
    let protocol = |what: String| Error::LoaderProtocol {
        what: format!("light skeleton of {name}: {what}"),
    };
    if loader.insns != other.insns
        || loader.steps != other.steps
        || loader.blob.bytes().len() != other.blob.bytes().len()
    {
        return Err(protocol(
            "the loader changes with the initial data beyond its values".into(),
        ));
    }
    // The runs of differing bytes.
    let (a, b) = (loader.blob.bytes(), other.blob.bytes());
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for i in 0..a.len() {
        if a[i] != b[i] {
            match runs.last_mut() {
                Some((_, end)) if *end == i => *end = i + 1,
                _ => runs.push((i, i + 1)),
            }
        }
    }
    let updates = loader
        .steps
        .iter()
        .filter(|s| matches!(s, Step::UpdateElem { .. }))
        .count();
    if runs.len() != sections.len() || updates < sections.len() {
        return Err(protocol(format!(
            "{} data sections to locate, {} differing runs in the blob",
            sections.len(),
            runs.len()
        )));
    }
    let mut initial = vec![None; open.elf.data.len()];
    for (&i, &(start, end)) in sections.iter().zip(&runs) {
        let section = &open.elf.data[i];
        // The planner rounds an empty section up to one byte; sections
        // asked for are not empty.
        if end - start != section.bytes.len() {
            return Err(protocol(format!(
                "data section {} of {} bytes matched a run of {} bytes",
                section.name,
                section.bytes.len(),
                end - start
            )));
        }
        initial[i] = Some(start);
    }
    // The object's own initial values over the marker.
    let real = OpenObject::from_bytes(name, bytes)?;
    for (&i, &(start, end)) in sections.iter().zip(&runs) {
        loader.blob.bytes_mut()[start..end].copy_from_slice(&real.elf.data[i].bytes);
    }
    Ok(LightLoader {
        loader,
        initial,
        struct_ops,
    })
}
