//! Pure transforms on BPF instructions before they are loaded.
//!
//! This crate will own CO-RE resolution and patching, subprogram layout and
//! call fixups, func/line info rebasing and `ld_imm64` patch points. None of
//! that lives here yet: the foundation issue keeps map relocations in
//! `oxbpf-elf-bpf` and patch points in `oxbpf-plan`; the objects and CO-RE
//! issues move the rest of the transforms here.
#![forbid(unsafe_code)]

pub mod link;

pub use link::{LinkError, Linked, Placed, link_program};
