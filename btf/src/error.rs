//! The crate's one error type.

use std::fmt;

use crate::{Kind, TypeId};

/// Which part of a type record an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Field {
    /// The type's name.
    Name,
    /// The type the record refers to (pointee, typedef target, variable type,
    /// function prototype, return type, tagged type).
    Type,
    /// Member `n` of a struct or union (0-based).
    Member(u32),
    /// Value `n` of an enum (0-based).
    EnumValue(u32),
    /// Parameter `n` of a function prototype (0-based).
    Param(u32),
    /// Variable `n` of a DATASEC (0-based).
    SecVar(u32),
    /// The element type of an array.
    ArrayElem,
    /// The index type of an array.
    ArrayIndex,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Name => f.write_str("name"),
            Field::Type => f.write_str("type"),
            Field::Member(i) => write!(f, "member {i}"),
            Field::EnumValue(i) => write!(f, "value {i}"),
            Field::Param(i) => write!(f, "param {i}"),
            Field::SecVar(i) => write!(f, "var {i}"),
            Field::ArrayElem => f.write_str("array element"),
            Field::ArrayIndex => f.write_str("array index"),
        }
    }
}

/// Which sub-section of `.BTF.ext` an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtSectionKind {
    /// `func_info`: one record per function.
    FuncInfo,
    /// `line_info`: source positions of instructions.
    LineInfo,
    /// `core_relo`: CO-RE relocations.
    CoreRelo,
}

impl fmt::Display for ExtSectionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ExtSectionKind::FuncInfo => "func_info",
            ExtSectionKind::LineInfo => "line_info",
            ExtSectionKind::CoreRelo => "core_relo",
        })
    }
}

/// Everything that can go wrong reading, writing or fixing BTF.
///
/// Every variant says where: the byte offset in the blob, the type id and
/// kind, the member or parameter, or the string offset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input ends before a structure that must be there.
    #[error("{what}: need {need} bytes at byte offset {offset}, input has {have}")]
    Truncated {
        /// What was being read ("BTF header", "BTF.ext header"...).
        what: &'static str,
        /// Byte offset where it starts.
        offset: usize,
        /// Bytes needed from `offset`.
        need: usize,
        /// Total bytes available.
        have: usize,
    },
    /// The magic number is neither 0xeB9F in little- nor in big-endian order.
    #[error("{what}: bad magic {found:#06x} (expected 0xeb9f in either byte order)")]
    BadMagic {
        /// "BTF" or "BTF.ext".
        what: &'static str,
        /// The first two bytes, read little-endian.
        found: u16,
    },
    /// A version this crate does not know.
    #[error("{what}: unsupported version {found} (only 1 is defined)")]
    BadVersion {
        /// "BTF" or "BTF.ext".
        what: &'static str,
        /// The version byte.
        found: u8,
    },
    /// The header length is below the minimum or beyond the input.
    #[error("{what}: header length {hdr_len} invalid (minimum {min}, input has {have} bytes)")]
    BadHeaderLen {
        /// "BTF" or "BTF.ext".
        what: &'static str,
        /// The header's `hdr_len`.
        hdr_len: u32,
        /// Smallest header length accepted.
        min: u32,
        /// Input length.
        have: usize,
    },
    /// A section named by the header lies (partly) outside the input.
    #[error(
        "{section} section at offset {off} length {len} (after a {hdr_len}-byte header) \
         exceeds the {have}-byte input"
    )]
    SectionOutOfBounds {
        /// Which section ("type", "string", "func_info"...).
        section: &'static str,
        /// Offset relative to the end of the header.
        off: u32,
        /// Length.
        len: u32,
        /// Header length.
        hdr_len: u32,
        /// Input length.
        have: usize,
    },
    /// A section is not aligned as the format requires.
    #[error("{section} section offset {off} is not {align}-byte aligned")]
    Misaligned {
        /// Which section.
        section: &'static str,
        /// The offending offset.
        off: u32,
        /// Required alignment.
        align: u32,
    },
    /// The string section is malformed (must start and end with a NUL byte).
    #[error("string section: {reason}")]
    BadStringSection {
        /// What is wrong.
        reason: &'static str,
    },
    /// A type record has a kind number this crate does not know.
    #[error("type [{id}] at type-section byte offset {offset}: unknown kind {kind}")]
    UnknownKind {
        /// The type's id.
        id: TypeId,
        /// Offset in the type section.
        offset: usize,
        /// The kind number found.
        kind: u32,
    },
    /// A type record runs past the end of the type section.
    #[error(
        "type [{id}] {kind:#} at type-section byte offset {offset}: record needs {need} bytes, \
         {have} left"
    )]
    RecordTruncated {
        /// The type's id.
        id: TypeId,
        /// Its kind.
        kind: Kind,
        /// Offset in the type section.
        offset: usize,
        /// Bytes the record needs (header plus trailing data).
        need: usize,
        /// Bytes left in the type section.
        have: usize,
    },
    /// More types than type ids can number.
    #[error("too many types (ids would pass {max})")]
    TooManyTypes {
        /// Largest id.
        max: u32,
    },
    /// A type id beyond the last type.
    #[error("type id {id} out of range (last id is {max})")]
    TypeIdOutOfRange {
        /// The id asked for.
        id: TypeId,
        /// The last valid id.
        max: u32,
    },
    /// A type record refers to a type id beyond the last type.
    #[error("type [{from}] {kind:#} {field}: type id {target} out of range (last id is {max})")]
    BadTypeRef {
        /// The type holding the reference.
        from: TypeId,
        /// Its kind.
        kind: Kind,
        /// Which reference.
        field: Field,
        /// The out-of-range id.
        target: TypeId,
        /// The last valid id.
        max: u32,
    },
    /// A string offset beyond the string section.
    #[error("string offset {off} out of range (string section ends at {end})")]
    StringOutOfRange {
        /// The offset.
        off: u32,
        /// One past the last valid offset.
        end: u32,
    },
    /// A string that is not UTF-8.
    #[error("string at offset {off} is not valid UTF-8")]
    StringNotUtf8 {
        /// The offset.
        off: u32,
    },
    /// A type's name could not be read.
    #[error("type [{id}] {kind:#} {field}: string offset {off} invalid ({reason})")]
    BadName {
        /// The type.
        id: TypeId,
        /// Its kind.
        kind: Kind,
        /// Which name (the type's own, a member's...).
        field: Field,
        /// The string offset.
        off: u32,
        /// "out of range" or "not UTF-8".
        reason: &'static str,
    },
    /// Following references went deeper than the bound; the chain is most
    /// likely cyclic.
    #[error("type [{id}]: reference chain deeper than {depth} (cycle?)")]
    TooDeep {
        /// Where the walk started.
        id: TypeId,
        /// The bound.
        depth: u32,
    },
    /// Bytes given to decode as a type are fewer than the type's size.
    #[error("type [{id}]: value needs {need} bytes, got {have}")]
    ValueTooShort {
        /// The type being decoded.
        id: TypeId,
        /// Bytes needed.
        need: usize,
        /// Bytes given.
        have: usize,
    },
    /// A computation visited more types than its budget allows (malformed
    /// BTF can make the unfolding of nested types exponential).
    #[error("type [{id}]: gave up after visiting {steps} types")]
    TooManySteps {
        /// Where the computation started.
        id: TypeId,
        /// The budget.
        steps: u32,
    },
    /// An operation met a kind it does not apply to.
    #[error("type [{id}] is {kind:#}, expected {expected}")]
    UnexpectedKind {
        /// The type.
        id: TypeId,
        /// Its kind.
        kind: Kind,
        /// What was expected ("a sized type"...).
        expected: &'static str,
    },
    /// A computed size does not fit in 32 bits.
    #[error("type [{id}]: size overflows 32 bits")]
    SizeOverflow {
        /// The type whose size overflowed.
        id: TypeId,
    },
    /// A `.BTF.ext` sub-section states a record size below the minimum.
    #[error("BTF.ext {section}: record size {rec_size} below the minimum {min}")]
    ExtRecordSize {
        /// The sub-section.
        section: ExtSectionKind,
        /// Stated record size.
        rec_size: u32,
        /// Minimum for this sub-section.
        min: u32,
    },
    /// A `.BTF.ext` sub-section is malformed.
    #[error("BTF.ext {section} at sub-section byte offset {offset}: {reason}")]
    ExtMalformed {
        /// The sub-section.
        section: ExtSectionKind,
        /// Offset inside the sub-section.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A `.BTF.ext` section-name offset that does not name a BTF string.
    #[error(
        "BTF.ext {section} at sub-section byte offset {offset}: section name offset {off} invalid"
    )]
    ExtBadSecName {
        /// The sub-section.
        section: ExtSectionKind,
        /// Offset inside the sub-section.
        offset: usize,
        /// The string offset.
        off: u32,
    },
    /// The ELF has no size for a DATASEC that needs one.
    #[error("DATASEC [{id}] '{name}': no section of that name to take its size from")]
    DatasecNoSection {
        /// The DATASEC.
        id: TypeId,
        /// Its name.
        name: String,
    },
    /// The ELF has no symbol for a variable of a DATASEC.
    #[error("DATASEC [{id}] '{section}' var {index} '{var}': no symbol gives its offset")]
    DatasecNoSymbol {
        /// The DATASEC.
        id: TypeId,
        /// Its name.
        section: String,
        /// The index of the variable in the DATASEC.
        index: u32,
        /// The variable's name.
        var: String,
    },
    /// A DATASEC variable lies outside the section or overlaps another.
    #[error("DATASEC [{id}] '{section}' var '{var}': offset {offset} size {size} {reason}")]
    DatasecLayout {
        /// The DATASEC.
        id: TypeId,
        /// Its name.
        section: String,
        /// The variable's name.
        var: String,
        /// Its offset.
        offset: u32,
        /// Its size.
        size: u32,
        /// "exceeds the section size N", "overlaps the previous variable".
        reason: String,
    },
    /// An output would exceed its bound (malformed BTF can make a C dump
    /// exponentially large).
    #[error("{what}: output would exceed {limit} bytes (type [{id}])")]
    OutputTooLarge {
        /// What was being written ("C dump").
        what: &'static str,
        /// The type being written when the bound was hit.
        id: TypeId,
        /// The bound.
        limit: u64,
    },
    /// Writing a dump failed.
    #[error("writing the dump")]
    Write {
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Reading a file failed.
    #[error("reading {path}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}
