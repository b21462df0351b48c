//! Shared parts of the BTF benchmarks: the libbpf side (through
//! libbpf-sys), the floor pass, the lookup sample and a counting allocator
//! for heap figures.
//!
//! This package exists to compare oxbpf-btf with libbpf; calling libbpf is
//! FFI, so unlike the library crates it has `unsafe` blocks, each with its
//! `SAFETY` comment.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::{CStr, CString};
use std::sync::atomic::{AtomicUsize, Ordering};

use oxbpf_btf::{Btf, Kind};

/// Where the kernel's BTF is.
pub const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

/// Number of names looked up.
pub const LOOKUPS: usize = 10_000;

/// A global allocator that counts live and peak heap bytes (Rust
/// allocations only: libbpf's `malloc`s are measured with `mallinfo2`).
pub struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments,
// only adding counters.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            let now = if new_size >= layout.size() {
                LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size
                    - layout.size()
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed) - layout.size()
                    + new_size
            };
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Live heap bytes (Rust allocations).
pub fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Runs `f` and returns its result, the peak heap growth during it and the
/// heap it left allocated (Rust allocations), in bytes.
pub fn measure_heap<T>(f: impl FnOnce() -> T) -> (T, usize, usize) {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let r = f();
    let peak = PEAK.load(Ordering::Relaxed) - before;
    let kept = LIVE.load(Ordering::Relaxed).saturating_sub(before);
    (r, peak, kept)
}

/// glibc's heap in use (`mallinfo2`: arena bytes in use plus mmapped
/// blocks): libbpf allocates with `malloc`, which the counting allocator
/// does not see.
pub fn malloc_in_use() -> usize {
    // SAFETY: mallinfo2 only reads the allocator's statistics.
    let m = unsafe { libc::mallinfo2() };
    m.uordblks + m.hblkhd
}

/// The kernel's BTF, read into memory.
pub fn vmlinux_bytes() -> Vec<u8> {
    std::fs::read(VMLINUX).expect("read /sys/kernel/btf/vmlinux")
}

/// The floor: one pass that only decodes each type header to find the
/// next (no checks, nothing kept but a count).
pub fn floor(data: &[u8]) -> usize {
    let w = |i: usize| u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
    let hdr_len = w(4) as usize;
    let start = hdr_len + w(8) as usize;
    let types = &data[start..start + w(12) as usize];
    let mut off = 0;
    let mut n = 0;
    while off + 12 <= types.len() {
        let info = u32::from_le_bytes([
            types[off + 4],
            types[off + 5],
            types[off + 6],
            types[off + 7],
        ]);
        let vlen = (info & 0xffff) as usize;
        off += 12
            + match (info >> 24) & 0x1f {
                1 | 14 | 17 => 4,
                3 => 12,
                4 | 5 | 15 | 19 => 12 * vlen,
                6 | 13 => 8 * vlen,
                _ => 0,
            };
        n += 1;
    }
    n
}

/// `LOOKUPS` names of named structs spread over the id range, each with
/// its kind, as C strings for libbpf too.
pub fn sample_names(btf: &Btf<'_>) -> Vec<(String, CString, Kind)> {
    let names: Vec<(String, Kind)> = btf
        .types()
        .filter(|(_, t)| t.kind() == Kind::Struct && t.name_off() != 0)
        .map(|(id, t)| (btf.name(id).unwrap().to_string(), t.kind()))
        .collect();
    let mut out = Vec::with_capacity(LOOKUPS);
    let mut i = 0usize;
    while out.len() < LOOKUPS {
        // A stride prime to the count visits every name before repeating.
        let (n, k) = &names[(i * 7919) % names.len()];
        out.push((n.clone(), CString::new(n.as_str()).unwrap(), *k));
        i += 1;
    }
    out
}

/// A libbpf `struct btf`, freed on drop.
pub struct LibbpfBtf(*mut libbpf_sys::btf);

impl LibbpfBtf {
    /// `btf__load_vmlinux_btf()`.
    pub fn load_vmlinux() -> LibbpfBtf {
        // SAFETY: no arguments; returns a new object or NULL.
        LibbpfBtf::check(
            unsafe { libbpf_sys::btf__load_vmlinux_btf() },
            "btf__load_vmlinux_btf",
        )
    }

    /// `btf__parse(path, NULL)`.
    pub fn parse(path: &CStr) -> LibbpfBtf {
        // SAFETY: `path` is a NUL-terminated string that outlives the call;
        // a NULL btf_ext is allowed.
        LibbpfBtf::check(
            unsafe { libbpf_sys::btf__parse(path.as_ptr(), std::ptr::null_mut()) },
            "btf__parse",
        )
    }

    /// `btf__new(data, size)` (libbpf copies the bytes).
    pub fn new(data: &[u8]) -> LibbpfBtf {
        // SAFETY: `data` is valid for `data.len()` bytes during the call.
        LibbpfBtf::check(
            unsafe { libbpf_sys::btf__new(data.as_ptr().cast(), data.len() as u32) },
            "btf__new",
        )
    }

    fn check(p: *mut libbpf_sys::btf, what: &str) -> LibbpfBtf {
        assert!(
            !p.is_null(),
            "{what} failed: {}",
            std::io::Error::last_os_error()
        );
        LibbpfBtf(p)
    }

    /// `btf__find_by_name_kind()`: the id, or a negative errno.
    pub fn find_by_name_kind(&self, name: &CStr, kind: Kind) -> i32 {
        // SAFETY: self.0 is a live btf; `name` is NUL-terminated.
        unsafe { libbpf_sys::btf__find_by_name_kind(self.0, name.as_ptr(), kind as u32) }
    }

    /// `btf__type_cnt()`.
    pub fn type_cnt(&self) -> u32 {
        // SAFETY: self.0 is a live btf.
        unsafe { libbpf_sys::btf__type_cnt(self.0) }
    }
}

impl Drop for LibbpfBtf {
    fn drop(&mut self) {
        // SAFETY: self.0 came from a libbpf constructor and is freed once.
        unsafe { libbpf_sys::btf__free(self.0) }
    }
}
