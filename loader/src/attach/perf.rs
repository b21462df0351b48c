//! Perf events: programs attached with a BPF cookie, and counters or
//! sampling events opened here.

use std::os::fd::{AsFd, OwnedFd};

use oxbpf_syscalls::attr::LinkCreatePerfEvent;
use oxbpf_syscalls::{AttachType, Errno, LinkTail, LinkTarget, PerfCounter};

use crate::attach::Attached;
use crate::error::{Error, Result};
use crate::link::{Link, LinkKind};
use crate::program::Program;

/// Attaches `prog` to `event` with a BPF perf_event link carrying
/// `cookie` (kernel 5.15+); on older kernels, without a cookie, with the
/// perf ioctl.
pub(crate) fn attach_event(
    prog: &Program,
    event: OwnedFd,
    cookie: u64,
    what: &dyn Fn() -> String,
) -> Result<Link> {
    let tail = LinkTail::PerfEvent(LinkCreatePerfEvent { bpf_cookie: cookie });
    match oxbpf_syscalls::link_create(
        &prog.fd,
        LinkTarget::Fd(event.as_fd()),
        AttachType::PERF_EVENT,
        0,
        &tail,
    ) {
        Ok(link) => Ok(Link {
            kind: LinkKind::PerfEvent {
                link: Some(link),
                event,
            },
        }),
        Err(e) if e.errno() == Some(Errno::INVAL) && cookie == 0 => {
            log::debug!(target: "oxbpf::attach", "no perf_event link ({e}); using PERF_EVENT_IOC_SET_BPF");
            oxbpf_syscalls::perf_event_set_bpf(event.as_fd(), &prog.fd)
                .map_err(Error::syscall(what()))?;
            oxbpf_syscalls::perf_event_enable(event.as_fd()).map_err(Error::syscall(what()))?;
            Ok(Link {
                kind: LinkKind::PerfEvent { link: None, event },
            })
        }
        Err(e) => Err(Error::Syscall {
            what: what(),
            source: e,
        }),
    }
}

/// The CPUs that are online (`/sys/devices/system/cpu/online`).
pub(crate) fn online_cpus() -> Result<Vec<u32>> {
    let path = std::path::Path::new("/sys/devices/system/cpu/online");
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    parse_cpu_list(&text).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "{}: cannot parse {:?}",
            path.display(),
            text.trim()
        ))
    })
}

/// `0-3,5,7-8` → `[0, 1, 2, 3, 5, 7, 8]`.
pub(crate) fn parse_cpu_list(text: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?),
            None => {
                let n = part.parse().ok()?;
                (n, n)
            }
        };
        if lo > hi || hi - lo > 65536 {
            return None;
        }
        out.extend(lo..=hi);
    }
    Some(out)
}

impl Program {
    /// Attaches the program to a perf event the caller opened, like
    /// [`Program::attach_perf_event`], with a BPF cookie that the program
    /// reads with `bpf_get_attach_cookie()`.
    ///
    /// # Minimum kernel version
    ///
    /// 5.15 (perf_event links and cookies).
    pub fn attach_perf_event_with_cookie(&self, event: OwnedFd, cookie: u64) -> Result<Link> {
        attach_event(self, event, cookie, &|| {
            format!(
                "program {}: attaching to a perf event with cookie {cookie:#x}",
                self.name
            )
        })
    }

    /// Opens the perf event `counter` (a hardware or software counter
    /// with its sampling period or frequency) and attaches this
    /// `perf_event` program to it: the program runs on every sample. With
    /// `pid` and `cpu` both -1 (every thread on every CPU), one event is
    /// opened per online CPU and the returned link holds them all.
    pub fn attach_perf_counter(&self, counter: &PerfCounter) -> Result<Link> {
        let what = || {
            format!(
                "program {}: attaching to perf event type {} config {}",
                self.name, counter.event_type, counter.config
            )
        };
        if counter.pid != -1 || counter.cpu != -1 {
            let event =
                oxbpf_syscalls::perf_event_open_counter(counter).map_err(Error::syscall(what()))?;
            return attach_event(self, event, 0, &what);
        }
        let mut links = Vec::new();
        for cpu in online_cpus()? {
            let mut c = *counter;
            c.cpu = cpu as i32;
            let event =
                oxbpf_syscalls::perf_event_open_counter(&c).map_err(Error::syscall(what()))?;
            links.push(attach_event(self, event, 0, &what)?);
        }
        Ok(Link::attached(Attached::Group { links, usdt: None }))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_cpu_list;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-3,5\n"), Some(vec![0, 1, 2, 3, 5]));
        assert_eq!(parse_cpu_list("0"), Some(vec![0]));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("x"), None);
        assert_eq!(parse_cpu_list(""), Some(vec![]));
    }
}
