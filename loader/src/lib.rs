//! oxbpf: open, configure and load BPF objects — a pure-Rust libbpf.
//!
//! ```text
//! bytes ──elf-bpf──▶ OpenObject ──plan──▶ Plan ──live executor──▶ Object (maps, programs)
//! ```
//!
//! [`OpenObject::open`] parses a clang-built object without touching the
//! kernel; programs and maps can then be configured. [`OpenObject::plan`]
//! shows the ordered list of kernel operations loading will perform, and
//! [`OpenObject::load`] performs them. A failure at any step closes
//! everything created before it. The loaded [`Object`] hands out [`Map`]
//! and [`Program`] handles; programs attach and return [`Link`]s that
//! detach when dropped.
//!
//! The same plan can instead be compiled into a *generated loader*
//! ([`gen_loader`]): a BPF program that makes the calls from inside the
//! kernel. [`OpenObject::load_via_loader`] loads that way, and a
//! [`LightSkeleton`] loads a loader file (`oxbpf gen loader`) with no ELF
//! or BTF parsing at all; both give the same [`Object`].
//!
//! ```no_run
//! use oxbpf::OpenObject;
//!
//! let mut open = OpenObject::open("counter.bpf.o")?;
//! open.map_mut("counts")?.set_max_entries(4096);
//! println!("{}", open.plan()?); // what load() will do
//! let obj = open.load()?;
//! let prog = obj.program("handle_tp")?;
//! let _link = prog.attach()?; // from its section name, e.g. tracepoint/syscalls/sys_enter_getpid
//! for key in obj.map("counts")?.keys() {
//!     let key = key?;
//!     println!("{key:?} => {:?}", obj.map("counts")?.lookup(&key, 0)?);
//! }
//! # Ok::<(), oxbpf::Error>(())
//! ```
//!
//! Ring buffers ([`RingBuffer`]) and perf buffers ([`PerfBuffer`]) are
//! consumed in place; with the `tokio` feature, `AsyncRingBuffer` and
//! `AsyncPerfBuffer` await their records on tokio's reactor.
//!
//! The lower layers are re-exported for those who need them: [`asm`]
//! (instructions), [`btf`], [`elf`] (the parsed object), [`plan`] and
//! [`sys`] (the kernel interface).
#![forbid(unsafe_code)]

mod attach;
mod error;
mod exec;
mod globals;
mod kconfig;
mod link;
mod lskel;
mod map;
mod object;
mod open;
mod planner;
mod program;
pub mod skel;
mod struct_ops;
mod target;

pub use attach::{
    Anchor, AttachAll, KprobeMultiOptions, NetfilterOptions, Skipped, TcAttachPoint, TcFilterInfo,
    TcOptions, UprobeMultiOptions, UprobeOptions, UsdtArg, UsdtArgKind, UsdtNote, UsdtOptions,
    XdpMode, parse_usdt_notes, tc_bpf_filters,
};
pub use error::{Error, Result, SourceLine};
pub use globals::Global;
pub use link::Link;
pub use lskel::LightSkeleton;
pub use map::{Keys, Map};
pub use object::Object;
pub use open::{DEFAULT_PIN_ROOT, OpenMap, OpenMapMut, OpenObject, OpenProgram, OpenProgramMut};
pub use program::Program;
pub use target::VMLINUX_BTF;

pub use oxbpf_asm as asm;
pub use oxbpf_btf as btf;
pub use oxbpf_elf_bpf as elf;
pub use oxbpf_gen_loader as gen_loader;
pub use oxbpf_plan as plan;
pub use oxbpf_syscalls as sys;
#[cfg(feature = "tokio")]
pub use oxbpf_syscalls::{AsyncPerfBuffer, AsyncRingBuffer};
pub use oxbpf_syscalls::{
    AttachType, MapMemory, MapType, PerfBuffer, PerfRecord, ProgType, RingBuffer, TestRunOptions,
    TestRunOutput, UserRingBuffer, UserSample,
};
