//! BTF: a zero-copy view of BPF Type Format data.
#![forbid(unsafe_code)]
