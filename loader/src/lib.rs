//! oxbpf: open, configure and load BPF objects.
#![forbid(unsafe_code)]
