//! The info structs of `BPF_OBJ_GET_INFO_BY_FD`: `struct bpf_prog_info`,
//! `bpf_map_info`, `bpf_btf_info` and `bpf_link_info` (6.18).
//!
//! An older kernel fills only the prefix it knows and leaves the rest zero.

use crate::attr::obj_name_str;
use crate::enums::{AttachType, LinkType, MapType, PerfEventType, ProgType};
use crate::layout::{UapiStruct, uapi_struct};

uapi_struct! {
    /// `struct bpf_prog_info`.
    pub struct ProgInfo = "bpf_prog_info" {
        /// Program type.
        pub r#type: ProgType,
        /// Kernel-wide program id.
        pub id: u32,
        /// SHA-1 based tag of the instructions.
        pub tag: [u8; 8],
        /// Size of the JITed image.
        pub jited_prog_len: u32,
        /// Size of the translated instructions in bytes.
        pub xlated_prog_len: u32,
        /// Pointer to a buffer for the JITed image.
        pub jited_prog_insns: u64,
        /// Pointer to a buffer for the translated instructions.
        pub xlated_prog_insns: u64,
        /// Load time, nanoseconds since boot.
        pub load_time: u64,
        /// Uid of the loader.
        pub created_by_uid: u32,
        /// Number of maps the program uses.
        pub nr_map_ids: u32,
        /// Pointer to a buffer for the map ids.
        pub map_ids: u64,
        /// Program name, NUL-padded.
        pub name: [u8; 16],
        /// Offload device.
        pub ifindex: u32,
        /// Bit 0: `gpl_compatible` (a C bitfield).
        pub gpl_compatible: u32,
        /// Offload netns device.
        pub netns_dev: u64,
        /// Offload netns inode.
        pub netns_ino: u64,
        /// Number of JITed functions.
        pub nr_jited_ksyms: u32,
        /// Number of JITed function lengths.
        pub nr_jited_func_lens: u32,
        /// Pointer to a buffer for the JITed function addresses.
        pub jited_ksyms: u64,
        /// Pointer to a buffer for the JITed function lengths.
        pub jited_func_lens: u64,
        /// Id of the program's BTF.
        pub btf_id: u32,
        /// Size of one func_info record.
        pub func_info_rec_size: u32,
        /// Pointer to a buffer for func_info.
        pub func_info: u64,
        /// Number of func_info records.
        pub nr_func_info: u32,
        /// Number of line_info records.
        pub nr_line_info: u32,
        /// Pointer to a buffer for line_info.
        pub line_info: u64,
        /// Pointer to a buffer for JITed line info.
        pub jited_line_info: u64,
        /// Number of JITed line info records.
        pub nr_jited_line_info: u32,
        /// Size of one line_info record.
        pub line_info_rec_size: u32,
        /// Size of one JITed line info record.
        pub jited_line_info_rec_size: u32,
        /// Number of program tags (one per function).
        pub nr_prog_tags: u32,
        /// Pointer to a buffer for the tags.
        pub prog_tags: u64,
        /// Total run time (with stats enabled).
        pub run_time_ns: u64,
        /// Run count (with stats enabled).
        pub run_cnt: u64,
        /// Runs skipped because of recursion.
        pub recursion_misses: u64,
        /// Instructions the verifier processed.
        pub verified_insns: u32,
        /// Id of the BTF object of the attach target.
        pub attach_btf_obj_id: u32,
        /// BTF id of the attach target.
        pub attach_btf_id: u32,
        pub(crate) _pad0: [u8; 4],
    }
}

impl ProgInfo {
    /// The name as a string.
    pub fn name_str(&self) -> String {
        obj_name_str(&self.name)
    }

    /// Whether the kernel considers the license GPL-compatible.
    pub fn is_gpl_compatible(&self) -> bool {
        self.gpl_compatible & 1 != 0
    }
}

uapi_struct! {
    /// `struct bpf_map_info`.
    pub struct MapInfo = "bpf_map_info" {
        /// Map type.
        pub r#type: MapType,
        /// Kernel-wide map id.
        pub id: u32,
        /// Key size.
        pub key_size: u32,
        /// Value size.
        pub value_size: u32,
        /// Maximum number of entries.
        pub max_entries: u32,
        /// `BPF_F_*` flags.
        pub map_flags: u32,
        /// Map name, NUL-padded.
        pub name: [u8; 16],
        /// Offload device.
        pub ifindex: u32,
        /// vmlinux BTF id of a struct_ops value.
        pub btf_vmlinux_value_type_id: u32,
        /// Offload netns device.
        pub netns_dev: u64,
        /// Offload netns inode.
        pub netns_ino: u64,
        /// Id of the map's BTF.
        pub btf_id: u32,
        /// BTF type id of the key.
        pub btf_key_type_id: u32,
        /// BTF type id of the value.
        pub btf_value_type_id: u32,
        /// Id of the vmlinux BTF (struct_ops).
        pub btf_vmlinux_id: u32,
        /// `map_extra` given at creation.
        pub map_extra: u64,
        /// Pointer to a buffer for the map's hash (6.18).
        pub hash: u64,
        /// Size of that buffer.
        pub hash_size: u32,
        pub(crate) _pad0: [u8; 4],
    }
}

impl MapInfo {
    /// The name as a string.
    pub fn name_str(&self) -> String {
        obj_name_str(&self.name)
    }
}

uapi_struct! {
    /// `struct bpf_btf_info`.
    pub struct BtfInfo = "bpf_btf_info" {
        /// Pointer to a buffer for the BTF blob.
        pub btf: u64,
        /// Size of the BTF blob.
        pub btf_size: u32,
        /// Kernel-wide BTF id.
        pub id: u32,
        /// Pointer to a buffer for the name.
        pub name: u64,
        /// Size of the name buffer / of the name.
        pub name_len: u32,
        /// Non-zero for vmlinux and module BTF.
        pub kernel_btf: u32,
    }
}

/// Size of the per-type union of [`LinkInfo`].
pub const LINK_INFO_TAIL_LEN: usize = 48;

uapi_struct! {
    /// `struct bpf_link_info`. The per-type union is the raw `tail`; read
    /// it through the accessor that matches [`LinkInfo::link_type`].
    pub struct LinkInfo = "bpf_link_info" {
        /// Link type.
        pub r#type: LinkType,
        /// Kernel-wide link id.
        pub id: u32,
        /// Id of the attached program.
        pub prog_id: u32,
        pub(crate) _pad0: [u8; 4],
        /// The per-type union, raw.
        pub tail: [u8; LINK_INFO_TAIL_LEN],
    }
}

/// A variant of the union of [`LinkInfo`].
pub trait LinkInfoTail: UapiStruct {}

impl LinkInfo {
    /// The link type.
    pub fn link_type(&self) -> LinkType {
        self.r#type
    }

    /// Reads the union as variant `T`, whatever the link type.
    pub fn tail_as<T: LinkInfoTail>(&self) -> T {
        const { assert!(size_of::<T>() <= LINK_INFO_TAIL_LEN) };
        match T::read_from_prefix(&self.tail) {
            Ok((t, _)) => t,
            // The const assertion above makes the prefix always long enough.
            Err(_) => unreachable!("tail variant larger than the tail"),
        }
    }

    fn tail_if<T: LinkInfoTail>(&self, ty: LinkType) -> Option<T> {
        (self.r#type == ty).then(|| self.tail_as())
    }

    /// The raw tracepoint variant, for a `RAW_TRACEPOINT` link.
    pub fn raw_tracepoint(&self) -> Option<RawTracepointLinkInfo> {
        self.tail_if(LinkType::RAW_TRACEPOINT)
    }

    /// The tracing variant, for a `TRACING` link.
    pub fn tracing(&self) -> Option<TracingLinkInfo> {
        self.tail_if(LinkType::TRACING)
    }

    /// The cgroup variant, for a `CGROUP` link.
    pub fn cgroup(&self) -> Option<CgroupLinkInfo> {
        self.tail_if(LinkType::CGROUP)
    }

    /// The iterator variant, for an `ITER` link.
    pub fn iter(&self) -> Option<IterLinkInfo> {
        self.tail_if(LinkType::ITER)
    }

    /// The netns variant, for a `NETNS` link.
    pub fn netns(&self) -> Option<NetnsLinkInfo> {
        self.tail_if(LinkType::NETNS)
    }

    /// The XDP variant, for an `XDP` link.
    pub fn xdp(&self) -> Option<XdpLinkInfo> {
        self.tail_if(LinkType::XDP)
    }

    /// The struct_ops variant, for a `STRUCT_OPS` link.
    pub fn struct_ops(&self) -> Option<StructOpsLinkInfo> {
        self.tail_if(LinkType::STRUCT_OPS)
    }

    /// The netfilter variant, for a `NETFILTER` link.
    pub fn netfilter(&self) -> Option<NetfilterLinkInfo> {
        self.tail_if(LinkType::NETFILTER)
    }

    /// The perf event variant, for a `PERF_EVENT` link.
    pub fn perf_event(&self) -> Option<PerfEventLinkInfo> {
        self.tail_if(LinkType::PERF_EVENT)
    }

    /// The tcx variant, for a `TCX` link.
    pub fn tcx(&self) -> Option<TcxLinkInfo> {
        self.tail_if(LinkType::TCX)
    }

    /// The netkit variant (same layout as tcx), for a `NETKIT` link.
    pub fn netkit(&self) -> Option<TcxLinkInfo> {
        self.tail_if(LinkType::NETKIT)
    }

    /// The sockmap variant, for a `SOCKMAP` link.
    pub fn sockmap(&self) -> Option<SockmapLinkInfo> {
        self.tail_if(LinkType::SOCKMAP)
    }
}

uapi_struct! {
    /// `bpf_link_info.raw_tracepoint`.
    pub struct RawTracepointLinkInfo = "bpf_link_info.raw_tracepoint" {
        /// Pointer to a buffer for the tracepoint name.
        pub tp_name: u64,
        /// Size of that buffer / of the name, NUL included.
        pub tp_name_len: u32,
        pub(crate) _pad0: [u8; 4],
        /// The link's BPF cookie.
        pub cookie: u64,
    }
}

uapi_struct! {
    /// `bpf_link_info.tracing`.
    pub struct TracingLinkInfo = "bpf_link_info.tracing" {
        /// Attach type.
        pub attach_type: AttachType,
        /// Id of the target program or BTF object.
        pub target_obj_id: u32,
        /// BTF id of the target.
        pub target_btf_id: u32,
        pub(crate) _pad0: [u8; 4],
        /// The link's BPF cookie.
        pub cookie: u64,
    }
}

uapi_struct! {
    /// `bpf_link_info.cgroup`.
    pub struct CgroupLinkInfo = "bpf_link_info.cgroup" {
        /// Cgroup id.
        pub cgroup_id: u64,
        /// Attach type.
        pub attach_type: AttachType,
        pub(crate) _pad0: [u8; 4],
    }
}

uapi_struct! {
    /// `bpf_link_info.iter`.
    pub struct IterLinkInfo = "bpf_link_info.iter" {
        /// Pointer to a buffer for the target name.
        pub target_name: u64,
        /// Size of that buffer / of the name.
        pub target_name_len: u32,
        /// `map.map_id`: the map of a map element iterator.
        pub map_id: u32,
        /// The cgroup or task target, raw; see [`IterLinkInfo::cgroup`]
        /// and [`IterLinkInfo::task`].
        pub target: [u8; 16],
    }
}

uapi_struct! {
    /// `bpf_link_info.iter.cgroup`.
    pub struct IterCgroupInfo = "bpf_link_info.iter.cgroup" {
        /// Cgroup id.
        pub cgroup_id: u64,
        /// Walk order (`enum bpf_cgroup_iter_order`).
        pub order: u32,
        pub(crate) _pad0: [u8; 4],
    }
}

uapi_struct! {
    /// `bpf_link_info.iter.task`.
    pub struct IterTaskInfo = "bpf_link_info.iter.task" {
        /// Thread id (0: any).
        pub tid: u32,
        /// Process id (0: any).
        pub pid: u32,
    }
}

impl IterLinkInfo {
    /// The target as a cgroup iterator's.
    pub fn cgroup(&self) -> IterCgroupInfo {
        use zerocopy::FromBytes;
        IterCgroupInfo::read_from_bytes(&self.target[..]).unwrap_or_default()
    }

    /// The target as a task iterator's.
    pub fn task(&self) -> IterTaskInfo {
        use zerocopy::FromBytes;
        IterTaskInfo::read_from_prefix(&self.target[..])
            .map(|(t, _)| t)
            .unwrap_or_default()
    }
}

uapi_struct! {
    /// `bpf_link_info.netns`.
    pub struct NetnsLinkInfo = "bpf_link_info.netns" {
        /// Netns inode.
        pub netns_ino: u32,
        /// Attach type.
        pub attach_type: AttachType,
    }
}

uapi_struct! {
    /// `bpf_link_info.xdp`.
    pub struct XdpLinkInfo = "bpf_link_info.xdp" {
        /// Interface index.
        pub ifindex: u32,
    }
}

uapi_struct! {
    /// `bpf_link_info.struct_ops`.
    pub struct StructOpsLinkInfo = "bpf_link_info.struct_ops" {
        /// Id of the struct_ops map.
        pub map_id: u32,
    }
}

uapi_struct! {
    /// `bpf_link_info.netfilter`.
    pub struct NetfilterLinkInfo = "bpf_link_info.netfilter" {
        /// Protocol family.
        pub pf: u32,
        /// Hook number.
        pub hooknum: u32,
        /// Priority.
        pub priority: i32,
        /// Flags.
        pub flags: u32,
    }
}

uapi_struct! {
    /// `bpf_link_info.tcx` (and `.netkit`, same layout).
    pub struct TcxLinkInfo = "bpf_link_info.tcx" {
        /// Interface index.
        pub ifindex: u32,
        /// Attach type.
        pub attach_type: AttachType,
    }
}

uapi_struct! {
    /// `bpf_link_info.sockmap`.
    pub struct SockmapLinkInfo = "bpf_link_info.sockmap" {
        /// Id of the sockmap.
        pub map_id: u32,
        /// Attach type.
        pub attach_type: AttachType,
    }
}

uapi_struct! {
    /// `bpf_link_info.perf_event`: the event kind and its own union, raw.
    pub struct PerfEventLinkInfo = "bpf_link_info.perf_event" {
        /// Kind of perf event.
        pub r#type: PerfEventType,
        pub(crate) _pad0: [u8; 4],
        /// The per-kind union, raw; see the accessors.
        pub tail: [u8; 40],
    }
}

impl PerfEventLinkInfo {
    fn tail_if<T: UapiStruct>(&self, kinds: &[PerfEventType]) -> Option<T> {
        if !kinds.contains(&self.r#type) {
            return None;
        }
        T::read_from_prefix(&self.tail[..]).ok().map(|(t, _)| t)
    }

    /// The tracepoint variant.
    pub fn tracepoint(&self) -> Option<PerfEventTracepointInfo> {
        self.tail_if(&[PerfEventType::TRACEPOINT])
    }

    /// The kprobe/kretprobe variant.
    pub fn kprobe(&self) -> Option<PerfEventKprobeInfo> {
        self.tail_if(&[PerfEventType::KPROBE, PerfEventType::KRETPROBE])
    }

    /// The uprobe/uretprobe variant.
    pub fn uprobe(&self) -> Option<PerfEventUprobeInfo> {
        self.tail_if(&[PerfEventType::UPROBE, PerfEventType::URETPROBE])
    }

    /// The generic perf event variant.
    pub fn event(&self) -> Option<PerfEventEventInfo> {
        self.tail_if(&[PerfEventType::EVENT])
    }
}

uapi_struct! {
    /// `bpf_link_info.perf_event.tracepoint`.
    pub struct PerfEventTracepointInfo = "bpf_link_info.perf_event.tracepoint" {
        /// Pointer to a buffer for the tracepoint name.
        pub tp_name: u64,
        /// Size of that buffer / of the name.
        pub name_len: u32,
        pub(crate) _pad0: [u8; 4],
        /// The link's BPF cookie.
        pub cookie: u64,
    }
}

uapi_struct! {
    /// `bpf_link_info.perf_event.kprobe`.
    pub struct PerfEventKprobeInfo = "bpf_link_info.perf_event.kprobe" {
        /// Pointer to a buffer for the function name.
        pub func_name: u64,
        /// Size of that buffer / of the name.
        pub name_len: u32,
        /// Offset from the function.
        pub offset: u32,
        /// Probed address.
        pub addr: u64,
        /// Missed hits.
        pub missed: u64,
        /// The link's BPF cookie.
        pub cookie: u64,
    }
}

uapi_struct! {
    /// `bpf_link_info.perf_event.uprobe`.
    pub struct PerfEventUprobeInfo = "bpf_link_info.perf_event.uprobe" {
        /// Pointer to a buffer for the file name.
        pub file_name: u64,
        /// Size of that buffer / of the name.
        pub name_len: u32,
        /// Offset in the file.
        pub offset: u32,
        /// The link's BPF cookie.
        pub cookie: u64,
        /// Reference counter offset.
        pub ref_ctr_offset: u64,
    }
}

uapi_struct! {
    /// `bpf_link_info.perf_event.event`.
    pub struct PerfEventEventInfo = "bpf_link_info.perf_event.event" {
        /// `perf_event_attr.config`.
        pub config: u64,
        /// `perf_event_attr.type`.
        pub r#type: u32,
        pub(crate) _pad0: [u8; 4],
        /// The link's BPF cookie.
        pub cookie: u64,
    }
}

impl LinkInfoTail for RawTracepointLinkInfo {}
impl LinkInfoTail for TracingLinkInfo {}
impl LinkInfoTail for CgroupLinkInfo {}
impl LinkInfoTail for IterLinkInfo {}
impl LinkInfoTail for NetnsLinkInfo {}
impl LinkInfoTail for XdpLinkInfo {}
impl LinkInfoTail for StructOpsLinkInfo {}
impl LinkInfoTail for NetfilterLinkInfo {}
impl LinkInfoTail for TcxLinkInfo {}
impl LinkInfoTail for SockmapLinkInfo {}
impl LinkInfoTail for PerfEventLinkInfo {}

#[cfg(test)]
mod tests {
    use super::*;
    use zerocopy::IntoBytes;

    #[test]
    fn link_info_accessors_follow_the_type() {
        let mut li = LinkInfo {
            r#type: LinkType::PERF_EVENT,
            ..Default::default()
        };
        let pe = PerfEventLinkInfo {
            r#type: PerfEventType::TRACEPOINT,
            ..Default::default()
        };
        li.tail[..size_of::<PerfEventLinkInfo>()].copy_from_slice(pe.as_bytes());
        assert!(li.raw_tracepoint().is_none());
        let got = li.perf_event().expect("perf_event variant");
        assert_eq!(got.r#type, PerfEventType::TRACEPOINT);
        assert!(got.tracepoint().is_some());
        assert!(got.kprobe().is_none());

        let mut it = IterLinkInfo::default();
        it.target[..8].copy_from_slice(IterTaskInfo { tid: 1, pid: 2 }.as_bytes());
        assert_eq!(it.task(), IterTaskInfo { tid: 1, pid: 2 });
        let c = IterCgroupInfo {
            cgroup_id: 77,
            order: 3,
            ..Default::default()
        };
        it.target.copy_from_slice(c.as_bytes());
        assert_eq!(it.cgroup(), c);
    }

    #[test]
    fn prog_info_helpers() {
        let mut p = ProgInfo {
            gpl_compatible: 1,
            ..Default::default()
        };
        p.name[..3].copy_from_slice(b"xdp");
        assert!(p.is_gpl_compatible());
        assert_eq!(p.name_str(), "xdp");
    }
}
