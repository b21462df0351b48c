//! The zero-copy BTF container: header, id → offset index, lookups.

use std::borrow::Cow;
use std::hash::BuildHasher;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use hashbrown::HashTable;

use crate::types::{Endian, Kind, Type, TypeId, decode};
use crate::{Error, Field};

/// Bytes in `struct btf_header` as of version 1.
pub(crate) const HEADER_LEN: usize = 24;
/// The BTF magic number.
pub const BTF_MAGIC: u16 = 0xeb9f;
/// Bound on reference chains followed by [`Btf::resolve_size`] and
/// [`Btf::skip_mods_and_typedefs`] (the kernel uses the same bound).
pub const MAX_RESOLVE_DEPTH: u32 = 32;
/// Bound on the number of types [`Btf::resolve_align`] visits.
pub const MAX_RESOLVE_STEPS: u32 = 1 << 16;

/// Where the bytes of a [`Btf`] live.
enum Storage<'a> {
    Borrowed(&'a [u8]),
    Owned(Vec<u8>),
    Shared(Arc<dyn AsRef<[u8]> + Send + Sync>),
}

impl Storage<'_> {
    #[inline(always)]
    fn bytes(&self) -> &[u8] {
        match self {
            Storage::Borrowed(b) => b,
            Storage::Owned(v) => v,
            Storage::Shared(s) => (**s).as_ref(),
        }
    }
}

/// The base of a split BTF.
enum Base<'a> {
    Borrowed(&'a Btf<'a>),
    Shared(Arc<Btf<'a>>),
}

impl<'a> Base<'a> {
    fn get(&self) -> &Btf<'a> {
        match self {
            Base::Borrowed(b) => b,
            Base::Shared(b) => b,
        }
    }
}

/// Parsed `struct btf_header`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Byte order of the blob (from the magic).
    pub endian: Endian,
    /// Format version (1).
    pub version: u8,
    /// Flags (none defined).
    pub flags: u8,
    /// Header length in bytes (24 for version 1; longer headers are accepted).
    pub hdr_len: u32,
    /// Type section offset, relative to the end of the header.
    pub type_off: u32,
    /// Type section length.
    pub type_len: u32,
    /// String section offset, relative to the end of the header.
    pub str_off: u32,
    /// String section length.
    pub str_len: u32,
}

impl Header {
    /// Reads and checks a header: magic in either byte order, version 1,
    /// header length, both sections inside `data`, type section 4-aligned.
    pub fn parse(data: &[u8]) -> Result<Header, Error> {
        let Some(h) = data.get(..HEADER_LEN) else {
            return Err(Error::Truncated {
                what: "BTF header",
                offset: 0,
                need: HEADER_LEN,
                have: data.len(),
            });
        };
        let magic_le = u16::from_le_bytes([h[0], h[1]]);
        let endian = if magic_le == BTF_MAGIC {
            Endian::Little
        } else if magic_le.swap_bytes() == BTF_MAGIC {
            Endian::Big
        } else {
            return Err(Error::BadMagic {
                what: "BTF",
                found: magic_le,
            });
        };
        if h[2] != 1 {
            return Err(Error::BadVersion {
                what: "BTF",
                found: h[2],
            });
        }
        let w = |i: usize| endian.word(h, i);
        let hdr = Header {
            endian,
            version: h[2],
            flags: h[3],
            hdr_len: w(1),
            type_off: w(2),
            type_len: w(3),
            str_off: w(4),
            str_len: w(5),
        };
        if (hdr.hdr_len as usize) < HEADER_LEN || hdr.hdr_len as usize > data.len() {
            return Err(Error::BadHeaderLen {
                what: "BTF",
                hdr_len: hdr.hdr_len,
                min: HEADER_LEN as u32,
                have: data.len(),
            });
        }
        hdr.section("type", hdr.type_off, hdr.type_len, data.len())?;
        hdr.section("string", hdr.str_off, hdr.str_len, data.len())?;
        if hdr.type_off % 4 != 0 {
            return Err(Error::Misaligned {
                section: "type",
                off: hdr.type_off,
                align: 4,
            });
        }
        Ok(hdr)
    }

    /// Absolute byte range of a section, checked against `have`.
    fn section(
        &self,
        name: &'static str,
        off: u32,
        len: u32,
        have: usize,
    ) -> Result<std::ops::Range<usize>, Error> {
        let start = u64::from(self.hdr_len) + u64::from(off);
        let end = start + u64::from(len);
        if end > have as u64 {
            return Err(Error::SectionOutOfBounds {
                section: name,
                off,
                len,
                hdr_len: self.hdr_len,
                have,
            });
        }
        Ok(start as usize..end as usize)
    }
}

/// BTF: a zero-copy view of a `.BTF` blob (an object's section, the
/// kernel's `/sys/kernel/btf/vmlinux`, or a split BTF on a base).
///
/// Parsing checks the header and the bounds of every type record once and
/// keeps one `u32` offset per type; the records themselves are decoded on
/// each access. Type references and string offsets inside records are checked
/// when used. A name index is built on the first lookup by name.
pub struct Btf<'a> {
    data: Storage<'a>,
    hdr: Header,
    /// Absolute range of the type section.
    types_start: usize,
    types_end: usize,
    /// Absolute range of the string section.
    strs_start: usize,
    strs_end: usize,
    /// Offset of each own type record, relative to `types_start`; own type
    /// `start_id + i` is at `offsets[i]`.
    offsets: Vec<u32>,
    /// First own type id (1, or the base's last id + 1).
    start_id: u32,
    /// First own string offset (0, or the base's string end).
    start_str: u32,
    base: Option<Base<'a>>,
    names: OnceLock<NameIndex>,
}

impl std::fmt::Debug for Btf<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Btf")
            .field("endian", &self.hdr.endian)
            .field("first_id", &self.start_id)
            .field("types_len", &self.types_len())
            .field("str_len", &self.hdr.str_len)
            .field("split", &self.base.is_some())
            .finish()
    }
}

impl<'a> Btf<'a> {
    /// Parses BTF borrowed from `data`.
    pub fn parse(data: &'a [u8]) -> Result<Btf<'a>, Error> {
        Btf::build(Storage::Borrowed(data), None)
    }

    /// Parses BTF that owns its bytes.
    pub fn from_vec(data: Vec<u8>) -> Result<Btf<'static>, Error> {
        Btf::build(Storage::Owned(data), None)
    }

    /// Parses BTF kept in any shared byte container — a `memmap2::Mmap`, an
    /// `Arc<[u8]>`, a `Vec<u8>`... The bytes are not copied.
    pub fn from_shared(data: Arc<dyn AsRef<[u8]> + Send + Sync>) -> Result<Btf<'static>, Error> {
        Btf::build(Storage::Shared(data), None)
    }

    /// Reads and parses a BTF file, e.g. `/sys/kernel/btf/vmlinux`.
    ///
    /// This crate forbids `unsafe`, and mapping a file is unsafe (another
    /// process may change it), so the file is read into memory. A caller that
    /// may map (the `syscalls` crate) can pass the map to [`Btf::from_shared`].
    pub fn from_file(path: &Path) -> Result<Btf<'static>, Error> {
        let data = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        Btf::from_vec(data)
    }

    /// Parses split BTF (a kernel module's) on `base`: its type ids continue
    /// after the base's last id and its string offsets after the base's
    /// string section. Lookups by id, name and string offset search both.
    pub fn parse_split(data: &'a [u8], base: &'a Btf<'a>) -> Result<Btf<'a>, Error> {
        Btf::build(Storage::Borrowed(data), Some(Base::Borrowed(base)))
    }

    /// Like [`Btf::parse_split`], owning both the bytes and (a share of) the base.
    pub fn from_vec_split(data: Vec<u8>, base: Arc<Btf<'static>>) -> Result<Btf<'static>, Error> {
        Btf::build(Storage::Owned(data), Some(Base::Shared(base)))
    }

    fn build(data: Storage<'a>, base: Option<Base<'a>>) -> Result<Btf<'a>, Error> {
        let bytes = data.bytes();
        let hdr = Header::parse(bytes)?;
        let t = hdr.section("type", hdr.type_off, hdr.type_len, bytes.len())?;
        let s = hdr.section("string", hdr.str_off, hdr.str_len, bytes.len())?;
        let strs = &bytes[s.clone()];
        let (start_id, start_str) = match &base {
            None => {
                if strs.first() != Some(&0) {
                    return Err(Error::BadStringSection {
                        reason: "does not start with an empty string",
                    });
                }
                (1, 0)
            }
            Some(b) => {
                let b = b.get();
                if b.hdr.endian != hdr.endian {
                    return Err(Error::BadStringSection {
                        reason: "split BTF and its base differ in byte order",
                    });
                }
                let end = b.start_str.checked_add(b.hdr.str_len);
                let next = b.types_len().checked_add(1);
                match (next, end) {
                    (Some(n), Some(e)) => (n, e),
                    _ => return Err(Error::TooManyTypes { max: u32::MAX }),
                }
            }
        };
        if !strs.is_empty() && strs.last() != Some(&0) {
            return Err(Error::BadStringSection {
                reason: "last string is not NUL-terminated",
            });
        }
        if start_str.checked_add(hdr.str_len).is_none() {
            return Err(Error::BadStringSection {
                reason: "string offsets overflow 32 bits",
            });
        }
        let types = &bytes[t.clone()];
        let offsets = match hdr.endian {
            Endian::Little => index::<false>(types, start_id)?,
            Endian::Big => index::<true>(types, start_id)?,
        };
        if u64::from(start_id) + offsets.len() as u64 > u64::from(u32::MAX) {
            return Err(Error::TooManyTypes { max: u32::MAX });
        }
        log::debug!(
            target: "oxbpf::btf",
            "parsed BTF: {} types (first id {}), {} string bytes, {:?}",
            offsets.len(),
            start_id,
            hdr.str_len,
            hdr.endian
        );
        Ok(Btf {
            data,
            hdr,
            types_start: t.start,
            types_end: t.end,
            strs_start: s.start,
            strs_end: s.end,
            offsets,
            start_id,
            start_str,
            base,
            names: OnceLock::new(),
        })
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.hdr
    }

    /// Byte order of the blob.
    pub fn endian(&self) -> Endian {
        self.hdr.endian
    }

    /// The raw blob (what `BTF_LOAD` takes, if it is in native byte order;
    /// see [`Btf::to_native_bytes`]).
    pub fn as_bytes(&self) -> &[u8] {
        self.data.bytes()
    }

    /// The blob in the machine's byte order: borrowed if it already is,
    /// else a converted copy. Type ids and string offsets are unchanged.
    pub fn to_native_bytes(&self) -> Cow<'_, [u8]> {
        if self.hdr.endian.is_native() {
            return Cow::Borrowed(self.as_bytes());
        }
        let mut out = self.as_bytes().to_vec();
        swap_blob(&mut out, self.types_start..self.types_end);
        Cow::Owned(out)
    }

    /// The base of a split BTF.
    pub fn base(&self) -> Option<&Btf<'a>> {
        self.base.as_ref().map(Base::get)
    }

    /// The highest valid type id (ids `1..=types_len()` are types, including
    /// a split BTF's base's; 0 is void).
    pub fn types_len(&self) -> u32 {
        self.start_id - 1 + self.offsets.len() as u32
    }

    /// The first type id of this blob's own types (1 unless split).
    pub fn first_id(&self) -> TypeId {
        TypeId(self.start_id)
    }

    /// The first string offset of this blob's own strings (0 unless split).
    pub fn first_str_off(&self) -> u32 {
        self.start_str
    }

    /// One past the highest valid string offset (including the base's).
    pub fn strings_end(&self) -> u32 {
        self.start_str + self.hdr.str_len
    }

    /// This blob's own type section.
    pub fn type_section(&self) -> &[u8] {
        &self.data.bytes()[self.types_start..self.types_end]
    }

    /// This blob's own string section.
    pub fn string_section(&self) -> &[u8] {
        &self.data.bytes()[self.strs_start..self.strs_end]
    }

    /// The raw record (header and trailing data) of one of this blob's own
    /// types, in the blob's byte order; `None` for ids outside this blob.
    pub fn raw_record(&self, id: TypeId) -> Option<&[u8]> {
        let i = id.0.checked_sub(self.start_id)? as usize;
        let start = *self.offsets.get(i)? as usize;
        let end = match self.offsets.get(i + 1) {
            Some(&o) => o as usize,
            None => self.types_end - self.types_start,
        };
        self.type_section().get(start..end)
    }

    /// The type with id `id`. Id 0 is [`Type::Void`].
    #[inline]
    pub fn type_by_id(&self, id: TypeId) -> Result<Type<'_>, Error> {
        if id.0 >= self.start_id {
            let i = (id.0 - self.start_id) as usize;
            let Some(&off) = self.offsets.get(i) else {
                return Err(Error::TypeIdOutOfRange {
                    id,
                    max: self.types_len(),
                });
            };
            let types = &self.data.bytes()[self.types_start..self.types_end];
            return Ok(decode(
                types.get(off as usize..).unwrap_or(&[]),
                self.hdr.endian,
            ));
        }
        if id.0 == 0 {
            return Ok(Type::Void);
        }
        match &self.base {
            Some(b) => b.get().type_by_id(id),
            None => Err(Error::TypeIdOutOfRange {
                id,
                max: self.types_len(),
            }),
        }
    }

    /// The kind of type `id` (cheaper than decoding the whole view).
    pub fn kind(&self, id: TypeId) -> Result<Kind, Error> {
        Ok(self.type_by_id(id)?.kind())
    }

    /// This blob's own types in id order (for split BTF, not the base's).
    pub fn types(&self) -> impl ExactSizeIterator<Item = (TypeId, Type<'_>)> + '_ {
        let types = self.type_section();
        let e = self.hdr.endian;
        let start = self.start_id;
        self.offsets.iter().enumerate().map(move |(i, &off)| {
            (
                TypeId(start + i as u32),
                decode(types.get(off as usize..).unwrap_or(&[]), e),
            )
        })
    }

    /// The string at offset `off` (in a split BTF, offsets below
    /// [`Btf::first_str_off`] are the base's).
    pub fn string_at(&self, off: u32) -> Result<&str, Error> {
        let b = self.string_bytes_at(off)?;
        std::str::from_utf8(b).map_err(|_| Error::StringNotUtf8 { off })
    }

    /// The bytes of the string at `off`, without the NUL.
    pub fn string_bytes_at(&self, off: u32) -> Result<&[u8], Error> {
        if off < self.start_str {
            return match &self.base {
                Some(b) => b.get().string_bytes_at(off),
                None => Err(Error::StringOutOfRange {
                    off,
                    end: self.strings_end(),
                }),
            };
        }
        let s = self.string_section();
        let rel = (off - self.start_str) as usize;
        match s.get(rel..) {
            // The section ends with a NUL (checked at parse), so one is found.
            Some(rest) if !rest.is_empty() => {
                let n = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
                Ok(&rest[..n])
            }
            _ => Err(Error::StringOutOfRange {
                off,
                end: self.strings_end(),
            }),
        }
    }

    /// The name of type `id` ("" for anonymous types and void).
    pub fn name(&self, id: TypeId) -> Result<&str, Error> {
        let t = self.type_by_id(id)?;
        self.string_at(t.name_off())
            .map_err(|e| self.name_error(id, t.kind(), Field::Name, t.name_off(), e))
    }

    /// Wraps a string error with the type and field it came from.
    pub(crate) fn name_error(
        &self,
        id: TypeId,
        kind: Kind,
        field: Field,
        off: u32,
        e: Error,
    ) -> Error {
        let reason = match e {
            Error::StringNotUtf8 { .. } => "not UTF-8",
            _ => "out of range",
        };
        Error::BadName {
            id,
            kind,
            field,
            off,
            reason,
        }
    }

    /// The first type (lowest id, base first) named `name` of kind `kind`.
    pub fn find_by_name_kind(&self, name: &str, kind: Kind) -> Result<Option<TypeId>, Error> {
        self.find_by_name_filtered(name, |k| k == kind)
    }

    /// The first type (lowest id, base first) named `name`, of any kind.
    pub fn find_by_name(&self, name: &str) -> Result<Option<TypeId>, Error> {
        self.find_by_name_filtered(name, |_| true)
    }

    /// All types named `name`, of any kind, in id order (base first).
    pub fn find_all_by_name(&self, name: &str) -> Vec<TypeId> {
        let mut out = Vec::new();
        self.collect_by_name(name.as_bytes(), &mut out);
        out
    }

    fn collect_by_name(&self, name: &[u8], out: &mut Vec<TypeId>) {
        if let Some(b) = &self.base {
            b.get().collect_by_name(name, out);
        }
        let first = out.len();
        let idx = self.name_index();
        let h = idx.hasher.hash_one(name);
        for &i in idx.table.iter_hash(h) {
            if self.own_name_eq(i, name) {
                out.push(TypeId(self.start_id + i));
            }
        }
        out[first..].sort_unstable();
    }

    fn find_by_name_filtered(
        &self,
        name: &str,
        want: impl Fn(Kind) -> bool + Copy,
    ) -> Result<Option<TypeId>, Error> {
        if name.is_empty() {
            return Ok(None);
        }
        if let Some(b) = &self.base
            && let Some(id) = b.get().find_by_name_filtered(name, want)?
        {
            return Ok(Some(id));
        }
        let name = name.as_bytes();
        let idx = self.name_index();
        let h = idx.hasher.hash_one(name);
        let mut best: Option<u32> = None;
        for &i in idx.table.iter_hash(h) {
            if best.is_some_and(|b| b < i) {
                continue;
            }
            let Some(kind) = self.own_kind(i) else {
                continue;
            };
            if want(kind) && self.own_name_eq(i, name) {
                best = Some(i);
            }
        }
        Ok(best.map(|i| TypeId(self.start_id + i)))
    }

    /// Kind of own type `start_id + i`.
    #[inline]
    fn own_kind(&self, i: u32) -> Option<Kind> {
        let off = *self.offsets.get(i as usize)? as usize;
        let b = self.type_section().get(off + 4..off + 8)?;
        let info = self.hdr.endian.u32([b[0], b[1], b[2], b[3]]);
        Kind::from_u32((info >> 24) & 0x1f)
    }

    /// Whether own type `start_id + i` is named `name`.
    #[inline]
    fn own_name_eq(&self, i: u32, name: &[u8]) -> bool {
        let Some(&off) = self.offsets.get(i as usize) else {
            return false;
        };
        let off = off as usize;
        let Some(b) = self.type_section().get(off..off + 4) else {
            return false;
        };
        let name_off = self.hdr.endian.u32([b[0], b[1], b[2], b[3]]);
        self.string_eq(name_off, name)
    }

    /// Whether the string at `off` equals `name`.
    fn string_eq(&self, off: u32, name: &[u8]) -> bool {
        if off < self.start_str {
            return match &self.base {
                Some(b) => b.get().string_eq(off, name),
                None => false,
            };
        }
        let s = self.string_section();
        let rel = (off - self.start_str) as usize;
        s.get(rel..rel + name.len()) == Some(name) && s.get(rel + name.len()) == Some(&0)
    }

    /// The lazily built name index of this blob's own types.
    fn name_index(&self) -> &NameIndex {
        self.names.get_or_init(|| self.build_name_index())
    }

    /// Builds the name index now (it is otherwise built on the first lookup).
    pub fn build_name_index(&self) -> NameIndex {
        let hasher = hashbrown::DefaultHashBuilder::default();
        let types = self.type_section();
        let strs = self.string_section();
        let e = self.hdr.endian;
        // Sized for the named types only (about 55% in vmlinux): half the
        // memory of sizing for all, for one cheap pass over the headers.
        let named = self
            .offsets
            .iter()
            .filter(|&&off| e.word(types.get(off as usize..).unwrap_or(&[]), 0) != 0)
            .count();
        let mut table = HashTable::with_capacity(named);
        for (i, &off) in self.offsets.iter().enumerate() {
            let name_off = e.word(types.get(off as usize..).unwrap_or(&[]), 0);
            if name_off == 0 {
                continue;
            }
            let name = if name_off < self.start_str {
                match self.base().and_then(|b| b.string_bytes_at(name_off).ok()) {
                    Some(n) => n,
                    None => continue,
                }
            } else {
                let rel = (name_off - self.start_str) as usize;
                match strs.get(rel..) {
                    Some(rest) => match rest.iter().position(|&c| c == 0) {
                        Some(n) => &rest[..n],
                        None => continue,
                    },
                    None => continue,
                }
            };
            if name.is_empty() {
                continue;
            }
            let h = hasher.hash_one(name);
            table.insert_unique(h, i as u32, |&j| {
                let o = self.offsets.get(j as usize).copied().unwrap_or(0) as usize;
                let no = e.word(types.get(o..).unwrap_or(&[]), 0);
                hasher.hash_one(self.string_bytes_at(no).unwrap_or(&[]))
            });
        }
        log::debug!(target: "oxbpf::btf", "built name index: {} named types", table.len());
        NameIndex { hasher, table }
    }

    /// Heap bytes held by this blob's indexes: the id → offset table and,
    /// once built, the name index (the BTF bytes themselves not counted).
    pub fn index_heap_bytes(&self) -> usize {
        self.offsets.capacity() * 4 + self.names.get().map_or(0, |n| n.table.allocation_size())
    }

    /// Whether the name index has been built.
    pub fn has_name_index(&self) -> bool {
        self.names.get().is_some()
    }

    /// Follows TYPEDEF, VOLATILE, CONST, RESTRICT and TYPE_TAG from `id` to
    /// the first other type. Chains deeper than [`MAX_RESOLVE_DEPTH`] are an
    /// error (they are cycles in practice).
    pub fn skip_mods_and_typedefs(&self, id: TypeId) -> Result<TypeId, Error> {
        let mut cur = id;
        for _ in 0..=MAX_RESOLVE_DEPTH {
            match self.type_by_id(cur)? {
                Type::Typedef(r)
                | Type::Volatile(r)
                | Type::Const(r)
                | Type::Restrict(r)
                | Type::TypeTag(r) => cur = self.check_ref(cur, r.ty, Field::Type)?,
                _ => return Ok(cur),
            }
        }
        Err(Error::TooDeep {
            id,
            depth: MAX_RESOLVE_DEPTH,
        })
    }

    /// Like [`Btf::skip_mods_and_typedefs`] but stops at typedefs.
    pub fn skip_mods(&self, id: TypeId) -> Result<TypeId, Error> {
        let mut cur = id;
        for _ in 0..=MAX_RESOLVE_DEPTH {
            match self.type_by_id(cur)? {
                Type::Volatile(r) | Type::Const(r) | Type::Restrict(r) | Type::TypeTag(r) => {
                    cur = self.check_ref(cur, r.ty, Field::Type)?
                }
                _ => return Ok(cur),
            }
        }
        Err(Error::TooDeep {
            id,
            depth: MAX_RESOLVE_DEPTH,
        })
    }

    /// Checks that `target`, referenced from `from`'s `field`, is a valid id.
    pub(crate) fn check_ref(
        &self,
        from: TypeId,
        target: TypeId,
        field: Field,
    ) -> Result<TypeId, Error> {
        if target.0 <= self.types_len() {
            Ok(target)
        } else {
            let kind = self.kind(from).unwrap_or(Kind::Void);
            Err(Error::BadTypeRef {
                from,
                kind,
                field,
                target,
                max: self.types_len(),
            })
        }
    }

    /// The size in bytes of an object of type `id`: modifiers and typedefs
    /// are followed, pointers are 8 bytes (BPF is 64-bit), arrays multiply.
    /// VAR resolves to its type. Void, FUNC, FUNC_PROTO and FWD have no size.
    pub fn resolve_size(&self, id: TypeId) -> Result<u32, Error> {
        let mut cur = id;
        let mut mult: u32 = 1;
        for _ in 0..=MAX_RESOLVE_DEPTH {
            let t = self.type_by_id(cur)?;
            let size = match t {
                Type::Int(i) => i.size,
                Type::Float(f) => f.size,
                Type::Struct(c) | Type::Union(c) => c.size(),
                Type::Enum(e) | Type::Enum64(e) => e.size(),
                Type::Datasec(d) => d.size(),
                Type::Ptr(_) => 8,
                Type::Typedef(r)
                | Type::Volatile(r)
                | Type::Const(r)
                | Type::Restrict(r)
                | Type::TypeTag(r) => {
                    cur = self.check_ref(cur, r.ty, Field::Type)?;
                    continue;
                }
                Type::Var(v) => {
                    cur = self.check_ref(cur, v.ty, Field::Type)?;
                    continue;
                }
                Type::Array(a) => {
                    mult = mult
                        .checked_mul(a.nelems)
                        .ok_or(Error::SizeOverflow { id })?;
                    cur = self.check_ref(cur, a.elem, Field::ArrayElem)?;
                    continue;
                }
                Type::Void
                | Type::Fwd(_)
                | Type::Func(_)
                | Type::FuncProto(_)
                | Type::DeclTag(_) => {
                    return Err(Error::UnexpectedKind {
                        id: cur,
                        kind: t.kind(),
                        expected: "a type with a size",
                    });
                }
            };
            return size.checked_mul(mult).ok_or(Error::SizeOverflow { id });
        }
        Err(Error::TooDeep {
            id,
            depth: MAX_RESOLVE_DEPTH,
        })
    }

    /// The alignment in bytes of type `id` as the C compiler would choose it
    /// for BPF (natural alignment; pointers 8; structs the largest member
    /// alignment, or 1 if the recorded layout shows the struct is packed).
    ///
    /// Nested types are unfolded; the walk gives up after visiting
    /// [`MAX_RESOLVE_STEPS`] types or nesting [`MAX_RESOLVE_DEPTH`] deep.
    pub fn resolve_align(&self, id: TypeId) -> Result<u32, Error> {
        let mut budget = MAX_RESOLVE_STEPS;
        self.align_depth(id, 0, &mut budget).map_err(|e| match e {
            Error::TooManySteps { steps, .. } => Error::TooManySteps { id, steps },
            e => e,
        })
    }

    fn align_depth(&self, id: TypeId, depth: u32, budget: &mut u32) -> Result<u32, Error> {
        if depth > MAX_RESOLVE_DEPTH {
            return Err(Error::TooDeep {
                id,
                depth: MAX_RESOLVE_DEPTH,
            });
        }
        if *budget == 0 {
            return Err(Error::TooManySteps {
                id,
                steps: MAX_RESOLVE_STEPS,
            });
        }
        *budget -= 1;
        let t = self.type_by_id(id)?;
        Ok(match t {
            Type::Int(i) => i.size.clamp(1, 8),
            Type::Float(f) => f.size.clamp(1, 8),
            Type::Enum(e) | Type::Enum64(e) => e.size().clamp(1, 8),
            Type::Ptr(_) => 8,
            Type::Typedef(r)
            | Type::Volatile(r)
            | Type::Const(r)
            | Type::Restrict(r)
            | Type::TypeTag(r) => {
                self.align_depth(self.check_ref(id, r.ty, Field::Type)?, depth + 1, budget)?
            }
            Type::Var(v) => {
                self.align_depth(self.check_ref(id, v.ty, Field::Type)?, depth + 1, budget)?
            }
            Type::Array(a) => self.align_depth(
                self.check_ref(id, a.elem, Field::ArrayElem)?,
                depth + 1,
                budget,
            )?,
            Type::Struct(c) | Type::Union(c) => {
                let mut max = 1;
                for (i, m) in c.members().enumerate() {
                    let ty = self.check_ref(id, m.ty, Field::Member(i as u32))?;
                    let a = self.align_depth(ty, depth + 1, budget)?;
                    // A member at an offset its natural alignment does not
                    // allow means the struct is packed.
                    if m.bitfield_size == 0 && m.bit_offset % (a * 8) != 0 {
                        return Ok(1);
                    }
                    max = max.max(a);
                }
                if c.size() % max != 0 {
                    return Ok(1);
                }
                max
            }
            Type::Datasec(_) => 1,
            Type::Void | Type::Fwd(_) | Type::Func(_) | Type::FuncProto(_) | Type::DeclTag(_) => {
                return Err(Error::UnexpectedKind {
                    id,
                    kind: t.kind(),
                    expected: "a type with an alignment",
                });
            }
        })
    }
}

/// Lookup table from names to own type indices (hash of the name bytes).
pub struct NameIndex {
    hasher: hashbrown::DefaultHashBuilder,
    table: HashTable<u32>,
}

impl std::fmt::Debug for NameIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NameIndex")
            .field("len", &self.table.len())
            .finish()
    }
}

/// The single validating pass: bounds of every record, kind known, one
/// offset per type. `BIG` is whether the blob is big-endian.
fn index<const BIG: bool>(types: &[u8], start_id: u32) -> Result<Vec<u32>, Error> {
    // Records are at least 12 bytes; they average 43.6 in this project's
    // 6.18 vmlinux (126 610 types in 5.5 MB). Reserving one offset per 40
    // bytes fits vmlinux without a reallocation and without holding much
    // more than it needs (the heap target is libbpf's own index); blobs of
    // smaller records grow the vector, and the slack is returned below.
    let mut offsets = Vec::with_capacity(types.len() / 40 + 16);
    let len = types.len();
    let mut off = 0usize;
    while off < len {
        let Some(h) = types.get(off..off + 12) else {
            return Err(Error::RecordTruncated {
                id: TypeId(start_id.wrapping_add(offsets.len() as u32)),
                kind: Kind::Void,
                offset: off,
                need: 12,
                have: len - off,
            });
        };
        let info = if BIG {
            u32::from_be_bytes([h[4], h[5], h[6], h[7]])
        } else {
            u32::from_le_bytes([h[4], h[5], h[6], h[7]])
        };
        let vlen = (info & 0xffff) as usize;
        let k = (info >> 24) & 0x1f;
        let trailing = match k {
            1 | 14 | 17 => 4,
            3 => 12,
            4 | 5 | 15 | 19 => 12 * vlen,
            6 | 13 => 8 * vlen,
            2 | 7..=12 | 16 | 18 => 0,
            _ => {
                return Err(Error::UnknownKind {
                    id: TypeId(start_id.wrapping_add(offsets.len() as u32)),
                    offset: off,
                    kind: k,
                });
            }
        };
        let need = 12 + trailing;
        if len - off < need {
            return Err(Error::RecordTruncated {
                id: TypeId(start_id.wrapping_add(offsets.len() as u32)),
                kind: Kind::from_u32(k).unwrap_or(Kind::Void),
                offset: off,
                need,
                have: len - off,
            });
        }
        offsets.push(off as u32);
        off += need;
    }
    offsets.shrink_to_fit();
    Ok(offsets)
}

/// Swaps the byte order of a whole blob in place: the header fields and
/// every 32-bit word of the type section (every record field is a 32-bit
/// word). Strings are bytes and stay.
pub(crate) fn swap_blob(out: &mut [u8], types: std::ops::Range<usize>) {
    out[0..2].reverse();
    for w in out[4..HEADER_LEN].chunks_exact_mut(4) {
        w.reverse();
    }
    if let Some(t) = out.get_mut(types) {
        for w in t.chunks_exact_mut(4) {
            w.reverse();
        }
    }
}
