//! Rust types from BTF: the `types` module of a generated skeleton.
//!
//! Every type is plain old data with the C layout, spelled out: fields at
//! their BTF offsets with explicit padding fields between them, so that
//! `#[repr(C)]` adds no padding of its own (and the zerocopy derives,
//! which refuse padding, accept the type). Each struct comes with
//! compile-time assertions of its size and of every field's offset, which
//! fail the build if the host's layout rules differ.
//!
//! | C | Rust |
//! |---|---|
//! | integers, `char`, `_Bool` | `u8`..`u128`, `i8`..`i128` (`_Bool` as `u8`) |
//! | pointers | `u64` (a BPF pointer; no Rust pointer is plain data) |
//! | arrays | `[T; N]` |
//! | struct | `#[repr(C)]` struct; `#[repr(C, packed)]` when a field is not at a multiple of its Rust alignment |
//! | bitfields | the bytes holding them, `__bitfield_<offset>: [u8; n]` |
//! | union | `bytes: [u8; size]` with a getter and setter per member |
//! | enum | a transparent integer newtype with a constant per enumerator |
//! | typedef | `pub type` alias (a typedef of an anonymous struct names the struct) |
//! | float, double | `f32`, `f64` |
//! | `const`, `volatile`, type tags | dropped |
//!
//! Only the types reachable from what the skeleton exposes (global
//! variables, map keys and values) are generated.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use oxbpf_btf::{Btf, Composite, Enum, Int, Kind, Type, TypeId};

use super::names::{Names, escape};
use crate::error::{Error, Result};

/// The derives of every generated type.
pub(crate) const DERIVES: &str = "#[derive(Clone, Copy, Debug, PartialEq, \
     ::oxbpf::skel::zerocopy::FromBytes, ::oxbpf::skel::zerocopy::IntoBytes, \
     ::oxbpf::skel::zerocopy::Immutable, ::oxbpf::skel::zerocopy::KnownLayout)]\n\
     #[zerocopy(crate = \"::oxbpf::skel::zerocopy\")]\n";

/// How deep types may nest (struct in struct in array...) before the BTF
/// is taken as malformed.
const MAX_DEPTH: u32 = 128;

/// A generated Rust type: how code names it, its size and its Rust
/// alignment on a 64-bit host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RType {
    /// The type as code writes it inside the `types` module.
    pub(crate) expr: String,
    /// The type as code writes it beside the `types` module.
    pub(crate) outer: String,
    /// Size in bytes.
    pub(crate) size: usize,
    /// Alignment in bytes.
    pub(crate) align: usize,
}

impl RType {
    fn prim(name: &str, size: usize) -> RType {
        let expr = format!("::core::primitive::{name}");
        RType {
            outer: expr.clone(),
            expr,
            size,
            align: size,
        }
    }

    /// `[u8; n]`.
    pub(crate) fn bytes(n: usize) -> RType {
        let expr = format!("[::core::primitive::u8; {n}]");
        RType {
            outer: expr.clone(),
            expr,
            size: n,
            align: 1,
        }
    }
}

/// A field of a generated struct.
#[derive(Clone, Debug)]
pub(crate) struct FieldOut {
    /// The bare identifier (escape it to write it).
    pub(crate) name: String,
    /// The C name it stands for (empty for padding and bitfield bytes).
    pub(crate) c_name: String,
    /// Byte offset.
    pub(crate) offset: usize,
    /// Its type.
    pub(crate) ty: RType,
}

/// A data section's generated struct.
#[derive(Clone, Debug)]
pub(crate) struct SectionStruct {
    /// The type's name in `types`.
    pub(crate) name: String,
    /// Size in bytes.
    pub(crate) size: usize,
    /// The variables, by offset.
    pub(crate) vars: Vec<FieldOut>,
}

/// A piece of a struct to lay out.
enum Piece {
    Field {
        hint: String,
        c_name: String,
        offset: usize,
        ty: RType,
    },
    /// The bytes `start..end` hold bitfields.
    Bits { start: usize, end: usize },
}

impl Piece {
    fn start(&self) -> usize {
        match self {
            Piece::Field { offset, .. } => *offset,
            Piece::Bits { start, .. } => *start,
        }
    }
}

/// The generator of the `types` module.
pub(crate) struct TypeGen<'b> {
    btf: &'b Btf<'static>,
    object: String,
    pub(crate) names: Names,
    done: HashMap<TypeId, RType>,
    in_progress: HashSet<TypeId>,
    items: String,
    depth: u32,
}

impl<'b> TypeGen<'b> {
    pub(crate) fn new(btf: &'b Btf<'static>, object: &str, names: Names) -> TypeGen<'b> {
        TypeGen {
            btf,
            object: object.to_owned(),
            names,
            done: HashMap::new(),
            in_progress: HashSet::new(),
            items: String::new(),
            depth: 0,
        }
    }

    /// The generated items.
    pub(crate) fn into_items(self) -> String {
        self.items
    }

    fn btf_err(&self, id: TypeId) -> impl FnOnce(oxbpf_btf::Error) -> Error {
        Error::btf(format!("{}: BTF type [{id}]", self.object))
    }

    fn unsupported(&self, id: TypeId, what: &str) -> Error {
        Error::Unsupported {
            what: format!("a {what} as a value in a skeleton type"),
            site: format!("{}: BTF type [{id}]", self.object),
        }
    }

    fn name_of(&self, name_off: u32, id: TypeId) -> Result<&'b str> {
        self.btf.string_at(name_off).map_err(self.btf_err(id))
    }

    /// The Rust type of BTF type `id`, generating it (and what it
    /// contains) on first use. `context` names anonymous types.
    pub(crate) fn rust_type(&mut self, id: TypeId, context: &str) -> Result<RType> {
        if let Some(t) = self.done.get(&id) {
            return Ok(t.clone());
        }
        if self.depth >= MAX_DEPTH {
            return Err(Error::InvalidArgument(format!(
                "{}: BTF type [{id}] nests deeper than {MAX_DEPTH} types",
                self.object
            )));
        }
        self.depth += 1;
        let result = self.rust_type_inner(id, context);
        self.depth -= 1;
        result
    }

    fn rust_type_inner(&mut self, id: TypeId, context: &str) -> Result<RType> {
        let t = self.btf.type_by_id(id).map_err(self.btf_err(id))?;
        match t {
            // Only pointers lead to void and forward declarations, and
            // pointers are u64: a value of them has no bytes.
            Type::Void | Type::Fwd(_) => Ok(RType::bytes(0)),
            Type::Int(i) => Ok(int_type(&i)),
            Type::Ptr(_) => Ok(RType::prim("u64", 8)),
            Type::Float(f) => Ok(match f.size {
                4 => RType::prim("f32", 4),
                8 => RType::prim("f64", 8),
                n => RType::bytes(n as usize),
            }),
            Type::Array(a) => {
                let elem = self.rust_type(a.elem, context)?;
                let size = elem.size.checked_mul(a.nelems as usize).ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "{}: BTF array [{id}] of {} elements of {} bytes overflows",
                        self.object, a.nelems, elem.size
                    ))
                })?;
                Ok(RType {
                    expr: format!("[{}; {}]", elem.expr, a.nelems),
                    outer: format!("[{}; {}]", elem.outer, a.nelems),
                    size,
                    align: elem.align,
                })
            }
            Type::Volatile(r) | Type::Const(r) | Type::Restrict(r) | Type::TypeTag(r) => {
                self.rust_type(r.ty, context)
            }
            Type::Typedef(r) => self.typedef(id, r.name_off, r.ty, context),
            Type::Struct(c) => {
                let name = self.claim_name(c.name_off(), id, context)?;
                self.structure(id, &c, name)
            }
            Type::Union(c) => {
                let name = self.claim_name(c.name_off(), id, context)?;
                self.union(id, &c, name)
            }
            Type::Enum(e) | Type::Enum64(e) => {
                let name = self.claim_name(e.name_off(), id, context)?;
                self.enumeration(id, &e, name)
            }
            Type::Func(_) => Err(self.unsupported(id, "function")),
            Type::FuncProto(_) => Err(self.unsupported(id, "function prototype")),
            Type::Var(_) => Err(self.unsupported(id, "variable")),
            Type::Datasec(_) => Err(self.unsupported(id, "data section")),
            Type::DeclTag(_) => Err(self.unsupported(id, "declaration tag")),
            other => Err(self.unsupported(id, &format!("{:?}", other.kind()))),
        }
    }

    /// The name of a struct, union or enum: its own, else the context's.
    fn claim_name(&mut self, name_off: u32, id: TypeId, context: &str) -> Result<String> {
        let name = self.name_of(name_off, id)?;
        let base = if name.is_empty() { context } else { name };
        Ok(self.names.claim_type(base, &format!("anon_{id}")))
    }

    fn typedef(
        &mut self,
        id: TypeId,
        name_off: u32,
        target: TypeId,
        context: &str,
    ) -> Result<RType> {
        let name = self.name_of(name_off, id)?;
        // `typedef struct { ... } name;`: the struct takes the name.
        let bare = self.btf.skip_mods(target).map_err(self.btf_err(id))?;
        let anonymous = match self.btf.type_by_id(bare).map_err(self.btf_err(id))? {
            t @ (Type::Struct(_) | Type::Union(_) | Type::Enum(_) | Type::Enum64(_)) => {
                t.name_off() == 0
            }
            _ => false,
        };
        if anonymous && !self.done.contains_key(&bare) && !self.in_progress.contains(&bare) {
            let t = self.rust_type(bare, name)?;
            self.done.insert(id, t.clone());
            return Ok(t);
        }
        if !self.in_progress.insert(id) {
            return Err(Error::InvalidArgument(format!(
                "{}: BTF typedef [{id}] {name} refers to itself",
                self.object
            )));
        }
        let t = self.rust_type(target, if name.is_empty() { context } else { name });
        self.in_progress.remove(&id);
        let t = t?;
        // `typedef struct foo foo;`: the struct has the name already.
        if t.expr == name {
            self.done.insert(id, t.clone());
            return Ok(t);
        }
        let alias = self.names.claim_type(name, &format!("typedef_{id}"));
        let _ = writeln!(self.items, "pub type {alias} = {};\n", t.expr);
        let t = RType {
            outer: format!("types::{alias}"),
            expr: alias,
            ..t
        };
        self.done.insert(id, t.clone());
        Ok(t)
    }

    fn enter(&mut self, id: TypeId, name: &str) -> Result<()> {
        if self.in_progress.insert(id) {
            Ok(())
        } else {
            Err(Error::InvalidArgument(format!(
                "{}: BTF type [{id}] {name} contains itself",
                self.object
            )))
        }
    }

    fn structure(&mut self, id: TypeId, c: &Composite<'_>, name: String) -> Result<RType> {
        self.enter(id, &name)?;
        let result = self.structure_body(id, c, &name);
        self.in_progress.remove(&id);
        let t = match result? {
            Some(t) => t,
            None => self.opaque(&name, c.size() as usize),
        };
        self.done.insert(id, t.clone());
        Ok(t)
    }

    fn structure_body(
        &mut self,
        id: TypeId,
        c: &Composite<'_>,
        name: &str,
    ) -> Result<Option<RType>> {
        let mut pieces = Vec::with_capacity(c.len());
        for (k, m) in c.members().enumerate() {
            let member_name = self.name_of(m.name_off, id)?;
            if let Some((start, end)) = self.bitfield(m.ty, m.bit_offset, m.bitfield_size, id)? {
                pieces.push(Piece::Bits { start, end });
                continue;
            }
            let hint = if member_name.is_empty() {
                format!("__anon_{k}")
            } else {
                member_name.to_owned()
            };
            let ty = self.rust_type(m.ty, &format!("{name}_{hint}"))?;
            pieces.push(Piece::Field {
                hint,
                c_name: member_name.to_owned(),
                offset: (m.bit_offset / 8) as usize,
                ty,
            });
        }
        Ok(self
            .lay_out(name, c.size() as usize, pieces)?
            .map(|(t, _)| t))
    }

    /// The bytes `start..end` a member occupies if it is a bitfield (or
    /// not byte-aligned).
    fn bitfield(
        &self,
        ty: TypeId,
        bit_offset: u32,
        bitfield_size: u32,
        owner: TypeId,
    ) -> Result<Option<(usize, usize)>> {
        let (offset, bits) = if bitfield_size > 0 {
            (bit_offset, bitfield_size)
        } else {
            // The old encoding: an INT with fewer bits than its storage.
            let bare = self
                .btf
                .skip_mods_and_typedefs(ty)
                .map_err(self.btf_err(owner))?;
            match self.btf.type_by_id(bare).map_err(self.btf_err(owner))? {
                Type::Int(i) if i.offset != 0 || i.bits != i.size * 8 => {
                    (bit_offset + i.offset, i.bits)
                }
                _ if bit_offset % 8 != 0 => {
                    let size = self.btf.resolve_size(ty).map_err(self.btf_err(owner))?;
                    (bit_offset, size * 8)
                }
                _ => return Ok(None),
            }
        };
        let start = (offset / 8) as usize;
        let end = (u64::from(offset) + u64::from(bits)).div_ceil(8) as usize;
        Ok(Some((start, end.max(start + 1))))
    }

    /// Lays the pieces of a struct of `size` bytes out with explicit
    /// padding and writes its item; `None` if they overlap (then the
    /// caller makes it opaque).
    fn lay_out(
        &mut self,
        name: &str,
        size: usize,
        mut pieces: Vec<Piece>,
    ) -> Result<Option<(RType, Vec<FieldOut>)>> {
        pieces.sort_by_key(Piece::start);
        // Adjacent and overlapping bitfield bytes become one array.
        let mut merged: Vec<Piece> = Vec::with_capacity(pieces.len());
        for p in pieces {
            if let (Piece::Bits { start, end }, Some(Piece::Bits { end: last_end, .. })) =
                (&p, merged.last_mut())
            {
                if *start <= *last_end {
                    *last_end = (*last_end).max(*end);
                    continue;
                }
            }
            merged.push(p);
        }
        let mut fields: Vec<FieldOut> = Vec::new();
        let mut names = Names::default();
        let mut pos = 0usize;
        let mut align = 1usize;
        let mut packed = false;
        let pad = |fields: &mut Vec<FieldOut>, names: &mut Names, pos: usize, to: usize| {
            if to > pos {
                fields.push(FieldOut {
                    name: names.claim(&format!("__pad_{pos}"), "__pad"),
                    c_name: String::new(),
                    offset: pos,
                    ty: RType::bytes(to - pos),
                });
            }
        };
        for p in merged {
            match p {
                Piece::Bits { start, end } => {
                    if start < pos || end > size {
                        return Ok(None);
                    }
                    pad(&mut fields, &mut names, pos, start);
                    fields.push(FieldOut {
                        name: names.claim(&format!("__bitfield_{start}"), "__bitfield"),
                        c_name: String::new(),
                        offset: start,
                        ty: RType::bytes(end - start),
                    });
                    pos = end;
                }
                Piece::Field {
                    hint,
                    c_name,
                    offset,
                    ty,
                } => {
                    if offset < pos || offset + ty.size > size {
                        if ty.size == 0 {
                            continue;
                        }
                        return Ok(None);
                    }
                    pad(&mut fields, &mut names, pos, offset);
                    if offset % ty.align != 0 {
                        packed = true;
                    }
                    align = align.max(ty.align);
                    pos = offset + ty.size;
                    fields.push(FieldOut {
                        name: names.claim(&hint, "field"),
                        c_name,
                        offset,
                        ty,
                    });
                }
            }
        }
        pad(&mut fields, &mut names, pos, size);
        if size % align != 0 {
            packed = true;
        }
        let align = if packed { 1 } else { align };
        self.write_struct(name, size, packed, &fields);
        let t = RType {
            expr: name.to_owned(),
            outer: format!("types::{name}"),
            size,
            align,
        };
        Ok(Some((t, fields)))
    }

    fn write_struct(&mut self, name: &str, size: usize, packed: bool, fields: &[FieldOut]) {
        let out = &mut self.items;
        let repr = if packed { "C, packed" } else { "C" };
        let _ = write!(out, "#[repr({repr})]\n{DERIVES}pub struct {name} {{\n");
        for f in fields {
            let _ = writeln!(out, "    pub {}: {},", escape(&f.name), f.ty.expr);
        }
        out.push_str("}\n");
        default_impl(out, name);
        let _ = writeln!(
            out,
            "const _: () = ::core::assert!(::core::mem::size_of::<{name}>() == {size});"
        );
        for f in fields {
            let _ = writeln!(
                out,
                "const _: () = ::core::assert!(::core::mem::offset_of!({name}, {}) == {});",
                escape(&f.name),
                f.offset
            );
        }
        out.push('\n');
    }

    /// A type of `size` bytes whose layout cannot be spelled as fields.
    fn opaque(&mut self, name: &str, size: usize) -> RType {
        log::info!(target: "oxbpf::skel", "{}: type {name} has overlapping members: generated as {size} opaque bytes", self.object);
        let out = &mut self.items;
        let _ = write!(
            out,
            "#[repr(C)]\n{DERIVES}pub struct {name} {{\n    pub bytes: [::core::primitive::u8; {size}],\n}}\n"
        );
        default_impl(out, name);
        let _ = writeln!(
            out,
            "const _: () = ::core::assert!(::core::mem::size_of::<{name}>() == {size});\n"
        );
        RType {
            expr: name.to_owned(),
            outer: format!("types::{name}"),
            size,
            align: 1,
        }
    }

    fn union(&mut self, id: TypeId, c: &Composite<'_>, name: String) -> Result<RType> {
        self.enter(id, &name)?;
        let result = self.union_members(id, c, &name);
        self.in_progress.remove(&id);
        let members = result?;
        let size = c.size() as usize;
        let out = &mut self.items;
        let _ = write!(
            out,
            "#[repr(C)]\n{DERIVES}pub struct {name} {{\n    /// The union's bytes; each member has a getter and a setter.\n    pub bytes: [::core::primitive::u8; {size}],\n}}\n"
        );
        default_impl(out, &name);
        let _ = writeln!(
            out,
            "const _: () = ::core::assert!(::core::mem::size_of::<{name}>() == {size});"
        );
        if !members.is_empty() {
            let _ = writeln!(out, "impl {name} {{");
            let mut names = Names::default();
            for (member, ty) in &members {
                let get = names.claim(member, "member");
                let set = names.claim(&format!("set_{get}"), "set");
                let _ = write!(
                    out,
                    "    /// Member `{member}`.\n    pub fn {}(&self) -> {ty} {{\n        \
                     <{ty} as ::oxbpf::skel::zerocopy::FromBytes>::read_from_prefix(&self.bytes[..])\n            \
                     .map(|(v, _)| v)\n            \
                     .unwrap_or_else(|_| ::oxbpf::skel::zerocopy::FromZeros::new_zeroed())\n    }}\n",
                    escape(&get),
                    ty = ty.expr
                );
                let _ = write!(
                    out,
                    "    /// Sets member `{member}`.\n    pub fn {set}(&mut self, value: {ty}) {{\n        \
                     let v = ::oxbpf::skel::zerocopy::IntoBytes::as_bytes(&value);\n        \
                     if let ::core::option::Option::Some(b) = self.bytes.get_mut(..v.len()) {{\n            \
                     b.copy_from_slice(v);\n        }}\n    }}\n",
                    ty = ty.expr
                );
            }
            out.push_str("}\n");
        }
        out.push('\n');
        let t = RType {
            outer: format!("types::{name}"),
            expr: name,
            size,
            align: 1,
        };
        self.done.insert(id, t.clone());
        Ok(t)
    }

    /// The union's members that have a getter: named or anonymous, at
    /// offset 0, not bitfields, fitting.
    fn union_members(
        &mut self,
        id: TypeId,
        c: &Composite<'_>,
        name: &str,
    ) -> Result<Vec<(String, RType)>> {
        let mut out = Vec::new();
        for (k, m) in c.members().enumerate() {
            if m.bit_offset != 0
                || self
                    .bitfield(m.ty, m.bit_offset, m.bitfield_size, id)?
                    .is_some()
            {
                continue;
            }
            let member_name = self.name_of(m.name_off, id)?;
            let hint = if member_name.is_empty() {
                format!("__anon_{k}")
            } else {
                member_name.to_owned()
            };
            let ty = self.rust_type(m.ty, &format!("{name}_{hint}"))?;
            if ty.size <= c.size() as usize {
                out.push((hint, ty));
            }
        }
        Ok(out)
    }

    fn enumeration(&mut self, id: TypeId, e: &Enum<'_>, name: String) -> Result<RType> {
        let size = e.size() as usize;
        let repr = match (size, e.is_signed()) {
            (1, false) => "u8",
            (2, false) => "u16",
            (4, false) => "u32",
            (8, false) => "u64",
            (1, true) => "i8",
            (2, true) => "i16",
            (4, true) => "i32",
            (8, true) => "i64",
            _ => {
                let t = self.opaque(&name, size);
                self.done.insert(id, t.clone());
                return Ok(t);
            }
        };
        let mut values = Vec::with_capacity(e.len());
        for v in e.values() {
            let vname = self.name_of(v.name_off, id)?;
            let literal = match repr {
                "u8" => (v.as_u64() as u8).to_string(),
                "u16" => (v.as_u64() as u16).to_string(),
                "u32" => (v.as_u64() as u32).to_string(),
                "u64" => v.as_u64().to_string(),
                "i8" => (v.as_i64() as i8).to_string(),
                "i16" => (v.as_i64() as i16).to_string(),
                "i32" => (v.as_i64() as i32).to_string(),
                _ => v.as_i64().to_string(),
            };
            values.push((vname, literal));
        }
        let out = &mut self.items;
        let _ = write!(
            out,
            "#[repr(transparent)]\n{DERIVES}pub struct {name}(pub ::core::primitive::{repr});\n"
        );
        default_impl(out, &name);
        let _ = writeln!(
            out,
            "const _: () = ::core::assert!(::core::mem::size_of::<{name}>() == {size});"
        );
        if !values.is_empty() {
            let _ = writeln!(out, "impl {name} {{");
            let mut names = Names::default();
            for (vname, literal) in values {
                let c = names.claim(vname, "VALUE");
                let _ = writeln!(
                    out,
                    "    /// `{vname}`.\n    pub const {}: {name} = {name}({literal});",
                    escape(&c)
                );
            }
            out.push_str("}\n");
        }
        out.push('\n');
        let t = RType {
            outer: format!("types::{name}"),
            expr: name,
            size,
            align: size,
        };
        self.done.insert(id, t.clone());
        Ok(t)
    }

    /// The struct of data section `section` (its DATASEC), named `name`,
    /// of `size` bytes; `None` if the BTF has no DATASEC for it.
    pub(crate) fn section(
        &mut self,
        section: &str,
        name: &str,
        size: usize,
    ) -> Result<Option<SectionStruct>> {
        let Some(id) = self
            .btf
            .find_by_name_kind(section, Kind::Datasec)
            .map_err(Error::btf(format!("{}: DATASEC {section}", self.object)))?
        else {
            return Ok(None);
        };
        let Type::Datasec(ds) = self.btf.type_by_id(id).map_err(self.btf_err(id))? else {
            return Ok(None);
        };
        let mut pieces = Vec::with_capacity(ds.len());
        for vs in ds.vars() {
            let Type::Var(var) = self.btf.type_by_id(vs.ty).map_err(self.btf_err(vs.ty))? else {
                continue;
            };
            let var_name = self.name_of(var.name_off, vs.ty)?;
            let mut ty = self.rust_type(var.ty, var_name)?;
            if ty.size != vs.size as usize {
                log::info!(target: "oxbpf::skel", "{}: variable {var_name} of {section} is {} bytes, its type {}: generated as bytes", self.object, vs.size, ty.size);
                ty = RType::bytes(vs.size as usize);
            }
            pieces.push(Piece::Field {
                hint: var_name.to_owned(),
                c_name: var_name.to_owned(),
                offset: vs.offset as usize,
                ty,
            });
        }
        // Variables are laid out like struct fields; a layout with
        // overlaps keeps the ones that fit.
        let mut kept: Vec<Piece> = Vec::new();
        pieces.sort_by_key(Piece::start);
        let mut end = 0;
        for p in pieces {
            if let Piece::Field { offset, ty, .. } = &p {
                if *offset < end || offset + ty.size > size {
                    log::info!(target: "oxbpf::skel", "{}: a variable of {section} overlaps another or the section end: left out of its type", self.object);
                    continue;
                }
                end = offset + ty.size;
            }
            kept.push(p);
        }
        let Some((_, fields)) = self.lay_out(name, size, kept)? else {
            return Ok(None);
        };
        Ok(Some(SectionStruct {
            name: name.to_owned(),
            size,
            vars: fields
                .into_iter()
                .filter(|f| !f.c_name.is_empty())
                .collect(),
        }))
    }
}

fn int_type(i: &Int) -> RType {
    let signed = i.encoding.is_signed() && !i.encoding.is_bool();
    match (i.size, signed) {
        (1, false) => RType::prim("u8", 1),
        (1, true) => RType::prim("i8", 1),
        (2, false) => RType::prim("u16", 2),
        (2, true) => RType::prim("i16", 2),
        (4, false) => RType::prim("u32", 4),
        (4, true) => RType::prim("i32", 4),
        (8, false) => RType::prim("u64", 8),
        (8, true) => RType::prim("i64", 8),
        (16, false) => RType::prim("u128", 16),
        (16, true) => RType::prim("i128", 16),
        (n, _) => RType::bytes(n as usize),
    }
}

fn default_impl(out: &mut String, name: &str) {
    let _ = writeln!(
        out,
        "impl ::core::default::Default for {name} {{\n    fn default() -> Self {{\n        \
         ::oxbpf::skel::zerocopy::FromZeros::new_zeroed()\n    }}\n}}"
    );
}

#[cfg(test)]
mod tests {
    use oxbpf_btf::{BtfBuilder, IntEncoding, VarLinkage};

    use super::*;

    fn btf(b: &BtfBuilder) -> Btf<'static> {
        Btf::from_vec(b.build()).unwrap()
    }

    fn gen_type(btf: &Btf<'static>, id: TypeId) -> Result<(RType, String)> {
        let mut g = TypeGen::new(btf, "test.bpf.o", Names::default());
        let t = g.rust_type(id, "ctx")?;
        Ok((t, g.into_items()))
    }

    #[test]
    fn structs_get_explicit_padding_and_assertions() {
        let mut b = BtfBuilder::new();
        let ch = b.add_int("char", 1, IntEncoding::SIGNED | IntEncoding::CHAR);
        let long = b.add_int("long", 8, IntEncoding::SIGNED);
        let s = b.add_struct("s", 16, &[("c", ch, 0), ("type", long, 64)]);
        let btf = btf(&b);
        let (t, items) = gen_type(&btf, s).unwrap();
        assert_eq!(
            (t.expr.as_str(), t.outer.as_str(), t.size, t.align),
            ("s", "types::s", 16, 8)
        );
        assert!(items.contains("#[repr(C)]\n"), "{items}");
        assert!(items.contains("pub c: ::core::primitive::i8,\n    pub __pad_1: [::core::primitive::u8; 7],\n    pub r#type: ::core::primitive::i64,"), "{items}");
        assert!(items.contains("offset_of!(s, r#type) == 8"), "{items}");
        assert!(items.contains("size_of::<s>() == 16"), "{items}");
    }

    #[test]
    fn misaligned_members_make_a_packed_struct() {
        let mut b = BtfBuilder::new();
        let ch = b.add_int("char", 1, IntEncoding::NONE);
        let int = b.add_int("int", 4, IntEncoding::SIGNED);
        let s = b.add_struct("p", 5, &[("a", ch, 0), ("b", int, 8)]);
        let btf = btf(&b);
        let (t, items) = gen_type(&btf, s).unwrap();
        assert_eq!(t.align, 1);
        assert!(items.contains("#[repr(C, packed)]"), "{items}");
    }

    #[test]
    fn bitfields_become_the_bytes_holding_them() {
        let mut b = BtfBuilder::new();
        let uint = b.add_int("unsigned int", 4, IntEncoding::NONE);
        let ch = b.add_int("char", 1, IntEncoding::NONE);
        let s = b.add_struct_bitfields(
            "bits",
            8,
            &[
                ("a", uint, 0, 3),
                ("b", uint, 3, 9),
                ("c", ch, 16, 0),
                ("d", uint, 32, 1),
            ],
        );
        let btf = btf(&b);
        let (_, items) = gen_type(&btf, s).unwrap();
        assert!(items.contains("pub __bitfield_0: [::core::primitive::u8; 2],\n    pub c: ::core::primitive::u8,\n    pub __pad_3: [::core::primitive::u8; 1],\n    pub __bitfield_4: [::core::primitive::u8; 1],\n    pub __pad_5: [::core::primitive::u8; 3],"), "{items}");
    }

    #[test]
    fn anonymous_types_are_named_from_where_they_are_used() {
        let mut b = BtfBuilder::new();
        let int = b.add_int("int", 4, IntEncoding::SIGNED);
        let inner = b.add_struct("", 4, &[("x", int, 0)]);
        let un = b.add_union("", 4, &[("i", int, 0), ("set_i", int, 0)]);
        let outer = b.add_struct("outer", 8, &[("", inner, 0), ("u", un, 32)]);
        let anon_td = b.add_struct("", 4, &[("y", int, 0)]);
        let td = b.add_typedef("named_t", anon_td);
        let btf = btf(&b);
        let (_, items) = gen_type(&btf, outer).unwrap();
        assert!(items.contains("pub struct outer___anon_0 {"), "{items}");
        assert!(items.contains("pub __anon_0: outer___anon_0,"), "{items}");
        assert!(items.contains("pub struct outer_u {"), "{items}");
        // Getter/setter names do not collide with a member named set_i.
        assert!(items.contains("pub fn set_i_1(&self)"), "{items}");
        assert!(items.contains("pub fn set_set_i_1(&mut self"), "{items}");
        let (t, items) = gen_type(&btf, td).unwrap();
        assert_eq!(t.expr, "named_t");
        assert!(items.contains("pub struct named_t {"), "{items}");
        assert!(!items.contains("pub type"), "{items}");
    }

    #[test]
    fn enums_are_newtypes_with_a_constant_per_value() {
        let mut b = BtfBuilder::new();
        let e = b.add_enum("color", 4, true, &[("RED", 0), ("BLUE", -1), ("type", 2)]);
        let e64 = b.add_enum64("wide", 8, false, &[("HUGE", 1 << 40)]);
        let btf = btf(&b);
        let (t, items) = gen_type(&btf, e).unwrap();
        assert_eq!(t.size, 4);
        assert!(
            items.contains("pub struct color(pub ::core::primitive::i32);"),
            "{items}"
        );
        assert!(
            items.contains("pub const BLUE: color = color(-1);"),
            "{items}"
        );
        assert!(
            items.contains("pub const r#type: color = color(2);"),
            "{items}"
        );
        let (_, items) = gen_type(&btf, e64).unwrap();
        assert!(
            items.contains("pub const HUGE: wide = wide(1099511627776);"),
            "{items}"
        );
    }

    #[test]
    fn overlapping_members_make_an_opaque_type() {
        let mut b = BtfBuilder::new();
        let long = b.add_int("long", 8, IntEncoding::SIGNED);
        let s = b.add_struct("odd", 12, &[("a", long, 0), ("b", long, 32)]);
        let btf = btf(&b);
        let (t, items) = gen_type(&btf, s).unwrap();
        assert_eq!(t.size, 12);
        assert!(
            items.contains("pub bytes: [::core::primitive::u8; 12],"),
            "{items}"
        );
    }

    #[test]
    fn malformed_types_are_errors() {
        let mut b = BtfBuilder::new();
        let int = b.add_int("int", 4, IntEncoding::SIGNED);
        // A struct containing itself.
        let me = b.next_id();
        b.add_struct("loop", 8, &[("x", int, 0), ("again", me, 32)]);
        // A typedef of itself.
        let td = b.next_id();
        b.add_typedef("t", td);
        // Arrays whose size overflows.
        let big = b.add_array(int, int, u32::MAX);
        let bigger = b.add_array(big, int, u32::MAX);
        let huge = b.add_array(bigger, int, u32::MAX);
        // Nesting deeper than MAX_DEPTH.
        let mut deep = int;
        for _ in 0..=MAX_DEPTH {
            deep = b.add_array(deep, int, 1);
        }
        // Kinds that are no values, and ids past the end.
        let proto = b.add_func_proto(int, &[]);
        let var = b.add_var("v", int, VarLinkage::GlobalAllocated);
        let btf = btf(&b);
        for id in [me, td, huge, deep, proto, var, TypeId(10_000)] {
            let r = gen_type(&btf, id);
            assert!(r.is_err(), "type {id}: {r:?}");
        }
        assert!(gen_type(&btf, big).is_ok());
    }

    #[test]
    fn sections_lay_out_their_variables() {
        let mut b = BtfBuilder::new();
        let ch = b.add_int("char", 1, IntEncoding::NONE);
        let long = b.add_int("long", 8, IntEncoding::SIGNED);
        let c = b.add_var("c", ch, VarLinkage::GlobalAllocated);
        let l = b.add_var("match", long, VarLinkage::GlobalAllocated);
        let dup = b.add_var("c", ch, VarLinkage::GlobalAllocated);
        b.add_datasec(".data", 24, &[(c, 0, 1), (l, 8, 8), (dup, 16, 1)]);
        let btf = btf(&b);
        let mut g = TypeGen::new(&btf, "test.bpf.o", Names::default());
        let s = g.section(".data", "Data", 24).unwrap().unwrap();
        let names: Vec<(&str, usize)> =
            s.vars.iter().map(|v| (v.name.as_str(), v.offset)).collect();
        assert_eq!(names, [("c", 0), ("match", 8), ("c_1", 16)]);
        let items = g.into_items();
        assert!(
            items.contains("pub r#match: ::core::primitive::i64,"),
            "{items}"
        );
        assert!(
            items.contains("pub __pad_17: [::core::primitive::u8; 7],"),
            "{items}"
        );
        let mut g = TypeGen::new(&btf, "test.bpf.o", Names::default());
        assert!(g.section(".bss", "Bss", 8).unwrap().is_none(), "no DATASEC");
    }
}
