//! Developer tasks: `cargo xtask build-bpf`, `cargo xtask test`.
#![forbid(unsafe_code)]
fn main() {}
