//! The readable trace of a plan (`oxbpf plan OBJ`).
//!
//! One line per operation, `%n = mnemonic  attributes`, patch points
//! indented below their program, and the cleanup an executor performs if
//! the plan fails part-way: every object created so far, closed in reverse
//! order, each once.

use core::fmt::{self, Display, Formatter};

use crate::{Op, PatchKind, Plan, Produces};

impl Display for Plan {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        writeln!(f, "plan {}", self.object)?;
        for (i, op) in self.ops.iter().enumerate() {
            write!(f, "  %{i} = {:<11} ", op.mnemonic())?;
            write_op(f, op)?;
            writeln!(f)?;
        }
        let owned: Vec<String> = self
            .ops
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, op)| op.produces() != Produces::Nothing)
            .map(|(i, _)| format!("%{i}"))
            .collect();
        if !owned.is_empty() {
            writeln!(f, "  on error: close {}", owned.join(" "))?;
        }
        Ok(())
    }
}

fn write_op(f: &mut Formatter<'_>, op: &Op) -> fmt::Result {
    match op {
        Op::LoadBtf(b) => write!(f, "{} bytes", b.data.len()),
        Op::ReuseMap(r) => {
            write!(f, "{:?} if compatible with ", r.path)?;
            write_op(f, &Op::CreateMap(r.expect.clone()))
        }
        Op::Pin(p) => write!(f, "{} at {:?}", p.object, p.path),
        Op::FindBtfId(b) => {
            write!(f, "{:?} {}", b.name, b.kind)?;
            if b.optional {
                f.write_str(" (weak)")?;
            }
            Ok(())
        }
        Op::StructOpsValue(v) => {
            write!(f, "{} value {} bytes", v.map, v.value.len())?;
            for (at, r) in &v.progs {
                write!(f, " +{at}:{r}")?;
            }
            Ok(())
        }
        Op::SetFd(set) => write!(f, "{} key {} <- fd {}", set.map, set.key, set.value),
        Op::FindKsym(k) => write!(f, "{:?}{}", k.name, if k.optional { " (weak)" } else { "" }),
        Op::CreateMap(m) => {
            write!(
                f,
                "{:?} {} key {} value {} max {}",
                m.name, m.map_type, m.key_size, m.value_size, m.max_entries
            )?;
            if m.kernel_name != m.name {
                write!(f, " kernel_name {:?}", m.kernel_name)?;
            }
            if m.map_flags != 0 {
                write!(f, " flags {:#x}", m.map_flags)?;
            }
            if m.numa_node != 0 {
                write!(f, " numa {}", m.numa_node)?;
            }
            if m.map_extra != 0 {
                write!(f, " extra {:#x}", m.map_extra)?;
            }
            if let Some(btf) = m.btf {
                write!(
                    f,
                    " btf {btf} key_type {} value_type {}",
                    m.btf_key_type_id, m.btf_value_type_id
                )?;
            }
            if let Some(inner) = m.inner_map {
                write!(f, " inner {inner}")?;
            }
            if let Some(v) = m.btf_vmlinux_value_type {
                write!(f, " vmlinux_value_type {v}")?;
            }
            Ok(())
        }
        Op::UpdateElem(u) => {
            write!(
                f,
                "{} key {} value {} bytes",
                u.map,
                Hex(&u.key),
                u.value.len()
            )?;
            if u.flags != 0 {
                write!(f, " flags {:#x}", u.flags)?;
            }
            Ok(())
        }
        Op::Freeze(z) => write!(f, "{}", z.map),
        Op::MapArena(a) => {
            write!(f, "{}", a.map)?;
            if !a.data.is_empty() {
                write!(f, " globals {} bytes at +{:#x}", a.data.len(), a.offset)?;
            }
            Ok(())
        }
        Op::LoadProg(p) => {
            write!(f, "{:?} {}", p.name, p.prog_type)?;
            match p.expected_attach_type {
                // A struct_ops program's "attach type" is the index of the
                // member it implements.
                Some(at) if p.prog_type == oxbpf_syscalls::ProgType::STRUCT_OPS => {
                    write!(f, " member {}", at.0)?
                }
                Some(at) => write!(f, " attach {at}")?,
                None => {}
            }
            write!(f, " {} insns license {:?}", p.insns.len(), p.license)?;
            if p.kernel_name != p.name {
                write!(f, " kernel_name {:?}", p.kernel_name)?;
            }
            if p.prog_flags != 0 {
                write!(f, " flags {:#x}", p.prog_flags)?;
            }
            if p.kern_version != 0 {
                write!(f, " kern_version {:#x}", p.kern_version)?;
            }
            if let Some(r) = p.attach_btf {
                write!(f, " attach_btf {r}")?;
            }
            if let Some(btf) = p.btf {
                write!(
                    f,
                    " btf {btf} func_info {} line_info {}",
                    p.func_info.len(),
                    p.line_info.len()
                )?;
            }
            if p.core_relos > 0 {
                write!(f, " core_relos {}", p.core_relos)?;
            }
            for poisoned in &p.poisoned {
                write!(
                    f,
                    "\n         insn {}: poisoned: {}",
                    poisoned.insn, poisoned.what
                )?;
            }
            for patch in &p.patches {
                write!(f, "\n         insn {}: ", patch.insn)?;
                match patch.kind {
                    PatchKind::MapFd(map) => write!(f, "ld_imm64 map_fd {map}")?,
                    PatchKind::MapValue { map, offset } => {
                        write!(f, "ld_imm64 map_value {map} +{offset}")?
                    }
                    PatchKind::BtfId(r) => write!(f, "ld_imm64 btf_id {r}")?,
                    PatchKind::Address(r) => write!(f, "ld_imm64 address {r}")?,
                    PatchKind::KfuncCall(r) => write!(f, "call kfunc {r}")?,
                }
            }
            Ok(())
        }
    }
}

/// Short hex of a small byte string (keys), elided past 16 bytes.
struct Hex<'a>(&'a [u8]);

impl Display for Hex<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, b) in self.0.iter().take(16).enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{b:02x}")?;
        }
        if self.0.len() > 16 {
            write!(f, " ... {} bytes", self.0.len())?;
        }
        f.write_str("]")
    }
}

#[cfg(test)]
mod tests {
    use oxbpf_asm::Insn;
    use oxbpf_syscalls::{MapType, ProgType};

    use crate::*;

    #[test]
    fn trace_names_every_value() {
        let mut plan = Plan::new("t.bpf.o");
        let btf = plan.push(Op::LoadBtf(LoadBtf { data: vec![0; 120] }));
        let mut m = CreateMap::new("counts", MapType::HASH, 4, 8, 1024);
        (m.btf, m.btf_key_type_id, m.btf_value_type_id) = (Some(btf), 3, 5);
        let map = plan.push(Op::CreateMap(m));
        plan.push(Op::UpdateElem(UpdateElem {
            map,
            key: vec![1, 0, 0, 0],
            value: vec![0; 8],
            flags: 0,
        }));
        let mut p = LoadProg::new("handle", ProgType::TRACEPOINT, "GPL");
        p.insns.extend(Insn::ld_map_fd(1, 0));
        p.insns.push(Insn::exit());
        p.btf = Some(btf);
        p.patches.push(Patch {
            insn: InsnIdx(0),
            kind: PatchKind::MapFd(map),
        });
        plan.push(Op::LoadProg(p));
        let text = plan.to_string();
        let expected = "\
plan t.bpf.o
  %0 = btf_load    120 bytes
  %1 = map_create  \"counts\" hash key 4 value 8 max 1024 btf %0 key_type 3 value_type 5
  %2 = map_update  %1 key [01 00 00 00] value 8 bytes
  %3 = prog_load   \"handle\" tracepoint 3 insns license \"GPL\" btf %0 func_info 0 line_info 0
         insn 0: ld_imm64 map_fd %1
  on error: close %3 %1 %0
";
        assert_eq!(text, expected);
    }
}
