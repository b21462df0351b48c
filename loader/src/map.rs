//! Handles to loaded maps.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use oxbpf_syscalls::{MapFd, MapInfo, MapMemory, MapType};

use crate::error::{Error, Result};

/// A map in the kernel, owned by a loaded [`crate::Object`] (or on its own
/// after [`crate::Object::take_map`]). The map is freed when its last
/// reference — this handle, a pin, a program using it — goes away.
#[derive(Debug)]
pub struct Map {
    pub(crate) name: String,
    pub(crate) fd: MapFd,
    /// An arena's mapping in this process, made at load.
    pub(crate) arena: Option<MapMemory>,
}

impl Map {
    /// The object's name for the map (`counts`, or `name.bss` for data).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Map type.
    pub fn map_type(&self) -> MapType {
        self.fd.meta().map_type
    }

    /// Key size in bytes.
    pub fn key_size(&self) -> u32 {
        self.fd.meta().key_size
    }

    /// Value size in bytes (of one CPU's value for per-CPU maps).
    pub fn value_size(&self) -> u32 {
        self.fd.meta().value_size
    }

    /// Maximum number of entries.
    pub fn max_entries(&self) -> u32 {
        self.fd.meta().max_entries
    }

    /// The typed fd.
    pub fn map_fd(&self) -> &MapFd {
        &self.fd
    }

    /// The kernel's view of the map (`BPF_OBJ_GET_INFO_BY_FD`): id, name,
    /// sizes, flags, BTF ids.
    pub fn info(&self) -> Result<MapInfo> {
        oxbpf_syscalls::map_info(&self.fd)
            .map_err(Error::syscall(format!("map {}: reading info", self.name)))
    }

    /// Looks `key` up. `Ok(None)` if there is no such element. Per-CPU
    /// maps return every possible CPU's value, each padded to 8 bytes.
    pub fn lookup(&self, key: &[u8], flags: u64) -> Result<Option<Vec<u8>>> {
        let len = self
            .fd
            .meta()
            .value_buf_len()
            .map_err(Error::syscall("sizing a map value"))?;
        let mut value = vec![0; len];
        let found = oxbpf_syscalls::map_lookup_elem(&self.fd, key, &mut value, flags)
            .map_err(Error::syscall(format!("map {}: lookup", self.name)))?;
        Ok(found.then_some(value))
    }

    /// Looks `key` up in a per-CPU map: one value per possible CPU, each
    /// `value_size` bytes. `Ok(None)` if there is no such element.
    pub fn lookup_percpu(&self, key: &[u8], flags: u64) -> Result<Option<Vec<Vec<u8>>>> {
        self.check_per_cpu("lookup_percpu")?;
        let Some(all) = self.lookup(key, flags)? else {
            return Ok(None);
        };
        let stride = (self.value_size() as usize).next_multiple_of(8);
        Ok(Some(
            all.chunks(stride)
                .map(|c| c[..self.value_size() as usize].to_vec())
                .collect(),
        ))
    }

    /// Creates or updates an element of a per-CPU map with one value per
    /// possible CPU (`values.len()` must be the number of possible CPUs,
    /// each value `value_size` bytes).
    pub fn update_percpu(&self, key: &[u8], values: &[impl AsRef<[u8]>], flags: u64) -> Result<()> {
        self.check_per_cpu("update_percpu")?;
        let cpus = self
            .fd
            .meta()
            .value_buf_len()
            .map_err(Error::syscall("sizing a map value"))?
            / (self.value_size() as usize).next_multiple_of(8);
        if values.len() != cpus {
            return Err(Error::InvalidArgument(format!(
                "map {}: {} per-CPU values for {cpus} possible CPUs",
                self.name,
                values.len()
            )));
        }
        let stride = (self.value_size() as usize).next_multiple_of(8);
        let mut buf = vec![0u8; stride * cpus];
        for (i, v) in values.iter().enumerate() {
            let v = v.as_ref();
            if v.len() != self.value_size() as usize {
                return Err(Error::InvalidArgument(format!(
                    "map {}: CPU {i}'s value is {} bytes, value_size is {}",
                    self.name,
                    v.len(),
                    self.value_size()
                )));
            }
            buf[i * stride..i * stride + v.len()].copy_from_slice(v);
        }
        self.update(key, &buf, flags)
    }

    fn check_per_cpu(&self, what: &str) -> Result<()> {
        if self.fd.meta().is_per_cpu() {
            Ok(())
        } else {
            Err(Error::InvalidArgument(format!(
                "map {}: {what} on a {} map, which is not per-CPU",
                self.name,
                self.map_type()
            )))
        }
    }

    /// Creates or updates an element (`flags`: `BPF_ANY` 0, `BPF_NOEXIST`
    /// 1, `BPF_EXIST` 2, `BPF_F_LOCK` 4).
    pub fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<()> {
        oxbpf_syscalls::map_update_elem(&self.fd, key, value, flags)
            .map_err(Error::syscall(format!("map {}: update", self.name)))
    }

    /// Deletes an element; `Ok(false)` if there was none.
    pub fn delete(&self, key: &[u8]) -> Result<bool> {
        oxbpf_syscalls::map_delete_elem(&self.fd, key)
            .map_err(Error::syscall(format!("map {}: delete", self.name)))
    }

    /// Iterates over the keys (`BPF_MAP_GET_NEXT_KEY`). Keys deleted or
    /// added meanwhile may or may not be seen, as the kernel defines.
    pub fn keys(&self) -> Keys<'_> {
        Keys {
            map: self,
            last: None,
            done: false,
        }
    }

    /// Maps the map's values into memory shared with programs (an `ARRAY`
    /// created with `BPF_F_MMAPABLE`, as global data maps are): writable,
    /// or read-only when the map is frozen.
    pub fn memory(&self) -> Result<MapMemory> {
        let what = || format!("map {}: mapping its values", self.name);
        match oxbpf_syscalls::map_mmap(&self.fd, true) {
            Ok(m) => Ok(m),
            Err(e) if e.errno() == Some(oxbpf_syscalls::Errno::PERM) => {
                oxbpf_syscalls::map_mmap(&self.fd, false).map_err(Error::syscall(what()))
            }
            Err(e) => Err(Error::Syscall {
                what: what(),
                source: e,
            }),
        }
    }

    /// The memory of an arena map (`BPF_MAP_TYPE_ARENA`), mapped into this
    /// process when the object was loaded: the object's `__arena` globals
    /// and the pages programs allocate, at the addresses their pointers
    /// hold ([`MapMemory::address`] is the arena's base). Reading or
    /// writing a page no program allocated allocates it.
    pub fn arena(&self) -> Result<&MapMemory> {
        self.arena.as_ref().ok_or_else(|| {
            Error::InvalidArgument(format!(
                "map {} is not an arena loaded by this process",
                self.name
            ))
        })
    }

    /// Pins the map at `path` on a bpffs.
    pub fn pin(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        oxbpf_syscalls::obj_pin(&self.fd, path).map_err(Error::syscall(format!(
            "map {}: pinning at {}",
            self.name,
            path.display()
        )))
    }
}

impl AsFd for Map {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Iterator over a map's keys, from [`Map::keys`].
#[derive(Debug)]
pub struct Keys<'a> {
    map: &'a Map,
    last: Option<Vec<u8>>,
    done: bool,
}

impl Iterator for Keys<'_> {
    type Item = Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut next = vec![0; self.map.key_size() as usize];
        match oxbpf_syscalls::map_get_next_key(&self.map.fd, self.last.as_deref(), &mut next) {
            Ok(true) => {
                self.last = Some(next.clone());
                Some(Ok(next))
            }
            Ok(false) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(Error::Syscall {
                    what: format!("map {}: next key", self.map.name),
                    source: e,
                }))
            }
        }
    }
}
