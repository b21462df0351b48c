//! Global variables: their initial values before load, and their live
//! values afterwards.
//!
//! A global variable lives in a data section (`.data`, `.rodata`, `.bss`,
//! `.data.*`...), which loading turns into a one-element array map. Before
//! load, [`OpenObject::set_global`] changes the initial image (how a
//! `const volatile` in `.rodata` is configured). After load,
//! [`Object::read_global`] and [`Object::write_global`] go through the
//! map's memory, which programs share.

use crate::error::{Error, Result};
use crate::object::Object;
use crate::open::OpenObject;

/// A global variable of an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Global {
    /// Its name.
    pub name: String,
    /// The data section holding it.
    pub section: String,
    /// Byte offset in the section.
    pub offset: usize,
    /// Size in bytes.
    pub size: usize,
}

/// Every named variable of the data sections, in section order.
pub(crate) fn collect(elf: &oxbpf_elf_bpf::Object) -> Vec<Global> {
    let mut out = Vec::new();
    for section in elf.data.iter().chain(&elf.arena) {
        for sym in &section.symbols {
            // A symbol without a size (clang gives every variable one) takes
            // the rest of the section up to the next symbol.
            let size = if sym.size > 0 {
                sym.size
            } else {
                let next = section
                    .symbols
                    .iter()
                    .map(|s| s.offset)
                    .filter(|&o| o > sym.offset)
                    .min();
                next.unwrap_or(section.bytes.len() as u64)
                    .saturating_sub(sym.offset)
            };
            let (Ok(offset), Ok(size)) = (usize::try_from(sym.offset), usize::try_from(size))
            else {
                continue;
            };
            if offset
                .checked_add(size)
                .is_some_and(|end| end <= section.bytes.len())
            {
                out.push(Global {
                    name: sym.name.clone(),
                    section: section.name.clone(),
                    offset,
                    size,
                });
            }
        }
    }
    out
}

/// Finds `name` among `globals`: `"var"`, or `"section:var"` when several
/// sections have a variable of that name.
pub(crate) fn find<'g>(globals: &'g [Global], name: &str) -> Result<&'g Global> {
    let (section, var) = match name.split_once(':') {
        Some((s, v)) => (Some(s), v),
        None => (None, name),
    };
    let mut found = globals
        .iter()
        .filter(|g| g.name == var && section.is_none_or(|s| s == g.section));
    let first = found.next().ok_or_else(|| Error::NotFound {
        kind: "global variable",
        name: name.to_owned(),
    })?;
    if let Some(second) = found.next() {
        return Err(Error::InvalidArgument(format!(
            "global variable {var} is in {} and {}: name it as {}:{var}",
            first.section, second.section, first.section
        )));
    }
    Ok(first)
}

fn check_size(g: &Global, len: usize) -> Result<()> {
    if len != g.size {
        return Err(Error::InvalidArgument(format!(
            "global variable {} ({}) is {} bytes, not {len}",
            g.name, g.section, g.size
        )));
    }
    Ok(())
}

impl OpenObject {
    /// The object's global variables.
    pub fn globals(&self) -> Vec<Global> {
        collect(&self.elf)
    }

    /// The initial value of a global variable (`"var"` or `"section:var"`).
    pub fn global(&self, name: &str) -> Result<&[u8]> {
        let g = find(&self.globals(), name)?.clone();
        let section = self
            .elf
            .data
            .iter()
            .chain(&self.elf.arena)
            .find(|d| d.name == g.section)
            .expect("collected from it");
        Ok(&section.bytes[g.offset..g.offset + g.size])
    }

    /// Sets the initial value of a global variable; `value` must have its
    /// size exactly. Works for `.rodata` too: that is how programs are
    /// configured before load (`const volatile` variables).
    pub fn set_global(&mut self, name: &str, value: &[u8]) -> Result<&mut Self> {
        let g = find(&self.globals(), name)?.clone();
        check_size(&g, value.len())?;
        let section = self
            .elf
            .data
            .iter_mut()
            .chain(&mut self.elf.arena)
            .find(|d| d.name == g.section)
            .expect("collected from it");
        section.bytes[g.offset..g.offset + g.size].copy_from_slice(value);
        Ok(self)
    }
}

impl Object {
    /// The object's global variables (empty for an object loaded from a
    /// generated loader file alone).
    pub fn globals(&self) -> &[Global] {
        &self.globals
    }

    fn global_map(&self, name: &str) -> Result<(Global, &crate::Map)> {
        let g = find(&self.globals, name)?.clone();
        let map_name = crate::planner::data_map_name(self.name(), &g.section);
        Ok((g, self.map(&map_name)?))
    }

    /// An `__arena` global: the arena's memory and the variable's offset
    /// in it.
    fn arena_global(
        &self,
        name: &str,
    ) -> Result<Option<(Global, &oxbpf_syscalls::MapMemory, usize)>> {
        let g = find(&self.globals, name)?;
        if g.section != oxbpf_elf_bpf::ARENA_SECTION {
            return Ok(None);
        }
        let Some((map, base)) = &self.arena_globals else {
            return Err(Error::InvalidArgument(format!(
                "__arena global {name}: the object was not loaded with its arena mapped"
            )));
        };
        let memory = self.map(map)?.arena()?;
        let offset = usize::try_from(*base)
            .unwrap_or(usize::MAX)
            .saturating_add(g.offset);
        Ok(Some((g.clone(), memory, offset)))
    }

    /// The current value of a global variable, as programs see it
    /// (`__arena` globals too, read from the arena's memory).
    pub fn read_global(&self, name: &str) -> Result<Vec<u8>> {
        if let Some((g, memory, offset)) = self.arena_global(name)? {
            let mut value = vec![0; g.size];
            memory
                .read_atomic(offset, &mut value)
                .map_err(Error::syscall(format!("__arena global {name}: reading")))?;
            return Ok(value);
        }
        let (g, map) = self.global_map(name)?;
        let value = map.lookup(&0u32.to_ne_bytes(), 0)?.ok_or_else(|| {
            Error::InvalidArgument(format!("data map {} has no element 0", map.name()))
        })?;
        Ok(value[g.offset..g.offset + g.size].to_vec())
    }

    /// Changes a global variable in the live map memory that programs
    /// read. Variables of `.rodata` are frozen and refuse.
    pub fn write_global(&self, name: &str, value: &[u8]) -> Result<()> {
        if let Some((g, memory, offset)) = self.arena_global(name)? {
            check_size(&g, value.len())?;
            return memory
                .write_atomic(offset, value)
                .map_err(Error::syscall(format!("__arena global {name}: writing")));
        }
        let (g, map) = self.global_map(name)?;
        check_size(&g, value.len())?;
        let memory = map.memory()?;
        memory
            .write(g.offset, value)
            .map_err(Error::syscall(format!("global variable {name}: writing")))
    }
}
