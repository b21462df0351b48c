//! `.BTF.ext`: func_info, line_info and CO-RE relocation records.
//!
//! Layout (all offsets relative to the end of the header):
//!
//! ```text
//! header: magic u16, version u8, flags u8, hdr_len u32,
//!         func_info_off, func_info_len, line_info_off, line_info_len u32,
//!         [core_relo_off, core_relo_len u32]            (if hdr_len >= 32)
//! each sub-section: rec_size u32, then per ELF section:
//!         sec_name_off u32 (a BTF string), num_info u32, num_info records
//! ```
//!
//! Records larger than the sizes known here (newer compilers) are read
//! forward-compatibly: the known prefix is decoded, the rest skipped.

use std::marker::PhantomData;

use crate::btf::BTF_MAGIC;
use crate::types::{Endian, TypeId};
use crate::{Btf, Error, ExtSectionKind};

/// Header length without the CO-RE relocation fields.
const EXT_HDR_MIN: usize = 24;
/// Header length with them.
const EXT_HDR_CORE: usize = 32;

/// Parsed `.BTF.ext` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtHeader {
    /// Byte order (from the magic).
    pub endian: Endian,
    /// Format version (1).
    pub version: u8,
    /// Flags (none defined).
    pub flags: u8,
    /// Header length (24, or 32 with core_relo, or more).
    pub hdr_len: u32,
    /// func_info offset and length.
    pub func_info: (u32, u32),
    /// line_info offset and length.
    pub line_info: (u32, u32),
    /// core_relo offset and length ((0, 0) if the header has none).
    pub core_relo: (u32, u32),
}

/// A record type of a `.BTF.ext` sub-section. Implemented by [`FuncInfo`],
/// [`LineInfo`] and [`CoreRelo`].
pub trait ExtRecord: Sized + Copy {
    /// The sub-section it lives in.
    const SECTION: ExtSectionKind;
    /// Size of the record as this crate knows it (records may be larger).
    const MIN_SIZE: u32;
    /// Decodes the known prefix of a record (`b` is at least `MIN_SIZE`).
    fn decode(b: &[u8], e: Endian) -> Self;
}

/// `struct bpf_func_info` as in an object: where a function starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FuncInfo {
    /// Byte offset of the function's first instruction in its ELF section
    /// (the kernel wants an instruction index: divide by 8).
    pub insn_off: u32,
    /// The FUNC type.
    pub type_id: TypeId,
}

impl ExtRecord for FuncInfo {
    const SECTION: ExtSectionKind = ExtSectionKind::FuncInfo;
    const MIN_SIZE: u32 = 8;
    fn decode(b: &[u8], e: Endian) -> Self {
        FuncInfo {
            insn_off: e.word(b, 0),
            type_id: TypeId(e.word(b, 1)),
        }
    }
}

/// `struct bpf_line_info`: the source position of an instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineInfo {
    /// Byte offset of the instruction in its ELF section.
    pub insn_off: u32,
    /// BTF string offset of the source file name.
    pub file_name_off: u32,
    /// BTF string offset of the source line's text.
    pub line_off: u32,
    /// Line number (high 22 bits) and column (low 10 bits).
    pub line_col: u32,
}

impl LineInfo {
    /// The line number (1-based).
    pub fn line(&self) -> u32 {
        self.line_col >> 10
    }
    /// The column (1-based; 0 if unknown).
    pub fn column(&self) -> u32 {
        self.line_col & 0x3ff
    }
}

impl ExtRecord for LineInfo {
    const SECTION: ExtSectionKind = ExtSectionKind::LineInfo;
    const MIN_SIZE: u32 = 16;
    fn decode(b: &[u8], e: Endian) -> Self {
        LineInfo {
            insn_off: e.word(b, 0),
            file_name_off: e.word(b, 1),
            line_off: e.word(b, 2),
            line_col: e.word(b, 3),
        }
    }
}

/// The kind of a CO-RE relocation (`enum bpf_core_relo_kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CoreReloKind {
    /// Field byte offset.
    FieldByteOffset,
    /// Field size in bytes.
    FieldByteSize,
    /// Whether the field exists.
    FieldExists,
    /// Whether the field is signed.
    FieldSigned,
    /// Bitfield left shift for extraction.
    FieldLshiftU64,
    /// Bitfield right shift for extraction.
    FieldRshiftU64,
    /// Local type id.
    TypeIdLocal,
    /// Target type id.
    TypeIdTarget,
    /// Whether the type exists.
    TypeExists,
    /// Type size in bytes.
    TypeSize,
    /// Whether the enum value exists.
    EnumvalExists,
    /// Enum value's integer value.
    EnumvalValue,
    /// Whether the type matches (stricter than exists).
    TypeMatches,
    /// A kind newer than this crate.
    Other(u32),
}

impl CoreReloKind {
    /// Decodes the raw value.
    pub const fn from_u32(v: u32) -> CoreReloKind {
        use CoreReloKind::*;
        match v {
            0 => FieldByteOffset,
            1 => FieldByteSize,
            2 => FieldExists,
            3 => FieldSigned,
            4 => FieldLshiftU64,
            5 => FieldRshiftU64,
            6 => TypeIdLocal,
            7 => TypeIdTarget,
            8 => TypeExists,
            9 => TypeSize,
            10 => EnumvalExists,
            11 => EnumvalValue,
            12 => TypeMatches,
            v => Other(v),
        }
    }

    /// The raw value.
    pub const fn to_u32(self) -> u32 {
        use CoreReloKind::*;
        match self {
            FieldByteOffset => 0,
            FieldByteSize => 1,
            FieldExists => 2,
            FieldSigned => 3,
            FieldLshiftU64 => 4,
            FieldRshiftU64 => 5,
            TypeIdLocal => 6,
            TypeIdTarget => 7,
            TypeExists => 8,
            TypeSize => 9,
            EnumvalExists => 10,
            EnumvalValue => 11,
            TypeMatches => 12,
            Other(v) => v,
        }
    }
}

/// `struct bpf_core_relo`: one CO-RE relocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoreRelo {
    /// Byte offset of the instruction to patch in its ELF section.
    pub insn_off: u32,
    /// The local (object BTF) root type.
    pub type_id: TypeId,
    /// BTF string offset of the access string ("0:1:2").
    pub access_str_off: u32,
    /// What to compute.
    pub kind: CoreReloKind,
}

impl ExtRecord for CoreRelo {
    const SECTION: ExtSectionKind = ExtSectionKind::CoreRelo;
    const MIN_SIZE: u32 = 16;
    fn decode(b: &[u8], e: Endian) -> Self {
        CoreRelo {
            insn_off: e.word(b, 0),
            type_id: TypeId(e.word(b, 1)),
            access_str_off: e.word(b, 2),
            kind: CoreReloKind::from_u32(e.word(b, 3)),
        }
    }
}

/// One ELF section's records in a sub-section (parsed, bounds checked).
#[derive(Clone, Copy, Debug)]
struct SecEntry<'a> {
    name: &'a str,
    name_off: u32,
    records: &'a [u8],
}

/// A parsed sub-section.
#[derive(Clone, Debug, Default)]
struct SubSection<'a> {
    rec_size: u32,
    secs: Vec<SecEntry<'a>>,
}

/// The records of one ELF section in one `.BTF.ext` sub-section.
#[derive(Clone, Copy, Debug)]
pub struct ExtSection<'a, R> {
    entry: SecEntry<'a>,
    rec_size: u32,
    endian: Endian,
    _rec: PhantomData<R>,
}

impl<'a, R: ExtRecord> ExtSection<'a, R> {
    /// The ELF section's name (a program section such as `"xdp"` or `".text"`).
    pub fn name(&self) -> &'a str {
        self.entry.name
    }
    /// The BTF string offset of the name.
    pub fn name_off(&self) -> u32 {
        self.entry.name_off
    }
    /// Record size as the sub-section states it.
    pub fn rec_size(&self) -> u32 {
        self.rec_size
    }
    /// Number of records.
    pub fn len(&self) -> usize {
        self.entry.records.len() / self.rec_size as usize
    }
    /// Whether there are no records.
    pub fn is_empty(&self) -> bool {
        self.entry.records.is_empty()
    }
    /// The records, raw (`rec_size` bytes each, in the blob's byte order).
    pub fn raw_records(&self) -> &'a [u8] {
        self.entry.records
    }
    /// The records, decoded.
    pub fn records(&self) -> impl ExactSizeIterator<Item = R> + 'a {
        let e = self.endian;
        self.entry
            .records
            .chunks_exact(self.rec_size as usize)
            .map(move |r| R::decode(r, e))
    }
}

/// A parsed `.BTF.ext` section, tied to the object's [`Btf`] (section names,
/// file names, source lines and access strings are strings of the BTF).
///
/// ```
/// use oxbpf_btf::{Btf, BtfBuilder, BtfExt, BtfExtBuilder, FuncInfo, FuncLinkage, TypeId};
///
/// let mut b = BtfBuilder::new();
/// let proto = b.add_func_proto(TypeId::VOID, &[]);
/// let func = b.add_func("prog", proto, FuncLinkage::Global);
/// let sec = b.add_string("xdp");
/// let btf_bytes = b.build();
/// let mut e = BtfExtBuilder::new();
/// e.add_func_info(sec, FuncInfo { insn_off: 0, type_id: func });
/// let ext_bytes = e.build();
///
/// let btf = Btf::parse(&btf_bytes)?;
/// let ext = BtfExt::parse(&ext_bytes, &btf)?;
/// let xdp = ext.func_info_for("xdp").expect("one section");
/// let first = xdp.records().next().expect("one record");
/// assert_eq!(btf.name(first.type_id)?, "prog");
/// # Ok::<(), oxbpf_btf::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct BtfExt<'a> {
    hdr: ExtHeader,
    func_info: SubSection<'a>,
    line_info: SubSection<'a>,
    core_relo: SubSection<'a>,
}

impl<'a> BtfExt<'a> {
    /// Parses `data` (a `.BTF.ext` section). Every sub-section's bounds,
    /// record sizes and section names (strings of `btf`) are checked here.
    pub fn parse(data: &'a [u8], btf: &'a Btf<'_>) -> Result<BtfExt<'a>, Error> {
        let hdr = parse_header(data)?;
        if hdr.endian != btf.endian() {
            return Err(Error::ExtMalformed {
                section: ExtSectionKind::FuncInfo,
                offset: 0,
                reason: "byte order differs from the BTF's",
            });
        }
        let sub = |kind: ExtSectionKind, (off, len): (u32, u32)| -> Result<SubSection<'a>, Error> {
            let name = kind_name(kind);
            let start = u64::from(hdr.hdr_len) + u64::from(off);
            let end = start + u64::from(len);
            if end > data.len() as u64 {
                return Err(Error::SectionOutOfBounds {
                    section: name,
                    off,
                    len,
                    hdr_len: hdr.hdr_len,
                    have: data.len(),
                });
            }
            parse_sub(kind, &data[start as usize..end as usize], hdr.endian, btf)
        };
        let ext = BtfExt {
            hdr,
            func_info: sub(ExtSectionKind::FuncInfo, hdr.func_info)?,
            line_info: sub(ExtSectionKind::LineInfo, hdr.line_info)?,
            core_relo: sub(ExtSectionKind::CoreRelo, hdr.core_relo)?,
        };
        log::debug!(
            target: "oxbpf::btf",
            "parsed BTF.ext: func_info {} sections, line_info {}, core_relo {}",
            ext.func_info.secs.len(),
            ext.line_info.secs.len(),
            ext.core_relo.secs.len()
        );
        Ok(ext)
    }

    /// The header.
    pub fn header(&self) -> &ExtHeader {
        &self.hdr
    }

    fn sections<'s, R: ExtRecord>(
        &'s self,
        sub: &'s SubSection<'a>,
    ) -> impl ExactSizeIterator<Item = ExtSection<'a, R>> + 's {
        let (rec_size, endian) = (sub.rec_size, self.hdr.endian);
        sub.secs.iter().map(move |&entry| ExtSection {
            entry,
            rec_size,
            endian,
            _rec: PhantomData,
        })
    }

    /// func_info, per ELF section.
    pub fn func_info(&self) -> impl ExactSizeIterator<Item = ExtSection<'a, FuncInfo>> + '_ {
        self.sections(&self.func_info)
    }

    /// line_info, per ELF section.
    pub fn line_info(&self) -> impl ExactSizeIterator<Item = ExtSection<'a, LineInfo>> + '_ {
        self.sections(&self.line_info)
    }

    /// CO-RE relocations, per ELF section.
    pub fn core_relos(&self) -> impl ExactSizeIterator<Item = ExtSection<'a, CoreRelo>> + '_ {
        self.sections(&self.core_relo)
    }

    /// func_info records of the ELF section named `name`.
    pub fn func_info_for(&self, name: &str) -> Option<ExtSection<'a, FuncInfo>> {
        self.func_info().find(|s| s.name() == name)
    }

    /// line_info records of the ELF section named `name`.
    pub fn line_info_for(&self, name: &str) -> Option<ExtSection<'a, LineInfo>> {
        self.line_info().find(|s| s.name() == name)
    }

    /// CO-RE relocations of the ELF section named `name`.
    pub fn core_relos_for(&self, name: &str) -> Option<ExtSection<'a, CoreRelo>> {
        self.core_relos().find(|s| s.name() == name)
    }

    /// The func_info record size the object states (0 if there is none).
    pub fn func_info_rec_size(&self) -> u32 {
        self.func_info.rec_size
    }

    /// The line_info record size the object states (0 if there is none).
    pub fn line_info_rec_size(&self) -> u32 {
        self.line_info.rec_size
    }

    /// The core_relo record size the object states (0 if there is none).
    pub fn core_relo_rec_size(&self) -> u32 {
        self.core_relo.rec_size
    }
}

fn kind_name(kind: ExtSectionKind) -> &'static str {
    match kind {
        ExtSectionKind::FuncInfo => "func_info",
        ExtSectionKind::LineInfo => "line_info",
        ExtSectionKind::CoreRelo => "core_relo",
    }
}

/// Reads and checks the `.BTF.ext` header.
pub fn parse_header(data: &[u8]) -> Result<ExtHeader, Error> {
    let Some(h) = data.get(..EXT_HDR_MIN) else {
        return Err(Error::Truncated {
            what: "BTF.ext header",
            offset: 0,
            need: EXT_HDR_MIN,
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
            what: "BTF.ext",
            found: magic_le,
        });
    };
    if h[2] != 1 {
        return Err(Error::BadVersion {
            what: "BTF.ext",
            found: h[2],
        });
    }
    let hdr_len = endian.word(h, 1);
    if (hdr_len as usize) < EXT_HDR_MIN || hdr_len as usize > data.len() {
        return Err(Error::BadHeaderLen {
            what: "BTF.ext",
            hdr_len,
            min: EXT_HDR_MIN as u32,
            have: data.len(),
        });
    }
    let core_relo = if hdr_len as usize >= EXT_HDR_CORE {
        (endian.word(data, 6), endian.word(data, 7))
    } else {
        (0, 0)
    };
    Ok(ExtHeader {
        endian,
        version: h[2],
        flags: h[3],
        hdr_len,
        func_info: (endian.word(h, 2), endian.word(h, 3)),
        line_info: (endian.word(h, 4), endian.word(h, 5)),
        core_relo,
    })
}

/// Parses one sub-section: record size, then (name, count, records)*.
fn parse_sub<'a>(
    kind: ExtSectionKind,
    data: &'a [u8],
    e: Endian,
    btf: &'a Btf<'_>,
) -> Result<SubSection<'a>, Error> {
    if data.is_empty() {
        return Ok(SubSection::default());
    }
    let min = match kind {
        ExtSectionKind::FuncInfo => FuncInfo::MIN_SIZE,
        ExtSectionKind::LineInfo => LineInfo::MIN_SIZE,
        ExtSectionKind::CoreRelo => CoreRelo::MIN_SIZE,
    };
    if data.len() < 4 {
        return Err(Error::ExtMalformed {
            section: kind,
            offset: 0,
            reason: "too short for the record size",
        });
    }
    let rec_size = e.word(data, 0);
    if rec_size < min {
        return Err(Error::ExtRecordSize {
            section: kind,
            rec_size,
            min,
        });
    }
    let mut secs = Vec::new();
    let mut off = 4usize;
    while off < data.len() {
        let Some(h) = data.get(off..off + 8) else {
            return Err(Error::ExtMalformed {
                section: kind,
                offset: off,
                reason: "truncated section header",
            });
        };
        let name_off = e.word(h, 0);
        let num = e.word(h, 1);
        let bytes = u64::from(num) * u64::from(rec_size);
        let start = off + 8;
        if bytes > (data.len() - start) as u64 {
            return Err(Error::ExtMalformed {
                section: kind,
                offset: off,
                reason: "records run past the end of the sub-section",
            });
        }
        let name = btf.string_at(name_off).map_err(|_| Error::ExtBadSecName {
            section: kind,
            offset: off,
            off: name_off,
        })?;
        let end = start + bytes as usize;
        secs.push(SecEntry {
            name,
            name_off,
            records: &data[start..end],
        });
        off = end;
    }
    Ok(SubSection { rec_size, secs })
}

/// Writes `.BTF.ext` sections (record sizes as this crate knows them), for
/// tests and tools that need small objects' worth of func_info, line_info
/// and CO-RE relocations. Records are grouped by section name offset, in
/// the order sections are first used.
#[derive(Clone, Debug, Default)]
pub struct BtfExtBuilder {
    func_info: Vec<(u32, Vec<u32>)>,
    line_info: Vec<(u32, Vec<u32>)>,
    core_relo: Vec<(u32, Vec<u32>)>,
}

fn push_rec(sub: &mut Vec<(u32, Vec<u32>)>, sec: u32, words: &[u32]) {
    match sub.iter_mut().find(|(s, _)| *s == sec) {
        Some((_, v)) => v.extend_from_slice(words),
        None => sub.push((sec, words.to_vec())),
    }
}

impl BtfExtBuilder {
    /// An empty builder.
    pub fn new() -> BtfExtBuilder {
        BtfExtBuilder::default()
    }

    /// Adds a func_info record to the section whose name is BTF string `sec_name_off`.
    pub fn add_func_info(&mut self, sec_name_off: u32, r: FuncInfo) -> &mut Self {
        push_rec(
            &mut self.func_info,
            sec_name_off,
            &[r.insn_off, r.type_id.0],
        );
        self
    }

    /// Adds a line_info record.
    pub fn add_line_info(&mut self, sec_name_off: u32, r: LineInfo) -> &mut Self {
        push_rec(
            &mut self.line_info,
            sec_name_off,
            &[r.insn_off, r.file_name_off, r.line_off, r.line_col],
        );
        self
    }

    /// Adds a CO-RE relocation record.
    pub fn add_core_relo(&mut self, sec_name_off: u32, r: CoreRelo) -> &mut Self {
        push_rec(
            &mut self.core_relo,
            sec_name_off,
            &[r.insn_off, r.type_id.0, r.access_str_off, r.kind.to_u32()],
        );
        self
    }

    /// The section in the machine's byte order.
    pub fn build(&self) -> Vec<u8> {
        self.build_endian(Endian::NATIVE)
    }

    /// The section in byte order `e`.
    pub fn build_endian(&self, e: Endian) -> Vec<u8> {
        let sub = |recs: &[(u32, Vec<u32>)], rec_words: u32| -> Vec<u32> {
            if recs.is_empty() {
                return Vec::new();
            }
            let mut w = vec![rec_words * 4];
            for (sec, v) in recs {
                w.extend_from_slice(&[*sec, v.len() as u32 / rec_words]);
                w.extend_from_slice(v);
            }
            w
        };
        let fi = sub(&self.func_info, 2);
        let li = sub(&self.line_info, 4);
        let cr = sub(&self.core_relo, 4);
        let (fl, ll, cl) = (
            fi.len() as u32 * 4,
            li.len() as u32 * 4,
            cr.len() as u32 * 4,
        );
        let mut out = Vec::new();
        out.extend_from_slice(&e.u16_bytes(BTF_MAGIC));
        out.extend_from_slice(&[1, 0]);
        for w in [EXT_HDR_CORE as u32, 0, fl, fl, ll, fl + ll, cl] {
            out.extend_from_slice(&e.u32_bytes(w));
        }
        for w in fi.iter().chain(&li).chain(&cr) {
            out.extend_from_slice(&e.u32_bytes(*w));
        }
        out
    }
}
