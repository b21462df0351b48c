//! Shared by the gen-loader tests (and, through `#[path]`, the live loader
//! tests of `oxbpf-tests`).
#![allow(dead_code)]

pub use oxbpf_asm as asm;
pub use oxbpf_btf as btf;
pub use oxbpf_plan as plan;
pub use oxbpf_syscalls as sys;

pub mod plans;
