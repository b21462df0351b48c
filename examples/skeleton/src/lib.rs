//! oxbpf's skeleton example: `src/bpf/counter.bpf.c` counts the getpid()
//! calls of one thread; `build.rs` generates two skeletons of it with
//! [`oxbpf::skel::Builder`]:
//!
//! - [`counter::CounterSkel`], a regular skeleton: the object is embedded
//!   and loaded as `oxbpf::OpenObject::load` does;
//! - [`counter_light::CounterSkel`], a light skeleton: a loader generated
//!   at build time is embedded and run by `oxbpf::LightSkeleton`, with no
//!   ELF or BTF parsing at run time.
//!
//! Both have the same surface:
//!
//! ```no_run
//! use oxbpf_example_skeleton::{counter::CounterSkel, gettid, getpid_calls};
//!
//! let mut open = CounterSkel::open()?;
//! open.rodata_mut().target_tid = gettid(); // before load: a plain struct
//! open.bss_mut().calls = 100;               // .bss too: counting starts at 100
//! let mut skel = open.load()?;
//! skel.attach()?;
//! getpid_calls(3);
//! assert_eq!(skel.bss().calls(), 103);    // after load: copied out of the map's memory
//! let stats = skel.maps().per_tid().lookup(&gettid())?; // typed: Option<types::call_stats>
//! skel.data().set_enabled(0)?;            // programs see it at once
//! # Ok::<(), oxbpf::Error>(())
//! ```
//!
//! Before load, both size maps (`open.maps_mut().per_tid().set_max_entries(128)`)
//! and set initial data; a regular skeleton configures more, since it
//! plans the load when it runs:
//!
//! ```no_run
//! use oxbpf_example_skeleton::counter::CounterSkel;
//!
//! let mut open = CounterSkel::open()?;
//! open.maps_mut().per_tid().set_max_entries(128);
//! open.progs_mut().count_getpid().set_autoload(true);
//! # Ok::<(), oxbpf::Error>(())
//! ```
//!
//! A light skeleton's loader was planned at build time: it has no
//! `progs_mut()`, and its maps only take a size.
//!
//! ```compile_fail,E0599
//! let mut open = oxbpf_example_skeleton::counter_light::CounterSkel::open()?;
//! open.progs_mut(); // no such method
//! # Ok::<(), oxbpf::Error>(())
//! ```
//!
//! ```compile_fail,E0599
//! let mut open = oxbpf_example_skeleton::counter_light::CounterSkel::open()?;
//! open.maps_mut().per_tid().set_value_size(8); // no such method
//! # Ok::<(), oxbpf::Error>(())
//! ```
#![forbid(unsafe_code)]

/// The regular skeleton of `counter.bpf.o`.
pub mod counter {
    include!(concat!(env!("OUT_DIR"), "/counter.skel.rs"));
}

/// The light skeleton of `counter.bpf.o`.
pub mod counter_light {
    include!(concat!(env!("OUT_DIR"), "/counter.lskel.rs"));
}

/// `counter.bpf.o` itself (what the regular skeleton embeds), for loading
/// without a skeleton: `oxbpf::OpenObject::from_bytes("counter.bpf.o", OBJECT)`.
pub static OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/counter.bpf.o"));

/// The calling thread's id, as `bpf_get_current_pid_tgid()` reports it in
/// its low half.
pub fn gettid() -> u32 {
    rustix::thread::gettid()
        .as_raw_nonzero()
        .get()
        .unsigned_abs()
}

/// Makes `n` getpid() system calls (rustix calls the kernel each time).
pub fn getpid_calls(n: u64) {
    for _ in 0..n {
        std::hint::black_box(rustix::process::getpid());
    }
}
