//! The load plan: what the kernel must be asked, as data.
//!
//! Loading an object is split in two. *Deciding* what to ask the kernel —
//! which BTF to load, which maps to create with which attributes, which
//! instructions to load and where they refer to maps — is pure and produces
//! a [`Plan`]. *Asking* is done by an executor: the live executor of the
//! `oxbpf` crate makes the `bpf()` syscalls itself; the generated-loader
//! crate will compile the same plan into a BPF loader program.
//!
//! A plan is an ordered list of [`Op`]s. Operation *i* produces the kernel
//! object [`Ref`] `%i`; later operations name earlier results by `Ref`,
//! never by file descriptor, and instructions carry [`Patch`] points ("put
//! the fd of `%3` here"). A `Ref` is not a file descriptor and cannot be
//! used as one, so a plan cannot hold a placeholder fd by construction.
//!
//! ```
//! use oxbpf_asm::Insn;
//! use oxbpf_plan::{CreateMap, InsnIdx, LoadProg, Op, Patch, PatchKind, Plan};
//! use oxbpf_syscalls::{MapType, ProgType};
//!
//! let mut plan = Plan::new("example.bpf.o");
//! let map = plan.push(Op::CreateMap(CreateMap::new("counts", MapType::ARRAY, 4, 8, 1)));
//! let mut prog = LoadProg::new("count", ProgType::XDP, "GPL");
//! prog.insns.extend(Insn::ld_map_fd(1, 0));
//! prog.insns.extend([Insn::mov64_imm(0, 2), Insn::exit()]);
//! prog.patches.push(Patch { insn: InsnIdx(0), kind: PatchKind::MapFd(map) });
//! plan.push(Op::LoadProg(prog));
//! plan.validate()?;
//! assert!(plan.to_string().contains("%1 = prog_load"));
//! # Ok::<(), oxbpf_plan::Error>(())
//! ```
#![forbid(unsafe_code)]

mod display;

use oxbpf_asm::Insn;
pub use oxbpf_asm::InsnIdx;
pub use oxbpf_btf::CoreReloKind;
use oxbpf_syscalls::{AttachType, MapType, ProgType};

/// The result of plan operation `%n`: a kernel object the operation creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ref(pub u32);

impl Ref {
    /// Index of the producing operation in [`Plan::ops`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl core::fmt::Display for Ref {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "%{}", self.0)
    }
}

/// An ordered list of kernel operations; operation `i` produces `Ref(i)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// What the plan loads (for display).
    pub object: String,
    /// The operations, in execution order.
    pub ops: Vec<Op>,
}

/// One kernel operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// `BPF_BTF_LOAD`: produces a BTF object.
    LoadBtf(LoadBtf),
    /// `BPF_MAP_CREATE`: produces a map.
    CreateMap(CreateMap),
    /// `BPF_MAP_UPDATE_ELEM`: produces nothing that outlives it.
    UpdateElem(UpdateElem),
    /// `BPF_MAP_FREEZE`: produces nothing that outlives it.
    Freeze(Freeze),
    /// `BPF_PROG_LOAD`: produces a program.
    LoadProg(LoadProg),
    /// `BPF_OBJ_GET` of a pinned map, checked against the attributes the
    /// object wants: produces a map.
    ReuseMap(ReuseMap),
    /// `BPF_OBJ_PIN`: produces nothing, but leaves a file that an executor
    /// removes again if a later operation fails.
    Pin(Pin),
    /// Find a type by name and kind in the target kernel's BTF: produces a
    /// BTF type id (the live executor reads the kernel's BTF; a generated
    /// loader calls `bpf_btf_find_by_name_kind` on the target).
    FindBtfId(FindBtfId),
    /// `BPF_MAP_UPDATE_ELEM` whose value is the fd of another operation's
    /// map or program (map-in-map and prog array slots): produces nothing.
    SetFd(SetFd),
    /// `BPF_MAP_UPDATE_ELEM` of a struct_ops map's value, with the fds of
    /// its programs written into their members: registers the struct
    /// (unless the map is for a link). Produces nothing.
    StructOpsValue(StructOpsValue),
    /// Find a kernel symbol's address (`/proc/kallsyms` live,
    /// `bpf_kallsyms_lookup_name` in a generated loader): produces an
    /// address.
    FindKsym(FindKsym),
    /// Map an arena (`BPF_MAP_TYPE_ARENA`) into the loading process, which
    /// fixes the user address its pointers use (the kernel refuses programs
    /// using an arena without one), and write the image of the object's
    /// `__arena` globals into it. Produces nothing; the mapping stays with
    /// the loaded object.
    MapArena(MapArena),
}

impl Op {
    /// The operation's name as the plan prints it (`map_create`...).
    pub fn mnemonic(&self) -> &'static str {
        match self {
            Op::LoadBtf(_) => "btf_load",
            Op::CreateMap(_) => "map_create",
            Op::UpdateElem(_) => "map_update",
            Op::Freeze(_) => "map_freeze",
            Op::LoadProg(_) => "prog_load",
            Op::ReuseMap(_) => "map_reuse",
            Op::Pin(_) => "obj_pin",
            Op::FindBtfId(_) => "btf_find",
            Op::FindKsym(_) => "ksym_find",
            Op::SetFd(_) => "map_set_fd",
            Op::StructOpsValue(_) => "struct_ops",
            Op::MapArena(_) => "arena_map",
        }
    }

    /// What kind of kernel object the operation's `Ref` stands for.
    pub fn produces(&self) -> Produces {
        match self {
            Op::LoadBtf(_) => Produces::Btf,
            Op::CreateMap(_) | Op::ReuseMap(_) => Produces::Map,
            Op::LoadProg(_) => Produces::Prog,
            Op::FindBtfId(_) => Produces::BtfId,
            Op::FindKsym(_) => Produces::Address,
            Op::UpdateElem(_)
            | Op::Freeze(_)
            | Op::Pin(_)
            | Op::SetFd(_)
            | Op::StructOpsValue(_)
            | Op::MapArena(_) => Produces::Nothing,
        }
    }

    /// Every `Ref` the operation uses, with the kind it must be.
    pub fn uses(&self) -> Vec<(Ref, Produces)> {
        match self {
            Op::LoadBtf(_) | Op::ReuseMap(_) | Op::FindBtfId(_) | Op::FindKsym(_) => Vec::new(),
            Op::Pin(p) => vec![(p.object, Produces::Map)],
            Op::SetFd(set) => vec![(set.map, Produces::Map), (set.value, set.value_kind)],
            Op::StructOpsValue(v) => std::iter::once((v.map, Produces::Map))
                .chain(v.progs.iter().map(|&(_, r)| (r, Produces::Prog)))
                .collect(),
            Op::CreateMap(m) => {
                let mut v: Vec<_> = m.btf.map(|r| (r, Produces::Btf)).into_iter().collect();
                v.extend(m.inner_map.map(|r| (r, Produces::Map)));
                v.extend(m.btf_vmlinux_value_type.map(|r| (r, Produces::BtfId)));
                v
            }
            Op::UpdateElem(u) => vec![(u.map, Produces::Map)],
            Op::Freeze(f) => vec![(f.map, Produces::Map)],
            Op::MapArena(a) => vec![(a.map, Produces::Map)],
            Op::LoadProg(p) => {
                let mut v: Vec<_> = p.btf.map(|r| (r, Produces::Btf)).into_iter().collect();
                v.extend(p.attach_btf.map(|r| (r, Produces::BtfId)));
                v.extend(p.patches.iter().map(|patch| patch.kind.uses()));
                v
            }
        }
    }
}

/// Kind of kernel object an operation produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Produces {
    /// A BTF object.
    Btf,
    /// A map.
    Map,
    /// A program.
    Prog,
    /// A type id in the target kernel's BTF.
    BtfId,
    /// A kernel address.
    Address,
    /// Nothing: the operation changes an existing object.
    Nothing,
}

/// Load BTF into the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadBtf {
    /// The BTF blob, native byte order, ready for the kernel.
    pub data: Vec<u8>,
}

/// Create a map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateMap {
    /// The object's name for the map (full length: `counts`, `.bss`).
    pub name: String,
    /// The name given to the kernel (at most 15 bytes).
    pub kernel_name: String,
    /// Map type.
    pub map_type: MapType,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// Maximum entries.
    pub max_entries: u32,
    /// `BPF_F_*` flags.
    pub map_flags: u32,
    /// NUMA node.
    pub numa_node: u32,
    /// `map_extra`.
    pub map_extra: u64,
    /// BTF object the key and value types refer to.
    pub btf: Option<Ref>,
    /// BTF type id of the key (0: none).
    pub btf_key_type_id: u32,
    /// BTF type id of the value (0: none).
    pub btf_value_type_id: u32,
    /// Inner map template of a map-in-map.
    pub inner_map: Option<Ref>,
    /// For a struct_ops map: the kernel's value type
    /// (`bpf_struct_ops_<name>`), found in its BTF.
    pub btf_vmlinux_value_type: Option<Ref>,
}

impl CreateMap {
    /// A map without BTF, flags or inner map.
    pub fn new(
        name: &str,
        map_type: MapType,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
    ) -> Self {
        CreateMap {
            name: name.to_owned(),
            kernel_name: kernel_object_name(name),
            map_type,
            key_size,
            value_size,
            max_entries,
            map_flags: 0,
            numa_node: 0,
            map_extra: 0,
            btf: None,
            btf_key_type_id: 0,
            btf_value_type_id: 0,
            inner_map: None,
            btf_vmlinux_value_type: None,
        }
    }
}

/// Write one element of a map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpdateElem {
    /// The map.
    pub map: Ref,
    /// Key bytes.
    pub key: Vec<u8>,
    /// Value bytes.
    pub value: Vec<u8>,
    /// `BPF_ANY`, `BPF_NOEXIST`, `BPF_EXIST`...
    pub flags: u64,
    /// For the `.kconfig` map: the kconfig externs laid out in `value`.
    /// Their values are facts of the kernel the object runs on, so an
    /// executor that runs on the target computes them there and writes
    /// them over `value` (the light-skeleton runtime does, before it runs
    /// a generated loader); `value` holds what the planner computed for
    /// its own target (zeros for a plan made for a generated loader).
    /// Empty for every other element.
    pub kconfig: Vec<KconfigVar>,
}

impl UpdateElem {
    /// An element write with no kconfig layout.
    pub fn new(map: Ref, key: Vec<u8>, value: Vec<u8>, flags: u64) -> UpdateElem {
        UpdateElem {
            map,
            key,
            value,
            flags,
            kconfig: Vec::new(),
        }
    }
}

/// One kconfig extern (`extern int CONFIG_HZ __kconfig;`): where its
/// value goes in the `.kconfig` map and how it is encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KconfigVar {
    /// `CONFIG_*`, or one of the values a loader computes
    /// (`LINUX_KERNEL_VERSION`, `LINUX_HAS_SYSCALL_WRAPPER`,
    /// `LINUX_HAS_BPF_COOKIE`).
    pub name: String,
    /// Byte offset in the map value.
    pub offset: u32,
    /// Size in bytes.
    pub size: u32,
    /// How the configuration's text becomes bytes.
    pub kind: KconfigKind,
    /// `__weak`: zero when the target does not set it, instead of an error.
    pub weak: bool,
}

/// How a kconfig value is encoded, from the extern's declared C type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KconfigKind {
    /// `bool`: `y` is 1, `n` is 0 (1 byte).
    Bool,
    /// `char`: the character `y`, `n` or `m` (1 byte).
    Char,
    /// `enum libbpf_tristate`: `y`, `n`, `m` as the enum's values.
    Tristate {
        /// Whether the enum is signed.
        signed: bool,
        /// `TRI_NO`.
        no: i64,
        /// `TRI_YES`.
        yes: i64,
        /// `TRI_MODULE`.
        module: i64,
    },
    /// An integer of `size` bytes (1, 2, 4, 8), range-checked.
    Int {
        /// Whether it is signed.
        signed: bool,
    },
    /// `char[size]`: a quoted string, NUL-terminated.
    Str,
}

impl KconfigVar {
    /// Why the variable's size does not suit its kind, if it does not.
    pub fn check(&self) -> Result<(), &'static str> {
        let ok = match self.kind {
            KconfigKind::Bool | KconfigKind::Char => self.size == 1,
            KconfigKind::Tristate { .. } | KconfigKind::Int { .. } => {
                matches!(self.size, 1 | 2 | 4 | 8)
            }
            KconfigKind::Str => self.size >= 1,
        };
        if !ok {
            return Err("a size its kind cannot have");
        }
        if self.name.is_empty() {
            return Err("an empty name");
        }
        Ok(())
    }
}

/// Find a type of the target kernel's BTF by name and kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FindBtfId {
    /// Type name (`btf_trace_sys_enter`, `bpf_iter_task`).
    pub name: String,
    /// Its kind.
    pub kind: oxbpf_btf::Kind,
    /// A `__weak` extern: not finding it gives "absent" instead of an error.
    pub optional: bool,
}

/// The value of a struct_ops map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StructOpsValue {
    /// The struct_ops map.
    pub map: Ref,
    /// The value (`bpf_struct_ops_<name>`), laid out for the target kernel.
    pub value: Vec<u8>,
    /// Byte offsets in `value` where a program's fd goes (8 bytes each).
    pub progs: Vec<(u32, Ref)>,
}

/// Store another operation's fd in a map slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetFd {
    /// The map-in-map or prog array.
    pub map: Ref,
    /// The slot (a `u32` key).
    pub key: u32,
    /// The map or program whose fd goes there.
    pub value: Ref,
    /// [`Produces::Map`] for map-in-maps, [`Produces::Prog`] for prog arrays.
    pub value_kind: Produces,
}

/// Find the address of a kernel symbol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FindKsym {
    /// Symbol name.
    pub name: String,
    /// A `__weak` extern: not finding it gives address 0.
    pub optional: bool,
}

/// Open a map pinned by an earlier load and check that it is what the
/// object would have created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReuseMap {
    /// The pin path.
    pub path: String,
    /// The map the object defines: the pinned one must have the same type,
    /// key and value sizes, maximum entries and flags.
    pub expect: CreateMap,
}

/// Pin a map at a bpffs path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pin {
    /// The map.
    pub object: Ref,
    /// The pin path.
    pub path: String,
}

/// Freeze a map against writes from user space.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Freeze {
    /// The map.
    pub map: Ref,
}

/// Map an arena into the loading process and write its globals' image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapArena {
    /// The arena map.
    pub map: Ref,
    /// Byte offset of the globals' image in the arena (libbpf's layout:
    /// the last pages, leaving the first ones to `bpf_arena_alloc_pages`).
    pub offset: u64,
    /// The image of the `__arena` globals (empty when there are none).
    pub data: Vec<u8>,
}

/// Load a program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadProg {
    /// The object's name for the program (its symbol, full length).
    pub name: String,
    /// The name given to the kernel (at most 15 bytes).
    pub kernel_name: String,
    /// Program type.
    pub prog_type: ProgType,
    /// Expected attach type.
    pub expected_attach_type: Option<AttachType>,
    /// `BPF_F_*` program flags (sleepable, XDP frags...).
    pub prog_flags: u32,
    /// Instructions, with patch points not yet filled in.
    pub insns: Vec<Insn>,
    /// License string.
    pub license: String,
    /// `kern_version` (only checked by very old kernels for kprobes).
    pub kern_version: u32,
    /// BTF object the func_info and line_info refer to.
    pub btf: Option<Ref>,
    /// `bpf_func_info` records, by instruction.
    pub func_info: Vec<FuncInfo>,
    /// `bpf_line_info` records, by instruction.
    pub line_info: Vec<LineInfo>,
    /// The kernel type the program attaches to (`attach_btf_id`), if any.
    pub attach_btf: Option<Ref>,
    /// Where instructions need the result of another operation.
    pub patches: Vec<Patch>,
    /// CO-RE relocations the planner applied to `insns` against its
    /// target's BTF (a count, for the trace).
    pub core_applied: usize,
    /// CO-RE relocations the planner could not resolve: their instructions
    /// are poisoned, and this says what failed if the verifier reaches one.
    pub poisoned: Vec<Poisoned>,
    /// CO-RE relocations left to the kernel (`core_relos` of
    /// `BPF_PROG_LOAD`, Linux 5.17): it applies them against its own BTF
    /// (and its modules') when it loads the program, with `btf` as the
    /// local types. `insns` hold the compiler's values at these sites.
    pub core_relos: Vec<CoreRelo>,
}

/// A CO-RE relocation for the kernel to apply (`struct bpf_core_relo`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoreRelo {
    /// The instruction to relocate (the kernel takes its byte offset).
    pub insn: InsnIdx,
    /// The root type, an id of the program's BTF.
    pub type_id: u32,
    /// The access string (`0:1:2`), an offset in the BTF's strings.
    pub access_str_off: u32,
    /// What to compute.
    pub kind: CoreReloKind,
}

/// Size of one `struct bpf_core_relo` record.
pub const CORE_RELO_SIZE: u32 = 16;

impl CoreRelo {
    /// The records as the kernel reads them (native byte order,
    /// [`CORE_RELO_SIZE`] bytes each); `None` if an instruction's byte
    /// offset does not fit 32 bits.
    pub fn encode_all(relos: &[CoreRelo]) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(relos.len() * CORE_RELO_SIZE as usize);
        for r in relos {
            let insn_off = u32::try_from(r.insn.0).ok()?.checked_mul(8)?;
            for v in [insn_off, r.type_id, r.access_str_off, r.kind.to_u32()] {
                out.extend_from_slice(&v.to_ne_bytes());
            }
        }
        Some(out)
    }
}

/// A poisoned instruction and the CO-RE relocation it stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Poisoned {
    /// First poisoned slot.
    pub insn: InsnIdx,
    /// Number of slots (2 for an `ld_imm64`).
    pub slots: u8,
    /// What failed (`CO-RE relocation #3 (byte_off, root type ...)`).
    pub what: String,
}

impl LoadProg {
    /// A program with no instructions, BTF or patches yet.
    pub fn new(name: &str, prog_type: ProgType, license: &str) -> Self {
        LoadProg {
            name: name.to_owned(),
            kernel_name: kernel_object_name(name),
            prog_type,
            expected_attach_type: None,
            prog_flags: 0,
            insns: Vec::new(),
            license: license.to_owned(),
            kern_version: 0,
            btf: None,
            func_info: Vec::new(),
            line_info: Vec::new(),
            attach_btf: None,
            patches: Vec::new(),
            core_applied: 0,
            poisoned: Vec::new(),
            core_relos: Vec::new(),
        }
    }
}

/// A `bpf_func_info` record: a function starts at `insn` with BTF type `type_id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FuncInfo {
    /// First instruction of the function.
    pub insn: InsnIdx,
    /// BTF id of its FUNC type.
    pub type_id: u32,
}

/// A `bpf_line_info` record: instruction `insn` comes from this source line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineInfo {
    /// The instruction.
    pub insn: InsnIdx,
    /// File name (offset in the BTF string table).
    pub file_name_off: u32,
    /// Source line text (offset in the BTF string table).
    pub line_off: u32,
    /// Line number << 10 | column.
    pub line_col: u32,
}

/// A place in a program's instructions that needs another operation's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Patch {
    /// The (first slot of the) instruction to patch.
    pub insn: InsnIdx,
    /// What goes there.
    pub kind: PatchKind,
}

/// What a patch point receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchKind {
    /// `ld_imm64` of a map: the map's fd (or fd_array index).
    MapFd(Ref),
    /// `ld_imm64` of a map value's address: the map and a byte offset.
    MapValue {
        /// The map.
        map: Ref,
        /// Offset into the map's value.
        offset: u32,
    },
    /// `ld_imm64` of a kernel variable or function by BTF id
    /// (`BPF_PSEUDO_BTF_ID`); 0 when an optional lookup found nothing.
    BtfId(Ref),
    /// `ld_imm64` of a kernel address (a typeless ksym).
    Address(Ref),
    /// A `call` of a kernel function by BTF id (`BPF_PSEUDO_KFUNC_CALL`);
    /// when an optional lookup found nothing, the call is poisoned (a call
    /// of helper [`KFUNC_POISON`]) so that the verifier refuses it if it is
    /// reachable.
    KfuncCall(Ref),
}

/// The helper id a call to an absent weak kfunc becomes, in every
/// executor: no helper has it, so the verifier refuses the call if it can
/// be reached (programs guard such calls with `bpf_ksym_exists()`, which
/// reads 0).
pub const KFUNC_POISON: i32 = 0x0bad_f00d;

impl PatchKind {
    /// The `Ref` the patch needs and what it must produce.
    pub fn uses(&self) -> (Ref, Produces) {
        match *self {
            PatchKind::MapFd(r) | PatchKind::MapValue { map: r, .. } => (r, Produces::Map),
            PatchKind::BtfId(r) | PatchKind::KfuncCall(r) => (r, Produces::BtfId),
            PatchKind::Address(r) => (r, Produces::Address),
        }
    }

    /// Whether the patched instruction is a call (else an `ld_imm64`).
    pub fn is_call(&self) -> bool {
        matches!(self, PatchKind::KfuncCall(_))
    }
}

/// The name the kernel keeps for a map or program: at most
/// `BPF_OBJ_NAME_LEN - 1` (15) bytes of `[A-Za-z0-9_.]`, other bytes
/// dropped, cut at a character boundary.
pub fn kernel_object_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if !(c.is_ascii_alphanumeric() || c == '_' || c == '.') {
            continue;
        }
        if out.len() == 15 {
            break;
        }
        out.push(c);
    }
    out
}

/// A plan that does not hold together.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// An operation uses a `Ref` that is not produced before it.
    #[error("operation %{op} ({mnemonic}) uses {used}, which is not an earlier operation")]
    ForwardRef {
        /// Index of the operation.
        op: usize,
        /// Its mnemonic.
        mnemonic: &'static str,
        /// The bad reference.
        used: Ref,
    },
    /// An operation uses a `Ref` of the wrong kind (a program where a map is needed...).
    #[error(
        "operation %{op} ({mnemonic}) uses {used} as a {expected:?}, but it produces {actual:?}"
    )]
    WrongKind {
        /// Index of the operation.
        op: usize,
        /// Its mnemonic.
        mnemonic: &'static str,
        /// The bad reference.
        used: Ref,
        /// What the use needs.
        expected: Produces,
        /// What the referenced operation produces.
        actual: Produces,
    },
    /// A struct_ops program slot lies outside the value.
    #[error(
        "operation %{op} (struct_ops): slot at byte {offset} for {prog} is outside the {len}-byte value"
    )]
    BadStructOps {
        /// Index of the operation.
        op: usize,
        /// The slot's offset.
        offset: u32,
        /// The value's length.
        len: usize,
        /// The program.
        prog: Ref,
    },
    /// A program's license contains a NUL byte (it is passed as a C string).
    #[error("operation %{op} ({name}): license contains a NUL byte")]
    BadLicense {
        /// Index of the operation.
        op: usize,
        /// Program name.
        name: String,
    },
    /// A kernel CO-RE relocation the kernel would refuse or ignore.
    #[error("operation %{op} ({name}): CO-RE relocation at {insn}: {reason}")]
    BadCoreRelo {
        /// Index of the operation.
        op: usize,
        /// Program name.
        name: String,
        /// The relocated instruction.
        insn: InsnIdx,
        /// What is wrong.
        reason: &'static str,
    },
    /// A kconfig variable that does not fit its element's value.
    #[error("operation %{op} (map_update): kconfig variable {name}: {reason}")]
    BadKconfig {
        /// Index of the operation.
        op: usize,
        /// The variable.
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A patch point is outside the program or not on the instruction it needs.
    #[error("operation %{op} ({name}): patch at {insn}: {reason}")]
    BadPatch {
        /// Index of the operation.
        op: usize,
        /// Program name.
        name: String,
        /// The patched instruction.
        insn: InsnIdx,
        /// What is wrong.
        reason: &'static str,
    },
}

impl Plan {
    /// An empty plan for the named object.
    pub fn new(object: &str) -> Self {
        Plan {
            object: object.to_owned(),
            ops: Vec::new(),
        }
    }

    /// Appends an operation and returns the `Ref` of its result.
    pub fn push(&mut self, op: Op) -> Ref {
        let r = Ref(u32::try_from(self.ops.len()).expect("fewer than 2^32 operations"));
        self.ops.push(op);
        r
    }

    /// The operation that produced `r`.
    pub fn op(&self, r: Ref) -> Option<&Op> {
        self.ops.get(r.index())
    }

    /// Checks that every `Ref` names an earlier operation of the right kind
    /// and that every patch point is an `ld_imm64` inside its program.
    /// Executors call this before running a plan.
    pub fn validate(&self) -> Result<(), Error> {
        for (i, op) in self.ops.iter().enumerate() {
            for (used, expected) in op.uses() {
                let mnemonic = op.mnemonic();
                let Some(target) = self.ops.get(used.index()).filter(|_| used.index() < i) else {
                    return Err(Error::ForwardRef {
                        op: i,
                        mnemonic,
                        used,
                    });
                };
                let actual = target.produces();
                if actual != expected {
                    return Err(Error::WrongKind {
                        op: i,
                        mnemonic,
                        used,
                        expected,
                        actual,
                    });
                }
            }
            if let Op::StructOpsValue(v) = op {
                for &(at, r) in &v.progs {
                    if at as usize + 8 > v.value.len() {
                        return Err(Error::BadStructOps {
                            op: i,
                            offset: at,
                            len: v.value.len(),
                            prog: r,
                        });
                    }
                }
            }
            if let Op::SetFd(set) = op {
                if !matches!(set.value_kind, Produces::Map | Produces::Prog) {
                    return Err(Error::WrongKind {
                        op: i,
                        mnemonic: op.mnemonic(),
                        used: set.value,
                        expected: Produces::Map,
                        actual: set.value_kind,
                    });
                }
            }
            if let Op::UpdateElem(u) = op {
                for var in &u.kconfig {
                    let bad = |reason| Error::BadKconfig {
                        op: i,
                        name: var.name.clone(),
                        reason,
                    };
                    var.check().map_err(bad)?;
                    if u64::from(var.offset) + u64::from(var.size) > u.value.len() as u64 {
                        return Err(bad("past the end of the value"));
                    }
                }
            }
            if let Op::LoadProg(p) = op {
                validate_core_relos(i, p)?;
                if p.license.contains('\0') {
                    return Err(Error::BadLicense {
                        op: i,
                        name: p.name.clone(),
                    });
                }
                for patch in &p.patches {
                    let bad = |reason| Error::BadPatch {
                        op: i,
                        name: p.name.clone(),
                        insn: patch.insn,
                        reason,
                    };
                    let Some(insn) = p.insns.get(patch.insn.0) else {
                        return Err(bad("past the last instruction"));
                    };
                    if patch.kind.is_call() {
                        if insn.code != 0x85 {
                            return Err(bad("not a call"));
                        }
                    } else if !insn.is_ld_imm64() || patch.insn.0 + 1 >= p.insns.len() {
                        return Err(bad("not a complete ld_imm64"));
                    }
                }
            }
        }
        Ok(())
    }
}

/// The kernel applies `core_relos` only to programs loaded with BTF and
/// func_info or line_info, at instructions inside the program; a record on
/// a patch point would fight the patch.
fn validate_core_relos(op: usize, p: &LoadProg) -> Result<(), Error> {
    for r in &p.core_relos {
        let bad = |reason| Error::BadCoreRelo {
            op,
            name: p.name.clone(),
            insn: r.insn,
            reason,
        };
        if p.btf.is_none() || (p.func_info.is_empty() && p.line_info.is_empty()) {
            return Err(bad(
                "the program has no BTF func_info or line_info, without which the kernel \
                 ignores core_relos",
            ));
        }
        if r.insn.0 >= p.insns.len() || r.insn.0 > (u32::MAX / 8) as usize {
            return Err(bad("past the last instruction"));
        }
        if p.patches.iter().any(|patch| {
            patch.insn == r.insn || (!patch.kind.is_call() && patch.insn.0 + 1 == r.insn.0)
        }) {
            return Err(bad("on a patch point"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prog_with_patch(kind: PatchKind) -> LoadProg {
        let mut prog = LoadProg::new("p", ProgType::XDP, "GPL");
        prog.insns.extend(Insn::ld_map_fd(1, 0));
        prog.insns.extend([Insn::mov64_imm(0, 2), Insn::exit()]);
        prog.patches.push(Patch {
            insn: InsnIdx(0),
            kind,
        });
        prog
    }

    #[test]
    fn valid_plan_validates() {
        let mut plan = Plan::new("t");
        let btf = plan.push(Op::LoadBtf(LoadBtf {
            data: vec![1, 2, 3],
        }));
        let mut m = CreateMap::new("m", MapType::HASH, 4, 8, 16);
        m.btf = Some(btf);
        let map = plan.push(Op::CreateMap(m));
        plan.push(Op::UpdateElem(UpdateElem::new(
            map,
            vec![0; 4],
            vec![0; 8],
            0,
        )));
        plan.push(Op::Freeze(Freeze { map }));
        plan.push(Op::LoadProg(prog_with_patch(PatchKind::MapValue {
            map,
            offset: 4,
        })));
        assert_eq!(plan.validate(), Ok(()));
    }

    #[test]
    fn forward_and_self_refs_are_refused() {
        let mut plan = Plan::new("t");
        plan.push(Op::Freeze(Freeze { map: Ref(0) }));
        assert!(matches!(
            plan.validate(),
            Err(Error::ForwardRef { op: 0, .. })
        ));
        let mut plan = Plan::new("t");
        plan.push(Op::LoadProg(prog_with_patch(PatchKind::MapFd(Ref(7)))));
        assert!(matches!(
            plan.validate(),
            Err(Error::ForwardRef { used: Ref(7), .. })
        ));
    }

    #[test]
    fn wrong_kind_is_refused() {
        let mut plan = Plan::new("t");
        let btf = plan.push(Op::LoadBtf(LoadBtf { data: vec![] }));
        plan.push(Op::LoadProg(prog_with_patch(PatchKind::MapFd(btf))));
        assert!(matches!(
            plan.validate(),
            Err(Error::WrongKind {
                expected: Produces::Map,
                actual: Produces::Btf,
                ..
            })
        ));
    }

    #[test]
    fn patch_must_sit_on_ld_imm64() {
        let mut plan = Plan::new("t");
        let map = plan.push(Op::CreateMap(CreateMap::new("m", MapType::ARRAY, 4, 4, 1)));
        let mut prog = prog_with_patch(PatchKind::MapFd(map));
        prog.patches[0].insn = InsnIdx(2);
        plan.push(Op::LoadProg(prog.clone()));
        assert!(matches!(
            plan.validate(),
            Err(Error::BadPatch {
                reason: "not a complete ld_imm64",
                ..
            })
        ));
        prog.patches[0].insn = InsnIdx(9);
        plan.ops[1] = Op::LoadProg(prog);
        assert!(matches!(
            plan.validate(),
            Err(Error::BadPatch {
                reason: "past the last instruction",
                ..
            })
        ));
    }

    #[test]
    fn license_with_nul_is_refused() {
        let mut plan = Plan::new("t");
        plan.push(Op::LoadProg(LoadProg::new("p", ProgType::XDP, "GPL\0x")));
        assert!(matches!(
            plan.validate(),
            Err(Error::BadLicense { op: 0, .. })
        ));
    }

    #[test]
    fn pins_must_name_maps() {
        let mut plan = Plan::new("t");
        let expect = CreateMap::new("m", MapType::HASH, 4, 8, 1);
        let map = plan.push(Op::ReuseMap(ReuseMap {
            path: "/sys/fs/bpf/m".into(),
            expect,
        }));
        plan.push(Op::Pin(Pin {
            object: map,
            path: "/sys/fs/bpf/m2".into(),
        }));
        assert_eq!(plan.validate(), Ok(()));
        let btf = plan.push(Op::LoadBtf(LoadBtf { data: vec![] }));
        plan.push(Op::Pin(Pin {
            object: btf,
            path: "/x".into(),
        }));
        assert!(matches!(
            plan.validate(),
            Err(Error::WrongKind { op: 3, .. })
        ));
    }

    fn kconfig_var(offset: u32, size: u32, kind: KconfigKind) -> KconfigVar {
        KconfigVar {
            name: "CONFIG_X".into(),
            offset,
            size,
            kind,
            weak: false,
        }
    }

    #[test]
    fn kconfig_variables_fit_their_value_and_kind() {
        let mut plan = Plan::new("t");
        let map = plan.push(Op::CreateMap(CreateMap::new("k", MapType::ARRAY, 4, 8, 1)));
        let mut u = UpdateElem::new(map, vec![0; 4], vec![0; 8], 0);
        u.kconfig = vec![
            kconfig_var(0, 4, KconfigKind::Int { signed: true }),
            kconfig_var(4, 1, KconfigKind::Bool),
            kconfig_var(5, 3, KconfigKind::Str),
        ];
        plan.push(Op::UpdateElem(u.clone()));
        assert_eq!(plan.validate(), Ok(()));
        for (var, reason) in [
            (
                kconfig_var(6, 4, KconfigKind::Int { signed: false }),
                "past the end of the value",
            ),
            (
                kconfig_var(0, 2, KconfigKind::Bool),
                "a size its kind cannot have",
            ),
            (
                kconfig_var(0, 3, KconfigKind::Int { signed: false }),
                "a size its kind cannot have",
            ),
        ] {
            let mut bad = u.clone();
            bad.kconfig.push(var);
            plan.ops[1] = Op::UpdateElem(bad);
            assert_eq!(
                plan.validate(),
                Err(Error::BadKconfig {
                    op: 1,
                    name: "CONFIG_X".into(),
                    reason
                })
            );
        }
    }

    #[test]
    fn kernel_core_relos_need_btf_info_and_a_free_instruction() {
        let mut plan = Plan::new("t");
        let btf = plan.push(Op::LoadBtf(LoadBtf { data: vec![] }));
        let map = plan.push(Op::CreateMap(CreateMap::new("m", MapType::ARRAY, 4, 4, 1)));
        let mut p = prog_with_patch(PatchKind::MapFd(map));
        let relo = |i| CoreRelo {
            insn: InsnIdx(i),
            type_id: 3,
            access_str_off: 10,
            kind: CoreReloKind::FieldByteOffset,
        };
        p.core_relos.push(relo(2));
        plan.push(Op::LoadProg(p.clone()));
        let reason = |plan: &Plan| match plan.validate() {
            Err(Error::BadCoreRelo { reason, .. }) => reason,
            other => panic!("{other:?}"),
        };
        assert!(reason(&plan).contains("func_info"));
        p.btf = Some(btf);
        p.func_info.push(FuncInfo {
            insn: InsnIdx(0),
            type_id: 1,
        });
        plan.ops[2] = Op::LoadProg(p.clone());
        assert_eq!(plan.validate(), Ok(()));
        for (i, want) in [
            (1, "on a patch point"),
            (0, "on a patch point"),
            (4, "past the last instruction"),
        ] {
            let mut q = p.clone();
            q.core_relos = vec![relo(i)];
            plan.ops[2] = Op::LoadProg(q);
            assert_eq!(reason(&plan), want);
        }
        let bytes = CoreRelo::encode_all(&[relo(2)]).unwrap();
        assert_eq!(bytes.len(), CORE_RELO_SIZE as usize);
        assert_eq!(bytes[..4], 16u32.to_ne_bytes());
        assert_eq!(bytes[12..], 0u32.to_ne_bytes());
    }

    #[test]
    fn kernel_names_are_cut_and_cleaned() {
        assert_eq!(kernel_object_name("counts"), "counts");
        assert_eq!(
            kernel_object_name("a_very_long_map_name_indeed"),
            "a_very_long_map"
        );
        assert_eq!(kernel_object_name("syscount.bss"), "syscount.bss");
        assert_eq!(kernel_object_name("sk-lookup/ok!"), "sklookupok");
    }
}
