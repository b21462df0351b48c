//! The load plan.
#![forbid(unsafe_code)]
