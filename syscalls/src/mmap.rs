//! Memory-mapped map values: the live memory of `BPF_F_MMAPABLE` array
//! maps (global data), shared with the programs that use them.

use std::os::fd::AsFd;
use std::ptr::NonNull;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU8, AtomicU16, AtomicU32, AtomicU64};

use crate::enums::MapType;
use crate::error::{Error, Result};
use crate::fd::MapFd;

/// `BPF_F_MMAPABLE`.
const F_MMAPABLE: u32 = 1 << 10;
/// `BPF_F_SEGV_ON_FAULT`: touching an arena page no program allocated
/// kills the process instead of allocating it.
const F_SEGV_ON_FAULT: u32 = 1 << 17;

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
    /// An arena whose unallocated pages fault (`BPF_F_SEGV_ON_FAULT`):
    /// copying in or out could kill the process, so it is refused.
    faults: bool,
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
        faults: false,
    })
}

/// Maps a `BPF_MAP_TYPE_ARENA` map into this process, read-write, whole
/// (`max_entries` pages). The first mapping of an arena fixes its user
/// address, which programs see as the arena's pointers: `addr` is the
/// address the map was created with (`map_extra`), or 0 to let the kernel
/// choose. Until this is done the kernel refuses to load programs that use
/// the arena (unless `map_extra` fixed the address).
///
/// Pages come into existence when a program allocates them
/// (`bpf_arena_alloc_pages`) or when this process touches them; the
/// mapping's reads and writes therefore allocate pages as they go, and are
/// refused for an arena created with `BPF_F_SEGV_ON_FAULT` (where touching
/// an unallocated page kills the process).
pub fn arena_mmap(map: &MapFd, addr: u64) -> Result<MapMemory> {
    let meta = map.meta();
    if meta.map_type != MapType::ARENA {
        return Err(Error::invalid(format!(
            "arena_mmap: a {} map is not an arena",
            meta.map_type
        )));
    }
    let page = rustix::param::page_size();
    let len = (meta.max_entries as usize)
        .checked_mul(page)
        .filter(|&n| n > 0)
        .ok_or_else(|| Error::invalid("arena_mmap: arena has no pages"))?;
    let mut flags = rustix::mm::MapFlags::SHARED;
    if addr != 0 {
        flags |= rustix::mm::MapFlags::FIXED_NOREPLACE;
    }
    // SAFETY: a shared mapping of the arena's fd, at a place the kernel
    // chooses or at `addr` without replacing anything mapped there
    // (MAP_FIXED_NOREPLACE fails instead), so it aliases no Rust object.
    let got = unsafe {
        rustix::mm::mmap(
            addr as usize as *mut std::ffi::c_void,
            len,
            rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
            flags,
            map.as_fd(),
            0,
        )
    }
    .map_err(|errno| Error::Mmap { len, errno })?;
    let ptr = NonNull::new(got.cast::<u8>())
        .ok_or_else(|| Error::invalid("arena_mmap: mmap returned NULL"))?;
    Ok(MapMemory {
        ptr,
        len,
        mapped: len,
        writable: true,
        faults: meta.map_flags & F_SEGV_ON_FAULT != 0,
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

    /// The address of the first byte in this process: for an arena, the
    /// base of the pointers programs store in it.
    pub fn address(&self) -> u64 {
        self.ptr.as_ptr() as usize as u64
    }

    fn check(&self, offset: usize, n: usize) -> Result<()> {
        if self.faults {
            return Err(Error::invalid(
                "arena memory: created with BPF_F_SEGV_ON_FAULT, its unallocated pages kill the process when touched",
            ));
        }
        match offset.checked_add(n) {
            Some(end) if end <= self.len => Ok(()),
            _ => Err(Error::invalid(format!(
                "map memory: {n} bytes at offset {offset} past its {} bytes",
                self.len
            ))),
        }
    }

    /// Copies `buf.len()` bytes at `offset` out of the map, plainly (bytes
    /// a program changes meanwhile may be read half old, half new; see
    /// [`MapMemory::read_atomic`]).
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

    /// Copies `buf.len()` bytes at `offset` out of the map with atomic
    /// (relaxed) loads, each of the largest naturally aligned unit (8, 4, 2
    /// or 1 bytes) that fits: an aligned integer a program stores or adds
    /// to concurrently is read whole, never torn, and the read is no data
    /// race in Rust's memory model. A read-only mapping (a frozen map, which
    /// nobody can change any more) is copied plainly.
    ///
    /// Not a snapshot: different words may be read before and after a
    /// program's update.
    pub fn read_atomic(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        self.check(offset, buf.len())?;
        if !self.writable {
            return self.read(offset, buf);
        }
        let mut done = 0;
        while done < buf.len() {
            let at = offset + done;
            let n = unit(at, buf.len() - done);
            let p = self.ptr.as_ptr().wrapping_add(at);
            let dst = &mut buf[done..done + n];
            // SAFETY: `p..p + n` is inside the mapping owned by `self`
            // (checked above), which is readable and writable (a writable
            // mapping), and aligned to `n` (the mapping starts on a page and
            // `unit` keeps `at % n == 0`). The atomic view lives only for
            // this one load. Other accesses to the same bytes are BPF
            // programs (outside Rust's memory model) or this type's own
            // methods; `read`/`write` document that they copy plainly.
            unsafe {
                match n {
                    8 => dst.copy_from_slice(
                        &AtomicU64::from_ptr(p.cast()).load(Relaxed).to_ne_bytes(),
                    ),
                    4 => dst.copy_from_slice(
                        &AtomicU32::from_ptr(p.cast()).load(Relaxed).to_ne_bytes(),
                    ),
                    2 => dst.copy_from_slice(
                        &AtomicU16::from_ptr(p.cast()).load(Relaxed).to_ne_bytes(),
                    ),
                    _ => dst.copy_from_slice(&AtomicU8::from_ptr(p).load(Relaxed).to_ne_bytes()),
                }
            }
            done += n;
        }
        Ok(())
    }

    /// Copies `bytes` into the map at `offset` with atomic (relaxed)
    /// stores, unit by unit as [`MapMemory::read_atomic`] reads: an aligned
    /// integer is written whole, so a program (or a reader) never sees
    /// half of it. Fails on a read-only mapping.
    pub fn write_atomic(&self, offset: usize, bytes: &[u8]) -> Result<()> {
        if !self.writable {
            return Err(Error::invalid(
                "map memory is mapped read-only (a frozen map)",
            ));
        }
        self.check(offset, bytes.len())?;
        let mut done = 0;
        while done < bytes.len() {
            let at = offset + done;
            let n = unit(at, bytes.len() - done);
            let p = self.ptr.as_ptr().wrapping_add(at);
            let src = &bytes[done..done + n];
            // SAFETY: as in `read_atomic`: in bounds of the writable
            // mapping owned by `self`, aligned to `n`, the atomic view
            // lives for this one store.
            unsafe {
                match n {
                    8 => {
                        AtomicU64::from_ptr(p.cast()).store(u64::from_ne_bytes(word(src)), Relaxed)
                    }
                    4 => {
                        AtomicU32::from_ptr(p.cast()).store(u32::from_ne_bytes(word(src)), Relaxed)
                    }
                    2 => {
                        AtomicU16::from_ptr(p.cast()).store(u16::from_ne_bytes(word(src)), Relaxed)
                    }
                    _ => AtomicU8::from_ptr(p).store(src[0], Relaxed),
                }
            }
            done += n;
        }
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

/// The largest unit (8, 4, 2 or 1 bytes) at offset `at` that is aligned
/// to its size and no longer than `left`.
fn unit(at: usize, left: usize) -> usize {
    [8, 4, 2]
        .into_iter()
        .find(|&n| at % n == 0 && n <= left)
        .unwrap_or(1)
}

/// The first `N` bytes of `src` (which has exactly `N`).
fn word<const N: usize>(src: &[u8]) -> [u8; N] {
    let mut w = [0; N];
    w.copy_from_slice(&src[..N]);
    w
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
pub(crate) mod tests {
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
    fn atomic_copies_see_the_same_bytes_at_any_offset_and_length() {
        let map = array(32, F_MMAPABLE);
        let mem = map_mmap(&map, true).unwrap();
        let pattern: Vec<u8> = (1..=32).collect();
        for offset in 0..32 {
            for len in 0..=32 - offset {
                mem.write(0, &[0; 32]).unwrap();
                mem.write_atomic(offset, &pattern[..len]).unwrap();
                let mut want = [0u8; 32];
                want[offset..offset + len].copy_from_slice(&pattern[..len]);
                assert_eq!(mem.to_vec(), want, "write_atomic({offset}, {len} bytes)");
                let mut got = vec![0xee; len];
                mem.read_atomic(offset, &mut got).unwrap();
                assert_eq!(
                    got,
                    want[offset..offset + len],
                    "read_atomic({offset}, {len})"
                );
            }
        }
        assert!(mem.read_atomic(30, &mut [0; 3]).is_err(), "past the end");
        assert!(mem.write_atomic(32, &[1]).is_err(), "past the end");
        assert_eq!(unit(8, 8), 8);
        assert_eq!(unit(8, 7), 4);
        assert_eq!(unit(6, 8), 2);
        assert_eq!(unit(3, 8), 1);
    }

    #[test]
    fn atomic_words_are_never_torn() {
        // One thread flips an aligned u64 between two patterns whose halves
        // differ; another reads it: every value read is one of the two.
        let map = array(64, F_MMAPABLE);
        let mem = std::sync::Arc::new(map_mmap(&map, true).unwrap());
        let (a, b) = (0u64, u64::MAX);
        let writer = {
            let mem = mem.clone();
            std::thread::spawn(move || {
                for i in 0..200_000u32 {
                    let v = if i % 2 == 0 { a } else { b };
                    mem.write_atomic(8, &v.to_ne_bytes()).unwrap();
                }
            })
        };
        while !writer.is_finished() {
            let mut w = [0u8; 8];
            mem.read_atomic(8, &mut w).unwrap();
            let v = u64::from_ne_bytes(w);
            assert!(v == a || v == b, "torn read {v:#x}");
        }
        writer.join().unwrap();
        assert!(mem.read_atomic(0, &mut [0; 64]).is_ok());
    }

    #[test]
    fn atomic_copies_of_a_read_only_mapping_read_and_refuse_writes() {
        let map = array(8, F_MMAPABLE);
        map_update_elem(&map, &0u32.to_ne_bytes(), &7u64.to_ne_bytes(), 0).unwrap();
        map_freeze(&map).unwrap();
        let mem = map_mmap(&map, false).unwrap();
        let mut v = [0u8; 8];
        mem.read_atomic(0, &mut v).unwrap();
        assert_eq!(v, 7u64.to_ne_bytes());
        assert!(mem.write_atomic(0, &[1]).is_err());
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

    /// Whether the kernel has arena maps (see [`have`]).
    fn have_arenas() -> bool {
        have("arena_maps", crate::probe_map_type(MapType::ARENA))
    }

    /// Whether a probe found `feature`; if it did not, the running test is
    /// recorded as skipped (`OXBPF-SKIP`, and a line in `$OXBPF_SKIP_LOG`
    /// as the tests crate's `require!` writes it) and returns. An
    /// inconclusive probe fails the test. For the unit tests of every
    /// module.
    pub(crate) fn have(feature: &str, probed: crate::ProbeResult) -> bool {
        match probed {
            crate::ProbeResult::Supported => return true,
            crate::ProbeResult::Unsupported => {}
            r => panic!("{feature} probe: {r:?}"),
        }
        crate::test_skip::skip(&format!("{feature}: the kernel refuses the simplest one"));
        false
    }

    fn arena(pages: u32, flags: u32) -> MapFd {
        let mut attr = MapCreateAttr::new(MapType::ARENA, 0, 0, pages);
        attr.map_flags = F_MMAPABLE | flags;
        map_create(&attr).unwrap()
    }

    #[test]
    fn an_arena_maps_whole_and_keeps_what_is_written() {
        if !have_arenas() {
            return;
        }
        let map = arena(4, 0);
        let mem = arena_mmap(&map, 0).unwrap();
        let page = rustix::param::page_size();
        assert_eq!(mem.len(), 4 * page);
        assert_ne!(mem.address(), 0);
        // The kernel keeps an arena inside one 4 GiB window.
        assert_eq!(
            mem.address() >> 32,
            (mem.address() + mem.len() as u64 - 1) >> 32
        );
        mem.write(page + 8, b"arena").unwrap();
        let mut back = [0u8; 5];
        mem.read(page + 8, &mut back).unwrap();
        assert_eq!(&back, b"arena");
        // A second mapping elsewhere is refused: the address is fixed.
        assert!(arena_mmap(&map, mem.address()).is_err());
    }

    #[test]
    fn arena_mapping_refuses_other_maps_and_faulting_arenas() {
        if !have_arenas() {
            return;
        }
        assert!(arena_mmap(&array(8, F_MMAPABLE), 0).is_err());
        let map = arena(1, F_SEGV_ON_FAULT);
        let mem = arena_mmap(&map, 0).unwrap();
        let err = mem.read(0, &mut [0u8; 8]).unwrap_err();
        assert!(err.to_string().contains("SEGV_ON_FAULT"), "{err}");
    }
}
