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
//! | bitfields | the bytes holding them, `__bitfield_<offset>: [u8; n]`, and a getter and setter per member (`flags_lo()`, `set_flags_lo(v)`) typed as the member, sign-extended if signed |
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

/// A bitfield member, given a getter and a setter.
#[derive(Clone, Debug)]
struct BitOut {
    /// Its C name.
    c_name: String,
    /// Offset from the start of its struct, in bits.
    bit_offset: usize,
    /// Width in bits.
    bits: u32,
    value: BitValue,
}

/// A union's members with a getter and setter (name, type), and its
/// bitfields.
type UnionMembers = (Vec<(String, RType)>, Vec<BitOut>);

/// The type a bitfield's accessors take.
#[derive(Clone, Debug)]
struct BitValue {
    /// The Rust type (in `types`).
    rust: String,
    /// Whether the value is sign-extended.
    signed: bool,
    /// Width of the C type, in bits.
    width: u32,
    /// For an enum: the integer its newtype wraps.
    newtype: Option<String>,
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
        let (laid_out, bits) = result?;
        let t = match laid_out {
            Some(t) => t,
            None => self.opaque(&name, c.size() as usize),
        };
        if !bits.is_empty() {
            let _ = writeln!(self.items, "impl {name} {{");
            let mut names = Names::default();
            self.write_bit_accessors(&mut names, &bits);
            self.items.push_str("}\n\n");
        }
        self.done.insert(id, t.clone());
        Ok(t)
    }

    /// The struct's fields laid out (`None`: they overlap) and its
    /// bitfields.
    fn structure_body(
        &mut self,
        id: TypeId,
        c: &Composite<'_>,
        name: &str,
    ) -> Result<(Option<RType>, Vec<BitOut>)> {
        let mut pieces = Vec::with_capacity(c.len());
        let mut bits = Vec::new();
        for (k, m) in c.members().enumerate() {
            let member_name = self.name_of(m.name_off, id)?;
            if let Some(b) = self.bitfield(&m, member_name, c.size(), id, name)? {
                let start = b.bit_offset / 8;
                let end = (b.bit_offset + b.bits as usize).div_ceil(8);
                pieces.push(Piece::Bits { start, end });
                if !member_name.is_empty() {
                    bits.push(b);
                }
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
        let laid_out = self
            .lay_out(name, c.size() as usize, pieces)?
            .map(|(t, _)| t);
        Ok((laid_out, bits))
    }

    /// The bitfield member `m` (named `member`) of struct or union `owner`
    /// (`owner_name`, `size` bytes), if it is one (or an integer that is
    /// not byte-aligned): where its bits are and the integer or enum type
    /// its accessors take. Fails for a bitfield no accessor can express (a
    /// type other than an integer or enum, wider than its type or than 128
    /// bits) or outside its struct.
    fn bitfield(
        &mut self,
        m: &oxbpf_btf::Member,
        member: &str,
        size: u32,
        owner: TypeId,
        owner_name: &str,
    ) -> Result<Option<BitOut>> {
        let bare = self
            .btf
            .skip_mods_and_typedefs(m.ty)
            .map_err(self.btf_err(owner))?;
        let t = self.btf.type_by_id(bare).map_err(self.btf_err(owner))?;
        let (offset, bits) = if m.bitfield_size > 0 {
            (m.bit_offset, m.bitfield_size)
        } else {
            // The old encoding: an INT with fewer bits than its storage.
            match &t {
                Type::Int(i) if i.offset != 0 || i.bits != i.size * 8 => {
                    (m.bit_offset.saturating_add(i.offset), i.bits)
                }
                _ if m.bit_offset % 8 != 0 => {
                    let size = self.btf.resolve_size(m.ty).map_err(self.btf_err(owner))?;
                    (m.bit_offset, size.saturating_mul(8))
                }
                _ => return Ok(None),
            }
        };
        let object = self.object.clone();
        let site = || {
            format!(
                "{object}: BTF type [{owner}] {owner_name}, member {member:?} ({bits} bits at bit {offset})"
            )
        };
        let unsupported = |what: String| Error::Unsupported { what, site: site() };
        let value = match t {
            Type::Int(i) => {
                let rust = int_type(&i);
                if rust.expr.starts_with('[') {
                    return Err(unsupported(format!(
                        "a bitfield of a {}-byte integer",
                        i.size
                    )));
                }
                BitValue {
                    width: i.size * 8,
                    signed: i.encoding.is_signed() && !i.encoding.is_bool(),
                    rust: rust.expr,
                    newtype: None,
                }
            }
            Type::Enum(e) | Type::Enum64(e) => {
                let rust = self.rust_type(bare, &format!("{owner_name}_{member}"))?;
                let Some(repr) = enum_repr(e.size() as usize, e.is_signed()) else {
                    return Err(unsupported(format!(
                        "a bitfield of a {}-byte enum",
                        e.size()
                    )));
                };
                BitValue {
                    width: e.size() * 8,
                    signed: e.is_signed(),
                    rust: rust.expr,
                    newtype: Some(format!("::core::primitive::{repr}")),
                }
            }
            other => {
                return Err(unsupported(format!(
                    "a bitfield (or a member not at a byte boundary) of kind {:?}",
                    other.kind()
                )));
            }
        };
        if bits == 0 || bits > value.width || bits > 128 {
            return Err(unsupported(format!(
                "a bitfield of {bits} bits in a {}-bit type",
                value.width
            )));
        }
        if u64::from(offset) + u64::from(bits) > u64::from(size) * 8 {
            return Err(Error::InvalidArgument(format!(
                "{}: bitfield past the end of its {size}-byte type",
                site()
            )));
        }
        Ok(Some(BitOut {
            c_name: member.to_owned(),
            bit_offset: offset as usize,
            bits,
            value,
        }))
    }

    /// A getter and a setter per bitfield, in an `impl` block being
    /// written, their names claimed in `names`.
    fn write_bit_accessors(&mut self, names: &mut Names, bits: &[BitOut]) {
        let big_endian = self.btf.endian() == oxbpf_btf::Endian::Big;
        for b in bits {
            let get = names.claim(&b.c_name, "bitfield");
            let set = names.claim(&format!("set_{get}"), "set");
            let ty = &b.value.rust;
            let place = format!(
                "        const BITS: ::oxbpf::skel::Bitfield = match ::oxbpf::skel::Bitfield::new({}, {}, {big_endian}) {{\n            \
                 ::core::option::Option::Some(b) => b,\n            \
                 ::core::option::Option::None => ::core::panic!(\"bitfield out of range\"),\n        }};\n",
                b.bit_offset, b.bits
            );
            let read = if b.value.signed { "get_signed" } else { "get" };
            let (value, raw) = match &b.value.newtype {
                Some(repr) => (
                    format!(
                        "{ty}(BITS.{read}(::oxbpf::skel::zerocopy::IntoBytes::as_bytes(self)) as {repr})"
                    ),
                    "value.0",
                ),
                None => (
                    format!(
                        "BITS.{read}(::oxbpf::skel::zerocopy::IntoBytes::as_bytes(self)) as {ty}"
                    ),
                    "value",
                ),
            };
            let _ = write!(
                self.items,
                "    /// Bitfield `{c}` ({bits} bits at bit {off}{sign}).\n\
                 \x20   pub fn {g}(&self) -> {ty} {{\n{place}        {value}\n    }}\n\
                 \x20   /// Sets bitfield `{c}` to the low {bits} bits of `value` (as a C assignment does).\n\
                 \x20   pub fn {s}(&mut self, value: {ty}) {{\n{place}        \
                 BITS.set(::oxbpf::skel::zerocopy::IntoBytes::as_mut_bytes(self), {raw} as ::core::primitive::u128);\n    }}\n",
                c = b.c_name,
                bits = b.bits,
                off = b.bit_offset,
                sign = if b.value.signed {
                    ", sign-extended"
                } else {
                    ""
                },
                g = escape(&get),
                s = escape(&set),
            );
        }
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
        let (members, bits) = result?;
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
        if !members.is_empty() || !bits.is_empty() {
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
            self.write_bit_accessors(&mut names, &bits);
            self.items.push_str("}\n");
        }
        self.items.push('\n');
        let t = RType {
            outer: format!("types::{name}"),
            expr: name,
            size,
            align: 1,
        };
        self.done.insert(id, t.clone());
        Ok(t)
    }

    /// The union's members that have a getter (named or anonymous, at
    /// offset 0, fitting), and its named bitfields.
    fn union_members(&mut self, id: TypeId, c: &Composite<'_>, name: &str) -> Result<UnionMembers> {
        let mut out = Vec::new();
        let mut bits = Vec::new();
        for (k, m) in c.members().enumerate() {
            let member_name = self.name_of(m.name_off, id)?;
            if let Some(b) = self.bitfield(&m, member_name, c.size(), id, name)? {
                if !member_name.is_empty() {
                    bits.push(b);
                }
                continue;
            }
            if m.bit_offset != 0 {
                continue;
            }
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
        Ok((out, bits))
    }

    fn enumeration(&mut self, id: TypeId, e: &Enum<'_>, name: String) -> Result<RType> {
        let size = e.size() as usize;
        let Some(repr) = enum_repr(size, e.is_signed()) else {
            let t = self.opaque(&name, size);
            self.done.insert(id, t.clone());
            return Ok(t);
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

/// The integer an enum of `size` bytes is stored as.
fn enum_repr(size: usize, signed: bool) -> Option<&'static str> {
    Some(match (size, signed) {
        (1, false) => "u8",
        (2, false) => "u16",
        (4, false) => "u32",
        (8, false) => "u64",
        (1, true) => "i8",
        (2, true) => "i16",
        (4, true) => "i32",
        (8, true) => "i64",
        _ => return None,
    })
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
        // Each bitfield has a getter and a setter at its bits.
        assert!(items.contains("impl bits {\n"), "{items}");
        for (name, off, bits) in [("a", 0, 3), ("b", 3, 9), ("d", 32, 1)] {
            assert!(
                items.contains(&format!(
                    "    pub fn {name}(&self) -> ::core::primitive::u32 {{\n        const BITS: ::oxbpf::skel::Bitfield = match ::oxbpf::skel::Bitfield::new({off}, {bits}, false) {{"
                )),
                "{name}: {items}"
            );
            assert!(
                items.contains(&format!(
                    "    pub fn set_{name}(&mut self, value: ::core::primitive::u32) {{"
                )),
                "{name}: {items}"
            );
        }
        assert!(
            items.contains("BITS.get(::oxbpf::skel::zerocopy::IntoBytes::as_bytes(self)) as ::core::primitive::u32"),
            "{items}"
        );
        assert!(
            items.contains("BITS.set(::oxbpf::skel::zerocopy::IntoBytes::as_mut_bytes(self), value as ::core::primitive::u128);"),
            "{items}"
        );
        assert!(
            !items.contains("pub fn c("),
            "a plain field has no accessor: {items}"
        );
    }

    #[test]
    fn bitfield_accessors_take_the_members_type_and_sign() {
        let mut b = BtfBuilder::new();
        let int = b.add_int("int", 4, IntEncoding::SIGNED);
        let sint = b.add_typedef("s32", int);
        let ch = b.add_int("char", 1, IntEncoding::SIGNED | IntEncoding::CHAR);
        let ll = b.add_int("unsigned long long", 8, IntEncoding::NONE);
        let color = b.add_enum("color", 4, true, &[("RED", 0), ("BLUE", -1)]);
        let cv = b.add_const(color);
        // The old encoding: the INT itself says which bits.
        let old = b.add_int_bits("int", 4, IntEncoding::SIGNED, 2, 5);
        let s = b.add_struct_bitfields(
            "mixed",
            16,
            &[
                ("neg", sint, 0, 4),
                ("c", ch, 4, 3),
                ("col", cv, 7, 2),
                ("wide", ll, 20, 60),
                ("set_neg", int, 80, 2),
            ],
        );
        let u = b.add_union_bitfields("bu", 4, &[("all", int, 0, 0), ("lo", int, 0, 5)]);
        let o = b.add_struct("olds", 4, &[("x", old, 0)]);
        let btf = btf(&b);
        let (_, items) = gen_type(&btf, s).unwrap();
        // Signed: sign-extended, typedefs resolved to the integer.
        assert!(
            items.contains("/// Bitfield `neg` (4 bits at bit 0, sign-extended).\n    pub fn neg(&self) -> ::core::primitive::i32 {"),
            "{items}"
        );
        assert!(
            items.contains("BITS.get_signed(::oxbpf::skel::zerocopy::IntoBytes::as_bytes(self)) as ::core::primitive::i32"),
            "{items}"
        );
        assert!(
            items.contains("pub fn c(&self) -> ::core::primitive::i8 {"),
            "{items}"
        );
        // An enum: its newtype, wrapping the signed integer read.
        assert!(items.contains("pub fn col(&self) -> color {"), "{items}");
        assert!(
            items.contains("color(BITS.get_signed(::oxbpf::skel::zerocopy::IntoBytes::as_bytes(self)) as ::core::primitive::i32)"),
            "{items}"
        );
        assert!(
            items.contains("value.0 as ::core::primitive::u128"),
            "{items}"
        );
        assert!(
            items.contains("pub fn wide(&self) -> ::core::primitive::u64 {\n        const BITS: ::oxbpf::skel::Bitfield = match ::oxbpf::skel::Bitfield::new(20, 60, false)"),
            "{items}"
        );
        // Names do not collide: a member called set_neg.
        assert!(
            items.contains("pub fn set_neg(&mut self, value: ::core::primitive::i32)"),
            "{items}"
        );
        assert!(items.contains("pub fn set_neg_1(&self)"), "{items}");
        let (_, items) = gen_type(&btf, u).unwrap();
        assert!(
            items.contains("pub fn all(&self) -> ::core::primitive::i32"),
            "{items}"
        );
        assert!(items.contains("pub fn lo(&self) -> ::core::primitive::i32 {\n        const BITS: ::oxbpf::skel::Bitfield = match ::oxbpf::skel::Bitfield::new(0, 5, false)"), "{items}");
        let (_, items) = gen_type(&btf, o).unwrap();
        assert!(items.contains("pub fn x(&self) -> ::core::primitive::i32 {\n        const BITS: ::oxbpf::skel::Bitfield = match ::oxbpf::skel::Bitfield::new(2, 5, false)"), "{items}");
    }

    #[test]
    fn bitfields_no_accessor_can_express_are_errors() {
        let mut b = BtfBuilder::new();
        let int = b.add_int("int", 4, IntEncoding::SIGNED);
        let inner = b.add_struct("inner", 4, &[("i", int, 0)]);
        let odd = b.add_int("odd", 3, IntEncoding::NONE);
        let fl = b.add_float("float", 4);
        let of_struct = b.add_struct_bitfields("a", 8, &[("s", inner, 0, 3)]);
        let too_wide = b.add_struct_bitfields("b", 8, &[("w", int, 0, 33)]);
        let odd_int = b.add_struct_bitfields("c", 4, &[("o", odd, 0, 3)]);
        let of_float = b.add_struct_bitfields("d", 4, &[("f", fl, 0, 3)]);
        let past_end = b.add_struct_bitfields("e", 4, &[("p", int, 30, 3)]);
        let unaligned_struct = b.add_struct("f", 8, &[("s", inner, 4)]);
        let btf = btf(&b);
        for (id, want) in [
            (of_struct, "of kind Struct"),
            (too_wide, "33 bits in a 32-bit type"),
            (odd_int, "3-byte integer"),
            (of_float, "of kind Float"),
            (unaligned_struct, "of kind Struct"),
        ] {
            match gen_type(&btf, id) {
                Err(Error::Unsupported { what, site }) => {
                    assert!(what.contains(want), "{what}");
                    assert!(site.starts_with("test.bpf.o: BTF type ["), "{site}");
                }
                other => panic!("type {id}: {other:?}"),
            }
        }
        let err = gen_type(&btf, past_end).unwrap_err().to_string();
        assert!(err.contains("past the end of its 4-byte type"), "{err}");
        assert!(err.contains("member \"p\""), "{err}");
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
