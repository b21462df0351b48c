//! Sanitization: rewriting the kinds an older kernel does not know into
//! kinds it does, keeping every type id and string offset.
//!
//! The kernel checks a BTF blob as a whole: one record it does not know
//! (a kind number beyond its table, a kind_flag it does not expect, a
//! linkage value out of range) and `BTF_LOAD` fails. A program's BTF is
//! still worth loading on such a kernel (map key/value types, pretty
//! printing), so each unknown record is replaced by exactly one record the
//! kernel accepts. One record for one record keeps the ids stable, so map
//! definitions, `.BTF.ext` and CO-RE, which name types by id, need no change.
//! The string section is kept as it is (new records reuse its names), so
//! string offsets are stable too.
//!
//! What replaces what, and why (each choice keeps the size of every type
//! that has one, so structs that contain a rewritten type keep their layout
//! and the kernel's member bounds checks still pass):
//!
//! | missing feature (kernel) | record | becomes |
//! |---|---|---|
//! | FUNC/FUNC_PROTO (5.0) | FUNC_PROTO | anonymous ENUM of size 4 with no values: pointers to it stay pointers (8 bytes); an ENUM with vlen 0 is valid since BTF exists |
//! | | FUNC | TYPEDEF of the same name to the former prototype (a FUNC's name is a C identifier, which a TYPEDEF needs) |
//! | global func linkage (5.6) | FUNC global | FUNC static |
//! | VAR/DATASEC (5.2) | VAR | INT of the same name, 4 bytes (only DATASEC and DECL_TAG refer to a VAR; both are rewritten) |
//! | | DATASEC | anonymous STRUCT of the section's size whose members are the variables' *types* at their offsets (named after the variables when the names are identifiers): same size, same layout |
//! | FLOAT (5.13) | FLOAT | STRUCT with no members of the same size (sizes 12 and 16 are no valid INT before 128-bit INTs, and a float must not become an integer a bitfield could use); named like the float if the name is an identifier |
//! | DECL_TAG (5.16) | DECL_TAG | anonymous 4-byte INT: nothing refers to a tag |
//! | TYPE_TAG (5.17) | TYPE_TAG | CONST of the same type: the modifier chain (`ptr → tag → T`) keeps its shape and resolves to the same type |
//! | ENUM64 (6.0) | ENUM64 | INT of the same size and name (signed if the enum is and signedness is supported): valid as a member, a bitfield base and a map key or value, where a UNION would not be a valid bitfield base |
//! | enum signedness (6.0) | ENUM/ENUM64 with kind_flag | the same without kind_flag |
//!
//! A DECL_TAG whose target was rewritten into another kind is rewritten
//! too (a tag on a VAR that became an INT would be refused), so any subset
//! of features gives a loadable result, not only the subsets real kernels
//! have.
//!
//! The loader must also drop what refers to removed kinds outside BTF:
//! without FUNC support, programs are loaded without func_info and
//! line_info; without VAR/DATASEC, global-data maps are created without BTF
//! value types.

use crate::types::{FuncLinkage, IntEncoding, Kind, Type, TypeId};
use crate::{Btf, BtfBuilder, Error, Field};

/// The BTF kinds and flags a target kernel accepts. [`sanitize`] rewrites
/// what the set says is missing.
///
/// `Default` is [`BtfFeatures::all`]. Fill it from the kernel's feature
/// probes (live mode) or from a declared minimum kernel with
/// [`BtfFeatures::for_kernel`] (generated mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct BtfFeatures {
    /// `BTF_KIND_FUNC` and `BTF_KIND_FUNC_PROTO` (Linux 5.0).
    pub func: bool,
    /// `BTF_FUNC_GLOBAL` linkage of FUNC (Linux 5.6).
    pub func_global: bool,
    /// `BTF_KIND_VAR` and `BTF_KIND_DATASEC` (Linux 5.2).
    pub var_datasec: bool,
    /// `BTF_KIND_FLOAT` (Linux 5.13).
    pub float: bool,
    /// `BTF_KIND_DECL_TAG` (Linux 5.16).
    pub decl_tag: bool,
    /// `BTF_KIND_TYPE_TAG` (Linux 5.17).
    pub type_tag: bool,
    /// `BTF_KIND_ENUM64` (Linux 6.0).
    pub enum64: bool,
    /// Signed enums: the kind_flag of ENUM and ENUM64 (Linux 6.0).
    pub enum_signed: bool,
}

impl Default for BtfFeatures {
    fn default() -> Self {
        BtfFeatures::all()
    }
}

/// One feature of [`BtfFeatures`], for code that handles them in a loop
/// (probing, printing what was sanitized).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BtfFeature {
    /// [`BtfFeatures::func`].
    Func,
    /// [`BtfFeatures::func_global`].
    FuncGlobal,
    /// [`BtfFeatures::var_datasec`].
    VarDatasec,
    /// [`BtfFeatures::float`].
    Float,
    /// [`BtfFeatures::decl_tag`].
    DeclTag,
    /// [`BtfFeatures::type_tag`].
    TypeTag,
    /// [`BtfFeatures::enum64`].
    Enum64,
    /// [`BtfFeatures::enum_signed`].
    EnumSigned,
}

impl BtfFeature {
    /// Every feature, in the order the kernel gained them.
    pub const ALL: [BtfFeature; 8] = [
        BtfFeature::Func,
        BtfFeature::VarDatasec,
        BtfFeature::FuncGlobal,
        BtfFeature::Float,
        BtfFeature::DeclTag,
        BtfFeature::TypeTag,
        BtfFeature::Enum64,
        BtfFeature::EnumSigned,
    ];

    /// The first kernel version (major, minor) that accepts it.
    pub const fn min_kernel(self) -> (u32, u32) {
        match self {
            BtfFeature::Func => (5, 0),
            BtfFeature::VarDatasec => (5, 2),
            BtfFeature::FuncGlobal => (5, 6),
            BtfFeature::Float => (5, 13),
            BtfFeature::DeclTag => (5, 16),
            BtfFeature::TypeTag => (5, 17),
            BtfFeature::Enum64 | BtfFeature::EnumSigned => (6, 0),
        }
    }

    /// A short name ("func", "enum64"...).
    pub const fn name(self) -> &'static str {
        match self {
            BtfFeature::Func => "func",
            BtfFeature::FuncGlobal => "func_global",
            BtfFeature::VarDatasec => "var_datasec",
            BtfFeature::Float => "float",
            BtfFeature::DeclTag => "decl_tag",
            BtfFeature::TypeTag => "type_tag",
            BtfFeature::Enum64 => "enum64",
            BtfFeature::EnumSigned => "enum_signed",
        }
    }
}

impl std::fmt::Display for BtfFeature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl BtfFeatures {
    /// Every feature: nothing is rewritten.
    pub const fn all() -> BtfFeatures {
        BtfFeatures {
            func: true,
            func_global: true,
            var_datasec: true,
            float: true,
            decl_tag: true,
            type_tag: true,
            enum64: true,
            enum_signed: true,
        }
    }

    /// No feature beyond the first BTF (Linux 4.18): everything newer is
    /// rewritten.
    pub const fn none() -> BtfFeatures {
        BtfFeatures {
            func: false,
            func_global: false,
            var_datasec: false,
            float: false,
            decl_tag: false,
            type_tag: false,
            enum64: false,
            enum_signed: false,
        }
    }

    /// The features of kernel `major.minor` (each feature's
    /// [`BtfFeature::min_kernel`]).
    pub fn for_kernel(major: u32, minor: u32) -> BtfFeatures {
        BtfFeatures::from_fn(|f| (major, minor) >= f.min_kernel())
    }

    /// A set with each feature as `supported` says (e.g. from the kernel's
    /// probes).
    pub fn from_fn(mut supported: impl FnMut(BtfFeature) -> bool) -> BtfFeatures {
        let mut s = BtfFeatures::none();
        for f in BtfFeature::ALL {
            s.set(f, supported(f));
        }
        s
    }

    /// Whether `f` is in the set.
    pub const fn has(&self, f: BtfFeature) -> bool {
        match f {
            BtfFeature::Func => self.func,
            BtfFeature::FuncGlobal => self.func_global,
            BtfFeature::VarDatasec => self.var_datasec,
            BtfFeature::Float => self.float,
            BtfFeature::DeclTag => self.decl_tag,
            BtfFeature::TypeTag => self.type_tag,
            BtfFeature::Enum64 => self.enum64,
            BtfFeature::EnumSigned => self.enum_signed,
        }
    }

    /// Adds or removes `f`.
    pub fn set(&mut self, f: BtfFeature, on: bool) {
        let slot = match f {
            BtfFeature::Func => &mut self.func,
            BtfFeature::FuncGlobal => &mut self.func_global,
            BtfFeature::VarDatasec => &mut self.var_datasec,
            BtfFeature::Float => &mut self.float,
            BtfFeature::DeclTag => &mut self.decl_tag,
            BtfFeature::TypeTag => &mut self.type_tag,
            BtfFeature::Enum64 => &mut self.enum64,
            BtfFeature::EnumSigned => &mut self.enum_signed,
        };
        *slot = on;
    }

    /// The set without `f`.
    pub fn without(mut self, f: BtfFeature) -> BtfFeatures {
        self.set(f, false);
        self
    }

    /// The features not in the set.
    pub fn missing(&self) -> impl Iterator<Item = BtfFeature> + '_ {
        BtfFeature::ALL.into_iter().filter(|&f| !self.has(f))
    }
}

/// Which features of `features` the types of `btf` would need: the
/// features [`sanitize`] rewrites something for (empty: the blob loads as
/// it is).
pub fn needed_features(btf: &Btf<'_>, features: &BtfFeatures) -> Vec<BtfFeature> {
    let mut used = BtfFeatures::none();
    for (_, t) in btf.types() {
        if let Some(f) = feature_of(&t) {
            used.set(f, true);
        }
        if let Type::Enum(e) | Type::Enum64(e) = t
            && e.is_signed()
        {
            used.set(BtfFeature::EnumSigned, true);
        }
    }
    BtfFeature::ALL
        .into_iter()
        .filter(|&f| used.has(f) && !features.has(f))
        .collect()
}

/// The feature a record's kind (or linkage) needs, beyond enum signedness.
fn feature_of(t: &Type<'_>) -> Option<BtfFeature> {
    Some(match t {
        Type::Func(f) if f.linkage == FuncLinkage::Global => BtfFeature::FuncGlobal,
        Type::Func(_) | Type::FuncProto(_) => BtfFeature::Func,
        Type::Var(_) | Type::Datasec(_) => BtfFeature::VarDatasec,
        Type::Float(_) => BtfFeature::Float,
        Type::DeclTag(_) => BtfFeature::DeclTag,
        Type::TypeTag(_) => BtfFeature::TypeTag,
        Type::Enum64(_) => BtfFeature::Enum64,
        _ => return None,
    })
}

/// The kind a record becomes under `f` (before the DECL_TAG cascade).
fn new_kind(t: &Type<'_>, f: &BtfFeatures) -> Kind {
    match t {
        Type::FuncProto(_) if !f.func => Kind::Enum,
        Type::Func(_) if !f.func => Kind::Typedef,
        Type::Var(_) if !f.var_datasec => Kind::Int,
        Type::Datasec(_) if !f.var_datasec => Kind::Struct,
        Type::Float(_) if !f.float => Kind::Struct,
        Type::DeclTag(_) if !f.decl_tag => Kind::Int,
        Type::TypeTag(_) if !f.type_tag => Kind::Const,
        Type::Enum64(e) if !f.enum64 => {
            if int_size_ok(e.size()) {
                Kind::Int
            } else {
                Kind::Struct
            }
        }
        other => other.kind(),
    }
}

fn int_size_ok(size: u32) -> bool {
    matches!(size, 1 | 2 | 4 | 8)
}

/// Whether `s` is a C identifier (what the kernel wants for the names of
/// structs, members and typedefs).
fn is_identifier(s: &[u8]) -> bool {
    match s.split_first() {
        Some((&c, rest)) => {
            (c.is_ascii_alphabetic() || c == b'_')
                && rest.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_')
        }
        None => false,
    }
}

/// Returns a copy of `btf` in native byte order in which every kind, flag
/// and linkage that `features` lacks is rewritten into one the kernel
/// accepts (see the module documentation for what becomes what).
///
/// Type ids and string offsets do not change, and the result has the same
/// number of types. For split BTF only the blob's own types are rewritten
/// (the base is the kernel's). Run it after [`crate::fixup_datasecs`]: a
/// DATASEC becomes a STRUCT of its size, so the size must be known.
pub fn sanitize(btf: &Btf<'_>, features: &BtfFeatures) -> Result<Vec<u8>, Error> {
    let mut b = BtfBuilder::with_strings_from(btf);
    let e = btf.endian();
    let mut words: Vec<u32> = Vec::new();
    let mut rewritten = 0u32;
    for (id, t) in btf.types() {
        let raw = btf.raw_record(id).unwrap_or(&[]);
        words.clear();
        words.extend(raw.chunks_exact(4).map(|c| e.u32([c[0], c[1], c[2], c[3]])));
        if rewrite(btf, id, &t, features, &mut b)? {
            rewritten += 1;
            continue;
        }
        let (name_off, info, size_or_type) = match words.get(..3) {
            Some(&[a, b, c]) => (a, b, c),
            _ => {
                return Err(Error::UnexpectedKind {
                    id,
                    kind: t.kind(),
                    expected: "a complete type record",
                });
            }
        };
        b.add_raw(
            name_off,
            (info >> 24) & 0x1f,
            info >> 31 != 0,
            (info & 0xffff) as u16,
            size_or_type,
            &words[3..],
        );
    }
    if rewritten > 0 {
        log::debug!(
            target: "oxbpf::btf",
            "sanitized BTF: {rewritten} of {} records rewritten (missing: {:?})",
            btf.types().len(),
            features.missing().collect::<Vec<_>>()
        );
    }
    Ok(b.build())
}

/// Adds the replacement of type `id` to `b` and returns true, or returns
/// false if the record is kept as it is.
fn rewrite(
    btf: &Btf<'_>,
    id: TypeId,
    t: &Type<'_>,
    f: &BtfFeatures,
    b: &mut BtfBuilder,
) -> Result<bool, Error> {
    let name_if_identifier = |off: u32| -> u32 {
        match btf.string_bytes_at(off) {
            Ok(s) if is_identifier(s) => off,
            _ => 0,
        }
    };
    const INT: u32 = Kind::Int as u32;
    const STRUCT: u32 = Kind::Struct as u32;
    let int32 = 32u32; // encoding 0, offset 0, 32 bits
    match *t {
        Type::FuncProto(_) if !f.func => {
            b.add_raw(0, Kind::Enum as u32, false, 0, 4, &[]);
        }
        Type::Func(func) if !f.func => {
            b.add_raw(
                func.name_off,
                Kind::Typedef as u32,
                false,
                0,
                func.proto.0,
                &[],
            );
        }
        Type::Func(func) if func.linkage == FuncLinkage::Global && !f.func_global => {
            let static_ = FuncLinkage::Static.to_u16();
            b.add_raw(
                func.name_off,
                Kind::Func as u32,
                false,
                static_,
                func.proto.0,
                &[],
            );
        }
        Type::Var(v) if !f.var_datasec => {
            b.add_raw(v.name_off, INT, false, 0, 4, &[int32]);
        }
        Type::Datasec(d) if !f.var_datasec => {
            let mut members: Vec<[u32; 3]> = Vec::with_capacity(d.len());
            let mut end = u64::from(d.size());
            for (i, v) in d.vars().enumerate() {
                let ty = btf.check_ref(id, v.ty, Field::SecVar(i as u32))?;
                let Type::Var(var) = btf.type_by_id(ty)? else {
                    continue;
                };
                let vty = btf.check_ref(ty, var.ty, Field::Type)?;
                end = end.max(u64::from(v.offset) + u64::from(v.size));
                let bits = u64::from(v.offset) * 8;
                let Ok(bits) = u32::try_from(bits) else {
                    return Err(Error::SizeOverflow { id });
                };
                members.push([name_if_identifier(var.name_off), vty.0, bits]);
            }
            members.sort_by_key(|m| m[2]);
            let size = u32::try_from(end).map_err(|_| Error::SizeOverflow { id })?;
            let tail: Vec<u32> = members.iter().flatten().copied().collect();
            b.add_raw(0, STRUCT, false, members.len() as u16, size, &tail);
        }
        Type::Float(fl) if !f.float => {
            b.add_raw(
                name_if_identifier(fl.name_off),
                STRUCT,
                false,
                0,
                fl.size,
                &[],
            );
        }
        Type::DeclTag(_) if !f.decl_tag => {
            b.add_raw(0, INT, false, 0, 4, &[int32]);
        }
        Type::DeclTag(d) => {
            // A tag on a type that is rewritten into another kind would be
            // refused: it goes too.
            let target = btf.check_ref(id, d.ty, Field::Type)?;
            let changed = target.0 >= btf.first_id().0 && {
                let tt = btf.type_by_id(target)?;
                new_kind(&tt, f) != tt.kind()
            };
            if !changed {
                return Ok(false);
            }
            b.add_raw(0, INT, false, 0, 4, &[int32]);
        }
        Type::TypeTag(r) if !f.type_tag => {
            b.add_raw(0, Kind::Const as u32, false, 0, r.ty.0, &[]);
        }
        Type::Enum64(en) if !f.enum64 => {
            if int_size_ok(en.size()) {
                let enc = if en.is_signed() && f.enum_signed {
                    IntEncoding::SIGNED.0
                } else {
                    0
                };
                let data = (u32::from(enc) << 24) | (en.size() * 8);
                b.add_raw(
                    name_if_identifier(en.name_off()),
                    INT,
                    false,
                    0,
                    en.size(),
                    &[data],
                );
            } else {
                b.add_raw(
                    name_if_identifier(en.name_off()),
                    STRUCT,
                    false,
                    0,
                    en.size(),
                    &[],
                );
            }
        }
        Type::Enum(en) | Type::Enum64(en) if en.is_signed() && !f.enum_signed => {
            let kind = if en.is_64() { Kind::Enum64 } else { Kind::Enum };
            let mut tail = Vec::with_capacity(en.len() * 3);
            for v in en.values() {
                tail.extend_from_slice(&[v.name_off, v.raw as u32]);
                if en.is_64() {
                    tail.push((v.raw >> 32) as u32);
                }
            }
            b.add_raw(
                en.name_off(),
                kind as u32,
                false,
                en.len() as u16,
                en.size(),
                &tail,
            );
        }
        _ => return Ok(false),
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::VarLinkage;

    #[test]
    fn identifiers() {
        assert!(is_identifier(b"_a1"));
        assert!(is_identifier(b"double"));
        assert!(!is_identifier(b"long double"));
        assert!(!is_identifier(b".bss"));
        assert!(!is_identifier(b"1a"));
        assert!(!is_identifier(b""));
    }

    #[test]
    fn features_by_kernel_version() {
        assert_eq!(BtfFeatures::for_kernel(6, 18), BtfFeatures::all());
        assert_eq!(BtfFeatures::for_kernel(4, 18), BtfFeatures::none());
        let k = BtfFeatures::for_kernel(5, 10);
        assert!(k.func && k.var_datasec && k.func_global);
        assert!(!k.float && !k.decl_tag && !k.type_tag && !k.enum64);
        assert_eq!(
            BtfFeatures::for_kernel(5, 16).missing().collect::<Vec<_>>(),
            [
                BtfFeature::TypeTag,
                BtfFeature::Enum64,
                BtfFeature::EnumSigned
            ]
        );
        for f in BtfFeature::ALL {
            assert!(!BtfFeatures::all().without(f).has(f));
            assert_eq!(BtfFeatures::all().without(f).missing().count(), 1);
        }
    }

    #[test]
    fn ids_and_names_are_kept() {
        let mut b = BtfBuilder::new();
        let int = b.add_int("int", 4, IntEncoding::SIGNED);
        let proto = b.add_func_proto(int, &[("x", int)]);
        let func = b.add_func("f", proto, FuncLinkage::Global);
        let v = b.add_var("counter", int, VarLinkage::GlobalAllocated);
        let ds = b.add_datasec(".bss", 8, &[(v, 4, 4)]);
        let tag = b.add_decl_tag("t", v, -1, false);
        let bytes = b.build();
        let btf = Btf::parse(&bytes).unwrap();
        let out = sanitize(&btf, &BtfFeatures::none()).unwrap();
        let s = Btf::parse(&out).unwrap();
        assert_eq!(s.types_len(), btf.types_len());
        assert_eq!(s.kind(proto).unwrap(), Kind::Enum);
        assert_eq!(s.kind(func).unwrap(), Kind::Typedef);
        assert_eq!(s.name(func).unwrap(), "f");
        assert_eq!(s.kind(v).unwrap(), Kind::Int);
        assert_eq!(s.kind(tag).unwrap(), Kind::Int);
        let Type::Struct(c) = s.type_by_id(ds).unwrap() else {
            panic!("DATASEC not a struct")
        };
        assert_eq!(c.size(), 8);
        let m = c.member(0).unwrap();
        assert_eq!((m.ty, m.bit_offset), (int, 32));
        assert_eq!(s.string_at(m.name_off).unwrap(), "counter");
        // Every string offset is the same: the string section is copied.
        assert_eq!(s.string_section(), btf.string_section());
        assert!(needed_features(&s, &BtfFeatures::none()).is_empty());
        assert_eq!(
            needed_features(&btf, &BtfFeatures::none()),
            [
                BtfFeature::Func,
                BtfFeature::VarDatasec,
                BtfFeature::FuncGlobal,
                BtfFeature::DeclTag
            ]
        );
        // With every feature the blob is unchanged.
        assert_eq!(sanitize(&btf, &BtfFeatures::all()).unwrap(), bytes);
    }

    #[test]
    fn decl_tag_follows_a_rewritten_target() {
        let mut b = BtfBuilder::new();
        let int = b.add_int("int", 4, IntEncoding::SIGNED);
        let v = b.add_var("x", int, VarLinkage::Static);
        let tag = b.add_decl_tag("t", v, -1, false);
        let s = b.add_struct("s", 4, &[("a", int, 0)]);
        let tag2 = b.add_decl_tag("t2", s, 0, false);
        let bytes = b.build();
        let btf = Btf::parse(&bytes).unwrap();
        let f = BtfFeatures::all().without(BtfFeature::VarDatasec);
        let out = Btf::from_vec(sanitize(&btf, &f).unwrap()).unwrap();
        assert_eq!(out.kind(tag).unwrap(), Kind::Int);
        assert_eq!(out.kind(tag2).unwrap(), Kind::DeclTag);
    }
}
