//! CO-RE relocation of the clang-built objects in `tests/data` (sources
//! and `build.sh` there) against real kernel BTF.
//!
//! - Every relocated value is compared with what an independent walk of the
//!   target BTF gives (a few lines of member lookup written here, not the
//!   crate's matcher).
//! - The same checks run against a *synthetic kernel*: this kernel's BTF
//!   rewritten with `task_struct` moved and changed (members shifted, `pid`
//!   widened to `long`, `__state` renamed `state`) and an enumerator
//!   renumbered — against the running kernel the relocated values equal the
//!   local ones, so only a target that differs shows that relocation moves
//!   anything.
//! - The programs are loaded into the running kernel and run
//!   (`BPF_PROG_TEST_RUN`), and the values they store are checked: the
//!   task's pid/tgid/parent, its name, a bitfield set through `chrt`, the
//!   relocated constants; the program with a reachable poisoned instruction
//!   is refused at that instruction, and the report names the relocation.
//! - `OXBPF_CORE_TARGETS=a.btf:b.btf` adds other kernels' BTF files (e.g.
//!   the `.BTF` of Debian kernel images) to the relocation checks.

use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::path::Path;

use oxbpf_asm::Insn;
use oxbpf_btf::{Btf, BtfBuilder, BtfExt, Kind, Type, TypeId};
use oxbpf_elf_bpf::{Object, RelocTarget};
use oxbpf_reloc::{
    Applied, CandidateCache, CoreRelocator, Patch, find_poisoned, function_relos,
    poisoned_insn_in_log,
};

const VMLINUX: &str = "/sys/kernel/btf/vmlinux";
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

fn read_obj(name: &str) -> Object {
    let bytes = std::fs::read(format!("{DATA}/{name}")).expect("test object (tests/data/build.sh)");
    Object::parse(&bytes).expect("object parses")
}

fn vmlinux() -> Btf<'static> {
    Btf::from_file(Path::new(VMLINUX)).expect("this test needs /sys/kernel/btf/vmlinux")
}

/// Relocates the object's only program against `target`.
fn relocate(obj: &Object, target: &Btf<'_>) -> (Vec<Insn>, Vec<Applied>) {
    let local = obj.btf.as_ref().expect("object BTF");
    let ext = BtfExt::parse(obj.btf_ext.as_deref().expect("BTF.ext"), local).unwrap();
    assert_eq!(obj.programs.len(), 1);
    let f = &obj.programs[0].function;
    let sec = ext.core_relos_for(&f.section).expect("CO-RE records");
    let relos = function_relos(&f.section, sec.records(), f.offset, f.insns.len()).unwrap();
    assert_eq!(relos.len(), sec.len(), "every record is in the program");
    let mut insns = f.insns.clone();
    let mut cache = CandidateCache::new();
    let applied = CoreRelocator::new(local, target, &mut cache)
        .relocate(&mut insns, relos)
        .unwrap_or_else(|e| panic!("relocating {}: {e}", f.name));
    (insns, applied)
}

// ---- the independent oracle: member lookup by hand -------------------

/// Skips typedefs and modifiers.
fn strip(btf: &Btf<'_>, mut id: TypeId) -> TypeId {
    loop {
        match btf.type_by_id(id).unwrap() {
            Type::Typedef(r) | Type::Const(r) | Type::Volatile(r) | Type::Restrict(r) => id = r.ty,
            _ => return id,
        }
    }
}

fn byte_size(btf: &Btf<'_>, id: TypeId) -> u64 {
    u64::from(btf.resolve_size(id).unwrap())
}

/// A field found by [`field`]: bit offset from the root, bitfield size (0
/// if not a bitfield), type.
#[derive(Debug, Clone, Copy)]
struct Found {
    bit: u64,
    bits: u32,
    ty: TypeId,
}

/// Looks `name` up among the members of struct/union `id`, descending
/// into anonymous members.
fn member(btf: &Btf<'_>, id: TypeId, name: &str) -> Option<Found> {
    let t = btf.type_by_id(strip(btf, id)).unwrap();
    let c = t.as_composite()?;
    for m in c.members() {
        let mname = btf.string_at(m.name_off).unwrap();
        if mname == name {
            let (mut bit, mut bits) = (u64::from(m.bit_offset), m.bitfield_size);
            if !c.kind_flag()
                && let Type::Int(i) = btf.type_by_id(strip(btf, m.ty)).unwrap()
                && (i.offset != 0 || i.bits != i.size * 8)
            {
                bit += u64::from(i.offset);
                bits = i.bits;
            }
            return Some(Found {
                bit,
                bits,
                ty: m.ty,
            });
        }
        if mname.is_empty()
            && let Some(f) = member(btf, m.ty, name)
        {
            return Some(Found {
                bit: f.bit + u64::from(m.bit_offset),
                ..f
            });
        }
    }
    None
}

/// `struct root` then a path of member names and `[i]` subscripts.
fn field(btf: &Btf<'_>, root: &str, path: &[&str]) -> Option<Found> {
    let id = btf.find_by_name_kind(root, Kind::Struct).unwrap()?;
    let mut cur = Found {
        bit: 0,
        bits: 0,
        ty: id,
    };
    for p in path {
        if let Some(i) = p.strip_prefix('[').and_then(|p| p.strip_suffix(']')) {
            let i: u64 = i.parse().unwrap();
            let Type::Array(a) = btf.type_by_id(strip(btf, cur.ty)).unwrap() else {
                panic!("{p} of a non-array");
            };
            cur = Found {
                bit: cur.bit + i * byte_size(btf, a.elem) * 8,
                bits: 0,
                ty: a.elem,
            };
        } else {
            let f = member(btf, cur.ty, p)?;
            cur = Found {
                bit: cur.bit + f.bit,
                ..f
            };
        }
    }
    Some(cur)
}

fn offset_of(btf: &Btf<'_>, root: &str, path: &[&str]) -> u64 {
    let f = field(btf, root, path).unwrap_or_else(|| panic!("{root}.{path:?}"));
    assert_eq!(f.bit % 8, 0);
    f.bit / 8
}

fn size_of_field(btf: &Btf<'_>, root: &str, path: &[&str]) -> u64 {
    byte_size(btf, field(btf, root, path).unwrap().ty)
}

fn enumerator(btf: &Btf<'_>, enum_name: &str, name: &str) -> Option<u64> {
    let id = btf
        .find_by_name_kind(enum_name, Kind::Enum)
        .unwrap()
        .or_else(|| btf.find_by_name_kind(enum_name, Kind::Enum64).unwrap())?;
    let (Type::Enum(e) | Type::Enum64(e)) = btf.type_by_id(id).unwrap() else {
        unreachable!()
    };
    e.values()
        .find(|v| btf.string_at(v.name_off).unwrap() == name)
        .map(|v| v.raw)
}

/// The target value of the one relocation of `kind` whose spec is `spec`.
fn value(applied: &[Applied], kind: &str, spec: &str) -> Option<u64> {
    let mut it = applied.iter().filter(|a| {
        oxbpf_reloc::kind_name(a.resolution.kind) == kind && a.resolution.spec() == spec
    });
    let a = it
        .next()
        .unwrap_or_else(|| panic!("no {kind} relocation of {spec}"));
    for b in it {
        assert_eq!(b.resolution.target_value, a.resolution.target_value);
    }
    a.resolution.target_value
}

// ---- checks shared by every target ------------------------------------

/// The field program's relocations against `target`, checked against the
/// oracle on the same BTF.
fn check_fields(target: &Btf<'_>) -> Vec<Applied> {
    let obj = read_obj("core_fields.bpf.o");
    let (_, applied) = relocate(&obj, target);
    let t = target;
    let v = |k: &str, s: &str| value(&applied, k, s);
    assert_eq!(
        v("byte_off", "task_struct.pid"),
        Some(offset_of(t, "task_struct", &["pid"]))
    );
    assert_eq!(
        v("byte_off", "task_struct.tgid"),
        Some(offset_of(t, "task_struct", &["tgid"]))
    );
    assert_eq!(
        v("byte_off", "task_struct.real_parent"),
        Some(offset_of(t, "task_struct", &["real_parent"]))
    );
    assert_eq!(
        v("byte_sz", "task_struct.comm"),
        Some(size_of_field(t, "task_struct", &["comm"]))
    );
    assert_eq!(
        v("byte_off", "task_struct.comm[3]"),
        Some(offset_of(t, "task_struct", &["comm", "[3]"]))
    );
    let has_state = field(t, "task_struct", &["state"]).is_some();
    let has_new_state = field(t, "task_struct", &["__state"]).is_some();
    assert_eq!(
        v("field_exists", "task_struct.__state"),
        Some(u64::from(has_new_state))
    );
    assert_eq!(
        v("field_exists", "task_struct___old.state"),
        Some(u64::from(has_state))
    );
    assert_eq!(
        v("field_exists", "task_struct___fake.no_such_field_anywhere"),
        Some(0)
    );
    // pid_t is a signed int.
    assert_eq!(v("signed", "task_struct.pid"), Some(1));
    // The old layout's state: poisoned where the field is gone.
    let old_state = v("byte_off", "task_struct___old.state");
    if has_state {
        assert_eq!(old_state, Some(offset_of(t, "task_struct", &["state"])));
    } else {
        assert_eq!(old_state, None);
        let a = applied
            .iter()
            .find(|a| a.resolution.spec() == "task_struct___old.state" && a.is_poisoned())
            .expect("poisoned");
        assert!(matches!(a.patch, Patch::Poisoned { slots: 1 }));
    }
    // Through anonymous structs and unions.
    assert_eq!(
        v("byte_off", "sk_buff.dev"),
        Some(offset_of(t, "sk_buff", &["dev"]))
    );
    assert_eq!(v("byte_sz", "sk_buff.dev"), Some(8));
    assert_eq!(
        v("byte_off", "sk_buff.cb[8]"),
        Some(offset_of(t, "sk_buff", &["cb", "[8]"]))
    );
    assert_eq!(
        v("byte_off", "task_struct.se.vruntime"),
        Some(offset_of(t, "task_struct", &["se", "vruntime"]))
    );
    // Bitfields: the four values must extract exactly the field's bits.
    for name in ["in_execve", "sched_reset_on_fork"] {
        let spec = format!("task_struct.{name}");
        let Some(f) = field(t, "task_struct", &[name]) else {
            // Gone from this kernel: the reads are poisoned.
            assert_eq!(v("byte_off", &spec), None, "{name}");
            continue;
        };
        assert!(f.bits > 0, "{name} is a bitfield");
        let off = v("byte_off", &spec).unwrap();
        let sz = v("byte_sz", &spec).unwrap();
        assert!(
            matches!(sz, 1 | 2 | 4 | 8) && off % sz == 0,
            "{name}: container {off}+{sz}"
        );
        assert!(off * 8 <= f.bit && f.bit + u64::from(f.bits) <= (off + sz) * 8);
        let lshift = applied
            .iter()
            .find(|a| {
                a.resolution.spec() == spec
                    && oxbpf_reloc::kind_name(a.resolution.kind) == "lshift_u64"
            })
            .map(|a| a.resolution.target_value.unwrap());
        if let Some(l) = lshift {
            assert_eq!(
                l,
                64 - (f.bit - off * 8 + u64::from(f.bits)),
                "{name} lshift"
            );
            assert_eq!(v("rshift_u64", &spec), Some(64 - u64::from(f.bits)));
        }
        assert_eq!(v("signed", &spec), Some(0));
    }
    // Direct loads: offsets and access sizes follow the target.
    for (name, path) in [
        ("pid", &["pid"][..]),
        ("tgid", &["tgid"]),
        ("comm[0]", &["comm", "[0]"]),
        ("start_time", &["start_time"]),
    ] {
        let spec = format!("task_struct.{name}");
        let a = applied
            .iter()
            .find(|a| a.resolution.spec() == spec && matches!(a.patch, Patch::Off { .. }))
            .unwrap_or_else(|| panic!("a load of {spec}"));
        let Patch::Off { new, size, .. } = a.patch else {
            unreachable!()
        };
        assert_eq!(new as u64, offset_of(t, "task_struct", path), "{spec}");
        let want = size_of_field(t, "task_struct", path);
        let local = a.resolution.field.unwrap().local_size.unwrap();
        match size {
            Some((_, to)) => assert_eq!(u64::from(to.bytes()), want, "{spec}"),
            None => assert_eq!(u64::from(local), want, "{spec}"),
        }
    }
    applied
}

/// The type program's relocations against `target`.
fn check_types(target: &Btf<'_>) -> Vec<Applied> {
    let obj = read_obj("core_types.bpf.o");
    let (_, applied) = relocate(&obj, target);
    let local = obj.btf.as_ref().unwrap();
    let t = target;
    let v = |k: &str, s: &str| value(&applied, k, s);
    let task = t
        .find_by_name_kind("task_struct", Kind::Struct)
        .unwrap()
        .unwrap();
    assert_eq!(v("type_exists", "task_struct"), Some(1));
    assert_eq!(v("type_size", "task_struct"), Some(byte_size(t, task)));
    assert_eq!(v("type_exists", "does_not_exist___x"), Some(0));
    assert_eq!(
        v("type_size", "does_not_exist___x"),
        Some(0),
        "no type: size 0"
    );
    assert_eq!(
        v("target_type_id", "does_not_exist___x"),
        Some(0),
        "no type: id 0"
    );
    let pid_t = t
        .find_by_name_kind("pid_t", Kind::Typedef)
        .unwrap()
        .unwrap();
    assert_eq!(v("type_exists", "pid_t"), Some(1));
    assert_eq!(v("type_size", "pid_t"), Some(byte_size(t, pid_t)));
    assert_eq!(v("type_matches", "pid_t"), Some(1));
    assert_eq!(v("type_exists", "pid_t___local"), Some(1));
    assert_eq!(v("type_matches", "list_head___good"), Some(1));
    assert_eq!(v("type_matches", "list_head___bad"), Some(0));
    assert_eq!(v("type_exists", "list_head___bad"), Some(1));
    let local_task = local
        .find_by_name_kind("task_struct", Kind::Struct)
        .unwrap()
        .unwrap();
    assert_eq!(
        v("local_type_id", "task_struct"),
        Some(u64::from(local_task.0))
    );
    assert_eq!(v("target_type_id", "task_struct"), Some(u64::from(task.0)));
    let cur = enumerator(t, "bpf_func_id", "BPF_FUNC_get_current_task");
    assert_eq!(
        v("enumval_exists", "bpf_func_id::BPF_FUNC_get_current_task"),
        Some(1)
    );
    assert_eq!(
        v("enumval_value", "bpf_func_id::BPF_FUNC_get_current_task"),
        cur
    );
    assert_eq!(
        v(
            "enumval_exists",
            "bpf_func_id___x::BPF_FUNC_no_such_helper___x"
        ),
        Some(0)
    );
    assert_eq!(
        v(
            "enumval_value",
            "bpf_func_id___x::BPF_FUNC_map_lookup_elem___x"
        ),
        enumerator(t, "bpf_func_id", "BPF_FUNC_map_lookup_elem")
    );
    let dead = enumerator(t, "perf_event_state", "PERF_EVENT_STATE_DEAD").unwrap();
    let signed = t
        .find_by_name_kind("perf_event_state", Kind::Enum)
        .unwrap()
        .is_some_and(|id| matches!(t.type_by_id(id), Ok(Type::Enum(e)) if e.is_signed()));
    // BTF from before signed enums says 0xfffffffc, unsigned: the local
    // enum's signedness applies.
    let dead = if signed {
        dead
    } else {
        dead as u32 as i32 as i64 as u64
    };
    assert!((dead as i64) < 0, "a negative enumerator, sign-extended");
    assert_eq!(
        v("enumval_value", "perf_event_state::PERF_EVENT_STATE_DEAD"),
        Some(dead)
    );
    let user = enumerator(t, "perf_callchain_context", "PERF_CONTEXT_USER").unwrap();
    if t.find_by_name_kind("perf_callchain_context", Kind::Enum64)
        .unwrap()
        .is_some()
    {
        assert!(user > u64::from(u32::MAX), "a 64-bit enumerator");
    }
    assert_eq!(
        v("enumval_value", "perf_callchain_context::PERF_CONTEXT_USER"),
        Some(user)
    );
    applied
}

/// The unsigned enumerator with bit 31 set stays zero-extended.
fn check_enum_unsigned(target: &Btf<'_>) {
    let obj = read_obj("core_enum_unsigned.bpf.o");
    let (_, applied) = relocate(&obj, target);
    let v = |k: &str, s: &str| value(&applied, k, s);
    let ino = enumerator(target, "init_ns_ino", "IPC_NS_INIT_INO");
    let spec = "init_ns_ino::IPC_NS_INIT_INO";
    assert_eq!(v("enumval_exists", spec), Some(u64::from(ino.is_some())));
    match ino {
        Some(ino) => {
            assert!(ino > u64::from(i32::MAX as u32) && ino <= u64::from(u32::MAX));
            assert_eq!(v("enumval_value", spec), Some(ino));
        }
        None => assert_eq!(v("enumval_value", spec), None),
    }
}

/// The class of a field's type for the oracle's compatibility rule:
/// the kind after typedefs and modifiers, with structs and unions one
/// class, and enums of both widths one class.
fn class(btf: &Btf<'_>, id: TypeId) -> &'static str {
    match btf.type_by_id(strip(btf, id)).unwrap() {
        Type::Struct(_) | Type::Union(_) => "composite",
        Type::Enum(_) | Type::Enum64(_) => "enum",
        Type::Int(_) => "int",
        Type::Ptr(_) => "pointer",
        Type::Array(_) => "array",
        Type::Float(_) => "float",
        other => panic!("field of type {other:?}"),
    }
}

/// The 1,450 generated relocations of `core_many.bpf.o` (field offsets
/// and existence, type existence and size, enumerator values over 120
/// kernel structs), each checked against the oracle's own lookup in
/// `target`. Returns how many were checked, how many of those have a
/// target value other than the local one, and how many were poisoned.
fn check_many(target: &Btf<'_>) -> (usize, usize, usize) {
    let obj = read_obj("core_many.bpf.o");
    let (_, applied) = relocate(&obj, target);
    let local = obj.btf.as_ref().unwrap();
    let t = target;
    let mut checked = 0;
    for a in &applied {
        let r = &a.resolution;
        let spec = r.spec();
        let got = r.target_value;
        let kind = oxbpf_reloc::kind_name(r.kind);
        match kind {
            "byte_off" | "field_exists" | "byte_sz" => {
                let (root, member) = spec
                    .split_once('.')
                    .unwrap_or_else(|| panic!("{a}: not root.member"));
                let mine = field(local, root, &[member]).unwrap_or_else(|| panic!("{a}"));
                // A field of the same name whose type is of another class
                // (an int become a struct, as sched_avg.util_est between
                // 6.1 and 6.12) is not the field the program means.
                let found = t
                    .find_by_name_kind(root, Kind::Struct)
                    .unwrap()
                    .and_then(|_| field(t, root, &[member]))
                    .filter(|f| class(t, f.ty) == class(local, mine.ty));
                let want = match kind {
                    "field_exists" => Some(u64::from(found.is_some())),
                    "byte_off" => found.map(|f| f.bit / 8),
                    _ => found.map(|f| byte_size(t, f.ty)),
                };
                assert_eq!(got, want, "{a}");
                assert_eq!(a.is_poisoned(), want.is_none(), "{a}");
            }
            "type_exists" | "type_size" => {
                let id = t.find_by_name_kind(spec, Kind::Struct).unwrap();
                let want = if kind == "type_exists" {
                    u64::from(id.is_some())
                } else {
                    id.map_or(0, |id| byte_size(t, id))
                };
                assert_eq!(got, Some(want), "{a}");
            }
            "enumval_value" | "enumval_exists" => {
                let (e, name) = spec
                    .split_once("::")
                    .unwrap_or_else(|| panic!("{a}: not enum::name"));
                let want = enumerator(t, e, name);
                if kind == "enumval_exists" {
                    assert_eq!(got, Some(u64::from(want.is_some())), "{a}");
                } else {
                    // 32-bit enums: compare the enumerator's 32 bits (the
                    // local enum's signedness decides the extension).
                    let is64 = t.find_by_name_kind(e, Kind::Enum64).unwrap().is_some();
                    let low = |v: u64| if is64 { v } else { v & 0xffff_ffff };
                    assert_eq!(got.map(low), want.map(low), "{a}");
                }
            }
            other => panic!("{a}: unexpected kind {other} in core_many"),
        }
        checked += 1;
    }
    assert_eq!(checked, applied.len());
    assert!(checked >= 1000, "core_many has {checked} relocations");
    let moved = applied
        .iter()
        .filter(|a| {
            a.resolution
                .target_value
                .is_some_and(|v| v != a.resolution.local_value)
        })
        .count();
    let poisoned = applied.iter().filter(|a| a.is_poisoned()).count();
    (checked, moved, poisoned)
}

#[test]
fn relocates_against_the_running_kernel() {
    let k = vmlinux();
    check_enum_unsigned(&k);
    let fields = check_fields(&k);
    let types = check_types(&k);
    // Against the kernel the objects were built for, nothing but the
    // missing fields and types changes (bitfield containers aside).
    for a in fields.iter().chain(&types) {
        let r = &a.resolution;
        if r.field.is_some_and(|f| f.bitfield.is_some()) || a.is_poisoned() {
            continue;
        }
        if r.spec().contains("___") || r.kind == oxbpf_btf::CoreReloKind::TypeIdTarget {
            continue;
        }
        assert_eq!(r.target_value, Some(r.local_value), "{a}");
    }
}

/// Other kernels' BTF: `cargo xtask core-targets` extracts the `.BTF` of
/// Debian's 6.1 and 6.12 kernel images and runs this test with
/// `OXBPF_CORE_TARGETS` naming the files. Run that way, a missing or
/// empty variable is a failure, not a skip.
#[test]
#[ignore = "needs OXBPF_CORE_TARGETS=a.btf:b.btf (other kernels' BTF): cargo xtask core-targets"]
fn relocates_against_other_btf_files() {
    let list = std::env::var_os("OXBPF_CORE_TARGETS")
        .expect("OXBPF_CORE_TARGETS names the BTF files to relocate against");
    let files: Vec<_> = std::env::split_paths(&list)
        .filter(|p| !p.as_os_str().is_empty())
        .collect();
    assert!(!files.is_empty(), "OXBPF_CORE_TARGETS names no file");
    let here = vmlinux();
    for p in &files {
        let t = Btf::from_file(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        // Checked against this kernel below: another kernel's BTF must
        // differ from it, or the test proves nothing new.
        assert_ne!(
            t.as_bytes(),
            here.as_bytes(),
            "{} is this kernel's BTF",
            p.display()
        );
        eprintln!(
            "relocating against {} ({} types)",
            p.display(),
            t.types_len()
        );
        let fields = check_fields(&t);
        let types = check_types(&t);
        check_enum_unsigned(&t);
        let moved = fields
            .iter()
            .chain(&types)
            .filter(|a| {
                a.resolution
                    .target_value
                    .is_some_and(|v| v != a.resolution.local_value)
            })
            .count();
        let (many, many_moved, many_poisoned) = check_many(&t);
        eprintln!(
            "  core_fields/core_types: {} relocations checked, {moved} with a value other than \
             the local one; core_many: {many} checked, {many_moved} other, {many_poisoned} poisoned",
            fields.len() + types.len()
        );
    }
}

// ---- the synthetic kernel ---------------------------------------------

/// This kernel's BTF with `task_struct` changed: every member 16 bytes
/// further (the struct 16 bytes larger), `pid` a `long` (8 bytes), and
/// `__state` renamed `state`; `BPF_FUNC_get_current_task` renumbered 4242.
/// Ids and string offsets are kept; other types are copied unchanged.
fn synthetic_kernel(k: &Btf<'_>) -> Vec<u8> {
    let task = k
        .find_by_name_kind("task_struct", Kind::Struct)
        .unwrap()
        .unwrap();
    let func_id = k
        .find_by_name_kind("bpf_func_id", Kind::Enum)
        .unwrap()
        .unwrap();
    let long = k.find_by_name_kind("long int", Kind::Int).unwrap().unwrap();
    let mut b = BtfBuilder::with_strings_from(k);
    for (id, t) in k.types() {
        if id == task {
            let Type::Struct(c) = t else { unreachable!() };
            let mut members = Vec::new();
            let mut names = Vec::new();
            for m in c.members() {
                names.push(k.string_at(m.name_off).unwrap().to_owned());
            }
            for (m, name) in c.members().zip(&names) {
                let name = if name == "__state" {
                    "state"
                } else {
                    name.as_str()
                };
                let mut ty = m.ty;
                let mut bit = m.bit_offset + 128;
                if name == "pid" {
                    ty = long;
                    // Keep alignment: 8 bytes further still.
                    bit += 64;
                }
                members.push((name, ty, bit, m.bitfield_size));
            }
            let new = b.add_struct_bitfields("task_struct", c.size() + 32, &members);
            assert_eq!(new, id);
        } else if id == func_id {
            let Type::Enum(e) = t else { unreachable!() };
            let vals: Vec<(String, i64)> = e
                .values()
                .map(|v| {
                    let n = k.string_at(v.name_off).unwrap().to_owned();
                    let x = if n == "BPF_FUNC_get_current_task" {
                        4242
                    } else {
                        v.raw as i64
                    };
                    (n, x)
                })
                .collect();
            let vals: Vec<(&str, i64)> = vals.iter().map(|(n, x)| (n.as_str(), *x)).collect();
            let new = b.add_enum("bpf_func_id", e.size(), e.is_signed(), &vals);
            assert_eq!(new, id);
        } else {
            let new = b.add_type_from(k, id, &t).unwrap();
            assert_eq!(new, id);
        }
    }
    b.build_endian(k.endian())
}

#[test]
fn relocates_against_a_changed_kernel() {
    let k = vmlinux();
    let bytes = synthetic_kernel(&k);
    let t = Btf::parse(&bytes).unwrap();
    let fields = check_fields(&t);
    let types = check_types(&t);
    // And the values did move.
    let pid = fields
        .iter()
        .find(|a| a.resolution.spec() == "task_struct.pid" && matches!(a.patch, Patch::Off { .. }))
        .unwrap();
    let Patch::Off { old, new, size } = pid.patch else {
        unreachable!()
    };
    assert_eq!(i64::from(new), i64::from(old) + 24);
    assert_eq!(
        size.map(|(a, b)| (a.bytes(), b.bytes())),
        Some((4, 8)),
        "u32 load of pid became u64"
    );
    let state = fields.iter().find(|a| {
        a.resolution.spec() == "task_struct___old.state" && matches!(a.patch, Patch::Imm { .. })
    });
    assert!(
        state.is_some(),
        "the old field exists in this kernel: not poisoned"
    );
    // ...and the new one does not: its guarded read is the poisoned one.
    for a in &fields {
        let read_of_new_state = a.resolution.spec() == "task_struct.__state"
            && a.resolution.kind == oxbpf_btf::CoreReloKind::FieldByteOffset;
        assert_eq!(a.is_poisoned(), read_of_new_state, "{a}");
    }
    let ids = types
        .iter()
        .find(|a| {
            a.resolution.spec() == "bpf_func_id::BPF_FUNC_get_current_task"
                && a.resolution.kind == oxbpf_btf::CoreReloKind::EnumvalValue
        })
        .unwrap();
    assert_eq!(ids.resolution.target_value, Some(4242));
    let sz = types
        .iter()
        .find(|a| {
            a.resolution.spec() == "task_struct"
                && oxbpf_reloc::kind_name(a.resolution.kind) == "type_size"
        })
        .unwrap();
    assert_eq!(
        sz.resolution.target_value,
        Some(sz.resolution.local_value + 32)
    );
}

// ---- live: load, run, read the results ---------------------------------

mod live {
    use super::*;
    use oxbpf_syscalls::{
        MapCreateAttr, MapFd, MapType, ProgLoadOptions, ProgType, VerifierLog, map_create,
        map_lookup_elem, prog_load, prog_run_syscall,
    };

    /// Replaces the program's map loads by loads of `results`' fd, and its
    /// global data loads by loads of a map made for the data (kept in
    /// `keep`).
    fn bind_maps(obj: &Object, insns: &mut [Insn], results: &MapFd, keep: &mut Vec<MapFd>) {
        let f = &obj.programs[0].function;
        let mut data: HashMap<usize, i32> = HashMap::new();
        for r in &f.relocations {
            let dst = insns[r.insn].dst();
            let [a, b] = match &r.target {
                RelocTarget::Map(i) => {
                    assert_eq!(obj.maps[*i].name, "results");
                    Insn::ld_map_fd(dst, results.as_raw_fd())
                }
                RelocTarget::Data { section, offset } => {
                    let fd = *data.entry(*section).or_insert_with(|| {
                        let size = obj.data[*section].bytes.len() as u32;
                        let m =
                            map_create(&MapCreateAttr::new(MapType::ARRAY, 4, size, 1)).unwrap();
                        let fd = m.as_raw_fd();
                        keep.push(m);
                        fd
                    });
                    Insn::ld_map_value(dst, fd, *offset as u32)
                }
                other => panic!("unexpected relocation {other:?}"),
            };
            insns[r.insn] = a;
            insns[r.insn + 1] = b;
        }
    }

    fn load(name: &str, insns: &[Insn]) -> Result<oxbpf_syscalls::ProgFd, oxbpf_syscalls::Error> {
        let mut opts = ProgLoadOptions::new(ProgType::SYSCALL, insns, c"GPL");
        opts.name = name;
        opts.prog_flags = oxbpf_syscalls::attr::prog_flags::SLEEPABLE;
        prog_load(&opts, &mut VerifierLog::new())
    }

    /// Loads and runs the (relocated) object's program; its 64 slots.
    fn run(obj: &Object, mut insns: Vec<Insn>) -> Vec<u64> {
        let results = map_create(&MapCreateAttr::new(MapType::ARRAY, 4, 8, 64)).unwrap();
        let mut keep = Vec::new();
        bind_maps(obj, &mut insns, &results, &mut keep);
        let name = obj.programs[0].name().to_owned();
        let prog = load(&name, &insns).unwrap_or_else(|e| panic!("loading {name}: {e}"));
        let mut ctx = [0u8; 8];
        assert_eq!(prog_run_syscall(&prog, &mut ctx).unwrap(), 0);
        (0u32..64)
            .map(|i| {
                let mut v = [0u8; 8];
                assert!(map_lookup_elem(&results, &i.to_ne_bytes(), &mut v, 0).unwrap());
                u64::from_ne_bytes(v)
            })
            .collect()
    }

    /// This thread's id, and its pid and parent's pid, from /proc.
    fn ids() -> (u64, u64, u64) {
        let link = std::fs::read_link("/proc/thread-self").unwrap();
        let link = link.to_str().unwrap();
        let tid: u64 = link.rsplit('/').next().unwrap().parse().unwrap();
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let ppid: u64 = after.split(' ').nth(1).unwrap().parse().unwrap();
        (tid, u64::from(std::process::id()), ppid)
    }

    #[test]
    fn field_program_reads_what_the_kernel_has() {
        let k = vmlinux();
        let obj = read_obj("core_fields.bpf.o");
        let (insns, _) = relocate(&obj, &k);
        let (tid, pid, ppid) = ids();
        // Set sched_reset_on_fork (a 1-bit bitfield) on this thread.
        let st = std::process::Command::new("chrt")
            .args(["--reset-on-fork", "--other", "-p", "0", &tid.to_string()])
            .status()
            .expect("chrt (util-linux) is needed");
        assert!(st.success());
        let s = run(&obj, insns);
        let comm = std::fs::read_to_string("/proc/thread-self/comm").unwrap();
        assert_eq!(s[0], tid, "task->pid");
        assert_eq!(s[1], pid, "task->tgid");
        assert_eq!(s[2], ppid, "task->real_parent->tgid");
        assert_eq!(s[3], offset_of(&k, "task_struct", &["pid"]));
        assert_eq!(s[4], 16);
        assert_eq!(s[5], offset_of(&k, "task_struct", &["comm"]) + 3);
        assert_eq!((s[6], s[7], s[8]), (1, 0, 0), "field existence");
        assert_eq!(s[9], 1, "pid is signed");
        assert_eq!(s[10], 0, "__state of the running task: TASK_RUNNING");
        assert_eq!(s[11], offset_of(&k, "sk_buff", &["dev"]));
        assert_eq!(s[12], 8);
        assert_eq!(s[17], 0, "in_execve");
        assert_eq!(s[18], 1, "sched_reset_on_fork, set through chrt");
        assert_eq!((s[19], s[20]), (tid, pid), "direct loads");
        assert_eq!(s[21], u64::from(comm.as_bytes()[0]), "comm[0]");
        assert_ne!(s[22], 0, "start_time");
        assert_eq!(s[23], offset_of(&k, "task_struct", &["se", "vruntime"]));
        assert_eq!(s[24], offset_of(&k, "sk_buff", &["cb", "[8]"]));
        // pkt_type is a __u8 bitfield: its container is its byte.
        assert_eq!(s[25], offset_of(&k, "sk_buff", &["pkt_type"]));
    }

    #[test]
    fn type_program_stores_the_kernel_values() {
        let k = vmlinux();
        let obj = read_obj("core_types.bpf.o");
        let (insns, _) = relocate(&obj, &k);
        let s = run(&obj, insns);
        let task = k
            .find_by_name_kind("task_struct", Kind::Struct)
            .unwrap()
            .unwrap();
        let local = obj.btf.as_ref().unwrap();
        let local_task = local
            .find_by_name_kind("task_struct", Kind::Struct)
            .unwrap()
            .unwrap();
        let want: HashMap<usize, u64> = [
            (0, 1),
            (1, byte_size(&k, task)),
            (2, 0),
            (3, 1),
            (4, 4),
            (5, 1),
            (6, 0),
            (7, 1),
            (8, u64::from(local_task.0)),
            (9, u64::from(task.0)),
            (10, 1),
            (
                11,
                enumerator(&k, "bpf_func_id", "BPF_FUNC_get_current_task").unwrap(),
            ),
            (12, 0),
            (
                13,
                enumerator(&k, "bpf_func_id", "BPF_FUNC_map_lookup_elem").unwrap(),
            ),
            (
                14,
                enumerator(&k, "perf_event_state", "PERF_EVENT_STATE_DEAD").unwrap(),
            ),
            (
                15,
                enumerator(&k, "perf_callchain_context", "PERF_CONTEXT_USER").unwrap(),
            ),
            (16, 12345),
            (17, 1),
            (18, 1),
            (19, 0),
            (20, 0),
        ]
        .into_iter()
        .collect();
        for (slot, v) in want {
            assert_eq!(s[slot], v, "slot {slot}");
        }
    }

    #[test]
    fn unsigned_enumerator_with_bit_31_set() {
        let k = vmlinux();
        let obj = read_obj("core_enum_unsigned.bpf.o");
        let (insns, _) = relocate(&obj, &k);
        let s = run(&obj, insns);
        let ino = enumerator(&k, "init_ns_ino", "IPC_NS_INIT_INO");
        assert_eq!(s[0], u64::from(ino.is_some()));
        assert_eq!(s[1], ino.unwrap_or(0));
    }

    #[test]
    fn reachable_poison_is_refused_and_explained() {
        let k = vmlinux();
        let obj = read_obj("core_poison.bpf.o");
        let (mut insns, applied) = relocate(&obj, &k);
        assert_eq!(applied.len(), 1);
        assert!(applied[0].is_poisoned());
        let results = map_create(&MapCreateAttr::new(MapType::ARRAY, 4, 8, 64)).unwrap();
        bind_maps(&obj, &mut insns, &results, &mut Vec::new());
        let err = load("core_poison", &insns).expect_err("the verifier must refuse it");
        let oxbpf_syscalls::Error::Verifier(v) = &err else {
            panic!("not a verifier error: {err}");
        };
        let log = &v.log;
        let at = poisoned_insn_in_log(log).unwrap_or_else(|| panic!("no poison in:\n{log}"));
        assert_eq!(at, applied[0].insn);
        let a = find_poisoned(&applied, at).unwrap();
        let msg = a.failure_report(Some("core_poison.bpf.c:16")).to_string();
        assert_eq!(
            msg,
            format!(
                "CO-RE relocation #0 (byte_off, root type `struct task_struct___old`, access `0:0` \
                 = `task_struct___old.state`) failed at insn {at}: the target has no such field \
                 (1 candidate type); source: core_poison.bpf.c:16"
            )
        );
    }

    /// What libbpf makes of the object: loaded by `bpftool prog load`
    /// (libbpf relocates it against the running kernel), its instructions
    /// as the kernel holds them (`bpftool prog dump xlated ... file`).
    fn libbpf_xlated(name: &str) -> Vec<Insn> {
        let fs = Path::new("/sys/fs/bpf");
        oxbpf_syscalls::mount_bpffs(fs).expect("bpffs");
        let pin = fs.join(format!(
            "oxbpf_reloc_{}_{}",
            std::process::id(),
            name.replace('.', "_")
        ));
        let _ = std::fs::remove_file(&pin);
        let out = std::process::Command::new("bpftool")
            .arg("prog")
            .arg("load")
            .arg(format!("{DATA}/{name}"))
            .arg(&pin)
            .output()
            .expect("bpftool (Debian package bpftool) is needed");
        assert!(
            out.status.success(),
            "bpftool prog load {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dump =
            std::env::temp_dir().join(format!("oxbpf_reloc_{}_{name}.xlated", std::process::id()));
        let st = std::process::Command::new("bpftool")
            .args(["prog", "dump", "xlated", "pinned"])
            .arg(&pin)
            .arg("file")
            .arg(&dump)
            .status()
            .unwrap();
        let _ = std::fs::remove_file(&pin);
        assert!(st.success());
        let bytes = std::fs::read(&dump).unwrap();
        let _ = std::fs::remove_file(&dump);
        Insn::vec_from_bytes(&bytes, cfg!(target_endian = "big")).unwrap()
    }

    /// Ours, loaded, as the kernel holds it.
    fn our_xlated(name: &str) -> (Vec<Insn>, Vec<Applied>) {
        let k = vmlinux();
        let obj = read_obj(name);
        let results = map_create(&MapCreateAttr::new(MapType::ARRAY, 4, 8, 64)).unwrap();
        let mut keep = Vec::new();
        let (mut insns, applied) = relocate(&obj, &k);
        bind_maps(&obj, &mut insns, &results, &mut keep);
        let prog = load(&obj.programs[0].function.name, &insns).unwrap();
        (oxbpf_syscalls::prog_xlated_insns(&prog).unwrap(), applied)
    }

    /// Differences between two xlated programs, map loads aside (their
    /// immediates are map ids, which differ).
    fn xlated_diff(a: &[Insn], b: &[Insn]) -> Vec<String> {
        let mut out = Vec::new();
        if a.len() != b.len() {
            out.push(format!("{} vs {} insns", a.len(), b.len()));
        }
        let mut map_second = false;
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            if map_second {
                map_second = false;
                continue;
            }
            if x.is_map_load() && y.is_map_load() && x.dst() == y.dst() && x.src() == y.src() {
                map_second = true;
                continue;
            }
            if x != y {
                out.push(format!("insn {i}: ours {x:?}, libbpf {y:?}"));
            }
        }
        out
    }

    /// libbpf (1.1, through bpftool) as a black-box oracle: the objects end
    /// up with the same instructions in the kernel whether libbpf or this
    /// crate relocated them (bitfields, poisoned dead branches and 1,450
    /// generated relocations included).
    #[test]
    fn libbpf_makes_the_same_program() {
        for name in ["core_fields.bpf.o", "core_types.bpf.o", "core_many.bpf.o"] {
            let (ours, _) = our_xlated(name);
            let theirs = libbpf_xlated(name);
            let diff = xlated_diff(&ours, &theirs);
            assert!(diff.is_empty(), "{name}:\n{}", diff.join("\n"));
        }
    }
}
