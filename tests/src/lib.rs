//! Integration tests of oxbpf against the live kernel.
#![forbid(unsafe_code)]
