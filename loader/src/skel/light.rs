//! The generated loader a light skeleton embeds, and where in its blob the
//! initial values of its data sections are.
//!
//! A light skeleton sets `.rodata`, `.data` and `.bss` before load by
//! writing into the loader's blob the bytes its `map_update` step hands the
//! kernel; the loader's descriptor says where each step's value is. The
//! object is planned with every data section written (even one of zeros,
//! as every `.bss` is, which the planner otherwise leaves to the kernel's
//! zeroed map), so that each settable section has its step: the blob
//! carries a `.bss` image as large as the section.

use oxbpf_gen_loader::{GenOptions, Loader, Step, generate};

use crate::error::{Error, Result};
use crate::open::OpenObject;
use crate::planner::Mode;

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

/// Plans `bytes` for a generated loader (as `oxbpf gen loader` does) and
/// compiles the plan into a loader whose data sections `sections` (indices
/// into the object's data sections, none empty) can be set before load.
pub(crate) fn build(name: &str, bytes: &[u8], sections: &[usize]) -> Result<LightLoader> {
    let mut open = OpenObject::from_bytes(name, bytes)?;
    open.write_zero_data = true;
    // What `OpenObject::loader_plan` plans (CO-RE and kconfig values left
    // to the target), with the layout of the struct_ops values live mode
    // writes at attach time.
    let target = open.target();
    let (plan, layout) = crate::planner::build_with_layout(&open, &target, Mode::Loader)?;
    let loader = generate(&plan, &GenOptions::default())?;
    let struct_ops = layout
        .struct_ops
        .iter()
        .filter_map(|p| {
            let map = open.elf.maps.get(p.map)?;
            Some((map.name.clone(), p.value.clone(), p.progs.clone()))
        })
        .collect();
    let mut initial = vec![None; open.elf.data.len()];
    for &i in sections {
        let (Some(section), Some(&map)) = (open.elf.data.get(i), layout.data.get(i)) else {
            continue;
        };
        let value = loader.steps.iter().find_map(|step| match step {
            Step::UpdateElem {
                map: m,
                value: Some(value),
                ..
            } if *m == map => Some(value.index()),
            _ => None,
        });
        // The image is in the blob as the section holds it.
        let end = value.map(|v| v + section.bytes.len());
        match (value, end) {
            (Some(start), Some(end))
                if loader.blob.bytes().get(start..end) == Some(&section.bytes[..]) =>
            {
                initial[i] = Some(start);
            }
            _ => {
                return Err(Error::LoaderProtocol {
                    what: format!(
                        "light skeleton of {name}: the loader does not write data section {} from its blob",
                        section.name
                    ),
                });
            }
        }
    }
    Ok(LightLoader {
        loader,
        initial,
        struct_ops,
    })
}
