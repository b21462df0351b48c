//! kprobes beyond the plain kprobe/kretprobe of `link.rs`: system call
//! entry points (ksyscall), cookies, kprobe_multi on function patterns,
//! kprobe.session.

use std::ffi::{CStr, CString};

use oxbpf_syscalls::{AttachType, LinkTail, LinkTarget, ProgType};

use crate::attach::{cstring, perf::attach_event, target_err};
use crate::error::{Error, Result};
use crate::link::Link;
use crate::program::Program;

/// `BPF_F_KPROBE_MULTI_RETURN`.
const KPROBE_MULTI_RETURN: u32 = 1;

/// How [`Program::attach_kprobe_multi_with`] attaches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KprobeMultiOptions {
    /// Run at the functions' returns (`kretprobe.multi`).
    pub retprobe: bool,
    /// One cookie per function, in the order of the names given (only
    /// with exact names: a pattern's matches have no order of their own).
    pub cookies: Vec<u64>,
}

impl KprobeMultiOptions {
    /// At the functions' returns.
    pub fn return_probe(mut self) -> Self {
        self.retprobe = true;
        self
    }

    /// With one cookie per function.
    pub fn with_cookies(mut self, cookies: Vec<u64>) -> Self {
        self.cookies = cookies;
        self
    }
}

/// Whether `name` matches the glob `pattern` (`*`: any run, `?`: any one
/// character; nothing else is special).
pub(crate) fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Whether `s` is a pattern rather than a name.
pub(crate) fn is_pattern(s: &str) -> bool {
    s.contains(['*', '?'])
}

/// The function names of `available_filter_functions` text (`name` or
/// `name [module]` per line) that match `pattern`, without duplicates, in
/// file order.
pub(crate) fn match_filter_functions(text: &str, pattern: &str) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    text.lines()
        .filter_map(|l| l.split_whitespace().next())
        // Compiler-generated clones (`f.isra.0`, `f.cold`) cannot be probed
        // by name through kprobe_multi.
        .filter(|name| !name.contains('.'))
        .filter(|name| glob_match(pattern, name))
        .filter(|name| seen.insert(*name))
        .map(str::to_owned)
        .collect()
}

/// Resolves `items` (names or patterns) into function names: patterns
/// against the kernel's `available_filter_functions`.
fn resolve_functions(items: &[&str]) -> Result<Vec<String>> {
    if !items.iter().any(|i| is_pattern(i)) {
        return Ok(items.iter().map(|s| (*s).to_owned()).collect());
    }
    let root = oxbpf_syscalls::tracefs_root().map_err(Error::syscall("finding tracefs"))?;
    let path = root.join("available_filter_functions");
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    let mut out = Vec::new();
    for item in items {
        if is_pattern(item) {
            let found = match_filter_functions(&text, item);
            if found.is_empty() {
                return Err(Error::InvalidArgument(format!(
                    "kprobe_multi: no function of {} matches {item:?}",
                    path.display()
                )));
            }
            out.extend(found);
        } else {
            out.push((*item).to_owned());
        }
    }
    Ok(out)
}

/// `section`'s target for auto-attach of `kprobe.multi/...` and
/// `kretprobe.multi/...`: names or patterns separated by commas.
pub(crate) fn auto_kprobe_multi(p: &Program, section: &str, target: &str) -> Result<Link> {
    let items: Vec<&str> = target.split(',').collect();
    let opts = KprobeMultiOptions {
        retprobe: section.starts_with("kretprobe"),
        cookies: Vec::new(),
    };
    p.attach_kprobe_multi_with(&items, &opts)
}

impl Program {
    /// Attaches a kprobe program to the entry (or, with `retprobe`, the
    /// return) of system call `syscall` (`"getpid"`), through the kernel's
    /// architecture wrapper (`__x64_sys_getpid` on x86_64) when the kernel
    /// has them, else `sys_<name>` (`ksyscall/...`, `kretsyscall/...`).
    ///
    /// # Minimum kernel version
    ///
    /// 4.17, with `CONFIG_KPROBES`.
    pub fn attach_ksyscall(&self, syscall: &str, retprobe: bool) -> Result<Link> {
        let func = ksyscall_function(syscall)?;
        if retprobe {
            self.attach_kretprobe(&func)
        } else {
            self.attach_kprobe(&func, 0)
        }
    }

    /// Attaches a kprobe (or kretprobe) like [`Program::attach_kprobe`],
    /// with a BPF cookie the program reads with `bpf_get_attach_cookie()`.
    ///
    /// # Minimum kernel version
    ///
    /// 5.15, with `CONFIG_KPROBES`.
    pub fn attach_kprobe_with_cookie(
        &self,
        func: &str,
        offset: u64,
        retprobe: bool,
        cookie: u64,
    ) -> Result<Link> {
        let what = || {
            format!(
                "program {}: attaching a kprobe to {func}+{offset:#x}",
                self.name
            )
        };
        if self.prog_type != ProgType::KPROBE {
            return Err(target_err(&self.name, "a kprobe needs a kprobe program"));
        }
        let c = cstring("kprobe function", func)?;
        let pmu = oxbpf_syscalls::kprobe_pmu_type()
            .map_err(Error::syscall(what()))?
            .ok_or_else(|| Error::Unsupported {
                what: "kprobes: the kernel has no kprobe PMU".into(),
                site: what(),
            })?;
        let event = oxbpf_syscalls::perf_event_open_kprobe(pmu, &c, offset, retprobe, -1, 0)
            .map_err(Error::syscall(what()))?;
        attach_event(self, event, cookie, &what)
    }

    /// Attaches a program loaded for kprobe_multi (`kprobe.multi/...`)
    /// to every function named in `funcs`, where an entry with `*` or `?`
    /// is a pattern matched against
    /// `<tracefs>/available_filter_functions`; one BPF link for all.
    ///
    /// # Minimum kernel version
    ///
    /// 5.18, with `CONFIG_FPROBE`.
    pub fn attach_kprobe_multi_with(
        &self,
        funcs: &[&str],
        opts: &KprobeMultiOptions,
    ) -> Result<Link> {
        let attach_type = match self.expected_attach_type {
            Some(t @ (AttachType::TRACE_KPROBE_MULTI | AttachType::TRACE_KPROBE_SESSION)) => t,
            _ => AttachType::TRACE_KPROBE_MULTI,
        };
        self.kprobe_multi_link(funcs, opts, attach_type)
    }

    /// Attaches a program loaded for kprobe.session (`kprobe.session/...`,
    /// attach type `BPF_TRACE_KPROBE_SESSION`) to the functions `funcs`
    /// (names or patterns): the program runs at entry, and at return too
    /// unless the entry run returned non-zero.
    ///
    /// # Minimum kernel version
    ///
    /// 6.10, with `CONFIG_FPROBE`.
    pub fn attach_kprobe_session(&self, funcs: &[&str]) -> Result<Link> {
        self.kprobe_multi_link(
            funcs,
            &KprobeMultiOptions::default(),
            AttachType::TRACE_KPROBE_SESSION,
        )
    }

    fn kprobe_multi_link(
        &self,
        funcs: &[&str],
        opts: &KprobeMultiOptions,
        attach_type: AttachType,
    ) -> Result<Link> {
        let what = || {
            format!(
                "program {}: attaching {attach_type} to {}",
                self.name,
                funcs.join(",")
            )
        };
        if self.prog_type != ProgType::KPROBE {
            return Err(target_err(
                &self.name,
                format!(
                    "{attach_type} needs a kprobe program, this one is {}",
                    self.prog_type
                ),
            ));
        }
        if funcs.is_empty() {
            return Err(Error::InvalidArgument(format!("{}: no function", what())));
        }
        if !opts.cookies.is_empty() && funcs.iter().any(|f| is_pattern(f)) {
            return Err(Error::InvalidArgument(format!(
                "{}: cookies need exact function names",
                what()
            )));
        }
        let names = resolve_functions(funcs)?;
        if !opts.cookies.is_empty() && opts.cookies.len() != names.len() {
            return Err(Error::InvalidArgument(format!(
                "{}: {} cookies for {} functions",
                what(),
                opts.cookies.len(),
                names.len()
            )));
        }
        let cnames = names
            .iter()
            .map(|n| cstring("kprobe_multi function", n))
            .collect::<Result<Vec<CString>>>()?;
        let syms: Vec<&CStr> = cnames.iter().map(CString::as_c_str).collect();
        log::debug!(target: "oxbpf::attach", "{}: {} functions", what(), syms.len());
        let tail = LinkTail::KprobeMulti {
            flags: if opts.retprobe {
                KPROBE_MULTI_RETURN
            } else {
                0
            },
            syms: &syms,
            addrs: &[],
            cookies: &opts.cookies,
        };
        let fd = oxbpf_syscalls::link_create(&self.fd, LinkTarget::None, attach_type, 0, &tail)
            .map_err(Error::syscall(what()))?;
        Ok(Link::bpf(fd))
    }
}

/// The kernel function behind system call `name`.
fn ksyscall_function(name: &str) -> Result<String> {
    if name.is_empty() || name.contains(['/', ' ', '\0']) {
        return Err(Error::InvalidArgument(format!(
            "ksyscall: {name:?} is not a system call name"
        )));
    }
    let wrapped = crate::target::Target::live().has_syscall_wrapper()?;
    Ok(syscall_function(name, wrapped))
}

/// `__x64_sys_<name>` (the arch prefix) with wrappers, `sys_<name>`
/// without.
pub(crate) fn syscall_function(name: &str, wrapped: bool) -> String {
    if wrapped {
        format!("{}{name}", crate::target::syscall_prefix())
    } else {
        format!("sys_{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("tcp_*", "tcp_v4_connect"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("*_rcv*", "tcp_v4_rcv_x"));
        assert!(!glob_match("tcp_*", "udp_rcv"));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
        assert!(glob_match("exact", "exact"));
        assert!(!glob_match("exact", "exactly"));
    }

    #[test]
    fn filter_function_lists() {
        let text = "tcp_v4_connect\ntcp_close [tcp_mod]\nudp_rcv\ntcp_close\ntcp_x.isra.0\n";
        assert_eq!(
            match_filter_functions(text, "tcp_*"),
            ["tcp_v4_connect", "tcp_close"]
        );
        assert!(match_filter_functions(text, "nothing*").is_empty());
    }

    #[test]
    fn syscall_functions_take_the_arch_prefix() {
        let f = syscall_function("getpid", true);
        assert!(
            f.ends_with("sys_getpid") && f.len() > "sys_getpid".len(),
            "{f}"
        );
        #[cfg(target_arch = "x86_64")]
        assert_eq!(f, "__x64_sys_getpid");
        assert_eq!(syscall_function("getpid", false), "sys_getpid");
        assert!(ksyscall_function("a/b").is_err());
    }

    #[test]
    fn this_kernel_names_syscalls_with_the_wrapper() {
        // 6.18 on x86_64 has the pt_regs wrappers since 4.17.
        assert_eq!(ksyscall_function("getpid").unwrap(), "__x64_sys_getpid");
    }
}
