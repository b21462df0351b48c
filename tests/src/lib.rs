//! Integration tests of oxbpf against the live kernel, and the helpers they
//! share.
//!
//! The BPF objects come from `tests/progs/*.bpf.c`, built by
//! `cargo xtask build-bpf` into `<target>/bpf/`. A test whose object is
//! missing fails with the command to run: a missing build is never a skip.
//!
//! Every test that touches the kernel takes [`kernel_lock`] first, so the
//! tests of one binary run against the kernel one at a time and their fd
//! and kernel-object accounting ([`FdSnapshot`], [`KernelObjects`]) sees
//! only their own work.
//!
//! # Skips
//!
//! A test that needs something not every kernel has (kprobes, fentry,
//! LSM...) starts with [`require!`]`(Feature::X)`. The library's own probe
//! decides ([`oxbpf::sys::probe_prog`]: load and attach a minimal program
//! of that kind), never a kernel version number:
//!
//! - **supported**: the test runs;
//! - **unsupported** (the kernel refuses the kind while a plain socket
//!   filter loads): the test returns early *as a skip*: it prints
//!   `OXBPF-SKIP <feature>: <reason>` and appends
//!   `<binary>\t<test>\t<feature>: <reason>` to the file named by
//!   `$OXBPF_SKIP_LOG`, from which `cargo xtask test` and
//!   `cargo xtask vm-test` count it as skipped, not passed;
//! - **inconclusive** (not even the plain program loads: no root, no
//!   `bpf()`): the test *fails* — a machine that cannot run the suite is
//!   not a machine where everything was skipped;
//! - a feature listed in `$OXBPF_REQUIRE` (comma-separated names, or
//!   `all`) must be supported: there an unsupported answer fails the test.
//!   vm-test sets it per kernel from what that build is known to have, so
//!   a probe that wrongly says "unsupported" cannot hide a whole kernel's
//!   tests.
//!
//! ```no_run
//! use oxbpf_tests::{Feature, require};
//!
//! #[test]
//! fn fentry_counts() {
//!     require!(Feature::Fentry);
//!     // ... load, attach, trigger, check the map
//! }
//! ```
#![forbid(unsafe_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// The directory of built test objects: `$OXBPF_BPF_DIR`, else
/// `$CARGO_TARGET_DIR/bpf`, else `<workspace>/target/bpf`.
pub fn bpf_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("OXBPF_BPF_DIR") {
        return dir.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("bpf")
}

/// Path of the built object `name` (e.g. `"xdp_count"` →
/// `<bpf_dir>/xdp_count.bpf.o`). Panics with the build command if absent.
pub fn object(name: &str) -> PathBuf {
    let path = bpf_dir().join(format!("{name}.bpf.o"));
    assert!(
        path.exists(),
        "{} is missing: run `cargo xtask build-bpf` first",
        path.display()
    );
    path
}

/// Every corpus object built for the host byte order (`<name>.bpf.o`) by
/// the default compiler, and the ones also built by clang-14
/// (`<name>.clang14.bpf.o`). Panics if the directory has none.
pub fn corpus() -> Vec<PathBuf> {
    let dir = bpf_dir();
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}: run `cargo xtask build-bpf` first", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".bpf.o"))
        .collect();
    out.sort();
    assert!(
        !out.is_empty(),
        "no objects in {}: run `cargo xtask build-bpf`",
        dir.display()
    );
    out
}

/// The corpus sources, one name per `tests/progs/*.bpf.c`.
pub fn corpus_sources() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("progs");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("tests/progs exists")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".bpf.c")
                .map(str::to_owned)
        })
        .collect();
    names.sort();
    names
}

static KERNEL: Mutex<()> = Mutex::new(());

/// Serializes the kernel tests of one test binary.
pub fn kernel_lock() -> MutexGuard<'static, ()> {
    // A test that panicked while holding the lock poisons it; the kernel
    // state it guards is still usable.
    KERNEL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The fds open in this process (`/proc/self/fd`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdSnapshot(pub BTreeSet<i32>);

impl FdSnapshot {
    /// Reads `/proc/self/fd`, without the fd the reading itself uses:
    /// its number is the lowest free one, which differs between two
    /// snapshots whenever another thread holds a low fd during one of
    /// them (seen in CI as a "leaked" fd 3 that was already closed).
    pub fn take() -> FdSnapshot {
        let own_dir = PathBuf::from(format!("/proc/{}/fd", std::process::id()));
        let fds = std::fs::read_dir("/proc/self/fd")
            .expect("/proc/self/fd")
            .filter_map(|e| {
                let e = e.ok()?;
                let fd = e.file_name().to_str()?.parse().ok()?;
                // Read while the directory is open: its own fd links to it.
                match std::fs::read_link(e.path()) {
                    Ok(target) if target == own_dir => None,
                    _ => Some(fd),
                }
            })
            .collect();
        FdSnapshot(fds)
    }

    /// Fds open now that were not open at `self` (the directory fd of the
    /// reading itself is never among them).
    pub fn leaked(&self) -> Vec<(i32, String)> {
        FdSnapshot::take()
            .0
            .difference(&self.0)
            .map(|fd| {
                let target = std::fs::read_link(format!("/proc/self/fd/{fd}"))
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                (*fd, target)
            })
            .collect()
    }

    /// Panics if any fd opened since `self` is still open.
    pub fn assert_no_leak(&self, context: &str) {
        let leaked = self.leaked();
        assert!(leaked.is_empty(), "{context}: leaked fds {leaked:?}");
    }
}

/// The ids of the kernel's programs, maps, BTF objects and links.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KernelObjects {
    /// Program ids.
    pub progs: BTreeSet<u32>,
    /// Map ids.
    pub maps: BTreeSet<u32>,
    /// BTF object ids.
    pub btfs: BTreeSet<u32>,
    /// Link ids.
    pub links: BTreeSet<u32>,
}

impl KernelObjects {
    /// Enumerates every id (`BPF_*_GET_NEXT_ID`).
    pub fn take() -> KernelObjects {
        use oxbpf::sys;
        let all = |next: fn(u32) -> sys::Result<Option<u32>>| {
            let mut ids = BTreeSet::new();
            let mut id = 0;
            while let Some(n) = next(id).expect("GET_NEXT_ID") {
                ids.insert(n);
                id = n;
            }
            ids
        };
        KernelObjects {
            progs: all(sys::prog_get_next_id),
            maps: all(sys::map_get_next_id),
            btfs: all(sys::btf_get_next_id),
            links: all(sys::link_get_next_id),
        }
    }

    /// Objects that exist now and did not at `self`.
    pub fn new_since(&self) -> KernelObjects {
        let now = KernelObjects::take();
        let diff = |a: &BTreeSet<u32>, b: &BTreeSet<u32>| a.difference(b).copied().collect();
        KernelObjects {
            progs: diff(&now.progs, &self.progs),
            maps: diff(&now.maps, &self.maps),
            btfs: diff(&now.btfs, &self.btfs),
            links: diff(&now.links, &self.links),
        }
    }

    /// Whether there are no ids at all.
    pub fn is_empty(&self) -> bool {
        self.progs.is_empty()
            && self.maps.is_empty()
            && self.btfs.is_empty()
            && self.links.is_empty()
    }
}

/// Waits until the kernel has released objects freed by closing their last
/// fd (maps and BTF are freed from a workqueue, after an RCU grace period),
/// and returns what is still there that did not exist at `before`.
pub fn settled_new_objects(before: &KernelObjects) -> KernelObjects {
    let mut left = before.new_since();
    for _ in 0..100 {
        if left.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        left = before.new_since();
    }
    left
}

/// Mounts bpffs at `/sys/fs/bpf` unless it is mounted there already.
pub fn ensure_bpffs() {
    oxbpf::sys::mount_bpffs(Path::new("/sys/fs/bpf")).expect("mounting bpffs at /sys/fs/bpf");
}

/// A fresh directory on bpffs for one test, removed (with what is pinned
/// in it) when dropped.
#[derive(Debug)]
pub struct PinDir(pub PathBuf);

impl PinDir {
    /// Creates `/sys/fs/bpf/oxbpf-test-<name>-<pid>`.
    pub fn new(name: &str) -> PinDir {
        ensure_bpffs();
        let dir = PathBuf::from(format!(
            "/sys/fs/bpf/oxbpf-test-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating a bpffs directory");
        PinDir(dir)
    }
}

impl Drop for PinDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Path of the built object `name` of `tests/progs-vm/` (e.g. `"fentry"` →
/// `<bpf_dir>/vm/fentry.bpf.o`): programs this host cannot load, tested on
/// other kernels by `cargo xtask vm-test`. Panics with the build command
/// if absent.
pub fn vm_object(name: &str) -> PathBuf {
    let path = bpf_dir().join("vm").join(format!("{name}.bpf.o"));
    assert!(
        path.exists(),
        "{} is missing: run `cargo xtask build-bpf` first",
        path.display()
    );
    path
}

/// A kernel capability a test may need; [`require`] probes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Feature {
    /// kprobe programs on kprobe perf events.
    Kprobe,
    /// kprobe programs on kretprobe perf events.
    Kretprobe,
    /// kprobe_multi links.
    KprobeMulti,
    /// fentry programs.
    Fentry,
    /// fexit programs.
    Fexit,
    /// fmod_ret programs.
    FmodRet,
    /// BPF LSM programs.
    Lsm,
    /// `BPF_MAP_TYPE_ARENA` maps (Linux 6.9).
    ArenaMaps,
    /// `BPF_MAP_TYPE_BLOOM_FILTER` maps (Linux 5.16).
    BloomMaps,
    /// `BPF_PROG_TYPE_SYSCALL` programs (Linux 5.14).
    SyscallProgs,
    /// The `bpf_loop` helper (Linux 5.17).
    BpfLoop,
    /// The `bpf_throw` kfunc in tc programs: BPF exceptions (Linux 6.7).
    BpfThrow,
    /// The `bpf_task_from_pid` and `bpf_task_release` kfuncs in syscall
    /// programs (Linux 6.2 for the kfunc).
    TaskFromPid,
    /// `BPF_PROG_TEST_RUN` of an XDP program with a `struct xdp_md`
    /// context, metadata before the frame (Linux 5.14).
    XdpTestRunMeta,
    /// `BPF_PROG_TYPE_NETFILTER` programs (Linux 6.4).
    NetfilterProgs,
    /// `BPF_MAP_TYPE_USER_RINGBUF` maps (Linux 6.1).
    UserRingbufMaps,
    /// tcx links (`BPF_TCX_INGRESS`, Linux 6.6).
    TcxLinks,
    /// uprobe_multi links (`BPF_TRACE_UPROBE_MULTI`, Linux 6.6).
    UprobeMulti,
    /// sockmap links (`BPF_LINK_TYPE_SOCKMAP`, Linux 6.10).
    SockmapLinks,
    /// cgroup links placed relative to others (`BPF_F_BEFORE`/`AFTER` in
    /// `BPF_LINK_CREATE` of a cgroup attach type).
    CgroupLinkOrder,
    /// struct_ops maps registered through a link (`BPF_F_LINK`, Linux
    /// 6.4).
    StructOpsLinks,
    /// perf_event links (`BPF_LINK_CREATE` of a perf event, with a
    /// `bpf_cookie`; Linux 5.15). Before them programs are set on perf
    /// events by ioctl, without cookies or link info.
    PerfEventLinks,
    /// fentry/fexit links made by `BPF_LINK_CREATE` with a cookie.
    TracingCookies,
    /// uprobe session links (`BPF_TRACE_UPROBE_SESSION`, Linux 6.13).
    UprobeSession,
    /// The `bpf_get_attach_cookie` helper in kprobe programs (Linux 5.15).
    AttachCookie,
}

/// How a [`Feature`] is probed.
enum How {
    /// A program kind, loaded and attached by the library's probe.
    Prog(oxbpf::sys::ProgProbe),
    /// A map type, created by the library's probe.
    Map(oxbpf::sys::MapType),
    /// A program type, loaded by the library's probe.
    ProgType(oxbpf::sys::ProgType),
    /// A helper, called by a program of this type.
    Helper(oxbpf::sys::ProgType, &'static str),
    /// Kfuncs of vmlinux, called by a program of this type.
    Kfuncs(oxbpf::sys::ProgType, &'static [&'static str]),
    /// A test run of this crate.
    XdpMeta,
    /// A `BPF_LINK_CREATE` of this crate.
    Link,
}

impl Feature {
    /// Every feature.
    pub const ALL: [Feature; 25] = [
        Feature::Kprobe,
        Feature::Kretprobe,
        Feature::KprobeMulti,
        Feature::Fentry,
        Feature::Fexit,
        Feature::FmodRet,
        Feature::Lsm,
        Feature::ArenaMaps,
        Feature::BloomMaps,
        Feature::SyscallProgs,
        Feature::BpfLoop,
        Feature::BpfThrow,
        Feature::TaskFromPid,
        Feature::XdpTestRunMeta,
        Feature::NetfilterProgs,
        Feature::UserRingbufMaps,
        Feature::TcxLinks,
        Feature::UprobeMulti,
        Feature::SockmapLinks,
        Feature::CgroupLinkOrder,
        Feature::StructOpsLinks,
        Feature::PerfEventLinks,
        Feature::TracingCookies,
        Feature::UprobeSession,
        Feature::AttachCookie,
    ];

    /// The library program probe that decides it, for the program kinds
    /// ([`oxbpf::sys::probe_prog`]).
    pub fn prog_probe(self) -> Option<oxbpf::sys::ProgProbe> {
        match self.how() {
            How::Prog(p) => Some(p),
            _ => None,
        }
    }

    fn how(self) -> How {
        use oxbpf::sys::{MapType, ProgProbe as P, ProgType};
        match self {
            Feature::Kprobe => How::Prog(P::Kprobe),
            Feature::Kretprobe => How::Prog(P::Kretprobe),
            Feature::KprobeMulti => How::Prog(P::KprobeMulti),
            Feature::Fentry => How::Prog(P::Fentry),
            Feature::Fexit => How::Prog(P::Fexit),
            Feature::FmodRet => How::Prog(P::FmodRet),
            Feature::Lsm => How::Prog(P::Lsm),
            Feature::ArenaMaps => How::Map(MapType::ARENA),
            Feature::BloomMaps => How::Map(MapType::BLOOM_FILTER),
            Feature::SyscallProgs => How::ProgType(ProgType::SYSCALL),
            Feature::BpfLoop => How::Helper(ProgType::SOCKET_FILTER, "bpf_loop"),
            Feature::AttachCookie => How::Helper(ProgType::KPROBE, "bpf_get_attach_cookie"),
            Feature::BpfThrow => How::Kfuncs(ProgType::SCHED_CLS, &["bpf_throw"]),
            Feature::TaskFromPid => How::Kfuncs(
                ProgType::SYSCALL,
                &["bpf_task_from_pid", "bpf_task_release"],
            ),
            Feature::XdpTestRunMeta => How::XdpMeta,
            Feature::NetfilterProgs => How::ProgType(ProgType::NETFILTER),
            Feature::UserRingbufMaps => How::Map(MapType::USER_RINGBUF),
            Feature::TcxLinks
            | Feature::UprobeMulti
            | Feature::SockmapLinks
            | Feature::CgroupLinkOrder
            | Feature::StructOpsLinks
            | Feature::PerfEventLinks
            | Feature::TracingCookies
            | Feature::UprobeSession => How::Link,
        }
    }

    /// Its name in markers and in `$OXBPF_REQUIRE` (`"fentry"`,
    /// `"arena_maps"`...).
    pub fn name(self) -> &'static str {
        match self.how() {
            How::Prog(p) => p.name(),
            How::Helper(_, h) => h,
            _ => match self {
                Feature::ArenaMaps => "arena_maps",
                Feature::BloomMaps => "bloom_maps",
                Feature::SyscallProgs => "syscall_progs",
                Feature::BpfThrow => "bpf_throw",
                Feature::TaskFromPid => "bpf_task_from_pid",
                Feature::XdpTestRunMeta => "xdp_test_run_meta",
                Feature::NetfilterProgs => "netfilter_progs",
                Feature::UserRingbufMaps => "user_ringbuf_maps",
                Feature::TcxLinks => "tcx_links",
                Feature::UprobeMulti => "uprobe_multi",
                Feature::SockmapLinks => "sockmap_links",
                Feature::CgroupLinkOrder => "cgroup_link_order",
                Feature::StructOpsLinks => "struct_ops_links",
                Feature::PerfEventLinks => "perf_event_links",
                Feature::TracingCookies => "tracing_cookies",
                Feature::UprobeSession => "uprobe_session",
                _ => unreachable!("every other feature is a program kind or a helper"),
            },
        }
    }

    /// The kernel function the probe attaches to: functions that exist
    /// for BPF's own tests (`net/bpf/test_run.c`) and the LSM hook
    /// `file_open`, in every kernel that has the feature at all.
    fn probe_function(self) -> &'static std::ffi::CStr {
        match self {
            Feature::FmodRet => c"bpf_modify_return_test",
            Feature::Lsm => c"bpf_lsm_file_open",
            _ => c"bpf_fentry_test1",
        }
    }
}

/// What [`probe`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probed {
    /// The kernel has it.
    Supported,
    /// The kernel refuses it; the reason.
    Unsupported(String),
    /// The probe could not tell; the reason.
    Inconclusive(String),
}

/// Probes `feature` with the library's probes (program kinds, map and
/// program types; cached per process), or for helpers and kfuncs by
/// loading a program that calls them.
pub fn probe(feature: Feature) -> Probed {
    use oxbpf::sys::ProbeResult;
    let typed = |r: ProbeResult, what: String| match r {
        ProbeResult::Supported => Probed::Supported,
        ProbeResult::Unsupported => Probed::Unsupported(format!(
            "the kernel refuses {what} while a plain one of a basic type works"
        )),
        ProbeResult::Inconclusive(e) => {
            Probed::Inconclusive(format!("probing {what}: {e} (no privileges or no bpf()?)"))
        }
    };
    match feature.how() {
        How::Prog(p) => probe_prog_kind(feature, p),
        How::Map(t) => typed(
            oxbpf::sys::probe_map_type(t),
            format!("the simplest map of type {t}"),
        ),
        How::ProgType(t) => typed(
            oxbpf::sys::probe_prog_type(t),
            format!("the simplest program of type {t}"),
        ),
        How::Helper(t, h) => probe_helper(t, h),
        How::Kfuncs(t, names) => probe_kfuncs(t, names),
        How::XdpMeta => probe_xdp_meta(),
        How::Link => probe_link(feature),
    }
}

/// BTF with one type, `[1] int` (4 bytes, signed).
fn int_btf() -> Vec<u8> {
    let strings = b"\0int\0";
    let types: [u32; 4] = [1, 1 << 24, 4, (1 << 24) | 32];
    let header: [u32; 5] = [24, 0, 16, 16, strings.len() as u32];
    let mut out = Vec::new();
    out.extend_from_slice(&0xeb9f_u16.to_ne_bytes());
    out.extend_from_slice(&[1, 0]);
    for w in header.into_iter().chain(types) {
        out.extend_from_slice(&w.to_ne_bytes());
    }
    out.extend_from_slice(strings);
    out
}

/// Where cgroup2 is mounted, if it is.
fn cgroup2_mount() -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mounts.lines().find_map(|l| {
        let mut w = l.split(' ');
        let (_, at, fs) = (w.next()?, w.next()?, w.next()?);
        (fs == "cgroup2").then(|| PathBuf::from(at))
    })
}

/// Creates the simplest link of the kind `feature` names, detached at
/// once. The kernel answers `EINVAL` for an attach type or flag it does
/// not know (unsupported); any other failure is inconclusive. The
/// uprobe_multi probe names a file that does not exist: a kernel with
/// such links looks for it (`ENOENT`).
fn probe_link(feature: Feature) -> Probed {
    use oxbpf::asm::Insn;
    use oxbpf::sys::{
        AttachType, Errno, LinkCreatePerfEvent, LinkCreateRelative, LinkCreateTracing, LinkTail,
        LinkTarget, MapCreateAttr, MapType, ProgLoadOptions, ProgType, VerifierLog,
    };
    use std::os::fd::AsFd;
    if let Err(why) = baseline() {
        return Probed::Inconclusive(why);
    }
    let load = |t: ProgType, attach: AttachType, ret: i32| {
        let insns = [Insn::mov64_imm(0, ret), Insn::exit()];
        let mut opts = ProgLoadOptions::new(t, &insns, c"GPL");
        opts.name = "oxbpf_probe";
        opts.expected_attach_type = attach;
        oxbpf::sys::prog_load(&opts, &mut VerifierLog::new())
    };
    let unsupported = |what: &str, e: &oxbpf::sys::Error| {
        Probed::Unsupported(format!("the kernel refuses {what}: {e}"))
    };
    let judge = |what: &str, r: oxbpf::sys::Result<()>, ok_errno: Option<Errno>| match r {
        Ok(()) => Probed::Supported,
        Err(e) if e.errno().is_some() && e.errno() == ok_errno => Probed::Supported,
        Err(e) if e.errno() == Some(Errno::INVAL) => unsupported(what, &e),
        Err(e) => Probed::Inconclusive(format!("{what}: {e}")),
    };
    match feature {
        Feature::TcxLinks => {
            let what = "a tcx_ingress link on the loopback interface";
            let r = load(ProgType::SCHED_CLS, AttachType::TCX_INGRESS, -1).and_then(|p| {
                oxbpf::sys::link_create(
                    &p,
                    LinkTarget::Ifindex(1),
                    AttachType::TCX_INGRESS,
                    0,
                    &LinkTail::Tcx(LinkCreateRelative::default()),
                )
                .map(drop)
            });
            judge(what, r, None)
        }
        Feature::UprobeMulti | Feature::UprobeSession => {
            let (what, attach) = if feature == Feature::UprobeMulti {
                ("a trace_uprobe_multi link", AttachType::TRACE_UPROBE_MULTI)
            } else {
                (
                    "a trace_uprobe_session link",
                    AttachType::TRACE_UPROBE_SESSION,
                )
            };
            let r = load(ProgType::KPROBE, attach, 0).and_then(|p| {
                let tail = LinkTail::UprobeMulti {
                    path: c"/oxbpf-probe-no-such-file",
                    offsets: &[0x1000],
                    ref_ctr_offsets: &[],
                    cookies: &[],
                    flags: 0,
                    pid: 0,
                };
                oxbpf::sys::link_create(&p, LinkTarget::None, attach, 0, &tail).map(drop)
            });
            judge(what, r, Some(Errno::NOENT))
        }
        Feature::SockmapLinks => {
            let what = "a sk_skb_stream_verdict link on a sockmap";
            let attach = AttachType::SK_SKB_STREAM_VERDICT;
            let r = oxbpf::sys::map_create(&MapCreateAttr::new(MapType::SOCKMAP, 4, 4, 1))
                .and_then(|map| {
                    let p = load(ProgType::SK_SKB, attach, 1)?;
                    oxbpf::sys::link_create(
                        &p,
                        LinkTarget::Fd(map.as_fd()),
                        attach,
                        0,
                        &LinkTail::None,
                    )
                    .map(drop)
                });
            judge(what, r, None)
        }
        Feature::CgroupLinkOrder => {
            let what = "a cgroup_device link with BPF_F_BEFORE";
            let Some(root) = cgroup2_mount() else {
                return Probed::Inconclusive("no cgroup2 mount in /proc/self/mounts".into());
            };
            let dir = root.join(format!("oxbpf-probe-{}", std::process::id()));
            let cg = match std::fs::create_dir_all(&dir).and_then(|()| std::fs::File::open(&dir)) {
                Ok(cg) => cg,
                Err(e) => return Probed::Inconclusive(format!("{}: {e}", dir.display())),
            };
            // r0 = 1: allow every device (the cgroup is empty).
            let r = load(ProgType::CGROUP_DEVICE, AttachType::CGROUP_DEVICE, 1).and_then(|p| {
                oxbpf::sys::link_create(
                    &p,
                    LinkTarget::Fd(cg.as_fd()),
                    AttachType::CGROUP_DEVICE,
                    oxbpf::sys::F_BEFORE,
                    &LinkTail::Cgroup(LinkCreateRelative::default()),
                )
                .map(drop)
            });
            drop(cg);
            let _ = std::fs::remove_dir(&dir);
            judge(what, r, None)
        }
        Feature::StructOpsLinks => {
            // A tcp_congestion_ops map (value type from vmlinux BTF) with
            // BPF_F_LINK: created, not registered.
            let what = "a struct_ops map with BPF_F_LINK";
            let value = "bpf_struct_ops_tcp_congestion_ops";
            let btf = match oxbpf::btf::Btf::from_file(Path::new(oxbpf::VMLINUX_BTF)) {
                Ok(btf) => btf,
                Err(e) => return Probed::Inconclusive(format!("{}: {e}", oxbpf::VMLINUX_BTF)),
            };
            let found = btf
                .find_by_name_kind(value, oxbpf::btf::Kind::Struct)
                .map_err(|e| e.to_string())
                .and_then(|id| {
                    let id = id.ok_or_else(|| format!("vmlinux BTF has no struct {value}"))?;
                    let size = btf.resolve_size(id).map_err(|e| e.to_string())?;
                    Ok((id.0, size))
                });
            let (id, size) = match found {
                Ok(found) => found,
                Err(e) => return Probed::Inconclusive(e),
            };
            const F_LINK: u32 = 1 << 13;
            // The kernel wants the object's BTF too (any BTF will do).
            let obj_btf = match oxbpf::sys::btf_load(&int_btf(), &mut VerifierLog::new()) {
                Ok(b) => b,
                Err(e) => return Probed::Inconclusive(format!("loading a BTF of one int: {e}")),
            };
            let mut plain = MapCreateAttr::new(MapType::STRUCT_OPS, 4, size, 1);
            plain.btf_vmlinux_value_type_id = id;
            plain.btf_fd = std::os::fd::AsRawFd::as_raw_fd(&obj_btf) as u32;
            let mut attr = plain;
            attr.map_flags = F_LINK;
            match oxbpf::sys::map_create(&attr) {
                Ok(_) => Probed::Supported,
                // The same map without the flag must work, or the refusal
                // says nothing about links.
                Err(e) if e.errno() == Some(Errno::INVAL) => match oxbpf::sys::map_create(&plain) {
                    Ok(_) => unsupported(what, &e),
                    Err(p) => {
                        Probed::Inconclusive(format!("{what}: {e}, and without the flag: {p}"))
                    }
                },
                Err(e) => Probed::Inconclusive(format!("{what}: {e}")),
            }
        }
        Feature::PerfEventLinks => {
            let what = "a perf_event link with a cookie on a software event";
            let r = load(ProgType::PERF_EVENT, AttachType(0), 0).and_then(|p| {
                // This thread's task clock, sampled every second.
                let event = oxbpf::sys::perf_event_open_software(
                    oxbpf::sys::sw::TASK_CLOCK,
                    1 << 30,
                    0,
                    -1,
                )?;
                oxbpf::sys::link_create(
                    &p,
                    LinkTarget::Fd(event.as_fd()),
                    AttachType::PERF_EVENT,
                    0,
                    &LinkTail::PerfEvent(LinkCreatePerfEvent { bpf_cookie: 1 }),
                )
                .map(drop)
            });
            judge(what, r, None)
        }
        Feature::TracingCookies => {
            let what = "an fentry link with a cookie";
            let func = c"bpf_fentry_test1";
            let btf_id = match vmlinux_func_id(func) {
                Ok(Some(id)) => id,
                Ok(None) => {
                    return Probed::Unsupported("vmlinux BTF has no bpf_fentry_test1".into());
                }
                Err(e) => return Probed::Inconclusive(e),
            };
            let insns = [Insn::mov64_imm(0, 0), Insn::exit()];
            let mut opts = ProgLoadOptions::new(ProgType::TRACING, &insns, c"GPL");
            opts.name = "oxbpf_probe";
            opts.expected_attach_type = AttachType::TRACE_FENTRY;
            opts.attach_btf_id = btf_id;
            let prog = match oxbpf::sys::prog_load(&opts, &mut VerifierLog::new()) {
                Ok(p) => p,
                Err(e) => {
                    return Probed::Unsupported(format!("fentry programs do not load: {e}"));
                }
            };
            let mut tail = LinkCreateTracing::default();
            tail.cookie = 1;
            let r = oxbpf::sys::link_create(
                &prog,
                LinkTarget::None,
                AttachType::TRACE_FENTRY,
                0,
                &LinkTail::Tracing(tail),
            )
            .map(drop);
            judge(what, r, None)
        }
        _ => unreachable!("not a link feature"),
    }
}

/// Test-runs `r0 = XDP_PASS; exit` on a 14-byte frame behind 4 bytes of
/// metadata (`struct xdp_md` as ctx_in: data 4, data_end 18).
fn probe_xdp_meta() -> Probed {
    use oxbpf::asm::Insn;
    use oxbpf::sys::{ProgLoadOptions, ProgType, TestRunOptions, VerifierLog};
    let insns = [Insn::mov64_imm(0, 2), Insn::exit()];
    let opts = ProgLoadOptions::new(ProgType::XDP, &insns, c"GPL");
    let prog = match oxbpf::sys::prog_load(&opts, &mut VerifierLog::new()) {
        Ok(p) => p,
        Err(e) => return Probed::Inconclusive(format!("a plain XDP program does not load: {e}")),
    };
    let mut ctx = [0u8; 24];
    ctx[..4].copy_from_slice(&4u32.to_ne_bytes());
    ctx[4..8].copy_from_slice(&18u32.to_ne_bytes());
    let mut run = TestRunOptions::new(&[0u8; 18], 64);
    run.ctx_in = &ctx;
    match oxbpf::sys::prog_test_run(&prog, &run) {
        Ok(out) if out.retval == 2 => Probed::Supported,
        Ok(out) => Probed::Inconclusive(format!("the probe returned {}, not XDP_PASS", out.retval)),
        Err(e) if e.errno() == Some(oxbpf::sys::Errno::INVAL) => Probed::Unsupported(format!(
            "the kernel refuses a struct xdp_md context with metadata in an XDP test run: {e}"
        )),
        Err(e) => Probed::Inconclusive(format!("an XDP test run with a context: {e}")),
    }
}

fn probe_prog_kind(feature: Feature, kind: oxbpf::sys::ProgProbe) -> Probed {
    let func = feature.probe_function();
    let btf_id = if kind.needs_btf_id() {
        match vmlinux_func_id(func) {
            Ok(Some(id)) => id,
            Ok(None) => {
                return Probed::Unsupported(format!(
                    "vmlinux BTF has no function {}",
                    func.to_string_lossy()
                ));
            }
            Err(e) => {
                return Probed::Inconclusive(format!("cannot read {}: {e}", oxbpf::VMLINUX_BTF));
            }
        }
    } else {
        0
    };
    let report = oxbpf::sys::probe_prog(kind, &oxbpf::sys::ProbeTarget::function(func, btf_id));
    match report.result {
        oxbpf::sys::ProbeResult::Supported => Probed::Supported,
        oxbpf::sys::ProbeResult::Unsupported => Probed::Unsupported(report.detail),
        oxbpf::sys::ProbeResult::Inconclusive(_) => Probed::Inconclusive(report.detail),
    }
}

/// Whether a plain socket filter loads: without it no refusal means
/// anything.
fn baseline() -> Result<(), String> {
    use oxbpf::sys::ProbeResult;
    match oxbpf::sys::probe_prog_type(oxbpf::sys::ProgType::SOCKET_FILTER) {
        ProbeResult::Supported => Ok(()),
        r => Err(format!(
            "even a plain socket filter does not load ({r:?}): no privileges or no bpf()"
        )),
    }
}

/// Loads `insns` as a program of type `t` (sleepable for syscall
/// programs); `Err` holds the error and the verifier's log.
fn try_load(t: oxbpf::sys::ProgType, insns: &[oxbpf::asm::Insn]) -> Result<(), (String, String)> {
    use oxbpf::sys::{ProgLoadOptions, ProgType, VerifierLog};
    let mut opts = ProgLoadOptions::new(t, insns, c"GPL");
    opts.name = "oxbpf_probe";
    if t == ProgType::SYSCALL {
        opts.prog_flags = 1 << 4; // BPF_F_SLEEPABLE: syscall programs must be
    }
    let mut log = VerifierLog::new();
    oxbpf::sys::prog_load(&opts, &mut log)
        .map(drop)
        .map_err(|e| (e.to_string(), log.text().to_string()))
}

/// Calls helper `name` with zero arguments from a socket filter. The
/// verifier names a helper it does not know (`invalid func` or `unknown
/// func`) before it looks at the arguments: any other refusal (the zeros
/// are no callback) means the helper exists.
fn probe_helper(t: oxbpf::sys::ProgType, name: &str) -> Probed {
    if let Err(why) = baseline() {
        return Probed::Inconclusive(why);
    }
    let Some(id) = oxbpf::asm::helper_id(name) else {
        return Probed::Inconclusive(format!("this library has no number for helper {name}"));
    };
    probe_helper_number(t, name, id)
}

fn probe_helper_number(t: oxbpf::sys::ProgType, name: &str, id: i32) -> Probed {
    use oxbpf::asm::Insn;
    let mut insns: Vec<Insn> = (1..=5).map(|r| Insn::mov64_imm(r, 0)).collect();
    insns.extend([Insn::call_helper(id), Insn::mov64_imm(0, 0), Insn::exit()]);
    match try_load(t, &insns) {
        Ok(()) => Probed::Supported,
        Err((_, log)) if log.contains("invalid func ") || log.contains("unknown func ") => {
            Probed::Unsupported(format!(
                "the verifier does not know helper {name} (#{id}): {}",
                last_line(&log)
            ))
        }
        Err((e, log)) if log.is_empty() => Probed::Inconclusive(format!(
            "a program calling {name} was refused without a log: {e}"
        )),
        Err(_) => Probed::Supported,
    }
}

/// Calls the kfuncs `names` of vmlinux from a program of type `t`: the
/// first with `r1 = 1`, each next one with the previous result (an
/// acquire/release pair such as `bpf_task_from_pid`/`bpf_task_release`),
/// skipped when that result is NULL. Unsupported when vmlinux BTF has no
/// such function or the verifier refuses the call ("not allowed", "not
/// supported"); any other refusal is a wrong probe (inconclusive), not a
/// missing feature.
fn probe_kfuncs(t: oxbpf::sys::ProgType, names: &[&str]) -> Probed {
    use oxbpf::asm::Insn;
    use oxbpf::asm::opcode::jmp;
    if let Err(why) = baseline() {
        return Probed::Inconclusive(why);
    }
    let btf = match oxbpf::btf::Btf::from_file(Path::new(oxbpf::VMLINUX_BTF)) {
        Ok(btf) => btf,
        Err(e) => {
            return Probed::Inconclusive(format!("cannot read {}: {e}", oxbpf::VMLINUX_BTF));
        }
    };
    let mut insns = vec![Insn::mov64_imm(1, 1)];
    for (i, name) in names.iter().enumerate() {
        let id = match btf.find_by_name_kind(name, oxbpf::btf::Kind::Func) {
            Ok(Some(id)) => id.0,
            Ok(None) => {
                return Probed::Unsupported(format!("vmlinux BTF has no function {name}"));
            }
            Err(e) => return Probed::Inconclusive(format!("looking up {name}: {e}")),
        };
        if i > 0 {
            // if r0 == NULL skip the rest (3 instructions per kfunc).
            let rest = 3 * (names.len() - i) as i16 - 1;
            insns.push(Insn::jmp_imm(jmp::JEQ, 0, 0, rest));
            insns.push(Insn::mov64_reg(1, 0));
        }
        insns.push(Insn::call_kfunc(id as i32, 0));
    }
    insns.extend([Insn::mov64_imm(0, 0), Insn::exit()]);
    let what = names.join(", ");
    match try_load(t, &insns) {
        Ok(()) => Probed::Supported,
        Err((e, log)) if log.contains("not allowed") || log.contains("not supported") => {
            Probed::Unsupported(format!(
                "the verifier refuses calls of {what} from {t} programs ({e}): {}",
                last_line(&log)
            ))
        }
        Err((e, log)) => Probed::Inconclusive(format!(
            "a {t} program calling {what} was refused ({e}), not as a missing kfunc: {}",
            last_line(&log)
        )),
    }
}

fn last_line(log: &str) -> &str {
    log.lines()
        .rev()
        .find(|l| !l.trim().is_empty() && !l.starts_with("processed "))
        .unwrap_or("")
}

fn vmlinux_func_id(name: &std::ffi::CStr) -> Result<Option<u32>, String> {
    let btf =
        oxbpf::btf::Btf::from_file(Path::new(oxbpf::VMLINUX_BTF)).map_err(|e| e.to_string())?;
    let name = name.to_str().map_err(|e| e.to_string())?;
    btf.find_by_name_kind(name, oxbpf::btf::Kind::Func)
        .map(|id| id.map(|id| id.0))
        .map_err(|e| e.to_string())
}

/// The features a corpus object (`tests/progs/<name>.bpf.c`, any
/// compiler's build) needs beyond what every kernel of vm-test (5.10 and
/// later) has: its map and program types, helpers and kfuncs.
pub fn corpus_needs(object: &Path) -> &'static [Feature] {
    let file = object
        .file_name()
        .map(|f| f.to_string_lossy())
        .unwrap_or_default();
    let name = file.split('.').next().unwrap_or("");
    match name {
        "arena" => &[Feature::ArenaMaps, Feature::SyscallProgs],
        "exceptions" => &[Feature::BpfThrow],
        "externs" => &[Feature::SyscallProgs, Feature::TaskFromPid],
        "maps_btf" => &[Feature::BloomMaps],
        "netfilter" => &[Feature::NetfilterProgs],
        "ringbuf" => &[Feature::SyscallProgs],
        "subprogs" => &[Feature::SyscallProgs, Feature::BpfLoop],
        "uprobe_kinds" => &[Feature::AttachCookie],
        "struct_ops" => &[Feature::StructOpsLinks],
        "syscall" => &[Feature::SyscallProgs],
        "user_ringbuf" => &[Feature::UserRingbufMaps, Feature::SyscallProgs],
        _ => &[],
    }
}

/// The first feature of [`corpus_needs`] the kernel lacks, with the
/// probe's reason; `None` when the kernel has them all. Panics if a probe
/// is inconclusive.
pub fn corpus_missing(object: &Path) -> Option<String> {
    corpus_needs(object).iter().find_map(|&f| match probe(f) {
        Probed::Supported => None,
        Probed::Unsupported(why) => Some(format!("{}: {why}", f.name())),
        Probed::Inconclusive(why) => panic!("probing {}: {why}", f.name()),
    })
}

/// Whether a failed load of corpus object `object` is excused on this
/// kernel, and why: the loader found (by probing) a kind of map or program
/// the kernel lacks ([`oxbpf::Error::KernelLacks`]), or a feature the
/// object needs ([`corpus_needs`]) probes unsupported. Any other failure
/// is `None`: the test must fail.
pub fn excused_load_failure(object: &Path, err: &oxbpf::Error) -> Option<String> {
    if let oxbpf::Error::KernelLacks { feature, .. } = err {
        return Some(format!("the kernel lacks {feature}"));
    }
    corpus_missing(object)
}

/// Whether the running kernel's `struct name` (vmlinux BTF) has a member
/// `member`: whether it fills a field of a UAPI struct it reports
/// (`bpf_prog_info.attach_btf_id` came in 5.15). Panics if the BTF cannot
/// be read.
pub fn kernel_struct_has(name: &str, member: &str) -> bool {
    use oxbpf::btf::{Btf, Kind, Type};
    let btf = Btf::from_file(Path::new(oxbpf::VMLINUX_BTF)).expect("vmlinux BTF");
    let Some(id) = btf
        .find_by_name_kind(name, Kind::Struct)
        .expect("vmlinux BTF")
    else {
        return false;
    };
    let Ok(Type::Struct(s)) = btf.type_by_id(id) else {
        return false;
    };
    s.members()
        .any(|m| btf.string_at(m.name_off).is_ok_and(|n| n == member))
}

/// Checks a program's attachment to a perf event (kprobe, uprobe,
/// tracepoint, perf counter): a perf_event link where the kernel has them
/// ([`Feature::PerfEventLinks`]), else the program set by ioctl — no link,
/// no link info.
pub fn assert_perf_event_attachment(link: &oxbpf::Link) {
    match probe(Feature::PerfEventLinks) {
        Probed::Supported => {
            let info = link.info().expect("perf_event link info");
            assert_eq!(info.link_type(), oxbpf::sys::LinkType::PERF_EVENT);
        }
        Probed::Unsupported(_) => {
            assert!(link.link_fd().is_none(), "a link on a kernel without them");
            assert!(link.info().is_err(), "link info without a link");
        }
        Probed::Inconclusive(why) => panic!("perf_event link probe: {why}"),
    }
}

/// Whether `$OXBPF_REQUIRE` (comma-separated feature names, or `all`)
/// lists `feature`.
pub fn required_by_environment(feature: Feature) -> bool {
    std::env::var("OXBPF_REQUIRE").is_ok_and(|list| requirement_lists(&list, feature))
}

fn requirement_lists(list: &str, feature: Feature) -> bool {
    list.split(',')
        .map(str::trim)
        .any(|w| w == "all" || w == feature.name())
}

/// The name of the running test: libtest names each test's thread after
/// the test.
pub fn current_test_name() -> String {
    std::thread::current()
        .name()
        .filter(|n| *n != "main")
        .unwrap_or("?")
        .to_string()
}

/// Records that the running test is skipped because of `reason`: prints
/// `OXBPF-SKIP <reason>` and appends a line to `$OXBPF_SKIP_LOG` (see the
/// crate docs).
pub fn record_skip(reason: &str) {
    let reason = reason.replace(['\n', '\t'], " ");
    let test = current_test_name();
    println!("OXBPF-SKIP {reason}");
    eprintln!("OXBPF-SKIP {test}: {reason}");
    let Some(log) = std::env::var_os("OXBPF_SKIP_LOG") else {
        return;
    };
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "?".into());
    let line = format!("{binary}\t{test}\t{reason}\n");
    use std::io::Write;
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    // A skip that cannot be recorded would count as a pass.
    if let Err(e) = written {
        panic!(
            "cannot record the skip in {}: {e}",
            PathBuf::from(log).display()
        );
    }
}

/// Whether the test may go on: `true` if the kernel has `feature`.
/// `false` after recording a skip when the kernel refuses it (the caller
/// returns at once: [`require!`] does both). Panics — the test fails —
/// when the probe is inconclusive or `$OXBPF_REQUIRE` lists the feature.
pub fn require(feature: Feature) -> bool {
    match probe_locked(feature) {
        Probed::Supported => true,
        Probed::Unsupported(why) if required_by_environment(feature) => panic!(
            "{} is required here ($OXBPF_REQUIRE) but the kernel refuses it: {why}",
            feature.name()
        ),
        Probed::Unsupported(why) => {
            record_skip(&format!("{}: {why}", feature.name()));
            false
        }
        Probed::Inconclusive(why) => panic!(
            "cannot tell whether the kernel supports {}: {why}",
            feature.name()
        ),
    }
}

/// [`probe`] with the answer cached per process, probing (once) under
/// [`kernel_lock`]: the probes create and close kernel objects, which a
/// test of the same binary holding the lock must not see appear. Callers
/// must not hold the lock (`require!` comes first in a test).
fn probe_locked(feature: Feature) -> Probed {
    static CACHE: Mutex<Vec<(Feature, Probed)>> = Mutex::new(Vec::new());
    let cached = |c: &Vec<(Feature, Probed)>| {
        c.iter()
            .find(|(f, _)| *f == feature)
            .map(|(_, r)| r.clone())
    };
    if let Some(r) = cached(&CACHE.lock().unwrap_or_else(|e| e.into_inner())) {
        return r;
    }
    let r = {
        let _k = kernel_lock();
        probe(feature)
    };
    if !matches!(r, Probed::Inconclusive(_)) {
        CACHE
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((feature, r.clone()));
    }
    r
}

/// `require!(Feature::X)`: returns from the calling test, as a recorded
/// skip, unless the kernel has feature `X` (see [`require`]).
#[macro_export]
macro_rules! require {
    ($($feature:expr),+ $(,)?) => {
        $(
            if !$crate::require($feature) {
                return;
            }
        )+
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_never_counts_its_own_directory_fd() {
        // The snapshot reads through the lowest free number, and closes it:
        // the next file opened takes that number, which must not be listed.
        use std::os::fd::AsRawFd;
        let snapshot = FdSnapshot::take();
        let next = std::fs::File::open("/proc/self/status").unwrap();
        assert!(
            !snapshot.0.contains(&next.as_raw_fd()),
            "{:?} lists fd {}",
            snapshot.0,
            next.as_raw_fd()
        );
    }

    #[test]
    fn requirement_lists_parse() {
        assert!(requirement_lists("all", Feature::Lsm));
        assert!(requirement_lists("kprobe, fentry", Feature::Fentry));
        assert!(!requirement_lists("kprobe,fentry", Feature::Fexit));
        assert!(!requirement_lists("", Feature::Kprobe));
        assert!(!requirement_lists("kprobes", Feature::Kprobe));
    }

    #[test]
    fn the_test_thread_is_named_after_the_test() {
        assert_eq!(
            current_test_name(),
            "tests::the_test_thread_is_named_after_the_test"
        );
    }

    /// Every probe gives an answer on the kernel it runs on (the host, and
    /// each kernel of vm-test): a probe program the verifier refuses for a
    /// reason other than the missing feature would otherwise read as
    /// "unsupported" and skip the tests that need it.
    #[test]
    fn every_probe_is_conclusive() {
        let _k = kernel_lock();
        for f in Feature::ALL {
            let r = probe(f);
            assert!(!matches!(r, Probed::Inconclusive(_)), "{}: {r:?}", f.name());
            println!("{}: {r:?}", f.name());
        }
    }

    /// The refusals the probes read as "missing" are the ones a kernel
    /// without the helper or kfunc gives: made here with a helper number
    /// no kernel has and a kfunc called from a program type that may not.
    #[test]
    fn missing_helpers_and_kfuncs_are_unsupported() {
        let _k = kernel_lock();
        let r = probe_helper_number(
            oxbpf::sys::ProgType::SOCKET_FILTER,
            "no_such_helper",
            100_000,
        );
        assert!(matches!(r, Probed::Unsupported(_)), "{r:?}");
        let r = probe_kfuncs(oxbpf::sys::ProgType::SOCKET_FILTER, &["bpf_throw"]);
        assert!(matches!(r, Probed::Unsupported(_)), "{r:?}");
        let r = probe_kfuncs(oxbpf::sys::ProgType::SYSCALL, &["oxbpf_no_such_kfunc"]);
        assert!(matches!(r, Probed::Unsupported(_)), "{r:?}");
    }

    #[test]
    fn struct_members_of_the_kernel_are_found() {
        assert!(kernel_struct_has("bpf_prog_info", "xlated_prog_len"));
        assert!(!kernel_struct_has("bpf_prog_info", "oxbpf_no_such_member"));
        assert!(!kernel_struct_has("oxbpf_no_such_struct", "id"));
    }

    #[test]
    fn feature_names_are_distinct() {
        let mut names: Vec<_> = Feature::ALL.iter().map(|f| f.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Feature::ALL.len());
    }
}
