//! Object commands: pin and get, info by fd, id iteration and fd by id.

use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use oxbpf_asm::Insn;

use crate::attr::{GetNextIdAttr, InfoByFdAttr, ObjPinAttr};
use crate::enums::Cmd;
use crate::error::{Errno, Error, Result};
use crate::fd::{BtfFd, LinkFd, MapFd, ProgFd};
use crate::info::{BtfInfo, LinkInfo, MapInfo, ProgInfo};
use crate::layout::UapiStruct;
use crate::sys::{self, addr, fd_u32, slice_addr_mut};

fn c_path(call: &str, path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        Error::invalid(format!(
            "{call}: path {} contains a NUL byte",
            path.display()
        ))
    })
}

/// `BPF_OBJ_PIN`: pins a map, program, link or BTF object at `path`, which
/// must be in a bpffs (see [`crate::mount_bpffs`]).
pub fn obj_pin(fd: impl AsFd, path: &Path) -> Result<()> {
    let cmd = Cmd::OBJ_PIN;
    let p = c_path("obj_pin", path)?;
    let mut a = ObjPinAttr {
        pathname: addr(p.as_ptr()),
        bpf_fd: fd_u32(fd.as_fd()),
        ..Default::default()
    };
    // SAFETY: `pathname` points to the NUL-terminated `p`, alive for the
    // call.
    unsafe { sys::bpf(cmd, &mut a) }.map_err(|e| Error::syscall(cmd, e))?;
    Ok(())
}

/// `BPF_OBJ_GET`: opens the object pinned at `path`. `file_flags` is 0,
/// `BPF_F_RDONLY` or `BPF_F_WRONLY` (see [`crate::attr::file_flags`]).
/// Wrap the result in the handle of its kind ([`MapFd::from_owned`],
/// [`ProgFd::from_owned`]...), which checks the kind.
pub fn obj_get(path: &Path, file_flags: u32) -> Result<OwnedFd> {
    let cmd = Cmd::OBJ_GET;
    let p = c_path("obj_get", path)?;
    let mut a = ObjPinAttr {
        pathname: addr(p.as_ptr()),
        file_flags,
        ..Default::default()
    };
    // SAFETY: `pathname` points to the NUL-terminated `p`, alive for the
    // call; BPF_OBJ_GET returns a new fd.
    unsafe { sys::bpf_fd(cmd, &mut a) }
}

/// `BPF_OBJ_GET_INFO_BY_FD` into `info`.
///
/// # Safety
///
/// Every pointer field of `info` must be zero or point to a writable
/// buffer of the size its companion length field gives, alive for the
/// call.
unsafe fn info_by_fd<I: UapiStruct>(fd: BorrowedFd<'_>, info: &mut I) -> Result<()> {
    let cmd = Cmd::OBJ_GET_INFO_BY_FD;
    let mut a = InfoByFdAttr {
        bpf_fd: fd_u32(fd),
        info_len: size_of::<I>() as u32,
        info: addr(info as *mut I),
    };
    // SAFETY: `info` is a live exclusive struct of `info_len` bytes, every
    // byte initialised; the pointers inside it are valid per this
    // function's contract.
    unsafe { sys::bpf(cmd, &mut a) }.map_err(|e| Error::syscall(cmd, e))?;
    Ok(())
}

/// [`info_by_fd`] with every pointer field zero.
fn plain_info<I: UapiStruct + Default>(fd: BorrowedFd<'_>) -> Result<I> {
    let mut info = I::default();
    // SAFETY: a default info struct is all zeros: no pointers.
    unsafe { info_by_fd(fd, &mut info) }?;
    Ok(info)
}

pub(crate) fn map_info_raw(fd: BorrowedFd<'_>) -> Result<MapInfo> {
    plain_info(fd)
}

/// `struct bpf_prog_info` of a program (counts filled, no arrays).
pub fn prog_info(prog: &ProgFd) -> Result<ProgInfo> {
    plain_info(prog.as_fd())
}

/// `struct bpf_map_info` of a map.
pub fn map_info(map: &MapFd) -> Result<MapInfo> {
    plain_info(map.as_fd())
}

/// `struct bpf_btf_info` of a BTF object (size and id, no data).
pub fn btf_info(btf: &BtfFd) -> Result<BtfInfo> {
    plain_info(btf.as_fd())
}

/// `struct bpf_link_info` of a link (no names).
pub fn link_info(link: &LinkFd) -> Result<LinkInfo> {
    plain_info(link.as_fd())
}

/// The instructions of a program as the verifier rewrote them
/// (`xlated_prog_insns`). Empty if the kernel withholds them
/// (`kernel.kptr_restrict`, no `CAP_SYS_ADMIN`).
pub fn prog_xlated_insns(prog: &ProgFd) -> Result<Vec<Insn>> {
    let len = prog_info(prog)?.xlated_prog_len as usize;
    let mut insns = vec![Insn::default(); len / size_of::<Insn>()];
    let mut info = ProgInfo {
        xlated_prog_len: (insns.len() * size_of::<Insn>()) as u32,
        xlated_prog_insns: slice_addr_mut(&mut insns),
        ..Default::default()
    };
    // SAFETY: xlated_prog_insns points to `insns`, xlated_prog_len bytes
    // of plain 8-byte structs, alive for the call; the kernel copies at
    // most that many bytes.
    unsafe { info_by_fd(prog.as_fd(), &mut info) }?;
    insns.truncate(info.xlated_prog_len as usize / size_of::<Insn>());
    Ok(insns)
}

/// Ids of the maps a program uses.
pub fn prog_map_ids(prog: &ProgFd) -> Result<Vec<u32>> {
    let mut n = prog_info(prog)?.nr_map_ids as usize;
    // Maps can be bound to a program between two calls: retry if the
    // count grew.
    loop {
        let mut ids = vec![0u32; n];
        let mut info = ProgInfo {
            nr_map_ids: n as u32,
            map_ids: slice_addr_mut(&mut ids),
            ..Default::default()
        };
        // SAFETY: map_ids points to `ids`, nr_map_ids u32s, alive for the
        // call; the kernel copies at most that many.
        unsafe { info_by_fd(prog.as_fd(), &mut info) }?;
        let got = info.nr_map_ids as usize;
        if got <= n {
            ids.truncate(got);
            return Ok(ids);
        }
        n = got;
    }
}

/// The raw BTF blob of a BTF object, as the kernel holds it.
pub fn btf_data(btf: &BtfFd) -> Result<Vec<u8>> {
    let size = btf_info(btf)?.btf_size as usize;
    let mut data = vec![0u8; size];
    let mut info = BtfInfo {
        btf: slice_addr_mut(&mut data),
        btf_size: size as u32,
        ..Default::default()
    };
    // SAFETY: `btf` points to `data`, btf_size writable bytes, alive for
    // the call; the kernel copies at most that many.
    unsafe { info_by_fd(btf.as_fd(), &mut info) }?;
    data.truncate(info.btf_size as usize);
    Ok(data)
}

fn get_next_id(cmd: Cmd, start: u32) -> Result<Option<u32>> {
    let mut a = GetNextIdAttr {
        start_id: start,
        ..Default::default()
    };
    // SAFETY: the attribute holds no pointer.
    match unsafe { sys::bpf(cmd, &mut a) } {
        Ok(_) => Ok(Some(a.next_id)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(Error::syscall(cmd, e)),
    }
}

/// `BPF_PROG_GET_NEXT_ID`: the smallest program id above `start`, `None`
/// at the end.
pub fn prog_get_next_id(start: u32) -> Result<Option<u32>> {
    get_next_id(Cmd::PROG_GET_NEXT_ID, start)
}

/// `BPF_MAP_GET_NEXT_ID`.
pub fn map_get_next_id(start: u32) -> Result<Option<u32>> {
    get_next_id(Cmd::MAP_GET_NEXT_ID, start)
}

/// `BPF_BTF_GET_NEXT_ID`.
pub fn btf_get_next_id(start: u32) -> Result<Option<u32>> {
    get_next_id(Cmd::BTF_GET_NEXT_ID, start)
}

/// `BPF_LINK_GET_NEXT_ID`.
pub fn link_get_next_id(start: u32) -> Result<Option<u32>> {
    get_next_id(Cmd::LINK_GET_NEXT_ID, start)
}

fn get_fd_by_id(cmd: Cmd, id: u32, open_flags: u32) -> Result<OwnedFd> {
    let mut a = GetNextIdAttr {
        start_id: id,
        open_flags,
        ..Default::default()
    };
    // SAFETY: the attribute holds no pointer; the command returns a new fd.
    unsafe { sys::bpf_fd(cmd, &mut a) }
}

/// `BPF_PROG_GET_FD_BY_ID`.
pub fn prog_get_fd_by_id(id: u32) -> Result<ProgFd> {
    get_fd_by_id(Cmd::PROG_GET_FD_BY_ID, id, 0).map(ProgFd::from_kernel)
}

/// `BPF_MAP_GET_FD_BY_ID` (read-write), then the map's sizes.
pub fn map_get_fd_by_id(id: u32) -> Result<MapFd> {
    MapFd::from_kernel(get_fd_by_id(Cmd::MAP_GET_FD_BY_ID, id, 0)?)
}

/// `BPF_BTF_GET_FD_BY_ID`.
pub fn btf_get_fd_by_id(id: u32) -> Result<BtfFd> {
    get_fd_by_id(Cmd::BTF_GET_FD_BY_ID, id, 0).map(BtfFd::from_kernel)
}

/// `BPF_LINK_GET_FD_BY_ID`.
pub fn link_get_fd_by_id(id: u32) -> Result<LinkFd> {
    get_fd_by_id(Cmd::LINK_GET_FD_BY_ID, id, 0).map(LinkFd::from_kernel)
}
