//! Writing BTF: [`BtfBuilder`].

use std::hash::BuildHasher;

use hashbrown::HashTable;

use crate::btf::{BTF_MAGIC, HEADER_LEN};
use crate::types::{Endian, FuncLinkage, IntEncoding, Kind, Type, TypeId, VarLinkage};
use crate::{Btf, Error, Field};

/// Builds a valid BTF blob type by type. Strings are deduplicated; every
/// `add_*` returns the new type's id (ids are handed out in call order,
/// from 1, or after the base's last id for split BTF).
///
/// ```
/// use oxbpf_btf::{Btf, BtfBuilder, IntEncoding, Kind, TypeId};
///
/// let mut b = BtfBuilder::new();
/// let int = b.add_int("int", 4, IntEncoding::SIGNED);
/// let s = b.add_struct("pair", 8, &[("a", int, 0), ("b", int, 32)]);
/// let bytes = b.build();
///
/// let btf = Btf::parse(&bytes)?;
/// assert_eq!(btf.find_by_name_kind("pair", Kind::Struct)?, Some(s));
/// assert_eq!(btf.resolve_size(s)?, 8);
/// # Ok::<(), oxbpf_btf::Error>(())
/// ```
///
/// # Panics
///
/// Methods taking a list panic if it has more than 65 535 entries (the
/// format's `vlen` limit); the total size is not otherwise bounded.
#[derive(Clone)]
pub struct BtfBuilder {
    /// Type section as 32-bit words (converted to the output byte order at
    /// [`BtfBuilder::build`]).
    words: Vec<u32>,
    nr_types: u32,
    start_id: u32,
    strings: Vec<u8>,
    start_str: u32,
    str_table: HashTable<u32>,
    hasher: hashbrown::DefaultHashBuilder,
}

impl Default for BtfBuilder {
    fn default() -> Self {
        BtfBuilder::new()
    }
}

impl std::fmt::Debug for BtfBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BtfBuilder")
            .field("first_id", &self.start_id)
            .field("types", &self.nr_types)
            .field("str_len", &self.strings.len())
            .finish()
    }
}

impl BtfBuilder {
    /// An empty builder for base (non-split) BTF.
    pub fn new() -> BtfBuilder {
        BtfBuilder::with_start(1, 0)
    }

    /// An empty builder for split BTF on `base`: ids continue after the
    /// base's last id, string offsets after the base's strings. Parse the
    /// result with [`Btf::parse_split`] on the same base.
    pub fn new_split(base: &Btf<'_>) -> BtfBuilder {
        BtfBuilder::with_start(base.types_len() + 1, base.strings_end())
    }

    fn with_start(start_id: u32, start_str: u32) -> BtfBuilder {
        let mut b = BtfBuilder {
            words: Vec::new(),
            nr_types: 0,
            start_id,
            strings: vec![0],
            start_str,
            str_table: HashTable::new(),
            hasher: hashbrown::DefaultHashBuilder::default(),
        };
        let h = b.hasher.hash_one(b"".as_slice());
        b.str_table.insert_unique(h, 0, |_| h);
        b
    }

    /// A builder holding a copy of `src`: the same records (ids unchanged)
    /// and the same string section (every string offset unchanged, so
    /// `.BTF.ext` and other references into it stay valid), to which more
    /// types and strings can be added. Built in the same byte order, the
    /// result is byte for byte `src`'s type and string sections.
    pub fn from_btf(src: &Btf<'_>) -> Result<BtfBuilder, Error> {
        let mut b = BtfBuilder::with_strings_from(src);
        let e = src.endian();
        b.words.reserve(src.type_section().len() / 4);
        b.words.extend(
            src.type_section()
                .chunks_exact(4)
                .map(|c| e.u32([c[0], c[1], c[2], c[3]])),
        );
        b.nr_types = src.types().len() as u32;
        Ok(b)
    }

    /// A builder with no types (ids start where `src`'s own types start)
    /// holding `src`'s string section verbatim, so that records copied or
    /// rewritten from `src` keep their string offsets. The way to rewrite a
    /// BTF type by type while keeping ids and strings stable.
    pub fn with_strings_from(src: &Btf<'_>) -> BtfBuilder {
        let mut b = match src.base() {
            Some(base) => BtfBuilder::new_split(base),
            None => BtfBuilder::new(),
        };
        let strs = src.string_section();
        b.strings = strs.to_vec();
        b.str_table.clear();
        let mut off = 0usize;
        while off < strs.len() {
            let n = strs[off..]
                .iter()
                .position(|&c| c == 0)
                .unwrap_or(strs.len() - off);
            let h = b.hasher.hash_one(&strs[off..off + n]);
            let s = &b.strings;
            let dup = b.str_table.find(h, |&o| {
                let o = o as usize;
                s.get(o..o + n) == Some(&strs[off..off + n]) && s.get(o + n) == Some(&0)
            });
            if dup.is_none() {
                let (hasher, s) = (&b.hasher, &b.strings);
                b.str_table.insert_unique(h, off as u32, |&o| {
                    let rest = s.get(o as usize..).unwrap_or(&[]);
                    let k = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
                    hasher.hash_one(&rest[..k])
                });
            }
            off += n + 1;
        }
        b
    }

    /// The id the next added type will get.
    pub fn next_id(&self) -> TypeId {
        TypeId(self.start_id + self.nr_types)
    }

    /// The highest id added so far (or the base's last id, or 0).
    pub fn types_len(&self) -> u32 {
        self.start_id + self.nr_types - 1
    }

    /// Adds a string (or finds it) and returns its offset. "" is offset 0.
    pub fn add_string(&mut self, s: &str) -> u32 {
        if s.is_empty() {
            return 0;
        }
        let bytes = s.as_bytes();
        let h = self.hasher.hash_one(bytes);
        let strings = &self.strings;
        let found = self.str_table.find(h, |&off| {
            let o = off as usize;
            strings.get(o..o + bytes.len()) == Some(bytes)
                && strings.get(o + bytes.len()) == Some(&0)
        });
        if let Some(&off) = found {
            return self.start_str + off;
        }
        let off = self.strings.len() as u32;
        self.strings.extend_from_slice(bytes);
        self.strings.push(0);
        let (hasher, strings) = (&self.hasher, &self.strings);
        self.str_table.insert_unique(h, off, |&o| {
            let rest = strings.get(o as usize..).unwrap_or(&[]);
            let n = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
            hasher.hash_one(&rest[..n])
        });
        self.start_str + off
    }

    /// Appends a raw record: the common header (name, kind, kind_flag, vlen,
    /// size-or-type) and its trailing 32-bit words, unchecked. The building
    /// block of every other `add_*`; tests use it to make malformed BTF.
    pub fn add_raw(
        &mut self,
        name_off: u32,
        kind: u32,
        kind_flag: bool,
        vlen: u16,
        size_or_type: u32,
        trailing: &[u32],
    ) -> TypeId {
        let id = self.next_id();
        let info = ((kind & 0x1f) << 24) | (u32::from(kind_flag) << 31) | u32::from(vlen);
        self.words
            .extend_from_slice(&[name_off, info, size_or_type]);
        self.words.extend_from_slice(trailing);
        self.nr_types += 1;
        id
    }

    fn record(
        &mut self,
        name: &str,
        kind: Kind,
        kind_flag: bool,
        vlen: usize,
        size_or_type: u32,
        trailing: &[u32],
    ) -> TypeId {
        let vlen = u16::try_from(vlen).expect("BTF records hold at most 65535 entries");
        let name_off = self.add_string(name);
        self.add_raw(
            name_off,
            kind as u32,
            kind_flag,
            vlen,
            size_or_type,
            trailing,
        )
    }

    /// INT of `size` bytes, all bits used.
    pub fn add_int(&mut self, name: &str, size: u32, encoding: IntEncoding) -> TypeId {
        self.add_int_bits(name, size, encoding, 0, size * 8)
    }

    /// INT with an explicit bit offset and bit count.
    pub fn add_int_bits(
        &mut self,
        name: &str,
        size: u32,
        encoding: IntEncoding,
        offset: u32,
        bits: u32,
    ) -> TypeId {
        let v = (u32::from(encoding.0 & 0x0f) << 24) | ((offset & 0xff) << 16) | (bits & 0xff);
        self.record(name, Kind::Int, false, 0, size, &[v])
    }

    /// FLOAT.
    pub fn add_float(&mut self, name: &str, size: u32) -> TypeId {
        self.record(name, Kind::Float, false, 0, size, &[])
    }

    /// PTR to `ty`.
    pub fn add_ptr(&mut self, ty: TypeId) -> TypeId {
        self.record("", Kind::Ptr, false, 0, ty.0, &[])
    }

    /// CONST `ty`.
    pub fn add_const(&mut self, ty: TypeId) -> TypeId {
        self.record("", Kind::Const, false, 0, ty.0, &[])
    }

    /// VOLATILE `ty`.
    pub fn add_volatile(&mut self, ty: TypeId) -> TypeId {
        self.record("", Kind::Volatile, false, 0, ty.0, &[])
    }

    /// RESTRICT `ty`.
    pub fn add_restrict(&mut self, ty: TypeId) -> TypeId {
        self.record("", Kind::Restrict, false, 0, ty.0, &[])
    }

    /// TYPEDEF `name` for `ty`.
    pub fn add_typedef(&mut self, name: &str, ty: TypeId) -> TypeId {
        self.record(name, Kind::Typedef, false, 0, ty.0, &[])
    }

    /// TYPE_TAG `tag` on `ty` (`attr`: the kind_flag, an attribute tag).
    pub fn add_type_tag(&mut self, tag: &str, ty: TypeId, attr: bool) -> TypeId {
        self.record(tag, Kind::TypeTag, attr, 0, ty.0, &[])
    }

    /// DECL_TAG `tag` on `ty` (component -1: the declaration itself; else a
    /// member or parameter index; `attr`: the kind_flag).
    pub fn add_decl_tag(
        &mut self,
        tag: &str,
        ty: TypeId,
        component_idx: i32,
        attr: bool,
    ) -> TypeId {
        self.record(tag, Kind::DeclTag, attr, 0, ty.0, &[component_idx as u32])
    }

    /// ARRAY of `nelems` `elem`s indexed by `index` (an INT).
    pub fn add_array(&mut self, elem: TypeId, index: TypeId, nelems: u32) -> TypeId {
        self.record("", Kind::Array, false, 0, 0, &[elem.0, index.0, nelems])
    }

    /// STRUCT with members `(name, type, bit offset)`.
    pub fn add_struct(&mut self, name: &str, size: u32, members: &[(&str, TypeId, u32)]) -> TypeId {
        self.composite(
            Kind::Struct,
            name,
            size,
            false,
            members.iter().map(|&(n, t, o)| (n, t, o, 0)),
        )
    }

    /// UNION with members `(name, type, bit offset)`.
    pub fn add_union(&mut self, name: &str, size: u32, members: &[(&str, TypeId, u32)]) -> TypeId {
        self.composite(
            Kind::Union,
            name,
            size,
            false,
            members.iter().map(|&(n, t, o)| (n, t, o, 0)),
        )
    }

    /// STRUCT in the kind_flag encoding: members `(name, type, bit offset,
    /// bitfield size)` (size 0 for non-bitfields; offsets below 2^24).
    pub fn add_struct_bitfields(
        &mut self,
        name: &str,
        size: u32,
        members: &[(&str, TypeId, u32, u32)],
    ) -> TypeId {
        self.composite(Kind::Struct, name, size, true, members.iter().copied())
    }

    /// UNION in the kind_flag encoding (see [`BtfBuilder::add_struct_bitfields`]).
    pub fn add_union_bitfields(
        &mut self,
        name: &str,
        size: u32,
        members: &[(&str, TypeId, u32, u32)],
    ) -> TypeId {
        self.composite(Kind::Union, name, size, true, members.iter().copied())
    }

    fn composite<'n>(
        &mut self,
        kind: Kind,
        name: &str,
        size: u32,
        kind_flag: bool,
        members: impl ExactSizeIterator<Item = (&'n str, TypeId, u32, u32)>,
    ) -> TypeId {
        let n = members.len();
        let mut tail = Vec::with_capacity(n * 3);
        for (mname, ty, off, bits) in members {
            let off = if kind_flag {
                (bits << 24) | (off & 0x00ff_ffff)
            } else {
                off
            };
            tail.extend_from_slice(&[self.add_string(mname), ty.0, off]);
        }
        self.record(name, kind, kind_flag, n, size, &tail)
    }

    /// ENUM of `size` bytes with `(name, value)` pairs; values are stored as
    /// their low 32 bits (`signed` sets the kind_flag).
    pub fn add_enum(
        &mut self,
        name: &str,
        size: u32,
        signed: bool,
        values: &[(&str, i64)],
    ) -> TypeId {
        let mut tail = Vec::with_capacity(values.len() * 2);
        for &(vname, v) in values {
            tail.extend_from_slice(&[self.add_string(vname), v as u32]);
        }
        self.record(name, Kind::Enum, signed, values.len(), size, &tail)
    }

    /// ENUM64 of `size` bytes with `(name, value)` pairs (a signed value is
    /// passed as its two's complement bits).
    pub fn add_enum64(
        &mut self,
        name: &str,
        size: u32,
        signed: bool,
        values: &[(&str, u64)],
    ) -> TypeId {
        let mut tail = Vec::with_capacity(values.len() * 3);
        for &(vname, v) in values {
            tail.extend_from_slice(&[self.add_string(vname), v as u32, (v >> 32) as u32]);
        }
        self.record(name, Kind::Enum64, signed, values.len(), size, &tail)
    }

    /// FWD declaration of a struct (or union).
    pub fn add_fwd(&mut self, name: &str, is_union: bool) -> TypeId {
        self.record(name, Kind::Fwd, is_union, 0, 0, &[])
    }

    /// FUNC_PROTO returning `ret` with `(name, type)` parameters. A last
    /// parameter `("", TypeId::VOID)` makes it variadic.
    pub fn add_func_proto(&mut self, ret: TypeId, params: &[(&str, TypeId)]) -> TypeId {
        let mut tail = Vec::with_capacity(params.len() * 2);
        for &(pname, ty) in params {
            tail.extend_from_slice(&[self.add_string(pname), ty.0]);
        }
        self.record("", Kind::FuncProto, false, params.len(), ret.0, &tail)
    }

    /// FUNC `name` with prototype `proto`.
    pub fn add_func(&mut self, name: &str, proto: TypeId, linkage: FuncLinkage) -> TypeId {
        self.record(
            name,
            Kind::Func,
            false,
            usize::from(linkage.to_u16()),
            proto.0,
            &[],
        )
    }

    /// VAR `name` of type `ty`.
    pub fn add_var(&mut self, name: &str, ty: TypeId, linkage: VarLinkage) -> TypeId {
        self.record(name, Kind::Var, false, 0, ty.0, &[linkage.to_u32()])
    }

    /// DATASEC `name` of `size` bytes with `(var, offset, size)` entries.
    pub fn add_datasec(&mut self, name: &str, size: u32, vars: &[(TypeId, u32, u32)]) -> TypeId {
        let mut tail = Vec::with_capacity(vars.len() * 3);
        for &(ty, off, sz) in vars {
            tail.extend_from_slice(&[ty.0, off, sz]);
        }
        self.record(name, Kind::Datasec, false, vars.len(), size, &tail)
    }

    /// Copies type `id` of `src` (its view `t`), re-interning every name.
    /// Type ids inside the record are kept as they are, so copying all of a
    /// BTF's types in order reproduces it id for id.
    pub fn add_type_from(
        &mut self,
        src: &Btf<'_>,
        id: TypeId,
        t: &Type<'_>,
    ) -> Result<TypeId, Error> {
        let kind = t.kind();
        let name = |f: Field, off: u32| {
            src.string_at(off)
                .map_err(|e| src.name_error(id, kind, f, off, e))
        };
        let tname = name(Field::Name, t.name_off())?;
        let new = match *t {
            Type::Void => {
                return Err(Error::UnexpectedKind {
                    id,
                    kind,
                    expected: "a type record",
                });
            }
            Type::Int(i) => self.add_int_bits(tname, i.size, i.encoding, i.offset, i.bits),
            Type::Ptr(r)
            | Type::Typedef(r)
            | Type::Volatile(r)
            | Type::Const(r)
            | Type::Restrict(r)
            | Type::TypeTag(r) => self.record(tname, kind, r.kind_flag, 0, r.ty.0, &[]),
            Type::Array(a) => {
                self.record(tname, kind, false, 0, 0, &[a.elem.0, a.index.0, a.nelems])
            }
            Type::Struct(c) | Type::Union(c) => {
                let mut tail = Vec::with_capacity(c.len() * 3);
                for (i, m) in c.members().enumerate() {
                    let off = if c.kind_flag() {
                        (m.bitfield_size << 24) | m.bit_offset
                    } else {
                        m.bit_offset
                    };
                    let n = self.add_string(name(Field::Member(i as u32), m.name_off)?);
                    tail.extend_from_slice(&[n, m.ty.0, off]);
                }
                self.record(tname, kind, c.kind_flag(), c.len(), c.size(), &tail)
            }
            Type::Enum(e) | Type::Enum64(e) => {
                let mut tail = Vec::with_capacity(e.len() * 3);
                for (i, v) in e.values().enumerate() {
                    let n = self.add_string(name(Field::EnumValue(i as u32), v.name_off)?);
                    tail.extend_from_slice(&[n, v.raw as u32]);
                    if e.is_64() {
                        tail.push((v.raw >> 32) as u32);
                    }
                }
                self.record(tname, kind, e.is_signed(), e.len(), e.size(), &tail)
            }
            Type::Fwd(f) => self.record(tname, kind, f.is_union, 0, 0, &[]),
            Type::Func(f) => self.add_func(tname, f.proto, f.linkage),
            Type::FuncProto(p) => {
                let mut tail = Vec::with_capacity(p.len() * 2);
                for (i, prm) in p.params().enumerate() {
                    let n = self.add_string(name(Field::Param(i as u32), prm.name_off)?);
                    tail.extend_from_slice(&[n, prm.ty.0]);
                }
                self.record(tname, kind, false, p.len(), p.ret().0, &tail)
            }
            Type::Var(v) => self.add_var(tname, v.ty, v.linkage),
            Type::Datasec(d) => {
                let mut tail = Vec::with_capacity(d.len() * 3);
                for v in d.vars() {
                    tail.extend_from_slice(&[v.ty.0, v.offset, v.size]);
                }
                self.record(tname, kind, false, d.len(), d.size(), &tail)
            }
            Type::Float(f) => self.add_float(tname, f.size),
            Type::DeclTag(d) => self.add_decl_tag(tname, d.ty, d.component_idx, d.kind_flag),
        };
        Ok(new)
    }

    /// The BTF blob in the machine's byte order.
    pub fn build(&self) -> Vec<u8> {
        self.build_endian(Endian::NATIVE)
    }

    /// The BTF blob in byte order `e`.
    pub fn build_endian(&self, e: Endian) -> Vec<u8> {
        let type_len = self.words.len() * 4;
        let mut out = Vec::with_capacity(HEADER_LEN + type_len + self.strings.len());
        out.extend_from_slice(&e.u16_bytes(BTF_MAGIC));
        out.push(1); // version
        out.push(0); // flags
        for v in [
            HEADER_LEN as u32,
            0,
            type_len as u32,
            type_len as u32,
            self.strings.len() as u32,
        ] {
            out.extend_from_slice(&e.u32_bytes(v));
        }
        for &w in &self.words {
            out.extend_from_slice(&e.u32_bytes(w));
        }
        out.extend_from_slice(&self.strings);
        out
    }
}
