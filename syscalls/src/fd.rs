//! Typed fd handles, so that a program fd cannot be passed where a map fd
//! is wanted. Each owns its fd (closed on drop) and is never 0, 1 or 2.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::PathBuf;

use crate::enums::MapType;
use crate::error::{Error, Result};

fn dup(fd: &OwnedFd, what: &str) -> Result<OwnedFd> {
    rustix::io::fcntl_dupfd_cloexec(fd, 3).map_err(|errno| Error::DupFd {
        origin: format!("try_clone of {what}"),
        fd: fd.as_raw_fd(),
        errno,
    })
}

/// Checks that `fd` refers to a BPF object of the given kind, by the name
/// of its anonymous inode (`/proc/self/fd/N` -> `anon_inode:bpf-map`).
///
/// The kernel answers `BPF_OBJ_GET_INFO_BY_FD` for any BPF object with
/// that object's own info struct, so a program fd taken for a map would
/// yield meaningless key and value sizes: the kind must be known before
/// the sizes are trusted.
fn check_kind(fd: BorrowedFd<'_>, expected: &'static str) -> Result<()> {
    let path = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
    let target = std::fs::read_link(&path).map_err(|source| Error::Io {
        what: "checking the kind of an fd through",
        path,
        source,
    })?;
    // The kernel names a link's inode `bpf_link` when it creates the link
    // and `bpf-link` when it reopens a pinned one.
    let alias = (expected == "anon_inode:bpf_link").then_some("anon_inode:bpf-link");
    if target.as_os_str() == expected || alias.is_some_and(|a| target.as_os_str() == a) {
        Ok(())
    } else {
        Err(Error::FdKind {
            fd: fd.as_raw_fd(),
            expected,
            found: target.to_string_lossy().into_owned(),
        })
    }
}

macro_rules! fd_handle {
    ($(#[$meta:meta])* $name:ident = $inode:literal) => {
        $(#[$meta])*
        #[derive(Debug)]
        pub struct $name(OwnedFd);

        impl $name {
            /// Wraps an fd the kernel returned for this kind of object.
            pub(crate) fn from_kernel(fd: OwnedFd) -> Self {
                $name(fd)
            }

            /// Wraps an fd that should refer to this kind of object (from
            /// [`crate::obj_get`], a loader context...), checking its kind
            #[doc = concat!("(`", $inode, "`).")]
            pub fn from_owned(fd: OwnedFd) -> Result<Self> {
                check_kind(fd.as_fd(), $inode)?;
                Ok($name(fd))
            }

            /// Duplicates the fd (`F_DUPFD_CLOEXEC`, above 2).
            pub fn try_clone(&self) -> Result<Self> {
                dup(&self.0, stringify!($name)).map($name)
            }
        }

        impl AsFd for $name {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.0.as_fd()
            }
        }

        impl AsRawFd for $name {
            fn as_raw_fd(&self) -> RawFd {
                self.0.as_raw_fd()
            }
        }

        impl From<$name> for OwnedFd {
            fn from(h: $name) -> OwnedFd {
                h.0
            }
        }
    };
}

fd_handle! {
    /// A loaded BPF program.
    ProgFd = "anon_inode:bpf-prog"
}

fd_handle! {
    /// A BTF object loaded into the kernel.
    BtfFd = "anon_inode:btf"
}

fd_handle! {
    /// A BPF link; dropping it detaches the program unless the link is
    /// pinned.
    LinkFd = "anon_inode:bpf_link"
}

/// What the kernel was told when the map was created: the sizes every
/// element operation is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapMeta {
    /// Map type.
    pub map_type: MapType,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes (per CPU for per-CPU maps).
    pub value_size: u32,
    /// Maximum number of entries.
    pub max_entries: u32,
    /// `BPF_F_*` flags.
    pub map_flags: u32,
}

impl MapMeta {
    /// Whether user space sees one value per possible CPU.
    pub fn is_per_cpu(&self) -> bool {
        matches!(
            self.map_type,
            MapType::PERCPU_HASH
                | MapType::PERCPU_ARRAY
                | MapType::LRU_PERCPU_HASH
                | MapType::PERCPU_CGROUP_STORAGE
        )
    }

    /// The size of the value buffer of a lookup or update: `value_size`,
    /// or for per-CPU maps `value_size` rounded up to 8 times the number of
    /// possible CPUs.
    pub fn value_buf_len(&self) -> Result<usize> {
        let v = self.value_size as usize;
        if self.is_per_cpu() {
            Ok(v.next_multiple_of(8) * crate::kernel::possible_cpus()? as usize)
        } else {
            Ok(v)
        }
    }
}

/// A BPF map, with the sizes it was created with.
///
/// The sizes are kept because the kernel reads `key_size` bytes and writes
/// `value_size` bytes (per CPU) at the addresses it is given: the element
/// operations check every buffer against them before the call.
#[derive(Debug)]
pub struct MapFd {
    fd: OwnedFd,
    meta: MapMeta,
}

impl MapFd {
    pub(crate) fn new(fd: OwnedFd, meta: MapMeta) -> MapFd {
        MapFd { fd, meta }
    }

    /// Wraps an fd that should refer to a map (from [`crate::obj_get`], a
    /// loader context...): checks that it is one (`anon_inode:bpf-map`),
    /// then asks the kernel for its sizes (`BPF_OBJ_GET_INFO_BY_FD`).
    pub fn from_owned(fd: OwnedFd) -> Result<MapFd> {
        check_kind(fd.as_fd(), "anon_inode:bpf-map")?;
        MapFd::from_kernel(fd)
    }

    /// Wraps an fd the kernel returned for a map, asking for its sizes.
    pub(crate) fn from_kernel(fd: OwnedFd) -> Result<MapFd> {
        let info = crate::obj::map_info_raw(fd.as_fd())?;
        let meta = MapMeta {
            map_type: info.r#type,
            key_size: info.key_size,
            value_size: info.value_size,
            max_entries: info.max_entries,
            map_flags: info.map_flags,
        };
        Ok(MapFd { fd, meta })
    }

    /// The sizes the map was created with.
    pub fn meta(&self) -> MapMeta {
        self.meta
    }

    /// Duplicates the fd (`F_DUPFD_CLOEXEC`, above 2).
    pub fn try_clone(&self) -> Result<MapFd> {
        Ok(MapFd {
            fd: dup(&self.fd, "MapFd")?,
            meta: self.meta,
        })
    }
}

impl AsFd for MapFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for MapFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl From<MapFd> for OwnedFd {
    fn from(m: MapFd) -> OwnedFd {
        m.fd
    }
}
