//! Consuming `BPF_MAP_TYPE_RINGBUF` maps: records read in place from the
//! shared ring, several rings waited on with one epoll fd.
//!
//! A ring buffer map is mapped in two parts (`Documentation/bpf/ringbuf.rst`):
//! the *consumer page* (read-write, at offset 0), whose first 8 bytes are the
//! consumer position, and, one page further, the *producer page* (read-only)
//! holding the producer position, followed by the data area mapped twice in
//! a row, so that a record that wraps around the end reads as one
//! contiguous slice. Each record starts with an 8-byte header: a 32-bit
//! length whose top two bits say *busy* (still being written) and
//! *discarded*, then 4 bytes the kernel uses; the record is padded to 8.

use std::ops::ControlFlow;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use rustix::event::epoll;
use rustix::mm::{MapFlags, ProtFlags};

use crate::enums::MapType;
use crate::error::{Error, Result};
use crate::fd::MapFd;

const BUSY_BIT: u32 = 1 << 31;
const DISCARD_BIT: u32 = 1 << 30;
const HEADER: u64 = 8;

/// One mapped ring.
#[derive(Debug)]
struct Ring {
    /// Kept open so that the epoll registration lives as long as the ring.
    fd: OwnedFd,
    consumer: NonNull<u8>,
    producer: NonNull<u8>,
    /// Data area size (a power of two: `max_entries`).
    size: u64,
    page: usize,
}

// SAFETY: the mappings belong to this value; all shared accesses go through
// atomics or through record slices the producer no longer writes.
unsafe impl Send for Ring {}

impl Ring {
    fn map(map: &MapFd) -> Result<Ring> {
        let meta = map.meta();
        if meta.map_type != MapType::RINGBUF {
            return Err(Error::invalid(format!(
                "ring buffer: a {} map is not a ringbuf",
                meta.map_type
            )));
        }
        let size = u64::from(meta.max_entries);
        let page = rustix::param::page_size();
        if !size.is_power_of_two() || size < page as u64 {
            return Err(Error::invalid(format!(
                "ring buffer: data size {size} is not a power-of-two number of pages"
            )));
        }
        let fd = map.try_clone()?.into();
        let producer_len = page
            .checked_add(2 * size as usize)
            .ok_or_else(|| Error::invalid("ring buffer: too large to map"))?;
        // SAFETY: fresh shared mappings of the ring's fd at addresses the
        // kernel picks, aliasing no Rust object: the consumer page
        // read-write at offset 0, the producer page and the doubled data
        // area read-only at offset one page, as the ringbuf map requires.
        let consumer = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                page,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                &fd,
                0,
            )
        }
        .map_err(|errno| Error::Mmap { len: page, errno })?;
        // SAFETY: as above.
        let producer = match unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                producer_len,
                ProtFlags::READ,
                MapFlags::SHARED,
                &fd,
                page as u64,
            )
        } {
            Ok(p) => p,
            Err(errno) => {
                // SAFETY: unmaps the consumer page mapped just above.
                let _ = unsafe { rustix::mm::munmap(consumer, page) };
                return Err(Error::Mmap {
                    len: producer_len,
                    errno,
                });
            }
        };
        let consumer =
            NonNull::new(consumer.cast()).ok_or_else(|| Error::invalid("mmap returned NULL"))?;
        let producer =
            NonNull::new(producer.cast()).ok_or_else(|| Error::invalid("mmap returned NULL"))?;
        Ok(Ring {
            fd,
            consumer,
            producer,
            size,
            page,
        })
    }

    fn consumer_pos(&self) -> &AtomicU64 {
        // SAFETY: the consumer page is mapped for the ring's lifetime, page
        // aligned, and its first 8 bytes are the kernel's u64 consumer
        // position, only ever accessed atomically.
        unsafe { AtomicU64::from_ptr(self.consumer.as_ptr().cast()) }
    }

    fn producer_pos(&self) -> &AtomicU64 {
        // SAFETY: as for the consumer position, on the producer page.
        unsafe { AtomicU64::from_ptr(self.producer.as_ptr().cast()) }
    }

    /// Hands every committed record to `f`, advancing the consumer
    /// position after each one; stops early when `f` breaks.
    ///
    /// Generic over the callback (not `&mut dyn FnMut`) so that the
    /// caller's closure is inlined into the loop: with a dynamic call the
    /// loop cost about 40 instructions a record against libbpf's 34
    /// (`cargo xtask bench ringbuf`, callgrind).
    #[inline]
    fn consume<F>(&self, index: usize, f: &mut F) -> (usize, bool)
    where
        F: FnMut(usize, &[u8]) -> ControlFlow<()>,
    {
        let data = self.producer.as_ptr().wrapping_add(self.page);
        let size = self.size;
        let mask = size - 1;
        let consumer = self.consumer_pos();
        let producer = self.producer_pos();
        let mut cons = consumer.load(Ordering::Acquire);
        let mut count = 0;
        loop {
            let prod = producer.load(Ordering::Acquire);
            if cons >= prod {
                return (count, false);
            }
            while cons < prod {
                let at = (cons & mask) as usize;
                // SAFETY: `at` is inside the first copy of the data area;
                // record headers are 8-aligned u32 the producer updates
                // atomically (busy bit cleared on commit).
                let header =
                    unsafe { AtomicU32::from_ptr(data.add(at).cast()) }.load(Ordering::Acquire);
                if header & BUSY_BIT != 0 {
                    return (count, false);
                }
                let len = u64::from(header & !(BUSY_BIT | DISCARD_BIT));
                // Header and record, padded to 8 bytes (len < 2^30: no
                // overflow).
                cons += (len + HEADER + 7) & !7;
                let stop = if header & DISCARD_BIT == 0 && len <= size {
                    // SAFETY: the record is committed, so the producer no
                    // longer writes it until the consumer position passes
                    // it (stored below, after `f` returned); it lies within
                    // the doubled data area (at < size, len <= size), hence
                    // contiguous.
                    let record = unsafe {
                        std::slice::from_raw_parts(data.add(at + HEADER as usize), len as usize)
                    };
                    count += 1;
                    f(index, record).is_break()
                } else {
                    false
                };
                consumer.store(cons, Ordering::Release);
                if stop {
                    return (count, true);
                }
            }
        }
    }

    /// Bytes produced and not yet consumed.
    fn pending(&self) -> u64 {
        let prod = self.producer_pos().load(Ordering::Acquire);
        prod.saturating_sub(self.consumer_pos().load(Ordering::Acquire))
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the two mappings `Ring::map` made.
        unsafe {
            let _ = rustix::mm::munmap(self.consumer.as_ptr().cast(), self.page);
            let _ = rustix::mm::munmap(
                self.producer.as_ptr().cast(),
                self.page + 2 * self.size as usize,
            );
        }
    }
}

/// A consumer of one or more ring buffer maps.
///
/// Records are handed to a callback as slices of the shared ring: no copy
/// is made. The slice is valid only during the call.
pub struct RingBuffer {
    rings: Vec<Ring>,
    epoll: OwnedFd,
    /// epoll_wait's event buffer, kept between polls (no allocation per
    /// poll).
    events: Events,
}

/// epoll events whose data is a ring index (rustix's `Event` holds a
/// union with a pointer variant, hence is not `Send` by itself).
struct Events(Vec<epoll::Event>);

// SAFETY: the events carry only the u64 ring indexes this consumer
// registered; no pointer is ever stored in or read from them.
unsafe impl Send for Events {}

impl std::fmt::Debug for RingBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingBuffer")
            .field("rings", &self.rings)
            .field("epoll", &self.epoll)
            .finish_non_exhaustive()
    }
}

impl RingBuffer {
    /// A consumer with no ring yet.
    pub fn new() -> Result<RingBuffer> {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC).map_err(|errno| Error::Epoll {
            op: "create",
            errno,
        })?;
        Ok(RingBuffer {
            rings: Vec::new(),
            epoll,
            events: Events(Vec::new()),
        })
    }

    /// Adds a ring; records from it are reported with the returned index.
    pub fn add(&mut self, map: &MapFd) -> Result<usize> {
        let ring = Ring::map(map)?;
        let index = self.rings.len();
        epoll::add(
            &self.epoll,
            &ring.fd,
            epoll::EventData::new_u64(index as u64),
            epoll::EventFlags::IN,
        )
        .map_err(|errno| Error::Epoll { op: "add", errno })?;
        self.rings.push(ring);
        Ok(index)
    }

    /// Number of rings.
    pub fn len(&self) -> usize {
        self.rings.len()
    }

    /// Whether no ring was added.
    pub fn is_empty(&self) -> bool {
        self.rings.is_empty()
    }

    /// Consumes what is available in every ring without waiting, calling
    /// `f(ring index, record)`; `f` returning `Break` stops early. Returns
    /// the number of records handed out.
    pub fn consume(&mut self, mut f: impl FnMut(usize, &[u8]) -> ControlFlow<()>) -> usize {
        let mut total = 0;
        for (i, ring) in self.rings.iter().enumerate() {
            let (n, stopped) = ring.consume(i, &mut f);
            total += n;
            if stopped {
                break;
            }
        }
        total
    }

    /// Waits up to `timeout` (`None`: forever) for records, then consumes
    /// the rings that have some. Returns the number of records handed out
    /// (0 on timeout). Interrupted waits (`EINTR`) return 0.
    pub fn poll(
        &mut self,
        timeout: Option<Duration>,
        mut f: impl FnMut(usize, &[u8]) -> ControlFlow<()>,
    ) -> Result<usize> {
        if self.rings.iter().any(|r| r.pending() > 0) {
            return Ok(self.consume(f));
        }
        let mut events = std::mem::take(&mut self.events.0);
        events.clear();
        events.reserve(self.rings.len().max(1));
        let ts = timeout.map(|t| rustix::time::Timespec {
            tv_sec: t.as_secs().try_into().unwrap_or(i64::MAX),
            tv_nsec: i64::from(t.subsec_nanos()),
        });
        let waited = epoll::wait(
            &self.epoll,
            rustix::buffer::spare_capacity(&mut events),
            ts.as_ref(),
        );
        let mut total = 0;
        if waited.is_ok() {
            for event in &events {
                let i = event.data.u64() as usize;
                if let Some(ring) = self.rings.get(i) {
                    let (n, stopped) = ring.consume(i, &mut f);
                    total += n;
                    if stopped {
                        break;
                    }
                }
            }
        }
        self.events.0 = events;
        match waited {
            Ok(_) => Ok(total),
            Err(rustix::io::Errno::INTR) => Ok(0),
            Err(errno) => Err(Error::Epoll { op: "wait", errno }),
        }
    }

    /// The epoll fd, readable when a ring has records: for async users who
    /// wait on it themselves, then call [`RingBuffer::consume`].
    pub fn epoll_fd(&self) -> BorrowedFd<'_> {
        self.epoll.as_fd()
    }
}

/// The producer side of a `BPF_MAP_TYPE_USER_RINGBUF` map: user space
/// writes samples that a program drains with `bpf_user_ringbuf_drain`.
///
/// The consumer page is mapped read-only (the kernel owns the consumer
/// position), the producer page and the data area read-write. A sample is
/// reserved by writing its header with the busy bit and moving the
/// producer position past it, then committed by clearing the busy bit (or
/// discarded by setting the discard bit), so the kernel never reads a
/// half-written sample.
#[derive(Debug)]
pub struct UserRingBuffer {
    fd: OwnedFd,
    consumer: NonNull<u8>,
    producer: NonNull<u8>,
    size: u64,
    page: usize,
}

// SAFETY: as for `Ring`: the mappings belong to this value, and shared
// positions are accessed atomically.
unsafe impl Send for UserRingBuffer {}

/// A reserved sample of a [`UserRingBuffer`]: fill it, then
/// [`submit`](UserSample::submit) or [`discard`](UserSample::discard) it;
/// dropping it discards it.
#[derive(Debug)]
pub struct UserSample<'a> {
    rb: &'a mut UserRingBuffer,
    at: usize,
    len: u32,
    done: bool,
}

impl UserRingBuffer {
    /// Maps a user ring buffer map for producing.
    pub fn new(map: &MapFd) -> Result<UserRingBuffer> {
        let meta = map.meta();
        if meta.map_type != MapType::USER_RINGBUF {
            return Err(Error::invalid(format!(
                "user ring buffer: a {} map is not a user_ringbuf",
                meta.map_type
            )));
        }
        let size = u64::from(meta.max_entries);
        let page = rustix::param::page_size();
        if !size.is_power_of_two() || size < page as u64 {
            return Err(Error::invalid(format!(
                "user ring buffer: data size {size} is not a power-of-two number of pages"
            )));
        }
        let fd: OwnedFd = map.try_clone()?.into();
        let producer_len = page
            .checked_add(2 * size as usize)
            .ok_or_else(|| Error::invalid("user ring buffer: too large to map"))?;
        // SAFETY: fresh shared mappings of the map's fd aliasing no Rust
        // object: the consumer page read-only at offset 0 (the kernel
        // refuses it writable), the producer page and the doubled data area
        // read-write at one page.
        let consumer = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                page,
                ProtFlags::READ,
                MapFlags::SHARED,
                &fd,
                0,
            )
        }
        .map_err(|errno| Error::Mmap { len: page, errno })?;
        // SAFETY: as above.
        let producer = match unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                producer_len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                &fd,
                page as u64,
            )
        } {
            Ok(p) => p,
            Err(errno) => {
                // SAFETY: unmaps the consumer page mapped just above.
                let _ = unsafe { rustix::mm::munmap(consumer, page) };
                return Err(Error::Mmap {
                    len: producer_len,
                    errno,
                });
            }
        };
        let consumer =
            NonNull::new(consumer.cast()).ok_or_else(|| Error::invalid("mmap returned NULL"))?;
        let producer =
            NonNull::new(producer.cast()).ok_or_else(|| Error::invalid("mmap returned NULL"))?;
        Ok(UserRingBuffer {
            fd,
            consumer,
            producer,
            size,
            page,
        })
    }

    fn consumer_pos(&self) -> &AtomicU64 {
        // SAFETY: first 8 bytes of the mapped consumer page, the kernel's
        // u64 consumer position, accessed atomically only.
        unsafe { AtomicU64::from_ptr(self.consumer.as_ptr().cast()) }
    }

    fn producer_pos(&self) -> &AtomicU64 {
        // SAFETY: first 8 bytes of the mapped producer page, accessed
        // atomically only.
        unsafe { AtomicU64::from_ptr(self.producer.as_ptr().cast()) }
    }

    fn header(&self, at: usize) -> &AtomicU32 {
        // SAFETY: `at` is an 8-aligned offset inside the data area (masked
        // position), which is mapped read-write for the buffer's lifetime.
        unsafe { AtomicU32::from_ptr(self.producer.as_ptr().add(self.page + at).cast()) }
    }

    /// Free bytes for samples (headers included).
    pub fn free(&self) -> u64 {
        let used = self.producer_pos().load(Ordering::Relaxed)
            - self.consumer_pos().load(Ordering::Acquire);
        self.size - used
    }

    /// Reserves a sample of `len` bytes. Fails when the ring has no room
    /// (`Error::InvalidInput` saying so): drain it, or wait with
    /// [`UserRingBuffer::wait_for_space`].
    pub fn reserve(&mut self, len: u32) -> Result<UserSample<'_>> {
        if len == 0 || len & (BUSY_BIT | DISCARD_BIT) != 0 {
            return Err(Error::invalid(format!(
                "user ring buffer: a sample of {len} bytes"
            )));
        }
        let total = (u64::from(len) + HEADER).next_multiple_of(8);
        if total > self.free() {
            return Err(Error::invalid(format!(
                "user ring buffer full: {total} bytes needed, {} free",
                self.free()
            )));
        }
        let prod = self.producer_pos().load(Ordering::Relaxed);
        let at = (prod & (self.size - 1)) as usize;
        self.header(at).store(len | BUSY_BIT, Ordering::Relaxed);
        // The busy header is visible before the kernel can see the sample.
        self.producer_pos().store(prod + total, Ordering::Release);
        Ok(UserSample {
            rb: self,
            at,
            len,
            done: false,
        })
    }

    /// Copies `data` into a new sample and submits it.
    pub fn submit(&mut self, data: &[u8]) -> Result<()> {
        let len = u32::try_from(data.len())
            .map_err(|_| Error::invalid("user ring buffer: sample too large"))?;
        let mut sample = self.reserve(len)?;
        sample.data_mut().copy_from_slice(data);
        sample.submit();
        Ok(())
    }

    /// Waits up to `timeout` for room to appear (the kernel signals when a
    /// program drained samples). Returns whether the map reported room.
    pub fn wait_for_space(&self, timeout: Duration) -> Result<bool> {
        let mut fds = [rustix::event::PollFd::new(
            &self.fd,
            rustix::event::PollFlags::OUT,
        )];
        let ts = rustix::time::Timespec {
            tv_sec: timeout.as_secs().try_into().unwrap_or(i64::MAX),
            tv_nsec: i64::from(timeout.subsec_nanos()),
        };
        match rustix::event::poll(&mut fds, Some(&ts)) {
            Ok(n) => Ok(n > 0),
            Err(rustix::io::Errno::INTR) => Ok(false),
            Err(errno) => Err(Error::Epoll { op: "poll", errno }),
        }
    }
}

impl UserSample<'_> {
    /// The sample's bytes, to fill.
    pub fn data_mut(&mut self) -> &mut [u8] {
        let start = self.rb.page + self.at + HEADER as usize;
        // SAFETY: the sample lies in the doubled data area (at < size and
        // len < size), reserved for this producer alone until it is
        // committed; `self` borrows the ring mutably, so no other slice of
        // it exists.
        unsafe {
            std::slice::from_raw_parts_mut(self.rb.producer.as_ptr().add(start), self.len as usize)
        }
    }

    /// Commits the sample: the kernel may now read it.
    pub fn submit(mut self) {
        self.rb.header(self.at).store(self.len, Ordering::Release);
        self.done = true;
    }

    /// Gives the sample up: the kernel skips it.
    pub fn discard(mut self) {
        self.rb
            .header(self.at)
            .store(self.len | DISCARD_BIT, Ordering::Release);
        self.done = true;
    }
}

impl Drop for UserSample<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.rb
                .header(self.at)
                .store(self.len | DISCARD_BIT, Ordering::Release);
        }
    }
}

impl Drop for UserRingBuffer {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the two mappings `UserRingBuffer::new` made.
        unsafe {
            let _ = rustix::mm::munmap(self.consumer.as_ptr().cast(), self.page);
            let _ = rustix::mm::munmap(
                self.producer.as_ptr().cast(),
                self.page + 2 * self.size as usize,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;

    use oxbpf_asm::Insn;
    use oxbpf_asm::opcode::{alu, size};

    use super::*;
    use crate::attr::prog_flags;
    use crate::{
        MapCreateAttr, ProgFd, ProgLoadOptions, ProgType, VerifierLog, map_create, prog_load,
        prog_run_syscall,
    };

    fn ringbuf(size: u32) -> MapFd {
        map_create(&MapCreateAttr::new(MapType::RINGBUF, 0, 0, size)).unwrap()
    }

    /// A syscall program writing the u64 of its context into `map` with
    /// `bpf_ringbuf_output`.
    fn producer(map: &MapFd) -> ProgFd {
        let mut insns = vec![
            Insn::ldx_mem(size::DW, 2, 1, 0),
            Insn::stx_mem(size::DW, 10, 2, -8),
        ];
        insns.extend(Insn::ld_map_fd(1, map.as_raw_fd()));
        insns.extend([
            Insn::mov64_reg(2, 10),
            Insn::alu64_imm(alu::ADD, 2, -8),
            Insn::mov64_imm(3, 8),
            Insn::mov64_imm(4, 0),
            Insn::call_helper(130), // bpf_ringbuf_output
            Insn::mov64_imm(0, 0),
            Insn::exit(),
        ]);
        let mut opts = ProgLoadOptions::new(ProgType::SYSCALL, &insns, c"GPL");
        opts.prog_flags = prog_flags::SLEEPABLE;
        prog_load(&opts, &mut VerifierLog::new()).unwrap()
    }

    fn values(rb: &mut RingBuffer) -> Vec<(usize, u64)> {
        let mut out = Vec::new();
        rb.consume(|i, r| {
            out.push((i, u64::from_ne_bytes(r.try_into().unwrap())));
            ControlFlow::Continue(())
        });
        out
    }

    #[test]
    fn records_of_two_rings_in_order_across_wraparound() {
        if !crate::mmap::tests::have(
            "syscall_progs",
            crate::probe_prog_type(crate::ProgType::SYSCALL),
        ) {
            return;
        }
        let (a, b) = (ringbuf(4096), ringbuf(4096));
        let (pa, pb) = (producer(&a), producer(&b));
        let mut rb = RingBuffer::new().unwrap();
        assert_eq!((rb.add(&a).unwrap(), rb.add(&b).unwrap()), (0, 1));
        // 16 bytes a record: 4096 / 16 = 256 fit; write and read 1000 in
        // batches so that positions wrap around the data area many times.
        let mut next = 0u64;
        for _ in 0..10 {
            for _ in 0..100 {
                let mut ctx = next.to_ne_bytes();
                prog_run_syscall(if next % 3 == 0 { &pb } else { &pa }, &mut ctx).unwrap();
                next += 1;
            }
            let got = values(&mut rb);
            assert_eq!(got.len(), 100);
            let in_ring = |r: usize| {
                got.iter()
                    .filter(|g| g.0 == r)
                    .map(|g| g.1)
                    .collect::<Vec<_>>()
            };
            let all: Vec<u64> = (next - 100..next).collect();
            assert_eq!(
                in_ring(1),
                all.iter()
                    .copied()
                    .filter(|v| v % 3 == 0)
                    .collect::<Vec<_>>()
            );
            assert_eq!(
                in_ring(0),
                all.iter()
                    .copied()
                    .filter(|v| v % 3 != 0)
                    .collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn a_full_ring_drops_then_recovers() {
        if !crate::mmap::tests::have(
            "syscall_progs",
            crate::probe_prog_type(crate::ProgType::SYSCALL),
        ) {
            return;
        }
        let a = ringbuf(4096);
        let p = producer(&a);
        let mut rb = RingBuffer::new().unwrap();
        rb.add(&a).unwrap();
        for v in 0..300u64 {
            prog_run_syscall(&p, &mut v.to_ne_bytes()).unwrap();
        }
        let got = values(&mut rb);
        // The kernel keeps producer - consumer below the ring size, so a
        // 4 KiB ring holds 255 records of 16 bytes, not 256.
        assert_eq!(got.len(), 255);
        assert_eq!(got.last().unwrap().1, 254);
        prog_run_syscall(&p, &mut 999u64.to_ne_bytes()).unwrap();
        assert_eq!(values(&mut rb), [(0, 999)]);
    }

    #[test]
    fn consumers_move_between_threads() {
        fn send<T: Send>() {}
        send::<RingBuffer>();
        send::<UserRingBuffer>();
    }

    #[test]
    fn not_a_ringbuf() {
        let array = map_create(&MapCreateAttr::new(MapType::ARRAY, 4, 8, 1)).unwrap();
        assert!(RingBuffer::new().unwrap().add(&array).is_err());
    }
}
