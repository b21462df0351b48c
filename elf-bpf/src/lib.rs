//! Parsing of clang-built BPF ELF objects.
#![forbid(unsafe_code)]
