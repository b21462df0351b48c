//! The kernel interface of oxbpf: UAPI types and safe wrappers for
//! `bpf()`, `perf_event_open()` and the few file-system facts loading
//! needs.
//!
//! This is the bottom of the live path (DESIGN.md: `Plan` → live executor
//! → syscalls). The pure crates above it decide *what* to ask the kernel;
//! this crate asks. It is the only crate of oxbpf with `unsafe` code, and
//! that code is confined to the system calls themselves (`sys.rs`) and to
//! the wrappers that hand the kernel pointers into borrowed buffers, each
//! with a `// SAFETY:` comment.
//!
//! - **Types.** [`enums`] (map, program, attach, link types, commands as
//!   open newtypes), [`attr`] (one `#[repr(C)]` zerocopy struct per
//!   command, e.g. [`MapCreateAttr`], [`ProgLoadAttr`], [`LinkCreateAttr`]),
//!   [`info`] ([`ProgInfo`], [`MapInfo`], [`BtfInfo`], [`LinkInfo`]). Their
//!   layouts are tested against the running kernel's BTF; [`UapiStruct`]
//!   lists each one's fields and offsets.
//! - **Handles.** [`MapFd`], [`ProgFd`], [`BtfFd`], [`LinkFd`] own their
//!   fd, and no fd this crate returns is ever 0, 1 or 2.
//! - **Calls.** Every `bpf()` goes through one function, which tests can
//!   make fail on purpose ([`fault`]). Failures are [`Error::Syscall`]
//!   naming the command and errno, or [`Error::Verifier`] with the whole
//!   verifier log ([`prog_load`] and [`btf_load`] retry with a log on
//!   failure and grow the buffer on `ENOSPC`, see [`VerifierLog`]).
//!   Wrappers take slices, never raw pointers, and check every length the
//!   kernel will trust (map key and value sizes, record counts, `fd_array`
//!   indices) before the call.
//! - **Tracing.** [`tracepoint_id`] (tracefs found or mounted),
//!   [`perf_event_open_tracepoint`], and [`link_create`] with
//!   `BPF_PERF_EVENT` or the perf ioctls ([`perf_event_set_bpf`]) for
//!   kernels before 5.15; [`raw_tracepoint_open`].
//! - **Attaching.** [`link_create`] for every link kind,
//!   [`prog_attach`]/[`prog_detach`]/[`prog_query`] for attach points
//!   without links (and the programs of any), uprobe perf events
//!   ([`perf_event_open_uprobe`]), counters ([`perf_event_open_counter`])
//!   and a small rtnetlink client ([`netlink`]) for legacy tc filters.
//! - **Kernel facts.** [`kernel_version`], [`possible_cpus`],
//!   [`mount_bpffs`].
//! - **Feature probes.** [`probe_btf`] tells whether `BTF_LOAD` accepts a
//!   BTF feature ([`BtfProbe`]): supported, unsupported or inconclusive
//!   ([`ProbeResult`]), cached per process.
//!   [`probe_prog`] tells whether a program kind loads and attaches
//!   ([`ProgProbe`]: kprobes, kprobe_multi, fentry/fexit/fmod_ret, LSM),
//!   with the reason in [`ProgProbeReport`];
//!   [`perf_event_open_kprobe`] opens the kprobe perf events both the
//!   probe and the loader's kprobe attach use.
//!
//! ```
//! use oxbpf_asm::Insn;
//! use oxbpf_syscalls::*;
//!
//! # fn main() -> Result<(), Error> {
//! // A map, and an element in it.
//! let map = map_create(&MapCreateAttr::new(MapType::HASH, 4, 8, 16))?;
//! map_update_elem(&map, &1u32.to_ne_bytes(), &42u64.to_ne_bytes(), attr::elem_flags::ANY)?;
//! let mut value = [0u8; 8];
//! assert!(map_lookup_elem(&map, &1u32.to_ne_bytes(), &mut value, 0)?);
//!
//! // An XDP program `r0 = 2; exit`, run once on a 64-byte packet.
//! let insns = [Insn::mov64_imm(0, 2), Insn::exit()];
//! let mut opts = ProgLoadOptions::new(ProgType::XDP, &insns, c"GPL");
//! opts.name = "pass";
//! let prog = prog_load(&opts, &mut VerifierLog::new())?;
//! let out = prog_test_run(&prog, &TestRunOptions::new(&[0u8; 64], 64))?;
//! assert_eq!(out.retval, 2);
//! # Ok(()) }
//! ```
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

#[cfg(feature = "tokio")]
mod async_buffers;
pub mod attr;
mod btf;
pub mod enums;
mod error;
pub mod fault;
mod fd;
pub mod info;
mod iter;
mod kconfig;
mod kernel;
mod kernel_btf_map;
mod layout;
mod link;
mod link_pin;
mod map;
mod memlock;
mod mmap;
pub mod netlink;
mod obj;
mod perf;
mod perf_counter;
mod perf_sw;
mod perfbuf;
mod probe;
mod probe_prog;
mod probe_types;
mod prog;
mod prog_attach;
mod ringbuf;
mod struct_ops;
mod sys;
mod syscall_prog;
mod syscall_prog_fds;
#[cfg(test)]
#[path = "../tests/common/skip.rs"]
mod test_skip;
mod uprobe;

#[cfg(feature = "tokio")]
pub use async_buffers::{AsyncPerfBuffer, AsyncRingBuffer};
pub use attr::{
    BtfLoadAttr, GetFdByIdAttr, GetNextIdAttr, InfoByFdAttr, LinkCreateAttr, LinkCreateIter,
    LinkCreateKprobeMulti, LinkCreateNetfilter, LinkCreatePerfEvent, LinkCreateRelative,
    LinkCreateTail, LinkCreateTracing, LinkCreateUprobeMulti, LinkDetachAttr, LinkUpdateAttr,
    MapCreateAttr, MapElemAttr, ObjPinAttr, ProgLoadAttr, RawTracepointOpenAttr, TestRunAttr,
};
pub use btf::btf_load;
pub use enums::{AttachType, Cmd, LinkType, MapType, PerfEventType, ProgType};
pub use error::{
    ENOTSUPP, Errno, ErrnoDisplay, Error, Result, VerifierError, cmd_label, errno_from_raw,
    errno_name,
};
pub use fd::{BtfFd, LinkFd, MapFd, MapMeta, ProgFd};
pub use info::{BtfInfo, LinkInfo, MapInfo, ProgInfo};
pub use iter::{IterCreateAttr, iter_create};
pub use kconfig::{Kallsyms, KernelConfig};
pub use kernel::{
    is_bpffs, kernel_release, kernel_version, kernel_version_code, kernel_version_encode,
    mount_bpffs, page_size, possible_cpus,
};
pub use kernel_btf_map::map_kernel_btf;
pub use layout::{FieldLayout, UapiStruct};
pub use link::{
    F_REPLACE, LinkTail, LinkTarget, link_create, link_detach, link_update, raw_tracepoint_open,
};
pub use link_pin::link_get_pinned;
pub use map::{
    map_create, map_delete_elem, map_freeze, map_get_next_key, map_lookup_and_delete_elem,
    map_lookup_elem, map_update_elem,
};
pub use memlock::{kernel_charges_memcg, lift_memlock_limit};
pub use mmap::{MapMemory, arena_mmap, map_mmap};
pub use obj::{
    btf_data, btf_get_fd_by_id, btf_get_next_id, btf_info, link_get_fd_by_id, link_get_next_id,
    link_info, map_get_fd_by_id, map_get_next_id, map_info, obj_get, obj_pin, prog_get_fd_by_id,
    prog_get_next_id, prog_info, prog_map_ids, prog_xlated_insns,
};
pub use perf::{
    PERF_ATTR_FLAG_DISABLED, PERF_TYPE_TRACEPOINT, PerfEventAttr, perf_event_disable,
    perf_event_enable, perf_event_open_tracepoint, perf_event_set_bpf, tracefs_root, tracepoint_id,
};
pub use perf_counter::{
    PERF_TYPE_HARDWARE, PERF_TYPE_HW_CACHE, PERF_TYPE_RAW, PerfCounter, Sampling, hw,
    perf_event_open_counter,
};
pub use perf_sw::{PERF_TYPE_SOFTWARE, perf_event_open_software, sw};
pub use perfbuf::{PerfBuffer, PerfRecord};
pub use probe::{BtfProbe, ProbeResult, probe_btf, probe_btf_uncached};
pub use probe_prog::{
    ACTIVE_LSMS, KPROBE_PMU_RETPROBE, KPROBE_PMU_TYPE, ProbeTarget, ProgProbe, ProgProbeReport,
    kprobe_pmu_type, kprobe_retprobe_bit, perf_event_open_kprobe, probe_prog, probe_prog_uncached,
};
pub use probe_types::{probe_map_type, probe_prog_type};
pub use prog::{
    MAX_LOG_SIZE, ProgLoadOptions, TestRunOptions, TestRunOutput, VerifierLog, prog_load,
    prog_test_run,
};
pub use prog_attach::{
    AttachTarget, F_AFTER, F_ALLOW_MULTI, F_ALLOW_OVERRIDE, F_BEFORE, F_ID, F_LINK, ProgAttachAttr,
    ProgQuery, ProgQueryAttr, prog_attach, prog_detach, prog_query,
};
pub use ringbuf::{RingBuffer, UserRingBuffer, UserSample};
pub use struct_ops::struct_ops_link_create;
pub use syscall_prog::prog_run_syscall;
pub use syscall_prog_fds::{CreatedFd, prog_run_syscall_with_fds};
pub use uprobe::{
    UPROBE_PMU_REF_CTR, UPROBE_PMU_RETPROBE, UPROBE_PMU_TYPE, parse_config_bits,
    perf_event_open_uprobe, uprobe_config, uprobe_pmu_type,
};
