//! Plans built in code: as many maps and programs as a test wants, with
//! every kind of step a generated loader performs. The BTF and programs
//! are valid for the kernel, so the same plans serve the live tests.
//!
//! The including module provides `asm`, `btf`, `plan` and `sys` (the
//! crates, under whichever path its package reaches them).

use super::asm::Insn;
use super::asm::opcode::{alu, size};
use super::btf::{BtfBuilder, FuncLinkage, IntEncoding};
use super::plan::{
    CoreRelo, CoreReloKind, CreateMap, FindBtfId, FindKsym, Freeze, FuncInfo, InsnIdx, KconfigKind,
    KconfigVar, LineInfo, LoadBtf, LoadProg, Op, Patch, PatchKind, Pin, Plan, Produces, Ref, SetFd,
    UpdateElem,
};
use super::sys::{MapType, ProgType};

/// `BPF_F_RDONLY_PROG`.
const RDONLY_PROG: u32 = 1 << 7;
/// `BPF_F_MMAPABLE`.
const MMAPABLE: u32 = 1 << 10;

/// The kconfig variables of [`many`]'s `.kconfig` map (16 bytes): the
/// kernel version, a bool every BPF kernel sets, a weak option no kernel
/// has.
pub fn many_kconfig() -> Vec<KconfigVar> {
    let var = |name: &str, offset, size, kind, weak| KconfigVar {
        name: name.into(),
        offset,
        size,
        kind,
        weak,
    };
    vec![
        var(
            "LINUX_KERNEL_VERSION",
            0,
            4,
            KconfigKind::Int { signed: false },
            false,
        ),
        var("CONFIG_BPF_SYSCALL", 4, 1, KconfigKind::Bool, false),
        var(
            "CONFIG_OXBPF_NOT_A_CONFIG",
            8,
            8,
            KconfigKind::Int { signed: false },
            true,
        ),
    ]
}

/// What [`many`] puts in its plan.
#[derive(Clone, Debug)]
pub struct Many {
    /// Array maps, `m0`, `m1`...
    pub maps: usize,
    /// Socket filter programs, `p0`, `p1`..., program `i` looking up map
    /// `i % maps`.
    pub progs: usize,
    /// Pin map `m0` at this path (the runtime pins after the loader).
    pub pin: Option<String>,
}

/// Type ids of the plan's BTF.
struct Types {
    u32_id: u32,
    u64_id: u32,
    int: u32,
    task: u32,
    access: u32,
    func: u32,
    file: u32,
    line: u32,
}

fn btf() -> (Vec<u8>, Types) {
    let mut b = BtfBuilder::new();
    let u32_id = b.add_int("unsigned int", 4, IntEncoding::NONE);
    let u64_id = b.add_int("unsigned long long", 8, IntEncoding::NONE);
    let int = b.add_int("int", 4, IntEncoding::SIGNED);
    let proto = b.add_func_proto(int, &[]);
    let func = b.add_func("prog", proto, FuncLinkage::Static);
    let task = b.add_struct("task_struct", 0, &[]);
    let access = b.add_string("0");
    let file = b.add_string("many.bpf.c");
    let line = b.add_string("return 0;");
    (
        b.build(),
        Types {
            u32_id: u32_id.0,
            u64_id: u64_id.0,
            int: int.0,
            task: task.0,
            access,
            func: func.0,
            file,
            line,
        },
    )
}

fn map(name: &str, btf: Ref, t: &Types) -> CreateMap {
    let mut m = CreateMap::new(name, MapType::ARRAY, 4, 8, 4);
    (m.btf, m.btf_key_type_id, m.btf_value_type_id) = (Some(btf), t.u32_id, t.u64_id);
    m
}

/// A plan with `maps` array maps and `progs` programs, plus: a data map
/// written and frozen, a `.kconfig` map whose value the runtime fills
/// ([`many_kconfig`]), written and frozen, two CO-RE relocations left to
/// the kernel in program 0 (the local id of `int` and whether `struct
/// task_struct` exists), an inner map template and a map-in-map, a prog
/// array with two slots set, a map-in-map slot set, two BTF lookups (one
/// optional, absent), an optional kallsyms lookup, and optionally a pin.
pub fn many(opts: &Many) -> Plan {
    assert!(opts.maps >= 1 && opts.progs >= 2);
    let mut plan = Plan::new("many.bpf.o");
    let (data, t) = btf();
    let btf = plan.push(Op::LoadBtf(LoadBtf { data }));
    let mut maps = Vec::new();
    for i in 0..opts.maps {
        maps.push(plan.push(Op::CreateMap(map(&format!("m{i}"), btf, &t))));
    }
    if let Some(path) = &opts.pin {
        plan.push(Op::Pin(Pin {
            object: maps[0],
            path: path.clone(),
        }));
    }
    // Global data: written, frozen, read by program 0.
    let mut d = CreateMap::new("many.rodata", MapType::ARRAY, 4, 16, 1);
    d.map_flags = RDONLY_PROG;
    let data = plan.push(Op::CreateMap(d));
    plan.push(Op::UpdateElem(UpdateElem::new(
        data,
        0u32.to_ne_bytes().to_vec(),
        (0u8..16).collect(),
        0,
    )));
    plan.push(Op::Freeze(Freeze { map: data }));
    // The .kconfig map: its values come from the kernel the loader runs on.
    let mut k = CreateMap::new("many.kconfig", MapType::ARRAY, 4, 16, 1);
    k.map_flags = RDONLY_PROG | MMAPABLE;
    let kconfig = plan.push(Op::CreateMap(k));
    let mut update = UpdateElem::new(kconfig, 0u32.to_ne_bytes().to_vec(), vec![0; 16], 0);
    update.kconfig = many_kconfig();
    plan.push(Op::UpdateElem(update));
    plan.push(Op::Freeze(Freeze { map: kconfig }));
    // A map-in-map and its template; a prog array.
    let inner = plan.push(Op::CreateMap(map("inner", btf, &t)));
    let mut outer = CreateMap::new("outer", MapType::ARRAY_OF_MAPS, 4, 4, 2);
    outer.inner_map = Some(inner);
    let outer = plan.push(Op::CreateMap(outer));
    let jmp = plan.push(Op::CreateMap(CreateMap::new(
        "jmp",
        MapType::PROG_ARRAY,
        4,
        4,
        2,
    )));
    // Kernel lookups: one present, one optional and absent, one optional
    // address.
    plan.push(Op::FindBtfId(FindBtfId {
        name: "task_struct".into(),
        kind: super::btf::Kind::Struct,
        optional: false,
    }));
    plan.push(Op::FindBtfId(FindBtfId {
        name: "oxbpf_no_such_type".into(),
        kind: super::btf::Kind::Struct,
        optional: true,
    }));
    plan.push(Op::FindKsym(FindKsym {
        name: "oxbpf_no_such_symbol".into(),
        optional: true,
    }));
    let mut progs = Vec::new();
    for i in 0..opts.progs {
        progs.push(plan.push(Op::LoadProg(prog(i, maps[i % maps.len()], data, btf, &t))));
    }
    for (slot, &p) in progs.iter().take(2).enumerate() {
        plan.push(Op::SetFd(SetFd {
            map: jmp,
            key: slot as u32,
            value: p,
            value_kind: Produces::Prog,
        }));
    }
    plan.push(Op::SetFd(SetFd {
        map: outer,
        key: 1,
        value: maps[0],
        value_kind: Produces::Map,
    }));
    plan.validate().expect("a valid plan");
    plan
}

/// Program `i`: looks key 0 up in `map`; program 0 also reads 8 bytes of
/// `data`'s value. Returns 0.
fn prog(i: usize, map: Ref, data: Ref, btf: Ref, t: &Types) -> LoadProg {
    let mut p = LoadProg::new(&format!("p{i}"), ProgType::SOCKET_FILTER, "GPL");
    let ld = |p: &mut LoadProg, dst: u8, kind: PatchKind| {
        p.patches.push(Patch {
            insn: InsnIdx(p.insns.len()),
            kind,
        });
        p.insns.extend(Insn::ld_imm64(dst, 0, 0));
    };
    if i == 0 {
        ld(
            &mut p,
            1,
            PatchKind::MapValue {
                map: data,
                offset: 8,
            },
        );
        p.insns.push(Insn::ldx_mem(size::DW, 0, 1, 0));
    }
    ld(&mut p, 1, PatchKind::MapFd(map));
    p.insns.extend([
        Insn::mov64_reg(2, 10),
        Insn::alu64_imm(alu::ADD, 2, -4),
        Insn::st_mem(size::W, 10, -4, 0),
        Insn::call_helper(1),
    ]);
    if i == 0 {
        // The kernel relocates these: r3 = local id of `int` (unchanged),
        // r4 = whether its BTF has a `struct task_struct` (1).
        for (reg, value, type_id, kind) in [
            (3, t.int, t.int, CoreReloKind::TypeIdLocal),
            (4, 1, t.task, CoreReloKind::TypeExists),
        ] {
            p.core_relos.push(CoreRelo {
                insn: InsnIdx(p.insns.len()),
                type_id,
                access_str_off: t.access,
                kind,
            });
            p.insns.push(Insn::mov64_imm(reg, value as i32));
        }
    }
    p.insns.extend([Insn::mov64_imm(0, 0), Insn::exit()]);
    p.btf = Some(btf);
    p.func_info.push(FuncInfo {
        insn: InsnIdx(0),
        type_id: t.func,
    });
    for (n, _) in p.insns.iter().enumerate().filter(|(_, x)| x.code != 0) {
        p.line_info.push(LineInfo {
            insn: InsnIdx(n),
            file_name_off: t.file,
            line_off: t.line,
            line_col: ((n as u32 + 1) << 10) | 5,
        });
    }
    p
}
