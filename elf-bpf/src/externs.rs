//! Extern declarations: what an object asks the loader to supply.
//!
//! An extern is an undefined symbol of the object, described by BTF:
//!
//! - a VAR in the `.kconfig` DATASEC (`extern int CONFIG_HZ __kconfig;`) is
//!   a **kconfig** value, which the loader places in a `.kconfig` map — this
//!   module lays that map out;
//! - a VAR in the `.ksyms` DATASEC is a **ksym**: *typed* when its type is a
//!   kernel type (resolved to the BTF id of the kernel VAR of that name),
//!   *typeless* when it is `void` (resolved to the symbol's address);
//! - a FUNC is a **kfunc**, called by BTF id.
//!
//! `__weak` externs resolve to zero when the kernel lacks them.

use oxbpf_btf::{Btf, Kind, Type, TypeId};

use crate::error::{Error, Result};

/// What kind of value an extern stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExternKind {
    /// A kernel configuration value, at `offset` in the `.kconfig` map.
    Kconfig {
        /// Byte offset in the `.kconfig` map value.
        offset: u32,
        /// Size in bytes.
        size: u32,
        /// The VAR's type (after modifiers and typedefs).
        ty: TypeId,
    },
    /// A kernel variable by BTF type (`extern const struct rq runqueues __ksym`).
    TypedKsym {
        /// The VAR's declared type in the object's BTF.
        ty: TypeId,
    },
    /// A kernel symbol's address (`extern const void sym __ksym`).
    TypelessKsym,
    /// A kernel function called by BTF id.
    Kfunc {
        /// The FUNC in the object's BTF.
        func: TypeId,
    },
}

/// An extern of the object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extern {
    /// Symbol name (`CONFIG_HZ`, `bpf_task_release`).
    pub name: String,
    /// `__weak`: zero when unresolved instead of an error.
    pub weak: bool,
    /// What it stands for.
    pub kind: ExternKind,
}

/// The externs of an object and the layout of its `.kconfig` map.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Externs {
    /// Every extern, in BTF order.
    pub list: Vec<Extern>,
    /// Size of the `.kconfig` map value (0 when there are no kconfig externs).
    pub kconfig_size: u32,
}

impl Externs {
    /// The extern named `name`.
    pub fn get(&self, name: &str) -> Option<&Extern> {
        self.list.iter().find(|e| e.name == name)
    }

    /// Offset of a kconfig extern in the `.kconfig` map.
    pub(crate) fn kconfig_offset(&self, name: &str) -> Option<u32> {
        match self.get(name)?.kind {
            ExternKind::Kconfig { offset, .. } => Some(offset),
            _ => None,
        }
    }
}

/// Finds every extern the BTF describes, given the undefined symbols of
/// the object (name, weak), and lays out the `.kconfig` map.
pub(crate) fn collect(btf: Option<&Btf<'_>>, undefined: &[(String, bool)]) -> Result<Externs> {
    let mut out = Externs::default();
    if undefined.is_empty() {
        return Ok(out);
    }
    let Some(btf) = btf else {
        let names: Vec<&str> = undefined.iter().map(|(n, _)| n.as_str()).collect();
        return Err(Error::section(
            ".BTF",
            format!("externs {names:?} need BTF to be described"),
        ));
    };
    let fail = |name: &str, reason: String| Error::Extern {
        name: name.to_owned(),
        reason,
    };
    let btf_err = |name: &str| {
        let name = name.to_owned();
        move |e| Error::btf(format!("extern {name}"), e)
    };
    let kconfig_vars = datasec_vars(btf, ".kconfig")?;
    let ksym_vars = datasec_vars(btf, ".ksyms")?;
    // (index into out.list, alignment) of each kconfig extern, laid out
    // once all are known.
    let mut kconfig_aligns: Vec<(usize, u32)> = Vec::new();
    for (name, weak) in undefined {
        let var = |vars: &[TypeId]| -> Result<Option<(TypeId, TypeId)>> {
            for &id in vars {
                if btf.name(id).map_err(btf_err(name))? == name {
                    if let Type::Var(v) = btf.type_by_id(id).map_err(btf_err(name))? {
                        return Ok(Some((id, v.ty)));
                    }
                }
            }
            Ok(None)
        };
        let kind = if let Some((_, ty)) = var(&kconfig_vars)? {
            let ty = btf.skip_mods_and_typedefs(ty).map_err(btf_err(name))?;
            let size = btf.resolve_size(ty).map_err(btf_err(name))?;
            let align = btf.resolve_align(ty).map_err(btf_err(name))?.max(1);
            if size == 0 {
                return Err(fail(name, "kconfig extern of size 0".into()));
            }
            kconfig_aligns.push((out.list.len(), align));
            ExternKind::Kconfig {
                offset: 0,
                size,
                ty,
            }
        } else if let Some((_, ty)) = var(&ksym_vars)? {
            if btf
                .skip_mods_and_typedefs(ty)
                .map_err(btf_err(name))?
                .is_void()
            {
                ExternKind::TypelessKsym
            } else {
                ExternKind::TypedKsym { ty }
            }
        } else if let Some(func) = btf
            .find_by_name_kind(name, Kind::Func)
            .map_err(btf_err(name))?
        {
            ExternKind::Kfunc { func }
        } else {
            return Err(fail(
                name,
                "no BTF describes it (not a __kconfig, __ksym or kfunc extern)".into(),
            ));
        };
        out.list.push(Extern {
            name: name.clone(),
            weak: *weak,
            kind,
        });
    }
    out.kconfig_size = layout_kconfig(&mut out.list, &mut kconfig_aligns)?;
    Ok(out)
}

/// Places the kconfig externs (`(index, alignment)` pairs into `list`)
/// in the `.kconfig` map as libbpf does, so that both loaders give the
/// map the same size and the programs the same offsets: the most aligned
/// first, then the smallest, then by name; each at the next multiple of
/// its alignment.
/// Returns the map's value size.
fn layout_kconfig(list: &mut [Extern], aligns: &mut [(usize, u32)]) -> Result<u32> {
    let size = |i: usize| match list[i].kind {
        ExternKind::Kconfig { size, .. } => size,
        _ => 0,
    };
    aligns.sort_by(|&(a, align_a), &(b, align_b)| {
        align_b
            .cmp(&align_a)
            .then_with(|| size(a).cmp(&size(b)))
            .then_with(|| list[a].name.cmp(&list[b].name))
    });
    let mut next_offset = 0u32;
    for &(i, align) in aligns.iter() {
        let ext = &mut list[i];
        let ExternKind::Kconfig { offset, size, .. } = &mut ext.kind else {
            continue;
        };
        let overflow = || Error::Extern {
            name: ext.name.clone(),
            reason: "kconfig layout overflows".into(),
        };
        *offset = next_offset
            .checked_next_multiple_of(align)
            .ok_or_else(overflow)?;
        next_offset = offset.checked_add(*size).ok_or_else(overflow)?;
    }
    Ok(next_offset)
}

/// The VAR ids listed in the DATASEC named `name` (none if it is absent).
fn datasec_vars(btf: &Btf<'_>, name: &str) -> Result<Vec<TypeId>> {
    let err = |e| Error::btf(format!("DATASEC {name}"), e);
    let Some(id) = btf.find_by_name_kind(name, Kind::Datasec).map_err(err)? else {
        return Ok(Vec::new());
    };
    match btf.type_by_id(id).map_err(err)? {
        Type::Datasec(d) => Ok(d.vars().map(|v| v.ty).collect()),
        _ => Ok(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layout libbpf 1.7 gives tests/progs/externs.bpf.c's externs
    /// (its debug log lists each offset): most aligned first, then the
    /// smallest, then by name.
    #[test]
    fn kconfig_layout_is_libbpfs() {
        let decl: [(&str, u32, u32); 9] = [
            ("CONFIG_HZ", 4, 4),
            ("CONFIG_BPF_SYSCALL", 1, 1),
            ("CONFIG_BPF_JIT", 4, 4),
            ("CONFIG_BPF", 1, 1),
            ("CONFIG_DEFAULT_HOSTNAME", 16, 1),
            ("CONFIG_OXBPF_NOT_A_CONFIG", 8, 8),
            ("LINUX_KERNEL_VERSION", 4, 4),
            ("LINUX_HAS_SYSCALL_WRAPPER", 1, 1),
            ("LINUX_HAS_BPF_COOKIE", 1, 1),
        ];
        let mut list: Vec<Extern> = decl
            .iter()
            .map(|&(name, size, _)| Extern {
                name: name.into(),
                weak: false,
                kind: ExternKind::Kconfig {
                    offset: 0,
                    size,
                    ty: TypeId(1),
                },
            })
            .collect();
        let mut aligns: Vec<(usize, u32)> = decl
            .iter()
            .enumerate()
            .map(|(i, &(_, _, align))| (i, align))
            .collect();
        let size = layout_kconfig(&mut list, &mut aligns).unwrap();
        let offset = |name: &str| match list.iter().find(|e| e.name == name).unwrap().kind {
            ExternKind::Kconfig { offset, .. } => offset,
            _ => unreachable!(),
        };
        let expected = [
            ("CONFIG_OXBPF_NOT_A_CONFIG", 0),
            ("CONFIG_BPF_JIT", 8),
            ("CONFIG_HZ", 12),
            ("LINUX_KERNEL_VERSION", 16),
            ("CONFIG_BPF", 20),
            ("CONFIG_BPF_SYSCALL", 21),
            ("LINUX_HAS_BPF_COOKIE", 22),
            ("LINUX_HAS_SYSCALL_WRAPPER", 23),
            ("CONFIG_DEFAULT_HOSTNAME", 24),
        ];
        for (name, at) in expected {
            assert_eq!(offset(name), at, "{name}");
        }
        assert_eq!(size, 40);
    }
}
