//! Helpers shared by the behaviour tests (`tests/tests/behaviour_*.rs`):
//! packets, map values, per-CPU sums, the calling thread's ids, and a
//! throw-away cgroup v2 directory with a child process run inside it.
//!
//! Each test binary includes this module and uses part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oxbpf::Map;

/// `n` bytes `0, 1, 2, ... (mod 256)`.
pub fn counting_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| i as u8).collect()
}

/// An Ethernet header (destination 02:00:00:00:00:01, source
/// 02:00:00:00:00:02, `ethertype`).
pub fn ethernet(ethertype: u16) -> Vec<u8> {
    let mut p = vec![0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02];
    p.extend_from_slice(&ethertype.to_be_bytes());
    p
}

/// `ethernet(0x0800)` followed by an IPv4 header (no options) of protocol
/// `proto` from `src` to `dst`, and `payload` bytes of `0xEE`. The total
/// length field covers header and payload; the checksum is left 0 (the
/// programs tested do not check it).
pub fn ipv4_packet(proto: u8, src: [u8; 4], dst: [u8; 4], payload: usize) -> Vec<u8> {
    let mut p = ethernet(0x0800);
    let total = u16::try_from(20 + payload).expect("a small packet");
    p.extend_from_slice(&[0x45, 0]);
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0x40, 0, 64, proto, 0, 0]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.resize(p.len() + payload, 0xEE);
    p
}

/// An Ethernet + IPv4 + UDP packet with `payload` bytes of UDP payload
/// (`0xEE`), from 10.0.0.1:1000 to 10.0.0.2:2000. Not sent anywhere:
/// these bytes only feed `BPF_PROG_TEST_RUN`.
pub fn udp_packet(payload: usize) -> Vec<u8> {
    let mut p = ipv4_packet(17, [10, 0, 0, 1], [10, 0, 0, 2], 8 + payload);
    let udp_len = u16::try_from(8 + payload).expect("a small packet");
    p[34..36].copy_from_slice(&1000u16.to_be_bytes());
    p[36..38].copy_from_slice(&2000u16.to_be_bytes());
    p[38..40].copy_from_slice(&udp_len.to_be_bytes());
    p[40..42].copy_from_slice(&[0, 0]);
    p
}

/// The little-endian `u64` at byte `at` of `bytes`.
pub fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

/// The little-endian `i64` at byte `at` of `bytes`.
pub fn i64_at(bytes: &[u8], at: usize) -> i64 {
    i64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

/// The little-endian `u32` at byte `at` of `bytes`.
pub fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

/// The value of the `u32` key `key`, or `None` if absent.
pub fn value_of(map: &Map, key: u32) -> Option<Vec<u8>> {
    map.lookup(&key.to_le_bytes(), 0)
        .unwrap_or_else(|e| panic!("{}[{key}]: {e}", map.name()))
}

/// The `u64` value of the `u32` key `key` (which must exist).
pub fn u64_of(map: &Map, key: u32) -> u64 {
    let v = value_of(map, key).unwrap_or_else(|| panic!("{} has no key {key}", map.name()));
    assert_eq!(v.len(), 8, "{}: value size", map.name());
    u64_at(&v, 0)
}

/// The `u64` values of the array map `map`, keys `0..max_entries`.
pub fn u64_array(map: &Map) -> Vec<u64> {
    (0..map.max_entries()).map(|k| u64_of(map, k)).collect()
}

/// The sum over every possible CPU of a per-CPU `u64` value.
pub fn percpu_u64_sum(map: &Map, key: u32) -> u64 {
    let v = value_of(map, key).unwrap_or_else(|| panic!("{} has no key {key}", map.name()));
    let cpus = oxbpf::sys::possible_cpus().unwrap() as usize;
    assert_eq!(v.len(), 8 * cpus, "{}: one 8-byte slot per CPU", map.name());
    v.chunks_exact(8).map(|c| u64_at(c, 0)).sum()
}

/// Every `(u32 key, value)` of a hash map.
pub fn entries(map: &Map) -> BTreeMap<u32, Vec<u8>> {
    map.keys()
        .map(|k| {
            let k = k.unwrap();
            let v = map.lookup(&k, 0).unwrap().expect("a key just listed");
            (u32_at(&k, 0), v)
        })
        .collect()
}

/// The kernel's id of the calling thread (`gettid()`), the key of the
/// tracing programs' maps.
pub fn tid() -> u32 {
    rustix::thread::gettid().as_raw_nonzero().get() as u32
}

/// The calling process's id, by the system call (not a cached value).
pub fn pid() -> u32 {
    rustix::process::getpid().as_raw_nonzero().get() as u32
}

/// The kernel's errno behind a library error, if a system call failed.
pub fn errno(e: &oxbpf::Error) -> Option<oxbpf::sys::Errno> {
    match e {
        oxbpf::Error::Syscall { source, .. } | oxbpf::Error::Step { source, .. } => source.errno(),
        _ => None,
    }
}

/// The errno of `EPERM`, as a child reports it.
pub fn eperm() -> i64 {
    i64::from(rustix::io::Errno::PERM.raw_os_error())
}

/// Where cgroup v2 is mounted (from `/proc/self/mountinfo`); mounts it if
/// it is nowhere: at `/sys/fs/cgroup/unified` when `/sys/fs/cgroup` holds
/// v1 hierarchies (a tmpfs), else at `/sys/fs/cgroup`.
pub fn cgroup2_root() -> PathBuf {
    let find = || {
        let info = std::fs::read_to_string("/proc/self/mountinfo").expect("/proc/self/mountinfo");
        info.lines().find_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            if right.split(' ').next()? != "cgroup2" {
                return None;
            }
            left.split(' ').nth(4).map(PathBuf::from)
        })
    };
    if let Some(root) = find() {
        return root;
    }
    let base = Path::new("/sys/fs/cgroup");
    let tmpfs = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some("/sys/fs/cgroup") && l.contains(" - tmpfs "));
    let at = if tmpfs {
        base.join("unified")
    } else {
        base.to_path_buf()
    };
    std::fs::create_dir_all(&at).unwrap_or_else(|e| panic!("{}: {e}", at.display()));
    rustix::mount::mount(
        "cgroup2",
        &at,
        "cgroup2",
        rustix::mount::MountFlags::empty(),
        None,
    )
    .unwrap_or_else(|e| panic!("mounting cgroup2 at {}: {e}", at.display()));
    find().expect("cgroup2 mounted")
}

/// A fresh cgroup v2 directory `oxbpf-test-<name>-<pid>` under the
/// cgroup2 root, removed when dropped (which also detaches every program
/// still attached to it). Never the root itself, so that programs
/// attached here see only the children the test puts in it.
#[derive(Debug)]
pub struct TestCgroup {
    path: PathBuf,
    rel: String,
    dir: File,
}

impl TestCgroup {
    /// Creates the directory (removing a leftover of the same name).
    pub fn new(name: &str) -> TestCgroup {
        let root = cgroup2_root();
        let rel = format!("oxbpf-test-{name}-{}", std::process::id());
        let path = root.join(&rel);
        let _ = std::fs::remove_dir(&path);
        std::fs::create_dir(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let dir = File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        TestCgroup {
            path,
            rel: format!("/{rel}"),
            dir,
        }
    }

    /// The open directory, to attach programs to.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.dir.as_fd()
    }

    /// Runs the Perl program `script` in a child process that first moves
    /// itself into this cgroup, with the environment `env`, and returns
    /// the `key=value` lines it printed. Panics if it fails, or if it did
    /// not run inside the cgroup.
    ///
    /// Why a child process, and why Perl: a program attached to a cgroup
    /// acts on every task of it, so the test's own process must stay out
    /// (other tests run in its threads); a child that moves itself in
    /// (`echo $$ > cgroup.procs`, then `exec`) is in the cgroup before it
    /// creates its first socket or opens its first file, and when it
    /// exits the cgroup is empty again and can be removed. The child must
    /// make exact system calls and read what the programs change:
    /// `SO_MARK`, and a `getsockopt` whose returned length differs from
    /// the option's type size. The safe Rust socket APIs (std, rustix)
    /// have no `SO_MARK` getter and reject such a length (rustix panics
    /// with "unexpected getsockopt size"), and the test crates forbid
    /// `unsafe`; Perl (`perl-base`, essential on Debian) makes the raw
    /// calls.
    pub fn run_perl(&self, script: &str, env: &[(&str, String)]) -> ChildReport {
        let prelude = r#"
            use strict; use warnings;
            $| = 1;
            alarm 20;
            sub report { print "$_[0]=$_[1]\n" }
            sub errno_of { my ($ok) = @_; return $ok ? 0 : ($! + 0) }
            open(my $cg, '<', '/proc/self/cgroup') or die "/proc/self/cgroup: $!";
            while (<$cg>) { chomp; report('cgroup', $1) if /^0::(.*)$/ }
            close $cg;
        "#;
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(r#"echo $$ > "$OXBPF_CGROUP/cgroup.procs" || exit 97; exec perl -e "$OXBPF_SCRIPT""#)
            .env("OXBPF_CGROUP", &self.path)
            .env("OXBPF_SCRIPT", format!("{prelude}\n{script}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("running /bin/sh");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "child failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
            out.status
        );
        let report = ChildReport(
            stdout
                .lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        );
        assert_eq!(
            report.get("cgroup"),
            self.rel,
            "the child did not run in the test cgroup"
        );
        report
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        // The last child has exited, but the cgroup may count it as a
        // member for a moment longer (EBUSY).
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match std::fs::remove_dir(&self.path) {
                Ok(()) => return,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
                Err(e) if Instant::now() > deadline => {
                    // Not a panic: this may run while a test unwinds.
                    eprintln!("removing {}: {e}", self.path.display());
                    return;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }
}

/// What a child printed: `key=value` lines.
#[derive(Debug)]
pub struct ChildReport(pub BTreeMap<String, String>);

impl ChildReport {
    /// The value of `key`; panics if the child did not report it.
    pub fn get(&self, key: &str) -> &str {
        self.0
            .get(key)
            .unwrap_or_else(|| panic!("the child did not report {key}: {:?}", self.0))
    }

    /// The value of `key` as a number.
    pub fn num(&self, key: &str) -> i64 {
        let v = self.get(key);
        v.parse()
            .unwrap_or_else(|_| panic!("{key}={v:?} is not a number"))
    }
}
