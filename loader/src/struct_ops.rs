//! Laying out struct_ops map values for the target kernel.
//!
//! An object declares a struct_ops map as a variable of a kernel struct
//! type (`struct tcp_congestion_ops cc = { .init = (void *)my_init, ... }`)
//! in `.struct_ops` (or `.struct_ops.link`). The kernel takes, as the map's
//! value, its own `struct bpf_struct_ops_<name>`, whose member `data` is the
//! kernel's layout of the struct. Members are matched by name: function
//! pointers receive the fd of their program (which loads as a struct_ops
//! program attached to that member), other members their initial bytes.

use oxbpf_btf::{Btf, Kind, Type, TypeId};
use oxbpf_elf_bpf::StructOps;
use oxbpf_syscalls::MapFd;

use crate::error::{Error, Result};
use crate::link::Link;
use crate::object::Object;

/// A struct_ops map whose value registers it: written by
/// [`Object::attach_struct_ops`].
#[derive(Clone, Debug)]
pub(crate) struct Pending {
    /// Index of the map among the object's maps.
    pub(crate) map: usize,
    /// The value, zeros where program fds go.
    pub(crate) value: Vec<u8>,
    /// (offset in the value, program name).
    pub(crate) progs: Vec<(u32, String)>,
}

/// A struct_ops registration made by writing the map's value; dropping it
/// unregisters the struct (deletes the value).
#[derive(Debug)]
pub(crate) struct Registration {
    map: MapFd,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Err(e) = oxbpf_syscalls::map_delete_elem(&self.map, &0u32.to_ne_bytes()) {
            log::warn!(target: "oxbpf::attach", "unregistering a struct_ops map: {e}");
        }
    }
}

impl Object {
    /// Registers the struct_ops map `name` with its subsystem (a TCP
    /// congestion control, a scheduler...): for a `.struct_ops.link` map
    /// by creating a link, otherwise by writing its value with the fds of
    /// its programs. Dropping the returned link unregisters it.
    pub fn attach_struct_ops(&self, name: &str) -> Result<Link> {
        let map = self.map(name)?;
        if map.map_type() != oxbpf_syscalls::MapType::STRUCT_OPS {
            return Err(Error::InvalidArgument(format!(
                "map {name} is a {} map, not struct_ops",
                map.map_type()
            )));
        }
        let what = || format!("struct_ops map {name}: registering");
        let Some(pending) = self.struct_ops.iter().find(|p| p.name == name) else {
            // A link map: its value was written at load.
            let fd = oxbpf_syscalls::struct_ops_link_create(map.map_fd())
                .map_err(Error::syscall(what()))?;
            return Ok(Link::bpf(fd));
        };
        let mut value = pending.value.clone();
        for (at, prog) in &pending.progs {
            let fd = self.program(prog)?.prog_fd();
            let fd = u64::from(std::os::fd::AsRawFd::as_raw_fd(fd) as u32);
            value[*at as usize..*at as usize + 8].copy_from_slice(&fd.to_ne_bytes());
        }
        oxbpf_syscalls::map_update_elem(map.map_fd(), &0u32.to_ne_bytes(), &value, 0)
            .map_err(Error::syscall(what()))?;
        let dup = map.map_fd().try_clone().map_err(Error::syscall(what()))?;
        Ok(Link::from_struct_ops(Registration { map: dup }))
    }
}

/// A pending registration as the loaded object keeps it, by names.
#[derive(Clone, Debug)]
pub(crate) struct Named {
    pub(crate) name: String,
    pub(crate) value: Vec<u8>,
    pub(crate) progs: Vec<(u32, String)>,
}

/// The value image and program slots of one struct_ops map.
#[derive(Debug)]
pub(crate) struct Layout {
    /// Name of the kernel's value type (`bpf_struct_ops_<name>`).
    pub(crate) value_type: String,
    /// The value, with zeros where program fds go.
    pub(crate) value: Vec<u8>,
    /// (offset in `value`, program name, index of the kernel member).
    pub(crate) progs: Vec<(u32, String, u32)>,
}

/// Lays `ops` (map `map`) out for the kernel whose BTF is `kernel`;
/// `local` is the object's BTF.
pub(crate) fn layout(
    map: &str,
    ops: &StructOps,
    local: &Btf<'_>,
    kernel: &Btf<'_>,
) -> Result<Layout> {
    let fail = |reason: String| Error::StructOps {
        map: map.to_owned(),
        reason,
    };
    let btf_err = |what: &'static str| {
        let map = map.to_owned();
        move |e: oxbpf_btf::Error| Error::StructOps {
            map: map.clone(),
            reason: format!("{what}: {e}"),
        }
    };
    let value_type = format!("bpf_struct_ops_{}", ops.type_name);
    let find = |name: &str| -> Result<TypeId> {
        kernel
            .find_by_name_kind(name, Kind::Struct)
            .map_err(btf_err("kernel BTF"))?
            .ok_or_else(|| {
                fail(format!(
                    "the kernel has no struct {name} (is this struct_ops type supported?)"
                ))
            })
    };
    let value_id = find(&value_type)?;
    let kernel_struct_id = find(&ops.type_name)?;
    let Type::Struct(value_struct) = kernel.type_by_id(value_id).map_err(btf_err("kernel BTF"))?
    else {
        return Err(fail(format!("{value_type} is not a struct")));
    };
    let data = value_struct
        .members()
        .find(|m| kernel.string_at(m.name_off).is_ok_and(|n| n == "data"))
        .ok_or_else(|| fail(format!("{value_type} has no member `data`")))?;
    let data_off = data.bit_offset / 8;
    let Type::Struct(kstruct) = kernel
        .type_by_id(kernel_struct_id)
        .map_err(btf_err("kernel BTF"))?
    else {
        return Err(fail(format!("{} is not a struct", ops.type_name)));
    };
    let Type::Struct(lstruct) = local
        .type_by_id(ops.local_type)
        .map_err(btf_err("object BTF"))?
    else {
        return Err(fail(format!(
            "the object's {} is not a struct",
            ops.type_name
        )));
    };
    let mut value = vec![0u8; value_struct.size() as usize];
    let mut progs = Vec::new();
    for lm in lstruct.members() {
        let name = local
            .string_at(lm.name_off)
            .map_err(btf_err("object BTF"))?;
        let (loff, lsize) = (
            (lm.bit_offset / 8) as usize,
            local.resolve_size(lm.ty).map_err(btf_err("object BTF"))? as usize,
        );
        let bytes = ops
            .data
            .get(loff..loff + lsize)
            .ok_or_else(|| fail(format!("member {name} past the variable's bytes")))?;
        let prog = ops
            .funcs
            .iter()
            .find(|(at, _)| *at as usize == loff)
            .map(|(_, p)| p.clone());
        if prog.is_none() && bytes.iter().all(|&b| b == 0) {
            continue; // Unset: the kernel's member stays zero.
        }
        if lm.bitfield_size != 0 {
            return Err(fail(format!(
                "member {name} is a bitfield, which struct_ops values cannot set"
            )));
        }
        let (index, km) = kstruct
            .members()
            .enumerate()
            .find(|(_, m)| kernel.string_at(m.name_off).is_ok_and(|n| n == name))
            .ok_or_else(|| {
                fail(format!(
                    "the kernel's struct {} has no member {name}",
                    ops.type_name
                ))
            })?;
        let at = (data_off + km.bit_offset / 8) as usize;
        match prog {
            Some(prog) => {
                let kt = kernel
                    .skip_mods_and_typedefs(km.ty)
                    .map_err(btf_err("kernel BTF"))?;
                if !matches!(
                    kernel.type_by_id(kt).map_err(btf_err("kernel BTF"))?,
                    Type::Ptr(_)
                ) {
                    return Err(fail(format!(
                        "member {name} holds program {prog} but is not a function pointer in the kernel"
                    )));
                }
                progs.push((at as u32, prog, index as u32));
            }
            None => {
                let ksize = kernel.resolve_size(km.ty).map_err(btf_err("kernel BTF"))? as usize;
                if ksize != lsize {
                    return Err(fail(format!(
                        "member {name} is {lsize} bytes in the object, {ksize} in the kernel"
                    )));
                }
                value
                    .get_mut(at..at + lsize)
                    .ok_or_else(|| fail(format!("member {name} past the kernel's value")))?
                    .copy_from_slice(bytes);
            }
        }
    }
    Ok(Layout {
        value_type,
        value,
        progs,
    })
}
