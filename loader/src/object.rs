//! A loaded object: its maps and programs in the kernel.

use std::path::Path;

use oxbpf_syscalls::BtfFd;

use crate::error::{Error, Result};
use crate::exec::{Created, Executed};
use crate::map::Map;
use crate::open::OpenObject;
use crate::planner::{Layout, data_map_name};
use crate::program::Program;

/// An object whose maps and programs are in the kernel. Dropping it closes
/// every fd it holds; kernel objects then live on only if something else
/// holds them (a pin, an attached link, a program using a map).
#[derive(Debug)]
pub struct Object {
    name: String,
    pub(crate) globals: Vec<crate::globals::Global>,
    pub(crate) struct_ops: Vec<crate::struct_ops::Named>,
    /// The arena map holding the `__arena` globals, and their offset in it.
    pub(crate) arena_globals: Option<(String, u64)>,
    maps: Vec<Map>,
    programs: Vec<Program>,
    btf: Option<BtfFd>,
}

impl Object {
    /// Assembles the handles from what the executor created, by the plan's
    /// layout.
    pub(crate) fn new(open: OpenObject, layout: &Layout, mut done: Executed) -> Result<Object> {
        let mut take_map = |r, name: String| match done.take(r) {
            Some(Created::Map(fd)) => Ok(Map {
                name,
                fd,
                arena: None,
            }),
            _ => Err(internal(&name)),
        };
        let mut maps = Vec::new();
        for (def, &r) in open.elf.maps.iter().zip(&layout.maps) {
            maps.push(take_map(r, def.name.clone())?);
        }
        for (section, &r) in open.elf.data.iter().zip(&layout.data) {
            maps.push(take_map(r, data_map_name(&open.name, &section.name))?);
        }
        if let Some(r) = layout.kconfig {
            maps.push(take_map(
                r,
                data_map_name(&open.name, oxbpf_elf_bpf::KCONFIG_SECTION),
            )?);
        }
        for &(i, r) in &layout.arenas {
            let Some(Created::Arena(memory)) = done.take(r) else {
                return Err(internal(&open.elf.maps[i].name));
            };
            maps[i].arena = Some(memory);
        }
        let mut programs = Vec::new();
        for ((prog, r), &expected_attach_type) in open
            .programs()
            .zip(&layout.programs)
            .zip(&layout.attach_types)
        {
            let Some(r) = *r else { continue };
            let Some(Created::Prog(fd)) = done.take(r) else {
                return Err(internal(prog.name()));
            };
            programs.push(Program {
                name: prog.name().to_owned(),
                section: prog.section().to_owned(),
                attach_target: prog.elf().attach_target.clone(),
                section_def: prog.elf().kind,
                prog_type: prog.prog_type().ok_or_else(|| internal(prog.name()))?,
                expected_attach_type,
                fd,
            });
        }
        let btf = match layout.btf.and_then(|r| done.take(r)) {
            Some(Created::Btf(fd)) => Some(fd),
            _ => None,
        };
        let struct_ops = layout
            .struct_ops
            .iter()
            .map(|p| crate::struct_ops::Named {
                name: open.elf.maps[p.map].name.clone(),
                value: p.value.clone(),
                progs: p.progs.clone(),
            })
            .collect();
        let arena_globals = layout
            .arena_globals
            .map(|(i, base)| (open.elf.maps[i].name.clone(), base));
        Ok(Object {
            struct_ops,
            arena_globals,
            globals: crate::globals::collect(&open.elf),
            name: open.name,
            maps,
            programs,
            btf,
        })
    }

    /// Assembles an object from handles the light-skeleton runtime made
    /// from a loader file alone (no ELF object: no global variable table).
    pub(crate) fn from_parts(
        name: String,
        maps: Vec<Map>,
        programs: Vec<Program>,
        btf: Option<BtfFd>,
    ) -> Object {
        Object {
            name,
            globals: Vec::new(),
            struct_ops: Vec::new(),
            arena_globals: None,
            maps,
            programs,
            btf,
        }
    }

    /// The object's name (its file name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The maps: those the object defines, then one per global data section,
    /// then the `.kconfig` map if the object has kconfig externs.
    pub fn maps(&self) -> impl ExactSizeIterator<Item = &Map> {
        self.maps.iter()
    }

    /// The map named `name`.
    pub fn map(&self, name: &str) -> Result<&Map> {
        self.maps
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| not_found("map", name))
    }

    /// Takes the map named `name` out of the object, to keep it after the
    /// object is dropped.
    pub fn take_map(&mut self, name: &str) -> Result<Map> {
        let i = self
            .maps
            .iter()
            .position(|m| m.name == name)
            .ok_or_else(|| not_found("map", name))?;
        Ok(self.maps.remove(i))
    }

    /// The loaded programs (those with autoload off are not here).
    pub fn programs(&self) -> impl ExactSizeIterator<Item = &Program> {
        self.programs.iter()
    }

    /// The program named `name`.
    pub fn program(&self, name: &str) -> Result<&Program> {
        self.programs
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| not_found("program", name))
    }

    /// Takes the program named `name` out of the object.
    pub fn take_program(&mut self, name: &str) -> Result<Program> {
        let i = self
            .programs
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| not_found("program", name))?;
        Ok(self.programs.remove(i))
    }

    /// The object's BTF in the kernel, if it had any.
    pub fn btf_fd(&self) -> Option<&BtfFd> {
        self.btf.as_ref()
    }

    /// Pins every map at `dir/maps/<name>` and every program at
    /// `dir/progs/<name>`, creating the two directories. `dir` must be on a
    /// bpffs. If a pin fails, the pins made so far are removed.
    pub fn pin_all(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        let mut made: Vec<std::path::PathBuf> = Vec::new();
        let result = (|| {
            for sub in ["maps", "progs"] {
                let path = dir.join(sub);
                std::fs::create_dir_all(&path).map_err(|source| Error::Io { path, source })?;
            }
            for map in &self.maps {
                let path = dir.join("maps").join(&map.name);
                map.pin(&path)?;
                made.push(path);
            }
            for prog in &self.programs {
                let path = dir.join("progs").join(&prog.name);
                prog.pin(&path)?;
                made.push(path);
            }
            Ok(())
        })();
        if result.is_err() {
            for path in made {
                let _ = std::fs::remove_file(path);
            }
        }
        result
    }
}

fn not_found(kind: &'static str, name: &str) -> Error {
    Error::NotFound {
        kind,
        name: name.to_owned(),
    }
}

fn internal(name: &str) -> Error {
    Error::InvalidArgument(format!(
        "internal error: the load plan produced no kernel object for {name}"
    ))
}
