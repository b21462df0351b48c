//! What generated skeletons call: opening the embedded object or loader,
//! setting initial global data, loading, attaching, and typed access to
//! maps and global data afterwards.
//!
//! Generated code is thin: a [`SkelSpec`] table (names, sections, sizes),
//! Rust types from BTF, and accessors that call into this module with
//! constant indices. Everything that can fail on bad input fails here,
//! with an error; indices that generated code passes are checked when the
//! skeleton is opened and loaded.

use std::marker::PhantomData;
use std::ops::Deref;

use oxbpf_gen_loader::{Loader, Step};
use oxbpf_syscalls::{MapCreateAttr, MapMemory};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes};

use crate::error::{Error, Result};
use crate::link::Link;
use crate::lskel::LightSkeleton;
use crate::map::Map;
use crate::object::Object;
use crate::open::{OpenMapMut, OpenObject, OpenProgramMut};
use crate::program::Program;

/// What a generated skeleton knows about its object, in the order its
/// accessors index: the interface between generated code and this
/// library. Generated code builds it as a `static`; it changes with the
/// generator, so regenerate skeletons (the build.rs [`Builder`] does)
/// when oxbpf changes.
///
/// [`Builder`]: crate::skel::Builder
#[derive(Debug)]
pub struct SkelSpec {
    /// The object's name (its file name: data maps are named after it).
    pub object: &'static str,
    /// Every map, by the object's name for it (`counts`, `counter.bss`).
    pub maps: &'static [MapSpec],
    /// Every program.
    pub programs: &'static [ProgSpec],
    /// The global data sections with generated types.
    pub data: &'static [DataSpec],
    /// The struct_ops maps, which [`Skel::attach`] registers.
    pub struct_ops: &'static [StructOpsSpec],
}

/// A struct_ops map of a [`SkelSpec`].
#[derive(Debug)]
pub struct StructOpsSpec {
    /// The map's name.
    pub map: &'static str,
    /// Whether it is registered through a link (`.struct_ops.link`), not
    /// by writing its value.
    pub link: bool,
    /// For a light skeleton's map registered by writing its value: the
    /// value laid out for the kernel the loader was planned for (a regular
    /// skeleton lays it out when it loads).
    pub value: &'static [u8],
    /// With `value`: where each program's fd goes (byte offset, program).
    pub progs: &'static [(u32, &'static str)],
}

/// A map of a [`SkelSpec`].
#[derive(Debug)]
pub struct MapSpec {
    /// The object's name for the map.
    pub name: &'static str,
    /// Whether the object defines it (in `.maps` or `maps`), as opposed to
    /// a map made for a data section.
    pub defined: bool,
}

/// A program of a [`SkelSpec`].
#[derive(Debug)]
pub struct ProgSpec {
    /// The program's name (its function).
    pub name: &'static str,
    /// Its ELF section, which says how it attaches. A leading `?` marks a
    /// program not loaded unless asked for.
    pub section: &'static str,
}

impl ProgSpec {
    /// Whether the program may be absent after load (section `?...`).
    pub fn optional(&self) -> bool {
        self.section.starts_with('?')
    }
}

/// A global data section of a [`SkelSpec`] with a generated type.
#[derive(Debug)]
pub struct DataSpec {
    /// The ELF section (`.bss`, `.rodata`, `.data.custom`).
    pub section: &'static str,
    /// The map holding it after load.
    pub map: &'static str,
    /// Its size in bytes (the generated type's size).
    pub size: usize,
    /// Where its initial value is when it can be set before load.
    pub initial: Initial,
}

/// Where the initial value of a data section is, before load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Initial {
    /// Not settable before load (a section without a generated type).
    None,
    /// In the object's section (regular skeletons).
    Object,
    /// At this byte offset of the generated loader's blob (light
    /// skeletons): the value the loader writes into the map.
    Blob(usize),
}

/// Finds data section `i` of `spec`.
fn data_spec(spec: &'static SkelSpec, i: usize) -> Result<&'static DataSpec> {
    spec.data.get(i).ok_or_else(|| {
        Error::InvalidArgument(format!("skeleton of {}: no data section #{i}", spec.object))
    })
}

fn read_initial<T: FromBytes>(spec: &DataSpec, bytes: &[u8]) -> Result<T> {
    T::read_from_bytes(bytes).map_err(|_| {
        Error::InvalidArgument(format!(
            "data section {}: {} bytes, its type is {}",
            spec.section,
            bytes.len(),
            size_of::<T>()
        ))
    })
}

/// A regular skeleton's object, open for configuration: the object parsed
/// from its embedded bytes.
#[derive(Debug)]
pub struct OpenSkel {
    spec: &'static SkelSpec,
    object: OpenObject,
}

impl OpenSkel {
    /// Parses the embedded object and checks that it has what `spec`
    /// names.
    pub fn open(spec: &'static SkelSpec, bytes: &[u8]) -> Result<OpenSkel> {
        let object = OpenObject::from_bytes(spec.object, bytes)?;
        for m in spec.maps.iter().filter(|m| m.defined) {
            if !object.maps().any(|o| o.name() == m.name) {
                return Err(mismatch(spec, "map", m.name));
            }
        }
        for p in spec.programs {
            object
                .program(p.name)
                .map_err(|_| mismatch(spec, "program", p.name))?;
        }
        for d in spec.data {
            let section = object.elf.data.iter().find(|s| s.name == d.section);
            if section.is_none_or(|s| s.bytes.len() != d.size) {
                return Err(mismatch(spec, "data section", d.section));
            }
        }
        Ok(OpenSkel { spec, object })
    }

    /// The open object, to look at.
    pub fn object(&self) -> &OpenObject {
        &self.object
    }

    /// The open object, to configure maps and programs (sizes, program
    /// types, autoload...).
    pub fn object_mut(&mut self) -> &mut OpenObject {
        &mut self.object
    }

    /// Map `i` of the spec (one the object defines), to configure.
    pub fn map_mut(&mut self, i: usize) -> Result<OpenMapMut<'_>> {
        let name = self.spec.maps.get(i).map_or("", |m| m.name);
        self.object.map_mut(name)
    }

    /// Program `i` of the spec, to configure.
    pub fn program_mut(&mut self, i: usize) -> Result<OpenProgramMut<'_>> {
        let name = self.spec.programs.get(i).map_or("", |p| p.name);
        self.object.program_mut(name)
    }

    /// The initial value of data section `i`, as its generated type.
    pub fn initial<T: FromBytes>(&self, i: usize) -> Result<T> {
        let d = data_spec(self.spec, i)?;
        let section = self
            .object
            .elf
            .data
            .iter()
            .find(|s| s.name == d.section)
            .ok_or_else(|| mismatch(self.spec, "data section", d.section))?;
        read_initial(d, &section.bytes)
    }

    /// Sets the initial values of data sections (`(index, bytes)`), loads
    /// the object and maps its data sections.
    pub fn load(mut self, images: &[(usize, &[u8])]) -> Result<Skel> {
        for &(i, bytes) in images {
            let d = data_spec(self.spec, i)?;
            let section = self
                .object
                .elf
                .data
                .iter_mut()
                .find(|s| s.name == d.section)
                .ok_or_else(|| mismatch(self.spec, "data section", d.section))?;
            if section.bytes.len() != bytes.len() {
                return Err(Error::InvalidArgument(format!(
                    "data section {}: {} bytes given for {}",
                    d.section,
                    bytes.len(),
                    section.bytes.len()
                )));
            }
            section.bytes.copy_from_slice(bytes);
        }
        let object = self.object.load()?;
        Skel::new(self.spec, object)
    }
}

fn mismatch(spec: &SkelSpec, kind: &str, name: &str) -> Error {
    Error::InvalidArgument(format!(
        "skeleton of {}: the embedded object has no {kind} {name:?} as generated; \
         regenerate the skeleton",
        spec.object
    ))
}

/// A light skeleton's generated loader, open for configuration: initial
/// global data and map sizes are patched into its blob before it runs.
/// Nothing parses ELF or BTF.
///
/// That is all a light skeleton can change: the loader was planned when it
/// was generated, so what the plan decided (program types, attach targets
/// and autoload, map types, flags, key and value sizes, pinning, inner
/// maps, reused fds) is fixed; regenerate with a changed object to change
/// it. Generated open light skeletons therefore offer `maps_mut()` with
/// [`OpenLightMap::set_max_entries`] only, and no `progs_mut()`.
#[derive(Debug)]
pub struct OpenLightSkel {
    spec: &'static SkelSpec,
    loader: Loader,
}

/// Finds the blob offset of the `BPF_MAP_CREATE` attributes of map `name`
/// (one the runtime hands out), checked to be inside the blob.
fn map_create_attr(loader: &Loader, name: &str) -> Result<usize> {
    let attr = loader
        .steps
        .iter()
        .find_map(|s| match s {
            Step::CreateMap {
                name: n,
                attr,
                handle: true,
                ..
            } if n == name => Some(attr.index()),
            _ => None,
        })
        .ok_or_else(|| Error::NotFound {
            kind: "map",
            name: name.to_owned(),
        })?;
    if attr
        .checked_add(size_of::<MapCreateAttr>())
        .is_none_or(|end| end > loader.blob.bytes().len())
    {
        return Err(Error::LoaderProtocol {
            what: format!("map_create {name:?}: attributes outside the blob"),
        });
    }
    Ok(attr)
}

impl OpenLightSkel {
    /// Reads the embedded loader and checks that the initial values
    /// `spec` locates are inside its blob and that it creates (or reuses,
    /// pinned) every map the object defines.
    pub fn open(spec: &'static SkelSpec, loader: &[u8]) -> Result<OpenLightSkel> {
        let loader = Loader::from_bytes(loader)?;
        let blob_len = loader.blob.bytes().len();
        for d in spec.data {
            if let Initial::Blob(at) = d.initial {
                if at.checked_add(d.size).is_none_or(|end| end > blob_len) {
                    return Err(mismatch(spec, "data section", d.section));
                }
            }
        }
        for m in spec.maps.iter().filter(|m| m.defined) {
            // Made by the loader, or a pinned map the runtime reuses.
            let reused = loader
                .steps
                .iter()
                .any(|s| matches!(s, Step::ReuseMap { expect, .. } if expect.name == m.name));
            if !reused {
                map_create_attr(&loader, m.name).map_err(|_| mismatch(spec, "map", m.name))?;
            }
        }
        Ok(OpenLightSkel { spec, loader })
    }

    /// The generated loader.
    pub fn loader(&self) -> &Loader {
        &self.loader
    }

    /// Sets the maximum number of entries of the map named `name` (a map
    /// the object defines), in the loader's `BPF_MAP_CREATE` attributes.
    /// Generated skeletons offer it typed: `maps_mut().name()`.
    pub fn set_max_entries(&mut self, name: &str, max_entries: u32) -> Result<&mut Self> {
        if self.spec.data.iter().any(|d| d.map == name) {
            return Err(Error::InvalidArgument(format!(
                "map {name} holds a data section: its size is the section's"
            )));
        }
        let attr = map_create_attr(&self.loader, name)?;
        self.write_max_entries(attr, max_entries);
        Ok(self)
    }

    /// The `BPF_MAP_CREATE` attributes at blob offset `at` (checked by
    /// [`map_create_attr`]).
    fn create_attr(&self, at: usize) -> MapCreateAttr {
        self.loader
            .blob
            .bytes()
            .get(at..at + size_of::<MapCreateAttr>())
            .and_then(|b| MapCreateAttr::read_from_bytes(b).ok())
            .unwrap_or_else(MapCreateAttr::new_zeroed)
    }

    fn write_max_entries(&mut self, at: usize, max_entries: u32) {
        let mut create = self.create_attr(at);
        create.max_entries = max_entries;
        if let Some(bytes) = self
            .loader
            .blob
            .bytes_mut()
            .get_mut(at..at + size_of::<MapCreateAttr>())
        {
            bytes.copy_from_slice(create.as_bytes());
        }
    }

    /// Map `i` of the spec, one the object defines and the loader creates
    /// (not a pinned map it reuses), to configure.
    pub fn map_mut(&mut self, i: usize) -> Result<OpenLightMap<'_>> {
        let m = self.spec.maps.get(i).filter(|m| m.defined).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "skeleton of {}: no map #{i} defined by the object",
                self.spec.object
            ))
        })?;
        let attr = map_create_attr(&self.loader, m.name)?;
        Ok(OpenLightMap {
            name: m.name,
            attr,
            skel: self,
        })
    }

    /// The initial value of data section `i`, as its generated type.
    pub fn initial<T: FromBytes>(&self, i: usize) -> Result<T> {
        let d = data_spec(self.spec, i)?;
        let Initial::Blob(at) = d.initial else {
            return Err(Error::InvalidArgument(format!(
                "data section {} has no initial value in the loader",
                d.section
            )));
        };
        read_initial(d, &self.loader.blob.bytes()[at..at + d.size])
    }

    /// Writes the initial values of data sections (`(index, bytes)`) into
    /// the loader's blob, runs the loader ([`LightSkeleton`]) and maps the
    /// data sections.
    pub fn load(mut self, images: &[(usize, &[u8])]) -> Result<Skel> {
        for &(i, bytes) in images {
            let d = data_spec(self.spec, i)?;
            let Initial::Blob(at) = d.initial else {
                return Err(Error::InvalidArgument(format!(
                    "data section {} cannot be set before a light skeleton loads",
                    d.section
                )));
            };
            if bytes.len() != d.size {
                return Err(Error::InvalidArgument(format!(
                    "data section {}: {} bytes given for {}",
                    d.section,
                    bytes.len(),
                    d.size
                )));
            }
            self.loader.blob.bytes_mut()[at..at + d.size].copy_from_slice(bytes);
        }
        let object = LightSkeleton::new(self.loader).load()?;
        Skel::new(self.spec, with_sections(object, self.spec)?)
    }
}

/// A map of an open light skeleton: what its generated loader lets change
/// before it runs, which is the map's size. (A regular skeleton's
/// [`OpenMapMut`] changes more: the loader of a light skeleton was planned
/// when it was generated.)
#[derive(Debug)]
pub struct OpenLightMap<'a> {
    skel: &'a mut OpenLightSkel,
    name: &'static str,
    attr: usize,
}

impl OpenLightMap<'_> {
    /// The object's name for the map.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The maximum number of entries the loader will create it with.
    pub fn max_entries(&self) -> u32 {
        self.skel.create_attr(self.attr).max_entries
    }

    /// Sets the maximum number of entries the loader creates it with (the
    /// kernel checks it when the loader runs, as it checks the object's).
    pub fn set_max_entries(&mut self, max_entries: u32) -> &mut Self {
        self.skel.write_max_entries(self.attr, max_entries);
        self
    }
}

/// Gives the programs of a light-skeleton load their ELF sections (which
/// the loader does not carry), so that they attach as a live load's do.
fn with_sections(mut object: Object, spec: &SkelSpec) -> Result<Object> {
    let name = object.name().to_owned();
    let map_names: Vec<String> = object.maps().map(|m| m.name().to_owned()).collect();
    let prog_names: Vec<String> = object.programs().map(|p| p.name().to_owned()).collect();
    let mut maps = Vec::with_capacity(map_names.len());
    for n in &map_names {
        maps.push(object.take_map(n)?);
    }
    let mut programs = Vec::with_capacity(prog_names.len());
    for n in &prog_names {
        let mut p = object.take_program(n)?;
        if let Some(ps) = spec.programs.iter().find(|s| s.name == n) {
            let kind = oxbpf_elf_bpf::section::parse_section_name(ps.section);
            p.section = ps.section.to_owned();
            p.section_def = kind.map(|k| k.def);
            p.attach_target = kind.map(|k| k.extras.to_owned()).unwrap_or_default();
        }
        programs.push(p);
    }
    // The loader's BTF object goes: the programs hold it in the kernel.
    let mut object = Object::from_parts(name, maps, programs, None);
    // Values of struct_ops maps registered when attached, as a live load
    // keeps them.
    object.struct_ops = spec
        .struct_ops
        .iter()
        .filter(|so| !so.link && !so.value.is_empty())
        .map(|so| crate::struct_ops::Named {
            name: so.map.to_owned(),
            value: so.value.to_vec(),
            progs: so.progs.iter().map(|&(at, p)| (at, p.to_owned())).collect(),
        })
        .collect();
    Ok(object)
}

/// A loaded skeleton: the object, the programs' links, and the mapped
/// memory of its data sections. Generated skeletons wrap one and index it
/// with constants checked when it was made.
#[derive(Debug)]
pub struct Skel {
    spec: &'static SkelSpec,
    /// Dropped first: links detach before the object's fds close.
    links: Vec<Option<Link>>,
    struct_ops: Vec<Option<Link>>,
    data: Vec<MapMemory>,
    maps: Vec<usize>,
    programs: Vec<Option<usize>>,
    object: Object,
}

impl Skel {
    /// Checks `object` (loaded from the object file `spec` describes)
    /// against `spec` and maps the data sections.
    pub fn new(spec: &'static SkelSpec, object: Object) -> Result<Skel> {
        let mut maps = Vec::with_capacity(spec.maps.len());
        for m in spec.maps {
            let i = object
                .maps()
                .position(|o| o.name() == m.name)
                .ok_or_else(|| mismatch(spec, "map", m.name))?;
            maps.push(i);
        }
        let mut programs = Vec::with_capacity(spec.programs.len());
        for p in spec.programs {
            let i = object.programs().position(|o| o.name() == p.name);
            if i.is_none() && !p.optional() {
                return Err(Error::InvalidArgument(format!(
                    "skeleton of {}: program {} was not loaded; only programs of `?` sections \
                     may be left out (turn it off, and its accessor is gone: regenerate from an \
                     object declaring it SEC(\"?{}\"))",
                    spec.object, p.name, p.section
                )));
            }
            programs.push(i);
        }
        let mut data = Vec::with_capacity(spec.data.len());
        for d in spec.data {
            let memory = object.map(d.map)?.memory()?;
            if memory.len() < d.size {
                return Err(Error::InvalidArgument(format!(
                    "map {} of data section {} has {} bytes, its type {}",
                    d.map,
                    d.section,
                    memory.len(),
                    d.size
                )));
            }
            data.push(memory);
        }
        for so in spec.struct_ops {
            if !spec.maps.iter().any(|m| m.name == so.map) {
                return Err(mismatch(spec, "struct_ops map", so.map));
            }
        }
        Ok(Skel {
            spec,
            links: (0..spec.programs.len()).map(|_| None).collect(),
            struct_ops: (0..spec.struct_ops.len()).map(|_| None).collect(),
            data,
            maps,
            programs,
            object,
        })
    }

    /// The spec the skeleton was made from.
    pub fn spec(&self) -> &'static SkelSpec {
        self.spec
    }

    /// The loaded object: every map and program by name, and the rest of
    /// [`Object`]'s API.
    pub fn object(&self) -> &Object {
        &self.object
    }

    /// Map `i` of the spec.
    ///
    /// # Panics
    ///
    /// If `i` is not an index of the spec's maps (generated code passes
    /// only those).
    pub fn map(&self, i: usize) -> &Map {
        let at = self.maps[i];
        self.object
            .maps()
            .nth(at)
            .unwrap_or_else(|| unreachable!("map index {at} checked when loaded"))
    }

    /// Map `i` of the spec with typed keys and values.
    ///
    /// # Panics
    ///
    /// As [`Skel::map`].
    pub fn typed_map<K, V>(&self, i: usize) -> TypedMap<'_, K, V> {
        TypedMap::new(self.map(i))
    }

    /// Program `i` of the spec; `None` for a program that was not loaded
    /// (only `?` sections may be left out).
    ///
    /// # Panics
    ///
    /// If `i` is not an index of the spec's programs.
    pub fn program(&self, i: usize) -> Option<&Program> {
        let at = self.programs[i]?;
        self.object.programs().nth(at)
    }

    /// The link of program `i`, if [`Skel::attach`] attached it.
    ///
    /// # Panics
    ///
    /// If `i` is not an index of the spec's programs.
    pub fn link(&self, i: usize) -> Option<&Link> {
        self.links[i].as_ref()
    }

    /// The registration of struct_ops map `i` of the spec, if
    /// [`Skel::attach`] made it.
    ///
    /// # Panics
    ///
    /// If `i` is not an index of the spec's struct_ops maps.
    pub fn struct_ops_link(&self, i: usize) -> Option<&Link> {
        self.struct_ops[i].as_ref()
    }

    /// Attaches every loaded program whose section names its attach point
    /// and that is not attached yet ([`Program::attach`]), keeping the
    /// links, and registers the struct_ops maps
    /// ([`Object::attach_struct_ops`]). Programs that need
    /// something only the caller knows (an interface, a cgroup...) are
    /// left for the caller's `attach_*` calls, as [`Object::attach_all`]
    /// leaves them. If one fails, the links made by this call are dropped
    /// and the error returned.
    pub fn attach(&mut self) -> Result<()> {
        let mut registered = Vec::new();
        for (i, so) in self.spec.struct_ops.iter().enumerate() {
            if self.struct_ops[i].is_some() {
                continue;
            }
            registered.push((i, self.object.attach_struct_ops(so.map)?));
        }
        let mut made = Vec::new();
        for (i, slot) in self.programs.iter().enumerate() {
            let Some(at) = *slot else { continue };
            if self.links[i].is_some() {
                continue;
            }
            let Some(p) = self.object.programs().nth(at) else {
                continue;
            };
            if let Some(reason) = crate::attach::auto::needs_runtime_info(p) {
                log::info!(target: "oxbpf::skel", "not attaching program {} (section {}): it needs {reason}", p.name(), p.section());
                continue;
            }
            made.push((i, p.attach()?));
        }
        for (i, link) in made {
            self.links[i] = Some(link);
        }
        for (i, link) in registered {
            self.struct_ops[i] = Some(link);
        }
        Ok(())
    }

    /// Keeps `link` as program `i`'s (from an `attach_*` call the caller
    /// made), replacing (detaching) any link it had.
    ///
    /// # Panics
    ///
    /// If `i` is not an index of the spec's programs.
    pub fn set_link(&mut self, i: usize, link: Link) {
        self.links[i] = Some(link);
    }

    /// Detaches every program and unregisters the struct_ops maps
    /// [`Skel::attach`] registered (drops the links).
    pub fn detach(&mut self) {
        for l in self.links.iter_mut().chain(&mut self.struct_ops) {
            *l = None;
        }
    }

    /// Typed view of data section `i`'s memory.
    ///
    /// # Panics
    ///
    /// If `i` is not an index of the spec's data sections, or `T` is larger
    /// than the section: generated code passes the section's own type,
    /// whose size it asserts at compile time and loading checked.
    pub fn data<T: FromBytes + IntoBytes + Immutable>(&self, i: usize) -> DataView<'_, T> {
        DataView::new(&self.data[i]).unwrap_or_else(|| {
            panic!(
                "data section {} of {} bytes viewed as a type of {} bytes",
                self.spec.data[i].section,
                self.data[i].len(),
                size_of::<T>()
            )
        })
    }
}

/// A field of type `F` at a byte offset of a `T`, in bounds by
/// construction: generated code makes them as constants, so an offset past
/// the type fails to compile.
pub struct Field<T, F> {
    offset: usize,
    _types: PhantomData<fn() -> (T, F)>,
}

impl<T, F> Field<T, F> {
    /// The field at `offset`, if an `F` there fits in a `T`.
    pub const fn new(offset: usize) -> Option<Field<T, F>> {
        match offset.checked_add(size_of::<F>()) {
            Some(end) if end <= size_of::<T>() => Some(Field {
                offset,
                _types: PhantomData,
            }),
            _ => None,
        }
    }

    /// Its byte offset.
    pub const fn offset(&self) -> usize {
        self.offset
    }
}

impl<T, F> Clone for Field<T, F> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T, F> Copy for Field<T, F> {}

impl<T, F> std::fmt::Debug for Field<T, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Field({} bytes at {})", size_of::<F>(), self.offset)
    }
}

/// Where a bitfield member lies in the bytes of its struct or union, as
/// BTF places it: `bits` bits from bit `bit_offset`. Generated types read
/// and write their bitfields through one of these (`flags_lo()`,
/// `set_flags_lo(v)`), made as a constant, so that a bitfield out of range
/// fails to compile.
///
/// Bits are numbered as the object's byte order lays C bitfields out
/// (which is the host's for an object it loads): little-endian from the
/// least significant bit of byte 0, the value's low bit first;
/// big-endian from the most significant bit of byte 0, the value's high
/// bit first.
///
/// ```
/// use oxbpf::skel::Bitfield;
///
/// // struct { unsigned a : 3, b : 5; int c : 4; } on a little-endian host.
/// let b = Bitfield::new(3, 5, false).unwrap();
/// let c = Bitfield::new(8, 4, false).unwrap();
/// let mut bytes = [0u8; 4];
/// b.set(&mut bytes, 0x1f);
/// c.set(&mut bytes, (-3i32) as u128);
/// assert_eq!(bytes, [0xf8, 0x0d, 0, 0]);
/// assert_eq!((b.get(&bytes), c.get_signed(&bytes)), (0x1f, -3));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bitfield {
    bit_offset: usize,
    bits: u32,
    big_endian: bool,
}

impl Bitfield {
    /// The bitfield of `bits` bits (1 to 128) at `bit_offset`, in an
    /// object of the given byte order; `None` if there is no such field.
    pub const fn new(bit_offset: usize, bits: u32, big_endian: bool) -> Option<Bitfield> {
        if bits == 0 || bits > 128 || bit_offset.checked_add(bits as usize).is_none() {
            return None;
        }
        Some(Bitfield {
            bit_offset,
            bits,
            big_endian,
        })
    }

    /// Its offset in bits from the start of the struct.
    pub const fn bit_offset(&self) -> usize {
        self.bit_offset
    }

    /// Its width in bits.
    pub const fn bits(&self) -> u32 {
        self.bits
    }

    /// Bit `i` of the value (0: least significant): its byte and the mask
    /// in that byte.
    const fn place(&self, i: u32) -> (usize, u8) {
        let from_start = if self.big_endian {
            // The value's high bit comes first.
            self.bits - 1 - i
        } else {
            i
        };
        let at = self.bit_offset + from_start as usize;
        let shift = if self.big_endian { 7 - at % 8 } else { at % 8 };
        (at / 8, 1 << shift)
    }

    /// The bitfield's value, zero-extended (bits outside `bytes` read as
    /// zeros).
    pub fn get(&self, bytes: &[u8]) -> u128 {
        let mut value = 0u128;
        for i in 0..self.bits {
            let (byte, mask) = self.place(i);
            if bytes.get(byte).is_some_and(|b| b & mask != 0) {
                value |= 1 << i;
            }
        }
        value
    }

    /// The bitfield's value, sign-extended from its top bit (a signed
    /// bitfield as C reads it).
    pub fn get_signed(&self, bytes: &[u8]) -> i128 {
        let unused = 128 - self.bits;
        ((self.get(bytes) << unused) as i128) >> unused
    }

    /// Stores the low bits of `value` (as a C assignment to the bitfield
    /// truncates it), leaving the other bits of `bytes` as they are (bits
    /// outside `bytes` are dropped).
    pub fn set(&self, bytes: &mut [u8], value: u128) {
        for i in 0..self.bits {
            let (byte, mask) = self.place(i);
            if let Some(b) = bytes.get_mut(byte) {
                if value >> i & 1 != 0 {
                    *b |= mask;
                } else {
                    *b &= !mask;
                }
            }
        }
    }
}

/// A data section's live memory (its map's mmap, shared with the
/// programs) seen as its generated type `T`.
///
/// Programs change this memory while user space looks at it, so the view
/// never lends a reference into it (`&T` would promise the bytes do not
/// change; `&mut T` that nobody else writes them). Values are copied in
/// and out instead, in naturally aligned atomic units
/// ([`MapMemory::read_atomic`]): an aligned integer field is read and
/// written whole, as the program's own atomic adds or stores leave it. A
/// whole-section [`DataView::read`] is not a snapshot across fields. The
/// memory of a frozen section (`.rodata`) is mapped read-only and refuses
/// writes.
pub struct DataView<'a, T> {
    memory: &'a MapMemory,
    _type: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for DataView<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataView")
            .field("memory", &self.memory)
            .finish()
    }
}

impl<T> Clone for DataView<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for DataView<'_, T> {}

impl<'a, T: FromBytes + IntoBytes + Immutable> DataView<'a, T> {
    /// Views `memory` as a `T`, if it holds one.
    pub fn new(memory: &'a MapMemory) -> Option<DataView<'a, T>> {
        (memory.len() >= size_of::<T>()).then_some(DataView {
            memory,
            _type: PhantomData,
        })
    }

    /// The mapped memory.
    pub fn memory(&self) -> &'a MapMemory {
        self.memory
    }

    /// Whether writes are allowed (not a frozen section).
    pub fn is_writable(&self) -> bool {
        self.memory.is_writable()
    }

    /// Copies the whole section out.
    pub fn read(&self) -> T {
        let mut value = T::new_zeroed();
        // In bounds: `new` checked the memory holds a `T`.
        let _ = self.memory.read_atomic(0, value.as_mut_bytes());
        value
    }

    /// Copies `value` over the whole section.
    pub fn write(&self, value: &T) -> Result<()> {
        self.memory
            .write_atomic(0, value.as_bytes())
            .map_err(Error::syscall("writing a data section"))
    }

    /// Reads one field (an aligned integer of 1, 2, 4 or 8 bytes in one
    /// atomic load).
    pub fn get<F: FromBytes + IntoBytes + Immutable>(&self, field: Field<T, F>) -> F {
        let mut value = F::new_zeroed();
        // In bounds: the field is inside a `T`, which the memory holds.
        let _ = self.memory.read_atomic(field.offset, value.as_mut_bytes());
        value
    }

    /// Writes one field (an aligned integer of 1, 2, 4 or 8 bytes in one
    /// atomic store). Fails for a frozen section.
    pub fn set<F: IntoBytes + Immutable>(&self, field: Field<T, F>, value: &F) -> Result<()> {
        self.memory
            .write_atomic(field.offset, value.as_bytes())
            .map_err(Error::syscall("writing a global variable"))
    }
}

/// A map with typed keys and values (plain-old-data types generated from
/// its BTF, or byte arrays of its sizes). Dereferences to the [`Map`] for
/// everything else.
pub struct TypedMap<'a, K, V> {
    map: &'a Map,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> std::fmt::Debug for TypedMap<'_, K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedMap").field("map", &self.map).finish()
    }
}

impl<K, V> Clone for TypedMap<'_, K, V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K, V> Copy for TypedMap<'_, K, V> {}

impl<K, V> Deref for TypedMap<'_, K, V> {
    type Target = Map;
    fn deref(&self) -> &Map {
        self.map
    }
}

impl<'a, K, V> TypedMap<'a, K, V> {
    /// Types `map`'s keys and values.
    pub fn new(map: &'a Map) -> TypedMap<'a, K, V> {
        TypedMap {
            map,
            _types: PhantomData,
        }
    }

    /// The untyped map.
    pub fn map(&self) -> &'a Map {
        self.map
    }
}

impl<'a, K, V> TypedMap<'a, K, V>
where
    K: FromBytes + IntoBytes + Immutable,
    V: FromBytes + IntoBytes + Immutable,
{
    fn value(&self, bytes: &[u8]) -> Result<V> {
        V::read_from_bytes(bytes).map_err(|_| {
            Error::InvalidArgument(format!(
                "map {}: a value of {} bytes is not a {}-byte {}",
                self.map.name(),
                bytes.len(),
                size_of::<V>(),
                std::any::type_name::<V>()
            ))
        })
    }

    /// Looks `key` up; `Ok(None)` if there is no such element. Per-CPU
    /// maps: [`TypedMap::lookup_percpu`].
    pub fn lookup(&self, key: &K) -> Result<Option<V>> {
        match self.map.lookup(key.as_bytes(), 0)? {
            Some(bytes) => self.value(&bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Looks `key` up in a per-CPU map: one value per possible CPU.
    pub fn lookup_percpu(&self, key: &K) -> Result<Option<Vec<V>>> {
        match self.map.lookup_percpu(key.as_bytes(), 0)? {
            Some(all) => all
                .iter()
                .map(|b| self.value(b))
                .collect::<Result<_>>()
                .map(Some),
            None => Ok(None),
        }
    }

    /// Creates or updates an element (`flags`: `BPF_ANY` 0, `BPF_NOEXIST`
    /// 1, `BPF_EXIST` 2).
    pub fn update(&self, key: &K, value: &V, flags: u64) -> Result<()> {
        self.map.update(key.as_bytes(), value.as_bytes(), flags)
    }

    /// Deletes an element; `Ok(false)` if there was none.
    pub fn delete(&self, key: &K) -> Result<bool> {
        self.map.delete(key.as_bytes())
    }

    /// The keys (`BPF_MAP_GET_NEXT_KEY`), typed.
    pub fn keys(&self) -> impl Iterator<Item = Result<K>> + 'a {
        let name = self.map.name();
        self.map.keys().map(move |k| {
            let k = k?;
            K::read_from_bytes(&k).map_err(|_| {
                Error::InvalidArgument(format!(
                    "map {name}: a key of {} bytes is not a {}-byte {}",
                    k.len(),
                    size_of::<K>(),
                    std::any::type_name::<K>()
                ))
            })
        })
    }

    /// Every element, typed (per-CPU maps: use [`TypedMap::keys`] and
    /// [`TypedMap::lookup_percpu`]). Elements deleted meanwhile are left
    /// out.
    pub fn entries(&self) -> Result<Vec<(K, V)>> {
        let mut out = Vec::new();
        for key in self.keys() {
            let key = key?;
            if let Some(v) = self.lookup(&key)? {
                out.push((key, v));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitfields_follow_the_c_layout_of_either_byte_order() {
        // struct { unsigned a:3, b:5; unsigned c:10; long long e:40 } with
        // every bit a pattern computed by hand from the C layout rules.
        let le = |off, bits| Bitfield::new(off, bits, false).unwrap();
        let mut bytes = [0u8; 16];
        le(0, 3).set(&mut bytes, 0b101);
        le(3, 5).set(&mut bytes, 0b10011);
        assert_eq!(bytes[0], 0b1001_1101);
        le(8, 10).set(&mut bytes, 0x3ff);
        assert_eq!(bytes[1..3], [0xff, 0x03]);
        // Straddling bytes at an odd bit: 40 bits from bit 20.
        le(20, 40).set(&mut bytes, 0xab_cdef_0123);
        assert_eq!(bytes[2..8], [0x33, 0x12, 0xf0, 0xde, 0xbc, 0x0a]);
        assert_eq!(le(20, 40).get(&bytes), 0xab_cdef_0123);
        assert_eq!(le(8, 10).get(&bytes), 0x3ff, "neighbours untouched");
        assert_eq!(le(0, 3).get(&bytes), 0b101);
        // Truncation and sign extension.
        le(0, 3).set(&mut bytes, 0b1111_0110);
        assert_eq!(le(0, 3).get(&bytes), 0b110);
        assert_eq!(le(0, 3).get_signed(&bytes), -2);
        assert_eq!(le(3, 5).get_signed(&bytes), 0b10011 - 32);
        le(0, 128).set(&mut bytes, u128::MAX - 1);
        assert_eq!(le(0, 128).get_signed(&bytes), -2);
        // Big-endian: a:3 is the top three bits of byte 0.
        let be = |off, bits| Bitfield::new(off, bits, true).unwrap();
        let mut bytes = [0u8; 4];
        be(0, 3).set(&mut bytes, 0b101);
        be(3, 5).set(&mut bytes, 0b10011);
        assert_eq!(bytes[0], 0b1011_0011);
        be(8, 12).set(&mut bytes, 0xabc);
        assert_eq!(bytes[1..3], [0xab, 0xc0]);
        assert_eq!(be(8, 12).get(&bytes), 0xabc);
        assert_eq!(be(0, 3).get_signed(&bytes), -3);
        // Out of range: no field, or bits past the bytes dropped.
        assert!(Bitfield::new(0, 0, false).is_none());
        assert!(Bitfield::new(0, 129, false).is_none());
        assert!(Bitfield::new(usize::MAX, 2, false).is_none());
        let mut short = [0xffu8; 1];
        le(4, 8).set(&mut short, 0);
        assert_eq!(short, [0x0f]);
        assert_eq!(le(4, 8).get(&[0xf0]), 0x0f);
    }
}
