//! Compiles a load [`Plan`](oxbpf_plan::Plan) into a BPF *loader
//! program* and a data blob — the light skeleton's generated mode — and
//! decodes a loader back into its plan (`oxbpf explain`).
//!
//! # Place in the pipeline
//!
//! ```text
//! Plan ──generate──▶ Loader { insns, blob, steps } ──to_bytes──▶ loader file
//!   ▲                   │
//!   └──────decode───────┘          oxbpf::LightSkeleton runs it
//! ```
//!
//! The plan is the same one the live executor runs; this crate is the
//! other executor, ahead of time. It is pure: it makes no system call and
//! reads no file, so a loader built on one machine is the same on any.
//!
//! # What a loader is
//!
//! A `BPF_PROG_TYPE_SYSCALL`, sleepable program that performs every plan
//! step it can in plan order, with `bpf_sys_bpf` (`BTF_LOAD`,
//! `MAP_CREATE`, `MAP_UPDATE_ELEM`, `MAP_FREEZE`, `PROG_LOAD`),
//! `bpf_btf_find_by_name_kind` (kernel types, attach targets, typed ksyms
//! and kfuncs, resolved on the target, module BTF included) and
//! `bpf_kallsyms_lookup_name` (typeless ksyms). The kernel runs it once
//! through `BPF_PROG_TEST_RUN`. Everything it needs is in its blob, one
//! array map value per [`Blob`] chunk: each step's attribute struct (an
//! `oxbpf-syscalls` type, zeroed whole), instructions, BTF, strings,
//! initial values. At run time it writes into the attributes only what the
//! target decides: blob addresses and the fds and ids of earlier results.
//!
//! Results live in 4-byte words of the **context** ([`ctx`]), not on the
//! 512-byte stack: the number of maps, programs and lookups is limited
//! only by the 32 KiB a context offset can reach (8190 results) and by the
//! kernel's 1M-instruction limit. The word area doubles as the `fd_array`
//! of every program load, so a program's map references are
//! `BPF_PSEUDO_MAP_IDX(_VALUE)` instructions in the blob that need no
//! patching; only lookups (kfunc calls, ksyms) are written into
//! instructions at run time.
//!
//! Pinning is not in `bpf_sys_bpf`'s reach: the runtime opens maps pinned
//! by an earlier load before the run (their fds go into their words; the
//! loader never closes them) and pins after it ([`Side`] of each
//! [`Step`]).
//!
//! # Facts of the target kernel
//!
//! A loader is built on one machine and run on others, so what depends on
//! the kernel it runs on is decided there, not baked in:
//!
//! * **kconfig values**: the `.kconfig` map's `map_update` step carries
//!   the layout of the object's kconfig externs (name, offset, size, C
//!   type); the runtime computes each value from the running kernel's
//!   configuration and version and writes it into the blob before the run;
//! * **CO-RE relocations**: a plan may leave them to the kernel
//!   (`LoadProg::core_relos`); the loader hands the `bpf_core_relo`
//!   records to `BPF_PROG_LOAD` (`core_relos`, from the blob), and the
//!   kernel relocates against its own BTF and its modules';
//! * kernel types, kfuncs, ksyms and attach targets are looked up by the
//!   loader on the target (`bpf_btf_find_by_name_kind`,
//!   `bpf_kallsyms_lookup_name`).
//!
//! # Errors
//!
//! When step *k* fails, the loader jumps to one error handler that closes
//! every fd it created — each word tested first, so never -1, never an fd
//! it did not create, each once — and returns `k << 12 | errno`
//! ([`Failure`]); `k` and `errno` are also in the context. Anything a
//! loader cannot express is [`Error::Unsupported`] at generation time.
//!
//! # Minimum kernel
//!
//! A loader records the oldest kernel it runs on ([`Loader::min_kernel`],
//! the newest of [`min_kernel_features`]): 5.14 for syscall programs,
//! `bpf_sys_bpf`, `bpf_btf_find_by_name_kind`, `bpf_sys_close` and
//! `fd_array`; 5.16 when it uses `bpf_kallsyms_lookup_name`; 5.17 when it
//! hands CO-RE relocations to the kernel (`core_relos` of `BPF_PROG_LOAD`
//! and the kernel's CO-RE code came with 5.17); 6.0 when one of them is a
//! `bpf_core_type_matches()` (`TYPE_MATCHES`, whose kernel side came with
//! 6.0). The runtime checks it before anything else.
//!
//! # Explaining a loader
//!
//! [`decode`] rebuilds the plan from the instructions and the blob — the
//! descriptor only supplies names the kernel never sees and the runtime's
//! steps — and refuses any instruction shape, attribute byte or error
//! handler that is not what [`generate`] makes. So `explain` shows what a
//! loader does, including a changed blob.
//!
//! ```
//! use oxbpf_asm::Insn;
//! use oxbpf_gen_loader::{GenOptions, Loader, decode, generate};
//! use oxbpf_plan::{CreateMap, InsnIdx, LoadProg, Op, Patch, PatchKind, Plan};
//! use oxbpf_syscalls::{MapType, ProgType};
//!
//! let mut plan = Plan::new("example.bpf.o");
//! let map = plan.push(Op::CreateMap(CreateMap::new("counts", MapType::ARRAY, 4, 8, 1)));
//! let mut prog = LoadProg::new("count", ProgType::XDP, "GPL");
//! prog.insns.extend(Insn::ld_imm64(1, 0, 0));
//! prog.insns.extend([Insn::mov64_imm(0, 2), Insn::exit()]);
//! prog.patches.push(Patch { insn: InsnIdx(0), kind: PatchKind::MapFd(map) });
//! plan.push(Op::LoadProg(prog));
//!
//! let loader = generate(&plan, &GenOptions::default())?;
//! assert_eq!(loader.min_kernel.to_string(), "5.14");
//! let file = loader.to_bytes();
//! let read = Loader::from_bytes(&file)?;
//! assert_eq!(decode(&read)?, plan);
//! # Ok::<(), oxbpf_gen_loader::Error>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

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
