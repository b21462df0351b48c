//! The one error type of the xtask crate.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why an xtask command failed. Each variant says what was being done.
#[derive(Debug)]
pub enum Error {
    /// The command line was wrong.
    Usage(String),
    /// A required program is not installed.
    MissingTool {
        /// The program, e.g. `clang-19`.
        tool: String,
        /// How to get it.
        hint: String,
    },
    /// Reading or writing a file failed.
    Io {
        /// What was being done.
        what: String,
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Starting or waiting for a program failed.
    Spawn {
        /// The program.
        program: String,
        /// The underlying error.
        source: io::Error,
    },
    /// A step ran but did not succeed (compile errors, failing tests...).
    Failed(String),
}

impl Error {
    /// An [`Error::Io`] about `path`.
    pub fn io(what: impl Into<String>, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            what: what.into(),
            path: path.into(),
            source,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(msg) => write!(f, "{msg}"),
            Error::MissingTool { tool, hint } => write!(f, "`{tool}` not found: {hint}"),
            Error::Io { what, path, .. } => write!(f, "{what} {}", path.display()),
            Error::Spawn { program, .. } => write!(f, "cannot run `{program}`"),
            Error::Failed(msg) => write!(f, "{msg}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } | Error::Spawn { source, .. } => Some(source),
            _ => None,
        }
    }
}
