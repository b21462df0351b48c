//! Where things live: typed offsets into the blob and the context, the
//! context's fixed header, the blob's chunks, the minimum kernel and the
//! loader's return value.

use core::fmt;

use crate::error::Error;

/// A byte offset in the loader's blob: the concatenation of its chunks, in
/// order (see [`Blob`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlobOff(pub u32);

impl BlobOff {
    /// The offset as an index into the blob's bytes.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for BlobOff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "blob+{:#x}", self.0)
    }
}

/// A byte offset in the loader program's context (the buffer the runtime
/// passes to `BPF_PROG_TEST_RUN` and gets back).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CtxOff(pub u32);

impl CtxOff {
    /// The offset as an index into the context's bytes.
    pub fn index(self) -> usize {
        self.0 as usize
    }

    /// The offset as the `off` field of an instruction. The verifier
    /// allows context accesses only through the unmodified context
    /// pointer, so every offset a loader uses is below
    /// [`ctx::MAX_SIZE`] (checked when the layout is made, and when a
    /// loader file is read).
    pub(crate) fn insn_off(self) -> i16 {
        i16::try_from(self.0).unwrap_or(i16::MAX)
    }
}

impl fmt::Display for CtxOff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ctx+{:#x}", self.0)
    }
}

/// The context's fixed header and the rules of its word area.
///
/// ```text
/// ctx+0   u32  step    out: the step being executed (on failure: the one that failed)
/// ctx+4   u32  errno   out: on failure, the positive error number
/// ctx+8   u32  words[] one 4-byte word per result, at the offsets the
///                      descriptor gives (fd of a BTF object, map or
///                      program; a kernel BTF id and its module BTF fd)
/// ```
///
/// The word area is also the `fd_array` of every program the loader loads:
/// a map's `ld_imm64` says `BPF_PSEUDO_MAP_IDX(_VALUE)` with the index of
/// its word, `(word - ctx+8) / 4`. The loader sets every word it fills to
/// -1 first; the runtime writes the fds of maps it opened (pinned maps) to
/// their words before the run, and the loader never closes those.
pub mod ctx {
    use super::CtxOff;

    /// The step being executed, then the one that failed.
    pub const STEP: CtxOff = CtxOff(0);
    /// The failing step's error number (positive).
    pub const ERRNO: CtxOff = CtxOff(4);
    /// Start of the word area, and of `fd_array`.
    pub const WORDS: CtxOff = CtxOff(8);
    /// The largest context a loader uses. `BPF_PROG_TEST_RUN` accepts up
    /// to 64 KiB for a syscall program, but instructions reach the context
    /// only at a signed 16-bit offset from the context pointer (the
    /// verifier refuses accesses through a moved one), so the last usable
    /// word starts at 32764: at most 8190 results per loader.
    pub const MAX_SIZE: u32 = 32768;
}

/// The loader's blob: the bytes the runtime writes into one array map per
/// chunk before running the loader (attributes, instructions, BTF, strings,
/// initial values).
///
/// A map value is at most `KMALLOC_MAX_SIZE` (4 MiB on x86-64), so a blob
/// larger than that is split into chunks; every region (one attribute
/// struct, one program's instructions...) lies within one chunk. The
/// loader addresses chunk `i` through `fd_array[i]` of its own load
/// (`BPF_PSEUDO_MAP_IDX_VALUE`), and a program references at most 64 maps,
/// so there are at most [`Blob::MAX_CHUNKS`] chunks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Blob {
    pub(crate) bytes: Vec<u8>,
    /// End offset of each chunk; the last is `bytes.len()`.
    pub(crate) chunk_ends: Vec<u32>,
}

impl Blob {
    /// The most chunks a loader may have (`MAX_USED_MAPS` of the kernel).
    pub const MAX_CHUNKS: usize = 64;

    /// Builds a blob from its bytes and chunk ends, checking that the
    /// chunks are non-empty, in order and cover the bytes exactly.
    pub fn new(bytes: Vec<u8>, chunk_ends: Vec<u32>) -> Result<Blob, Error> {
        let mut start = 0u64;
        if chunk_ends.is_empty() || chunk_ends.len() > Blob::MAX_CHUNKS {
            return Err(Error::format(
                0,
                format!(
                    "{} blob chunks (1 to {})",
                    chunk_ends.len(),
                    Blob::MAX_CHUNKS
                ),
            ));
        }
        for (i, &end) in chunk_ends.iter().enumerate() {
            if u64::from(end) <= start {
                return Err(Error::format(
                    0,
                    format!("blob chunk {i} is empty or out of order"),
                ));
            }
            start = u64::from(end);
        }
        if start != bytes.len() as u64 {
            return Err(Error::format(
                0,
                format!(
                    "blob chunks end at {start}, the blob has {} bytes",
                    bytes.len()
                ),
            ));
        }
        Ok(Blob { bytes, chunk_ends })
    }

    /// All the bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// All the bytes, to change them (the runtime asks for a verifier log
    /// this way; tests tamper with a blob to see the change in `explain`).
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }

    /// Number of chunks.
    pub fn chunk_count(&self) -> usize {
        self.chunk_ends.len()
    }

    /// The chunks in order: where each starts, and its bytes.
    pub fn chunks(&self) -> impl Iterator<Item = (BlobOff, &[u8])> {
        let mut start = 0u32;
        self.chunk_ends.iter().map(move |&end| {
            let chunk = (BlobOff(start), &self.bytes[start as usize..end as usize]);
            start = end;
            chunk
        })
    }

    /// The chunk holding `off` and the offset inside it.
    pub fn locate(&self, off: BlobOff) -> Option<(usize, u32)> {
        let mut start = 0u32;
        for (i, &end) in self.chunk_ends.iter().enumerate() {
            if off.0 < end {
                return (off.0 >= start).then_some((i, off.0 - start));
            }
            start = end;
        }
        None
    }

    /// The blob offset of byte `off` of chunk `chunk`, if there is one.
    pub fn offset_in_chunk(&self, chunk: usize, off: u32) -> Option<BlobOff> {
        let start = if chunk == 0 {
            0
        } else {
            *self.chunk_ends.get(chunk - 1)?
        };
        let end = *self.chunk_ends.get(chunk)?;
        let at = start.checked_add(off)?;
        (at < end).then_some(BlobOff(at))
    }

    /// `len` bytes at `off`, which must lie within one chunk.
    pub fn range(&self, off: BlobOff, len: usize) -> Result<&[u8], Error> {
        let bad = |what: &str| Error::DecodeBlob {
            off,
            len,
            what: what.to_owned(),
        };
        if len == 0 {
            return Ok(&[]);
        }
        let (chunk, _) = self.locate(off).ok_or_else(|| bad("outside the blob"))?;
        let end = off
            .index()
            .checked_add(len)
            .ok_or_else(|| bad("overflows"))?;
        if end > self.chunk_ends[chunk] as usize {
            return Err(bad("runs past the end of its chunk"));
        }
        Ok(&self.bytes[off.index()..end])
    }

    /// The NUL-terminated string at `off` (without its NUL), within one
    /// chunk.
    pub fn c_str(&self, off: BlobOff) -> Result<&[u8], Error> {
        let (chunk, _) = self.locate(off).ok_or_else(|| Error::DecodeBlob {
            off,
            len: 1,
            what: "string outside the blob".into(),
        })?;
        let rest = &self.bytes[off.index()..self.chunk_ends[chunk] as usize];
        let len = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| Error::DecodeBlob {
                off,
                len: rest.len(),
                what: "string without a NUL in its chunk".into(),
            })?;
        Ok(&rest[..len])
    }
}

/// A kernel version, `major.minor.patch`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KernelVersion {
    /// Major version.
    pub major: u8,
    /// Minor version.
    pub minor: u8,
    /// Patch level.
    pub patch: u16,
}

impl KernelVersion {
    /// `major.minor.0`.
    pub const fn new(major: u8, minor: u8) -> KernelVersion {
        KernelVersion {
            major,
            minor,
            patch: 0,
        }
    }
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)?;
        if self.patch != 0 {
            write!(f, ".{}", self.patch)?;
        }
        Ok(())
    }
}

/// What a failed loader reports: the step that failed and its error number.
///
/// The loader program returns 0 when every step succeeded. Otherwise it
/// returns `step << 12 | errno`: the low 12 bits are the positive error
/// number (the kernel's are at most 4095), the 20 bits above them the index
/// of the failing step in the plan. The same two values are in the context
/// at [`ctx::STEP`] and [`ctx::ERRNO`]. Before returning, the loader has
/// closed every fd it created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    /// Index of the failing step (the plan's `%step`).
    pub step: u32,
    /// The positive error number (`ENOENT` = 2...).
    pub errno: u32,
}

impl Failure {
    /// The largest number of steps whose index fits the return value.
    pub const MAX_STEPS: usize = 1 << 20;

    /// Decodes a loader's return value: `None` for success (0).
    pub fn from_retval(retval: u32) -> Option<Failure> {
        (retval != 0).then_some(Failure {
            step: retval >> 12,
            errno: retval & 0xfff,
        })
    }

    /// The return value that reports this failure.
    pub fn retval(self) -> u32 {
        (self.step << 12) | (self.errno & 0xfff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_located() {
        let blob = Blob::new(vec![0; 10], vec![4, 10]).unwrap();
        assert_eq!(blob.locate(BlobOff(0)), Some((0, 0)));
        assert_eq!(blob.locate(BlobOff(3)), Some((0, 3)));
        assert_eq!(blob.locate(BlobOff(4)), Some((1, 0)));
        assert_eq!(blob.locate(BlobOff(9)), Some((1, 5)));
        assert_eq!(blob.locate(BlobOff(10)), None);
        assert_eq!(blob.offset_in_chunk(1, 5), Some(BlobOff(9)));
        assert_eq!(blob.offset_in_chunk(1, 6), None);
        assert_eq!(blob.offset_in_chunk(2, 0), None);
        assert!(blob.range(BlobOff(2), 2).is_ok());
        assert!(blob.range(BlobOff(2), 3).is_err());
        let chunks: Vec<_> = blob.chunks().map(|(o, b)| (o, b.len())).collect();
        assert_eq!(chunks, vec![(BlobOff(0), 4), (BlobOff(4), 6)]);
    }

    #[test]
    fn bad_chunks_are_refused() {
        assert!(Blob::new(vec![0; 4], vec![]).is_err());
        assert!(Blob::new(vec![0; 4], vec![2, 2, 4]).is_err());
        assert!(Blob::new(vec![0; 4], vec![3]).is_err());
        assert!(Blob::new(vec![0; 4], vec![5]).is_err());
    }

    #[test]
    fn strings_end_in_their_chunk() {
        let blob = Blob::new(b"ab\0cd".to_vec(), vec![3, 5]).unwrap();
        assert_eq!(blob.c_str(BlobOff(0)).unwrap(), b"ab");
        assert!(blob.c_str(BlobOff(3)).is_err());
    }

    #[test]
    fn failures_round_trip() {
        assert_eq!(Failure::from_retval(0), None);
        let f = Failure {
            step: 77,
            errno: 22,
        };
        assert_eq!(Failure::from_retval(f.retval()), Some(f));
        let big = Failure {
            step: (Failure::MAX_STEPS - 1) as u32,
            errno: 4095,
        };
        assert_eq!(Failure::from_retval(big.retval()), Some(big));
        assert_eq!(KernelVersion::new(5, 14).to_string(), "5.14");
    }
}
