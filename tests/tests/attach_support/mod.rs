//! Helpers of the attach tests (`tests/tests/attach_*.rs`): throw-away
//! network namespaces joined by a veth pair, code run inside a namespace
//! (on a thread of its own: `setns` changes only the calling thread), UDP
//! traffic, and C test programs built with `cc`.
#![allow(dead_code)]

use std::fs::File;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Runs `ip args...`, panicking with its output on failure.
pub fn ip(args: &[&str]) {
    run("ip", args);
}

/// Runs `program args...`, panicking with its output on failure.
pub fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {}: {}\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace `oxbpf-<tag>-<pid>` made with `ip netns add`,
/// deleted (with its interfaces and everything attached to them) when
/// dropped.
#[derive(Debug)]
pub struct NetNs {
    pub name: String,
    file: File,
}

impl NetNs {
    pub fn new(tag: &str) -> NetNs {
        let name = format!("oxbpf-{tag}-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        ip(&["netns", "add", &name]);
        let file = File::open(format!("/var/run/netns/{name}"))
            .unwrap_or_else(|e| panic!("/var/run/netns/{name}: {e}"));
        let ns = NetNs { name, file };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// The namespace file, to attach netns programs to.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// `ip -n <ns> args...`.
    pub fn ip(&self, args: &[&str]) {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all);
    }

    /// Runs `f` on a thread that has entered this namespace: sockets it
    /// creates, interface indexes it looks up and attachments it makes
    /// by index or in "the current namespace" belong to this one.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|s| {
            s.spawn(|| {
                rustix::thread::move_into_link_name_space(
                    self.file.as_fd(),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )
                .expect("setns into the test namespace");
                f()
            })
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
        })
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Two namespaces joined by a veth pair: `sender` has `veth-s`
/// 10.77.0.1/24, `receiver` has `veth-r` 10.77.0.2/24. IPv6 is off and
/// each side knows the other's MAC address, so the only packets on the
/// wire are those the test sends.
#[derive(Debug)]
pub struct VethPair {
    pub sender: NetNs,
    pub receiver: NetNs,
}

pub const SENDER_IP: &str = "10.77.0.1";
pub const RECEIVER_IP: &str = "10.77.0.2";
const SENDER_MAC: &str = "02:00:00:77:00:01";
const RECEIVER_MAC: &str = "02:00:00:77:00:02";

impl VethPair {
    pub fn new(tag: &str) -> VethPair {
        let sender = NetNs::new(&format!("{tag}-s"));
        let receiver = NetNs::new(&format!("{tag}-r"));
        sender.ip(&[
            "link",
            "add",
            "veth-s",
            "address",
            SENDER_MAC,
            "type",
            "veth",
            "peer",
            "name",
            "veth-r",
            "address",
            RECEIVER_MAC,
            "netns",
            &receiver.name,
        ]);
        for (ns, dev, addr, peer_ip, peer_mac) in [
            (&sender, "veth-s", SENDER_IP, RECEIVER_IP, RECEIVER_MAC),
            (&receiver, "veth-r", RECEIVER_IP, SENDER_IP, SENDER_MAC),
        ] {
            run(
                "ip",
                &[
                    "netns",
                    "exec",
                    &ns.name,
                    "sysctl",
                    "-q",
                    "-w",
                    &format!("net.ipv6.conf.{dev}.disable_ipv6=1"),
                ],
            );
            ns.ip(&["addr", "add", &format!("{addr}/24"), "dev", dev]);
            ns.ip(&["link", "set", dev, "up"]);
            ns.ip(&[
                "neigh",
                "replace",
                peer_ip,
                "lladdr",
                peer_mac,
                "dev",
                dev,
                "nud",
                "permanent",
            ]);
        }
        VethPair { sender, receiver }
    }

    /// The receiving interface's index, in the receiver's namespace.
    pub fn receiver_ifindex(&self) -> u32 {
        self.receiver
            .run(|| oxbpf::sys::netlink::ifindex("veth-r").expect("veth-r"))
    }
}

/// A UDP socket bound to `addr` in the calling thread's namespace, with a
/// short receive timeout.
pub fn udp_bound(addr: &str) -> UdpSocket {
    let s = UdpSocket::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    s
}

/// Sends `n` datagrams of `payload` to `to` from a socket made in the
/// calling thread's namespace.
pub fn udp_send(to: &str, n: usize, payload: &[u8]) {
    let s = UdpSocket::bind("0.0.0.0:0").unwrap();
    let to: SocketAddr = to.parse().unwrap();
    for _ in 0..n {
        s.send_to(payload, to)
            .unwrap_or_else(|e| panic!("send to {to}: {e}"));
    }
}

/// How many datagrams `s` receives before a read times out.
pub fn udp_drain(s: &UdpSocket) -> usize {
    let mut buf = [0u8; 2048];
    let mut n = 0;
    while s.recv_from(&mut buf).is_ok() {
        n += 1;
    }
    n
}

/// Builds the C program `source` with `cc -O1 -g` into a fresh directory
/// and returns the binary's path (the directory is removed by the
/// returned guard).
pub fn build_c(name: &str, source: &str) -> (PathBuf, TempDir) {
    let dir = TempDir::new(name);
    let src = dir.0.join(format!("{name}.c"));
    std::fs::write(&src, source).unwrap();
    let bin = dir.0.join(name);
    run(
        "cc",
        &[
            "-O1",
            "-g",
            "-o",
            bin.to_str().unwrap(),
            src.to_str().unwrap(),
        ],
    );
    (bin, dir)
}

/// A directory under the system temporary directory, removed when
/// dropped.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("oxbpf-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The `u64` at index `i` of an array map.
pub fn array_u64(map: &oxbpf::Map, i: u32) -> u64 {
    let v = map
        .lookup(&i.to_le_bytes(), 0)
        .unwrap()
        .unwrap_or_else(|| panic!("{}[{i}] missing", map.name()));
    u64::from_le_bytes(v[..8].try_into().unwrap())
}

/// All `u64` values of an array map.
pub fn array_u64s(map: &oxbpf::Map) -> Vec<u64> {
    (0..map.max_entries()).map(|i| array_u64(map, i)).collect()
}

/// Whether every program of `tools` is in `$PATH` and every file of
/// `files` exists. If not, records the test as skipped (see
/// `oxbpf_tests::record_skip`: counted as a skip, never as a pass) and
/// returns `false`: the minimal guests of `cargo xtask vm-test` have no
/// iproute2 and no C compiler.
pub fn have(tools: &[&str], files: &[&str]) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| !std::env::split_paths(&path).any(|d| d.join(t).is_file()))
        .chain(files.iter().copied().filter(|f| !Path::new(f).exists()))
        .collect();
    if missing.is_empty() {
        return true;
    }
    oxbpf_tests::record_skip(&format!("missing {}", missing.join(", ")));
    false
}
