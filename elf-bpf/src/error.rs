//! The one error type of this crate.

/// Why an object could not be parsed. Every variant says where.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The ELF container itself is malformed (headers, section table,
    /// string or symbol tables).
    #[error("malformed ELF: {0}")]
    Elf(#[from] object::read::Error),

    /// The file is an ELF object, but not a BPF relocatable object.
    #[error("not a BPF object: {0}")]
    NotBpf(&'static str),

    /// A section's contents do not have the shape its name promises.
    #[error("section {section}: {reason}")]
    Section {
        /// Section name.
        section: String,
        /// What is wrong.
        reason: String,
    },

    /// A symbol is malformed or points outside its section.
    #[error("section {section}: symbol {symbol}: {reason}")]
    Symbol {
        /// Section the symbol belongs to.
        section: String,
        /// Symbol name.
        symbol: String,
        /// What is wrong.
        reason: String,
    },

    /// A relocation cannot be applied.
    #[error("section {section}: relocation at byte offset {offset:#x}: {reason}")]
    Relocation {
        /// Section the relocation applies to.
        section: String,
        /// Byte offset of the relocated instruction within the section.
        offset: u64,
        /// What is wrong.
        reason: String,
    },

    /// An extern declaration cannot be understood.
    #[error("extern {name}: {reason}")]
    Extern {
        /// Symbol name.
        name: String,
        /// What is wrong.
        reason: String,
    },

    /// A map definition is invalid.
    #[error("map {map}: {reason}")]
    Map {
        /// Map name.
        map: String,
        /// What is wrong.
        reason: String,
    },

    /// The object's BTF or BTF.ext is malformed.
    #[error("{context}")]
    Btf {
        /// What was being read.
        context: String,
        /// The BTF error.
        #[source]
        source: oxbpf_btf::Error,
    },
}

impl Error {
    pub(crate) fn section(section: &str, reason: impl Into<String>) -> Self {
        Error::Section {
            section: section.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn map(map: &str, reason: impl Into<String>) -> Self {
        Error::Map {
            map: map.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn btf(context: impl Into<String>, source: oxbpf_btf::Error) -> Self {
        Error::Btf {
            context: context.into(),
            source,
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = core::result::Result<T, E>;
