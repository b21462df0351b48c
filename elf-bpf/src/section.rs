//! The section-name table: what a program's ELF section name says about its
//! program type, expected attach type and load flags.
//!
//! Written from the kernel's `Documentation/bpf/libbpf/program_types.rst`.
//! Two matching rules apply, as that document defines them:
//!
//! - an *exact* entry (`socket`) matches only that name;
//! - a *plus* entry (`kprobe+`) matches the name itself or the name followed
//!   by `/` and extras (`kprobe/do_unlinkat`), which describe the attach point.
//!
//! A leading `?` (`SEC("?xdp")`) marks a program that is not loaded unless
//! the user asks for it; [`parse_section_name`] strips it and reports it.

use oxbpf_syscalls::{AttachType, ProgType};

/// How a table entry matches section names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Match {
    /// The section name must equal the entry.
    Exact,
    /// The section name equals the entry, or continues with `/extras`.
    Plus,
}

/// What a section name says about how its programs load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SectionDef {
    /// The name as written in the table (`"kprobe"`, `"cgroup/connect4"`).
    pub name: &'static str,
    /// How the entry matches.
    pub matching: Match,
    /// Program type passed to `BPF_PROG_LOAD`.
    pub prog_type: ProgType,
    /// Expected attach type passed to `BPF_PROG_LOAD`, if the kind has one.
    pub attach_type: Option<AttachType>,
    /// Load with `BPF_F_SLEEPABLE`.
    pub sleepable: bool,
    /// Load with `BPF_F_XDP_HAS_FRAGS`.
    pub xdp_frags: bool,
    /// The program needs `attach_btf_id` (a kernel BTF id, or a target
    /// program for `freplace`) found from the section's extras.
    pub needs_btf_target: bool,
}

/// The result of looking a section name up: the matching entry, the extras
/// after `name/`, and whether the name started with `?`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SectionKind<'a> {
    /// The table entry that matched.
    pub def: &'static SectionDef,
    /// What follows `name/` (empty when the name matched exactly).
    pub extras: &'a str,
    /// `false` when the section name started with `?`.
    pub autoload: bool,
}

/// Looks up a section name. `None` means the name is not a known program
/// section; the caller decides whether that is an error (it is, unless the
/// user sets the program type).
pub fn parse_section_name(section: &str) -> Option<SectionKind<'_>> {
    let (name, autoload) = match section.strip_prefix('?') {
        Some(rest) => (rest, false),
        None => (section, true),
    };
    // Longest match first: `xdp.frags/devmap` before `xdp.frags` before `xdp`,
    // `tc/ingress` (exact) before `tc` (exact).
    let mut best: Option<(&'static SectionDef, &str)> = None;
    for def in SECTION_DEFS {
        let extras = if name == def.name {
            Some("")
        } else if def.matching == Match::Plus {
            name.strip_prefix(def.name)
                .and_then(|rest| rest.strip_prefix('/'))
        } else {
            None
        };
        if let Some(extras) = extras {
            if best.is_none_or(|(b, _)| def.name.len() > b.name.len()) {
                best = Some((def, extras));
            }
        }
    }
    best.map(|(def, extras)| SectionKind {
        def,
        extras,
        autoload,
    })
}

const fn def(
    name: &'static str,
    matching: Match,
    prog_type: ProgType,
    attach_type: Option<AttachType>,
) -> SectionDef {
    SectionDef {
        name,
        matching,
        prog_type,
        attach_type,
        sleepable: false,
        xdp_frags: false,
        needs_btf_target: false,
    }
}

const fn sleepable(mut d: SectionDef) -> SectionDef {
    d.sleepable = true;
    d
}

const fn frags(mut d: SectionDef) -> SectionDef {
    d.xdp_frags = true;
    d
}

const fn btf_target(mut d: SectionDef) -> SectionDef {
    d.needs_btf_target = true;
    d
}

use AttachType as A;
use Match::{Exact, Plus};
use ProgType as P;

/// Every section name this crate knows, in the order of the kernel's table.
pub static SECTION_DEFS: &[SectionDef] = &[
    def(
        "cgroup/dev",
        Exact,
        P::CGROUP_DEVICE,
        Some(A::CGROUP_DEVICE),
    ),
    def("cgroup/skb", Exact, P::CGROUP_SKB, None),
    def(
        "cgroup_skb/egress",
        Exact,
        P::CGROUP_SKB,
        Some(A::CGROUP_INET_EGRESS),
    ),
    def(
        "cgroup_skb/ingress",
        Exact,
        P::CGROUP_SKB,
        Some(A::CGROUP_INET_INGRESS),
    ),
    def(
        "cgroup/getsockopt",
        Exact,
        P::CGROUP_SOCKOPT,
        Some(A::CGROUP_GETSOCKOPT),
    ),
    def(
        "cgroup/setsockopt",
        Exact,
        P::CGROUP_SOCKOPT,
        Some(A::CGROUP_SETSOCKOPT),
    ),
    def(
        "cgroup/bind4",
        Exact,
        P::CGROUP_SOCK_ADDR,
        Some(A::CGROUP_INET4_BIND),
    ),
    def(
        "cgroup/connect4",
        Exact,
        P::CGROUP_SOCK_ADDR,
        Some(A::CGROUP_INET4_CONNECT),
    ),
    def(
        "cgroup/getpeername4",
        Exact,
        P::CGROUP_SOCK_ADDR,
        Some(A::CGROUP_INET4_GETPEERNAME),
    ),
    def(
        "cgroup/getsockname4",
        Exact,
        P::CGROUP_SOCK_ADDR,
        Some(A::CGROUP_INET4_GETSOCKNAME),
    ),
    def(
        "cgroup/bind6",
        Exact,
        P::CGROUP_SOCK_ADDR,
        Some(A::CGROUP_INET6_BIND),
    ),
    def(
        "cgroup/connect6",
        Exact,
        P::CGROUP_SOCK_ADDR,
        Some(A::CGROUP_INET6_CONNECT),
    ),
    def(
        "cgroup/getpeername6",
        Exact,
        P::CGROUP_SOCK_ADDR,
        Some(A::CGROUP_INET6_GETPEERNAME),
    ),
    def(
        "cgroup/getsockname6",
        Exact,
        P::CGROUP_SOCK_ADDR,
        Some(A::CGROUP_INET6_GETSOCKNAME),
    ),
    def(
        "cgroup/recvmsg4",
        Exact,
        P::CGROUP_SOCK_ADDR,
        Some(A::CGROUP_UDP4_RECVMSG),
    ),
    def(
        "cgroup/sendmsg4",
        Exact,
        P::CGROUP_SOCK_ADDR,
        Some(A::CGROUP_UDP4_SENDMSG),
    ),
    def(
        "cgroup/recvmsg6",
        Exact,
        P::CGROUP_SOCK_ADDR,
        Some(A::CGROUP_UDP6_RECVMSG),
    ),
    def(
        "cgroup/sendmsg6",
        Exact,
        P::CGROUP_SOCK_ADDR,
        Some(A::CGROUP_UDP6_SENDMSG),
    ),
    def(
        "cgroup/connect_unix",
        Exact,
        P::CGROUP_SOCK_ADDR,
        Some(A::CGROUP_UNIX_CONNECT),
    ),
    def(
        "cgroup/sendmsg_unix",
        Exact,
        P::CGROUP_SOCK_ADDR,
        Some(A::CGROUP_UNIX_SENDMSG),
    ),
    def(
        "cgroup/recvmsg_unix",
        Exact,
        P::CGROUP_SOCK_ADDR,
        Some(A::CGROUP_UNIX_RECVMSG),
    ),
    def(
        "cgroup/getpeername_unix",
        Exact,
        P::CGROUP_SOCK_ADDR,
        Some(A::CGROUP_UNIX_GETPEERNAME),
    ),
    def(
        "cgroup/getsockname_unix",
        Exact,
        P::CGROUP_SOCK_ADDR,
        Some(A::CGROUP_UNIX_GETSOCKNAME),
    ),
    def(
        "cgroup/post_bind4",
        Exact,
        P::CGROUP_SOCK,
        Some(A::CGROUP_INET4_POST_BIND),
    ),
    def(
        "cgroup/post_bind6",
        Exact,
        P::CGROUP_SOCK,
        Some(A::CGROUP_INET6_POST_BIND),
    ),
    def(
        "cgroup/sock_create",
        Exact,
        P::CGROUP_SOCK,
        Some(A::CGROUP_INET_SOCK_CREATE),
    ),
    def(
        "cgroup/sock",
        Exact,
        P::CGROUP_SOCK,
        Some(A::CGROUP_INET_SOCK_CREATE),
    ),
    def(
        "cgroup/sock_release",
        Exact,
        P::CGROUP_SOCK,
        Some(A::CGROUP_INET_SOCK_RELEASE),
    ),
    def(
        "cgroup/sysctl",
        Exact,
        P::CGROUP_SYSCTL,
        Some(A::CGROUP_SYSCTL),
    ),
    btf_target(def("freplace", Plus, P::EXT, None)),
    def(
        "flow_dissector",
        Exact,
        P::FLOW_DISSECTOR,
        Some(A::FLOW_DISSECTOR),
    ),
    def("kprobe", Plus, P::KPROBE, None),
    def("kretprobe", Plus, P::KPROBE, None),
    def("ksyscall", Plus, P::KPROBE, None),
    def("kretsyscall", Plus, P::KPROBE, None),
    def("uprobe", Plus, P::KPROBE, None),
    sleepable(def("uprobe.s", Plus, P::KPROBE, None)),
    def("uretprobe", Plus, P::KPROBE, None),
    sleepable(def("uretprobe.s", Plus, P::KPROBE, None)),
    def("usdt", Plus, P::KPROBE, None),
    sleepable(def("usdt.s", Plus, P::KPROBE, None)),
    def("kprobe.multi", Plus, P::KPROBE, Some(A::TRACE_KPROBE_MULTI)),
    def(
        "kretprobe.multi",
        Plus,
        P::KPROBE,
        Some(A::TRACE_KPROBE_MULTI),
    ),
    def(
        "kprobe.session",
        Plus,
        P::KPROBE,
        Some(A::TRACE_KPROBE_SESSION),
    ),
    def("uprobe.multi", Plus, P::KPROBE, Some(A::TRACE_UPROBE_MULTI)),
    def(
        "uretprobe.multi",
        Plus,
        P::KPROBE,
        Some(A::TRACE_UPROBE_MULTI),
    ),
    sleepable(def(
        "uprobe.multi.s",
        Plus,
        P::KPROBE,
        Some(A::TRACE_UPROBE_MULTI),
    )),
    sleepable(def(
        "uretprobe.multi.s",
        Plus,
        P::KPROBE,
        Some(A::TRACE_UPROBE_MULTI),
    )),
    def(
        "uprobe.session",
        Plus,
        P::KPROBE,
        Some(A::TRACE_UPROBE_SESSION),
    ),
    sleepable(def(
        "uprobe.session.s",
        Plus,
        P::KPROBE,
        Some(A::TRACE_UPROBE_SESSION),
    )),
    def("lirc_mode2", Exact, P::LIRC_MODE2, Some(A::LIRC_MODE2)),
    btf_target(def("lsm_cgroup", Plus, P::LSM, Some(A::LSM_CGROUP))),
    btf_target(def("lsm", Plus, P::LSM, Some(A::LSM_MAC))),
    sleepable(btf_target(def("lsm.s", Plus, P::LSM, Some(A::LSM_MAC)))),
    def("lwt_in", Exact, P::LWT_IN, None),
    def("lwt_out", Exact, P::LWT_OUT, None),
    def("lwt_seg6local", Exact, P::LWT_SEG6LOCAL, None),
    def("lwt_xmit", Exact, P::LWT_XMIT, None),
    def("netfilter", Exact, P::NETFILTER, Some(A::NETFILTER)),
    def("perf_event", Exact, P::PERF_EVENT, None),
    def("raw_tp.w", Plus, P::RAW_TRACEPOINT_WRITABLE, None),
    def("raw_tracepoint.w", Plus, P::RAW_TRACEPOINT_WRITABLE, None),
    def("raw_tp", Plus, P::RAW_TRACEPOINT, None),
    def("raw_tracepoint", Plus, P::RAW_TRACEPOINT, None),
    def("action", Exact, P::SCHED_ACT, None),
    def("classifier", Exact, P::SCHED_CLS, None),
    def("tc", Exact, P::SCHED_CLS, None),
    def(
        "netkit/primary",
        Exact,
        P::SCHED_CLS,
        Some(A::NETKIT_PRIMARY),
    ),
    def("netkit/peer", Exact, P::SCHED_CLS, Some(A::NETKIT_PEER)),
    def("tc/ingress", Exact, P::SCHED_CLS, Some(A::TCX_INGRESS)),
    def("tc/egress", Exact, P::SCHED_CLS, Some(A::TCX_EGRESS)),
    def("tcx/ingress", Exact, P::SCHED_CLS, Some(A::TCX_INGRESS)),
    def("tcx/egress", Exact, P::SCHED_CLS, Some(A::TCX_EGRESS)),
    def("sk_lookup", Exact, P::SK_LOOKUP, Some(A::SK_LOOKUP)),
    def("sk_msg", Exact, P::SK_MSG, Some(A::SK_MSG_VERDICT)),
    def(
        "sk_reuseport/migrate",
        Exact,
        P::SK_REUSEPORT,
        Some(A::SK_REUSEPORT_SELECT_OR_MIGRATE),
    ),
    def(
        "sk_reuseport",
        Exact,
        P::SK_REUSEPORT,
        Some(A::SK_REUSEPORT_SELECT),
    ),
    def("sk_skb", Exact, P::SK_SKB, None),
    def(
        "sk_skb/stream_parser",
        Exact,
        P::SK_SKB,
        Some(A::SK_SKB_STREAM_PARSER),
    ),
    def(
        "sk_skb/stream_verdict",
        Exact,
        P::SK_SKB,
        Some(A::SK_SKB_STREAM_VERDICT),
    ),
    def("sk_skb/verdict", Exact, P::SK_SKB, Some(A::SK_SKB_VERDICT)),
    def("socket", Exact, P::SOCKET_FILTER, None),
    def("sockops", Exact, P::SOCK_OPS, Some(A::CGROUP_SOCK_OPS)),
    btf_target(def("struct_ops", Plus, P::STRUCT_OPS, None)),
    sleepable(btf_target(def("struct_ops.s", Plus, P::STRUCT_OPS, None))),
    sleepable(def("syscall", Exact, P::SYSCALL, None)),
    def("tp", Plus, P::TRACEPOINT, None),
    def("tracepoint", Plus, P::TRACEPOINT, None),
    btf_target(def("fmod_ret", Plus, P::TRACING, Some(A::MODIFY_RETURN))),
    sleepable(btf_target(def(
        "fmod_ret.s",
        Plus,
        P::TRACING,
        Some(A::MODIFY_RETURN),
    ))),
    btf_target(def("fentry", Plus, P::TRACING, Some(A::TRACE_FENTRY))),
    sleepable(btf_target(def(
        "fentry.s",
        Plus,
        P::TRACING,
        Some(A::TRACE_FENTRY),
    ))),
    btf_target(def("fexit", Plus, P::TRACING, Some(A::TRACE_FEXIT))),
    sleepable(btf_target(def(
        "fexit.s",
        Plus,
        P::TRACING,
        Some(A::TRACE_FEXIT),
    ))),
    btf_target(def("iter", Plus, P::TRACING, Some(A::TRACE_ITER))),
    sleepable(btf_target(def(
        "iter.s",
        Plus,
        P::TRACING,
        Some(A::TRACE_ITER),
    ))),
    btf_target(def("tp_btf", Plus, P::TRACING, Some(A::TRACE_RAW_TP))),
    frags(def("xdp.frags/cpumap", Exact, P::XDP, Some(A::XDP_CPUMAP))),
    def("xdp/cpumap", Exact, P::XDP, Some(A::XDP_CPUMAP)),
    frags(def("xdp.frags/devmap", Exact, P::XDP, Some(A::XDP_DEVMAP))),
    def("xdp/devmap", Exact, P::XDP, Some(A::XDP_DEVMAP)),
    frags(def("xdp.frags", Exact, P::XDP, Some(A::XDP))),
    def("xdp", Exact, P::XDP, Some(A::XDP)),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(name: &str) -> (ProgType, Option<AttachType>, &str) {
        let k = parse_section_name(name).unwrap_or_else(|| panic!("{name} not found"));
        (k.def.prog_type, k.def.attach_type, k.extras)
    }

    #[test]
    fn exact_and_plus_entries() {
        assert_eq!(kind("socket"), (P::SOCKET_FILTER, None, ""));
        assert_eq!(kind("xdp"), (P::XDP, Some(A::XDP), ""));
        assert_eq!(
            kind("tracepoint/syscalls/sys_enter_getpid").2,
            "syscalls/sys_enter_getpid"
        );
        assert_eq!(kind("tp/sched/sched_switch").0, P::TRACEPOINT);
        assert_eq!(
            kind("raw_tp/sys_enter"),
            (P::RAW_TRACEPOINT, None, "sys_enter")
        );
        assert_eq!(kind("raw_tp.w/sys_enter").0, P::RAW_TRACEPOINT_WRITABLE);
        assert_eq!(kind("kprobe").0, P::KPROBE);
        assert_eq!(
            kind("tcx/ingress"),
            (P::SCHED_CLS, Some(A::TCX_INGRESS), "")
        );
        assert_eq!(kind("tc"), (P::SCHED_CLS, None, ""));
        assert_eq!(kind("cgroup/connect4").1, Some(A::CGROUP_INET4_CONNECT));
        assert_eq!(kind("iter/task"), (P::TRACING, Some(A::TRACE_ITER), "task"));
    }

    #[test]
    fn exact_entries_refuse_extras() {
        assert!(parse_section_name("socket/foo").is_none());
        assert!(parse_section_name("xdp_prog").is_none());
        assert!(parse_section_name("kprobex").is_none());
        assert!(parse_section_name("").is_none());
        assert!(parse_section_name("?").is_none());
    }

    #[test]
    fn longest_entry_wins() {
        let k = parse_section_name("uprobe.multi.s/bin:fn").unwrap();
        assert_eq!(k.def.name, "uprobe.multi.s");
        assert!(k.def.sleepable);
        assert_eq!(k.extras, "bin:fn");
        let k = parse_section_name("xdp.frags/devmap").unwrap();
        assert_eq!(
            (k.def.attach_type, k.def.xdp_frags),
            (Some(A::XDP_DEVMAP), true)
        );
        let k = parse_section_name("lsm.s/file_open").unwrap();
        assert!(k.def.sleepable && k.def.needs_btf_target);
    }

    #[test]
    fn question_mark_disables_autoload() {
        let k = parse_section_name("?xdp").unwrap();
        assert!(!k.autoload);
        assert_eq!(k.def.prog_type, P::XDP);
        assert!(parse_section_name("xdp").unwrap().autoload);
    }

    #[test]
    fn table_names_are_unique() {
        let mut names: Vec<_> = SECTION_DEFS.iter().map(|d| d.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
    }
}
