//! Compiles a load plan into a loader program (WIP).
#![forbid(unsafe_code)]

mod codegen;
mod decode;
mod error;
mod format;
mod layout;
mod loader;

pub use codegen::{GenOptions, generate, min_kernel_features};
pub use decode::decode;
pub use error::Error;
pub use format::{FORMAT_VERSION, MAGIC};
pub use layout::{Blob, BlobOff, CtxOff, Failure, KernelVersion, ctx};
pub use loader::{KFUNC_POISON, LOADER_LICENSE, LOADER_NAME, Loader, Side, Step};
