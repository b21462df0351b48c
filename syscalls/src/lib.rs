//! The kernel interface: UAPI types and safe wrappers for `bpf()`.
//!
//! This is the only crate of oxbpf with `unsafe` code.

pub mod enums;

pub use enums::{AttachType, Cmd, LinkType, MapType, ProgType};
