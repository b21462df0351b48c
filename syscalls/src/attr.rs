//! `union bpf_attr`, one named struct per command.
//!
//! Each struct mirrors the anonymous (or named) struct of the kernel's
//! `union bpf_attr` (6.18) that its command reads, field for field, with
//! explicit `_pad*` fields wherever C would leave a hole. Fields that are a
//! union in C carry the union's first name; the alternatives are noted in
//! the field's documentation. Pointer fields are `u64` user addresses.
//!
//! The whole struct is passed to `bpf()` with its own size: a kernel that
//! is older than 6.18 ignores the tail it does not know as long as it is
//! zero, and it is zero unless the caller sets a field the old kernel
//! cannot honour (in which case the kernel answers `E2BIG`).

use crate::enums::{AttachType, MapType, ProgType};
use crate::layout::uapi_struct;

/// Length of the kernel's object names (`BPF_OBJ_NAME_LEN`), NUL included.
pub const OBJ_NAME_LEN: usize = 16;

/// Encodes an object name for `map_name`/`prog_name`: at most 15 bytes,
/// NUL-terminated and NUL-padded. Longer names are cut (the kernel keeps
/// 15 bytes too); the kernel accepts only ASCII letters, digits, `_` and
/// `.` and rejects anything else with `EINVAL`.
pub fn obj_name(name: &str) -> [u8; OBJ_NAME_LEN] {
    let mut out = [0u8; OBJ_NAME_LEN];
    let n = name.len().min(OBJ_NAME_LEN - 1);
    out[..n].copy_from_slice(&name.as_bytes()[..n]);
    out
}

/// Decodes a NUL-padded object name as the kernel returns it in info
/// structs (lossy on invalid UTF-8).
pub fn obj_name_str(raw: &[u8]) -> String {
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..end]).into_owned()
}

/// Map creation flags (`BPF_F_*` of `map_flags`).
pub mod map_flags {
    /// `BPF_F_NO_PREALLOC`.
    pub const NO_PREALLOC: u32 = 1 << 0;
    /// `BPF_F_NO_COMMON_LRU`.
    pub const NO_COMMON_LRU: u32 = 1 << 1;
    /// `BPF_F_NUMA_NODE`.
    pub const NUMA_NODE: u32 = 1 << 2;
    /// `BPF_F_RDONLY`.
    pub const RDONLY: u32 = 1 << 3;
    /// `BPF_F_WRONLY`.
    pub const WRONLY: u32 = 1 << 4;
    /// `BPF_F_STACK_BUILD_ID`.
    pub const STACK_BUILD_ID: u32 = 1 << 5;
    /// `BPF_F_ZERO_SEED`.
    pub const ZERO_SEED: u32 = 1 << 6;
    /// `BPF_F_RDONLY_PROG`.
    pub const RDONLY_PROG: u32 = 1 << 7;
    /// `BPF_F_WRONLY_PROG`.
    pub const WRONLY_PROG: u32 = 1 << 8;
    /// `BPF_F_CLONE`.
    pub const CLONE: u32 = 1 << 9;
    /// `BPF_F_MMAPABLE`.
    pub const MMAPABLE: u32 = 1 << 10;
    /// `BPF_F_PRESERVE_ELEMS`.
    pub const PRESERVE_ELEMS: u32 = 1 << 11;
    /// `BPF_F_INNER_MAP`.
    pub const INNER_MAP: u32 = 1 << 12;
    /// `BPF_F_LINK`.
    pub const LINK: u32 = 1 << 13;
    /// `BPF_F_PATH_FD`.
    pub const PATH_FD: u32 = 1 << 14;
    /// `BPF_F_VTYPE_BTF_OBJ_FD`.
    pub const VTYPE_BTF_OBJ_FD: u32 = 1 << 15;
    /// `BPF_F_TOKEN_FD`.
    pub const TOKEN_FD: u32 = 1 << 16;
    /// `BPF_F_SEGV_ON_FAULT`.
    pub const SEGV_ON_FAULT: u32 = 1 << 17;
    /// `BPF_F_NO_USER_CONV`.
    pub const NO_USER_CONV: u32 = 1 << 18;
}

/// Flags of `BPF_MAP_UPDATE_ELEM` and `BPF_MAP_LOOKUP_ELEM`.
pub mod elem_flags {
    /// `BPF_ANY`: create or update.
    pub const ANY: u64 = 0;
    /// `BPF_NOEXIST`: create only.
    pub const NOEXIST: u64 = 1;
    /// `BPF_EXIST`: update only.
    pub const EXIST: u64 = 2;
    /// `BPF_F_LOCK`: take the value's `bpf_spin_lock`.
    pub const LOCK: u64 = 4;
}

/// Program load flags (`BPF_F_*` of `prog_flags`).
pub mod prog_flags {
    /// `BPF_F_STRICT_ALIGNMENT`.
    pub const STRICT_ALIGNMENT: u32 = 1 << 0;
    /// `BPF_F_ANY_ALIGNMENT`.
    pub const ANY_ALIGNMENT: u32 = 1 << 1;
    /// `BPF_F_TEST_RND_HI32`.
    pub const TEST_RND_HI32: u32 = 1 << 2;
    /// `BPF_F_TEST_STATE_FREQ`.
    pub const TEST_STATE_FREQ: u32 = 1 << 3;
    /// `BPF_F_SLEEPABLE`.
    pub const SLEEPABLE: u32 = 1 << 4;
    /// `BPF_F_XDP_HAS_FRAGS`.
    pub const XDP_HAS_FRAGS: u32 = 1 << 5;
    /// `BPF_F_XDP_DEV_BOUND_ONLY`.
    pub const XDP_DEV_BOUND_ONLY: u32 = 1 << 6;
    /// `BPF_F_TEST_REG_INVARIANTS`.
    pub const TEST_REG_INVARIANTS: u32 = 1 << 7;
    /// `BPF_F_TOKEN_FD`: `prog_token_fd` is set.
    pub const TOKEN_FD: u32 = 1 << 16;
}

/// Verifier log levels (`log_level`), combinable.
pub mod log_level {
    /// `BPF_LOG_LEVEL1`: the path that failed, instruction by instruction.
    pub const LEVEL1: u32 = 1;
    /// `BPF_LOG_LEVEL2`: every explored state (large).
    pub const LEVEL2: u32 = 2;
    /// `BPF_LOG_STATS`: summary statistics only.
    pub const STATS: u32 = 4;
    /// `BPF_LOG_FIXED`: keep the head of the log instead of the tail when
    /// the buffer is too small.
    pub const FIXED: u32 = 8;
}

/// Flags of `BPF_OBJ_GET` (`file_flags`).
pub mod file_flags {
    /// `BPF_F_RDONLY`.
    pub const RDONLY: u32 = 1 << 3;
    /// `BPF_F_WRONLY`.
    pub const WRONLY: u32 = 1 << 4;
}

uapi_struct! {
    /// `BPF_MAP_CREATE`.
    pub struct MapCreateAttr = "bpf_attr:map_type" {
        /// The map type.
        pub map_type: MapType,
        /// Key size in bytes.
        pub key_size: u32,
        /// Value size in bytes.
        pub value_size: u32,
        /// Maximum number of entries.
        pub max_entries: u32,
        /// `BPF_F_*` flags, see [`map_flags`].
        pub map_flags: u32,
        /// fd of the template inner map (map-in-map types).
        pub inner_map_fd: u32,
        /// NUMA node (with `BPF_F_NUMA_NODE`).
        pub numa_node: u32,
        /// NUL-terminated name, see [`obj_name`].
        pub map_name: [u8; 16],
        /// Device to offload to.
        pub map_ifindex: u32,
        /// fd of the BTF describing key and value.
        pub btf_fd: u32,
        /// BTF type id of the key.
        pub btf_key_type_id: u32,
        /// BTF type id of the value.
        pub btf_value_type_id: u32,
        /// vmlinux BTF type id of a struct_ops value.
        pub btf_vmlinux_value_type_id: u32,
        /// Type-specific extra (bloom filter hash count, arena address).
        pub map_extra: u64,
        /// fd of the module BTF of a struct_ops value type (with
        /// `BPF_F_VTYPE_BTF_OBJ_FD`).
        pub value_type_btf_obj_fd: i32,
        /// BPF token fd (with `BPF_F_TOKEN_FD`).
        pub map_token_fd: i32,
        /// Pointer to the hash of the only program allowed to use the map.
        pub excl_prog_hash: u64,
        /// Size of that hash.
        pub excl_prog_hash_size: u32,
        pub(crate) _pad0: [u8; 4],
    }
}

impl MapCreateAttr {
    /// A map of `map_type` with the given sizes, everything else zero.
    pub fn new(map_type: MapType, key_size: u32, value_size: u32, max_entries: u32) -> Self {
        MapCreateAttr {
            map_type,
            key_size,
            value_size,
            max_entries,
            ..Default::default()
        }
    }
}

uapi_struct! {
    /// `BPF_MAP_LOOKUP_ELEM`, `BPF_MAP_UPDATE_ELEM`, `BPF_MAP_DELETE_ELEM`,
    /// `BPF_MAP_GET_NEXT_KEY`, `BPF_MAP_LOOKUP_AND_DELETE_ELEM` and
    /// `BPF_MAP_FREEZE` (which reads only `map_fd`).
    pub struct MapElemAttr = "bpf_attr:map_fd" {
        /// The map.
        pub map_fd: u32,
        pub(crate) _pad0: [u8; 4],
        /// Pointer to the key.
        pub key: u64,
        /// Pointer to the value (C union with `next_key`, the output of
        /// `BPF_MAP_GET_NEXT_KEY`).
        pub value: u64,
        /// `BPF_ANY`, `BPF_EXIST`... see [`elem_flags`].
        pub flags: u64,
    }
}

uapi_struct! {
    /// `BPF_PROG_LOAD`.
    pub struct ProgLoadAttr = "bpf_attr:prog_type" {
        /// The program type.
        pub prog_type: ProgType,
        /// Number of 8-byte instruction slots.
        pub insn_cnt: u32,
        /// Pointer to the instructions.
        pub insns: u64,
        /// Pointer to the NUL-terminated license string.
        pub license: u64,
        /// Verifier log level, see [`log_level`].
        pub log_level: u32,
        /// Size of the log buffer.
        pub log_size: u32,
        /// Pointer to the log buffer.
        pub log_buf: u64,
        /// `LINUX_VERSION_CODE` (checked for kprobes by old kernels only).
        pub kern_version: u32,
        /// `BPF_F_*` flags, see [`prog_flags`].
        pub prog_flags: u32,
        /// NUL-terminated name, see [`obj_name`].
        pub prog_name: [u8; 16],
        /// Device to offload to or bind to.
        pub prog_ifindex: u32,
        /// Attach type the program will be used with.
        pub expected_attach_type: AttachType,
        /// fd of the program's BTF.
        pub prog_btf_fd: u32,
        /// Size of one `bpf_func_info` record.
        pub func_info_rec_size: u32,
        /// Pointer to the `bpf_func_info` records.
        pub func_info: u64,
        /// Number of `bpf_func_info` records.
        pub func_info_cnt: u32,
        /// Size of one `bpf_line_info` record.
        pub line_info_rec_size: u32,
        /// Pointer to the `bpf_line_info` records.
        pub line_info: u64,
        /// Number of `bpf_line_info` records.
        pub line_info_cnt: u32,
        /// BTF id of the attach target (tracing, LSM, struct_ops, ext).
        pub attach_btf_id: u32,
        /// fd of the target program (C union with `attach_btf_obj_fd`, the
        /// fd of the target's module BTF).
        pub attach_prog_fd: u32,
        /// Number of `bpf_core_relo` records.
        pub core_relo_cnt: u32,
        /// Pointer to an array of fds for `BPF_PSEUDO_MAP_IDX` and kfunc
        /// module BTFs.
        pub fd_array: u64,
        /// Pointer to `bpf_core_relo` records for the kernel to apply.
        pub core_relos: u64,
        /// Size of one `bpf_core_relo` record.
        pub core_relo_rec_size: u32,
        /// Output: size the whole log needed, NUL included (6.4+).
        pub log_true_size: u32,
        /// BPF token fd (with `BPF_F_TOKEN_FD`).
        pub prog_token_fd: i32,
        /// Number of fds in `fd_array` to bind to the program (6.14+).
        pub fd_array_cnt: u32,
        /// Pointer to a signature of the instructions.
        pub signature: u64,
        /// Size of the signature.
        pub signature_size: u32,
        /// Keyring to verify the signature with.
        pub keyring_id: i32,
    }
}

uapi_struct! {
    /// `BPF_OBJ_PIN` and `BPF_OBJ_GET`.
    pub struct ObjPinAttr = "bpf_attr:pathname" {
        /// Pointer to the NUL-terminated path.
        pub pathname: u64,
        /// The object to pin (`BPF_OBJ_PIN`; zero for `BPF_OBJ_GET`).
        pub bpf_fd: u32,
        /// `BPF_F_RDONLY`/`BPF_F_WRONLY` for `BPF_OBJ_GET`,
        /// `BPF_F_PATH_FD` for both.
        pub file_flags: u32,
        /// Directory fd `pathname` is relative to (with `BPF_F_PATH_FD`).
        pub path_fd: i32,
        pub(crate) _pad0: [u8; 4],
    }
}

uapi_struct! {
    /// `BPF_PROG_TEST_RUN`.
    pub struct TestRunAttr = "bpf_attr.test" {
        /// The program.
        pub prog_fd: u32,
        /// Output: the program's return value.
        pub retval: u32,
        /// Size of the input packet.
        pub data_size_in: u32,
        /// In: capacity of `data_out`; out: size of the output packet.
        pub data_size_out: u32,
        /// Pointer to the input packet.
        pub data_in: u64,
        /// Pointer to the output packet buffer.
        pub data_out: u64,
        /// Number of runs.
        pub repeat: u32,
        /// Output: average run time in nanoseconds.
        pub duration: u32,
        /// Size of the input context.
        pub ctx_size_in: u32,
        /// In: capacity of `ctx_out`; out: size of the output context.
        pub ctx_size_out: u32,
        /// Pointer to the input context.
        pub ctx_in: u64,
        /// Pointer to the output context buffer.
        pub ctx_out: u64,
        /// `BPF_F_TEST_*` flags.
        pub flags: u32,
        /// CPU to run on (with `BPF_F_TEST_RUN_ON_CPU`).
        pub cpu: u32,
        /// Batch size for XDP live frames.
        pub batch_size: u32,
        pub(crate) _pad0: [u8; 4],
    }
}

uapi_struct! {
    /// `BPF_{PROG,MAP,BTF,LINK}_GET_NEXT_ID` and
    /// `BPF_{PROG,MAP,BTF,LINK}_GET_FD_BY_ID`.
    pub struct GetNextIdAttr = "bpf_attr:start_id" {
        /// The id to start after (C union with `prog_id`, `map_id`,
        /// `btf_id`, `link_id`: the id to open for `GET_FD_BY_ID`).
        pub start_id: u32,
        /// Output: the next id.
        pub next_id: u32,
        /// `BPF_F_RDONLY`/`BPF_F_WRONLY` for `BPF_MAP_GET_FD_BY_ID`.
        pub open_flags: u32,
        /// BPF token fd.
        pub fd_by_id_token_fd: i32,
    }
}

/// `BPF_*_GET_FD_BY_ID` uses the same struct as `GET_NEXT_ID`.
pub type GetFdByIdAttr = GetNextIdAttr;

uapi_struct! {
    /// `BPF_OBJ_GET_INFO_BY_FD`.
    pub struct InfoByFdAttr = "bpf_attr.info" {
        /// The object.
        pub bpf_fd: u32,
        /// In: size of the info buffer; out: size the kernel filled.
        pub info_len: u32,
        /// Pointer to a `bpf_{prog,map,btf,link}_info`.
        pub info: u64,
    }
}

uapi_struct! {
    /// `BPF_RAW_TRACEPOINT_OPEN`.
    pub struct RawTracepointOpenAttr = "bpf_attr.raw_tracepoint" {
        /// Pointer to the NUL-terminated tracepoint name (zero for
        /// `tp_btf` programs, whose target is their `attach_btf_id`).
        pub name: u64,
        /// The program.
        pub prog_fd: u32,
        pub(crate) _pad0: [u8; 4],
        /// BPF cookie (6.10+).
        pub cookie: u64,
    }
}

uapi_struct! {
    /// `BPF_BTF_LOAD`.
    pub struct BtfLoadAttr = "bpf_attr:btf_log_buf" {
        /// Pointer to the BTF blob.
        pub btf: u64,
        /// Pointer to the log buffer.
        pub btf_log_buf: u64,
        /// Size of the BTF blob.
        pub btf_size: u32,
        /// Size of the log buffer.
        pub btf_log_size: u32,
        /// Log level.
        pub btf_log_level: u32,
        /// Output: size the whole log needed (6.4+).
        pub btf_log_true_size: u32,
        /// `BPF_F_TOKEN_FD`.
        pub btf_flags: u32,
        /// BPF token fd.
        pub btf_token_fd: i32,
    }
}

/// Size of the per-attach-kind tail of [`LinkCreateAttr`].
pub const LINK_CREATE_TAIL_LEN: usize = 48;

uapi_struct! {
    /// `BPF_LINK_CREATE`.
    ///
    /// The kernel's struct ends in a union whose variant depends on the
    /// attach type; here it is the raw `tail`, written with
    /// [`LinkCreateAttr::set_tail`] from one of the `LinkCreate*` structs
    /// or [`LinkCreateAttr::set_target_btf_id`].
    pub struct LinkCreateAttr = "bpf_attr.link_create" {
        /// The program (C union with `map_fd`, for struct_ops links).
        pub prog_fd: u32,
        /// fd of the attach target: perf event, cgroup... (C union with
        /// `target_ifindex`, for XDP, tcx and netkit).
        pub target_fd: u32,
        /// The attach type.
        pub attach_type: AttachType,
        /// Attach flags.
        pub flags: u32,
        /// The per-kind union, raw.
        pub tail: [u8; LINK_CREATE_TAIL_LEN],
    }
}

/// A variant of the tail union of [`LinkCreateAttr`].
pub trait LinkCreateTail: crate::layout::UapiStruct {}

impl LinkCreateAttr {
    /// Writes `tail` at the start of the per-kind union and zeroes the rest.
    pub fn set_tail<T: LinkCreateTail>(&mut self, tail: &T) {
        const { assert!(size_of::<T>() <= LINK_CREATE_TAIL_LEN) };
        self.tail = [0; LINK_CREATE_TAIL_LEN];
        self.tail[..size_of::<T>()].copy_from_slice(tail.as_bytes());
    }

    /// Reads the union as variant `T`.
    pub fn tail<T: LinkCreateTail>(&self) -> T {
        const { assert!(size_of::<T>() <= LINK_CREATE_TAIL_LEN) };
        match T::read_from_prefix(&self.tail) {
            Ok((t, _)) => t,
            // The const assertion above makes the prefix always long enough.
            Err(_) => unreachable!("tail variant larger than the tail"),
        }
    }

    /// Sets the `target_btf_id` variant (freplace/tracing targets given by
    /// BTF id) and zeroes the rest of the union.
    pub fn set_target_btf_id(&mut self, id: u32) {
        self.tail = [0; LINK_CREATE_TAIL_LEN];
        self.tail[..4].copy_from_slice(&id.to_ne_bytes());
    }
}

uapi_struct! {
    /// `link_create.perf_event`: attach to a perf event
    /// (`BPF_PERF_EVENT`).
    pub struct LinkCreatePerfEvent = "bpf_attr.link_create.perf_event" {
        /// Value of `bpf_get_attach_cookie()`.
        pub bpf_cookie: u64,
    }
}

uapi_struct! {
    /// `link_create.tracing`: fentry/fexit/fmod_ret/LSM/freplace with a
    /// cookie.
    pub struct LinkCreateTracing = "bpf_attr.link_create.tracing" {
        /// BTF id of the target function.
        pub target_btf_id: u32,
        pub(crate) _pad0: [u8; 4],
        /// Value of `bpf_get_attach_cookie()`.
        pub cookie: u64,
    }
}

uapi_struct! {
    /// `link_create.kprobe_multi`.
    pub struct LinkCreateKprobeMulti = "bpf_attr.link_create.kprobe_multi" {
        /// `BPF_F_KPROBE_MULTI_RETURN`.
        pub flags: u32,
        /// Number of entries in `syms`/`addrs`/`cookies`.
        pub cnt: u32,
        /// Pointer to an array of pointers to symbol names.
        pub syms: u64,
        /// Pointer to an array of addresses.
        pub addrs: u64,
        /// Pointer to an array of cookies.
        pub cookies: u64,
    }
}

uapi_struct! {
    /// `link_create.netfilter`.
    pub struct LinkCreateNetfilter = "bpf_attr.link_create.netfilter" {
        /// Protocol family (`NFPROTO_*`).
        pub pf: u32,
        /// Hook number (`NF_INET_*`).
        pub hooknum: u32,
        /// Hook priority.
        pub priority: i32,
        /// `BPF_F_NETFILTER_IP_DEFRAG`.
        pub flags: u32,
    }
}

uapi_struct! {
    /// `link_create.tcx`, `link_create.netkit` and `link_create.cgroup`
    /// (identical): where to insert in a multi-program attach point.
    pub struct LinkCreateRelative = "bpf_attr.link_create.tcx" {
        /// fd of the program or link to insert relative to (C union with
        /// `relative_id`, with `BPF_F_ID`).
        pub relative_fd: u32,
        pub(crate) _pad0: [u8; 4],
        /// Fail with `ESTALE` unless the attach point is at this revision
        /// (0: don't check).
        pub expected_revision: u64,
    }
}

uapi_struct! {
    /// `link_create.uprobe_multi`.
    pub struct LinkCreateUprobeMulti = "bpf_attr.link_create.uprobe_multi" {
        /// Pointer to the NUL-terminated binary path.
        pub path: u64,
        /// Pointer to an array of file offsets.
        pub offsets: u64,
        /// Pointer to an array of reference counter offsets (or 0).
        pub ref_ctr_offsets: u64,
        /// Pointer to an array of cookies (or 0).
        pub cookies: u64,
        /// Number of entries.
        pub cnt: u32,
        /// `BPF_F_UPROBE_MULTI_RETURN`.
        pub flags: u32,
        /// Only this process (0: all).
        pub pid: u32,
        pub(crate) _pad0: [u8; 4],
    }
}

uapi_struct! {
    /// The anonymous iterator variant of `link_create`.
    pub struct LinkCreateIter = "bpf_attr.link_create:iter_info" {
        /// Pointer to a `union bpf_iter_link_info`.
        pub iter_info: u64,
        /// Its size.
        pub iter_info_len: u32,
        pub(crate) _pad0: [u8; 4],
    }
}

impl LinkCreateTail for LinkCreatePerfEvent {}
impl LinkCreateTail for LinkCreateTracing {}
impl LinkCreateTail for LinkCreateKprobeMulti {}
impl LinkCreateTail for LinkCreateNetfilter {}
impl LinkCreateTail for LinkCreateRelative {}
impl LinkCreateTail for LinkCreateUprobeMulti {}
impl LinkCreateTail for LinkCreateIter {}

uapi_struct! {
    /// `BPF_LINK_UPDATE`.
    pub struct LinkUpdateAttr = "bpf_attr.link_update" {
        /// The link.
        pub link_fd: u32,
        /// The new program (C union with `new_map_fd`).
        pub new_prog_fd: u32,
        /// `BPF_F_REPLACE`: only if the current program is `old_prog_fd`.
        pub flags: u32,
        /// The expected current program (C union with `old_map_fd`).
        pub old_prog_fd: u32,
    }
}

uapi_struct! {
    /// `BPF_LINK_DETACH`.
    pub struct LinkDetachAttr = "bpf_attr.link_detach" {
        /// The link.
        pub link_fd: u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn obj_name_truncates_and_terminates() {
        assert_eq!(&obj_name("abc")[..4], b"abc\0");
        let long = obj_name("a_very_long_program_name");
        assert_eq!(&long[..15], b"a_very_long_pro");
        assert_eq!(long[15], 0);
        assert_eq!(obj_name_str(&long), "a_very_long_pro");
        assert_eq!(obj_name_str(b"xy"), "xy");
    }

    #[test]
    fn link_tail_round_trips() {
        let mut a = LinkCreateAttr::default();
        let t = LinkCreateRelative {
            relative_fd: 7,
            expected_revision: 9,
            ..Default::default()
        };
        a.set_tail(&t);
        assert_eq!(a.tail::<LinkCreateRelative>(), t);
        a.set_target_btf_id(0x1234);
        assert_eq!(a.tail::<LinkCreateTracing>().target_btf_id, 0x1234);
        assert_eq!(a.tail::<LinkCreateTracing>().cookie, 0);
    }
}
