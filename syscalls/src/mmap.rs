//! Memory-mapped map values: the live memory of `BPF_F_MMAPABLE` array
//! maps (global data), shared with the programs that use them.

use std::os::fd::AsFd;
use std::ptr::NonNull;

use crate::enums::MapType;
use crate::error::{Error, Result};
use crate::fd::MapFd;

/// `BPF_F_MMAPABLE`.
const F_MMAPABLE: u32 = 1 << 10;

/// The mapped values of an mmapable array map. Programs may change the
/// memory at any time, so it is only read and written by copying (never
/// lent out as a Rust reference, which would promise it does not change).
#[derive(Debug)]
pub struct MapMemory {
    ptr: NonNull<u8>,
    /// Bytes of map values (`value_size * max_entries`).
    len: usize,
    /// Bytes mapped (`len` rounded up to pages).
    mapped: usize,
    writable: bool,
}

// SAFETY: the mapping is plain shared memory owned by this value; moving it
// to or sharing it with another thread is as safe as on this one (all access
// copies through raw pointers, and concurrent writers are the kernel's
// business, as for any memory shared with BPF programs).
unsafe impl Send for MapMemory {}
// SAFETY: as above; `&MapMemory` only allows copying reads and writes.
unsafe impl Sync for MapMemory {}

/// Maps the values of `map` into memory: read-write, or read-only for a
/// frozen map (whose values user space may no longer change) when
/// `writable` is false. The map must be an `ARRAY` created with
/// `BPF_F_MMAPABLE`.
pub fn map_mmap(map: &MapFd, writable: bool) -> Result<MapMemory> {
    let meta = map.meta();
    if meta.map_type != MapType::ARRAY || meta.map_flags & F_MMAPABLE == 0 {
        return Err(Error::invalid(format!(
            "map_mmap: a {} map with flags {:#x} is not an mmapable array",
            meta.map_type, meta.map_flags
        )));
    }
    let len = (meta.value_size as usize)
        .checked_mul(meta.max_entries as usize)
        .filter(|&n| n > 0)
        .ok_or_else(|| Error::invalid("map_mmap: map has no value bytes"))?;
    let page = rustix::param::page_size();
    let mapped = len.next_multiple_of(page);
    let mut prot = rustix::mm::ProtFlags::READ;
    if writable {
        prot |= rustix::mm::ProtFlags::WRITE;
    }
    // SAFETY: a fresh shared mapping of the map's fd at a place the kernel
    // chooses; it aliases no Rust object. The length covers the map's values
    // (rounded up to pages, which the kernel allows for array maps).
    let addr = unsafe {
        rustix::mm::mmap(
            std::ptr::null_mut(),
            mapped,
            prot,
            rustix::mm::MapFlags::SHARED,
            map.as_fd(),
            0,
        )
    }
    .map_err(|errno| Error::Mmap { len: mapped, errno })?;
    let ptr = NonNull::new(addr.cast::<u8>())
        .ok_or_else(|| Error::invalid("map_mmap: mmap returned NULL"))?;
    Ok(MapMemory {
        ptr,
        len,
        mapped,
        writable,
    })
}

impl MapMemory {
    /// Number of value bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no value bytes (never: maps have values).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether [`MapMemory::write`] is allowed.
    pub fn is_writable(&self) -> bool {
        self.writable
    }

    fn check(&self, offset: usize, n: usize) -> Result<()> {
        match offset.checked_add(n) {
            Some(end) if end <= self.len => Ok(()),
            _ => Err(Error::invalid(format!(
                "map memory: {n} bytes at offset {offset} past its {} bytes",
                self.len
            ))),
        }
    }

    /// Copies `buf.len()` bytes at `offset` out of the map.
    pub fn read(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        self.check(offset, buf.len())?;
        // SAFETY: `offset + buf.len()` is inside the mapping (checked), the
        // mapping lives as long as `self`, and `buf` is a distinct Rust
        // buffer; a raw copy makes no promise about concurrent writers.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.ptr.as_ptr().add(offset),
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        Ok(())
    }

    /// Copies `bytes` into the map at `offset`.
    pub fn write(&self, offset: usize, bytes: &[u8]) -> Result<()> {
        if !self.writable {
            return Err(Error::invalid(
                "map memory is mapped read-only (a frozen map)",
            ));
        }
        self.check(offset, bytes.len())?;
        // SAFETY: in bounds (checked) of a writable mapping owned by `self`;
        // `bytes` is a distinct Rust buffer.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.ptr.as_ptr().add(offset),
                bytes.len(),
            )
        };
        Ok(())
    }

    /// Copies the whole value area out.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = vec![0; self.len];
        // In bounds by construction.
        let _ = self.read(0, &mut v);
        v
    }
}

impl Drop for MapMemory {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping `map_mmap` made; nothing
        // refers to it once `self` is gone.
        if let Err(e) = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.mapped) } {
            log::warn!(target: "oxbpf::syscalls", "munmap of map memory: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MapCreateAttr, map_create, map_freeze, map_lookup_elem, map_update_elem};

    fn array(value_size: u32, flags: u32) -> MapFd {
        let mut attr = MapCreateAttr::new(MapType::ARRAY, 4, value_size, 1);
        attr.map_flags = flags;
        map_create(&attr).unwrap()
    }

    #[test]
    fn memory_and_syscalls_see_the_same_bytes() {
        let map = array(16, F_MMAPABLE);
        let mem = map_mmap(&map, true).unwrap();
        assert_eq!(mem.len(), 16);
        mem.write(4, &[1, 2, 3, 4]).unwrap();
        let mut v = [0u8; 16];
        assert!(map_lookup_elem(&map, &0u32.to_ne_bytes(), &mut v, 0).unwrap());
        assert_eq!(v[4..8], [1, 2, 3, 4]);
        map_update_elem(&map, &0u32.to_ne_bytes(), &[9; 16], 0).unwrap();
        assert_eq!(mem.to_vec(), [9; 16]);
        assert!(mem.write(14, &[0; 4]).is_err(), "past the end");
        assert!(mem.read(17, &mut []).is_err());
    }

    #[test]
    fn frozen_maps_map_read_only_and_plain_maps_not_at_all() {
        let map = array(8, F_MMAPABLE);
        map_update_elem(&map, &0u32.to_ne_bytes(), &7u64.to_ne_bytes(), 0).unwrap();
        map_freeze(&map).unwrap();
        assert!(
            map_mmap(&map, true).is_err(),
            "the kernel refuses writable mappings of frozen maps"
        );
        let mem = map_mmap(&map, false).unwrap();
        assert_eq!(mem.to_vec(), 7u64.to_ne_bytes());
        assert!(mem.write(0, &[1]).is_err());
        assert!(map_mmap(&array(8, 0), false).is_err(), "not mmapable");
    }
}
