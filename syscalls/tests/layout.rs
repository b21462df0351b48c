//! Layout of every UAPI struct of the crate against the running kernel's
//! own definition, read from `/sys/kernel/btf/vmlinux` with `oxbpf-btf`.
//!
//! For each struct: its size equals the kernel's; every named field has
//! the offset and size of the kernel member of the same name (looking
//! through anonymous structs and unions); and every kernel member lies
//! inside one of our named fields, so no field was forgotten into padding.

use std::path::Path;

use oxbpf_btf::{Btf, Kind, Type, TypeId};
use oxbpf_syscalls::attr::*;
use oxbpf_syscalls::info::*;
use oxbpf_syscalls::{FieldLayout, PerfEventAttr, UapiStruct};

/// A member of a kernel struct, offsets relative to the struct checked.
#[derive(Clone, Debug)]
struct KMember {
    name: String,
    /// Offset in bits.
    bit_offset: u64,
    /// Size in bits (the bitfield width for bitfields).
    bits: u64,
    /// Size in bytes of the member's type (the storage unit for bitfields).
    type_size: u64,
    bitfield: bool,
    ty: TypeId,
}

struct Kernel {
    btf: Btf<'static>,
}

impl Kernel {
    fn load() -> Kernel {
        let btf =
            Btf::from_file(Path::new("/sys/kernel/btf/vmlinux")).expect("reading vmlinux BTF");
        Kernel { btf }
    }

    fn composite(&self, id: TypeId) -> Option<oxbpf_btf::Composite<'_>> {
        let id = self.btf.skip_mods_and_typedefs(id).ok()?;
        match self.btf.type_by_id(id).ok()? {
            Type::Struct(c) | Type::Union(c) => Some(c),
            _ => None,
        }
    }

    fn is_struct(&self, id: TypeId) -> bool {
        let id = self.btf.skip_mods_and_typedefs(id).unwrap();
        matches!(self.btf.type_by_id(id).unwrap(), Type::Struct(_))
    }

    fn size(&self, id: TypeId) -> u64 {
        self.btf.resolve_size(id).expect("member size") as u64
    }

    /// Direct members of `id`, offsets relative to `base` bits.
    fn direct(&self, id: TypeId, base: u64) -> Vec<KMember> {
        let c = self.composite(id).expect("a struct or union");
        c.members()
            .map(|m| {
                let type_size = self.size(m.ty);
                let bitfield = m.bitfield_size != 0;
                KMember {
                    name: self.btf.string_at(m.name_off).unwrap().to_string(),
                    bit_offset: base + m.bit_offset as u64,
                    bits: if bitfield {
                        m.bitfield_size as u64
                    } else {
                        type_size * 8
                    },
                    type_size,
                    bitfield,
                    ty: m.ty,
                }
            })
            .collect()
    }

    /// Named members of `id`, looking through anonymous members.
    fn flat(&self, id: TypeId, base: u64) -> Vec<KMember> {
        let mut out = Vec::new();
        for m in self.direct(id, base) {
            if m.name.is_empty() && self.composite(m.ty).is_some() {
                out.extend(self.flat(m.ty, m.bit_offset));
            } else {
                out.push(m);
            }
        }
        out
    }

    /// Anonymous composite members reachable through anonymous members, in
    /// depth-first order (outermost first).
    fn anon(&self, id: TypeId, base: u64) -> Vec<KMember> {
        let mut out = Vec::new();
        for m in self.direct(id, base) {
            if m.name.is_empty() && self.composite(m.ty).is_some() {
                out.push(m.clone());
                out.extend(self.anon(m.ty, m.bit_offset));
            }
        }
        out
    }

    /// Resolves a name such as `bpf_prog_info`, `bpf_attr.test`,
    /// `bpf_attr:prog_type` or `bpf_attr.link_create:iter_info` to a
    /// composite type and its bit offset inside the root.
    fn resolve(&self, spec: &str) -> (TypeId, u64) {
        let (path, anon_with) = match spec.split_once(':') {
            Some((p, m)) => (p, Some(m)),
            None => (spec, None),
        };
        let mut parts = path.split('.');
        let root = parts.next().unwrap();
        let mut id = self
            .btf
            .find_by_name_kind(root, Kind::Union)
            .unwrap()
            .or_else(|| self.btf.find_by_name_kind(root, Kind::Struct).unwrap())
            .unwrap_or_else(|| panic!("kernel has no {root}"));
        let mut off = 0;
        for part in parts {
            let m = self
                .flat(id, off)
                .into_iter()
                .find(|m| m.name == part)
                .unwrap_or_else(|| panic!("{spec}: no member {part}"));
            id = m.ty;
            off = m.bit_offset;
        }
        if let Some(member) = anon_with {
            let m = self
                .anon(id, off)
                .into_iter()
                .find(|a| {
                    self.is_struct(a.ty)
                        && self
                            .flat(a.ty, a.bit_offset)
                            .iter()
                            .any(|f| f.name == member)
                })
                .unwrap_or_else(|| panic!("{spec}: no anonymous struct with {member}"));
            id = m.ty;
            off = m.bit_offset;
        }
        (id, off)
    }

    /// Compares `fields`/`size` with the kernel's `spec`; `aliases` maps
    /// our field names to a kernel member path (`map.map_id`) or to the
    /// anonymous union that directly contains a member (`@raw_tracepoint`).
    fn check(
        &self,
        rust: &str,
        size: usize,
        fields: &[FieldLayout],
        spec: &str,
        aliases: &[(&str, &str)],
    ) -> Vec<String> {
        let mut errs = Vec::new();
        let (id, base) = self.resolve(spec);
        let ksize = self.size(id);
        if ksize != size as u64 {
            errs.push(format!("{rust} vs {spec}: size {size}, kernel {ksize}"));
        }
        let flat = self.flat(id, base);
        let anon = self.anon(id, base);
        let ours: Vec<&FieldLayout> = fields.iter().filter(|f| !f.is_padding()).collect();
        for f in &ours {
            let target = aliases
                .iter()
                .find(|(n, _)| *n == f.name)
                .map_or(f.name, |(_, k)| *k);
            let found: Option<(u64, u64)> = if let Some(inner) = target.strip_prefix('@') {
                anon.iter()
                    .find(|a| {
                        self.direct(a.ty, a.bit_offset)
                            .iter()
                            .any(|m| m.name == inner)
                    })
                    .map(|a| (a.bit_offset / 8, a.type_size))
            } else {
                let mut cur = flat.clone();
                let mut hit = None;
                for (i, part) in target.split('.').enumerate() {
                    hit = cur.iter().find(|m| m.name == part).cloned();
                    match &hit {
                        Some(m) if i + 1 < target.split('.').count() => {
                            cur = self.flat(m.ty, m.bit_offset)
                        }
                        _ => {}
                    }
                }
                hit.map(|m| {
                    if m.bitfield {
                        // The storage unit of the bitfield.
                        let unit = m.type_size * 8;
                        (m.bit_offset / unit * unit / 8, m.type_size)
                    } else {
                        (m.bit_offset / 8, m.type_size)
                    }
                })
            };
            match found {
                None => errs.push(format!(
                    "{rust}.{}: kernel {spec} has no member {target}",
                    f.name
                )),
                Some((off, sz)) => {
                    let off = off - base / 8;
                    if off != f.offset as u64 || sz != f.size as u64 {
                        errs.push(format!(
                            "{rust}.{}: offset {} size {}, kernel {spec}.{target}: offset {off} size {sz}",
                            f.name, f.offset, f.size
                        ));
                    }
                }
            }
        }
        // Coverage: every kernel leaf member inside one of our named fields.
        for m in &flat {
            let lo = m.bit_offset - base;
            let hi = lo + m.bits;
            let covered = ours
                .iter()
                .any(|f| (f.offset as u64 * 8) <= lo && hi <= (f.offset + f.size) as u64 * 8);
            if !covered {
                errs.push(format!(
                    "{rust} vs {spec}: kernel member {} (bits {lo}..{hi}) is not covered by a named field",
                    m.name
                ));
            }
        }
        errs
    }

    fn check_t<T: UapiStruct>(&self, spec: &str, aliases: &[(&str, &str)]) -> Vec<String> {
        let name = std::any::type_name::<T>().rsplit("::").next().unwrap();
        self.check(name, size_of::<T>(), T::FIELDS, spec, aliases)
    }
}

fn assert_clean(errs: Vec<String>) {
    assert!(errs.is_empty(), "layout mismatches:\n{}", errs.join("\n"));
}

macro_rules! check_all {
    ($k:expr, $($t:ty $(=> [$($alias:expr),*])?),* $(,)?) => {{
        let mut errs = Vec::new();
        $( errs.extend($k.check_t::<$t>(<$t as UapiStruct>::KERNEL_NAME, &[$($($alias),*)?])); )*
        errs
    }};
}

#[test]
fn bpf_attr_variants_match_the_kernel() {
    let k = Kernel::load();
    assert_clean(check_all!(k,
        MapCreateAttr,
        MapElemAttr,
        ProgLoadAttr,
        ObjPinAttr,
        TestRunAttr,
        GetNextIdAttr,
        InfoByFdAttr,
        RawTracepointOpenAttr,
        BtfLoadAttr,
        LinkCreateAttr => [("tail", "@target_btf_id")],
        LinkUpdateAttr,
        LinkDetachAttr,
    ));
}

#[test]
fn link_create_tails_match_the_kernel() {
    let k = Kernel::load();
    let mut errs = check_all!(
        k,
        LinkCreatePerfEvent,
        LinkCreateTracing,
        LinkCreateKprobeMulti,
        LinkCreateNetfilter,
        LinkCreateRelative,
        LinkCreateUprobeMulti,
        LinkCreateIter,
    );
    errs.extend(k.check_t::<LinkCreateRelative>("bpf_attr.link_create.netkit", &[]));
    errs.extend(k.check_t::<LinkCreateRelative>("bpf_attr.link_create.cgroup", &[]));
    assert_clean(errs);
    // Every tail starts where the kernel's union starts.
    let (_, base) = k.resolve("bpf_attr.link_create.perf_event");
    let (_, lc) = k.resolve("bpf_attr.link_create");
    assert_eq!(
        (base - lc) / 8,
        LinkCreateAttr::field("tail").unwrap().offset as u64
    );
}

#[test]
fn info_structs_match_the_kernel() {
    let k = Kernel::load();
    let mut errs = check_all!(k,
        ProgInfo,
        MapInfo,
        BtfInfo,
        LinkInfo => [("tail", "@raw_tracepoint")],
        RawTracepointLinkInfo,
        TracingLinkInfo,
        CgroupLinkInfo,
        IterLinkInfo => [("map_id", "map.map_id"), ("target", "@cgroup")],
        IterCgroupInfo,
        IterTaskInfo,
        NetnsLinkInfo,
        XdpLinkInfo,
        StructOpsLinkInfo,
        NetfilterLinkInfo,
        TcxLinkInfo,
        SockmapLinkInfo,
        PerfEventLinkInfo => [("tail", "@uprobe")],
        PerfEventTracepointInfo,
        PerfEventKprobeInfo,
        PerfEventUprobeInfo,
        PerfEventEventInfo,
    );
    errs.extend(k.check_t::<TcxLinkInfo>("bpf_link_info.netkit", &[]));
    assert_clean(errs);
    let (_, tail) = k.resolve("bpf_link_info.raw_tracepoint");
    assert_eq!(tail / 8, LinkInfo::field("tail").unwrap().offset as u64);
    let (_, pe) = k.resolve("bpf_link_info.perf_event");
    let (_, tp) = k.resolve("bpf_link_info.perf_event.tracepoint");
    assert_eq!(
        (tp - pe) / 8,
        PerfEventLinkInfo::field("tail").unwrap().offset as u64
    );
}

#[test]
fn perf_event_attr_matches_the_kernel() {
    let k = Kernel::load();
    assert_clean(check_all!(k, PerfEventAttr => [("flags", "disabled")]));
}

/// The checker itself must notice a wrong layout: a struct with a field
/// at the wrong offset, a misnamed field, a missing field and a wrong size.
#[test]
fn checker_detects_mismatches() {
    let k = Kernel::load();
    let f = |name, offset, size| FieldLayout { name, offset, size };
    // bpf_btf_info: btf@0/8, btf_size@8/4, id@12/4, name@16/8, name_len@24/4, kernel_btf@28/4.
    let good = [
        f("btf", 0, 8),
        f("btf_size", 8, 4),
        f("id", 12, 4),
        f("name", 16, 8),
        f("name_len", 24, 4),
        f("kernel_btf", 28, 4),
    ];
    assert!(k.check("Good", 32, &good, "bpf_btf_info", &[]).is_empty());

    let shifted = [
        f("btf", 0, 8),
        f("btf_size", 8, 4),
        f("id", 16, 4),
        f("name", 16, 8),
        f("name_len", 24, 4),
        f("kernel_btf", 28, 4),
    ];
    let e = k.check("Shifted", 32, &shifted, "bpf_btf_info", &[]);
    assert!(
        e.iter().any(|e| e.contains("Shifted.id: offset 16")),
        "{e:?}"
    );

    let misnamed = [
        f("btf", 0, 8),
        f("btf_size", 8, 4),
        f("idx", 12, 4),
        f("name", 16, 8),
        f("name_len", 24, 4),
        f("kernel_btf", 28, 4),
    ];
    let e = k.check("Misnamed", 32, &misnamed, "bpf_btf_info", &[]);
    assert!(e.iter().any(|e| e.contains("no member idx")), "{e:?}");

    let missing = [
        f("btf", 0, 8),
        f("btf_size", 8, 4),
        f("id", 12, 4),
        f("name", 16, 8),
        f("name_len", 24, 4),
        f("_pad0", 28, 4),
    ];
    let e = k.check("Missing", 32, &missing, "bpf_btf_info", &[]);
    assert!(e.iter().any(|e| e.contains("kernel_btf")), "{e:?}");

    let e = k.check("Small", 24, &good, "bpf_btf_info", &[]);
    assert!(e.iter().any(|e| e.contains("size 24, kernel 32")), "{e:?}");

    // A bitfield at the wrong storage unit.
    let mut prog: Vec<FieldLayout> = ProgInfo::FIELDS.to_vec();
    let g = prog
        .iter_mut()
        .find(|f| f.name == "gpl_compatible")
        .unwrap();
    g.offset = 80;
    let e = k.check(
        "ProgInfo",
        size_of::<ProgInfo>(),
        &prog,
        "bpf_prog_info",
        &[],
    );
    assert!(e.iter().any(|e| e.contains("gpl_compatible")), "{e:?}");
}
