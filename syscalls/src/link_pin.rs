//! Opening pinned links: `BPF_OBJ_GET` of a path that must hold a link.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fd::LinkFd;

/// The anonymous inode name of a BPF link fd (`/proc/self/fd/N`).
pub const LINK_INODE: &str = "anon_inode:bpf-link";

/// Opens the BPF link pinned at `path`, checking that it is a link.
pub fn link_get_pinned(path: &Path) -> Result<LinkFd> {
    let fd = crate::obj_get(path, 0)?;
    link_from_owned(fd)
}

/// Wraps `fd` as a link fd after checking it refers to a BPF link (its
/// anonymous inode is [`LINK_INODE`]).
pub fn link_from_owned(fd: OwnedFd) -> Result<LinkFd> {
    let proc = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
    let target = std::fs::read_link(&proc).map_err(|source| Error::Io {
        what: "checking the kind of an fd through",
        path: proc,
        source,
    })?;
    if target.as_os_str() != LINK_INODE {
        return Err(Error::FdKind {
            fd: fd.as_raw_fd(),
            expected: LINK_INODE,
            found: target.to_string_lossy().into_owned(),
        });
    }
    Ok(LinkFd::from_kernel(fd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_link_is_refused() {
        let f = std::fs::File::open("/proc/self/stat").unwrap();
        let err = link_from_owned(f.into()).unwrap_err();
        assert!(matches!(err, Error::FdKind { .. }), "{err}");
    }
}
