//! Ring and perf buffers for tokio (feature `tokio`).
//!
//! [`RingBuffer`] and [`PerfBuffer`] each wait on an epoll fd of their own
//! that is readable while one of their rings holds records. These wrappers
//! register that fd with tokio's reactor ([`AsyncFd`]), so a task awaits
//! records without a thread of its own, and then consume them in place as
//! the synchronous consumers do.
//!
//! ```no_run
//! # async fn run(events: &oxbpf_syscalls::MapFd) -> oxbpf_syscalls::Result<()> {
//! use std::ops::ControlFlow;
//! use oxbpf_syscalls::{AsyncRingBuffer, RingBuffer};
//!
//! let mut rb = RingBuffer::new()?;
//! rb.add(events)?;
//! let mut rb = AsyncRingBuffer::new(rb)?;
//! loop {
//!     rb.consume(|_ring, record| {
//!         println!("{} bytes", record.len());
//!         ControlFlow::Continue(())
//!     })
//!     .await?;
//! }
//! # }
//! ```

use std::ops::ControlFlow;
use std::os::fd::{AsRawFd, RawFd};

use tokio::io::unix::AsyncFd;

use crate::error::{Error, Result};
use crate::perfbuf::{PerfBuffer, PerfRecord};
use crate::ringbuf::RingBuffer;

/// The consumer's epoll fd as tokio wants it (an `AsRawFd` owner).
#[derive(Debug)]
struct Waitable<T>(T);

/// Registers `inner`'s epoll fd with the current runtime's reactor.
fn register<T>(inner: T, what: &'static str) -> Result<AsyncFd<Waitable<T>>>
where
    Waitable<T>: AsRawFd,
{
    // Without a runtime, registration would panic.
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(Error::Async {
            what,
            source: std::io::Error::other("not inside a tokio runtime"),
        });
    }
    // SAFETY: the fd is the epoll fd the consumer owns (`OwnedFd` field,
    // never replaced): it stays open and the same for as long as the
    // consumer lives, and the consumer lives inside the `AsyncFd` until
    // `into_inner` or drop deregisters it.
    unsafe { AsyncFd::register_with_interest(Waitable(inner), tokio::io::Interest::READABLE) }
        .map_err(|e| Error::Async {
            what,
            source: e.into_parts().1,
        })
}

impl AsRawFd for Waitable<RingBuffer> {
    fn as_raw_fd(&self) -> RawFd {
        self.0.epoll_fd().as_raw_fd()
    }
}

impl AsRawFd for Waitable<PerfBuffer> {
    fn as_raw_fd(&self) -> RawFd {
        self.0.epoll_fd().as_raw_fd()
    }
}

/// Waits until `fd` is readable, then drains the consumer with `drain`
/// (which returns how many records it handed out), until at least one
/// record came.
async fn drain_when_ready<T>(
    fd: &mut AsyncFd<Waitable<T>>,
    what: &'static str,
    mut drain: impl FnMut(&mut T) -> usize,
) -> Result<usize>
where
    Waitable<T>: AsRawFd,
{
    loop {
        let mut ready = fd.readable_mut().await.map_err(reactor(what))?;
        let n = drain(&mut ready.get_inner_mut().0);
        if n > 0 {
            // Readiness is kept: the next call drains again first and
            // waits only once the rings are empty.
            return Ok(n);
        }
        // Empty: wait for the kernel's next wakeup. tokio keeps the
        // readiness if an event came in since `readable_mut` returned.
        ready.clear_ready();
    }
}

fn reactor(what: &'static str) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Async { what, source }
}

/// A [`RingBuffer`] whose records a tokio task awaits.
#[derive(Debug)]
pub struct AsyncRingBuffer {
    fd: AsyncFd<Waitable<RingBuffer>>,
}

impl AsyncRingBuffer {
    /// Registers `rb` with the current tokio runtime (which needs its IO
    /// driver enabled); an error outside a runtime.
    pub fn new(rb: RingBuffer) -> Result<AsyncRingBuffer> {
        let fd = register(rb, "registering a ring buffer with tokio")?;
        Ok(AsyncRingBuffer { fd })
    }

    /// Waits until at least one record is available, then consumes what
    /// every ring holds, calling `f(ring index, record)` with the record in
    /// place (valid during the call); `Break` stops early, the rest comes
    /// next time. Returns the number of records handed out (at least one,
    /// unless `f` broke on none).
    pub async fn consume(
        &mut self,
        mut f: impl FnMut(usize, &[u8]) -> ControlFlow<()>,
    ) -> Result<usize> {
        drain_when_ready(&mut self.fd, "waiting for ring buffer records", |rb| {
            rb.consume(&mut f)
        })
        .await
    }

    /// The synchronous consumer (to add rings or consume without waiting).
    pub fn get_mut(&mut self) -> &mut RingBuffer {
        &mut self.fd.get_mut().0
    }

    /// Deregisters from tokio and gives the consumer back.
    pub fn into_inner(self) -> RingBuffer {
        self.fd.into_inner().0
    }
}

/// A [`PerfBuffer`] whose records a tokio task awaits.
#[derive(Debug)]
pub struct AsyncPerfBuffer {
    fd: AsyncFd<Waitable<PerfBuffer>>,
}

impl AsyncPerfBuffer {
    /// Registers `pb` with the current tokio runtime (which needs its IO
    /// driver enabled); an error outside a runtime.
    pub fn new(pb: PerfBuffer) -> Result<AsyncPerfBuffer> {
        let fd = register(pb, "registering a perf buffer with tokio")?;
        Ok(AsyncPerfBuffer { fd })
    }

    /// Waits until a CPU's ring has a record (a sample or a lost-records
    /// count), then hands every available one to `f`; `Break` stops early.
    /// Returns the number handed out.
    pub async fn consume(
        &mut self,
        mut f: impl FnMut(PerfRecord<'_>) -> ControlFlow<()>,
    ) -> Result<usize> {
        drain_when_ready(&mut self.fd, "waiting for perf buffer records", |pb| {
            pb.consume(&mut f)
        })
        .await
    }

    /// The synchronous consumer.
    pub fn get_mut(&mut self) -> &mut PerfBuffer {
        &mut self.fd.get_mut().0
    }

    /// Deregisters from tokio and gives the consumer back.
    pub fn into_inner(self) -> PerfBuffer {
        self.fd.into_inner().0
    }
}
