//! uprobes and uretprobes (perf events of the uprobe PMU), uprobe_multi
//! and uprobe.session links.

use std::ffi::CString;
use std::path::Path;

use oxbpf_syscalls::{AttachType, LinkTail, LinkTarget, ProgType};

use crate::attach::elf_sym::{Binary, resolve_binary};
use crate::attach::kprobe::is_pattern;
use crate::attach::perf::attach_event;
use crate::attach::target_err;
use crate::error::{Error, Result};
use crate::link::Link;
use crate::program::Program;

/// `BPF_F_UPROBE_MULTI_RETURN`.
const UPROBE_MULTI_RETURN: u32 = 1;

/// How a uprobe is attached ([`Program::attach_uprobe`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UprobeOptions {
    /// Only this process; `None`: every process that runs the binary.
    pub pid: Option<i32>,
    /// Run at the function's return (a uretprobe).
    pub retprobe: bool,
    /// File offset of a 16-bit reference counter (a USDT semaphore) the
    /// kernel increments while the probe is installed; 0: none.
    pub ref_ctr_offset: u64,
    /// Value of `bpf_get_attach_cookie()` (needs perf_event links,
    /// 5.15+; 0 works everywhere).
    pub cookie: u64,
}

impl UprobeOptions {
    /// Only process `pid`.
    pub fn with_pid(mut self, pid: i32) -> Self {
        self.pid = Some(pid);
        self
    }
    /// At the function's return.
    pub fn return_probe(mut self) -> Self {
        self.retprobe = true;
        self
    }

    /// With a reference counter (semaphore) at file offset `offset`.
    pub fn with_ref_ctr_offset(mut self, offset: u64) -> Self {
        self.ref_ctr_offset = offset;
        self
    }

    /// With BPF cookie `cookie`.
    pub fn with_cookie(mut self, cookie: u64) -> Self {
        self.cookie = cookie;
        self
    }
}

/// How [`Program::attach_uprobe_multi`] attaches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UprobeMultiOptions {
    /// Only this process; `None`: every process.
    pub pid: Option<i32>,
    /// Run at the functions' returns (`uretprobe.multi`).
    pub retprobe: bool,
    /// One cookie per probe, or empty.
    pub cookies: Vec<u64>,
    /// One reference counter offset per probe, or empty.
    pub ref_ctr_offsets: Vec<u64>,
}

impl UprobeMultiOptions {
    /// Only process `pid`.
    pub fn with_pid(mut self, pid: i32) -> Self {
        self.pid = Some(pid);
        self
    }
    /// At the function's return.
    pub fn return_probe(mut self) -> Self {
        self.retprobe = true;
        self
    }

    /// With one cookie per probe.
    pub fn with_cookies(mut self, cookies: Vec<u64>) -> Self {
        self.cookies = cookies;
        self
    }

    /// With one reference counter offset per probe.
    pub fn with_ref_ctr_offsets(mut self, offsets: Vec<u64>) -> Self {
        self.ref_ctr_offsets = offsets;
        self
    }
}

/// `<binary>:<func>[+<offset>]` of a `uprobe/...` section →
/// `(binary, func, offset)`; the binary is everything before the last
/// `:`.
pub(crate) fn parse_uprobe_target(target: &str) -> Option<(&str, &str, u64)> {
    let (binary, rest) = target.rsplit_once(':')?;
    let (func, offset) = match rest.split_once('+') {
        Some((f, off)) => {
            let off = match off.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16).ok()?,
                None => off.parse().ok()?,
            };
            (f, off)
        }
        None => (rest, 0),
    };
    (!binary.is_empty() && !func.is_empty()).then_some((binary, func, offset))
}

/// The perf event pid/cpu pair: one process on any CPU, or every process
/// (the kernel wants a CPU then; a uprobe still fires on all of them).
fn pid_cpu(pid: Option<i32>) -> (i32, i32) {
    match pid {
        Some(p) => (p, -1),
        None => (-1, 0),
    }
}

impl Program {
    fn want_kprobe_type(&self, what: &str) -> Result<()> {
        if self.prog_type == ProgType::KPROBE {
            Ok(())
        } else {
            Err(target_err(
                &self.name,
                format!(
                    "{what} needs a kprobe-type program (uprobe sections load as kprobe), this one is {}",
                    self.prog_type
                ),
            ))
        }
    }

    /// Attaches a uprobe (or, with `opts.retprobe`, a uretprobe) to the
    /// function `func` of `binary`, `offset` bytes into it. `binary` is a
    /// path, a shared library name (`libc.so.6`: found among the mappings
    /// of `opts.pid`, or of this process, then in the standard library
    /// directories) or a program in `$PATH`. `func` is looked up in
    /// `.symtab` and `.dynsym`; a `func` with `*` or `?` is a pattern that
    /// must match exactly one function (handy for mangled Rust names).
    ///
    /// # Minimum kernel version
    ///
    /// 4.17 (the uprobe PMU); 4.20 for a reference counter.
    pub fn attach_uprobe(
        &self,
        binary: impl AsRef<Path>,
        func: &str,
        offset: u64,
        opts: &UprobeOptions,
    ) -> Result<Link> {
        let binary = binary.as_ref();
        let path = resolve_binary(&binary.to_string_lossy(), opts.pid)?;
        let bin = Binary::read(&path)?;
        let file_offset = if is_pattern(func) {
            let m = bin.matching_functions(func)?;
            match m.as_slice() {
                [(_, off)] => off + offset,
                [] => {
                    return Err(Error::InvalidArgument(format!(
                        "{}: no function matches {func:?}",
                        path.display()
                    )));
                }
                many => {
                    let names: Vec<&str> = many.iter().map(|(n, _)| n.as_str()).collect();
                    return Err(Error::InvalidArgument(format!(
                        "{}: {func:?} matches {} functions: {}",
                        path.display(),
                        many.len(),
                        names.join(", ")
                    )));
                }
            }
        } else {
            bin.function_offset(func, offset)?
        };
        log::debug!(target: "oxbpf::attach", "uprobe {}:{func}+{offset:#x} at file offset {file_offset:#x}", path.display());
        self.attach_uprobe_offset(&path, file_offset, opts)
    }

    /// Attaches a uprobe at file offset `file_offset` of `binary` (a
    /// path).
    pub fn attach_uprobe_offset(
        &self,
        binary: impl AsRef<Path>,
        file_offset: u64,
        opts: &UprobeOptions,
    ) -> Result<Link> {
        let binary = binary.as_ref();
        let kind = if opts.retprobe { "uretprobe" } else { "uprobe" };
        let what = || {
            format!(
                "program {}: attaching a {kind} to {} at file offset {file_offset:#x}",
                self.name,
                binary.display()
            )
        };
        self.want_kprobe_type(kind)?;
        let c = CString::new(binary.as_os_str().as_encoded_bytes())
            .map_err(|_| Error::InvalidArgument(format!("{}: path contains NUL", what())))?;
        let pmu = oxbpf_syscalls::uprobe_pmu_type()
            .map_err(Error::syscall(what()))?
            .ok_or_else(|| Error::Unsupported {
                what: "uprobes: the kernel has no uprobe PMU".into(),
                site: what(),
            })?;
        let (pid, cpu) = pid_cpu(opts.pid);
        let event = oxbpf_syscalls::perf_event_open_uprobe(
            pmu,
            &c,
            file_offset,
            opts.ref_ctr_offset,
            opts.retprobe,
            pid,
            cpu,
        )
        .map_err(Error::syscall(what()))?;
        attach_event(self, event, opts.cookie, &what)
    }

    /// Attaches a program loaded for uprobe_multi (`uprobe.multi/...`)
    /// or uprobe.session (`uprobe.session/...`) to every function of
    /// `binary` named in `funcs` (entries with `*` or `?` are patterns over
    /// the binary's symbols), with one BPF link.
    ///
    /// # Minimum kernel version
    ///
    /// 6.6 (uprobe_multi), 6.13 (uprobe.session).
    pub fn attach_uprobe_multi(
        &self,
        binary: impl AsRef<Path>,
        funcs: &[&str],
        opts: &UprobeMultiOptions,
    ) -> Result<Link> {
        let binary = binary.as_ref();
        let path = resolve_binary(&binary.to_string_lossy(), opts.pid)?;
        let bin = Binary::read(&path)?;
        let mut offsets = Vec::new();
        for f in funcs {
            if is_pattern(f) {
                let m = bin.matching_functions(f)?;
                if m.is_empty() {
                    return Err(Error::InvalidArgument(format!(
                        "{}: no function matches {f:?}",
                        path.display()
                    )));
                }
                offsets.extend(m.into_iter().map(|(_, off)| off));
            } else {
                offsets.push(bin.function_offset(f, 0)?);
            }
        }
        self.attach_uprobe_multi_offsets(&path, &offsets, opts)
    }

    /// [`Program::attach_uprobe_multi`] at the file offsets `offsets` of
    /// `binary` (a path).
    pub fn attach_uprobe_multi_offsets(
        &self,
        binary: impl AsRef<Path>,
        offsets: &[u64],
        opts: &UprobeMultiOptions,
    ) -> Result<Link> {
        let binary = binary.as_ref();
        let attach_type = match self.expected_attach_type {
            Some(t @ (AttachType::TRACE_UPROBE_MULTI | AttachType::TRACE_UPROBE_SESSION)) => t,
            _ => {
                return Err(target_err(
                    &self.name,
                    format!(
                        "section {:?} was not loaded for uprobe_multi (uprobe.multi/..., uprobe.session/...)",
                        self.section
                    ),
                ));
            }
        };
        let what = || {
            format!(
                "program {}: attaching {attach_type} to {} offsets of {}",
                self.name,
                offsets.len(),
                binary.display()
            )
        };
        self.want_kprobe_type("uprobe_multi")?;
        if offsets.is_empty() {
            return Err(Error::InvalidArgument(format!("{}: no offset", what())));
        }
        let c = CString::new(binary.as_os_str().as_encoded_bytes())
            .map_err(|_| Error::InvalidArgument(format!("{}: path contains NUL", what())))?;
        let pid = match opts.pid {
            None => 0,
            Some(p) => u32::try_from(p)
                .map_err(|_| Error::InvalidArgument(format!("{}: pid {p}", what())))?,
        };
        let tail = LinkTail::UprobeMulti {
            path: &c,
            offsets,
            ref_ctr_offsets: &opts.ref_ctr_offsets,
            cookies: &opts.cookies,
            flags: if opts.retprobe {
                UPROBE_MULTI_RETURN
            } else {
                0
            },
            pid,
        };
        oxbpf_syscalls::link_create(&self.fd, LinkTarget::None, attach_type, 0, &tail)
            .map(Link::bpf)
            .map_err(Error::syscall(what()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uprobe_section_targets() {
        assert_eq!(
            parse_uprobe_target("/usr/lib/libc.so.6:malloc"),
            Some(("/usr/lib/libc.so.6", "malloc", 0))
        );
        assert_eq!(
            parse_uprobe_target("libc.so.6:malloc+0x10"),
            Some(("libc.so.6", "malloc", 16))
        );
        assert_eq!(parse_uprobe_target("/bin/x:f+4"), Some(("/bin/x", "f", 4)));
        assert_eq!(parse_uprobe_target("malloc"), None);
        assert_eq!(parse_uprobe_target(":malloc"), None);
        assert_eq!(parse_uprobe_target("/bin/x:"), None);
        assert_eq!(parse_uprobe_target("/bin/x:f+z"), None);
    }
}
