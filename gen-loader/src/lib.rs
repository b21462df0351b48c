//! Compiles a load [`Plan`](oxbpf_plan) into a BPF *loader program* and
//! a data blob: the light skeleton's generated mode.
//!
//! Not implemented yet: the generated-loader issue builds it. The crate
//! exists so that the dependency direction (`gen-loader` sits above `plan`
//! and beside `loader`'s live executor) is fixed from the start.
#![forbid(unsafe_code)]
