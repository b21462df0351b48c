//! The crate's error type.

use oxbpf_asm::InsnIdx;

use crate::layout::BlobOff;

/// Why a loader could not be generated, read or decoded.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The plan needs something a generated loader cannot do. Raised at
    /// generation time, never papered over.
    #[error("{site}: {what} cannot be expressed in a generated loader")]
    Unsupported {
        /// What cannot be expressed.
        what: String,
        /// Where in the plan (`%3 prog_load "handle_tp" insn 12`).
        site: String,
    },

    /// The plan does not hold together.
    #[error("invalid plan")]
    Plan(#[from] oxbpf_plan::Error),

    /// A step of the plan is self-contradictory in a way the live executor
    /// would only find out from the kernel (an element the size of which is
    /// not the map's), which a loader must refuse before the kernel reads
    /// past the bytes it was given.
    #[error("step %{step}: {reason}")]
    InvalidStep {
        /// Index of the operation.
        step: usize,
        /// What is wrong.
        reason: String,
    },

    /// A loader file is malformed.
    #[error("loader file, byte {offset}: {what}")]
    Format {
        /// Byte offset in the file.
        offset: usize,
        /// What is wrong there.
        what: String,
    },

    /// The loader's instructions are not a shape this crate generates.
    #[error("decoding the loader: instruction {insn}: {what}")]
    DecodeInsn {
        /// The instruction.
        insn: InsnIdx,
        /// What is unexpected about it.
        what: String,
    },

    /// A step's attributes or data, as the instructions and blob define
    /// them, cannot be a plan operation (or disagree with the descriptor).
    #[error("decoding the loader: step %{step}: {what}")]
    DecodeStep {
        /// Index of the step.
        step: usize,
        /// What is wrong.
        what: String,
    },

    /// The loader as a whole is not what this crate generates (its error
    /// handler does not close exactly what it creates...).
    #[error("decoding the loader: {what}")]
    Decode {
        /// What is wrong.
        what: String,
    },

    /// A blob range is outside the blob, crosses a chunk boundary or is
    /// read as data while the loader writes into it.
    #[error("decoding the loader: blob bytes {off}..+{len}: {what}")]
    DecodeBlob {
        /// Start of the range.
        off: BlobOff,
        /// Its length.
        len: usize,
        /// What is wrong.
        what: String,
    },
}

impl Error {
    pub(crate) fn unsupported(what: impl Into<String>, site: impl Into<String>) -> Error {
        Error::Unsupported {
            what: what.into(),
            site: site.into(),
        }
    }

    pub(crate) fn step(step: usize, reason: impl Into<String>) -> Error {
        Error::InvalidStep {
            step,
            reason: reason.into(),
        }
    }

    pub(crate) fn format(offset: usize, what: impl Into<String>) -> Error {
        Error::Format {
            offset,
            what: what.into(),
        }
    }

    pub(crate) fn insn(insn: usize, what: impl Into<String>) -> Error {
        Error::DecodeInsn {
            insn: InsnIdx(insn),
            what: what.into(),
        }
    }

    pub(crate) fn decode_step(step: usize, what: impl Into<String>) -> Error {
        Error::DecodeStep {
            step,
            what: what.into(),
        }
    }
}
