//! Map definitions: BTF-defined (`.maps`) and legacy (`maps`, `bpf_map_def`).

use oxbpf_btf::{Btf, Kind, Type, TypeId};
use oxbpf_syscalls::MapType;

use crate::error::{Error, Result};
use crate::object::Endian;

/// How a map is pinned in bpffs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Pinning {
    /// Not pinned.
    #[default]
    None,
    /// `LIBBPF_PIN_BY_NAME`: pinned at `<pin root>/<map name>`, reused when
    /// a compatible map is already pinned there.
    ByName,
}

/// Which syntax defined a map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapSyntax {
    /// A variable of the `.maps` section described by BTF.
    Btf,
    /// A `struct bpf_map_def` in the `maps` section.
    Legacy,
}

/// A map definition as the object declares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapDef {
    /// Name: the symbol of the definition.
    pub name: String,
    /// Map type.
    pub map_type: MapType,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// Maximum number of entries.
    pub max_entries: u32,
    /// `BPF_F_*` creation flags.
    pub map_flags: u32,
    /// NUMA node (meaningful with `BPF_F_NUMA_NODE`).
    pub numa_node: u32,
    /// `map_extra` (bloom filter hash count, arena address...).
    pub map_extra: u64,
    /// Pinning.
    pub pinning: Pinning,
    /// BTF type of the key, when given as a type.
    pub btf_key_type: Option<TypeId>,
    /// BTF type of the value, when given as a type.
    pub btf_value_type: Option<TypeId>,
    /// Inner map template of a map-in-map (`__array(values, ...)`).
    pub inner: Option<Box<MapDef>>,
    /// Which syntax defined the map.
    pub syntax: MapSyntax,
    /// ELF index of the section holding the definition.
    pub section_index: usize,
    /// Byte offset of the definition within that section.
    pub section_offset: u64,
    /// Size in bytes of the definition in its section.
    pub def_size: u64,
    /// Byte offset of the `values` member in the definition, if it has one.
    pub values_offset: Option<u64>,
    /// Initial slots from `.values = { [i] = &map_or_prog }`: what to store
    /// at each index once the map and its values exist.
    pub init: Vec<(u32, MapInit)>,
    /// For a struct_ops map: the struct it implements.
    pub struct_ops: Option<Box<StructOps>>,
}

/// A struct_ops map: a kernel struct of function pointers (and data)
/// that the object fills with its programs, registered with the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StructOps {
    /// The struct's name (`tcp_congestion_ops`): the kernel type it
    /// implements, and the value type `bpf_struct_ops_<name>`.
    pub type_name: String,
    /// The struct in the object's BTF.
    pub local_type: TypeId,
    /// The struct's image as the object initializes it.
    pub data: Vec<u8>,
    /// Members pointing to programs: byte offset in `data`, program name.
    pub funcs: Vec<(u32, String)>,
    /// From `.struct_ops.link`: registered by creating a link, not by the
    /// map update.
    pub link: bool,
}

impl MapDef {
    /// A struct_ops map definition (value size known only from the kernel).
    pub(crate) fn struct_ops(
        name: &str,
        ops: StructOps,
        section_index: usize,
        section_offset: u64,
    ) -> MapDef {
        MapDef {
            name: name.to_owned(),
            map_type: MapType::STRUCT_OPS,
            key_size: 4,
            value_size: 0,
            max_entries: 1,
            map_flags: 0,
            numa_node: 0,
            map_extra: 0,
            pinning: Pinning::None,
            btf_key_type: None,
            btf_value_type: None,
            inner: None,
            syntax: MapSyntax::Btf,
            section_index,
            section_offset,
            def_size: ops.data.len() as u64,
            values_offset: None,
            init: Vec::new(),
            struct_ops: Some(Box::new(ops)),
        }
    }
}

/// The type of the VAR `name` in the DATASEC `section`.
pub(crate) fn datasec_var_type(btf: &Btf<'_>, section: &str, name: &str) -> Result<TypeId> {
    let btf_err = |e| Error::btf(format!("{section} variable {name}"), e);
    let datasec = btf
        .find_by_name_kind(section, Kind::Datasec)
        .map_err(btf_err)?
        .ok_or_else(|| Error::map(name, format!("no {section} DATASEC in BTF")))?;
    let Type::Datasec(sec) = btf.type_by_id(datasec).map_err(btf_err)? else {
        return Err(Error::map(name, format!("{section} is not a DATASEC")));
    };
    for v in sec.vars() {
        if let Type::Var(var) = btf.type_by_id(v.ty).map_err(btf_err)? {
            if btf.name(v.ty).map_err(btf_err)? == name {
                return btf.skip_mods_and_typedefs(var.ty).map_err(btf_err);
            }
        }
    }
    Err(Error::map(
        name,
        format!("no VAR of this name in the {section} DATASEC"),
    ))
}

/// What an initial slot of a map-in-map or prog array holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MapInit {
    /// Another map of the object (index into `Object::maps`).
    Map(usize),
    /// A program of the object, by name.
    Program(String),
}

/// Reads a legacy `struct bpf_map_def { u32 type, key_size, value_size,
/// max_entries, map_flags; }` (plus the optional `id` and `pinning` words of
/// the aya/iproute2 layout).
pub(crate) fn legacy_map_def(
    name: &str,
    bytes: &[u8],
    endian: Endian,
    section_index: usize,
    section_offset: u64,
) -> Result<MapDef> {
    let word = |i: usize| -> Option<u32> {
        let b: [u8; 4] = bytes.get(i * 4..i * 4 + 4)?.try_into().ok()?;
        Some(match endian {
            Endian::Little => u32::from_le_bytes(b),
            Endian::Big => u32::from_be_bytes(b),
        })
    };
    if bytes.len() < 20 {
        return Err(Error::map(
            name,
            format!(
                "legacy definition of {} bytes, need at least 20",
                bytes.len()
            ),
        ));
    }
    let pinning = match word(6).unwrap_or(0) {
        0 => Pinning::None,
        1 => Pinning::ByName,
        other => {
            return Err(Error::map(
                name,
                format!("unsupported pinning value {other}"),
            ));
        }
    };
    Ok(MapDef {
        name: name.to_owned(),
        map_type: MapType(word(0).unwrap_or_default()),
        key_size: word(1).unwrap_or_default(),
        value_size: word(2).unwrap_or_default(),
        max_entries: word(3).unwrap_or_default(),
        map_flags: word(4).unwrap_or_default(),
        numa_node: 0,
        map_extra: 0,
        pinning,
        btf_key_type: None,
        btf_value_type: None,
        inner: None,
        syntax: MapSyntax::Legacy,
        section_index,
        section_offset,
        def_size: bytes.len() as u64,
        values_offset: None,
        init: Vec::new(),
        struct_ops: None,
    })
}

/// Reads the BTF-defined map `name`: the VAR of that name in the `.maps`
/// DATASEC, whose type is a struct of the fields of `bpf_helpers.h`
/// (`__uint(type, ..)`, `__type(key, ..)`, `__array(values, ..)`...).
pub(crate) fn btf_map_def(
    btf: &Btf<'_>,
    name: &str,
    section_index: usize,
    section_offset: u64,
) -> Result<MapDef> {
    let btf_err = |e| Error::btf(format!("map {name}"), e);
    let datasec = btf
        .find_by_name_kind(".maps", Kind::Datasec)
        .map_err(btf_err)?
        .ok_or_else(|| Error::map(name, "no .maps DATASEC in BTF"))?;
    let Type::Datasec(sec) = btf.type_by_id(datasec).map_err(btf_err)? else {
        return Err(Error::map(name, ".maps is not a DATASEC"));
    };
    let mut var_type = None;
    for v in sec.vars() {
        if let Type::Var(var) = btf.type_by_id(v.ty).map_err(btf_err)? {
            if btf.name(v.ty).map_err(btf_err)? == name {
                var_type = Some(var.ty);
                break;
            }
        }
    }
    let var_type =
        var_type.ok_or_else(|| Error::map(name, "no VAR of this name in the .maps DATASEC"))?;
    let mut def = map_def_from_struct(btf, name, var_type, 0)?;
    def.section_index = section_index;
    def.section_offset = section_offset;
    Ok(def)
}

/// Nesting limit for inner map definitions (a map of maps of maps...).
const MAX_INNER_DEPTH: u32 = 4;

fn map_def_from_struct(btf: &Btf<'_>, name: &str, ty: TypeId, depth: u32) -> Result<MapDef> {
    let btf_err = |e| Error::btf(format!("map {name}"), e);
    let id = btf.skip_mods_and_typedefs(ty).map_err(btf_err)?;
    let Type::Struct(st) = btf.type_by_id(id).map_err(btf_err)? else {
        return Err(Error::map(
            name,
            format!("definition type [{id}] is not a struct"),
        ));
    };
    let mut def = MapDef {
        name: name.to_owned(),
        map_type: MapType::UNSPEC,
        key_size: 0,
        value_size: 0,
        max_entries: 0,
        map_flags: 0,
        numa_node: 0,
        map_extra: 0,
        pinning: Pinning::None,
        btf_key_type: None,
        btf_value_type: None,
        inner: None,
        syntax: MapSyntax::Btf,
        section_index: 0,
        section_offset: 0,
        def_size: u64::from(st.size()),
        values_offset: None,
        init: Vec::new(),
        struct_ops: None,
    };
    let mut key_size = None;
    let mut value_size = None;
    for member in st.members() {
        let field = btf.string_at(member.name_off).map_err(btf_err)?;
        let bad = |reason: String| Error::map(name, format!("field {field}: {reason}"));
        match field {
            "type" => def.map_type = MapType(uint_field(btf, member.ty).map_err(&bad)? as u32),
            "max_entries" => def.max_entries = uint_field(btf, member.ty).map_err(&bad)? as u32,
            "map_flags" => def.map_flags = uint_field(btf, member.ty).map_err(&bad)? as u32,
            "numa_node" => def.numa_node = uint_field(btf, member.ty).map_err(&bad)? as u32,
            "map_extra" => def.map_extra = uint_field(btf, member.ty).map_err(&bad)?,
            "key_size" => key_size = Some(uint_field(btf, member.ty).map_err(&bad)? as u32),
            "value_size" => value_size = Some(uint_field(btf, member.ty).map_err(&bad)? as u32),
            "pinning" => {
                def.pinning = match uint_field(btf, member.ty).map_err(&bad)? {
                    0 => Pinning::None,
                    1 => Pinning::ByName,
                    other => return Err(bad(format!("unsupported pinning value {other}"))),
                }
            }
            "key" => def.btf_key_type = Some(pointee(btf, member.ty).map_err(&bad)?),
            "value" => def.btf_value_type = Some(pointee(btf, member.ty).map_err(&bad)?),
            "values" => {
                def.values_offset = Some(u64::from(member.bit_offset / 8));
                // `__array(values, T)`: a zero-length array of pointers to T.
                let elem = array_of_ptr(btf, member.ty).map_err(&bad)?;
                let target = btf.skip_mods_and_typedefs(elem).map_err(btf_err)?;
                if let Type::Struct(_) = btf.type_by_id(target).map_err(btf_err)? {
                    if depth >= MAX_INNER_DEPTH {
                        return Err(bad("inner map definitions nested too deeply".into()));
                    }
                    let inner =
                        map_def_from_struct(btf, &format!("{name}.inner"), target, depth + 1)?;
                    def.inner = Some(Box::new(inner));
                }
                // Otherwise (a function prototype) it lists programs of a
                // prog array: nothing to record in the definition itself.
            }
            other => return Err(Error::map(name, format!("unknown field {other}"))),
        }
    }
    if matches!(
        def.map_type,
        MapType::ARRAY_OF_MAPS | MapType::HASH_OF_MAPS | MapType::PROG_ARRAY
    ) && value_size.is_none()
        && def.btf_value_type.is_none()
    {
        // The value of a map-in-map or prog array is the fd (from user
        // space) of a map or program.
        value_size = Some(4);
    }
    if let Some(key) = def.btf_key_type {
        let size = btf.resolve_size(key).map_err(btf_err)?;
        if key_size.is_some_and(|s| s != size) {
            return Err(Error::map(
                name,
                format!(
                    "key_size {} contradicts key type size {size}",
                    key_size.unwrap_or(0)
                ),
            ));
        }
        def.key_size = size;
    } else {
        def.key_size = key_size.unwrap_or(0);
    }
    if let Some(value) = def.btf_value_type {
        let size = btf.resolve_size(value).map_err(btf_err)?;
        if value_size.is_some_and(|s| s != size) {
            return Err(Error::map(
                name,
                format!(
                    "value_size {} contradicts value type size {size}",
                    value_size.unwrap_or(0)
                ),
            ));
        }
        def.value_size = size;
    } else {
        def.value_size = value_size.unwrap_or(0);
    }
    Ok(def)
}

/// Decodes `__uint(name, val)` — `int (*name)[val]` — and `__ulong(name,
/// val)` — an enum whose only value is `val`.
fn uint_field(btf: &Btf<'_>, ty: TypeId) -> Result<u64, String> {
    let fail = |e: oxbpf_btf::Error| e.to_string();
    match btf.type_by_id(ty).map_err(fail)? {
        Type::Ptr(p) => match btf.type_by_id(p.ty).map_err(fail)? {
            Type::Array(a) => Ok(u64::from(a.nelems)),
            other => Err(format!(
                "pointer to {} where __uint expects an array",
                other.kind()
            )),
        },
        Type::Enum(e) | Type::Enum64(e) => {
            let v = e.values().next().ok_or("empty enum")?;
            u64::try_from(v.value()).map_err(|_| format!("negative value {}", v.value()))
        }
        other => Err(format!(
            "{} where __uint expects a pointer to an array",
            other.kind()
        )),
    }
}

/// Decodes `__type(name, T)` — `typeof(T) *name` — into `T`.
fn pointee(btf: &Btf<'_>, ty: TypeId) -> Result<TypeId, String> {
    match btf.type_by_id(ty).map_err(|e| e.to_string())? {
        Type::Ptr(p) => Ok(p.ty),
        other => Err(format!("{} where __type expects a pointer", other.kind())),
    }
}

/// Decodes `__array(name, T)` — `typeof(T) *name[]` — into `T`.
fn array_of_ptr(btf: &Btf<'_>, ty: TypeId) -> Result<TypeId, String> {
    match btf.type_by_id(ty).map_err(|e| e.to_string())? {
        Type::Array(a) => pointee(btf, a.elem),
        other => Err(format!("{} where __array expects an array", other.kind())),
    }
}
