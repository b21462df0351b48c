//! A writer of cpio archives in the "newc" format (`070701`), the format
//! the kernel unpacks an initramfs from.
//!
//! Each entry is a 110-byte ASCII header (magic and 13 eight-digit hex
//! fields), the NUL-terminated name padded to a multiple of 4 bytes, then
//! the data padded the same way; `TRAILER!!!` ends the archive. Parent
//! directories are added before their children (the kernel does not create
//! them), each once.
//!
//! ```
//! use oxbpf_xtask::cpio::Cpio;
//!
//! let mut c = Cpio::new();
//! c.file("bin/init", 0o755, b"\x7fELF...").unwrap();
//! let bytes = c.finish();
//! assert!(bytes.starts_with(b"070701"));
//! assert_eq!(bytes.len() % 4, 0);
//! ```

use std::collections::BTreeSet;

use crate::Error;

/// File type bits of `mode`.
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;

/// An archive being written, in memory.
#[derive(Debug, Default)]
pub struct Cpio {
    out: Vec<u8>,
    dirs: BTreeSet<String>,
    names: BTreeSet<String>,
    next_ino: u32,
}

impl Cpio {
    /// An empty archive.
    pub fn new() -> Self {
        Cpio {
            next_ino: 1,
            ..Default::default()
        }
    }

    /// Adds directory `path` (and its parents) with permissions `perm`;
    /// a directory already added is left as it is.
    pub fn dir(&mut self, path: &str, perm: u32) -> Result<(), Error> {
        let path = normalize(path)?;
        let mut so_far = String::new();
        for part in path.split('/') {
            if !so_far.is_empty() {
                so_far.push('/');
            }
            so_far.push_str(part);
            if self.dirs.insert(so_far.clone()) {
                self.names.insert(so_far.clone());
                let name = so_far.clone();
                self.entry(&name, S_IFDIR | (perm & 0o7777), 2, &[]);
            }
        }
        Ok(())
    }

    /// Adds regular file `path` with permissions `perm` and content
    /// `data`; its parent directories are added (mode 0755) if missing.
    pub fn file(&mut self, path: &str, perm: u32, data: &[u8]) -> Result<(), Error> {
        let path = self.new_leaf(path)?;
        self.entry(&path, S_IFREG | (perm & 0o7777), 1, data);
        Ok(())
    }

    /// Adds symbolic link `path` pointing to `target`.
    pub fn symlink(&mut self, path: &str, target: &str) -> Result<(), Error> {
        let path = self.new_leaf(path)?;
        self.entry(&path, S_IFLNK | 0o777, 1, target.as_bytes());
        Ok(())
    }

    /// Whether `path` was added (as a file, link or directory).
    pub fn contains(&self, path: &str) -> bool {
        normalize(path).is_ok_and(|p| self.names.contains(&p))
    }

    fn new_leaf(&mut self, path: &str) -> Result<String, Error> {
        let path = normalize(path)?;
        if self.names.contains(&path) {
            return Err(Error::Failed(format!("cpio: {path} added twice")));
        }
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.dir(parent, 0o755)?;
        }
        self.names.insert(path.clone());
        Ok(path)
    }

    fn entry(&mut self, name: &str, mode: u32, nlink: u32, data: &[u8]) {
        let ino = self.next_ino;
        self.next_ino += 1;
        self.header(name, ino, mode, nlink, data.len());
        self.out.extend_from_slice(data);
        self.pad();
    }

    fn header(&mut self, name: &str, ino: u32, mode: u32, nlink: u32, size: usize) {
        let fields = [
            ino,
            mode,
            0, // uid
            0, // gid
            nlink,
            0, // mtime: reproducible archives
            size as u32,
            0, // devmajor
            0, // devminor
            0, // rdevmajor
            0, // rdevminor
            name.len() as u32 + 1,
            0, // check (newc: unused)
        ];
        self.out.extend_from_slice(b"070701");
        for f in fields {
            self.out.extend_from_slice(format!("{f:08X}").as_bytes());
        }
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        self.pad();
    }

    fn pad(&mut self) {
        while self.out.len() % 4 != 0 {
            self.out.push(0);
        }
    }

    /// Ends the archive with the trailer and returns its bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.header("TRAILER!!!", 0, 0, 1, 0);
        self.out
    }
}

/// `path` without leading `/` or `./`, checked: no empty, `.` or `..`
/// components, no NUL, not longer than 4 GiB (the name size field).
fn normalize(path: &str) -> Result<String, Error> {
    let p = path.trim_start_matches("./").trim_start_matches('/');
    let bad = p.is_empty()
        || p.contains('\0')
        || p.split('/').any(|c| c.is_empty() || c == "." || c == "..");
    if bad {
        return Err(Error::Failed(format!("cpio: bad path {path:?}")));
    }
    Ok(p.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(name, mode, data)` of every entry, read back.
    fn read(bytes: &[u8]) -> Vec<(String, u32, Vec<u8>)> {
        let mut out = Vec::new();
        let mut at = 0;
        loop {
            assert_eq!(&bytes[at..at + 6], b"070701", "magic at {at}");
            let field = |i: usize| {
                let s = std::str::from_utf8(&bytes[at + 6 + 8 * i..at + 14 + 8 * i]).unwrap();
                u32::from_str_radix(s, 16).unwrap() as usize
            };
            let (mode, size, namesize) = (field(1), field(6), field(11));
            let name_at = at + 110;
            let name = std::str::from_utf8(&bytes[name_at..name_at + namesize - 1])
                .unwrap()
                .to_string();
            assert_eq!(bytes[name_at + namesize - 1], 0);
            let data_at = (name_at + namesize).next_multiple_of(4);
            let data = bytes[data_at..data_at + size].to_vec();
            at = (data_at + size).next_multiple_of(4);
            if name == "TRAILER!!!" {
                assert_eq!(at, bytes.len());
                return out;
            }
            out.push((name, mode as u32, data));
        }
    }

    #[test]
    fn parents_first_each_once_and_aligned() {
        let mut c = Cpio::new();
        c.file("/a/b/c.txt", 0o644, b"hello").unwrap();
        c.file("a/b/d", 0o755, b"").unwrap();
        c.symlink("a/l", "b/c.txt").unwrap();
        c.dir("a/b", 0o700).unwrap();
        let bytes = c.finish();
        assert_eq!(bytes.len() % 4, 0);
        let entries = read(&bytes);
        let names: Vec<_> = entries.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(names, ["a", "a/b", "a/b/c.txt", "a/b/d", "a/l"]);
        assert_eq!(entries[0].1, S_IFDIR | 0o755);
        assert_eq!(entries[2].1, S_IFREG | 0o644);
        assert_eq!(entries[2].2, b"hello");
        assert_eq!(entries[4].1, S_IFLNK | 0o777);
        assert_eq!(entries[4].2, b"b/c.txt");
    }

    #[test]
    fn bad_and_duplicate_paths_are_errors() {
        let mut c = Cpio::new();
        for bad in ["", "/", "a//b", "a/../b", "./", "a/./b", "x\0y"] {
            assert!(c.file(bad, 0o644, b"").is_err(), "{bad:?}");
        }
        c.file("x", 0o644, b"1").unwrap();
        assert!(c.file("/x", 0o644, b"2").is_err());
        assert!(c.contains("./x"));
    }
}
