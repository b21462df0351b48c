//! Type ids, kinds and the typed views of type records.

use std::fmt;

/// A BTF type id. Id 0 is `void`; real types are numbered from 1 in the
/// order they appear (split BTF continues the numbering of its base).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TypeId(pub u32);

impl TypeId {
    /// The `void` type (id 0), also "no type".
    pub const VOID: TypeId = TypeId(0);

    /// Whether this is [`TypeId::VOID`].
    pub const fn is_void(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for TypeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl From<u32> for TypeId {
    fn from(v: u32) -> Self {
        TypeId(v)
    }
}

/// The kind of a BTF type record (`BTF_KIND_*`, bits 24..=28 of `info`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
#[non_exhaustive]
pub enum Kind {
    /// `BTF_KIND_UNKN`: only the implicit type 0, `void`. No record has it.
    Void = 0,
    /// `BTF_KIND_INT`: integer (with encoding, bit offset and bit count).
    Int = 1,
    /// `BTF_KIND_PTR`: pointer.
    Ptr = 2,
    /// `BTF_KIND_ARRAY`: array.
    Array = 3,
    /// `BTF_KIND_STRUCT`: struct.
    Struct = 4,
    /// `BTF_KIND_UNION`: union.
    Union = 5,
    /// `BTF_KIND_ENUM`: enum of up to 32-bit values.
    Enum = 6,
    /// `BTF_KIND_FWD`: forward declaration of a struct or union.
    Fwd = 7,
    /// `BTF_KIND_TYPEDEF`: typedef.
    Typedef = 8,
    /// `BTF_KIND_VOLATILE`: volatile modifier.
    Volatile = 9,
    /// `BTF_KIND_CONST`: const modifier.
    Const = 10,
    /// `BTF_KIND_RESTRICT`: restrict modifier.
    Restrict = 11,
    /// `BTF_KIND_FUNC`: function (name, linkage, prototype).
    Func = 12,
    /// `BTF_KIND_FUNC_PROTO`: function prototype.
    FuncProto = 13,
    /// `BTF_KIND_VAR`: variable.
    Var = 14,
    /// `BTF_KIND_DATASEC`: data section (variables with offsets).
    Datasec = 15,
    /// `BTF_KIND_FLOAT`: floating point type.
    Float = 16,
    /// `BTF_KIND_DECL_TAG`: tag on a declaration.
    DeclTag = 17,
    /// `BTF_KIND_TYPE_TAG`: tag on a type.
    TypeTag = 18,
    /// `BTF_KIND_ENUM64`: enum with 64-bit values.
    Enum64 = 19,
}

impl Kind {
    /// The largest kind number this crate knows.
    pub const MAX: u32 = 19;

    /// Decodes a kind number; `None` for unknown kinds.
    pub const fn from_u32(v: u32) -> Option<Kind> {
        Some(match v {
            0 => Kind::Void,
            1 => Kind::Int,
            2 => Kind::Ptr,
            3 => Kind::Array,
            4 => Kind::Struct,
            5 => Kind::Union,
            6 => Kind::Enum,
            7 => Kind::Fwd,
            8 => Kind::Typedef,
            9 => Kind::Volatile,
            10 => Kind::Const,
            11 => Kind::Restrict,
            12 => Kind::Func,
            13 => Kind::FuncProto,
            14 => Kind::Var,
            15 => Kind::Datasec,
            16 => Kind::Float,
            17 => Kind::DeclTag,
            18 => Kind::TypeTag,
            19 => Kind::Enum64,
            _ => return None,
        })
    }

    /// The lower-case name used in C-like output ("struct", "func_proto").
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Void => "void",
            Kind::Int => "int",
            Kind::Ptr => "ptr",
            Kind::Array => "array",
            Kind::Struct => "struct",
            Kind::Union => "union",
            Kind::Enum => "enum",
            Kind::Fwd => "fwd",
            Kind::Typedef => "typedef",
            Kind::Volatile => "volatile",
            Kind::Const => "const",
            Kind::Restrict => "restrict",
            Kind::Func => "func",
            Kind::FuncProto => "func_proto",
            Kind::Var => "var",
            Kind::Datasec => "datasec",
            Kind::Float => "float",
            Kind::DeclTag => "decl_tag",
            Kind::TypeTag => "type_tag",
            Kind::Enum64 => "enum64",
        }
    }

    /// The upper-case name bpftool prints ("STRUCT", "FUNC_PROTO").
    pub const fn upper_name(self) -> &'static str {
        match self {
            Kind::Void => "UNKN",
            Kind::Int => "INT",
            Kind::Ptr => "PTR",
            Kind::Array => "ARRAY",
            Kind::Struct => "STRUCT",
            Kind::Union => "UNION",
            Kind::Enum => "ENUM",
            Kind::Fwd => "FWD",
            Kind::Typedef => "TYPEDEF",
            Kind::Volatile => "VOLATILE",
            Kind::Const => "CONST",
            Kind::Restrict => "RESTRICT",
            Kind::Func => "FUNC",
            Kind::FuncProto => "FUNC_PROTO",
            Kind::Var => "VAR",
            Kind::Datasec => "DATASEC",
            Kind::Float => "FLOAT",
            Kind::DeclTag => "DECL_TAG",
            Kind::TypeTag => "TYPE_TAG",
            Kind::Enum64 => "ENUM64",
        }
    }

    /// Size in bytes of a record of this kind with `vlen` entries: the
    /// 12-byte common header plus the kind's trailing data.
    pub const fn record_size(self, vlen: usize) -> usize {
        12 + match self {
            Kind::Int | Kind::Var | Kind::DeclTag => 4,
            Kind::Array => 12,
            Kind::Struct | Kind::Union | Kind::Datasec | Kind::Enum64 => 12 * vlen,
            Kind::Enum | Kind::FuncProto => 8 * vlen,
            _ => 0,
        }
    }
}

impl fmt::Display for Kind {
    /// Writes the lower-case name ("struct", "enum64"); `{:#}` writes the
    /// upper-case one ("STRUCT").
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            f.write_str(self.upper_name())
        } else {
            f.write_str(self.name())
        }
    }
}

/// Byte order of a BTF blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endian {
    /// Least significant byte first (x86, arm64, bpfel).
    Little,
    /// Most significant byte first (s390x, bpfeb).
    Big,
}

impl Endian {
    /// The byte order of the machine running this code.
    #[cfg(target_endian = "little")]
    pub const NATIVE: Endian = Endian::Little;
    /// The byte order of the machine running this code.
    #[cfg(target_endian = "big")]
    pub const NATIVE: Endian = Endian::Big;

    /// Whether this is the machine's own byte order.
    pub fn is_native(self) -> bool {
        self == Endian::NATIVE
    }

    /// Decodes four bytes.
    #[inline(always)]
    pub fn u32(self, b: [u8; 4]) -> u32 {
        match self {
            Endian::Little => u32::from_le_bytes(b),
            Endian::Big => u32::from_be_bytes(b),
        }
    }

    /// Decodes two bytes.
    #[inline(always)]
    pub fn u16(self, b: [u8; 2]) -> u16 {
        match self {
            Endian::Little => u16::from_le_bytes(b),
            Endian::Big => u16::from_be_bytes(b),
        }
    }

    /// Encodes four bytes.
    #[inline(always)]
    pub fn u32_bytes(self, v: u32) -> [u8; 4] {
        match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }

    /// Encodes two bytes.
    #[inline(always)]
    pub fn u16_bytes(self, v: u16) -> [u8; 2] {
        match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }

    /// Reads the `i`-th 32-bit word of `b`, 0 if `b` is too short (callers
    /// only pass slices whose length was validated).
    #[inline(always)]
    pub(crate) fn word(self, b: &[u8], i: usize) -> u32 {
        match b.get(i * 4..i * 4 + 4) {
            Some(&[a, b0, c, d]) => self.u32([a, b0, c, d]),
            _ => 0,
        }
    }
}

/// The encoding bits of an INT (`BTF_INT_SIGNED`, `BTF_INT_CHAR`,
/// `BTF_INT_BOOL`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct IntEncoding(pub u8);

impl IntEncoding {
    /// Unsigned, not a char, not a bool.
    pub const NONE: IntEncoding = IntEncoding(0);
    /// Signed integer.
    pub const SIGNED: IntEncoding = IntEncoding(1);
    /// Character type (for pretty printing).
    pub const CHAR: IntEncoding = IntEncoding(2);
    /// Boolean.
    pub const BOOL: IntEncoding = IntEncoding(4);

    /// Whether the SIGNED bit is set.
    pub const fn is_signed(self) -> bool {
        self.0 & 1 != 0
    }
    /// Whether the CHAR bit is set.
    pub const fn is_char(self) -> bool {
        self.0 & 2 != 0
    }
    /// Whether the BOOL bit is set.
    pub const fn is_bool(self) -> bool {
        self.0 & 4 != 0
    }
}

impl std::ops::BitOr for IntEncoding {
    type Output = IntEncoding;
    fn bitor(self, rhs: IntEncoding) -> IntEncoding {
        IntEncoding(self.0 | rhs.0)
    }
}

/// Linkage of a FUNC (stored in its `vlen`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FuncLinkage {
    /// `BTF_FUNC_STATIC`.
    Static,
    /// `BTF_FUNC_GLOBAL`.
    Global,
    /// `BTF_FUNC_EXTERN`: declared, defined elsewhere (the kernel refuses it).
    Extern,
    /// A value newer than this crate.
    Other(u16),
}

impl FuncLinkage {
    /// Decodes the `vlen` field.
    pub const fn from_u16(v: u16) -> FuncLinkage {
        match v {
            0 => FuncLinkage::Static,
            1 => FuncLinkage::Global,
            2 => FuncLinkage::Extern,
            v => FuncLinkage::Other(v),
        }
    }
    /// The raw value.
    pub const fn to_u16(self) -> u16 {
        match self {
            FuncLinkage::Static => 0,
            FuncLinkage::Global => 1,
            FuncLinkage::Extern => 2,
            FuncLinkage::Other(v) => v,
        }
    }
}

/// Linkage of a VAR (its trailing `struct btf_var`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VarLinkage {
    /// `BTF_VAR_STATIC`.
    Static,
    /// `BTF_VAR_GLOBAL_ALLOCATED`.
    GlobalAllocated,
    /// `BTF_VAR_GLOBAL_EXTERN`: declared, defined elsewhere (the kernel refuses it).
    GlobalExtern,
    /// A value newer than this crate.
    Other(u32),
}

impl VarLinkage {
    /// Decodes the raw value.
    pub const fn from_u32(v: u32) -> VarLinkage {
        match v {
            0 => VarLinkage::Static,
            1 => VarLinkage::GlobalAllocated,
            2 => VarLinkage::GlobalExtern,
            v => VarLinkage::Other(v),
        }
    }
    /// The raw value.
    pub const fn to_u32(self) -> u32 {
        match self {
            VarLinkage::Static => 0,
            VarLinkage::GlobalAllocated => 1,
            VarLinkage::GlobalExtern => 2,
            VarLinkage::Other(v) => v,
        }
    }
}

/// A typed view of one type record. Borrowed from the [`crate::Btf`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Type<'a> {
    /// Type id 0.
    Void,
    /// INT.
    Int(Int),
    /// PTR.
    Ptr(Ref),
    /// ARRAY.
    Array(Array),
    /// STRUCT.
    Struct(Composite<'a>),
    /// UNION.
    Union(Composite<'a>),
    /// ENUM.
    Enum(Enum<'a>),
    /// FWD.
    Fwd(Fwd),
    /// TYPEDEF.
    Typedef(Ref),
    /// VOLATILE.
    Volatile(Ref),
    /// CONST.
    Const(Ref),
    /// RESTRICT.
    Restrict(Ref),
    /// FUNC.
    Func(Func),
    /// FUNC_PROTO.
    FuncProto(FuncProto<'a>),
    /// VAR.
    Var(Var),
    /// DATASEC.
    Datasec(Datasec<'a>),
    /// FLOAT.
    Float(Float),
    /// DECL_TAG.
    DeclTag(DeclTag),
    /// TYPE_TAG.
    TypeTag(Ref),
    /// ENUM64 (same view as ENUM; values are 64-bit).
    Enum64(Enum<'a>),
}

impl<'a> Type<'a> {
    /// The record's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Type::Void => Kind::Void,
            Type::Int(_) => Kind::Int,
            Type::Ptr(_) => Kind::Ptr,
            Type::Array(_) => Kind::Array,
            Type::Struct(_) => Kind::Struct,
            Type::Union(_) => Kind::Union,
            Type::Enum(_) => Kind::Enum,
            Type::Fwd(_) => Kind::Fwd,
            Type::Typedef(_) => Kind::Typedef,
            Type::Volatile(_) => Kind::Volatile,
            Type::Const(_) => Kind::Const,
            Type::Restrict(_) => Kind::Restrict,
            Type::Func(_) => Kind::Func,
            Type::FuncProto(_) => Kind::FuncProto,
            Type::Var(_) => Kind::Var,
            Type::Datasec(_) => Kind::Datasec,
            Type::Float(_) => Kind::Float,
            Type::DeclTag(_) => Kind::DeclTag,
            Type::TypeTag(_) => Kind::TypeTag,
            Type::Enum64(_) => Kind::Enum64,
        }
    }

    /// The string offset of the type's name (0 for anonymous types and void).
    pub fn name_off(&self) -> u32 {
        match self {
            Type::Void => 0,
            Type::Int(t) => t.name_off,
            Type::Ptr(t)
            | Type::Typedef(t)
            | Type::Volatile(t)
            | Type::Const(t)
            | Type::Restrict(t)
            | Type::TypeTag(t) => t.name_off,
            Type::Array(t) => t.name_off,
            Type::Struct(t) | Type::Union(t) => t.name_off,
            Type::Enum(t) | Type::Enum64(t) => t.name_off,
            Type::Fwd(t) => t.name_off,
            Type::Func(t) => t.name_off,
            Type::FuncProto(t) => t.name_off,
            Type::Var(t) => t.name_off,
            Type::Datasec(t) => t.name_off,
            Type::Float(t) => t.name_off,
            Type::DeclTag(t) => t.name_off,
        }
    }

    /// The single type this record refers to, for kinds that have one
    /// (PTR, TYPEDEF, the modifiers, TYPE_TAG, FUNC, VAR, DECL_TAG, and the
    /// return type of FUNC_PROTO; the element type of ARRAY).
    pub fn ref_type(&self) -> Option<TypeId> {
        match self {
            Type::Ptr(t)
            | Type::Typedef(t)
            | Type::Volatile(t)
            | Type::Const(t)
            | Type::Restrict(t)
            | Type::TypeTag(t) => Some(t.ty),
            Type::Func(f) => Some(f.proto),
            Type::Var(v) => Some(v.ty),
            Type::DeclTag(d) => Some(d.ty),
            Type::FuncProto(p) => Some(p.ret),
            Type::Array(a) => Some(a.elem),
            _ => None,
        }
    }

    /// The composite view if this is a STRUCT or UNION.
    pub fn as_composite(&self) -> Option<&Composite<'a>> {
        match self {
            Type::Struct(c) | Type::Union(c) => Some(c),
            _ => None,
        }
    }
}

/// INT: `size` bytes holding `bits` bits starting at bit `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Int {
    /// Name string offset.
    pub name_off: u32,
    /// Storage size in bytes.
    pub size: u32,
    /// Signedness, char, bool.
    pub encoding: IntEncoding,
    /// Bit offset of the value inside the storage (usually 0).
    pub offset: u32,
    /// Number of value bits (at most 128).
    pub bits: u32,
}

/// A record that names one other type: PTR, TYPEDEF, VOLATILE, CONST,
/// RESTRICT, TYPE_TAG.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ref {
    /// Name string offset (only TYPEDEF and TYPE_TAG have names).
    pub name_off: u32,
    /// The target type.
    pub ty: TypeId,
    /// The record's kind_flag (for TYPE_TAG: the tag is an attribute).
    pub kind_flag: bool,
}

/// ARRAY.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Array {
    /// Name string offset (always 0 in valid BTF).
    pub name_off: u32,
    /// Element type.
    pub elem: TypeId,
    /// Index type (an INT).
    pub index: TypeId,
    /// Number of elements.
    pub nelems: u32,
}

/// STRUCT or UNION.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Composite<'a> {
    pub(crate) name_off: u32,
    pub(crate) size: u32,
    pub(crate) kind_flag: bool,
    pub(crate) members: &'a [u8],
    pub(crate) endian: Endian,
}

impl<'a> Composite<'a> {
    /// Name string offset (0 if anonymous).
    pub fn name_off(&self) -> u32 {
        self.name_off
    }
    /// Size in bytes.
    pub fn size(&self) -> u32 {
        self.size
    }
    /// The kind_flag: member offsets carry bitfield sizes in their top 8 bits.
    pub fn kind_flag(&self) -> bool {
        self.kind_flag
    }
    /// Number of members.
    pub fn len(&self) -> usize {
        self.members.len() / 12
    }
    /// Whether there are no members.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
    /// Member `i`, if there is one.
    pub fn member(&self, i: usize) -> Option<Member> {
        let rec = self.members.get(i.checked_mul(12)?..i * 12 + 12)?;
        Some(self.decode(rec))
    }
    /// The members in order.
    pub fn members(&self) -> impl ExactSizeIterator<Item = Member> + 'a {
        let this = *self;
        self.members
            .chunks_exact(12)
            .map(move |rec| this.decode(rec))
    }

    fn decode(&self, rec: &[u8]) -> Member {
        let e = self.endian;
        let off = e.word(rec, 2);
        let (bit_offset, bitfield_size) = if self.kind_flag {
            (off & 0x00ff_ffff, off >> 24)
        } else {
            (off, 0)
        };
        Member {
            name_off: e.word(rec, 0),
            ty: TypeId(e.word(rec, 1)),
            bit_offset,
            bitfield_size,
        }
    }
}

/// A STRUCT or UNION member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member {
    /// Name string offset (0 for anonymous members).
    pub name_off: u32,
    /// Member type.
    pub ty: TypeId,
    /// Offset from the start of the struct, in bits.
    pub bit_offset: u32,
    /// Bitfield size in bits when the struct's kind_flag is set; 0 when the
    /// member is not a bitfield or the struct uses the old encoding (then the
    /// member type is an INT whose `bits`/`offset` describe the bitfield).
    pub bitfield_size: u32,
}

/// ENUM or ENUM64.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Enum<'a> {
    pub(crate) name_off: u32,
    pub(crate) size: u32,
    pub(crate) signed: bool,
    pub(crate) is64: bool,
    pub(crate) values: &'a [u8],
    pub(crate) endian: Endian,
}

impl<'a> Enum<'a> {
    /// Name string offset (0 if anonymous).
    pub fn name_off(&self) -> u32 {
        self.name_off
    }
    /// Size in bytes (1, 2, 4 or 8).
    pub fn size(&self) -> u32 {
        self.size
    }
    /// Whether the values are signed (the kind_flag).
    pub fn is_signed(&self) -> bool {
        self.signed
    }
    /// Whether this is an ENUM64.
    pub fn is_64(&self) -> bool {
        self.is64
    }
    fn rec_size(&self) -> usize {
        if self.is64 { 12 } else { 8 }
    }
    /// Number of values.
    pub fn len(&self) -> usize {
        self.values.len() / self.rec_size()
    }
    /// Whether there are no values (a forward-declared enum).
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
    /// Value `i`, if there is one.
    pub fn value(&self, i: usize) -> Option<EnumValue> {
        let rs = self.rec_size();
        let rec = self.values.get(i.checked_mul(rs)?..i * rs + rs)?;
        Some(self.decode(rec))
    }
    /// The values in order.
    pub fn values(&self) -> impl ExactSizeIterator<Item = EnumValue> + 'a {
        let this = *self;
        self.values
            .chunks_exact(self.rec_size())
            .map(move |rec| this.decode(rec))
    }

    fn decode(&self, rec: &[u8]) -> EnumValue {
        let e = self.endian;
        let lo = e.word(rec, 1);
        let raw = if self.is64 {
            u64::from(lo) | (u64::from(e.word(rec, 2)) << 32)
        } else if self.signed {
            lo as i32 as i64 as u64
        } else {
            u64::from(lo)
        };
        EnumValue {
            name_off: e.word(rec, 0),
            raw,
            signed: self.signed,
        }
    }
}

/// One enumerator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnumValue {
    /// Name string offset.
    pub name_off: u32,
    /// The value's 64 bits: a signed 32-bit value is sign-extended.
    pub raw: u64,
    /// Whether the enum is signed.
    pub signed: bool,
}

impl EnumValue {
    /// The value as signed.
    pub fn as_i64(&self) -> i64 {
        self.raw as i64
    }
    /// The value as unsigned.
    pub fn as_u64(&self) -> u64 {
        self.raw
    }
    /// The value, exactly, whatever the signedness.
    pub fn value(&self) -> i128 {
        if self.signed {
            i128::from(self.raw as i64)
        } else {
            i128::from(self.raw)
        }
    }
}

/// FWD: a forward declaration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fwd {
    /// Name string offset.
    pub name_off: u32,
    /// Declares a union (kind_flag set) rather than a struct.
    pub is_union: bool,
}

/// FUNC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Func {
    /// Name string offset.
    pub name_off: u32,
    /// The FUNC_PROTO.
    pub proto: TypeId,
    /// Linkage.
    pub linkage: FuncLinkage,
}

/// FUNC_PROTO.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FuncProto<'a> {
    pub(crate) name_off: u32,
    pub(crate) ret: TypeId,
    pub(crate) params: &'a [u8],
    pub(crate) endian: Endian,
}

impl<'a> FuncProto<'a> {
    /// Name string offset (always 0 in valid BTF).
    pub fn name_off(&self) -> u32 {
        self.name_off
    }
    /// Return type (VOID for `void`).
    pub fn ret(&self) -> TypeId {
        self.ret
    }
    /// Number of parameters, counting a trailing variadic marker.
    pub fn len(&self) -> usize {
        self.params.len() / 8
    }
    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }
    /// Parameter `i`, if there is one.
    pub fn param(&self, i: usize) -> Option<Param> {
        let rec = self.params.get(i.checked_mul(8)?..i * 8 + 8)?;
        Some(self.decode(rec))
    }
    /// The parameters in order (a variadic marker comes last, with type VOID).
    pub fn params(&self) -> impl ExactSizeIterator<Item = Param> + 'a {
        let this = *self;
        self.params.chunks_exact(8).map(move |rec| this.decode(rec))
    }
    /// Whether the last parameter is the `...` marker (no name, type VOID).
    pub fn is_variadic(&self) -> bool {
        match self.len().checked_sub(1).and_then(|i| self.param(i)) {
            Some(p) => p.name_off == 0 && p.ty.is_void(),
            None => false,
        }
    }
    fn decode(&self, rec: &[u8]) -> Param {
        Param {
            name_off: self.endian.word(rec, 0),
            ty: TypeId(self.endian.word(rec, 1)),
        }
    }
}

/// A FUNC_PROTO parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param {
    /// Name string offset (0 if unnamed).
    pub name_off: u32,
    /// Parameter type.
    pub ty: TypeId,
}

/// VAR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Var {
    /// Name string offset.
    pub name_off: u32,
    /// The variable's type.
    pub ty: TypeId,
    /// Linkage.
    pub linkage: VarLinkage,
}

/// DATASEC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Datasec<'a> {
    pub(crate) name_off: u32,
    pub(crate) size: u32,
    pub(crate) vars: &'a [u8],
    pub(crate) endian: Endian,
}

impl<'a> Datasec<'a> {
    /// Name string offset (the ELF section name).
    pub fn name_off(&self) -> u32 {
        self.name_off
    }
    /// Section size in bytes (0 in objects before fixup).
    pub fn size(&self) -> u32 {
        self.size
    }
    /// Number of variables.
    pub fn len(&self) -> usize {
        self.vars.len() / 12
    }
    /// Whether there are no variables.
    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }
    /// Variable `i`, if there is one.
    pub fn var(&self, i: usize) -> Option<VarSecinfo> {
        let rec = self.vars.get(i.checked_mul(12)?..i * 12 + 12)?;
        Some(self.decode(rec))
    }
    /// The variables in record order.
    pub fn vars(&self) -> impl ExactSizeIterator<Item = VarSecinfo> + 'a {
        let this = *self;
        self.vars.chunks_exact(12).map(move |rec| this.decode(rec))
    }
    fn decode(&self, rec: &[u8]) -> VarSecinfo {
        let e = self.endian;
        VarSecinfo {
            ty: TypeId(e.word(rec, 0)),
            offset: e.word(rec, 1),
            size: e.word(rec, 2),
        }
    }
}

/// A DATASEC entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VarSecinfo {
    /// The VAR (or, for extern functions in `.ksyms`, FUNC).
    pub ty: TypeId,
    /// Offset in the section (0 in objects before fixup).
    pub offset: u32,
    /// Size in bytes.
    pub size: u32,
}

/// FLOAT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Float {
    /// Name string offset.
    pub name_off: u32,
    /// Size in bytes (2, 4, 8, 12 or 16).
    pub size: u32,
}

/// DECL_TAG.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeclTag {
    /// The tag string's offset.
    pub name_off: u32,
    /// The tagged declaration (struct, union, func, var, typedef).
    pub ty: TypeId,
    /// -1 for the declaration itself, else the member or parameter index.
    pub component_idx: i32,
    /// The kind_flag: the tag is an `__attribute__` to reproduce verbatim.
    pub kind_flag: bool,
}

/// Decodes a record whose bounds were validated (`rec` holds the 12-byte
/// header and the trailing data its kind and vlen call for).
#[inline]
pub(crate) fn decode(rec: &[u8], e: Endian) -> Type<'_> {
    let name_off = e.word(rec, 0);
    let info = e.word(rec, 1);
    let sz = e.word(rec, 2);
    let vlen = (info & 0xffff) as usize;
    let kind_flag = info >> 31 != 0;
    let tail = rec.get(12..).unwrap_or(&[]);
    let r = Ref {
        name_off,
        ty: TypeId(sz),
        kind_flag,
    };
    match Kind::from_u32((info >> 24) & 0x1f) {
        Some(Kind::Int) => {
            let v = e.word(tail, 0);
            Type::Int(Int {
                name_off,
                size: sz,
                encoding: IntEncoding(((v >> 24) & 0x0f) as u8),
                offset: (v >> 16) & 0xff,
                bits: v & 0xff,
            })
        }
        Some(Kind::Ptr) => Type::Ptr(r),
        Some(Kind::Array) => Type::Array(Array {
            name_off,
            elem: TypeId(e.word(tail, 0)),
            index: TypeId(e.word(tail, 1)),
            nelems: e.word(tail, 2),
        }),
        Some(k @ (Kind::Struct | Kind::Union)) => {
            let c = Composite {
                name_off,
                size: sz,
                kind_flag,
                members: tail.get(..vlen * 12).unwrap_or(&[]),
                endian: e,
            };
            if k == Kind::Struct {
                Type::Struct(c)
            } else {
                Type::Union(c)
            }
        }
        Some(k @ (Kind::Enum | Kind::Enum64)) => {
            let is64 = k == Kind::Enum64;
            let rs = if is64 { 12 } else { 8 };
            let en = Enum {
                name_off,
                size: sz,
                signed: kind_flag,
                is64,
                values: tail.get(..vlen * rs).unwrap_or(&[]),
                endian: e,
            };
            if is64 {
                Type::Enum64(en)
            } else {
                Type::Enum(en)
            }
        }
        Some(Kind::Fwd) => Type::Fwd(Fwd {
            name_off,
            is_union: kind_flag,
        }),
        Some(Kind::Typedef) => Type::Typedef(r),
        Some(Kind::Volatile) => Type::Volatile(r),
        Some(Kind::Const) => Type::Const(r),
        Some(Kind::Restrict) => Type::Restrict(r),
        Some(Kind::Func) => Type::Func(Func {
            name_off,
            proto: TypeId(sz),
            linkage: FuncLinkage::from_u16(vlen as u16),
        }),
        Some(Kind::FuncProto) => Type::FuncProto(FuncProto {
            name_off,
            ret: TypeId(sz),
            params: tail.get(..vlen * 8).unwrap_or(&[]),
            endian: e,
        }),
        Some(Kind::Var) => Type::Var(Var {
            name_off,
            ty: TypeId(sz),
            linkage: VarLinkage::from_u32(e.word(tail, 0)),
        }),
        Some(Kind::Datasec) => Type::Datasec(Datasec {
            name_off,
            size: sz,
            vars: tail.get(..vlen * 12).unwrap_or(&[]),
            endian: e,
        }),
        Some(Kind::Float) => Type::Float(Float { name_off, size: sz }),
        Some(Kind::DeclTag) => Type::DeclTag(DeclTag {
            name_off,
            ty: TypeId(sz),
            component_idx: e.word(tail, 0) as i32,
            kind_flag,
        }),
        Some(Kind::TypeTag) => Type::TypeTag(r),
        // Kind 0 and unknown kinds are rejected when the index is built.
        Some(Kind::Void) | None => Type::Void,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_print() {
        for v in 0..=Kind::MAX {
            let k = Kind::from_u32(v).unwrap();
            assert_eq!(k as u32, v);
            assert_eq!(format!("{k:#}"), k.upper_name());
            assert_eq!(k.to_string(), k.name());
        }
        assert_eq!(Kind::from_u32(Kind::MAX + 1), None);
        assert_eq!(
            format!("{} {:#}", Kind::Enum64, Kind::FuncProto),
            "enum64 FUNC_PROTO"
        );
    }

    #[test]
    fn member_offsets_honor_kind_flag() {
        let mut rec = Vec::new();
        for w in [5u32, 1, (3 << 24) | 17] {
            rec.extend_from_slice(&w.to_le_bytes());
        }
        let c = |kind_flag| Composite {
            name_off: 0,
            size: 4,
            kind_flag,
            members: &rec,
            endian: Endian::Little,
        };
        let m = c(true).member(0).unwrap();
        assert_eq!((m.bit_offset, m.bitfield_size), (17, 3));
        let m = c(false).member(0).unwrap();
        assert_eq!((m.bit_offset, m.bitfield_size), ((3 << 24) | 17, 0));
        assert_eq!(c(true).member(1), None);
        assert_eq!(c(true).member(usize::MAX), None);
    }

    #[test]
    fn int_encoding_bits() {
        let e = IntEncoding::SIGNED | IntEncoding::CHAR;
        assert!(e.is_signed() && e.is_char() && !e.is_bool());
        assert!(IntEncoding::BOOL.is_bool());
    }

    #[test]
    fn linkage_values_round_trip() {
        for v in 0..5 {
            assert_eq!(FuncLinkage::from_u16(v).to_u16(), v);
            assert_eq!(VarLinkage::from_u32(u32::from(v)).to_u32(), u32::from(v));
        }
    }
}
