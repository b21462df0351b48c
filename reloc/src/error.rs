//! The crate's error type.

use std::fmt;

use oxbpf_btf::{CoreReloKind, TypeId};

use crate::core::kind_name;

/// Where a CO-RE relocation error happened: which relocation, on which
/// instruction, for which local type and access string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReloLoc {
    /// Number of the relocation in the list being applied (0-based), when
    /// known.
    pub relo: Option<usize>,
    /// Index of the instruction it applies to, when known.
    pub insn: Option<usize>,
    /// The relocation kind.
    pub kind: CoreReloKind,
    /// The local root type.
    pub type_id: TypeId,
    /// The access string as written in the local BTF (lossily decoded;
    /// empty if its offset was out of range).
    pub access: String,
}

impl fmt::Display for ReloLoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CO-RE relocation")?;
        if let Some(n) = self.relo {
            write!(f, " #{n}")?;
        }
        write!(
            f,
            " ({}, type [{}], access \"{}\")",
            kind_name(self.kind),
            self.type_id,
            self.access
        )?;
        if let Some(i) = self.insn {
            write!(f, " at insn {i}")?;
        }
        Ok(())
    }
}

/// One candidate of an ambiguous relocation, for [`Error::Ambiguous`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AmbiguousCandidate {
    /// Index of the target BTF (0: the main target, then modules).
    pub btf: usize,
    /// The candidate's type id in that BTF.
    pub id: TypeId,
    /// Its name ("struct task_struct").
    pub name: String,
    /// The value it gives.
    pub value: u64,
}

impl fmt::Display for AmbiguousCandidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.btf == 0 {
            write!(f, "[{}] {} gives {}", self.id, self.name, self.value)
        } else {
            write!(
                f,
                "[{}] {} (target BTF {}) gives {}",
                self.id, self.name, self.btf, self.value
            )
        }
    }
}

fn list(c: &[AmbiguousCandidate]) -> String {
    let v: Vec<String> = c.iter().map(ToString::to_string).collect();
    v.join("; ")
}

/// What can go wrong while resolving or applying relocations. Every
/// variant about a relocation carries a [`ReloLoc`] saying which one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // Subprogram linking ([`crate::link_program`]):
    /// A call or function address names no function of the object.
    #[error(
        "{function} instruction {insn}: {what} targets section #{section} offset {offset}, which starts no function"
    )]
    NoTarget {
        /// The function holding the instruction.
        function: String,
        /// Its index in that function.
        insn: usize,
        /// `"call"` or `"function address"`.
        what: &'static str,
        /// Target section index.
        section: usize,
        /// Target byte offset.
        offset: u64,
    },
    /// The linked program would be longer than an instruction offset reaches.
    #[error("linked program of {insns} instructions is too large")]
    TooLarge {
        /// Its length.
        insns: usize,
    },

    /// An access string is malformed.
    #[error("access string \"{access}\": {reason} at byte {pos}")]
    AccessString {
        /// The string (lossily decoded).
        access: String,
        /// Byte position of the problem.
        pos: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A relocation's access string is malformed.
    #[error("{at}: malformed access string: {reason} at byte {pos}")]
    BadAccess {
        /// The relocation.
        at: Box<ReloLoc>,
        /// Byte position of the problem.
        pos: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// The relocation does not make sense on the local BTF (an index out of
    /// range, a member of something that is not a struct, an anonymous
    /// root type...).
    #[error("{at}: invalid on the local BTF: {reason}")]
    InvalidLocal {
        /// The relocation.
        at: Box<ReloLoc>,
        /// What is wrong.
        reason: String,
    },
    /// The local (object) BTF is malformed where the relocation looked.
    #[error("{at}: local BTF")]
    LocalBtf {
        /// The relocation.
        at: Box<ReloLoc>,
        /// The BTF error.
        #[source]
        source: oxbpf_btf::Error,
    },
    /// A target BTF is malformed where the relocation looked.
    #[error("{at}: target BTF")]
    TargetBtf {
        /// The relocation.
        at: Box<ReloLoc>,
        /// The BTF error.
        #[source]
        source: oxbpf_btf::Error,
    },
    /// A target BTF type is malformed for the relocation (a bitfield that
    /// fits no container, an offset that overflows...).
    #[error("{at}: target type [{id}]: {reason}")]
    InvalidTarget {
        /// The relocation.
        at: Box<ReloLoc>,
        /// The target type.
        id: TypeId,
        /// What is wrong.
        reason: &'static str,
    },
    /// A relocation kind this crate does not know.
    #[error("{at}: unknown relocation kind")]
    UnknownKind {
        /// The relocation.
        at: Box<ReloLoc>,
    },
    /// A walk over BTF types went deeper or longer than allowed (a cycle, or
    /// a pathological BTF).
    #[error("{at}: gave up comparing types ({what} limit reached)")]
    TooComplex {
        /// The relocation.
        at: Box<ReloLoc>,
        /// Which limit ("depth", "steps").
        what: &'static str,
    },
    /// Several target candidates match but give different results.
    #[error("{at}: ambiguous: {} candidates disagree: {}", candidates.len(), list(candidates))]
    Ambiguous {
        /// The relocation.
        at: Box<ReloLoc>,
        /// The matching candidates and their values.
        candidates: Vec<AmbiguousCandidate>,
    },
    /// The instruction index is outside the instructions given.
    #[error("{at}: instruction index out of range ({len} instructions)")]
    InsnOutOfRange {
        /// The relocation.
        at: Box<ReloLoc>,
        /// Number of instructions.
        len: usize,
    },
    /// The instruction is not one this relocation kind may patch.
    #[error("{at}: cannot patch insn (code {code:#04x}): {reason}")]
    UnexpectedInsn {
        /// The relocation.
        at: Box<ReloLoc>,
        /// The instruction's opcode byte.
        code: u8,
        /// Why.
        reason: &'static str,
    },
    /// The instruction does not hold the value the local BTF gives (the
    /// relocation record and the code disagree).
    #[error("{at}: insn {field} holds {found}, the local BTF gives {expected}")]
    LocalValueMismatch {
        /// The relocation.
        at: Box<ReloLoc>,
        /// Which field ("imm", "off", "imm64").
        field: &'static str,
        /// The value in the instruction.
        found: i64,
        /// The value computed on the local BTF.
        expected: u64,
    },
    /// The target value does not fit the instruction field.
    #[error("{at}: target value {value} does not fit the insn {field}")]
    ValueOutOfRange {
        /// The relocation.
        at: Box<ReloLoc>,
        /// Which field ("imm", "off").
        field: &'static str,
        /// The value.
        value: u64,
    },
    /// A load or store of the whole field cannot follow the field's change
    /// of size on the target.
    #[error(
        "{at}: field is {local} bytes locally and {target} on the target; \
         the {insn_size}-byte access cannot be adjusted: {reason}"
    )]
    MemSize {
        /// The relocation.
        at: Box<ReloLoc>,
        /// Access size of the instruction.
        insn_size: u8,
        /// Local field size.
        local: u32,
        /// Target field size.
        target: u32,
        /// Why not.
        reason: &'static str,
    },
    /// A `.BTF.ext` CO-RE record does not point at an instruction of the
    /// function it was given with.
    #[error(
        "CO-RE record {index} of section {section}: insn_off {insn_off} {reason} \
         (function at byte {func_off}, {len} instructions)"
    )]
    MisplacedRecord {
        /// ELF section name.
        section: String,
        /// Index of the record in the section's list.
        index: usize,
        /// Its byte offset.
        insn_off: u32,
        /// Byte offset of the function in the section.
        func_off: u64,
        /// Number of instructions of the function.
        len: usize,
        /// What is wrong.
        reason: &'static str,
    },
}

impl Error {
    /// The relocation this error is about, if it is about one.
    pub fn relo_loc(&self) -> Option<&ReloLoc> {
        match self {
            Error::BadAccess { at, .. }
            | Error::InvalidLocal { at, .. }
            | Error::LocalBtf { at, .. }
            | Error::TargetBtf { at, .. }
            | Error::InvalidTarget { at, .. }
            | Error::UnknownKind { at }
            | Error::TooComplex { at, .. }
            | Error::Ambiguous { at, .. }
            | Error::InsnOutOfRange { at, .. }
            | Error::UnexpectedInsn { at, .. }
            | Error::LocalValueMismatch { at, .. }
            | Error::ValueOutOfRange { at, .. }
            | Error::MemSize { at, .. } => Some(at),
            Error::AccessString { .. }
            | Error::MisplacedRecord { .. }
            | Error::NoTarget { .. }
            | Error::TooLarge { .. } => None,
        }
    }

    /// Fills in the relocation number and instruction index of the location.
    pub(crate) fn at_position(mut self, relo: usize, insn: usize) -> Error {
        let at = match &mut self {
            Error::BadAccess { at, .. }
            | Error::InvalidLocal { at, .. }
            | Error::LocalBtf { at, .. }
            | Error::TargetBtf { at, .. }
            | Error::InvalidTarget { at, .. }
            | Error::UnknownKind { at }
            | Error::TooComplex { at, .. }
            | Error::Ambiguous { at, .. }
            | Error::InsnOutOfRange { at, .. }
            | Error::UnexpectedInsn { at, .. }
            | Error::LocalValueMismatch { at, .. }
            | Error::ValueOutOfRange { at, .. }
            | Error::MemSize { at, .. } => Some(at),
            Error::AccessString { .. }
            | Error::MisplacedRecord { .. }
            | Error::NoTarget { .. }
            | Error::TooLarge { .. } => None,
        };
        if let Some(at) = at {
            at.relo = Some(relo);
            at.insn = Some(insn);
        }
        self
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
