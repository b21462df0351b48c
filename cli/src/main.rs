//! The `oxbpf` command.
#![forbid(unsafe_code)]
fn main() {}
