//! Rust skeletons: a typed Rust module generated from a BPF object.
//!
//! ```text
//! .bpf.c ──clang──▶ .bpf.o ──generate──▶ counter.skel.rs ─┬─ regular: embeds the object; open → load → Object
//!                              (Builder in build.rs,     └─ light:   embeds a generated loader; LightSkeleton → Object
//!                               or `oxbpf gen skeleton`)
//! ```
//!
//! A skeleton is a struct named after the object (`counter.bpf.o` gives
//! `CounterSkel`) with:
//!
//! - `open()` → `OpenCounterSkel`: the initial values of `.rodata`,
//!   `.data` and `.bss` as generated Rust structs
//!   (`rodata_mut().target_pid = 42`, `bss_mut().counter = 5`: the
//!   programs see these values from their first run),
//!   and, for a regular skeleton, the [`OpenObject`](crate::OpenObject) to
//!   configure maps and programs; then `load()`. `open_and_load()` does
//!   both.
//! - `attach()`: every program whose section names its attach point
//!   (tracepoints, raw tracepoints, tp_btf, fentry, uprobes, USDT,
//!   iterators, kprobes...), through [`Program::attach`](crate::Program::attach);
//!   the links are kept (`links()`) and detach when the skeleton is
//!   dropped.
//! - `maps().counts()`: a [`TypedMap`] with the key and value types of the
//!   map's BTF (`lookup(&key) -> Option<Value>`), or a [`Map`](crate::Map);
//!   `progs().handle()`: a [`Program`](crate::Program).
//! - `bss()`, `data()`, `rodata()`: the live global data, typed.
//!
//! A **regular** skeleton embeds the object and loads it as
//! [`OpenObject::load`](crate::OpenObject::load) does. A **light**
//! skeleton embeds a loader generated at build time
//! ([`crate::gen_loader`]) and loads it with the
//! [`LightSkeleton`](crate::LightSkeleton) runtime: no ELF or BTF is parsed
//! when it runs. Both end in the same [`Object`](crate::Object) and offer
//! the same accessors after load. Before load they differ, as below.
//!
//! # Configuring before load
//!
//! A regular skeleton plans its load when `load()` runs, so its open
//! skeleton changes anything [`OpenObject`](crate::OpenObject) can. A light
//! skeleton's loader was planned when it was generated: before it runs,
//! only bytes of its blob can change, which are the data sections' initial
//! values and the maps' sizes. Whatever else it cannot honour has no method,
//! so asking for it fails to compile rather than being silently ignored.
//!
//! | before load | regular (`OpenCounterSkel`) | light (`OpenCounterSkel`) |
//! |---|---|---|
//! | `.rodata`, `.data`, `.bss` initial values | `rodata_mut()`, `data_mut()`, `bss_mut()` | the same |
//! | map size | `maps_mut().per_tid().set_max_entries(n)` ([`OpenMapMut`](crate::OpenMapMut)) | the same ([`OpenLightMap`]; not for a pinned map the runtime reuses) |
//! | map value size | `maps_mut().per_tid().set_value_size(n)` | — |
//! | program autoload, type, expected attach type | `progs_mut().handle().set_autoload(false)`... ([`OpenProgramMut`](crate::OpenProgramMut)) | — (no `progs_mut()`) |
//! | the rest (pin root, CO-RE BTF, globals by name...) | `object_mut()` ([`OpenObject`](crate::OpenObject)) | — (no `object_mut()`) |
//!
//! To change what a light skeleton fixes, change the object (e.g. a `?`
//! section for a program loaded on demand) and regenerate.
//!
//! # Global data
//!
//! Each data section with BTF (`.bss`, `.data`, `.rodata`, `.data.*`,
//! `.rodata.*`) gets a `#[repr(C)]` struct in the module's `types`, one
//! field per variable at its offset, with explicit padding, and the types
//! it uses (structs, unions, enums, arrays; pointers as `u64`), all
//! zerocopy plain data, with compile-time assertions of every size and
//! offset. A bitfield member keeps its bytes in the struct and gets a
//! getter and a setter typed as the member (`flags_lo() -> u32`,
//! `set_flags_lo(v)`; an enum member's newtype), sign-extended if signed,
//! truncating as a C assignment does, at the bits BTF places it
//! ([`Bitfield`]). A bitfield no accessor can express (not an integer or
//! enum, wider than its type) fails generation with
//! [`Error::Unsupported`](crate::Error::Unsupported) naming the member.
//!
//! After load, a section lives in its map's memory, which the programs
//! write while user space reads. The skeleton therefore never hands out a
//! reference into it (`&mut T` there would promise that nothing else
//! writes it, which the programs break): `bss().counter()` copies a
//! variable out and `bss().set_counter(1)` copies one in, through a
//! [`DataView`], in naturally aligned atomic units, so an aligned counter
//! that a program updates is never read torn. `get()`/`set()` copy the
//! whole section. `.rodata` is frozen at load and mapped read-only: its
//! view has getters only. Before load, the values are the open
//! skeleton's own copy, so `rodata_mut()` is a plain `&mut`.
//!
//! # Example
//!
//! Generating a module, as the build.rs [`Builder`] and
//! `oxbpf gen skeleton` do:
//!
//! ```no_run
//! use oxbpf::skel::{SkelOptions, generate};
//!
//! let bytes = std::fs::read("counter.bpf.o").expect("an object");
//! let skel = generate("counter.bpf.o", &bytes, &SkelOptions::new())?;
//! std::fs::write("counter.skel.rs", skel.source).expect("written");
//! # Ok::<(), oxbpf::Error>(())
//! ```
//!
//! Using it, as `examples/skeleton` does (where this compiles and its
//! tests run it): `counter.bpf.c` has a `const volatile __u32 target_tid`
//! in `.rodata`, a `__u64 calls` in `.bss`, a hash map `per_tid` and a
//! `raw_tp/sys_enter` program.
//!
//! ```text
//! mod counter {
//!     include!(concat!(env!("OUT_DIR"), "/counter.skel.rs"));
//! }
//!
//! let mut open = counter::CounterSkel::open()?;
//! open.rodata_mut().target_tid = gettid();
//! let mut skel = open.load()?;
//! skel.attach()?;
//! rustix::process::getpid(); // a call the program counts
//! println!("{} calls", skel.bss().calls());
//! for (tid, stats) in skel.maps().per_tid().entries()? {
//!     println!("{tid}: {stats:?}");
//! }
//! ```
//!
//! # What the generator refuses
//!
//! A malformed object or BTF is an [`Error`](crate::Error), never a panic.
//! A light skeleton of an object the generated loader cannot express
//! (struct_ops, per-CPU initial values...) fails with the loader
//! generator's [`Unsupported`](crate::gen_loader::Error::Unsupported). A
//! struct whose members overlap in a way Rust fields cannot express
//! becomes opaque bytes (logged).

mod builder;
mod generator;
mod light;
mod names;
mod runtime;
mod types;

pub use builder::Builder;
pub use generator::{Embed, SkelOptions, Skeleton, generate};
pub use runtime::{
    Bitfield, DataSpec, DataView, Field, Initial, MapSpec, OpenLightMap, OpenLightSkel, OpenSkel,
    ProgSpec, Skel, SkelSpec, StructOpsSpec, TypedMap,
};

/// The zerocopy crate generated types derive from (re-exported so that a
/// crate using a skeleton needs no dependency of its own).
pub use zerocopy;
