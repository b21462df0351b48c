//! An opened, not yet loaded object, and its configuration.

use std::path::{Path, PathBuf};

use oxbpf_elf_bpf::{MapDef, Object as ElfObject, Program as ElfProgram};
use oxbpf_plan::Plan;
use oxbpf_syscalls::{AttachType, MapType, ProgType};

use crate::error::{Error, Result};
use crate::object::Object;
use crate::planner::Mode;
use crate::target::Target;

/// A BPF object read from its ELF file and open for configuration; nothing
/// is in the kernel yet.
///
/// Configure programs ([`OpenObject::program_mut`]) and maps
/// ([`OpenObject::map_mut`]), look at what loading would do
/// ([`OpenObject::plan`]), then [`OpenObject::load`].
#[derive(Debug)]
pub struct OpenObject {
    pub(crate) name: String,
    pub(crate) elf: ElfObject,
    pub(crate) programs: Vec<ProgramConfig>,
    pub(crate) maps: Vec<MapConfig>,
    pub(crate) pin_root: PathBuf,
    pub(crate) core_btf: Option<PathBuf>,
    pub(crate) btf_features: Option<oxbpf_btf::BtfFeatures>,
    pub(crate) kconfig: Option<oxbpf_syscalls::KernelConfig>,
    /// Write every data section's image at load, even one of zeros
    /// (which the kernel's zeroed map already holds; `.bss` too): a light
    /// skeleton sets them in the loader's blob before load.
    pub(crate) write_zero_data: bool,
}

/// Where maps pinned by name (`LIBBPF_PIN_BY_NAME`) go unless the user
/// chooses another directory.
pub const DEFAULT_PIN_ROOT: &str = "/sys/fs/bpf";

/// User overrides of a program, parallel to the ELF object's programs.
#[derive(Clone, Debug)]
pub(crate) struct ProgramConfig {
    pub(crate) prog_type: Option<ProgType>,
    pub(crate) expected_attach_type: Option<Option<AttachType>>,
    pub(crate) autoload: bool,
}

/// User overrides of a map, parallel to the ELF object's maps.
#[derive(Clone, Debug, Default)]
pub(crate) struct MapConfig {
    pub(crate) max_entries: Option<u32>,
    pub(crate) value_size: Option<u32>,
}

impl OpenObject {
    /// Reads and parses an object file.
    pub fn open(path: impl AsRef<Path>) -> Result<OpenObject> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        OpenObject::from_bytes(&name, &bytes)
    }

    /// Parses an object from memory; `name` names it in messages and plans.
    pub fn from_bytes(name: &str, bytes: &[u8]) -> Result<OpenObject> {
        let elf = ElfObject::parse(bytes).map_err(|source| Error::Parse {
            object: name.to_owned(),
            source: Box::new(source),
        })?;
        let programs = elf
            .programs
            .iter()
            .map(|p| ProgramConfig {
                prog_type: None,
                expected_attach_type: None,
                autoload: p.autoload,
            })
            .collect();
        let maps = vec![MapConfig::default(); elf.maps.len()];
        Ok(OpenObject {
            name: name.to_owned(),
            elf,
            programs,
            maps,
            pin_root: DEFAULT_PIN_ROOT.into(),
            core_btf: None,
            btf_features: None,
            kconfig: None,
            write_zero_data: false,
        })
    }

    /// The object's name (its file name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The parsed ELF object, for inspection.
    pub fn elf(&self) -> &ElfObject {
        &self.elf
    }

    /// Sets the directory (on a bpffs) where maps pinned by name are
    /// looked up and pinned; [`DEFAULT_PIN_ROOT`] unless set.
    pub fn set_pin_root(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.pin_root = dir.into();
        self
    }

    /// Resolves CO-RE relocations against the BTF in `path` instead of the
    /// running kernel's (e.g. a btfhub file for a kernel without BTF).
    ///
    /// Generated loaders ([`OpenObject::loader_plan`]) then relocate when
    /// they are generated, against this file, instead of leaving the
    /// relocations to the kernel they run on.
    pub fn set_core_btf(&mut self, path: impl Into<PathBuf>) -> &mut Self {
        self.core_btf = Some(path.into());
        self
    }

    /// Plans for a kernel whose BTF loader accepts only `features` instead
    /// of probing the running one: the object's BTF is sanitized down to
    /// them. For testing what an older kernel will get, and for targets
    /// declared rather than probed.
    pub fn assume_btf_features(&mut self, features: oxbpf_btf::BtfFeatures) -> &mut Self {
        self.btf_features = Some(features);
        self
    }

    /// Plans for a kernel built with `config` instead of reading the
    /// running kernel's (`/proc/config.gz`, `/boot/config-*`): the
    /// `.kconfig` map of a live load holds its values. A generated loader
    /// ignores it: its runtime reads the configuration of the kernel it
    /// runs on.
    pub fn assume_kconfig(&mut self, config: oxbpf_syscalls::KernelConfig) -> &mut Self {
        self.kconfig = Some(config);
        self
    }

    /// The target the plans of this object are built for.
    pub(crate) fn target(&self) -> Target {
        let mut target = Target::live_with(self.core_btf.as_deref(), self.btf_features);
        if let Some(config) = &self.kconfig {
            target.set_kconfig(config.clone());
        }
        target
    }

    /// The programs, in the order of the object file.
    pub fn programs(&self) -> impl ExactSizeIterator<Item = OpenProgram<'_>> {
        self.elf
            .programs
            .iter()
            .zip(&self.programs)
            .map(|(elf, config)| OpenProgram { elf, config })
    }

    /// The program named `name`.
    pub fn program(&self, name: &str) -> Result<OpenProgram<'_>> {
        self.programs()
            .find(|p| p.name() == name)
            .ok_or_else(|| not_found("program", name))
    }

    /// The program named `name`, to configure it.
    pub fn program_mut(&mut self, name: &str) -> Result<OpenProgramMut<'_>> {
        let i = self
            .elf
            .programs
            .iter()
            .position(|p| p.name() == name)
            .ok_or_else(|| not_found("program", name))?;
        Ok(OpenProgramMut {
            elf: &self.elf.programs[i],
            config: &mut self.programs[i],
        })
    }

    /// The maps, in the order of the object file.
    pub fn maps(&self) -> impl ExactSizeIterator<Item = OpenMap<'_>> {
        self.elf
            .maps
            .iter()
            .zip(&self.maps)
            .map(|(def, config)| OpenMap { def, config })
    }

    /// The map named `name`, to configure it.
    pub fn map_mut(&mut self, name: &str) -> Result<OpenMapMut<'_>> {
        let i = self
            .elf
            .maps
            .iter()
            .position(|m| m.name == name)
            .ok_or_else(|| not_found("map", name))?;
        Ok(OpenMapMut {
            def: &self.elf.maps[i],
            config: &mut self.maps[i],
        })
    }

    /// The load plan for the running kernel: what [`OpenObject::load`]
    /// will ask the kernel, in order. Reads kernel facts (possible CPUs,
    /// vmlinux BTF when a program needs it) but creates nothing.
    pub fn plan(&self) -> Result<Plan> {
        crate::planner::build(self, &self.target(), Mode::Live)
    }

    /// The load plan a generated loader of this object executes
    /// ([`crate::gen_loader::generate`] compiles it; `oxbpf gen loader`
    /// writes it): like [`OpenObject::plan`], but what depends on the
    /// kernel the loader will run on is left to that kernel. Its CO-RE
    /// relocations are handed to the kernel (`core_relos`, Linux 5.17),
    /// which applies them against its own BTF, unless a CO-RE BTF file is
    /// set ([`OpenObject::set_core_btf`]); the `.kconfig` update carries
    /// the layout of the kconfig externs and zeros, and the light-skeleton
    /// runtime writes the running kernel's values in before the loader
    /// runs.
    pub fn loader_plan(&self) -> Result<Plan> {
        crate::planner::build(self, &self.target(), Mode::Loader)
    }

    /// Loads the object into the running kernel: builds the plan and runs
    /// it with the live executor. On failure, every kernel object created
    /// so far is closed before the error returns.
    pub fn load(self) -> Result<Object> {
        let target = self.target();
        let (plan, layout) = crate::planner::build_with_layout(&self, &target, Mode::Live)?;
        let executed = crate::exec::run(&plan, &target)?;
        Object::new(self, &layout, executed)
    }
}

impl OpenObject {
    /// Loads the object through a generated loader instead of making the
    /// `bpf()` calls itself: builds the plan a loader executes
    /// ([`OpenObject::loader_plan`]), compiles it into a loader program
    /// ([`crate::gen_loader`]) and runs it with the light-skeleton runtime
    /// ([`crate::LightSkeleton`]), which fills in the kconfig values; the
    /// kernel applies the CO-RE relocations. The result is the same
    /// [`Object`] as [`OpenObject::load`]'s; on failure, everything
    /// created is closed.
    pub fn load_via_loader(self) -> Result<Object> {
        let target = self.target();
        let (plan, layout) = crate::planner::build_with_layout(&self, &target, Mode::Loader)?;
        let loader = oxbpf_gen_loader::generate(&plan, &oxbpf_gen_loader::GenOptions::default())?;
        let executed = crate::lskel::run(&loader, Some(&plan))?;
        Object::new(self, &layout, executed)
    }
}

fn not_found(kind: &'static str, name: &str) -> Error {
    Error::NotFound {
        kind,
        name: name.to_owned(),
    }
}

/// A program of an [`OpenObject`].
#[derive(Clone, Copy, Debug)]
pub struct OpenProgram<'a> {
    pub(crate) elf: &'a ElfProgram,
    pub(crate) config: &'a ProgramConfig,
}

impl<'a> OpenProgram<'a> {
    /// Name (the function's symbol).
    pub fn name(&self) -> &'a str {
        self.elf.name()
    }

    /// ELF section name.
    pub fn section(&self) -> &'a str {
        self.elf.section()
    }

    /// The program type it will load as: the user's choice, else the
    /// section name's; `None` if neither says.
    pub fn prog_type(&self) -> Option<ProgType> {
        self.config.prog_type.or(self.elf.kind.map(|k| k.prog_type))
    }

    /// The expected attach type it will load with.
    pub fn expected_attach_type(&self) -> Option<AttachType> {
        match self.config.expected_attach_type {
            Some(choice) => choice,
            None => self.elf.kind.and_then(|k| k.attach_type),
        }
    }

    /// Whether the user set the expected attach type (even to none).
    pub(crate) fn attach_type_chosen(&self) -> bool {
        self.config.expected_attach_type.is_some()
    }

    /// Whether [`OpenObject::load`] loads it.
    pub fn autoload(&self) -> bool {
        self.config.autoload
    }

    /// The parsed program (instructions, relocations).
    pub fn elf(&self) -> &'a ElfProgram {
        self.elf
    }
}

/// A program of an [`OpenObject`], to configure.
#[derive(Debug)]
pub struct OpenProgramMut<'a> {
    elf: &'a ElfProgram,
    config: &'a mut ProgramConfig,
}

impl OpenProgramMut<'_> {
    /// Sets the program type (needed when the section name is not a known
    /// one, and overrides it otherwise).
    pub fn set_prog_type(&mut self, prog_type: ProgType) -> &mut Self {
        self.config.prog_type = Some(prog_type);
        self
    }

    /// Sets (or, with `None`, clears) the expected attach type.
    pub fn set_expected_attach_type(&mut self, attach_type: Option<AttachType>) -> &mut Self {
        self.config.expected_attach_type = Some(attach_type);
        self
    }

    /// Chooses whether the program is loaded.
    pub fn set_autoload(&mut self, autoload: bool) -> &mut Self {
        self.config.autoload = autoload;
        self
    }

    /// The program as configured so far.
    pub fn as_ref(&self) -> OpenProgram<'_> {
        OpenProgram {
            elf: self.elf,
            config: self.config,
        }
    }
}

/// A map of an [`OpenObject`].
#[derive(Clone, Copy, Debug)]
pub struct OpenMap<'a> {
    pub(crate) def: &'a MapDef,
    pub(crate) config: &'a MapConfig,
}

impl<'a> OpenMap<'a> {
    /// Name.
    pub fn name(&self) -> &'a str {
        &self.def.name
    }

    /// Map type.
    pub fn map_type(&self) -> MapType {
        self.def.map_type
    }

    /// Key size in bytes.
    pub fn key_size(&self) -> u32 {
        self.def.key_size
    }

    /// Value size in bytes, as configured.
    pub fn value_size(&self) -> u32 {
        self.config.value_size.unwrap_or(self.def.value_size)
    }

    /// Maximum entries, as configured.
    pub fn max_entries(&self) -> u32 {
        self.config.max_entries.unwrap_or(self.def.max_entries)
    }

    /// The definition as the object declares it.
    pub fn def(&self) -> &'a MapDef {
        self.def
    }
}

/// A map of an [`OpenObject`], to configure.
#[derive(Debug)]
pub struct OpenMapMut<'a> {
    def: &'a MapDef,
    config: &'a mut MapConfig,
}

impl OpenMapMut<'_> {
    /// Sets the maximum number of entries.
    pub fn set_max_entries(&mut self, max_entries: u32) -> &mut Self {
        self.config.max_entries = Some(max_entries);
        self
    }

    /// Sets the value size (objects often leave stack-trace maps unsized).
    /// A map whose value has a BTF type then loads without BTF key/value
    /// types, since they would no longer describe it.
    pub fn set_value_size(&mut self, value_size: u32) -> &mut Self {
        self.config.value_size = Some(value_size);
        self
    }

    /// The map as configured so far.
    pub fn as_ref(&self) -> OpenMap<'_> {
        OpenMap {
            def: self.def,
            config: self.config,
        }
    }
}
