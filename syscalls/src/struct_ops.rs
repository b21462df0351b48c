//! struct_ops maps: registering them through a BPF link.

use std::os::fd::AsFd;

use crate::attr::LinkCreateAttr;
use crate::enums::{AttachType, Cmd, MapType};
use crate::error::{Error, Result};
use crate::fd::{LinkFd, MapFd};
use crate::sys::{self, fd_u32};

/// `BPF_LINK_CREATE` for a struct_ops map created with `BPF_F_LINK`: the
/// link registers the map's value with its subsystem (a TCP congestion
/// control, a scheduler...), and unregisters it when closed.
pub fn struct_ops_link_create(map: &MapFd) -> Result<LinkFd> {
    if map.meta().map_type != MapType::STRUCT_OPS {
        return Err(Error::invalid(format!(
            "struct_ops_link_create: a {} map",
            map.meta().map_type
        )));
    }
    let cmd = Cmd::LINK_CREATE;
    // `prog_fd` is the C union with `map_fd` for struct_ops links.
    let mut a = LinkCreateAttr {
        prog_fd: fd_u32(map.as_fd()),
        attach_type: AttachType::STRUCT_OPS,
        ..Default::default()
    };
    // SAFETY: the attribute holds no pointer; the command returns a new fd.
    let fd = unsafe { sys::bpf_fd(cmd, &mut a) }?;
    Ok(LinkFd::from_kernel(fd))
}
