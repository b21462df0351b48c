//! The skeleton generator: an object file in, a Rust module out.

use std::fmt::Write as _;
use std::path::PathBuf;

use oxbpf_elf_bpf::{DataKind, KCONFIG_SECTION};
use oxbpf_gen_loader::Step;
use oxbpf_syscalls::MapType;

use super::light;
use super::names::{Names, camel, escape, sanitize, str_lit};
use super::types::{RType, SectionStruct, TypeGen};
use crate::error::{Error, Result};
use crate::open::OpenObject;
use crate::planner::data_map_name;

/// How the generated module embeds the object (or, for a light skeleton,
/// the loader).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Embed {
    /// As a byte-string literal in the module: self-contained, what
    /// `oxbpf gen skeleton` writes.
    #[default]
    Inline,
    /// With `include_bytes!` of this file, which the caller writes with
    /// [`Skeleton::embedded`] (what [`crate::skel::Builder`] does). An
    /// absolute path, or one relative to the generated file.
    File(PathBuf),
}

/// Options of [`generate`].
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct SkelOptions {
    /// Generate a light skeleton: the module embeds a generated loader and
    /// loads through [`crate::LightSkeleton`], with no ELF or BTF parsing
    /// at run time. The loader is planned for the running kernel, as
    /// `oxbpf gen loader` plans it.
    pub light: bool,
    /// The skeleton's name (`counter` gives `CounterSkel`); by default the
    /// object's file name up to its first dot.
    pub name: Option<String>,
    /// How the bytes are embedded.
    pub embed: Embed,
}

impl SkelOptions {
    /// The defaults: a regular skeleton embedding the object inline.
    pub fn new() -> SkelOptions {
        SkelOptions::default()
    }

    /// Chooses a light or a regular skeleton.
    pub fn light(mut self, light: bool) -> SkelOptions {
        self.light = light;
        self
    }

    /// Names the skeleton.
    pub fn name(mut self, name: impl Into<String>) -> SkelOptions {
        self.name = Some(name.into());
        self
    }

    /// Chooses how the bytes are embedded.
    pub fn embed(mut self, embed: Embed) -> SkelOptions {
        self.embed = embed;
        self
    }
}

/// A generated skeleton.
#[derive(Clone, Debug)]
pub struct Skeleton {
    /// The Rust source of the module.
    pub source: String,
    /// The bytes the module embeds: the object, or the loader file of a
    /// light skeleton. With [`Embed::File`], write them to that file.
    pub embedded: Vec<u8>,
    /// The skeleton struct's name (`CounterSkel`).
    pub struct_name: String,
}

/// Map types whose keys and values are plain data, given typed accessors.
fn typed_map_type(t: MapType) -> bool {
    matches!(
        t,
        MapType::HASH
            | MapType::ARRAY
            | MapType::PERCPU_HASH
            | MapType::PERCPU_ARRAY
            | MapType::LRU_HASH
            | MapType::LRU_PERCPU_HASH
            | MapType::LPM_TRIE
    )
}

struct MapOut {
    name: String,
    accessor: String,
    defined: bool,
    /// `(key, value)` types from the skeleton module, for a typed map.
    typed: Option<(String, String)>,
}

struct DataOut {
    /// Index in the object's data sections.
    section: usize,
    /// The section's name.
    name: String,
    kind: DataKind,
    map: String,
    /// Accessor on the skeletons (`bss`, `rodata`, `data_custom`).
    accessor: String,
    /// The view struct (`CounterBss`).
    view: String,
    ty: SectionStruct,
    /// `Initial::...` in the spec.
    initial: String,
    settable: bool,
}

/// Generates the skeleton module of the object `bytes`, named `object`
/// (its file name: data maps are named after it). Fails on a malformed
/// object, on BTF it cannot turn into types, and, for a light skeleton,
/// where the generated loader cannot express the object.
pub fn generate(object: &str, bytes: &[u8], opts: &SkelOptions) -> Result<Skeleton> {
    let open = OpenObject::from_bytes(object, bytes)?;
    let elf = &open.elf;
    let stem = object.split('.').next().unwrap_or(object);
    let base = camel(opts.name.as_deref().unwrap_or(stem));
    let skel = format!("{base}Skel");
    let open_skel = format!("Open{base}Skel");
    let mut top = Names::with_reserved(&[
        "types",
        "SKEL_SPEC",
        "SKEL_BYTES",
        &skel,
        &open_skel,
        &format!("{base}Maps"),
        &format!("{base}Progs"),
        &format!("{base}Links"),
        &format!("Open{base}Maps"),
        &format!("Open{base}Progs"),
    ]);

    // Names of the types module: section structs first, so that they keep
    // their names whatever the object's own types are called.
    let mut type_names = Names::default();
    let mut section_type_names = Vec::new();
    for section in &elf.data {
        section_type_names.push(type_names.claim_type(&camel(&section.name), "Section"));
    }

    // Which sections are settable before load.
    let datasec = |name: &str| {
        elf.btf
            .as_ref()
            .and_then(|b| {
                b.find_by_name_kind(name, oxbpf_btf::Kind::Datasec)
                    .ok()
                    .flatten()
            })
            .is_some()
    };
    let settable: Vec<usize> = elf
        .data
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.bytes.is_empty() && datasec(&s.name))
        .map(|(i, _)| i)
        .collect();

    let light = if opts.light {
        Some(light::build(object, bytes, &settable)?)
    } else {
        None
    };

    let mut types = elf
        .btf
        .as_ref()
        .map(|btf| TypeGen::new(btf, object, type_names));

    // Data sections with types.
    let mut accessors = Names::with_reserved(&[
        "open",
        "open_and_load",
        "load",
        "attach",
        "detach",
        "maps",
        "progs",
        "links",
        "object",
        "object_mut",
        "skel",
        "skel_mut",
        "loader",
        "light",
        "light_mut",
        "maps_mut",
        "progs_mut",
    ]);
    let mut data = Vec::new();
    for (i, section) in elf.data.iter().enumerate() {
        let Some(tg) = types.as_mut() else { break };
        let Some(ty) = tg.section(&section.name, &section_type_names[i], section.bytes.len())?
        else {
            continue;
        };
        let accessor = accessors.claim(section.name.trim_start_matches('.'), "data");
        let view = top.claim(&format!("{base}{}", camel(&section.name)), "View");
        let (initial, settable) = match (&light, settable.contains(&i)) {
            (_, false) => ("::oxbpf::skel::Initial::None".to_owned(), false),
            (Some(l), true) => match l.initial[i] {
                Some(at) => (format!("::oxbpf::skel::Initial::Blob({at})"), true),
                None => ("::oxbpf::skel::Initial::None".to_owned(), false),
            },
            (None, true) => ("::oxbpf::skel::Initial::Object".to_owned(), true),
        };
        data.push(DataOut {
            section: i,
            name: section.name.clone(),
            kind: section.kind,
            map: data_map_name(object, &section.name),
            accessor,
            view,
            ty,
            initial,
            settable,
        });
    }

    // Maps: those the object defines, then data maps, then .kconfig.
    let mut map_names = Names::default();
    let mut maps = Vec::new();
    for def in &elf.maps {
        let accessor = map_names.claim(&def.name, "map");
        let mut typed = None;
        if typed_map_type(def.map_type) && def.key_size > 0 && def.value_size > 0 {
            let mut side =
                |id: Option<oxbpf_btf::TypeId>, size: u32, what: &str| -> Result<String> {
                    let fallback = RType::bytes(size as usize).expr;
                    let (Some(id), Some(tg)) = (id, types.as_mut()) else {
                        return Ok(fallback);
                    };
                    let t = tg.rust_type(id, &format!("{}_{what}", def.name))?;
                    Ok(if t.size == size as usize {
                        outer(&t)
                    } else {
                        fallback
                    })
                };
            let k = side(def.btf_key_type, def.key_size, "key")?;
            let v = side(def.btf_value_type, def.value_size, "value")?;
            typed = Some((k, v));
        }
        maps.push(MapOut {
            name: def.name.clone(),
            accessor,
            defined: true,
            typed,
        });
    }
    for section in &elf.data {
        maps.push(MapOut {
            name: data_map_name(object, &section.name),
            accessor: map_names.claim(section.name.trim_start_matches('.'), "data"),
            defined: false,
            typed: None,
        });
    }
    if elf.externs.kconfig_size > 0 {
        maps.push(MapOut {
            name: data_map_name(object, KCONFIG_SECTION),
            accessor: map_names.claim("kconfig", "kconfig"),
            defined: false,
            typed: None,
        });
    }

    // Programs.
    let mut prog_names = Names::default();
    let programs: Vec<(String, String, String)> = elf
        .programs
        .iter()
        .map(|p| {
            (
                p.name().to_owned(),
                p.section().to_owned(),
                prog_names.claim(p.name(), "prog"),
            )
        })
        .collect();

    // A light loader must make what the spec names.
    let embedded = match &light {
        Some(l) => {
            let made: Vec<&str> = l
                .loader
                .steps
                .iter()
                .filter_map(|s| match s {
                    Step::CreateMap {
                        name, handle: true, ..
                    } => Some(name.as_str()),
                    Step::ReuseMap { expect, .. } => Some(expect.name.as_str()),
                    _ => None,
                })
                .collect();
            for m in &maps {
                if !made.contains(&m.name.as_str()) {
                    return Err(Error::LoaderProtocol {
                        what: format!(
                            "light skeleton of {object}: the loader makes no map {:?}",
                            m.name
                        ),
                    });
                }
            }
            l.loader.to_bytes()
        }
        None => bytes.to_vec(),
    };

    let type_items = types.map(|t| t.into_items()).unwrap_or_default();
    let mut out = String::new();
    let w = &mut out;
    let kind = if opts.light {
        "light skeleton"
    } else {
        "skeleton"
    };
    let _ = writeln!(
        w,
        "// @generated by oxbpf {} ({kind} of {object}). Do not edit: regenerate.\n\
         //\n\
         // Include it as a module of its own, e.g.\n\
         // `mod {stem} {{ include!(concat!(env!(\"OUT_DIR\"), \"/{stem}.skel.rs\")); }}`.\n",
        env!("CARGO_PKG_VERSION"),
        stem = sanitize(stem, "skel"),
    );

    // The embedded bytes.
    match &opts.embed {
        Embed::Inline => {
            let _ = writeln!(
                w,
                "static SKEL_BYTES: &[::core::primitive::u8] = {};\n",
                byte_lit(&embedded)
            );
        }
        Embed::File(path) => {
            let _ = writeln!(
                w,
                "static SKEL_BYTES: &[::core::primitive::u8] = ::core::include_bytes!({});\n",
                str_lit(&path.to_string_lossy())
            );
        }
    }

    // The spec.
    let _ = writeln!(
        w,
        "static SKEL_SPEC: ::oxbpf::skel::SkelSpec = ::oxbpf::skel::SkelSpec {{"
    );
    let _ = writeln!(w, "    object: {},", str_lit(object));
    w.push_str("    maps: &[\n");
    for m in &maps {
        let _ = writeln!(
            w,
            "        ::oxbpf::skel::MapSpec {{ name: {}, defined: {} }},",
            str_lit(&m.name),
            m.defined
        );
    }
    w.push_str("    ],\n    programs: &[\n");
    for (name, section, _) in &programs {
        let _ = writeln!(
            w,
            "        ::oxbpf::skel::ProgSpec {{ name: {}, section: {} }},",
            str_lit(name),
            str_lit(section)
        );
    }
    w.push_str("    ],\n    data: &[\n");
    for d in &data {
        let _ = writeln!(
            w,
            "        ::oxbpf::skel::DataSpec {{ section: {}, map: {}, size: {}, initial: {} }},",
            str_lit(&d.name),
            str_lit(&d.map),
            d.ty.size,
            d.initial
        );
    }
    w.push_str("    ],\n    struct_ops: &[\n");
    for def in elf.maps.iter() {
        let Some(so) = &def.struct_ops else { continue };
        let pending = light
            .as_ref()
            .and_then(|l| l.struct_ops.iter().find(|(m, _, _)| *m == def.name));
        let (value, progs) = match pending {
            Some((_, value, progs)) => (
                byte_lit(value),
                progs
                    .iter()
                    .map(|(at, p)| format!("({at}, {})", str_lit(p)))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            None => ("b\"\"".to_owned(), String::new()),
        };
        let _ = writeln!(
            w,
            "        ::oxbpf::skel::StructOpsSpec {{\n            map: {},\n            link: {},\n            value: {value},\n            progs: &[{progs}],\n        }},",
            str_lit(&def.name),
            so.link
        );
    }
    w.push_str("    ],\n};\n\n");

    // Types.
    let _ = writeln!(
        w,
        "/// The object's types, from its BTF: global data sections and map keys and values.\n\
         #[allow(non_camel_case_types, non_snake_case, non_upper_case_globals, dead_code, missing_docs, \
         unused_qualifications, clippy::all, clippy::pedantic)]\n\
         pub mod types {{\n{}}}\n",
        indent(&type_items)
    );

    let allow = "#[allow(non_snake_case, dead_code, clippy::all, clippy::pedantic)]";
    let open_ty = if opts.light {
        "::oxbpf::skel::OpenLightSkel"
    } else {
        "::oxbpf::skel::OpenSkel"
    };
    let maps_ty = format!("{base}Maps");
    let progs_ty = format!("{base}Progs");
    let links_ty = format!("{base}Links");

    // The open skeleton.
    let settable_data: Vec<&DataOut> = data.iter().filter(|d| d.settable).collect();
    let _ = writeln!(
        w,
        "/// `{object}` opened and not loaded yet: set initial global data{} here, then load.\n\
         #[derive(Debug)]\n\
         pub struct {open_skel} {{\n    open: {open_ty},",
        if opts.light {
            ""
        } else {
            " and configure maps and programs"
        }
    );
    for d in &settable_data {
        let _ = writeln!(w, "    {}: types::{},", escape(&d.accessor), d.ty.name);
    }
    w.push_str("}\n\n");
    let _ = writeln!(w, "{allow}\nimpl {open_skel} {{");
    if opts.light {
        w.push_str(
            "    /// The light skeleton's loader, to look at.\n    pub fn light(&self) -> &::oxbpf::skel::OpenLightSkel {\n        &self.open\n    }\n\n\
             \x20   /// The light skeleton's loader, to configure (map sizes).\n    pub fn light_mut(&mut self) -> &mut ::oxbpf::skel::OpenLightSkel {\n        &mut self.open\n    }\n\n",
        );
    } else {
        w.push_str(
            "    /// The open object, to look at.\n    pub fn object(&self) -> &::oxbpf::OpenObject {\n        self.open.object()\n    }\n\n\
             \x20   /// The open object, to configure maps and programs by name.\n    pub fn object_mut(&mut self) -> &mut ::oxbpf::OpenObject {\n        self.open.object_mut()\n    }\n\n",
        );
    }
    if opts.light {
        w.push_str(
            "    /// The maps the loader creates, to size before load (all a light skeleton's loader lets change of them).\n\
             \x20   pub fn maps_mut(&mut self) -> Open",
        );
    } else {
        w.push_str(
            "    /// The maps the object defines, to configure before load.\n\
             \x20   pub fn maps_mut(&mut self) -> Open",
        );
    }
    let _ = writeln!(
        w,
        "{base}Maps<'_> {{\n        Open{base}Maps {{ open: &mut self.open }}\n    }}\n"
    );
    if !opts.light {
        let _ = writeln!(
            w,
            "    /// The programs, to configure before load.\n    pub fn progs_mut(&mut self) -> Open{base}Progs<'_> {{\n        Open{base}Progs {{ open: &mut self.open }}\n    }}\n"
        );
    }
    for d in &settable_data {
        let acc = escape(&d.accessor);
        let _ = writeln!(
            w,
            "    /// The initial value of `{sec}`.\n    pub fn {acc}(&self) -> &types::{ty} {{\n        &self.{acc}\n    }}\n\n\
             \x20   /// The initial value of `{sec}`, to set before load{frozen}.\n    pub fn {mut_name}(&mut self) -> &mut types::{ty} {{\n        &mut self.{acc}\n    }}\n",
            sec = d.name,
            ty = d.ty.name,
            mut_name = escape(&format!("{}_mut", d.accessor)),
            frozen = if d.kind == DataKind::Rodata {
                " (the section is frozen once loaded: programs see these values)"
            } else {
                ""
            },
        );
    }
    let _ = write!(
        w,
        "    /// Loads the object with the initial values set, and maps its global data.\n\
         \x20   pub fn load(self) -> ::oxbpf::Result<{skel}> {{\n"
    );
    if !settable_data.is_empty() {
        w.push_str("        use ::oxbpf::skel::zerocopy::IntoBytes as _;\n");
    }
    w.push_str(
        "        let images: &[(::core::primitive::usize, &[::core::primitive::u8])] = &[\n",
    );
    for d in &settable_data {
        let k = data
            .iter()
            .position(|x| x.section == d.section)
            .unwrap_or(0);
        let _ = writeln!(
            w,
            "            ({k}, self.{}.as_bytes()),",
            escape(&d.accessor)
        );
    }
    let _ = write!(
        w,
        "        ];\n        ::core::result::Result::Ok({skel} {{ skel: self.open.load(images)? }})\n    }}\n}}\n\n"
    );

    // Configuring maps (and, for a regular skeleton, programs) by
    // accessor: what a light skeleton cannot change has no method.
    write_open_config(
        w,
        &open_skel,
        &base,
        opts.light,
        &maps,
        &programs,
        light.as_ref(),
    );

    // The skeleton.
    let _ = write!(
        w,
        "/// The {kind} of `{object}`: its maps, programs and links, and its global data typed.\n\
         ///\n\
         /// `{skel}::open_and_load()?` loads it (or `open()`, configure, `load()`); `attach()` attaches\n\
         /// every program whose section names its attach point; the links detach when it is dropped.\n\
         #[derive(Debug)]\n\
         pub struct {skel} {{\n    skel: ::oxbpf::skel::Skel,\n}}\n\n"
    );
    let _ = writeln!(w, "{allow}\nimpl {skel} {{");
    let _ = write!(
        w,
        "    /// Opens the embedded {what}{parse}.\n\
         \x20   pub fn open() -> ::oxbpf::Result<{open_skel}> {{\n\
         \x20       let open = {open_ty}::open(&SKEL_SPEC, SKEL_BYTES)?;\n\
         \x20       ::core::result::Result::Ok({open_skel} {{\n",
        what = if opts.light { "loader" } else { "object" },
        parse = if opts.light {
            " (no ELF or BTF is parsed)"
        } else {
            ""
        },
    );
    for d in &settable_data {
        let k = data
            .iter()
            .position(|x| x.section == d.section)
            .unwrap_or(0);
        let _ = writeln!(
            w,
            "            {}: open.initial({k})?,",
            escape(&d.accessor)
        );
    }
    let _ = write!(
        w,
        "            open,\n        }})\n    }}\n\n\
         \x20   /// Opens and loads with the object's initial values.\n\
         \x20   pub fn open_and_load() -> ::oxbpf::Result<{skel}> {{\n        Self::open()?.load()\n    }}\n\n\
         \x20   /// Attaches every loaded program whose section names its attach point and keeps the links\n\
         \x20   /// (see [`::oxbpf::skel::Skel::attach`]).\n\
         \x20   pub fn attach(&mut self) -> ::oxbpf::Result<()> {{\n        self.skel.attach()\n    }}\n\n\
         \x20   /// Detaches every program.\n\
         \x20   pub fn detach(&mut self) {{\n        self.skel.detach()\n    }}\n\n\
         \x20   /// The maps.\n    pub fn maps(&self) -> {maps_ty}<'_> {{\n        {maps_ty} {{ skel: &self.skel }}\n    }}\n\n\
         \x20   /// The programs.\n    pub fn progs(&self) -> {progs_ty}<'_> {{\n        {progs_ty} {{ skel: &self.skel }}\n    }}\n\n\
         \x20   /// The links [`{skel}::attach`] made.\n    pub fn links(&self) -> {links_ty}<'_> {{\n        {links_ty} {{ skel: &self.skel }}\n    }}\n\n\
         \x20   /// The loaded object.\n    pub fn object(&self) -> &::oxbpf::Object {{\n        self.skel.object()\n    }}\n\n\
         \x20   /// The untyped skeleton.\n    pub fn skel(&self) -> &::oxbpf::skel::Skel {{\n        &self.skel\n    }}\n\n\
         \x20   /// The untyped skeleton, to keep links of programs attached by hand.\n    pub fn skel_mut(&mut self) -> &mut ::oxbpf::skel::Skel {{\n        &mut self.skel\n    }}\n"
    );
    for (k, d) in data.iter().enumerate() {
        let _ = write!(
            w,
            "\n    /// The live `{sec}` (its map's memory, shared with the programs).\n\
             \x20   pub fn {acc}(&self) -> {view}<'_> {{\n        {view} {{ view: self.skel.data({k}) }}\n    }}\n",
            sec = d.name,
            acc = escape(&d.accessor),
            view = d.view
        );
    }
    w.push_str("}\n\n");

    // Maps.
    let _ = writeln!(
        w,
        "/// The maps of [`{skel}`].\n#[derive(Clone, Copy, Debug)]\n#[allow(dead_code)]\npub struct {maps_ty}<'a> {{\n    skel: &'a ::oxbpf::skel::Skel,\n}}\n\n{allow}\nimpl<'a> {maps_ty}<'a> {{"
    );
    for (k, m) in maps.iter().enumerate() {
        match &m.typed {
            Some((key, value)) => {
                let _ = writeln!(
                    w,
                    "    /// Map `{name}`, with typed keys and values.\n    pub fn {acc}(&self) -> ::oxbpf::skel::TypedMap<'a, {key}, {value}> {{\n        self.skel.typed_map({k})\n    }}\n",
                    name = m.name,
                    acc = escape(&m.accessor)
                );
            }
            None => {
                let _ = writeln!(
                    w,
                    "    /// Map `{name}`.\n    pub fn {acc}(&self) -> &'a ::oxbpf::Map {{\n        self.skel.map({k})\n    }}\n",
                    name = m.name,
                    acc = escape(&m.accessor)
                );
            }
        }
    }
    w.push_str("}\n\n");

    // Programs and links.
    let _ = writeln!(
        w,
        "/// The programs of [`{skel}`].\n#[derive(Clone, Copy, Debug)]\n#[allow(dead_code)]\npub struct {progs_ty}<'a> {{\n    skel: &'a ::oxbpf::skel::Skel,\n}}\n\n{allow}\nimpl<'a> {progs_ty}<'a> {{"
    );
    for (k, (name, section, acc)) in programs.iter().enumerate() {
        let optional = section.starts_with('?');
        if optional {
            let _ = writeln!(
                w,
                "    /// Program `{name}` (section `{section}`), if it was loaded (its section starts with `?`).\n    pub fn {acc}(&self) -> ::core::option::Option<&'a ::oxbpf::Program> {{\n        self.skel.program({k})\n    }}\n",
                acc = escape(acc)
            );
        } else {
            let _ = writeln!(
                w,
                "    /// Program `{name}` (section `{section}`).\n    pub fn {acc}(&self) -> &'a ::oxbpf::Program {{\n        match self.skel.program({k}) {{\n            ::core::option::Option::Some(p) => p,\n            ::core::option::Option::None => ::core::unreachable!(\"checked when loaded\"),\n        }}\n    }}\n",
                acc = escape(acc)
            );
        }
    }
    w.push_str("}\n\n");
    let _ = writeln!(
        w,
        "/// The links of [`{skel}`]'s programs.\n#[derive(Clone, Copy, Debug)]\n#[allow(dead_code)]\npub struct {links_ty}<'a> {{\n    skel: &'a ::oxbpf::skel::Skel,\n}}\n\n{allow}\nimpl<'a> {links_ty}<'a> {{"
    );
    for (k, (name, _, acc)) in programs.iter().enumerate() {
        let _ = writeln!(
            w,
            "    /// The link of program `{name}`, if attached.\n    pub fn {acc}(&self) -> ::core::option::Option<&'a ::oxbpf::Link> {{\n        self.skel.link({k})\n    }}\n",
            acc = escape(acc)
        );
    }
    w.push_str("}\n");

    // Data views.
    for d in &data {
        write_view(w, d, allow);
    }

    // No blank line before a closing brace.
    let out = out.replace("\n\n}\n", "\n}\n");
    Ok(Skeleton {
        source: out,
        embedded,
        struct_name: skel,
    })
}

/// The open skeleton's `maps_mut()` and (regular skeletons) `progs_mut()`
/// structs: an accessor per map the object defines (for a light skeleton,
/// per map its loader creates) and per program.
fn write_open_config(
    w: &mut String,
    open_skel: &str,
    base: &str,
    light: bool,
    maps: &[MapOut],
    programs: &[(String, String, String)],
    loader: Option<&light::LightLoader>,
) {
    let allow = "#[allow(non_snake_case, dead_code, clippy::all, clippy::pedantic)]";
    let (open_ty, map_ty, what) = if light {
        (
            "::oxbpf::skel::OpenLightSkel",
            "::oxbpf::skel::OpenLightMap",
            "Its size (`set_max_entries`): the rest was planned when the loader was generated.",
        )
    } else {
        (
            "::oxbpf::skel::OpenSkel",
            "::oxbpf::OpenMapMut",
            "Its size (`set_max_entries`), value size...",
        )
    };
    let created = |name: &str| {
        loader.is_none_or(|l| {
            l.loader
                .steps
                .iter()
                .any(|s| matches!(s, Step::CreateMap { name: n, handle: true, .. } if n == name))
        })
    };
    let _ = writeln!(
        w,
        "/// The maps of [`{open_skel}`], to configure before load.\n#[derive(Debug)]\n#[allow(dead_code)]\n\
         pub struct Open{base}Maps<'a> {{\n    open: &'a mut {open_ty},\n}}\n\n{allow}\nimpl<'a> Open{base}Maps<'a> {{"
    );
    for (k, m) in maps.iter().enumerate() {
        if !m.defined || !created(&m.name) {
            continue;
        }
        let _ = writeln!(
            w,
            "    /// Map `{name}`. {what}\n    pub fn {acc}(self) -> {map_ty}<'a> {{\n        \
             match self.open.map_mut({k}) {{\n            \
             ::core::result::Result::Ok(m) => m,\n            \
             ::core::result::Result::Err(_) => ::core::unreachable!(\"checked when opened\"),\n        }}\n    }}\n",
            name = m.name,
            acc = escape(&m.accessor)
        );
    }
    w.push_str("}\n\n");
    if light {
        return;
    }
    let _ = writeln!(
        w,
        "/// The programs of [`{open_skel}`], to configure before load.\n#[derive(Debug)]\n#[allow(dead_code)]\n\
         pub struct Open{base}Progs<'a> {{\n    open: &'a mut {open_ty},\n}}\n\n{allow}\nimpl<'a> Open{base}Progs<'a> {{"
    );
    for (k, (name, section, acc)) in programs.iter().enumerate() {
        let _ = writeln!(
            w,
            "    /// Program `{name}` (section `{section}`): autoload, type, attach target, log level...\n\
             \x20   pub fn {acc}(self) -> ::oxbpf::OpenProgramMut<'a> {{\n        \
             match self.open.program_mut({k}) {{\n            \
             ::core::result::Result::Ok(p) => p,\n            \
             ::core::result::Result::Err(_) => ::core::unreachable!(\"checked when opened\"),\n        }}\n    }}\n",
            acc = escape(acc)
        );
    }
    w.push_str("}\n\n");
}

/// The view struct of a data section: whole-section and per-variable
/// getters, setters unless frozen.
fn write_view(w: &mut String, d: &DataOut, allow: &str) {
    let (view, ty) = (&d.view, &d.ty.name);
    let frozen = d.kind == DataKind::Rodata;
    let _ = writeln!(
        w,
        "\n/// The live `{sec}` of the loaded object{ro}. Values are copied in and out (in aligned atomic units, so\n\
         /// a counter a program updates is never seen half-written): the memory is shared with the programs.\n\
         #[derive(Clone, Copy, Debug)]\n\
         #[allow(dead_code)]\n\
         pub struct {view}<'a> {{\n    view: ::oxbpf::skel::DataView<'a, types::{ty}>,\n}}\n\n{allow}\nimpl<'a> {view}<'a> {{",
        sec = d.name,
        ro = if frozen { " (frozen: read-only)" } else { "" },
    );
    for (k, v) in d.ty.vars.iter().enumerate() {
        let _ = writeln!(
            w,
            "    const V{k}: ::oxbpf::skel::Field<types::{ty}, {t}> = match ::oxbpf::skel::Field::new({off}) {{\n        \
             ::core::option::Option::Some(f) => f,\n        \
             ::core::option::Option::None => ::core::panic!(\"variable out of its section\"),\n    }};",
            t = outer(&v.ty),
            off = v.offset
        );
    }
    let _ = write!(
        w,
        "\n    /// Copies the whole section out (each aligned word whole; not a snapshot across words).\n\
         \x20   pub fn get(&self) -> types::{ty} {{\n        self.view.read()\n    }}\n\n\
         \x20   /// The untyped view.\n\
         \x20   pub fn view(&self) -> ::oxbpf::skel::DataView<'a, types::{ty}> {{\n        self.view\n    }}\n"
    );
    if !frozen {
        let _ = write!(
            w,
            "\n    /// Copies `value` over the whole section.\n\
             \x20   pub fn set(&self, value: &types::{ty}) -> ::oxbpf::Result<()> {{\n        self.view.write(value)\n    }}\n"
        );
    }
    let mut names = Names::with_reserved(&["get", "set", "view"]);
    for (k, v) in d.ty.vars.iter().enumerate() {
        let t = outer(&v.ty);
        let get = names.claim(&v.name, "var");
        let _ = write!(
            w,
            "\n    /// Variable `{c}` ({size} bytes at offset {off}).\n\
             \x20   pub fn {g}(&self) -> {t} {{\n        self.view.get(Self::V{k})\n    }}\n",
            c = v.c_name,
            size = v.ty.size,
            off = v.offset,
            g = escape(&get)
        );
        if !frozen {
            let set = names.claim(&format!("set_{get}"), "set");
            let _ = write!(
                w,
                "\n    /// Sets variable `{c}`.\n\
                 \x20   pub fn {set}(&self, value: {t}) -> ::oxbpf::Result<()> {{\n        self.view.set(Self::V{k}, &value)\n    }}\n",
                c = v.c_name,
            );
        }
    }
    w.push_str("}\n");
}

/// A type as written outside the `types` module.
fn outer(t: &RType) -> String {
    t.outer.clone()
}

fn indent(items: &str) -> String {
    let mut out = String::with_capacity(items.len() + items.len() / 8);
    for line in items.lines() {
        if !line.is_empty() {
            out.push_str("    ");
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// A byte-string literal of `bytes`, wrapped in lines.
fn byte_lit(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3 + bytes.len() / 24 + 8);
    out.push_str("b\"\\\n");
    let mut col = 0;
    for &b in bytes {
        let piece = match b {
            b'"' => "\\\"".to_owned(),
            b'\\' => "\\\\".to_owned(),
            0x20..=0x7e => (b as char).to_string(),
            _ => format!("\\x{b:02x}"),
        };
        // A line ends with `\` (continuation); spaces after it are eaten,
        // so a space that would start a line is escaped.
        let piece = if col == 0 && b == b' ' {
            "\\x20".to_owned()
        } else {
            piece
        };
        out.push_str(&piece);
        col += piece.len();
        if col >= 96 {
            out.push_str("\\\n");
            col = 0;
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_literals_escape_what_they_must() {
        assert_eq!(byte_lit(b"a\"\\\x00 "), "b\"\\\na\\\"\\\\\\x00 \"");
        let long = vec![b' '; 200];
        let lit = byte_lit(&long);
        // Every line after a continuation starts with an escaped space.
        for line in lit.lines().skip(1) {
            assert!(line.starts_with("\\x20") || line == "\"", "{line}");
        }
    }
}
