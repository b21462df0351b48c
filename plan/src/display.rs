//! The readable trace of a plan (`oxbpf plan OBJ`).
//!
//! One line per operation, `%n = mnemonic  attributes`, patch points
//! indented below their program, and the cleanup an executor performs if
//! the plan fails part-way: every object created so far, closed in reverse
//! order, each once.

use core::fmt::{self, Display, Formatter};

use crate::{CoreRelo, CoreReloKind, KconfigKind, KconfigVar, Op, PatchKind, Plan, Produces};

impl Display for Plan {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        writeln!(f, "plan {}", self.object)?;
        for (i, op) in self.ops.iter().enumerate() {
            write!(f, "  %{i} = {:<11} ", op.mnemonic())?;
            write_op(f, self, op)?;
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

fn write_op(f: &mut Formatter<'_>, plan: &Plan, op: &Op) -> fmt::Result {
    match op {
        Op::LoadBtf(b) => write!(f, "{} bytes", b.data.len()),
        Op::ReuseMap(r) => {
            write!(f, "{:?} if compatible with ", r.path)?;
            write_op(f, plan, &Op::CreateMap(r.expect.clone()))
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
            if !u.kconfig.is_empty() {
                write!(f, " kconfig {} (values of the target)", u.kconfig.len())?;
            }
            for var in &u.kconfig {
                write_kconfig(f, var)?;
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
            if p.core_applied > 0 {
                write!(f, " core_relos {}", p.core_applied)?;
            }
            if !p.core_relos.is_empty() {
                write!(f, " kernel_core_relos {}", p.core_relos.len())?;
            }
            for poisoned in &p.poisoned {
                write!(
                    f,
                    "\n         insn {}: poisoned: {}",
                    poisoned.insn, poisoned.what
                )?;
            }
            if !p.core_relos.is_empty() {
                // Name the types and access strings when the program's
                // BTF is at hand and readable.
                let data = match p.btf.and_then(|r| plan.op(r)) {
                    Some(Op::LoadBtf(b)) => Some(&b.data[..]),
                    _ => None,
                };
                let btf = data.and_then(|d| oxbpf_btf::Btf::parse(d).ok());
                for r in &p.core_relos {
                    write_core_relo(f, btf.as_ref(), r)?;
                }
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

/// `+offset NAME: kind`, one kconfig variable on its own line.
fn write_kconfig(f: &mut Formatter<'_>, var: &KconfigVar) -> fmt::Result {
    write!(f, "\n         +{} {}: ", var.offset, var.name)?;
    match var.kind {
        KconfigKind::Bool => f.write_str("bool")?,
        KconfigKind::Char => f.write_str("char")?,
        KconfigKind::Tristate {
            signed,
            no,
            yes,
            module,
        } => write!(
            f,
            "tristate {}{} (n {no} y {yes} m {module})",
            if signed { "s" } else { "u" },
            var.size * 8
        )?,
        KconfigKind::Int { signed } => {
            write!(f, "{}{}", if signed { "s" } else { "u" }, var.size * 8)?
        }
        KconfigKind::Str => write!(f, "char[{}]", var.size)?,
    }
    if var.weak {
        f.write_str(" (weak)")?;
    }
    Ok(())
}

/// One kernel CO-RE relocation: its kind, root type and access string.
fn write_core_relo(
    f: &mut Formatter<'_>,
    btf: Option<&oxbpf_btf::Btf<'_>>,
    r: &CoreRelo,
) -> fmt::Result {
    write!(
        f,
        "\n         insn {}: core {} ",
        r.insn,
        relo_kind_name(r.kind)
    )?;
    let id = oxbpf_btf::TypeId(r.type_id);
    let root = btf.and_then(|b| {
        let kind = b.type_by_id(id).ok()?.kind();
        let name = b.name(id).ok()?;
        Some((kind, name))
    });
    match root {
        Some((kind, "")) => write!(f, "{kind} <anon> [{}]", r.type_id)?,
        Some((kind, name)) => write!(f, "{kind} {name} [{}]", r.type_id)?,
        None => write!(f, "type [{}]", r.type_id)?,
    }
    match btf.and_then(|b| b.string_at(r.access_str_off).ok()) {
        Some(access) => write!(f, " {access:?}"),
        None => write!(f, " access_str_off {}", r.access_str_off),
    }
}

/// The name of a relocation kind as the trace prints it.
fn relo_kind_name(kind: CoreReloKind) -> String {
    let name = match kind {
        CoreReloKind::FieldByteOffset => "field_byte_offset",
        CoreReloKind::FieldByteSize => "field_byte_size",
        CoreReloKind::FieldExists => "field_exists",
        CoreReloKind::FieldSigned => "field_signed",
        CoreReloKind::FieldLshiftU64 => "field_lshift_u64",
        CoreReloKind::FieldRshiftU64 => "field_rshift_u64",
        CoreReloKind::TypeIdLocal => "type_id_local",
        CoreReloKind::TypeIdTarget => "type_id_target",
        CoreReloKind::TypeExists => "type_exists",
        CoreReloKind::TypeSize => "type_size",
        CoreReloKind::EnumvalExists => "enumval_exists",
        CoreReloKind::EnumvalValue => "enumval_value",
        CoreReloKind::TypeMatches => "type_matches",
        CoreReloKind::Other(v) => return format!("kind_{v}"),
    };
    name.to_owned()
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
        plan.push(Op::UpdateElem(UpdateElem::new(
            map,
            vec![1, 0, 0, 0],
            vec![0; 8],
            0,
        )));
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

    #[test]
    fn kconfig_and_kernel_core_relos_are_listed() {
        let mut b = oxbpf_btf::BtfBuilder::new();
        let int = b.add_int("int", 4, oxbpf_btf::IntEncoding::SIGNED);
        let s = b.add_struct("task", 8, &[("pid", int, 0), ("tgid", int, 32)]);
        let access = b.add_string("0:1");
        let mut plan = Plan::new("t.bpf.o");
        let btf = plan.push(Op::LoadBtf(LoadBtf { data: b.build() }));
        let map = plan.push(Op::CreateMap(CreateMap::new(
            "t.kconfig",
            MapType::ARRAY,
            4,
            8,
            1,
        )));
        let mut u = UpdateElem::new(map, vec![0; 4], vec![0; 8], 0);
        u.kconfig = vec![
            KconfigVar {
                name: "CONFIG_HZ".into(),
                offset: 0,
                size: 4,
                kind: KconfigKind::Int { signed: true },
                weak: false,
            },
            KconfigVar {
                name: "CONFIG_X".into(),
                offset: 4,
                size: 1,
                kind: KconfigKind::Bool,
                weak: true,
            },
        ];
        plan.push(Op::UpdateElem(u));
        let mut p = LoadProg::new("p", ProgType::TRACEPOINT, "GPL");
        p.insns.extend([Insn::mov64_imm(0, 4), Insn::exit()]);
        p.btf = Some(btf);
        p.func_info.push(FuncInfo {
            insn: InsnIdx(0),
            type_id: 1,
        });
        p.core_relos.push(CoreRelo {
            insn: InsnIdx(0),
            type_id: s.0,
            access_str_off: access,
            kind: CoreReloKind::FieldByteOffset,
        });
        plan.push(Op::LoadProg(p));
        plan.validate().unwrap();
        let text = plan.to_string();
        assert!(
            text.contains(
                "value 8 bytes kconfig 2 (values of the target)\n         +0 CONFIG_HZ: s32\n         +4 CONFIG_X: bool (weak)\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "kernel_core_relos 1\n         insn 0: core field_byte_offset struct task [{}] \"0:1\"\n",
                s.0
            )),
            "{text}"
        );
    }
}
