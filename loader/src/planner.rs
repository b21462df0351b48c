//! Building the load plan of an opened object: the decision half of
//! loading. Each step is one function; none of them makes a `bpf()` call.

use oxbpf_asm::Insn;
use oxbpf_btf::{Btf, BtfExt, Kind, Type};
use std::path::Path;

use std::collections::HashMap;

use oxbpf_elf_bpf::{
    DataKind, ExternKind, Function, KCONFIG_SECTION, MapDef, MapInit, Pinning, RelocTarget,
    Relocation, StructOps,
};
use oxbpf_plan::{
    CoreRelo, CoreReloKind, CreateMap, FindBtfId, FindKsym, Freeze, FuncInfo, InsnIdx, LineInfo,
    LoadBtf, LoadProg, MapArena, Op, Patch, PatchKind, Pin, Plan, Poisoned, Produces, Ref,
    ReuseMap, SetFd, StructOpsValue, UpdateElem,
};
use oxbpf_reloc::{CandidateCache, CoreRelocator, Placed, link_program};
use oxbpf_syscalls::{AttachType, MapType, ProgType};

use crate::error::{Error, Result};
use crate::open::OpenObject;
use crate::target::Target;

/// `BPF_F_RDONLY_PROG`: programs may only read the map.
const BPF_F_RDONLY_PROG: u32 = 1 << 7;
/// `BPF_F_MMAPABLE`: the map's value can be mmapped.
const BPF_F_MMAPABLE: u32 = 1 << 10;
/// `BPF_F_LINK`: a struct_ops map registered through a link.
const BPF_F_LINK: u32 = 1 << 13;
/// `BPF_F_SLEEPABLE` program flag.
const BPF_F_SLEEPABLE: u32 = 1 << 4;
/// `BPF_F_XDP_HAS_FRAGS` program flag.
const BPF_F_XDP_HAS_FRAGS: u32 = 1 << 5;

/// What the plan produced for each part of the object, so that the loaded
/// object can name its kernel objects.
#[derive(Debug, Default)]
pub(crate) struct Layout {
    /// Per object map (same order as the ELF object's maps).
    pub(crate) maps: Vec<Ref>,
    /// Per data section (same order as the ELF object's data sections).
    pub(crate) data: Vec<Ref>,
    /// Per program: `None` when not loaded.
    pub(crate) programs: Vec<Option<Ref>>,
    /// Per program: the expected attach type it loads with (the planner
    /// may choose one the section name does not give: USDT programs use
    /// uprobe_multi links where the kernel has them).
    pub(crate) attach_types: Vec<Option<AttachType>>,
    /// The object's BTF, if loaded.
    pub(crate) btf: Option<Ref>,
    /// The `.kconfig` map, if the object has kconfig externs.
    pub(crate) kconfig: Option<Ref>,
    /// struct_ops maps whose value is written when they are attached.
    pub(crate) struct_ops: Vec<crate::struct_ops::Pending>,
    /// Per arena map (index into the ELF object's maps): its `arena_map`
    /// operation, which leaves the mapping.
    pub(crate) arenas: Vec<(usize, Ref)>,
    /// Where the `__arena` globals live: the arena map (index into the
    /// ELF object's maps) and the byte offset of their image in it.
    pub(crate) arena_globals: Option<(usize, u64)>,
}

/// Who the plan is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The live executor, on the kernel the target describes: CO-RE
    /// relocations applied and kconfig values computed here.
    Live,
    /// A generated loader, run on kernels not known yet: CO-RE relocations
    /// left to the kernel (`core_relos`, unless the object names a CO-RE
    /// BTF file to relocate against), kconfig values left to the runtime
    /// (the `.kconfig` update carries the layout and zeros).
    Loader,
}

struct Builder<'a> {
    obj: &'a OpenObject,
    target: &'a Target,
    mode: Mode,
    btf_ext: Option<BtfExt<'a>>,
    plan: Plan,
    layout: Layout,
    /// Lookups of kernel types and symbols already in the plan, so that
    /// each extern is resolved once per object.
    lookups: HashMap<(String, LookupKind), Ref>,
    /// CO-RE candidates, shared by all programs of the object.
    core_cache: CandidateCache,
    /// struct_ops programs: the kernel struct they implement a member of
    /// (its `btf_find`) and that member's index.
    struct_ops_progs: HashMap<String, (Ref, u32)>,
    /// What the target's BTF loader accepts.
    btf_features: oxbpf_btf::BtfFeatures,
    /// struct_ops values to write once programs exist.
    struct_ops_values: Vec<crate::struct_ops::Pending>,
}

/// What an extern lookup asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum LookupKind {
    Var,
    Func,
    Struct,
    Address,
}

/// Builds the plan of `obj` for `target`.
pub(crate) fn build(obj: &OpenObject, target: &Target, mode: Mode) -> Result<Plan> {
    build_with_layout(obj, target, mode).map(|(plan, _)| plan)
}

/// Builds the plan and says which `Ref` stands for which map and program.
pub(crate) fn build_with_layout(
    obj: &OpenObject,
    target: &Target,
    mode: Mode,
) -> Result<(Plan, Layout)> {
    let elf = &obj.elf;
    if elf.endian != host_endian() {
        return Err(Error::Unsupported {
            what: format!(
                "loading a {:?}-endian object on this {:?}-endian host",
                elf.endian,
                host_endian()
            ),
            site: obj.name.clone(),
        });
    }
    let btf_ext = match (&elf.btf, &elf.btf_ext) {
        (Some(btf), Some(ext)) => {
            Some(BtfExt::parse(ext, btf).map_err(Error::btf(format!("{}: .BTF.ext", obj.name)))?)
        }
        _ => None,
    };
    let mut b = Builder {
        obj,
        target,
        mode,
        btf_ext,
        plan: Plan::new(&obj.name),
        layout: Layout::default(),
        lookups: HashMap::new(),
        core_cache: CandidateCache::new(),
        struct_ops_progs: HashMap::new(),
        struct_ops_values: Vec::new(),
        btf_features: oxbpf_btf::BtfFeatures::all(),
    };
    b.load_btf()?;
    b.create_maps()?;
    b.create_data_maps()?;
    b.create_kconfig_map()?;
    b.map_arenas()?;
    b.load_programs()?;
    b.fill_initial_slots()?;
    b.plan.validate()?;
    Ok((b.plan, b.layout))
}

fn host_endian() -> oxbpf_elf_bpf::Endian {
    if cfg!(target_endian = "big") {
        oxbpf_elf_bpf::Endian::Big
    } else {
        oxbpf_elf_bpf::Endian::Little
    }
}

impl Builder<'_> {
    fn btf(&self) -> Option<&Btf<'static>> {
        self.obj.elf.btf.as_ref()
    }

    /// Step 1: the object's BTF, which maps and programs refer to.
    /// Kinds the target lacks are rewritten into forms it accepts (type
    /// ids unchanged); without FUNC support programs load without
    /// func_info/line_info, without VAR/DATASEC data maps without a BTF
    /// value type.
    fn load_btf(&mut self) -> Result<()> {
        let Some(btf) = self.btf() else { return Ok(()) };
        let features = self.target.btf_features();
        let missing = oxbpf_btf::needed_features(btf, &features);
        let data = if missing.is_empty() {
            btf.to_native_bytes().into_owned()
        } else {
            let names: Vec<&str> = missing.iter().map(|f| f.name()).collect();
            log::info!(target: "oxbpf::plan", "{}: BTF sanitized for a kernel without {}", self.obj.name, names.join(", "));
            oxbpf_btf::sanitize(btf, &features)
                .map_err(Error::btf(format!("{}: sanitizing BTF", self.obj.name)))?
        };
        self.btf_features = features;
        self.layout.btf = Some(self.plan.push(Op::LoadBtf(LoadBtf { data })));
        Ok(())
    }

    /// Step 2: the maps the object defines (inner map templates first).
    fn create_maps(&mut self) -> Result<()> {
        for (i, (def, config)) in self.obj.elf.maps.iter().zip(&self.obj.maps).enumerate() {
            let mut create = self.map_attrs(def)?;
            if let Some(max) = config.max_entries {
                create.max_entries = max;
            }
            if let Some(size) = config.value_size {
                if size != create.value_size {
                    create.value_size = size;
                    // The BTF value type no longer describes the value.
                    (create.btf, create.btf_key_type_id, create.btf_value_type_id) = (None, 0, 0);
                }
            }
            let pin_path = match def.pinning {
                Pinning::None => None,
                Pinning::ByName => Some(
                    self.obj
                        .pin_root
                        .join(&def.name)
                        .to_string_lossy()
                        .into_owned(),
                ),
            };
            if let Some(path) = &pin_path {
                if self.target.is_pinned(Path::new(path)) {
                    // Reuse what an earlier load pinned, if compatible.
                    let mut expect = create;
                    (expect.btf, expect.btf_key_type_id, expect.btf_value_type_id) = (None, 0, 0);
                    let r = self.plan.push(Op::ReuseMap(ReuseMap {
                        path: path.clone(),
                        expect,
                    }));
                    self.layout.maps.push(r);
                    continue;
                }
            }
            if let Some(inner) = &def.inner {
                let inner_attrs = self.map_attrs(inner)?;
                create.inner_map = Some(self.plan.push(Op::CreateMap(inner_attrs)));
            }
            if let Some(ops) = &def.struct_ops {
                self.plan_struct_ops(i, &def.name, ops, &mut create)?;
            }
            let r = self.plan.push(Op::CreateMap(create));
            debug_assert_eq!(self.layout.maps.len(), i);
            self.layout.maps.push(r);
            if let Some(path) = pin_path {
                self.plan.push(Op::Pin(Pin { object: r, path }));
            }
        }
        Ok(())
    }

    /// A struct_ops map: its value laid out for the target kernel, its
    /// programs bound to the members they implement.
    fn plan_struct_ops(
        &mut self,
        index: usize,
        name: &str,
        ops: &StructOps,
        create: &mut CreateMap,
    ) -> Result<()> {
        let local = self.btf().ok_or_else(|| Error::StructOps {
            map: name.to_owned(),
            reason: "struct_ops maps need the object's BTF".into(),
        })?;
        let layout = crate::struct_ops::layout(name, ops, local, self.target.vmlinux()?)?;
        create.value_size = layout.value.len() as u32;
        create.btf_vmlinux_value_type =
            Some(self.lookup(&layout.value_type, LookupKind::Struct, false));
        // The kernel wants a BTF object with the vmlinux value type id,
        // though it describes nothing of the map: the object's.
        (create.btf, create.btf_key_type_id, create.btf_value_type_id) = (self.layout.btf, 0, 0);
        if ops.link {
            create.map_flags |= BPF_F_LINK;
        }
        let kernel_struct = self.lookup(&ops.type_name, LookupKind::Struct, false);
        let mut slots = Vec::new();
        for (at, prog, member) in layout.progs {
            match self.struct_ops_progs.get(&prog) {
                Some(&(s, m)) if (s, m) != (kernel_struct, member) => {
                    return Err(Error::StructOps {
                        map: name.to_owned(),
                        reason: format!(
                            "program {prog} implements two different struct_ops members"
                        ),
                    });
                }
                _ => {
                    self.struct_ops_progs
                        .insert(prog.clone(), (kernel_struct, member));
                }
            }
            slots.push((at, prog));
        }
        self.struct_ops_values.push(crate::struct_ops::Pending {
            map: index,
            value: layout.value,
            progs: slots,
        });
        Ok(())
    }

    /// The `BPF_MAP_CREATE` attributes of a definition, before user overrides.
    fn map_attrs(&self, def: &MapDef) -> Result<CreateMap> {
        if def.map_type == MapType::UNSPEC {
            return Err(Error::InvalidArgument(format!(
                "map {}: no map type",
                def.name
            )));
        }
        let mut create = CreateMap::new(
            &def.name,
            def.map_type,
            def.key_size,
            def.value_size,
            def.max_entries,
        );
        create.map_flags = def.map_flags;
        create.numa_node = def.numa_node;
        create.map_extra = def.map_extra;
        if def.map_type == MapType::PERF_EVENT_ARRAY {
            // Perf event arrays hold one perf event fd per CPU.
            if create.max_entries == 0 {
                create.max_entries = self.target.possible_cpus()?;
            }
            if create.key_size == 0 {
                create.key_size = 4;
            }
            if create.value_size == 0 {
                create.value_size = 4;
            }
        }
        match (self.layout.btf, def.btf_key_type, def.btf_value_type) {
            (Some(btf), Some(key), Some(value)) if map_type_takes_btf_key_value(def.map_type) => {
                (create.btf, create.btf_key_type_id, create.btf_value_type_id) =
                    (Some(btf), key.0, value.0);
            }
            // A bloom filter has no key; the kernel checks its value type
            // alone (and refuses a key type).
            (Some(btf), None, Some(value)) if def.map_type == MapType::BLOOM_FILTER => {
                (create.btf, create.btf_value_type_id) = (Some(btf), value.0);
            }
            _ => {}
        }
        Ok(create)
    }

    /// Step 3: one array map per global data section, holding its image;
    /// `.rodata` frozen once written.
    fn create_data_maps(&mut self) -> Result<()> {
        for section in &self.obj.elf.data {
            let size = u32::try_from(section.bytes.len()).map_err(|_| {
                Error::InvalidArgument(format!("data section {} is too large", section.name))
            })?;
            let name = data_map_name(&self.obj.name, &section.name);
            let mut create = CreateMap::new(&name, MapType::ARRAY, 4, size.max(1), 1);
            create.map_flags = BPF_F_MMAPABLE;
            if section.kind == DataKind::Rodata {
                create.map_flags |= BPF_F_RDONLY_PROG;
            }
            if let (Some(btf_ref), Some(btf), true) =
                (self.layout.btf, self.btf(), self.btf_features.var_datasec)
            {
                let datasec = btf
                    .find_by_name_kind(&section.name, Kind::Datasec)
                    .map_err(Error::btf(format!(
                        "{}: DATASEC {}",
                        self.obj.name, section.name
                    )))?;
                if let Some(id) = datasec {
                    (create.btf, create.btf_value_type_id) = (Some(btf_ref), id.0);
                }
            }
            let map = self.plan.push(Op::CreateMap(create));
            // A section of zeros (every `.bss`, unless set before load) is
            // left to the kernel's zeroed map, except for a light skeleton,
            // which sets every section, `.bss` too, in its loader's blob.
            if self.obj.write_zero_data || section.bytes.iter().any(|&b| b != 0) {
                let mut value = section.bytes.clone();
                value.resize(size.max(1) as usize, 0);
                self.plan.push(Op::UpdateElem(UpdateElem::new(
                    map,
                    0u32.to_ne_bytes().to_vec(),
                    value,
                    0,
                )));
            }
            if section.kind == DataKind::Rodata {
                self.plan.push(Op::Freeze(Freeze { map }));
            }
            self.layout.data.push(map);
        }
        Ok(())
    }

    /// Step 4b: every arena mapped into the loading process (fixing the
    /// user address its pointers use, which program loads need), the
    /// `__arena` globals' image written into the object's arena: at its
    /// end, as libbpf lays it out, leaving the first pages to
    /// `bpf_arena_alloc_pages`.
    fn map_arenas(&mut self) -> Result<()> {
        let arenas: Vec<usize> = (0..self.obj.elf.maps.len())
            .filter(|&i| self.obj.elf.maps[i].map_type == MapType::ARENA)
            .collect();
        let globals = self.obj.elf.arena.as_ref();
        let mut placed = None;
        if let Some(section) = globals {
            let &[map] = arenas.as_slice() else {
                return Err(Error::InvalidArgument(format!(
                    "{}: __arena globals ({}) need exactly one BPF_MAP_TYPE_ARENA map, the object has {}",
                    self.obj.name,
                    section.name,
                    arenas.len()
                )));
            };
            let page = oxbpf_syscalls::page_size() as u64;
            let pages = self.obj.maps[map]
                .max_entries
                .unwrap_or(self.obj.elf.maps[map].max_entries);
            let size = u64::from(pages) * page;
            let need = (section.bytes.len() as u64).next_multiple_of(page);
            if need > size {
                return Err(Error::InvalidArgument(format!(
                    "{}: the __arena globals take {} bytes, more than arena {} ({pages} pages)",
                    self.obj.name,
                    section.bytes.len(),
                    self.obj.elf.maps[map].name
                )));
            }
            placed = Some((map, size - need));
        }
        for map in arenas {
            let (offset, data) = match placed {
                Some((m, offset)) if m == map => {
                    (offset, globals.map(|g| g.bytes.clone()).unwrap_or_default())
                }
                _ => (0, Vec::new()),
            };
            let r = self.plan.push(Op::MapArena(MapArena {
                map: self.layout.maps[map],
                offset,
                data,
            }));
            self.layout.arenas.push((map, r));
        }
        self.layout.arena_globals = placed;
        Ok(())
    }

    /// Step 4: the `.kconfig` map, holding the target's values of the
    /// object's kconfig externs (for a generated loader, zeros and the
    /// layout the runtime fills on the target); frozen once written.
    fn create_kconfig_map(&mut self) -> Result<()> {
        let externs = &self.obj.elf.externs;
        if externs.kconfig_size == 0 {
            return Ok(());
        }
        let btf = self
            .btf()
            .ok_or_else(|| Error::InvalidArgument("kconfig externs without BTF".into()))?;
        let vars = crate::kconfig::layout(btf, externs)?;
        let size = externs.kconfig_size as usize;
        let value = match self.mode {
            Mode::Live => crate::kconfig::image(&vars, size, self.target)?,
            Mode::Loader => vec![0; size],
        };
        let name = data_map_name(&self.obj.name, KCONFIG_SECTION);
        let mut create = CreateMap::new(&name, MapType::ARRAY, 4, externs.kconfig_size, 1);
        create.map_flags = BPF_F_MMAPABLE | BPF_F_RDONLY_PROG;
        if let (Some(btf_ref), true) = (self.layout.btf, self.btf_features.var_datasec) {
            let datasec = btf
                .find_by_name_kind(KCONFIG_SECTION, Kind::Datasec)
                .map_err(Error::btf(format!("{}: DATASEC .kconfig", self.obj.name)))?;
            if let Some(id) = datasec {
                (create.btf, create.btf_value_type_id) = (Some(btf_ref), id.0);
            }
        }
        let map = self.plan.push(Op::CreateMap(create));
        let mut update = UpdateElem::new(map, 0u32.to_ne_bytes().to_vec(), value, 0);
        update.kconfig = vars;
        self.plan.push(Op::UpdateElem(update));
        self.plan.push(Op::Freeze(Freeze { map }));
        self.layout.kconfig = Some(map);
        Ok(())
    }

    /// Step 6: the initial slots of map-in-maps and prog arrays
    /// (`.values = { ... }`), once every map and program exists.
    fn fill_initial_slots(&mut self) -> Result<()> {
        let obj = self.obj;
        for pending in std::mem::take(&mut self.struct_ops_values) {
            let crate::struct_ops::Pending {
                map: index,
                value,
                progs: slots,
            } = pending;
            let def = &obj.elf.maps[index];
            let mut progs = Vec::new();
            for (at, name) in &slots {
                let loaded = obj
                    .elf
                    .programs
                    .iter()
                    .position(|p| p.name() == name)
                    .and_then(|i| self.layout.programs[i]);
                let r = loaded.ok_or_else(|| Error::StructOps {
                    map: def.name.clone(),
                    reason: format!("its program {name} is not loaded"),
                })?;
                progs.push((*at, r));
            }
            // By offset in the kernel's struct, whose member order may
            // differ from the object's (as a generated loader decodes it).
            progs.sort_unstable();
            if def.struct_ops.as_ref().is_some_and(|o| o.link) {
                // A link map takes its value now; the link registers it.
                self.plan.push(Op::StructOpsValue(StructOpsValue {
                    map: self.layout.maps[index],
                    value,
                    progs,
                }));
            } else {
                // Writing the value registers the struct: that is attaching,
                // done by `Object::attach_struct_ops`, not by loading.
                self.layout.struct_ops.push(crate::struct_ops::Pending {
                    map: index,
                    value,
                    progs: slots,
                });
            }
        }
        for (i, def) in obj.elf.maps.iter().enumerate() {
            let map = self.layout.maps[i];
            if matches!(self.plan.op(map), Some(Op::ReuseMap(_))) && !def.init.is_empty() {
                // A reused pinned map keeps the slots it has.
                continue;
            }
            for (slot, init) in &def.init {
                let (value, value_kind) = match init {
                    MapInit::Map(target) => (self.layout.maps[*target], Produces::Map),
                    MapInit::Program(name) => {
                        let index = obj.elf.programs.iter().position(|p| p.name() == name);
                        match index.and_then(|i| self.layout.programs[i]) {
                            Some(r) => (r, Produces::Prog),
                            None => {
                                log::warn!(
                                    target: "oxbpf::plan",
                                    "map {} slot {slot}: program {name} is not loaded, slot left empty",
                                    def.name
                                );
                                continue;
                            }
                        }
                    }
                };
                self.plan.push(Op::SetFd(SetFd {
                    map,
                    key: *slot,
                    value,
                    value_kind,
                }));
            }
        }
        Ok(())
    }

    /// A lookup of a kernel type or symbol, added to the plan once.
    fn lookup(&mut self, name: &str, kind: LookupKind, optional: bool) -> Ref {
        if let Some(&r) = self.lookups.get(&(name.to_owned(), kind)) {
            return r;
        }
        let op = match kind {
            LookupKind::Var => Op::FindBtfId(FindBtfId {
                name: name.to_owned(),
                kind: Kind::Var,
                optional,
            }),
            LookupKind::Func => Op::FindBtfId(FindBtfId {
                name: name.to_owned(),
                kind: Kind::Func,
                optional,
            }),
            LookupKind::Struct => Op::FindBtfId(FindBtfId {
                name: name.to_owned(),
                kind: Kind::Struct,
                optional,
            }),
            LookupKind::Address => Op::FindKsym(FindKsym {
                name: name.to_owned(),
                optional,
            }),
        };
        let r = self.plan.push(op);
        self.lookups.insert((name.to_owned(), kind), r);
        r
    }

    /// Step 5: the programs, with map references turned into patch points
    /// and their func_info and line_info.
    fn load_programs(&mut self) -> Result<()> {
        let obj = self.obj;
        let functions: Vec<&Function> = obj
            .elf
            .programs
            .iter()
            .map(|p| &p.function)
            .chain(&obj.elf.subprograms)
            .collect();
        for prog in obj.programs() {
            if !prog.autoload() {
                self.layout.programs.push(None);
                self.layout.attach_types.push(prog.expected_attach_type());
                continue;
            }
            let elf = prog.elf();
            let prog_type = prog.prog_type().ok_or_else(|| Error::UnknownSection {
                program: prog.name().to_owned(),
                section: prog.section().to_owned(),
            })?;
            let mut load = LoadProg::new(prog.name(), prog_type, &obj.elf.license);
            load.expected_attach_type = prog.expected_attach_type();
            if self.usdt_by_uprobe_multi(&prog) {
                // As libbpf: every site of a USDT probe in one link.
                load.expected_attach_type = Some(AttachType::TRACE_UPROBE_MULTI);
            }
            load.kern_version = obj.elf.kern_version.unwrap_or(0);
            if let Some(def) = elf.kind {
                if def.sleepable {
                    load.prog_flags |= BPF_F_SLEEPABLE;
                }
                if def.xdp_frags {
                    load.prog_flags |= BPF_F_XDP_HAS_FRAGS;
                }
                if prog_type == ProgType::STRUCT_OPS {
                    let &(kernel_struct, member) = self
                        .struct_ops_progs
                        .get(prog.name())
                        .ok_or_else(|| Error::AttachTarget {
                            program: prog.name().to_owned(),
                            reason: "no struct_ops map uses this struct_ops program".into(),
                        })?;
                    load.attach_btf = Some(kernel_struct);
                    load.expected_attach_type = Some(AttachType(member));
                } else if def.needs_btf_target && prog.prog_type() == Some(def.prog_type) {
                    let find = attach_btf_target(prog.name(), def.name, &elf.attach_target)?;
                    load.attach_btf = Some(self.plan.push(Op::FindBtfId(find)));
                }
            }
            let extra = self.exception_callback(prog.name(), &functions)?;
            let linked =
                link_program(&elf.function, &extra, &functions).map_err(|e| Error::Link {
                    program: prog.name().to_owned(),
                    source: Box::new(e),
                })?;
            load.insns = linked.insns;
            self.relocate_core(&linked.functions, &mut load)?;
            self.relocate(&linked.relocations, &mut load)?;
            if let (Some(btf), Some(ext), true) =
                (self.layout.btf, &self.btf_ext, self.btf_features.func)
            {
                load.btf = Some(btf);
                for placed in &linked.functions {
                    let (funcs, lines) = function_infos(ext, placed);
                    load.func_info.extend(funcs);
                    load.line_info.extend(lines);
                }
            }
            if !load.core_relos.is_empty()
                && (load.btf.is_none() || (load.func_info.is_empty() && load.line_info.is_empty()))
            {
                return Err(Error::Unsupported {
                    what: "handing CO-RE relocations to the kernel for a program loaded without \
                           BTF func_info or line_info (the kernel applies core_relos only with \
                           them; OpenObject::set_core_btf relocates when planning instead)"
                        .into(),
                    site: format!("program {}", load.name),
                });
            }
            self.layout.attach_types.push(load.expected_attach_type);
            let r = self.plan.push(Op::LoadProg(load));
            self.layout.programs.push(Some(r));
        }
        Ok(())
    }

    /// Whether USDT program `prog` loads for a uprobe_multi link: in live
    /// loads on kernels with the link type (6.6), unless the user chose
    /// an expected attach type. Generated loaders keep perf-event uprobes,
    /// which every kernel they may run on has.
    fn usdt_by_uprobe_multi(&self, prog: &crate::open::OpenProgram<'_>) -> bool {
        self.mode == Mode::Live
            && !prog.attach_type_chosen()
            && prog.expected_attach_type().is_none()
            && prog.elf().kind.is_some_and(|d| d.name.starts_with("usdt"))
            && self.target.has_uprobe_multi_link()
    }

    /// The exception callback of program `name`, if its BTF FUNC carries
    /// a `exception_callback:<function>` decl tag: the kernel finds the
    /// callback through that tag, so it must be linked in though nothing
    /// calls it.
    fn exception_callback(
        &self,
        name: &str,
        functions: &[&Function],
    ) -> Result<Vec<oxbpf_elf_bpf::FuncRef>> {
        const TAG: &str = "exception_callback:";
        let Some(btf) = self.btf() else {
            return Ok(Vec::new());
        };
        let err = Error::btf(format!(
            "program {name}: looking for its exception callback"
        ));
        let Some(func) = btf.find_by_name_kind(name, Kind::Func).map_err(err)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for (_, t) in btf.types() {
            let oxbpf_btf::Type::DeclTag(tag) = t else {
                continue;
            };
            if tag.ty != func || tag.component_idx != -1 {
                continue;
            }
            let text = btf
                .string_at(tag.name_off)
                .map_err(Error::btf(format!("program {name}: decl tag")))?;
            let Some(callback) = text.strip_prefix(TAG) else {
                continue;
            };
            if !self.btf_features.decl_tag {
                // Without DECL_TAG the kernel cannot find the callback.
                return Err(Error::Unsupported {
                    what: format!(
                        "the exception callback {callback} on a kernel without BTF DECL_TAG (5.16)"
                    ),
                    site: format!("program {name}"),
                });
            }
            let f = functions
                .iter()
                .find(|f| f.name == callback)
                .ok_or_else(|| Error::AttachTarget {
                    program: name.to_owned(),
                    reason: format!(
                        "its exception callback {callback} is not a function of the object"
                    ),
                })?;
            out.push(oxbpf_elf_bpf::FuncRef {
                section_index: f.section_index,
                offset: f.offset,
            });
        }
        Ok(out)
    }

    /// Applies the CO-RE relocations of every function of a linked
    /// program against the target's BTF (read only if some exist); for a
    /// generated loader, hands them to the kernel instead, at their
    /// instructions in the linked program, with the type ids and string
    /// offsets of the object's BTF, which the loaded BTF keeps
    /// (sanitization rewrites records one for one and keeps the strings).
    fn relocate_core(&mut self, functions: &[Placed], load: &mut LoadProg) -> Result<()> {
        let (Some(ext), Some(local)) = (&self.btf_ext, self.obj.elf.btf.as_ref()) else {
            return Ok(());
        };
        let mut relos = Vec::new();
        for placed in functions {
            let Some(section) = ext.core_relos_for(&placed.section) else {
                continue;
            };
            let records = section.records();
            let mine = oxbpf_reloc::function_relos(
                &placed.section,
                records,
                placed.origin.offset,
                placed.len,
            )
            .map_err(|source| Error::Core {
                program: load.name.clone(),
                source: Box::new(source),
            })?;
            relos.extend(mine.into_iter().map(|(i, r)| (i + placed.start.0, r)));
        }
        if relos.is_empty() {
            return Ok(());
        }
        if self.mode == Mode::Loader && self.obj.core_btf.is_none() {
            for (i, r) in relos {
                self.check_kernel_relo(local, &load.insns, i, &r, &load.name)?;
                load.core_relos.push(CoreRelo {
                    insn: InsnIdx(i),
                    type_id: r.type_id.0,
                    access_str_off: r.access_str_off,
                    kind: r.kind,
                });
            }
            return Ok(());
        }
        let target = self.target.core_btf()?;
        let applied = CoreRelocator::new(local, target, &mut self.core_cache)
            .relocate(&mut load.insns, relos)
            .map_err(|source| Error::Core {
                program: load.name.clone(),
                source: Box::new(source),
            })?;
        load.core_applied = applied.len();
        for a in applied.iter().filter(|a| a.is_poisoned()) {
            let slots = match a.patch {
                oxbpf_reloc::Patch::Poisoned { slots } => slots,
                _ => 1,
            };
            log::debug!(target: "oxbpf::plan", "program {}: {a}", load.name);
            load.poisoned.push(Poisoned {
                insn: InsnIdx(a.insn),
                slots,
                what: a.failure_report(None).to_string(),
            });
        }
        Ok(())
    }

    /// Refuses a CO-RE relocation the kernel would refuse whatever its BTF:
    /// a kind newer than this loader, and the value of an unsigned 32-bit
    /// enumerator of bit 31 set on an `ld_imm64`, where clang writes the
    /// value zero-extended but the kernel's CO-RE code sign-extends the
    /// local value it checks the instruction against.
    fn check_kernel_relo(
        &self,
        local: &Btf<'_>,
        insns: &[Insn],
        i: usize,
        r: &oxbpf_btf::CoreRelo,
        program: &str,
    ) -> Result<()> {
        let unsupported = |what: String| Error::Unsupported {
            what,
            site: format!("program {program} instruction {i}"),
        };
        if let CoreReloKind::Other(kind) = r.kind {
            return Err(unsupported(format!(
                "handing a CO-RE relocation of kind {kind}, unknown to this loader, to the kernel"
            )));
        }
        if r.kind != CoreReloKind::EnumvalValue {
            return Ok(());
        }
        let (Some(insn), Some(next)) = (insns.get(i), insns.get(i + 1)) else {
            return Ok(());
        };
        if !insn.is_ld_imm64() {
            return Ok(());
        }
        let imm = u64::from(insn.imm as u32) | (u64::from(next.imm as u32) << 32);
        let ty = local.skip_mods_and_typedefs(r.type_id).ok();
        let Some(Type::Enum(e)) = ty.and_then(|t| local.type_by_id(t).ok()) else {
            return Ok(());
        };
        let index = local
            .string_at(r.access_str_off)
            .ok()
            .and_then(|s| s.parse::<usize>().ok());
        let Some(v) = index.and_then(|n| e.value(n)) else {
            return Ok(());
        };
        let low = v.as_u64() as u32;
        if !e.is_signed() && low >= 0x8000_0000 && imm == u64::from(low) {
            let name = local.string_at(v.name_off).unwrap_or("?");
            return Err(unsupported(format!(
                "relocating the value of enumerator {name} ({low:#x}, unsigned, bit 31 set) \
                 in the kernel (its CO-RE code sign-extends the local value and refuses the \
                 ld_imm64 that clang wrote zero-extended; OpenObject::set_core_btf relocates \
                 when planning instead)"
            )));
        }
        Ok(())
    }

    /// Turns a linked program's relocations into patch points.
    fn relocate(&mut self, relocations: &[Relocation], load: &mut LoadProg) -> Result<()> {
        for reloc in relocations {
            let site = || {
                format!(
                    "program {} instruction {} ({})",
                    load.name, reloc.insn, reloc.symbol
                )
            };
            let insn = InsnIdx(reloc.insn);
            let kind = match &reloc.target {
                RelocTarget::Map(i) => PatchKind::MapFd(self.layout.maps[*i]),
                RelocTarget::Data { section, offset } => PatchKind::MapValue {
                    map: self.layout.data[*section],
                    offset: u32::try_from(*offset).map_err(|_| {
                        Error::InvalidArgument(format!("{}: offset {offset} too large", site()))
                    })?,
                },
                RelocTarget::Arena { offset } => {
                    let (map, base) = self.layout.arena_globals.ok_or_else(|| {
                        Error::InvalidArgument(format!("{}: no __arena globals", site()))
                    })?;
                    let len = self.obj.elf.arena.as_ref().map_or(0, |a| a.bytes.len());
                    if *offset >= len as u64 {
                        return Err(Error::InvalidArgument(format!(
                            "{}: offset {offset} past the {len} bytes of __arena globals",
                            site()
                        )));
                    }
                    PatchKind::MapValue {
                        map: self.layout.maps[map],
                        // Below 4 GiB: the arena is at most 4 GiB.
                        offset: (base + offset) as u32,
                    }
                }
                RelocTarget::Call(_) | RelocTarget::FuncAddr(_) => {
                    unreachable!("link_program resolved calls and function addresses")
                }
                RelocTarget::Extern { name, .. } => {
                    let ext = self.obj.elf.externs.get(name).ok_or_else(|| {
                        Error::InvalidArgument(format!(
                            "{}: extern {name} has no declaration",
                            site()
                        ))
                    })?;
                    let is_call = load.insns[reloc.insn].code == 0x85;
                    match ext.kind {
                        ExternKind::Kconfig { offset, .. } => {
                            let map = self
                                .layout
                                .kconfig
                                .expect("kconfig externs have a .kconfig map");
                            let addend = load.insns[reloc.insn].imm as u32;
                            PatchKind::MapValue {
                                map,
                                offset: offset.wrapping_add(addend),
                            }
                        }
                        ExternKind::TypedKsym { .. } => {
                            PatchKind::BtfId(self.lookup(name, LookupKind::Var, ext.weak))
                        }
                        ExternKind::TypelessKsym => {
                            PatchKind::Address(self.lookup(name, LookupKind::Address, ext.weak))
                        }
                        ExternKind::Kfunc { .. } if is_call => {
                            PatchKind::KfuncCall(self.lookup(name, LookupKind::Func, ext.weak))
                        }
                        ExternKind::Kfunc { .. } => {
                            PatchKind::BtfId(self.lookup(name, LookupKind::Func, ext.weak))
                        }
                    }
                }
            };
            // The patch carries the value; clear what the compiler left.
            let slot: &mut Insn = &mut load.insns[reloc.insn];
            slot.imm = 0;
            if kind.is_call() {
                slot.set_src(0);
            }
            load.patches.push(Patch { insn, kind });
        }
        Ok(())
    }
}

/// The kernel type a tracing-style program attaches to, by name and kind:
/// `tp_btf/sys_enter` attaches to the typedef `btf_trace_sys_enter`,
/// `iter/task` to the function `bpf_iter_task`, `lsm/file_open` to
/// `bpf_lsm_file_open`, `fentry/do_unlinkat` to `do_unlinkat`.
fn attach_btf_target(program: &str, section: &str, target: &str) -> Result<FindBtfId> {
    if target.is_empty() {
        return Err(Error::AttachTarget {
            program: program.to_owned(),
            reason: format!("section {section:?} needs an attach target ({section}/<name>)"),
        });
    }
    let (name, kind) = match section {
        "tp_btf" => (format!("btf_trace_{target}"), Kind::Typedef),
        "iter" | "iter.s" => (format!("bpf_iter_{target}"), Kind::Func),
        "lsm" | "lsm.s" | "lsm_cgroup" => (format!("bpf_lsm_{target}"), Kind::Func),
        "fentry" | "fentry.s" | "fexit" | "fexit.s" | "fmod_ret" | "fmod_ret.s" => {
            (target.to_owned(), Kind::Func)
        }
        other => {
            return Err(Error::Unsupported {
                what: format!("attach targets of {other} programs"),
                site: format!("program {program}"),
            });
        }
    };
    Ok(FindBtfId {
        name,
        kind,
        optional: false,
    })
}

/// Whether the kernel accepts BTF key/value type ids for a map type. Maps
/// holding fds or raw records have no typed key/value.
fn map_type_takes_btf_key_value(t: MapType) -> bool {
    !matches!(
        t,
        MapType::PERF_EVENT_ARRAY
            | MapType::PROG_ARRAY
            | MapType::CGROUP_ARRAY
            | MapType::ARRAY_OF_MAPS
            | MapType::HASH_OF_MAPS
            | MapType::RINGBUF
            | MapType::USER_RINGBUF
            | MapType::STRUCT_OPS
    )
}

/// The func_info and line_info records of one placed function, with
/// instruction offsets moved to where the function sits in its program.
fn function_infos(ext: &BtfExt<'_>, func: &Placed) -> (Vec<FuncInfo>, Vec<LineInfo>) {
    let start = func.origin.offset;
    let end = start + 8 * func.len as u64;
    let index = |byte_off: u32| -> Option<InsnIdx> {
        let off = u64::from(byte_off);
        (off >= start && off < end).then(|| InsnIdx(func.start.0 + ((off - start) / 8) as usize))
    };
    let mut funcs = Vec::new();
    let mut lines = Vec::new();
    for sec in ext.func_info() {
        if sec.name() != func.section {
            continue;
        }
        funcs.extend(sec.records().filter_map(|r| {
            Some(FuncInfo {
                insn: index(r.insn_off)?,
                type_id: r.type_id.0,
            })
        }));
    }
    for sec in ext.line_info() {
        if sec.name() != func.section {
            continue;
        }
        lines.extend(sec.records().filter_map(|r| {
            Some(LineInfo {
                insn: index(r.insn_off)?,
                file_name_off: r.file_name_off,
                line_off: r.line_off,
                line_col: r.line_col,
            })
        }));
    }
    (funcs, lines)
}

/// libbpf's name for the map of a data section (as libbpf 1.1 and 1.7
/// name them, observed): a custom section with a second dot
/// (`.rodata.str1.1`, `.data.custom`) is named by the section alone;
/// otherwise at most 8 bytes of the object's name (up to its first `.`,
/// each byte outside `[A-Za-z0-9_]` made `_`), fewer if the section name
/// leaves less room in the kernel's 15, then the section name
/// (`minimal_.bss` for `minimal_bpf.o`, `my_long_.bss` for
/// `my-long_object.bpf.o`).
pub(crate) fn data_map_name(object: &str, section: &str) -> String {
    /// The longest object-name prefix libbpf gives data maps.
    const PREFIX_MAX: usize = 8;
    if section.get(1..).is_some_and(|rest| rest.contains('.')) {
        return section.to_owned();
    }
    let stem = object.split('.').next().unwrap_or(object);
    let room = 15usize.saturating_sub(section.len()).min(PREFIX_MAX);
    let prefix: String = stem
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'_' {
                char::from(b)
            } else {
                '_'
            }
        })
        .take(room)
        .collect();
    format!("{prefix}{section}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_map_names_follow_libbpf() {
        assert_eq!(data_map_name("minimal.bpf.o", ".bss"), "minimal.bss");
        assert_eq!(
            data_map_name("a_long_object_name.bpf.o", ".rodata"),
            "a_long_o.rodata"
        );
        assert_eq!(data_map_name("minimal_bpf", ".rodata"), "minimal_.rodata");
        assert_eq!(data_map_name("minimal_bpf", ".bss"), "minimal_.bss");
        assert_eq!(data_map_name("core_many.bpf.o", ".data"), "core_man.data");
        assert_eq!(
            data_map_name("core_many.bpf.o", ".kconfig"),
            "core_ma.kconfig"
        );
        assert_eq!(
            data_map_name("externs.bpf.o", ".kconfig"),
            "externs.kconfig"
        );
        assert_eq!(data_map_name("x.o", ".rodata.str1.1"), ".rodata.str1.1");
        assert_eq!(
            data_map_name("my-long_object.bpf.o", ".bss"),
            "my_long_.bss"
        );
        assert_eq!(
            data_map_name("my-long_object.bpf.o", ".rodata.foo"),
            ".rodata.foo"
        );
        assert_eq!(
            data_map_name("my-long_object.bpf.o", ".kconfig"),
            "my_long.kconfig"
        );
        // Not a panic on a multi-byte character at the cut.
        assert_eq!(data_map_name("abcdefgé.bpf.o", ".bss"), "abcdefg_.bss");
        assert_eq!(data_map_name("éé.bpf.o", ".data"), "____.data");
        assert_eq!(
            data_map_name("x.o", ".data.a_very_long_name"),
            ".data.a_very_long_name"
        );
    }

    #[test]
    fn fd_maps_carry_no_btf_types() {
        assert!(!map_type_takes_btf_key_value(MapType::PROG_ARRAY));
        assert!(map_type_takes_btf_key_value(MapType::HASH));
    }
}
