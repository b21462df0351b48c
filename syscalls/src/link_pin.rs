//! Opening pinned links: `BPF_OBJ_GET` of a path that must hold a link.

use std::path::Path;

use crate::error::Result;
use crate::fd::LinkFd;

/// Opens the BPF link pinned at `path`, checking that it is a link.
pub fn link_get_pinned(path: &Path) -> Result<LinkFd> {
    LinkFd::from_owned(crate::obj_get(path, 0)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn a_non_link_is_refused() {
        let f = std::fs::File::open("/proc/self/stat").unwrap();
        let err = LinkFd::from_owned(f.into()).unwrap_err();
        assert!(matches!(err, Error::FdKind { .. }), "{err}");
    }
}
