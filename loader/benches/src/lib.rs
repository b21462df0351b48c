//! Shared parts of the runtime benchmarks against libbpf 1.7.
//!
//! - [`ring`]: the ring buffer producer (`progs/ringbuf_bench.bpf.c`,
//!   loaded once by oxbpf) and the two consumers of its map, oxbpf's
//!   [`oxbpf::RingBuffer`] and libbpf's `ring_buffer__new` on the same
//!   map fd, behind one [`ring::Consumer`] trait.
//! - [`libbpf_loader`]: libbpf's generated loader, made and run (the file
//!   the oracle's differential test uses, included by path).
//! - [`timing`]: medians of wall and thread CPU time.
//!
//! This package exists to compare oxbpf with libbpf; calling libbpf is
//! FFI, so unlike the library crates it has `unsafe` blocks, each with its
//! `SAFETY` comment.

use std::path::{Path, PathBuf};

use libbpf_sys as lb;

#[path = "../../../oracle/tests/libbpf/gen_loader.rs"]
pub mod libbpf_loader;

/// The objects built by `build.rs`: `ringbuf_bench.bpf.o`,
/// `many_maps.bpf.o`, `many_progs.bpf.o`.
pub fn built_object(name: &str) -> PathBuf {
    Path::new(env!("OUT_DIR")).join(name)
}

/// Silences libbpf (its default callback writes warnings to stderr, which
/// would be timed with it).
pub fn libbpf_quiet() {
    // SAFETY: a NULL callback turns printing off.
    unsafe { lb::libbpf_set_print(None) };
}

/// Timing helpers.
pub mod timing {
    use std::time::{Duration, Instant};

    /// This thread's CPU time (user and kernel).
    pub fn thread_cpu() -> Duration {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec for the call.
        let r = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        assert_eq!(r, 0, "clock_gettime");
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }

    /// Medians of the wall time and of the thread's CPU time of `runs`
    /// calls of `f` (after one warm-up call); `after` runs after each
    /// call, untimed (closing, unpinning).
    pub fn median<T>(
        runs: usize,
        mut f: impl FnMut() -> T,
        mut after: impl FnMut(T),
    ) -> (Duration, Duration) {
        let out = f();
        after(out);
        let mut wall = Vec::with_capacity(runs);
        let mut cpu = Vec::with_capacity(runs);
        for _ in 0..runs {
            let (t, c) = (Instant::now(), thread_cpu());
            let out = f();
            cpu.push(thread_cpu() - c);
            wall.push(t.elapsed());
            after(out);
        }
        (mid(wall), mid(cpu))
    }

    /// The median of `v`.
    pub fn mid(mut v: Vec<Duration>) -> Duration {
        v.sort();
        v[v.len() / 2]
    }
}

/// The ring buffer benchmark's producer and consumers.
pub mod ring {
    use std::ffi::{c_int, c_void};
    use std::ops::ControlFlow;
    use std::os::fd::AsRawFd;
    use std::sync::Barrier;
    use std::time::{Duration, Instant};

    use libbpf_sys as lb;
    use oxbpf::sys::MapFd;
    use oxbpf::{Object, OpenObject, RingBuffer};

    /// Record sizes measured (bytes, without the ring's 8-byte header).
    pub const SIZES: [usize; 3] = [16, 64, 512];

    /// The producer object, loaded once by oxbpf; both consumers read its
    /// map.
    pub struct Producer {
        obj: Object,
    }

    impl Producer {
        /// Loads `ringbuf_bench.bpf.o`.
        pub fn load() -> Producer {
            let path = super::built_object("ringbuf_bench.bpf.o");
            let obj = OpenObject::open(&path)
                .and_then(OpenObject::load)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            Producer { obj }
        }

        /// The ring buffer map.
        pub fn map(&self) -> &MapFd {
            self.obj.map("rb").expect("map rb").map_fd()
        }

        /// Submits up to `count` records of `size` bytes with sequence
        /// numbers from `first`, in one test run; returns how many the
        /// ring took (it stops at the first that does not fit).
        pub fn produce(&self, size: usize, first: u32, count: u32) -> u32 {
            let prog = self
                .obj
                .program(&format!("produce_{size}"))
                .expect("a producer of that size");
            let mut ctx = [0u8; 8];
            ctx[..4].copy_from_slice(&count.to_ne_bytes());
            ctx[4..].copy_from_slice(&first.to_ne_bytes());
            prog.run_syscall(&mut ctx).expect("test run")
        }

        /// Fills the ring with exactly `count` records (several runs if
        /// needed); panics if it has no room for them.
        pub fn fill(&self, size: usize, count: u32) {
            let mut done = 0;
            while done < count {
                let n = self.produce(size, done, count - done);
                assert!(n > 0, "ring full after {done} of {count} records");
                done += n;
            }
        }
    }

    /// What a consumer saw: the number of records and the sum of their
    /// sequence numbers (each record's first 8 bytes).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct Seen {
        /// Records.
        pub n: u64,
        /// Sum of sequence numbers.
        pub sum: u64,
    }

    impl Seen {
        /// What a consumer of records `0..n` sees.
        pub fn of(n: u64) -> Seen {
            Seen {
                n,
                sum: n * n.saturating_sub(1) / 2,
            }
        }

        #[inline]
        fn add(&mut self, seq: u64) {
            self.n += 1;
            self.sum = self.sum.wrapping_add(seq);
        }
    }

    /// A consumer of the benchmark's ring.
    pub trait Consumer: Send {
        /// Which library and call.
        fn name(&self) -> &'static str;
        /// Consumes what the ring holds, without waiting.
        fn consume(&mut self) -> u64;
        /// Waits up to `timeout` for records, then consumes them.
        fn poll(&mut self, timeout: Duration) -> u64;
        /// What it saw so far.
        fn seen(&self) -> Seen;
        /// Forgets what it saw.
        fn reset(&mut self);
    }

    /// oxbpf's [`RingBuffer`].
    pub struct Oxbpf {
        rb: RingBuffer,
        seen: Seen,
    }

    impl Oxbpf {
        /// A consumer of `map`.
        pub fn new(map: &MapFd) -> Oxbpf {
            let mut rb = RingBuffer::new().expect("RingBuffer::new");
            rb.add(map).expect("RingBuffer::add");
            Oxbpf {
                rb,
                seen: Seen::default(),
            }
        }
    }

    fn first_u64(r: &[u8]) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&r[..8]);
        u64::from_ne_bytes(b)
    }

    impl Consumer for Oxbpf {
        fn name(&self) -> &'static str {
            "oxbpf"
        }

        fn consume(&mut self) -> u64 {
            let seen = &mut self.seen;
            self.rb.consume(|_, r| {
                seen.add(first_u64(r));
                ControlFlow::Continue(())
            }) as u64
        }

        fn poll(&mut self, timeout: Duration) -> u64 {
            let seen = &mut self.seen;
            self.rb
                .poll(Some(timeout), |_, r| {
                    seen.add(first_u64(r));
                    ControlFlow::Continue(())
                })
                .expect("RingBuffer::poll") as u64
        }

        fn seen(&self) -> Seen {
            self.seen
        }

        fn reset(&mut self) {
            self.seen = Seen::default();
        }
    }

    /// libbpf's `struct ring_buffer` on the same map fd.
    pub struct Libbpf {
        rb: *mut lb::ring_buffer,
        /// Boxed: libbpf holds its address as the callback's context.
        seen: Box<Seen>,
    }

    // SAFETY: the ring_buffer is used by one thread at a time (the value
    // is moved, never shared), which is all libbpf requires.
    unsafe impl Send for Libbpf {}

    unsafe extern "C" fn sample(ctx: *mut c_void, data: *mut c_void, size: lb::size_t) -> c_int {
        debug_assert!(size >= 8);
        // SAFETY: `ctx` is the boxed Seen of the Libbpf that owns this
        // ring_buffer, not otherwise borrowed during a consume or poll
        // call; `data` points to a record of `size` >= 8 bytes.
        unsafe {
            let seen = &mut *ctx.cast::<Seen>();
            seen.add(std::ptr::read_unaligned(data.cast::<u64>()));
        }
        0
    }

    impl Libbpf {
        /// `ring_buffer__new(map fd, sample, &seen, NULL)`.
        pub fn new(map: &MapFd) -> Libbpf {
            let mut seen = Box::<Seen>::default();
            let ctx: *mut Seen = &mut *seen;
            // SAFETY: the map fd is valid for the call (libbpf maps the
            // ring and keeps no reference to the fd itself beyond its
            // epoll registration); `sample` matches ring_buffer_sample_fn;
            // `ctx` lives as long as the ring_buffer (freed in drop).
            let rb = unsafe {
                lb::ring_buffer__new(map.as_raw_fd(), Some(sample), ctx.cast(), std::ptr::null())
            };
            assert!(
                !rb.is_null(),
                "ring_buffer__new: {}",
                std::io::Error::last_os_error()
            );
            Libbpf { rb, seen }
        }
    }

    impl Consumer for Libbpf {
        fn name(&self) -> &'static str {
            "libbpf"
        }

        fn consume(&mut self) -> u64 {
            // SAFETY: self.rb is a live ring_buffer used by this thread.
            let n = unsafe { lb::ring_buffer__consume(self.rb) };
            assert!(n >= 0, "ring_buffer__consume: {n}");
            n as u64
        }

        fn poll(&mut self, timeout: Duration) -> u64 {
            // SAFETY: as in consume.
            let n = unsafe { lb::ring_buffer__poll(self.rb, timeout.as_millis() as c_int) };
            // EINTR is reported as -EINTR: no records.
            if n == -libc::EINTR {
                return 0;
            }
            assert!(n >= 0, "ring_buffer__poll: {n}");
            n as u64
        }

        fn seen(&self) -> Seen {
            *self.seen
        }

        fn reset(&mut self) {
            *self.seen = Seen::default();
        }
    }

    impl Drop for Libbpf {
        fn drop(&mut self) {
            // SAFETY: self.rb came from ring_buffer__new and is freed once.
            unsafe { lb::ring_buffer__free(self.rb) }
        }
    }

    /// How the consumer reads the ring.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Read {
        /// `consume`: take what is there, never wait.
        Consume,
        /// `poll`: wait (epoll) for records, then take them.
        Poll,
    }

    impl Read {
        /// `consume` or `poll`.
        pub fn name(self) -> &'static str {
            match self {
                Read::Consume => "consume",
                Read::Poll => "poll",
            }
        }
    }

    /// Producer first, then consumer: fills the ring with `count`
    /// records of `size` bytes (untimed), then times one drain; checks
    /// the consumer saw exactly those records.
    pub fn drain(
        p: &Producer,
        c: &mut dyn Consumer,
        read: Read,
        size: usize,
        count: u32,
    ) -> Duration {
        p.fill(size, count);
        c.reset();
        let t = Instant::now();
        while c.seen().n < u64::from(count) {
            match read {
                Read::Consume => c.consume(),
                Read::Poll => c.poll(Duration::from_secs(1)),
            };
        }
        let d = t.elapsed();
        assert_eq!(c.seen(), Seen::of(u64::from(count)), "{}", c.name());
        d
    }

    /// Producer and consumer at once: a producer thread submits `count`
    /// records of `size` bytes, `batch` per test run (retrying what did
    /// not fit), while this thread consumes; returns the time from the
    /// start until the consumer has seen every record, and the consumer
    /// thread's CPU time (user and kernel: its epoll waits and wakeups
    /// included) in that span.
    pub fn concurrent(
        p: &Producer,
        c: &mut dyn Consumer,
        read: Read,
        size: usize,
        count: u32,
        batch: u32,
    ) -> (Duration, Duration) {
        c.reset();
        let start = Barrier::new(2);
        let d = std::thread::scope(|s| {
            s.spawn(|| {
                start.wait();
                let mut sent = 0;
                while sent < count {
                    let n = p.produce(size, sent, batch.min(count - sent));
                    if n == 0 {
                        std::thread::yield_now();
                    }
                    sent += n;
                }
            });
            start.wait();
            let (t, cpu) = (Instant::now(), super::timing::thread_cpu());
            while c.seen().n < u64::from(count) {
                match read {
                    Read::Consume => c.consume(),
                    Read::Poll => c.poll(Duration::from_secs(1)),
                };
            }
            (t.elapsed(), super::timing::thread_cpu() - cpu)
        });
        assert_eq!(c.seen(), Seen::of(u64::from(count)), "{}", c.name());
        d
    }
}
