//! Mapping the kernel's BTF file instead of reading it.
//!
//! Since Linux 6.16, `/sys/kernel/btf/vmlinux` can be mapped read-only:
//! the pages are the kernel's own BTF, immutable while the kernel runs.
//! Mapping saves reading several megabytes through 4 KiB sysfs reads.

use std::fs::File;
use std::path::Path;

use crate::error::{Error, Result};

/// Maps the kernel BTF file at `path` read-only, or `None` when it cannot
/// be mapped (a kernel before 6.16, a module's BTF, a path outside
/// `/sys/kernel/btf`): the caller reads it instead.
pub fn map_kernel_btf(path: &Path) -> Result<Option<memmap2::Mmap>> {
    // Only sysfs BTF is known never to change under the mapping; a regular
    // file could be truncated by another process (SIGBUS on access).
    if path.parent() != Some(Path::new("/sys/kernel/btf")) {
        return Ok(None);
    }
    let file = File::open(path).map_err(|source| Error::Io {
        what: "opening kernel BTF",
        path: path.to_owned(),
        source,
    })?;
    // SAFETY: the file is a sysfs BTF attribute whose contents are the
    // kernel's BTF, fixed for the life of the kernel (nothing can write or
    // truncate it), and the mapping is read-only and private.
    match unsafe { memmap2::MmapOptions::new().map_copy_read_only(&file) } {
        Ok(map) => Ok(Some(map)),
        Err(e) => {
            log::debug!(target: "oxbpf::syscalls", "{} cannot be mapped ({e}); reading it", path.display());
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_running_kernels_btf_maps_as_it_reads() {
        let path = Path::new("/sys/kernel/btf/vmlinux");
        let Some(map) = map_kernel_btf(path).unwrap() else {
            // Kernels before 6.16: reading is the way, and that is fine.
            return;
        };
        assert_eq!(&map[..], &std::fs::read(path).unwrap()[..]);
    }

    #[test]
    fn other_files_are_not_mapped() {
        assert!(
            map_kernel_btf(Path::new("/proc/self/stat"))
                .unwrap()
                .is_none()
        );
    }
}
