//! Consuming a `BPF_MAP_TYPE_PERF_EVENT_ARRAY` map: one perf ring per CPU,
//! records written by `bpf_perf_event_output`, and counts of records the
//! kernel lost because a ring was full.
//!
//! For each possible CPU, a `PERF_COUNT_SW_BPF_OUTPUT` software event is
//! opened on that CPU with `PERF_SAMPLE_RAW` samples, its ring mapped (one
//! metadata page, then `2^n` data pages), and its fd stored in the map at
//! the CPU's index, where the program's output goes. The metadata page's
//! `data_head`/`data_tail` (bytes 1024 and 1032) say what is unread; a
//! record that wraps around the data area's end is copied out whole.

use std::ops::ControlFlow;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rustix::event::epoll;
use rustix::mm::{MapFlags, ProtFlags};

use crate::enums::MapType;
use crate::error::{Error, Result};
use crate::fd::MapFd;
use crate::perf::PerfEventAttr;
use crate::perf_sw::PERF_TYPE_SOFTWARE;
use crate::sys::{self, PerfIoctl};

/// `PERF_COUNT_SW_BPF_OUTPUT`.
const SW_BPF_OUTPUT: u64 = 10;
/// `PERF_SAMPLE_RAW`.
const SAMPLE_RAW: u64 = 1 << 10;
/// `PERF_RECORD_LOST`.
const RECORD_LOST: u32 = 2;
/// `PERF_RECORD_SAMPLE`.
const RECORD_SAMPLE: u32 = 9;
/// Offsets in `struct perf_event_mmap_page`.
const DATA_HEAD: usize = 1024;
const DATA_TAIL: usize = 1032;

/// What a perf buffer hands its callback.
#[derive(Debug, PartialEq, Eq)]
pub enum PerfRecord<'a> {
    /// A record a program wrote (`bpf_perf_event_output`), on a CPU.
    Sample {
        /// The CPU whose ring it came from.
        cpu: u32,
        /// The program's bytes (the kernel pads them to 8 bytes).
        data: &'a [u8],
    },
    /// The kernel dropped records on a CPU because its ring was full.
    Lost {
        /// The CPU.
        cpu: u32,
        /// How many.
        count: u64,
    },
}

#[derive(Debug)]
struct CpuRing {
    cpu: u32,
    event: OwnedFd,
    base: NonNull<u8>,
    /// Data area size (pages * page size).
    size: usize,
    page: usize,
}

// SAFETY: the mapping belongs to this value; head and tail are accessed
// atomically, records are copied before the tail moves past them.
unsafe impl Send for CpuRing {}

impl CpuRing {
    fn head(&self) -> &AtomicU64 {
        // SAFETY: `data_head` of the mapped, page-aligned metadata page: a
        // u64 the kernel updates, accessed atomically only.
        unsafe { AtomicU64::from_ptr(self.base.as_ptr().add(DATA_HEAD).cast()) }
    }

    fn tail(&self) -> &AtomicU64 {
        // SAFETY: `data_tail`, which user space owns, accessed atomically.
        unsafe { AtomicU64::from_ptr(self.base.as_ptr().add(DATA_TAIL).cast()) }
    }

    /// Copies `len` bytes at ring position `pos` into `out` (wrapping).
    fn copy(&self, pos: u64, len: usize, out: &mut Vec<u8>) {
        out.clear();
        let start = (pos % self.size as u64) as usize;
        let first = len.min(self.size - start);
        // SAFETY: the data area starts one page after the metadata and is
        // `size` bytes; `start + first <= size` and the wrapped part
        // `len - first <= size` (records are smaller than the ring). The
        // kernel does not write below data_tail's unread region we hold.
        unsafe {
            let data = self.base.as_ptr().add(self.page);
            out.extend_from_slice(std::slice::from_raw_parts(data.add(start), first));
            out.extend_from_slice(std::slice::from_raw_parts(data, len - first));
        }
    }

    fn consume(
        &self,
        scratch: &mut Vec<u8>,
        f: &mut dyn FnMut(PerfRecord<'_>) -> ControlFlow<()>,
    ) -> (usize, bool) {
        let head = self.head().load(Ordering::Acquire);
        let mut tail = self.tail().load(Ordering::Relaxed);
        let mut count = 0;
        let mut stopped = false;
        while tail < head && !stopped {
            let mut header = Vec::with_capacity(8);
            self.copy(tail, 8, &mut header);
            let kind = u32::from_ne_bytes(header[0..4].try_into().expect("4 bytes"));
            let size = u16::from_ne_bytes(header[6..8].try_into().expect("2 bytes")) as usize;
            if size < 8 || size > self.size {
                // A corrupt header: skip everything we cannot trust.
                log::warn!(target: "oxbpf::perfbuf", "CPU {}: record of size {size}, dropping the ring's contents", self.cpu);
                tail = head;
                break;
            }
            self.copy(tail, size, scratch);
            match kind {
                RECORD_SAMPLE if size >= 12 => {
                    let raw =
                        u32::from_ne_bytes(scratch[8..12].try_into().expect("4 bytes")) as usize;
                    let data = &scratch[12..(12 + raw).min(size)];
                    count += 1;
                    stopped = f(PerfRecord::Sample {
                        cpu: self.cpu,
                        data,
                    })
                    .is_break();
                }
                RECORD_LOST if size >= 24 => {
                    let lost = u64::from_ne_bytes(scratch[16..24].try_into().expect("8 bytes"));
                    count += 1;
                    stopped = f(PerfRecord::Lost {
                        cpu: self.cpu,
                        count: lost,
                    })
                    .is_break();
                }
                _ => {}
            }
            tail += size as u64;
        }
        self.tail().store(tail, Ordering::Release);
        (count, stopped)
    }
}

impl Drop for CpuRing {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `PerfBuffer::new`.
        let _ = unsafe { rustix::mm::munmap(self.base.as_ptr().cast(), self.page + self.size) };
    }
}

/// A consumer of a perf event array map: one ring per possible CPU.
#[derive(Debug)]
pub struct PerfBuffer {
    rings: Vec<CpuRing>,
    epoll: OwnedFd,
    scratch: Vec<u8>,
}

impl PerfBuffer {
    /// Opens a ring of `pages` data pages (a power of two) on every
    /// possible CPU and puts its event in `map` at the CPU's index.
    pub fn new(map: &MapFd, pages: usize) -> Result<PerfBuffer> {
        let meta = map.meta();
        if meta.map_type != MapType::PERF_EVENT_ARRAY {
            return Err(Error::invalid(format!(
                "perf buffer: a {} map is not a perf_event_array",
                meta.map_type
            )));
        }
        if !pages.is_power_of_two() {
            return Err(Error::invalid(format!(
                "perf buffer: {pages} data pages is not a power of two"
            )));
        }
        let cpus = crate::possible_cpus()?;
        if meta.max_entries < cpus {
            return Err(Error::invalid(format!(
                "perf buffer: the map has {} slots for {cpus} possible CPUs",
                meta.max_entries
            )));
        }
        let page = rustix::param::page_size();
        let size = pages
            .checked_mul(page)
            .ok_or_else(|| Error::invalid("perf buffer: too large"))?;
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC).map_err(|errno| Error::Epoll {
            op: "create",
            errno,
        })?;
        let mut rings = Vec::with_capacity(cpus as usize);
        for cpu in 0..cpus {
            let attr = PerfEventAttr {
                r#type: PERF_TYPE_SOFTWARE,
                config: SW_BPF_OUTPUT,
                sample_period: 1,
                sample_type: SAMPLE_RAW,
                wakeup_events: 1,
                ..Default::default()
            };
            let event = match sys::perf_event_open(&attr, -1, cpu as i32) {
                Ok(fd) => fd,
                // A possible CPU that is offline has no ring.
                Err(e) if e.errno() == Some(rustix::io::Errno::NODEV) => continue,
                Err(e) => return Err(e),
            };
            // SAFETY: a fresh shared read-write mapping of the event's ring
            // (one metadata page + `size` data bytes) aliasing nothing.
            let base = unsafe {
                rustix::mm::mmap(
                    std::ptr::null_mut(),
                    page + size,
                    ProtFlags::READ | ProtFlags::WRITE,
                    MapFlags::SHARED,
                    &event,
                    0,
                )
            }
            .map_err(|errno| Error::Mmap {
                len: page + size,
                errno,
            })?;
            let base =
                NonNull::new(base.cast()).ok_or_else(|| Error::invalid("mmap returned NULL"))?;
            let ring = CpuRing {
                cpu,
                event,
                base,
                size,
                page,
            };
            sys::perf_ioctl(ring.event.as_fd(), PerfIoctl::Enable)?;
            let fd = ring.event.as_raw_fd() as u32;
            crate::map_update_elem(map, &cpu.to_ne_bytes(), &fd.to_ne_bytes(), 0)?;
            epoll::add(
                &epoll,
                &ring.event,
                epoll::EventData::new_u64(rings.len() as u64),
                epoll::EventFlags::IN,
            )
            .map_err(|errno| Error::Epoll { op: "add", errno })?;
            rings.push(ring);
        }
        Ok(PerfBuffer {
            rings,
            epoll,
            scratch: Vec::new(),
        })
    }

    /// Hands every record of every CPU to `f` without waiting; `Break`
    /// stops early. Returns the number of records handed out.
    pub fn consume(&mut self, mut f: impl FnMut(PerfRecord<'_>) -> ControlFlow<()>) -> usize {
        let mut total = 0;
        for ring in &self.rings {
            let (n, stopped) = ring.consume(&mut self.scratch, &mut f);
            total += n;
            if stopped {
                break;
            }
        }
        total
    }

    /// Waits up to `timeout` for records, then consumes the rings that
    /// have some. Returns the number handed out (0 on timeout or `EINTR`).
    pub fn poll(
        &mut self,
        timeout: Option<Duration>,
        mut f: impl FnMut(PerfRecord<'_>) -> ControlFlow<()>,
    ) -> Result<usize> {
        let mut events = Vec::with_capacity(self.rings.len().max(1));
        let ts = timeout.map(|t| rustix::time::Timespec {
            tv_sec: t.as_secs().try_into().unwrap_or(i64::MAX),
            tv_nsec: i64::from(t.subsec_nanos()),
        });
        match epoll::wait(
            &self.epoll,
            rustix::buffer::spare_capacity(&mut events),
            ts.as_ref(),
        ) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => return Ok(0),
            Err(errno) => return Err(Error::Epoll { op: "wait", errno }),
        }
        let mut total = 0;
        for event in &events {
            if let Some(ring) = self.rings.get(event.data.u64() as usize) {
                let (n, stopped) = ring.consume(&mut self.scratch, &mut f);
                total += n;
                if stopped {
                    break;
                }
            }
        }
        Ok(total)
    }

    /// The CPUs with a ring.
    pub fn cpus(&self) -> impl Iterator<Item = u32> + '_ {
        self.rings.iter().map(|r| r.cpu)
    }

    /// The epoll fd, readable when a ring has records.
    pub fn epoll_fd(&self) -> BorrowedFd<'_> {
        self.epoll.as_fd()
    }
}
