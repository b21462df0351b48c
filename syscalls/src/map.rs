//! Map commands: create, element operations, freeze.

use std::os::fd::AsFd;

use crate::attr::{MapCreateAttr, MapElemAttr};
use crate::enums::Cmd;
use crate::error::{Errno, Error, Result};
use crate::fd::{MapFd, MapMeta};
use crate::sys::{self, fd_u32, slice_addr, slice_addr_mut};

/// `BPF_MAP_CREATE`.
///
/// `attr.excl_prog_hash` must be zero: it is a pointer, which this safe
/// function cannot vouch for.
pub fn map_create(attr: &MapCreateAttr) -> Result<MapFd> {
    if attr.excl_prog_hash != 0 || attr.excl_prog_hash_size != 0 {
        return Err(Error::invalid(
            "map_create: excl_prog_hash is not supported",
        ));
    }
    let mut a = *attr;
    // SAFETY: the only pointer field of the attribute, excl_prog_hash, is
    // zero (checked above); BPF_MAP_CREATE returns a new fd.
    let fd = unsafe { sys::bpf_fd(Cmd::MAP_CREATE, &mut a) }?;
    let meta = MapMeta {
        map_type: attr.map_type,
        key_size: attr.key_size,
        value_size: attr.value_size,
        max_entries: attr.max_entries,
        map_flags: attr.map_flags,
    };
    log::debug!(target: "oxbpf::syscalls", "map_create {} key {} value {} max {} -> fd {:?}",
        meta.map_type, meta.key_size, meta.value_size, meta.max_entries, fd);
    Ok(MapFd::new(fd, meta))
}

fn check_len(
    map: &MapFd,
    call: Cmd,
    what: &'static str,
    got: usize,
    expected: usize,
) -> Result<()> {
    if got == expected {
        Ok(())
    } else {
        Err(Error::BufferSize {
            call,
            what,
            map_type: map.meta().map_type,
            expected,
            got,
        })
    }
}

fn elem_attr(map: &MapFd) -> MapElemAttr {
    MapElemAttr {
        map_fd: fd_u32(map.as_fd()),
        ..Default::default()
    }
}

/// `BPF_MAP_LOOKUP_ELEM`: copies the value of `key` into `value`.
/// Returns `false` if there is no such key (`ENOENT`).
///
/// `key` must be exactly `key_size` bytes (empty for maps without keys,
/// such as queues, where this peeks) and `value` exactly
/// [`MapMeta::value_buf_len`] bytes.
pub fn map_lookup_elem(map: &MapFd, key: &[u8], value: &mut [u8], flags: u64) -> Result<bool> {
    lookup(map, Cmd::MAP_LOOKUP_ELEM, key, value, flags)
}

/// `BPF_MAP_LOOKUP_AND_DELETE_ELEM`: like [`map_lookup_elem`], then
/// removes the element (pops from queues and stacks, whose key is empty).
pub fn map_lookup_and_delete_elem(
    map: &MapFd,
    key: &[u8],
    value: &mut [u8],
    flags: u64,
) -> Result<bool> {
    lookup(map, Cmd::MAP_LOOKUP_AND_DELETE_ELEM, key, value, flags)
}

fn lookup(map: &MapFd, cmd: Cmd, key: &[u8], value: &mut [u8], flags: u64) -> Result<bool> {
    let meta = map.meta();
    check_len(map, cmd, "key", key.len(), meta.key_size as usize)?;
    check_len(map, cmd, "value", value.len(), meta.value_buf_len()?)?;
    let mut a = elem_attr(map);
    a.key = slice_addr(key);
    a.value = slice_addr_mut(value);
    a.flags = flags;
    // SAFETY: `key` holds key_size readable bytes and `value` the
    // value_buf_len writable bytes the kernel copies out for this map,
    // both checked above and borrowed for the call.
    match unsafe { sys::bpf(cmd, &mut a) } {
        Ok(_) => Ok(true),
        Err(Errno::NOENT) => Ok(false),
        Err(e) => Err(Error::syscall(cmd, e)),
    }
}

/// `BPF_MAP_UPDATE_ELEM`: sets `key` to `value`; `flags` is one of
/// [`crate::attr::elem_flags`]. For queues and stacks (empty key) this
/// pushes.
pub fn map_update_elem(map: &MapFd, key: &[u8], value: &[u8], flags: u64) -> Result<()> {
    let cmd = Cmd::MAP_UPDATE_ELEM;
    let meta = map.meta();
    check_len(map, cmd, "key", key.len(), meta.key_size as usize)?;
    check_len(map, cmd, "value", value.len(), meta.value_buf_len()?)?;
    let mut a = elem_attr(map);
    a.key = slice_addr(key);
    a.value = slice_addr(value);
    a.flags = flags;
    // SAFETY: `key` and `value` hold the key_size and value_buf_len bytes
    // the kernel reads for this map (checked above), borrowed for the call.
    unsafe { sys::bpf(cmd, &mut a) }.map_err(|e| Error::syscall(cmd, e))?;
    Ok(())
}

/// `BPF_MAP_DELETE_ELEM`. Returns `false` if there was no such key
/// (`ENOENT`).
pub fn map_delete_elem(map: &MapFd, key: &[u8]) -> Result<bool> {
    let cmd = Cmd::MAP_DELETE_ELEM;
    check_len(map, cmd, "key", key.len(), map.meta().key_size as usize)?;
    let mut a = elem_attr(map);
    a.key = slice_addr(key);
    // SAFETY: `key` holds the key_size bytes the kernel reads (checked
    // above), borrowed for the call.
    match unsafe { sys::bpf(cmd, &mut a) } {
        Ok(_) => Ok(true),
        Err(Errno::NOENT) => Ok(false),
        Err(e) => Err(Error::syscall(cmd, e)),
    }
}

/// `BPF_MAP_GET_NEXT_KEY`: writes the key after `key` (the first key if
/// `key` is `None` or not in the map) into `next`. Returns `false` when
/// there is no next key (`ENOENT`): the iteration is over.
pub fn map_get_next_key(map: &MapFd, key: Option<&[u8]>, next: &mut [u8]) -> Result<bool> {
    let cmd = Cmd::MAP_GET_NEXT_KEY;
    let key_size = map.meta().key_size as usize;
    if let Some(k) = key {
        check_len(map, cmd, "key", k.len(), key_size)?;
    }
    check_len(map, cmd, "next_key", next.len(), key_size)?;
    let mut a = elem_attr(map);
    a.key = key.map_or(0, slice_addr);
    a.value = slice_addr_mut(next);
    // SAFETY: `key` (if any) holds key_size readable bytes and `next`
    // key_size writable bytes (checked above), borrowed for the call.
    match unsafe { sys::bpf(cmd, &mut a) } {
        Ok(_) => Ok(true),
        Err(Errno::NOENT) => Ok(false),
        Err(e) => Err(Error::syscall(cmd, e)),
    }
}

/// `BPF_MAP_FREEZE`: makes the map read-only for user space (programs
/// can still write unless the map is `BPF_F_RDONLY_PROG`).
pub fn map_freeze(map: &MapFd) -> Result<()> {
    let cmd = Cmd::MAP_FREEZE;
    let mut a = elem_attr(map);
    // SAFETY: the attribute holds no pointer.
    unsafe { sys::bpf(cmd, &mut a) }.map_err(|e| Error::syscall(cmd, e))?;
    Ok(())
}
