//! Helpers shared by the live-kernel tests.
#![allow(dead_code)]

use std::os::fd::AsRawFd;

use oxbpf_asm::Insn;
use oxbpf_asm::opcode::{jmp, size};
use oxbpf_syscalls::*;

/// `BPF_FUNC_map_lookup_elem`.
pub const HELPER_MAP_LOOKUP_ELEM: i32 = 1;
/// `BPF_FUNC_get_current_pid_tgid`.
pub const HELPER_GET_CURRENT_PID_TGID: i32 = 14;

/// The calling thread's id.
pub fn gettid() -> u32 {
    rustix::thread::gettid().as_raw_nonzero().get() as u32
}

/// An array map with one u64 slot.
pub fn counter_map() -> MapFd {
    let mut a = MapCreateAttr::new(MapType::ARRAY, 4, 8, 1);
    a.map_name = attr::obj_name("oxbpf_counter");
    map_create(&a).expect("creating the counter map")
}

/// Slot 0 of a counter map.
pub fn read_counter(map: &MapFd) -> u64 {
    let mut v = [0u8; 8];
    assert!(map_lookup_elem(map, &0u32.to_ne_bytes(), &mut v, 0).expect("lookup"));
    u64::from_ne_bytes(v)
}

/// A program that adds 1 to slot 0 of `map` each time it runs on thread
/// `tid`, and returns 0.
pub fn counter_insns(map: &MapFd, tid: u32) -> Vec<Insn> {
    let mut v = vec![
        Insn::call_helper(HELPER_GET_CURRENT_PID_TGID), // 0
        Insn::jmp32_imm(jmp::JNE, 0, tid as i32, 9),    // 1: -> 11
        Insn::st_mem(size::W, 10, -4, 0),               // 2
        Insn::mov64_reg(2, 10),                         // 3
        Insn::alu64_imm(oxbpf_asm::opcode::alu::ADD, 2, -4), // 4
    ];
    v.extend(Insn::ld_map_fd(1, map.as_raw_fd())); // 5, 6
    v.extend([
        Insn::call_helper(HELPER_MAP_LOOKUP_ELEM), // 7
        Insn::jmp_imm(jmp::JEQ, 0, 0, 2),          // 8: -> 11
        Insn::mov64_imm(1, 1),                     // 9
        Insn::atomic_add(size::DW, 0, 1, 0),       // 10
        Insn::mov64_imm(0, 0),                     // 11
        Insn::exit(),                              // 12
    ]);
    v
}

/// Loads [`counter_insns`] as `prog_type`.
pub fn counter_prog(prog_type: ProgType, map: &MapFd, name: &str) -> ProgFd {
    let insns = counter_insns(map, gettid());
    let mut o = ProgLoadOptions::new(prog_type, &insns, c"GPL");
    o.name = name;
    prog_load(&o, &mut VerifierLog::new()).unwrap_or_else(|e| panic!("loading {name}: {e}"))
}

/// Makes `n` system calls on this thread.
pub fn syscalls(n: usize) {
    for _ in 0..n {
        rustix::thread::sched_yield();
    }
}

/// `r0 = ret; exit` as `prog_type`.
pub fn ret_prog(prog_type: ProgType, ret: i32, name: &str) -> ProgFd {
    let insns = [Insn::mov64_imm(0, ret), Insn::exit()];
    let mut o = ProgLoadOptions::new(prog_type, &insns, c"GPL");
    o.name = name;
    prog_load(&o, &mut VerifierLog::new()).unwrap_or_else(|e| panic!("loading {name}: {e}"))
}

/// A minimal BTF blob: one type, `int` (signed, 32 bits), id 1.
pub fn int_btf(bits: u32) -> Vec<u8> {
    let strings = b"\0int\0";
    let mut types = Vec::new();
    types.extend(1u32.to_ne_bytes()); // name_off: "int"
    types.extend((1u32 << 24).to_ne_bytes()); // kind INT, vlen 0
    types.extend(4u32.to_ne_bytes()); // size
    types.extend(((1u32 << 24) | bits).to_ne_bytes()); // SIGNED, offset 0, bits
    let mut b = Vec::new();
    b.extend(0xeb9fu16.to_ne_bytes()); // magic
    b.push(1); // version
    b.push(0); // flags
    b.extend(24u32.to_ne_bytes()); // hdr_len
    b.extend(0u32.to_ne_bytes()); // type_off
    b.extend((types.len() as u32).to_ne_bytes()); // type_len
    b.extend((types.len() as u32).to_ne_bytes()); // str_off
    b.extend((strings.len() as u32).to_ne_bytes()); // str_len
    b.extend(types);
    b.extend(strings);
    b
}

/// Whether vmlinux BTF's `enum enum_name` has the value `value`: the
/// kernel knows that UAPI constant (an attach type, a perf event kind of
/// link info...). Panics if the BTF cannot be read.
pub fn kernel_enum_has(enum_name: &str, value: &str) -> bool {
    use oxbpf_btf::{Btf, Kind, Type};
    let btf = Btf::from_file(std::path::Path::new("/sys/kernel/btf/vmlinux")).unwrap();
    let Some(id) = btf.find_by_name_kind(enum_name, Kind::Enum).unwrap() else {
        return false;
    };
    let Type::Enum(e) = btf.type_by_id(id).unwrap() else {
        return false;
    };
    e.values()
        .any(|v| btf.string_at(v.name_off).is_ok_and(|n| n == value))
}

mod skip;
// Not every test binary records skips (as with #![allow(dead_code)]).
#[allow(unused_imports)]
pub use skip::skip;
