//! A generated loader: the loader program, its blob, and the descriptor the
//! runtime follows.

use oxbpf_asm::Insn;
use oxbpf_btf::Kind;
use oxbpf_plan::{CreateMap, KconfigVar, Poisoned, Ref};
use oxbpf_syscalls::Cmd;

use crate::layout::{Blob, BlobOff, CtxOff, KernelVersion};

/// The loader program's name in the kernel.
pub const LOADER_NAME: &str = "oxbpf_loader";

/// The loader program's license. Its helpers (`bpf_sys_bpf`,
/// `bpf_btf_find_by_name_kind`, `bpf_sys_close`,
/// `bpf_kallsyms_lookup_name`) are not GPL-only; the programs it loads
/// carry their own licenses.
pub const LOADER_LICENSE: &str = "Dual MIT/GPL";

pub use oxbpf_plan::KFUNC_POISON;

/// A plan compiled into a loader program (`BPF_PROG_TYPE_SYSCALL`,
/// sleepable) and a data blob, with the descriptor of what each step is.
///
/// Who does what:
///
/// * **the runtime, before the loader runs**: checks
///   [`Loader::min_kernel`]; writes the values of the running kernel's
///   configuration into the `.kconfig` map's value ([`Step::UpdateElem`]
///   with a kconfig layout); opens maps pinned by an earlier load
///   ([`Step::ReuseMap`]: `BPF_OBJ_GET`, which `bpf_sys_bpf` does not
///   offer) and writes their fds into their context words; creates one
///   array map per blob chunk, writes and freezes it; loads the loader
///   with those maps as its `fd_array`;
/// * **the loader** (one `BPF_PROG_TEST_RUN`): every other step, in plan
///   order, with `bpf_sys_bpf`, `bpf_btf_find_by_name_kind` and
///   `bpf_kallsyms_lookup_name`, keeping every result in its context word;
///   on failure it closes what it created (`bpf_sys_close`) and returns
///   the step and errno (see [`crate::Failure`]);
/// * **the runtime, after**: takes the fds out of the context, pins maps
///   ([`Step::Pin`]: `BPF_OBJ_PIN` is not offered either), and on any
///   failure closes everything and removes the pins it made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loader {
    /// What the loader loads (the plan's object name).
    pub object: String,
    /// The oldest kernel the loader runs on: the newest of the features it
    /// uses (see [`crate::min_kernel_features`]).
    pub min_kernel: KernelVersion,
    /// The loader program.
    pub insns: Vec<Insn>,
    /// The data blob.
    pub blob: Blob,
    /// Size of the context the loader reads and writes.
    pub ctx_size: u32,
    /// One entry per plan operation, in plan order.
    pub steps: Vec<Step>,
}

/// Who executes a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The loader program.
    Loader,
    /// The runtime, before running the loader.
    RuntimeBefore,
    /// The runtime, after the loader succeeded.
    RuntimeAfter,
}

/// What one plan operation became, and where its attributes and results
/// are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// `BPF_BTF_LOAD` by the loader.
    LoadBtf {
        /// The `BtfLoadAttr`.
        attr: BlobOff,
        /// The BTF object's fd.
        fd: CtxOff,
    },
    /// `BPF_MAP_CREATE` by the loader.
    CreateMap {
        /// The object's (full) name of the map.
        name: String,
        /// The `MapCreateAttr`.
        attr: BlobOff,
        /// The map's fd.
        fd: CtxOff,
        /// Whether the runtime hands the map out (`false` for inner map
        /// templates, closed after the load).
        handle: bool,
    },
    /// `BPF_MAP_UPDATE_ELEM` by the loader.
    UpdateElem {
        /// The map.
        map: Ref,
        /// The `MapElemAttr`.
        attr: BlobOff,
        /// Where the value the kernel is handed sits in the blob (`None`
        /// for a map without value bytes): a runtime may change it before
        /// running the loader, as light skeletons set `.rodata`.
        value: Option<BlobOff>,
        /// For the `.kconfig` map: the layout of its kconfig externs. The
        /// runtime computes each value from the kernel it runs on and
        /// writes them at `value` before the loader runs.
        kconfig: Vec<KconfigVar>,
    },
    /// `BPF_MAP_UPDATE_ELEM` by the loader of a map-in-map or prog array
    /// slot, whose value is another step's fd.
    SetFd {
        /// The map-in-map or prog array.
        map: Ref,
        /// The map or program whose fd goes into the slot.
        value: Ref,
        /// The `MapElemAttr`.
        attr: BlobOff,
    },
    /// `BPF_MAP_UPDATE_ELEM` by the loader of a struct_ops map's value,
    /// with its programs' fds written into their members.
    StructOpsValue {
        /// The struct_ops map.
        map: Ref,
        /// The `MapElemAttr`.
        attr: BlobOff,
    },
    /// `BPF_MAP_FREEZE` by the loader.
    Freeze {
        /// The map.
        map: Ref,
        /// The `MapElemAttr`.
        attr: BlobOff,
    },
    /// `BPF_PROG_LOAD` by the loader.
    LoadProg {
        /// The object's (full) name of the program.
        name: String,
        /// The `ProgLoadAttr`.
        attr: BlobOff,
        /// The program's fd.
        fd: CtxOff,
        /// Whether the plan gave an expected attach type (the attribute
        /// holds 0 both for none and for `BPF_CGROUP_INET_INGRESS`).
        attach_type_given: bool,
        /// How many CO-RE relocations the plan applied (for the trace:
        /// they are in the instructions already). Those it left to the
        /// kernel are in the attributes (`core_relos`).
        core_applied: usize,
        /// The plan's poisoned instructions and what each stood for (for
        /// the trace and for explaining a verifier refusal).
        poisoned: Vec<Poisoned>,
    },
    /// `bpf_btf_find_by_name_kind` by the loader.
    FindBtfId {
        /// The NUL-terminated name.
        name: BlobOff,
        /// The kind looked for.
        kind: Kind,
        /// The type id (0 when an optional lookup found nothing).
        id: CtxOff,
        /// The fd of the module BTF holding the type, or 0 (vmlinux, or
        /// nothing found).
        module_fd: CtxOff,
    },
    /// `bpf_kallsyms_lookup_name` by the loader.
    FindKsym {
        /// The NUL-terminated name.
        name: BlobOff,
        /// Eight bytes the helper writes the address to.
        addr: BlobOff,
    },
    /// `BPF_OBJ_GET` of a pinned map by the runtime, before the loader
    /// runs, checked against `expect` as the live executor does.
    ReuseMap {
        /// The pin path.
        path: String,
        /// The map the object defines (no BTF or inner map).
        expect: CreateMap,
        /// Where the runtime writes the map's fd.
        fd: CtxOff,
    },
    /// `BPF_OBJ_PIN` of a map by the runtime, after the loader ran.
    Pin {
        /// The map.
        map: Ref,
        /// The pin path.
        path: String,
    },
}

impl Step {
    /// Who executes the step.
    pub fn side(&self) -> Side {
        match self {
            Step::ReuseMap { .. } => Side::RuntimeBefore,
            Step::Pin { .. } => Side::RuntimeAfter,
            _ => Side::Loader,
        }
    }

    /// The plan mnemonic of the step (`map_create`...).
    pub fn mnemonic(&self) -> &'static str {
        match self {
            Step::LoadBtf { .. } => "btf_load",
            Step::CreateMap { .. } => "map_create",
            Step::UpdateElem { .. } => "map_update",
            Step::SetFd { .. } => "map_set_fd",
            Step::StructOpsValue { .. } => "struct_ops",
            Step::Freeze { .. } => "map_freeze",
            Step::LoadProg { .. } => "prog_load",
            Step::FindBtfId { .. } => "btf_find",
            Step::FindKsym { .. } => "ksym_find",
            Step::ReuseMap { .. } => "map_reuse",
            Step::Pin { .. } => "obj_pin",
        }
    }

    /// The `bpf()` command the loader issues for the step, if it is one.
    pub fn cmd(&self) -> Option<Cmd> {
        match self {
            Step::LoadBtf { .. } => Some(Cmd::BTF_LOAD),
            Step::CreateMap { .. } => Some(Cmd::MAP_CREATE),
            Step::UpdateElem { .. } | Step::SetFd { .. } | Step::StructOpsValue { .. } => {
                Some(Cmd::MAP_UPDATE_ELEM)
            }
            Step::Freeze { .. } => Some(Cmd::MAP_FREEZE),
            Step::LoadProg { .. } => Some(Cmd::PROG_LOAD),
            _ => None,
        }
    }

    /// Where the step's `bpf()` attributes are in the blob.
    pub fn attr(&self) -> Option<BlobOff> {
        match self {
            Step::LoadBtf { attr, .. }
            | Step::CreateMap { attr, .. }
            | Step::UpdateElem { attr, .. }
            | Step::SetFd { attr, .. }
            | Step::StructOpsValue { attr, .. }
            | Step::Freeze { attr, .. }
            | Step::LoadProg { attr, .. } => Some(*attr),
            _ => None,
        }
    }

    /// The context word holding the step's fd (a BTF object, map or
    /// program), if it makes one.
    pub fn fd_word(&self) -> Option<CtxOff> {
        match self {
            Step::LoadBtf { fd, .. }
            | Step::CreateMap { fd, .. }
            | Step::LoadProg { fd, .. }
            | Step::ReuseMap { fd, .. } => Some(*fd),
            _ => None,
        }
    }
}

impl Loader {
    /// Number of instructions of the loader program.
    pub fn insn_count(&self) -> usize {
        self.insns.len()
    }

    /// Size of the blob in bytes.
    pub fn blob_size(&self) -> usize {
        self.blob.bytes.len()
    }
}
