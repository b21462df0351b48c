//! Dumping BTF: as a C header ([`dump_c`], the `vmlinux.h` that BPF
//! programs include) and as bpftool's raw listing ([`dump_raw`]).
//!
//! # The C header
//!
//! Every named struct, union, enum and typedef becomes a C definition,
//! anonymous ones are written inline where they are used, and anonymous
//! enums nothing uses are written on their own (their constants are what
//! a program wants). Definitions come in type-id order, except that a type
//! is written before the first definition that needs it complete (a member
//! by value, an array element); a type used only through a pointer gets a
//! forward declaration (`struct foo;`).
//!
//! Layouts are reproduced exactly: members sit at the offsets BTF records,
//! with unnamed bitfields (`long: 64;`) filling gaps the natural layout would
//! not leave; a struct whose members cannot sit where BTF says under the
//! natural alignment is `__attribute__((packed))`, and one whose size
//! exceeds its natural size gets `__attribute__((aligned(N)))` when some
//! alignment explains the size (else trailing padding). An enum whose size
//! is not what C would choose for its values gets a fixed underlying type
//! (`enum e : unsigned char`).
//!
//! Names that C would see twice (two different `struct foo`, an
//! enumerator defined by two enums) get bpftool's suffixes: `foo___2`,
//! `foo___3`. FUNC, VAR, DATASEC and DECL_TAG records are not written;
//! TYPE_TAGs are written as the type they tag.

use std::fmt::Write as _;

use hashbrown::HashMap;

use crate::types::{FuncLinkage, IntEncoding, Kind, Type, TypeId, VarLinkage};
use crate::{Btf, Error, Field};

/// Options of [`dump_c`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DumpOptions {
    /// The include guard macro (`__VMLINUX_H__`); `None` for no guard.
    pub guard: Option<String>,
    /// Wrap the types in `#pragma clang attribute push
    /// (__attribute__((preserve_access_index)), apply_to = record)` (unless
    /// the includer defines `BPF_NO_PRESERVE_ACCESS_INDEX`), so that field
    /// accesses in BPF programs are CO-RE relocatable.
    pub preserve_access_index: bool,
}

impl Default for DumpOptions {
    fn default() -> Self {
        DumpOptions {
            guard: Some("__VMLINUX_H__".to_string()),
            preserve_access_index: true,
        }
    }
}

/// Writes `btf` as a C header to `out` (see the module documentation).
/// For split BTF, the base's types are written too.
///
/// ```
/// use oxbpf_btf::{Btf, BtfBuilder, DumpOptions, IntEncoding, dump_c};
///
/// let mut b = BtfBuilder::new();
/// let int = b.add_int("int", 4, IntEncoding::SIGNED);
/// let p = b.add_ptr(int);
/// b.add_struct("pair", 16, &[("a", int, 0), ("p", p, 64)]);
/// let btf = Btf::from_vec(b.build())?;
///
/// let mut out = Vec::new();
/// dump_c(&btf, &mut out, &DumpOptions::default())?;
/// let text = String::from_utf8(out).unwrap();
/// assert!(text.contains("struct pair {\n\tint a;\n\tint *p;\n};\n"));
/// # Ok::<(), oxbpf_btf::Error>(())
/// ```
pub fn dump_c(
    btf: &Btf<'_>,
    out: &mut impl std::io::Write,
    opts: &DumpOptions,
) -> Result<(), Error> {
    let text = dump_c_string(btf, opts)?;
    out.write_all(text.as_bytes())
        .map_err(|source| Error::Write { source })
}

/// [`dump_c`] into a `String`.
pub fn dump_c_string(btf: &Btf<'_>, opts: &DumpOptions) -> Result<String, Error> {
    let mut d = CDumper::new(btf)?;
    if let Some(g) = &opts.guard {
        let _ = write!(d.out, "#ifndef {g}\n#define {g}\n\n");
    }
    if opts.preserve_access_index {
        d.out.push_str(
            "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n\
             #pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)\n\
             #endif\n\n",
        );
    }
    for i in 1..=btf.types_len() {
        d.emit_top(TypeId(i))?;
    }
    if opts.preserve_access_index {
        d.out.push_str(
            "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute pop\n#endif\n\n",
        );
    }
    if let Some(g) = &opts.guard {
        let _ = writeln!(d.out, "#endif /* {g} */");
    }
    Ok(d.out)
}

/// Nesting bound for declarators and inline definitions.
const MAX_DEPTH: u32 = 64;

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing written yet.
    None,
    /// A forward declaration was written.
    Declared,
    /// Its definition is being prepared (dependencies being written).
    Visiting,
    /// Defined.
    Done,
}

/// How a struct or union is written.
#[derive(Clone, Copy, Debug)]
struct Layout {
    packed: bool,
    aligned: Option<u32>,
    /// Alignment of the type as written.
    align: u32,
}

struct CDumper<'b, 'a> {
    btf: &'b Btf<'a>,
    /// Per type: 0 for the plain name, k for the suffix `___{k+1}`.
    suffix: Vec<u32>,
    state: Vec<State>,
    /// Whether a forward declaration was written.
    declared: Vec<bool>,
    layouts: Vec<Option<Layout>>,
    /// Anonymous enums whose constants were written (a second definition
    /// would redefine them).
    anon_enum_done: Vec<bool>,
    /// Anonymous enums used by a member, typedef, array or modifier (they
    /// are written there, not on their own).
    anon_enum_used: Vec<bool>,
    /// Ordinary identifiers (typedef names and enumerators) and how many
    /// times each was used.
    idents: HashMap<String, u32>,
    out: String,
    /// Bound on the work: malformed BTF can make inline definitions
    /// exponential.
    budget: u64,
    /// Bound on the bytes written and copied while building declarations.
    bytes_left: u64,
    bytes_limit: u64,
}

fn round_up(v: u64, a: u64) -> u64 {
    if a <= 1 { v } else { v.div_ceil(a) * a }
}

impl<'b, 'a> CDumper<'b, 'a> {
    fn new(btf: &'b Btf<'a>) -> Result<Self, Error> {
        let n = btf.types_len() as usize + 1;
        let mut d = CDumper {
            btf,
            suffix: vec![0; n],
            state: vec![State::None; n],
            declared: vec![false; n],
            layouts: vec![None; n],
            anon_enum_done: vec![false; n],
            anon_enum_used: vec![false; n],
            idents: HashMap::new(),
            out: String::new(),
            budget: 64 * n as u64 + (1 << 20),
            bytes_left: 0,
            bytes_limit: 0,
        };
        // vmlinux.h is smaller than the BTF it comes from; allow much more.
        let input = (btf.type_section().len() + btf.string_section().len()) as u64;
        d.bytes_limit = 64 * input + (16 << 20);
        d.bytes_left = d.bytes_limit;
        d.assign_names()?;
        Ok(d)
    }

    fn ty(&self, id: TypeId) -> Result<Type<'b>, Error> {
        self.btf.type_by_id(id)
    }

    fn name_of(&self, id: TypeId) -> Result<&'b str, Error> {
        self.btf.name(id)
    }

    /// Counts `n` bytes of output (or copying) against the bound.
    fn charge(&mut self, id: TypeId, n: usize) -> Result<(), Error> {
        match self.bytes_left.checked_sub(n as u64) {
            Some(left) => {
                self.bytes_left = left;
                Ok(())
            }
            None => Err(Error::OutputTooLarge {
                what: "C dump",
                id,
                limit: self.bytes_limit,
            }),
        }
    }

    fn spend(&mut self, id: TypeId) -> Result<(), Error> {
        if self.budget == 0 {
            return Err(Error::TooManySteps {
                id,
                steps: u32::MAX,
            });
        }
        self.budget -= 1;
        Ok(())
    }

    /// Tag and typedef names, with suffixes for the second and later
    /// distinct types of one name; which anonymous enums are used.
    fn assign_names(&mut self) -> Result<(), Error> {
        let btf = self.btf;
        let n = btf.types_len();
        // Tag namespace: name -> (count, kind of the first owner).
        let mut tags: HashMap<&str, (u32, Kind)> = HashMap::new();
        let mut typedefs: HashMap<&str, u32> = HashMap::new();
        for i in 1..=n {
            let id = TypeId(i);
            let t = btf.type_by_id(id)?;
            let kind = t.kind();
            match t {
                Type::Struct(_) | Type::Union(_) | Type::Enum(_) | Type::Enum64(_) => {
                    let name = self.name_of(id)?;
                    if !name.is_empty() {
                        let e = tags.entry(name).or_insert((0, kind));
                        self.suffix[i as usize] = e.0;
                        e.0 += 1;
                    }
                }
                Type::Typedef(_) => {
                    let name = self.name_of(id)?;
                    let e = typedefs.entry(name).or_insert(0);
                    self.suffix[i as usize] = *e;
                    *e += 1;
                }
                _ => {}
            }
            let mut mark = |r: TypeId| {
                if let Ok(Type::Enum(e) | Type::Enum64(e)) = btf.type_by_id(r)
                    && e.name_off() == 0
                    && let Some(u) = self.anon_enum_used.get_mut(r.0 as usize)
                {
                    *u = true;
                }
            };
            match t {
                Type::Struct(c) | Type::Union(c) => c.members().for_each(|m| mark(m.ty)),
                Type::Typedef(r)
                | Type::Ptr(r)
                | Type::Const(r)
                | Type::Volatile(r)
                | Type::Restrict(r)
                | Type::TypeTag(r) => mark(r.ty),
                Type::Array(a) => mark(a.elem),
                _ => {}
            }
        }
        // Forward declarations name the first definition of their kind, or
        // take a name of their own.
        for i in 1..=n {
            let id = TypeId(i);
            if let Type::Fwd(f) = btf.type_by_id(id)? {
                let name = self.name_of(id)?;
                let kind = if f.is_union {
                    Kind::Union
                } else {
                    Kind::Struct
                };
                let e = tags.entry(name).or_insert((0, kind));
                if e.1 == kind && e.0 > 0 {
                    self.suffix[i as usize] = 0;
                } else {
                    self.suffix[i as usize] = e.0;
                    e.0 += 1;
                    e.1 = kind;
                }
            }
        }
        for (name, count) in typedefs {
            self.idents.insert(name.to_string(), count);
        }
        Ok(())
    }

    /// The name of a struct, union, enum, fwd or typedef as written.
    fn c_name(&self, id: TypeId) -> Result<String, Error> {
        let name = self.name_of(id)?;
        Ok(match self.suffix.get(id.0 as usize).copied().unwrap_or(0) {
            0 => name.to_string(),
            k => format!("{name}___{}", k + 1),
        })
    }

    /// A unique name for an enumerator.
    fn enumerator_name(&mut self, name: &str) -> String {
        match self.idents.get_mut(name) {
            Some(count) => {
                *count += 1;
                format!("{name}___{count}")
            }
            None => {
                self.idents.insert(name.to_string(), 1);
                name.to_string()
            }
        }
    }

    fn emit_top(&mut self, id: TypeId) -> Result<(), Error> {
        let t = self.ty(id)?;
        match t {
            Type::Struct(c) | Type::Union(c) if c.name_off() != 0 => self.define(id, 0),
            Type::Enum(e) | Type::Enum64(e) => {
                if e.name_off() != 0 {
                    self.ensure_enum(id)
                } else if !self.anon_enum_used[id.0 as usize] && !self.anon_enum_done[id.0 as usize]
                {
                    let body = self.enum_body(id, &e, 0)?;
                    let _ = write!(self.out, "{body};\n\n");
                    Ok(())
                } else {
                    Ok(())
                }
            }
            Type::Typedef(_) => self.ensure_typedef(id, 0),
            Type::Fwd(_) => self.declare(id),
            _ => Ok(()),
        }
    }

    /// Makes `id` usable in the next declaration: complete if `strong`
    /// (used by value), else at least declared.
    fn need(&mut self, id: TypeId, strong: bool, depth: u32) -> Result<(), Error> {
        if depth > MAX_DEPTH {
            return Err(Error::TooDeep {
                id,
                depth: MAX_DEPTH,
            });
        }
        self.spend(id)?;
        let t = self.ty(id)?;
        let btf = self.btf;
        let r = |f| btf.check_ref(id, f, Field::Type);
        match t {
            Type::Void | Type::Int(_) | Type::Float(_) => Ok(()),
            Type::Ptr(p) => self.need(r(p.ty)?, false, depth + 1),
            Type::Const(p) | Type::Volatile(p) | Type::Restrict(p) | Type::TypeTag(p) => {
                self.need(r(p.ty)?, strong, depth + 1)
            }
            Type::Array(a) => {
                let elem = self.btf.check_ref(id, a.elem, Field::ArrayElem)?;
                self.need(elem, true, depth + 1)
            }
            Type::FuncProto(p) => {
                self.need(r(p.ret())?, false, depth + 1)?;
                for (i, prm) in p.params().enumerate() {
                    let ty = self.btf.check_ref(id, prm.ty, Field::Param(i as u32))?;
                    self.need(ty, false, depth + 1)?;
                }
                Ok(())
            }
            Type::Struct(c) | Type::Union(c) => {
                if c.name_off() != 0 {
                    if strong {
                        self.define(id, depth + 1)
                    } else {
                        self.declare(id)
                    }
                } else {
                    for (i, m) in c.members().enumerate() {
                        let ty = self.btf.check_ref(id, m.ty, Field::Member(i as u32))?;
                        self.need(ty, true, depth + 1)?;
                    }
                    Ok(())
                }
            }
            Type::Enum(e) | Type::Enum64(e) => {
                if e.name_off() != 0 {
                    self.ensure_enum(id)
                } else {
                    Ok(())
                }
            }
            Type::Fwd(_) => self.declare(id),
            Type::Typedef(p) if is_builtin(self.name_of(id)?) => {
                self.need(r(p.ty)?, strong, depth + 1)
            }
            Type::Typedef(p) => {
                self.ensure_typedef(id, depth + 1)?;
                if strong {
                    self.need(r(p.ty)?, true, depth + 1)?;
                }
                Ok(())
            }
            Type::Func(_) | Type::Var(_) | Type::Datasec(_) | Type::DeclTag(_) => Ok(()),
        }
    }

    /// Writes `struct foo;` unless it is declared or defined already (a
    /// struct whose definition is being prepared is declared too: a
    /// prototype that names it must not declare it in its own scope).
    fn declare(&mut self, id: TypeId) -> Result<(), Error> {
        let i = id.0 as usize;
        if self.declared[i] || self.state[i] == State::Done {
            return Ok(());
        }
        let kw = match self.ty(id)? {
            Type::Union(_) => "union",
            Type::Fwd(f) if f.is_union => "union",
            _ => "struct",
        };
        let name = self.c_name(id)?;
        let _ = write!(self.out, "{kw} {name};\n\n");
        self.declared[i] = true;
        if self.state[i] == State::None {
            self.state[i] = State::Declared;
        }
        Ok(())
    }

    /// Writes the definition of named struct or union `id` (after what it
    /// needs).
    fn define(&mut self, id: TypeId, depth: u32) -> Result<(), Error> {
        let i = id.0 as usize;
        match self.state[i] {
            State::Done => return Ok(()),
            State::Visiting => {
                return Err(Error::UnexpectedKind {
                    id,
                    kind: self.ty(id)?.kind(),
                    expected: "a type that does not contain itself",
                });
            }
            _ => {}
        }
        let prev = self.state[i];
        self.state[i] = State::Visiting;
        let t = self.ty(id)?;
        let Some(c) = t.as_composite().copied() else {
            self.state[i] = prev;
            return Ok(());
        };
        for (k, m) in c.members().enumerate() {
            let ty = self.btf.check_ref(id, m.ty, Field::Member(k as u32))?;
            self.need(ty, true, depth + 1)?;
        }
        let body = self.composite_body(id, 0, depth)?;
        let _ = write!(self.out, "{body};\n\n");
        self.state[i] = State::Done;
        Ok(())
    }

    fn ensure_enum(&mut self, id: TypeId) -> Result<(), Error> {
        let i = id.0 as usize;
        if self.state[i] == State::Done {
            return Ok(());
        }
        let (Type::Enum(e) | Type::Enum64(e)) = self.ty(id)? else {
            return Ok(());
        };
        let body = self.enum_body(id, &e, 0)?;
        let _ = write!(self.out, "{body};\n\n");
        self.state[i] = State::Done;
        Ok(())
    }

    fn ensure_typedef(&mut self, id: TypeId, depth: u32) -> Result<(), Error> {
        let i = id.0 as usize;
        match self.state[i] {
            State::Done => return Ok(()),
            State::Visiting => {
                return Err(Error::TooDeep {
                    id,
                    depth: MAX_DEPTH,
                });
            }
            _ => {}
        }
        self.state[i] = State::Visiting;
        let Type::Typedef(r) = self.ty(id)? else {
            return Ok(());
        };
        let target = self.btf.check_ref(id, r.ty, Field::Type)?;
        let name = self.c_name(id)?;
        if is_builtin(&name) {
            // The compiler's own (`__builtin_va_list`) cannot be redefined;
            // uses name the kernel's type instead (see `decl`).
            self.state[i] = State::Done;
            return Ok(());
        }
        self.need(target, false, depth + 1)?;
        let decl = self.decl(target, name, 0, false, depth + 1)?;
        let _ = write!(self.out, "typedef {decl};\n\n");
        self.state[i] = State::Done;
        Ok(())
    }

    /// `enum name { ... }` (or inline anonymous `enum { ... }`).
    fn enum_body(
        &mut self,
        id: TypeId,
        e: &crate::Enum<'_>,
        indent: usize,
    ) -> Result<String, Error> {
        self.anon_enum_done[id.0 as usize] = true;
        let size = e.size();
        // Values as the enum's signedness reads them, at its size.
        let bits = size.clamp(1, 8) * 8;
        let signed = e.is_signed();
        let mut values: Vec<(String, i128)> = Vec::with_capacity(e.len());
        for (k, v) in e.values().enumerate() {
            let name = self.btf.string_at(v.name_off).map_err(|err| {
                self.btf
                    .name_error(id, Kind::Enum, Field::EnumValue(k as u32), v.name_off, err)
            })?;
            let raw = v.raw;
            let val = if signed {
                let shift = 64 - bits;
                i128::from(((raw << shift) as i64) >> shift)
            } else if bits == 64 {
                i128::from(raw)
            } else {
                i128::from(raw & ((1u64 << bits) - 1))
            };
            let name = self.enumerator_name(name);
            values.push((name, val));
        }
        // The size C gives the enum for these values.
        let fits_int = values
            .iter()
            .all(|&(_, v)| v >= i128::from(i32::MIN) && v <= i128::from(u32::MAX))
            && !(values.iter().any(|&(_, v)| v < 0)
                && values.iter().any(|&(_, v)| v > i128::from(i32::MAX)));
        let natural = if fits_int { 4 } else { 8 };
        let mut head = String::from("enum");
        if !self.name_of(id)?.is_empty() {
            head.push(' ');
            head.push_str(&self.c_name(id)?);
        }
        if natural != size || values.is_empty() {
            let any_neg = values.iter().any(|&(_, v)| v < 0);
            if let Some(t) = int_type_name(size, signed || any_neg) {
                head.push_str(" : ");
                head.push_str(t);
            }
        }
        if values.is_empty() {
            // A declaration with a fixed underlying type is complete.
            return Ok(head);
        }
        let tabs = "\t".repeat(indent + 1);
        let mut s = head;
        s.push_str(" {\n");
        for (name, v) in values {
            let lit = enum_literal(v);
            let _ = writeln!(s, "{tabs}{name} = {lit},");
        }
        s.push_str(&"\t".repeat(indent));
        s.push('}');
        self.charge(id, s.len())?;
        Ok(s)
    }

    /// How struct or union `id` is laid out when written.
    fn layout(&mut self, id: TypeId, depth: u32) -> Result<Layout, Error> {
        if let Some(l) = self.layouts[id.0 as usize] {
            return Ok(l);
        }
        if depth > MAX_DEPTH {
            return Err(Error::TooDeep {
                id,
                depth: MAX_DEPTH,
            });
        }
        self.spend(id)?;
        let t = self.ty(id)?;
        let Some(c) = t.as_composite().copied() else {
            return Ok(Layout {
                packed: false,
                aligned: None,
                align: 1,
            });
        };
        let is_union = t.kind() == Kind::Union;
        let size = u64::from(c.size());
        let mut packed = false;
        let mut max_align = 1u64;
        let mut cur = 0u64; // bits
        let mut end = 0u64; // bits, furthest member end
        for (k, m) in c.members().enumerate() {
            let ty = self.btf.check_ref(id, m.ty, Field::Member(k as u32))?;
            let a = u64::from(self.align_of(ty, depth + 1)?);
            let (bits, is_bf) = self.member_bits(&c, &m, ty)?;
            let off = u64::from(m.bit_offset);
            let start = if is_union { 0 } else { cur };
            let ok = off >= start
                && if is_bf {
                    let unit = a * 8;
                    bits == 0 || off / unit == (off + bits - 1) / unit
                } else {
                    off % (a * 8) == 0
                };
            if !ok {
                packed = true;
            }
            max_align = max_align.max(a);
            cur = cur.max(off + bits);
            end = end.max(off + bits);
        }
        if size % max_align != 0 || round_up(end.div_ceil(8), max_align) > size {
            packed = true;
        }
        let mut align = if packed { 1 } else { max_align };
        let natural = round_up(end.div_ceil(8), align);
        let mut aligned = None;
        if natural < size {
            let mut n = align * 2;
            while n <= size && n <= 1 << 12 {
                if round_up(end.div_ceil(8), n) == size {
                    aligned = Some(n as u32);
                    align = n;
                    break;
                }
                n *= 2;
            }
        }
        let l = Layout {
            packed,
            aligned,
            align: align as u32,
        };
        self.layouts[id.0 as usize] = Some(l);
        Ok(l)
    }

    /// A member's width in bits and whether it is a bitfield.
    fn member_bits(
        &self,
        c: &crate::Composite<'_>,
        m: &crate::Member,
        ty: TypeId,
    ) -> Result<(u64, bool), Error> {
        if m.bitfield_size != 0 {
            return Ok((u64::from(m.bitfield_size), true));
        }
        if !c.kind_flag()
            && let Type::Int(i) = self.ty(self.btf.skip_mods_and_typedefs(ty)?)?
            && u64::from(i.bits) != u64::from(i.size) * 8
        {
            return Ok((u64::from(i.bits), true));
        }
        let size = match self.btf.resolve_size(ty) {
            Ok(s) => s,
            Err(Error::UnexpectedKind { .. }) => 0,
            Err(e) => return Err(e),
        };
        Ok((u64::from(size) * 8, false))
    }

    /// Alignment in bytes of `id` as written.
    fn align_of(&mut self, id: TypeId, depth: u32) -> Result<u32, Error> {
        if depth > MAX_DEPTH {
            return Err(Error::TooDeep {
                id,
                depth: MAX_DEPTH,
            });
        }
        let pow2 = |s: u32, max: u32| {
            if s.is_power_of_two() { s.min(max) } else { 1 }
        };
        Ok(match self.ty(id)? {
            Type::Int(i) => pow2(i.size, 16),
            Type::Float(f) => pow2(f.size, 16),
            Type::Enum(e) | Type::Enum64(e) => pow2(e.size(), 8),
            Type::Ptr(_) => 8,
            Type::Array(a) => self.align_of(a.elem, depth + 1)?,
            Type::Typedef(r)
            | Type::Const(r)
            | Type::Volatile(r)
            | Type::Restrict(r)
            | Type::TypeTag(r) => self.align_of(r.ty, depth + 1)?,
            Type::Struct(_) | Type::Union(_) => self.layout(id, depth + 1)?.align,
            _ => 1,
        })
    }

    /// `struct name { members } attributes` (or the anonymous inline form);
    /// `indent` is the nesting level of the closing brace.
    fn composite_body(&mut self, id: TypeId, indent: usize, depth: u32) -> Result<String, Error> {
        let t = self.ty(id)?;
        let Some(c) = t.as_composite().copied() else {
            return Ok(String::new());
        };
        let is_union = t.kind() == Kind::Union;
        let l = self.layout(id, depth)?;
        let mut s = String::from(if is_union { "union" } else { "struct" });
        if c.name_off() != 0 {
            s.push(' ');
            s.push_str(&self.c_name(id)?);
        }
        s.push_str(" {\n");
        let tabs = "\t".repeat(indent + 1);
        let mut cur = 0u64;
        let mut end = 0u64;
        for (k, m) in c.members().enumerate() {
            let ty = self.btf.check_ref(id, m.ty, Field::Member(k as u32))?;
            let (bits, is_bf) = self.member_bits(&c, &m, ty)?;
            let off = u64::from(m.bit_offset);
            if !is_union && off > cur {
                // The natural position of the member, after `cur`.
                let a = if l.packed {
                    1
                } else {
                    u64::from(self.align_of(ty, depth + 1)?)
                };
                let natural = if is_bf {
                    let unit = a * 8;
                    if bits == 0 || cur / unit == (cur + bits - 1) / unit {
                        cur
                    } else {
                        round_up(cur, unit)
                    }
                } else {
                    round_up(cur, if l.packed { 8 } else { a * 8 })
                };
                if off > natural {
                    pad(&mut s, &tabs, cur, off);
                }
            }
            let name = self.btf.string_at(m.name_off).map_err(|e| {
                self.btf
                    .name_error(id, t.kind(), Field::Member(k as u32), m.name_off, e)
            })?;
            let decl = self.decl(ty, name.to_string(), indent + 1, false, depth + 1)?;
            s.push_str(&tabs);
            s.push_str(&decl);
            if is_bf {
                let _ = write!(s, ": {bits}");
            }
            s.push_str(";\n");
            cur = if is_union { 0 } else { off + bits };
            end = end.max(off + bits);
        }
        // Trailing padding the alignment does not explain.
        let size_bits = u64::from(c.size()) * 8;
        let natural = round_up(end.div_ceil(8), u64::from(l.align)) * 8;
        if natural < size_bits {
            if is_union {
                let bytes = c.size();
                if bytes <= 8 {
                    let _ = writeln!(
                        s,
                        "{tabs}{}: {};",
                        pad_type(u64::from(bytes) * 8),
                        bytes * 8
                    );
                } else {
                    let _ = writeln!(s, "{tabs}char __pad[{bytes}];");
                }
            } else {
                pad(&mut s, &tabs, end, size_bits);
            }
        }
        s.push_str(&"\t".repeat(indent));
        s.push('}');
        self.charge(id, s.len())?;
        match (l.packed, l.aligned) {
            (true, Some(n)) => {
                let _ = write!(s, " __attribute__((packed, aligned({n})))");
            }
            (true, None) => s.push_str(" __attribute__((packed))"),
            (false, Some(n)) => {
                let _ = write!(s, " __attribute__((aligned({n})))");
            }
            (false, None) => {}
        }
        Ok(s)
    }

    /// The C declaration of `inner` as type `id` ("const char *name[4]").
    /// `indent` is the nesting of inline definitions; `in_proto` says we are
    /// in a prototype's parameter list.
    fn decl(
        &mut self,
        id: TypeId,
        inner: String,
        indent: usize,
        in_proto: bool,
        depth: u32,
    ) -> Result<String, Error> {
        if depth > MAX_DEPTH {
            return Err(Error::TooDeep {
                id,
                depth: MAX_DEPTH,
            });
        }
        self.spend(id)?;
        self.charge(id, inner.len())?;
        let join = |base: &str, inner: &str| {
            if inner.is_empty() {
                base.to_string()
            } else {
                format!("{base} {inner}")
            }
        };
        let t = self.ty(id)?;
        Ok(match t {
            Type::Void => join("void", &inner),
            Type::Int(i) => {
                let n = self.name_of(id)?;
                let base = if n.is_empty() {
                    int_type_name(i.size, i.encoding.is_signed()).unwrap_or("int")
                } else {
                    n
                };
                join(base, &inner)
            }
            Type::Float(f) => {
                let n = self.name_of(id)?;
                join(if n.is_empty() { float_name(f.size) } else { n }, &inner)
            }
            Type::Ptr(r) => {
                let target = self.btf.check_ref(id, r.ty, Field::Type)?;
                let paren = matches!(
                    self.ty(self.btf.skip_mods(target)?)?,
                    Type::Array(_) | Type::FuncProto(_)
                );
                let inner = if paren {
                    format!("(*{inner})")
                } else {
                    format!("*{inner}")
                };
                self.decl(target, inner, indent, in_proto, depth + 1)?
            }
            Type::Const(r) | Type::Volatile(r) | Type::Restrict(r) => {
                let q = match t.kind() {
                    Kind::Const => "const",
                    Kind::Volatile => "volatile",
                    _ => "restrict",
                };
                let target = self.btf.check_ref(id, r.ty, Field::Type)?;
                if matches!(self.ty(target)?, Type::Ptr(_)) {
                    let inner = if inner.is_empty() {
                        q.to_string()
                    } else {
                        format!("{q} {inner}")
                    };
                    self.decl(target, inner, indent, in_proto, depth + 1)?
                } else {
                    let d = self.decl(target, inner, indent, in_proto, depth + 1)?;
                    // `const` on an array of const elements: once is enough.
                    if d.starts_with(q) && d[q.len()..].starts_with(' ') {
                        d
                    } else {
                        format!("{q} {d}")
                    }
                }
            }
            Type::TypeTag(r) => {
                let target = self.btf.check_ref(id, r.ty, Field::Type)?;
                self.decl(target, inner, indent, in_proto, depth + 1)?
            }
            Type::Array(a) => {
                let elem = self.btf.check_ref(id, a.elem, Field::ArrayElem)?;
                self.decl(
                    elem,
                    format!("{inner}[{}]", a.nelems),
                    indent,
                    in_proto,
                    depth + 1,
                )?
            }
            Type::FuncProto(p) => {
                let mut params = Vec::with_capacity(p.len());
                let n = p.len();
                for (k, prm) in p.params().enumerate() {
                    if k + 1 == n && prm.ty.is_void() && prm.name_off == 0 {
                        params.push("...".to_string());
                        continue;
                    }
                    let ty = self.btf.check_ref(id, prm.ty, Field::Param(k as u32))?;
                    params.push(self.decl(ty, String::new(), indent, true, depth + 1)?);
                }
                let params = if params.is_empty() {
                    "void".to_string()
                } else {
                    params.join(", ")
                };
                let ret = self.btf.check_ref(id, p.ret(), Field::Type)?;
                self.decl(ret, format!("{inner}({params})"), indent, true, depth + 1)?
            }
            Type::Struct(c) | Type::Union(c) => {
                if c.name_off() != 0 {
                    let kw = if t.kind() == Kind::Union {
                        "union"
                    } else {
                        "struct"
                    };
                    join(&format!("{kw} {}", self.c_name(id)?), &inner)
                } else if in_proto {
                    // An inline definition in a parameter list would be
                    // local to it; as a pointer target `void` serves.
                    join("void", &inner)
                } else {
                    let body = self.composite_body(id, indent, depth + 1)?;
                    join(&body, &inner)
                }
            }
            Type::Enum(e) | Type::Enum64(e) => {
                if e.name_off() != 0 {
                    join(&format!("enum {}", self.c_name(id)?), &inner)
                } else if in_proto || self.anon_enum_done[id.0 as usize] {
                    let signed = e.is_signed() || e.values().any(|v| v.value() < 0);
                    join(int_type_name(e.size(), signed).unwrap_or("int"), &inner)
                } else {
                    let body = self.enum_body(id, &e, indent)?;
                    join(&body, &inner)
                }
            }
            Type::Fwd(f) => {
                let kw = if f.is_union { "union" } else { "struct" };
                join(&format!("{kw} {}", self.c_name(id)?), &inner)
            }
            Type::Typedef(r) if is_builtin(self.name_of(id)?) => {
                // The kernel's `__builtin_va_list` (x86: `struct
                // __va_list_tag[1]`, 24 bytes) is not the BPF target's
                // (`void *`): write what BTF says, so layouts hold.
                let target = self.btf.check_ref(id, r.ty, Field::Type)?;
                self.decl(target, inner, indent, in_proto, depth + 1)?
            }
            Type::Typedef(_) => join(&self.c_name(id)?, &inner),
            Type::Func(_) | Type::Var(_) | Type::Datasec(_) | Type::DeclTag(_) => {
                return Err(Error::UnexpectedKind {
                    id,
                    kind: t.kind(),
                    expected: "a type usable in a C declaration",
                });
            }
        })
    }
}

/// Largest gap, in bytes, filled with unnamed bitfields.
const MAX_BITFIELD_PAD: u64 = 1024;

/// Whether a typedef name is one of the compiler's own.
fn is_builtin(name: &str) -> bool {
    name.starts_with("__builtin_")
}

/// Writes unnamed bitfields covering bits `from..to`, none of which
/// crosses a boundary of its own type (so each sits where it is written).
///
/// Gaps of more than [`MAX_BITFIELD_PAD`] bytes are a named `char` array
/// instead (`___pad_<byte offset>`), so that a huge gap in malformed BTF
/// does not become millions of lines.
fn pad(s: &mut String, tabs: &str, mut from: u64, to: u64) {
    while from < to {
        let left = to - from;
        if from % 8 == 0 && left / 8 > MAX_BITFIELD_PAD {
            let bytes = left / 8;
            let _ = writeln!(s, "{tabs}char ___pad_{}[{bytes}];", from / 8);
            from += bytes * 8;
            continue;
        }
        let w = if from % 8 != 0 {
            (8 - from % 8).min(left)
        } else {
            [64, 32, 16, 8]
                .into_iter()
                .find(|&w| from % w == 0 && w <= left)
                .unwrap_or(left)
        };
        let _ = writeln!(s, "{tabs}{}: {w};", pad_type(w));
        from += w;
    }
}

fn pad_type(bits: u64) -> &'static str {
    match bits {
        0..=8 => "char",
        9..=16 => "short",
        17..=32 => "int",
        _ => "long",
    }
}

/// The C integer type of `size` bytes.
fn int_type_name(size: u32, signed: bool) -> Option<&'static str> {
    Some(match (size, signed) {
        (1, true) => "signed char",
        (1, false) => "unsigned char",
        (2, true) => "short",
        (2, false) => "unsigned short",
        (4, true) => "int",
        (4, false) => "unsigned int",
        (8, true) => "long long",
        (8, false) => "unsigned long long",
        (16, true) => "__int128",
        (16, false) => "unsigned __int128",
        _ => return None,
    })
}

fn float_name(size: u32) -> &'static str {
    match size {
        4 => "float",
        _ => "double",
    }
}

/// An enumerator value as a C literal of the right type.
fn enum_literal(v: i128) -> String {
    if v == i128::from(i64::MIN) {
        "(-9223372036854775807LL - 1)".to_string()
    } else if v > i128::from(i64::MAX) {
        format!("{v}ULL")
    } else if v > i128::from(u32::MAX) || v < i128::from(i32::MIN) {
        format!("{v}LL")
    } else {
        v.to_string()
    }
}

/// Writes every type of `btf` (its own types, for split BTF) in the format
/// of `bpftool btf dump file F` (the default "raw" format), one type per
/// record, each followed by a newline.
pub fn dump_raw(btf: &Btf<'_>, out: &mut impl std::io::Write) -> Result<(), Error> {
    let mut s = String::new();
    for (id, t) in btf.types() {
        s.clear();
        raw_type(btf, id, &t, &mut s);
        s.push('\n');
        out.write_all(s.as_bytes())
            .map_err(|source| Error::Write { source })?;
    }
    Ok(())
}

/// One type in bpftool's raw format (`[1] INT 'int' size=4 ...`), members
/// and values on further tab-indented lines, without a final newline.
pub fn raw_type_string(btf: &Btf<'_>, id: TypeId, t: &Type<'_>) -> String {
    let mut s = String::new();
    raw_type(btf, id, t, &mut s);
    s
}

fn raw_type(btf: &Btf<'_>, id: TypeId, t: &Type<'_>, s: &mut String) {
    let name = |off: u32| -> String {
        match btf.string_at(off) {
            Ok("") => "(anon)".to_string(),
            Ok(s) => s.to_string(),
            Err(e) => format!("<{e}>"),
        }
    };
    let _ = write!(s, "[{id}] {:#} '{}'", t.kind(), name(t.name_off()));
    match t {
        Type::Void => {}
        Type::Int(i) => {
            let enc = match i.encoding {
                IntEncoding::NONE => "(none)",
                IntEncoding::SIGNED => "SIGNED",
                IntEncoding::CHAR => "CHAR",
                IntEncoding::BOOL => "BOOL",
                _ => "(invalid)",
            };
            let _ = write!(
                s,
                " size={} bits_offset={} nr_bits={} encoding={enc}",
                i.size, i.offset, i.bits
            );
        }
        Type::Ptr(r)
        | Type::Typedef(r)
        | Type::Volatile(r)
        | Type::Const(r)
        | Type::Restrict(r)
        | Type::TypeTag(r) => {
            let _ = write!(s, " type_id={}", r.ty);
        }
        Type::Array(a) => {
            let _ = write!(
                s,
                " type_id={} index_type_id={} nr_elems={}",
                a.elem, a.index, a.nelems
            );
        }
        Type::Struct(c) | Type::Union(c) => {
            let _ = write!(s, " size={} vlen={}", c.size(), c.len());
            for m in c.members() {
                let _ = write!(
                    s,
                    "\n\t'{}' type_id={} bits_offset={}",
                    name(m.name_off),
                    m.ty,
                    m.bit_offset
                );
                if m.bitfield_size != 0 {
                    let _ = write!(s, " bitfield_size={}", m.bitfield_size);
                }
            }
        }
        Type::Enum(e) | Type::Enum64(e) => {
            let enc = if e.is_signed() { "SIGNED" } else { "UNSIGNED" };
            let _ = write!(s, " encoding={enc} size={} vlen={}", e.size(), e.len());
            for v in e.values() {
                let suffix = match (e.is_64(), e.is_signed()) {
                    (false, _) => "",
                    (true, true) => "LL",
                    (true, false) => "ULL",
                };
                let _ = write!(s, "\n\t'{}' val={}{suffix}", name(v.name_off), v.value());
            }
        }
        Type::Fwd(f) => {
            let _ = write!(
                s,
                " fwd_kind={}",
                if f.is_union { "union" } else { "struct" }
            );
        }
        Type::Func(f) => {
            let l = match f.linkage {
                FuncLinkage::Static => "static",
                FuncLinkage::Global => "global",
                FuncLinkage::Extern => "extern",
                FuncLinkage::Other(_) => "(unknown)",
            };
            let _ = write!(s, " type_id={} linkage={l}", f.proto);
        }
        Type::FuncProto(p) => {
            let _ = write!(s, " ret_type_id={} vlen={}", p.ret(), p.len());
            for prm in p.params() {
                let _ = write!(s, "\n\t'{}' type_id={}", name(prm.name_off), prm.ty);
            }
        }
        Type::Var(v) => {
            let l = match v.linkage {
                VarLinkage::Static => "static",
                VarLinkage::GlobalAllocated => "global",
                VarLinkage::GlobalExtern => "extern",
                VarLinkage::Other(_) => "(unknown)",
            };
            let _ = write!(s, " type_id={}, linkage={l}", v.ty);
        }
        Type::Datasec(d) => {
            let _ = write!(s, " size={} vlen={}", d.size(), d.len());
            for v in d.vars() {
                let (k, n) = match btf.type_by_id(v.ty) {
                    Ok(vt) => (vt.kind(), name(vt.name_off())),
                    Err(e) => (Kind::Void, format!("<{e}>")),
                };
                let _ = write!(
                    s,
                    "\n\ttype_id={} offset={} size={} ({k:#} '{n}')",
                    v.ty, v.offset, v.size,
                );
            }
        }
        Type::Float(f) => {
            let _ = write!(s, " size={}", f.size);
        }
        Type::DeclTag(d) => {
            let _ = write!(s, " type_id={} component_idx={}", d.ty, d.component_idx);
        }
    }
}
