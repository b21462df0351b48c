//! The kernel a plan is built for.
//!
//! In live mode the target is the running kernel, read lazily: a fact is
//! only looked up when some part of the object needs it (an object without
//! `tp_btf`/`iter` programs never reads vmlinux BTF).

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use oxbpf_btf::Btf;
use oxbpf_syscalls::{Kallsyms, KernelConfig};

use crate::error::{Error, Result};

/// Where the running kernel publishes its BTF.
pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

/// Facts about the kernel a plan targets.
#[derive(Debug)]
pub(crate) struct Target {
    vmlinux_path: PathBuf,
    vmlinux: OnceCell<Btf<'static>>,
    core_path: Option<PathBuf>,
    core: OnceCell<Btf<'static>>,
    btf_features: Option<oxbpf_btf::BtfFeatures>,
    possible_cpus: OnceCell<u32>,
    kconfig: OnceCell<KernelConfig>,
    /// Kernel symbols looked up so far (`None`: not in /proc/kallsyms).
    ksyms: RefCell<HashMap<String, Option<u64>>>,
    bpf_cookie: OnceCell<bool>,
}

impl Target {
    /// The running kernel.
    pub(crate) fn live() -> Target {
        Target {
            vmlinux_path: VMLINUX_BTF.into(),
            vmlinux: OnceCell::new(),
            core_path: None,
            core: OnceCell::new(),
            btf_features: None,
            possible_cpus: OnceCell::new(),
            kconfig: OnceCell::new(),
            ksyms: RefCell::default(),
            bpf_cookie: OnceCell::new(),
        }
    }

    /// The BTF CO-RE relocations resolve against: the kernel's, unless the
    /// user named another file (as btfhub ships for kernels without BTF).
    pub(crate) fn core_btf(&self) -> Result<&Btf<'static>> {
        let Some(path) = &self.core_path else {
            return self.vmlinux();
        };
        if let Some(btf) = self.core.get() {
            return Ok(btf);
        }
        let btf = Btf::from_file(path).map_err(Error::btf(format!(
            "reading CO-RE target BTF {}",
            path.display()
        )))?;
        Ok(self.core.get_or_init(|| btf))
    }

    /// The running kernel, with CO-RE relocations resolved against the BTF
    /// file `core` instead of the kernel's own when given.
    pub(crate) fn live_with(
        core: Option<&Path>,
        btf_features: Option<oxbpf_btf::BtfFeatures>,
    ) -> Target {
        let mut t = Target::live();
        t.core_path = core.map(Path::to_owned);
        t.btf_features = btf_features;
        t
    }

    /// The kernel's BTF, read on first use.
    pub(crate) fn vmlinux(&self) -> Result<&Btf<'static>> {
        if let Some(btf) = self.vmlinux.get() {
            return Ok(btf);
        }
        let context = || format!("reading kernel BTF {}", self.vmlinux_path.display());
        let mapped = oxbpf_syscalls::map_kernel_btf(&self.vmlinux_path)
            .map_err(Error::syscall(context()))?;
        let btf = match mapped {
            Some(map) => Btf::from_shared(std::sync::Arc::new(map)),
            None => Btf::from_file(&self.vmlinux_path),
        }
        .map_err(Error::btf(context()))?;
        Ok(self.vmlinux.get_or_init(|| btf))
    }

    /// Plans for a kernel built with `config` instead of reading the
    /// running kernel's.
    pub(crate) fn set_kconfig(&mut self, config: KernelConfig) {
        self.kconfig = OnceCell::from(config);
    }

    /// The kernel's build configuration, read on first use.
    pub(crate) fn kconfig(&self) -> Result<&KernelConfig> {
        if let Some(c) = self.kconfig.get() {
            return Ok(c);
        }
        let c = KernelConfig::read().map_err(Error::syscall("reading the kernel configuration"))?;
        Ok(self.kconfig.get_or_init(|| c))
    }

    /// The address of kernel symbol `name`. The first call looks up every
    /// name of `batch` (all the symbols a plan needs) in one scan of
    /// /proc/kallsyms, which stops once all are found; later calls answer
    /// from what that scan found.
    pub(crate) fn ksym(&self, name: &str, batch: &[&str]) -> Result<Option<u64>> {
        if let Some(&addr) = self.ksyms.borrow().get(name) {
            return Ok(addr);
        }
        let mut names: Vec<&str> = batch
            .iter()
            .copied()
            .filter(|n| !self.ksyms.borrow().contains_key(*n))
            .collect();
        if !names.contains(&name) {
            names.push(name);
        }
        let found = Kallsyms::lookup(&names).map_err(Error::syscall("reading /proc/kallsyms"))?;
        let mut cache = self.ksyms.borrow_mut();
        for (n, addr) in names.iter().zip(found) {
            cache.insert((*n).to_owned(), addr);
        }
        Ok(cache.get(name).copied().flatten())
    }

    /// `LINUX_VERSION_CODE` of the running kernel.
    pub(crate) fn kernel_version_code(&self) -> Result<u32> {
        oxbpf_syscalls::kernel_version_code().map_err(Error::syscall("reading the kernel version"))
    }

    /// Whether system calls enter through arch wrappers (`__x64_sys_*`),
    /// which is what kprobes on system calls must name.
    pub(crate) fn has_syscall_wrapper(&self) -> Result<bool> {
        // Kernels built with arch wrappers say so in their configuration,
        // which costs nothing more when kconfig values are being read.
        if self
            .kconfig()
            .is_ok_and(|c| c.get("CONFIG_ARCH_HAS_SYSCALL_WRAPPER") == Some("y"))
        {
            return Ok(true);
        }
        let wrapper = format!("{}bpf", syscall_prefix());
        // The kernel's BTF lists the wrapper as a FUNC: a lookup there costs
        // a few milliseconds, a scan of /proc/kallsyms a hundred.
        if let Ok(btf) = self.vmlinux() {
            if let Ok(Some(_)) = btf.find_by_name_kind(&wrapper, oxbpf_btf::Kind::Func) {
                return Ok(true);
            }
        }
        Ok(self.ksym(&wrapper, &[])?.is_some())
    }

    /// Whether the kernel has `bpf_get_attach_cookie` (5.15), found by
    /// loading a two-instruction program that calls it.
    pub(crate) fn has_bpf_cookie(&self) -> bool {
        *self.bpf_cookie.get_or_init(|| {
            use oxbpf_asm::Insn;
            const BPF_FUNC_GET_ATTACH_COOKIE: i32 = 174;
            let insns = [
                Insn::call_helper(BPF_FUNC_GET_ATTACH_COOKIE),
                Insn::mov64_imm(0, 0),
                Insn::exit(),
            ];
            let opts = oxbpf_syscalls::ProgLoadOptions::new(
                oxbpf_syscalls::ProgType::TRACEPOINT,
                &insns,
                c"GPL",
            );
            let supported =
                oxbpf_syscalls::prog_load(&opts, &mut oxbpf_syscalls::VerifierLog::new()).is_ok();
            log::debug!(target: "oxbpf::probe", "bpf_get_attach_cookie: {supported}");
            supported
        })
    }

    /// Whether the kernel has uprobe_multi links (6.6), probed once per
    /// process: a program loaded for them, linked to a directory, is
    /// refused for the path (`EBADF`) where the link type exists and for
    /// the attach type (`EINVAL`) where it does not.
    pub(crate) fn has_uprobe_multi_link(&self) -> bool {
        static SUPPORTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *SUPPORTED.get_or_init(|| {
            use oxbpf_asm::Insn;
            use oxbpf_syscalls::{AttachType, Errno, LinkTail, LinkTarget, ProgType};
            let insns = [Insn::mov64_imm(0, 0), Insn::exit()];
            let mut opts = oxbpf_syscalls::ProgLoadOptions::new(ProgType::KPROBE, &insns, c"GPL");
            opts.expected_attach_type = AttachType::TRACE_UPROBE_MULTI;
            let Ok(prog) =
                oxbpf_syscalls::prog_load(&opts, &mut oxbpf_syscalls::VerifierLog::new())
            else {
                return false;
            };
            let tail = LinkTail::UprobeMulti {
                path: c"/",
                offsets: &[0],
                ref_ctr_offsets: &[],
                cookies: &[],
                flags: 0,
                pid: 0,
            };
            let answer = oxbpf_syscalls::link_create(
                &prog,
                LinkTarget::None,
                AttachType::TRACE_UPROBE_MULTI,
                0,
                &tail,
            );
            let supported = match answer {
                Err(e) => e.errno() == Some(Errno::BADF),
                // A kernel that links a directory: it has the link type.
                Ok(_) => true,
            };
            log::debug!(target: "oxbpf::probe", "uprobe_multi links: {supported}");
            supported
        })
    }

    /// What the kernel's BTF loader accepts, from probes (a feature whose
    /// probe is inconclusive is taken as supported: the load then says).
    pub(crate) fn btf_features(&self) -> oxbpf_btf::BtfFeatures {
        if let Some(f) = self.btf_features {
            return f;
        }
        use oxbpf_btf::BtfFeature as F;
        use oxbpf_syscalls::{BtfProbe as P, ProbeResult, probe_btf};
        oxbpf_btf::BtfFeatures::from_fn(|f| {
            let probe = match f {
                F::Func => P::Func,
                F::FuncGlobal => P::FuncGlobal,
                F::VarDatasec => P::VarDatasec,
                F::Float => P::Float,
                F::DeclTag => P::DeclTag,
                F::TypeTag => P::TypeTag,
                F::Enum64 => P::Enum64,
                F::EnumSigned => P::EnumSigned,
                // A feature this loader has no probe for yet: assume it.
                _ => return true,
            };
            probe_btf(probe) != ProbeResult::Unsupported
        })
    }

    /// Whether something is pinned at `path` (a map an earlier load pinned
    /// by name).
    pub(crate) fn is_pinned(&self, path: &Path) -> bool {
        path.exists()
    }

    /// Number of possible CPUs (the size of per-CPU values and of perf
    /// event arrays left unsized).
    pub(crate) fn possible_cpus(&self) -> Result<u32> {
        if let Some(&n) = self.possible_cpus.get() {
            return Ok(n);
        }
        let n = read_possible_cpus(Path::new(POSSIBLE_CPUS))?;
        Ok(*self.possible_cpus.get_or_init(|| n))
    }
}

/// The prefix of system call entry points on this architecture.
pub(crate) fn syscall_prefix() -> &'static str {
    if cfg!(target_arch = "x86_64") {
        "__x64_sys_"
    } else if cfg!(target_arch = "aarch64") {
        "__arm64_sys_"
    } else if cfg!(target_arch = "s390x") {
        "__s390x_sys_"
    } else if cfg!(target_arch = "riscv64") {
        "__riscv_sys_"
    } else {
        "sys_"
    }
}

const POSSIBLE_CPUS: &str = "/sys/devices/system/cpu/possible";

/// Reads the number of possible CPUs from a cpu-list file.
pub(crate) fn read_possible_cpus(path: &Path) -> Result<u32> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    parse_cpu_list(text.trim()).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "{}: cannot parse CPU list {:?}",
            path.display(),
            text.trim()
        ))
    })
}

/// Parses a kernel CPU list (`0-3,8,10-11`) into the highest CPU + 1, which
/// is how the kernel sizes per-CPU values.
pub(crate) fn parse_cpu_list(list: &str) -> Option<u32> {
    let mut max = None;
    for part in list.split(',') {
        let last = match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                if b < a {
                    return None;
                }
                b
            }
            None => part.trim().parse().ok()?,
        };
        max = Some(max.map_or(last, |m: u32| m.max(last)));
    }
    max?.checked_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0"), Some(1));
        assert_eq!(parse_cpu_list("0-1"), Some(2));
        assert_eq!(parse_cpu_list("0-3,8,10-11"), Some(12));
        assert_eq!(parse_cpu_list(""), None);
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("a-b"), None);
        assert_eq!(parse_cpu_list("4294967295"), None);
    }

    #[test]
    fn this_machine_has_cpus() {
        let n = read_possible_cpus(Path::new(POSSIBLE_CPUS)).unwrap();
        assert!(n >= 1);
    }
}
