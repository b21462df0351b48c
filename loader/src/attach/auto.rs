//! Auto-attach: the section kinds `link.rs` does not dispatch itself, and
//! `Object::attach_all`.

use oxbpf_elf_bpf::section::{Match, SectionDef};
use oxbpf_syscalls::ProgType;

use crate::attach::target_err;
use crate::attach::uprobe::{UprobeMultiOptions, UprobeOptions, parse_uprobe_target};
use crate::attach::usdt::{UsdtOptions, parse_usdt_target};
use crate::error::Result;
use crate::link::Link;
use crate::object::Object;
use crate::program::Program;

/// What [`Object::attach_all_report`] did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct AttachAll {
    /// The links made, with their program's name, in program order.
    pub links: Vec<(String, Link)>,
    /// The programs not attached, because their section does not name an
    /// attach point.
    pub skipped: Vec<Skipped>,
}

/// A program [`Object::attach_all`] did not attach, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// The program.
    pub program: String,
    /// Its section.
    pub section: String,
    /// What attaching it needs that the section name does not say.
    pub reason: &'static str,
}

/// Why `p` cannot be attached from its section name alone, or `None` if
/// it can.
pub(crate) fn needs_runtime_info(p: &Program) -> Option<&'static str> {
    let Some(def) = p.section_def else {
        return Some("its section is not a known program section");
    };
    let target = p.attach_target.as_str();
    let named_target = |needs: &'static str| target.is_empty().then_some(needs);
    match p.prog_type {
        ProgType::TRACEPOINT => named_target("a tracepoint (tracepoint/<category>/<name>)"),
        ProgType::RAW_TRACEPOINT | ProgType::RAW_TRACEPOINT_WRITABLE => {
            named_target("a tracepoint name")
        }
        ProgType::KPROBE if def.name.starts_with("usdt") => {
            named_target("a binary and a probe (usdt/<binary>:<provider>:<name>)")
        }
        ProgType::KPROBE if def.name.starts_with('u') => {
            named_target("a binary and a function (uprobe/<binary>:<function>)")
        }
        ProgType::KPROBE => named_target("a kernel function"),
        ProgType::TRACING | ProgType::LSM if def.name == "lsm_cgroup" => Some("a cgroup"),
        // Targets fixed at load time (fentry, fexit, fmod_ret, lsm, tp_btf,
        // iter).
        ProgType::TRACING | ProgType::LSM => None,
        ProgType::XDP => Some("a network interface (attach_xdp)"),
        ProgType::SCHED_CLS | ProgType::SCHED_ACT => {
            Some("a network interface (attach_tcx, attach_tc, attach_netkit)")
        }
        ProgType::SK_LOOKUP | ProgType::FLOW_DISSECTOR => {
            Some("a network namespace (attach_netns)")
        }
        ProgType::SK_MSG | ProgType::SK_SKB => Some("a sockmap (attach_sockmap)"),
        ProgType::NETFILTER => Some("a netfilter hook (attach_netfilter)"),
        ProgType::PERF_EVENT => Some("a perf event (attach_perf_event, attach_perf_counter)"),
        ProgType::EXT => Some("a target program (attach_freplace)"),
        ProgType::STRUCT_OPS => Some("its struct_ops map (Object::attach_struct_ops)"),
        ProgType::SYSCALL => Some("nothing: syscall programs are run, not attached"),
        ProgType::SOCKET_FILTER => Some("a socket (SO_ATTACH_BPF)"),
        t if is_cgroup_type(t) => Some("a cgroup (attach_cgroup)"),
        _ if def.matching == Match::Exact => Some("an attach point its section does not name"),
        _ => Some("an attach point oxbpf cannot derive"),
    }
}

fn is_cgroup_type(t: ProgType) -> bool {
    matches!(
        t,
        ProgType::CGROUP_SKB
            | ProgType::CGROUP_SOCK
            | ProgType::CGROUP_SOCK_ADDR
            | ProgType::CGROUP_SOCKOPT
            | ProgType::CGROUP_SYSCTL
            | ProgType::CGROUP_DEVICE
            | ProgType::SOCK_OPS
    )
}

/// Auto-attach of the section kinds not dispatched in `link.rs`.
pub(crate) fn attach_by_section(p: &Program, def: &SectionDef) -> Result<Link> {
    let target = p.attach_target.as_str();
    let fail = |expected: &str| {
        target_err(
            &p.name,
            format!("section {:?}: expected {}/{expected}", p.section, def.name),
        )
    };
    match def.name {
        "ksyscall" | "kretsyscall" => {
            if target.is_empty() {
                return Err(fail("<syscall>"));
            }
            p.attach_ksyscall(target, def.name == "kretsyscall")
        }
        "kprobe.session" => {
            if target.is_empty() {
                return Err(fail("<function or pattern>[,...]"));
            }
            let items: Vec<&str> = target.split(',').collect();
            p.attach_kprobe_session(&items)
        }
        "uprobe" | "uretprobe" | "uprobe.s" | "uretprobe.s" => {
            let (binary, func, offset) = parse_uprobe_target(target)
                .ok_or_else(|| fail("<binary>:<function>[+<offset>]"))?;
            let opts = UprobeOptions {
                retprobe: def.name.starts_with("uretprobe"),
                ..Default::default()
            };
            p.attach_uprobe(binary, func, offset, &opts)
        }
        "uprobe.multi" | "uretprobe.multi" | "uprobe.multi.s" | "uretprobe.multi.s"
        | "uprobe.session" | "uprobe.session.s" => {
            let (binary, pattern) = target
                .rsplit_once(':')
                .filter(|(b, f)| !b.is_empty() && !f.is_empty())
                .ok_or_else(|| fail("<binary>:<function or pattern>"))?;
            let opts = UprobeMultiOptions {
                retprobe: def.name.starts_with("uretprobe"),
                ..Default::default()
            };
            p.attach_uprobe_multi(binary, &[pattern], &opts)
        }
        "usdt" | "usdt.s" => {
            let (binary, provider, name) =
                parse_usdt_target(target).ok_or_else(|| fail("<binary>:<provider>:<name>"))?;
            p.attach_usdt(binary, provider, name, &UsdtOptions::default())
        }
        // Kinds whose attach point only the caller knows: what callers
        // (and the behaviour tests) match on is `Unsupported`.
        _ => Err(crate::Error::Unsupported {
            what: format!(
                "auto-attaching {} programs (they need {})",
                p.prog_type,
                needs_runtime_info(p).unwrap_or("an attach point the section does not name")
            ),
            site: format!("program {} (section {})", p.name, p.section),
        }),
    }
}

impl Object {
    /// Attaches every program whose section names its attach point
    /// ([`Program::attach`]) and returns the links, in program order.
    /// Programs whose section needs information only the caller has (an
    /// interface, a cgroup, a map...) are skipped and logged (see
    /// [`Object::attach_all_report`] for the list). If an attachment
    /// fails, the links made so far are dropped (detached) and the error
    /// returned.
    pub fn attach_all(&self) -> Result<Vec<Link>> {
        let report = self.attach_all_report()?;
        Ok(report.links.into_iter().map(|(_, l)| l).collect())
    }

    /// [`Object::attach_all`], returning also which programs were
    /// skipped and why.
    pub fn attach_all_report(&self) -> Result<AttachAll> {
        let mut out = AttachAll::default();
        for p in self.programs() {
            if let Some(reason) = needs_runtime_info(p) {
                log::info!(target: "oxbpf::attach", "not attaching program {} (section {}): it needs {reason}", p.name, p.section);
                out.skipped.push(Skipped {
                    program: p.name.clone(),
                    section: p.section.clone(),
                    reason,
                });
                continue;
            }
            let link = p.attach()?;
            out.links.push((p.name.clone(), link));
        }
        Ok(out)
    }
}
