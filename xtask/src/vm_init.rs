//! The guest half of vm-test: `/init` of the initramfs (binary
//! `oxbpf-vm-init`, statically linked), and the console markers it
//! prints, which the host half ([`crate::vm`]) parses.
//!
//! As PID 1 it mounts proc, sys, devtmpfs, bpffs, tracefs, debugfs,
//! cgroup2 (at `/sys/fs/cgroup`) and securityfs, brings up the loopback interface (a
//! netlink `RTM_NEWLINK`), loads the modules listed in its configuration
//! in order (`finit_module`), runs every test binary with
//! `--test-threads=1` and prints one marker per test, then powers off.
//! Skips come from the file `$OXBPF_SKIP_LOG` that the tests' `require!`
//! writes (see `oxbpf-tests`).
//!
//! Markers (one per line; the host finds them anywhere in a line, since
//! the kernel's own console messages may precede them):
//!
//! ```text
//! OXBPF-VM-ALIVE <kernel>
//! OXBPF-VM-MODULE <kernel> <module> ok|FAILED <error>
//! OXBPF-VM-RESULT <kernel> <binary> <test> ok|FAILED|ignored|skipped
//! OXBPF-VM-SKIP <kernel> <binary> <test> <reason>
//! OXBPF-VM-EXIT <kernel> <binary> <exit status>
//! OXBPF-VM-DONE <kernel>
//! ```
//!
//! ```
//! use oxbpf_xtask::vm_init::{Config, Marker};
//!
//! let conf = Config::parse("kernel 6.1\nbinary oxbpf-tests:load_corpus /oxbpf/bin/load_corpus-1\n").unwrap();
//! assert_eq!(conf.kernel, "6.1");
//! let m = Marker::parse("[  3.1] OXBPF-VM-RESULT 6.1 oxbpf-tests:load_corpus every_object_loads ok");
//! assert!(matches!(m, Some(Marker::Result { ref outcome, .. }) if outcome == "ok"));
//! ```

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::Error;

/// Where the host puts the configuration in the initramfs.
pub const CONFIG_PATH: &str = "/oxbpf/vm.conf";

/// Where the tests' skip records go inside the guest.
pub const SKIP_LOG: &str = "/tmp/oxbpf-skips";

/// What `/init` is told to do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// The kernel's name in the matrix (for the markers).
    pub kernel: String,
    /// `(label, path)` of each test binary, in order.
    pub binaries: Vec<(String, String)>,
    /// Modules to load, in order.
    pub modules: Vec<String>,
    /// Environment of the test binaries.
    pub env: Vec<(String, String)>,
    /// Filters: a binary whose label contains one runs whole; in the
    /// others, a test runs if its name contains one.
    pub filters: Vec<String>,
}

impl Config {
    /// Reads the line format: `kernel NAME`, `binary LABEL PATH`,
    /// `module PATH`, `env KEY=VALUE`, `filter PATTERN`.
    pub fn parse(text: &str) -> Result<Config, Error> {
        let mut c = Config::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = || Error::Failed(format!("vm.conf line {}: {line:?}", i + 1));
            let (word, rest) = line.split_once(' ').ok_or_else(bad)?;
            match word {
                "kernel" => c.kernel = rest.to_string(),
                "binary" => {
                    let (label, path) = rest.split_once(' ').ok_or_else(bad)?;
                    c.binaries.push((label.to_string(), path.to_string()));
                }
                "module" => c.modules.push(rest.to_string()),
                "env" => {
                    let (k, v) = rest.split_once('=').ok_or_else(bad)?;
                    c.env.push((k.to_string(), v.to_string()));
                }
                "filter" => c.filters.push(rest.to_string()),
                _ => return Err(bad()),
            }
        }
        if c.kernel.is_empty() {
            return Err(Error::Failed("vm.conf names no kernel".into()));
        }
        Ok(c)
    }

    /// The libtest filters for binary `label`: none (every test) when a
    /// filter names the binary (`vm_` matches `oxbpf-tests:vm_lsm`),
    /// else the filters, which libtest matches against test names.
    pub fn libtest_filters(&self, label: &str) -> &[String] {
        if self.filters.iter().any(|f| label.contains(f.as_str())) {
            &[]
        } else {
            &self.filters
        }
    }

    /// The text [`Config::parse`] reads.
    pub fn render(&self) -> String {
        let mut s = format!("kernel {}\n", self.kernel);
        for (k, v) in &self.env {
            s.push_str(&format!("env {k}={v}\n"));
        }
        for m in &self.modules {
            s.push_str(&format!("module {m}\n"));
        }
        for f in &self.filters {
            s.push_str(&format!("filter {f}\n"));
        }
        for (label, path) in &self.binaries {
            s.push_str(&format!("binary {label} {path}\n"));
        }
        s
    }
}

/// A console marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Marker {
    /// `/init` started.
    Alive {
        /// Kernel name.
        kernel: String,
    },
    /// A module load.
    Module {
        /// Kernel name.
        kernel: String,
        /// Module file name.
        module: String,
        /// `None` if it loaded, else the error.
        error: Option<String>,
    },
    /// One test's outcome.
    Result {
        /// Kernel name.
        kernel: String,
        /// Binary label (`package:target`).
        binary: String,
        /// Test name.
        test: String,
        /// `ok`, `FAILED`, `ignored` or `skipped`.
        outcome: String,
    },
    /// Why a test was skipped.
    Skip {
        /// Kernel name.
        kernel: String,
        /// Binary label.
        binary: String,
        /// Test name.
        test: String,
        /// The reason `require!` gave.
        reason: String,
    },
    /// A test binary ended.
    Exit {
        /// Kernel name.
        kernel: String,
        /// Binary label.
        binary: String,
        /// Its exit status (`0`, `101`, `signal 11`...).
        status: String,
    },
    /// Everything ran; the guest powers off.
    Done {
        /// Kernel name.
        kernel: String,
    },
}

impl Marker {
    /// Finds a marker anywhere in a console line.
    pub fn parse(line: &str) -> Option<Marker> {
        let at = line.find("OXBPF-VM-")?;
        let line = line[at..].trim_end_matches(['\r', '\n']);
        let (tag, rest) = line.split_once(' ').unwrap_or((line, ""));
        let mut words = rest.splitn(4, ' ');
        let mut next = || words.next().map(str::to_string);
        Some(match tag {
            "OXBPF-VM-ALIVE" => Marker::Alive { kernel: next()? },
            "OXBPF-VM-DONE" => Marker::Done { kernel: next()? },
            "OXBPF-VM-MODULE" => {
                let (kernel, module, state) = (next()?, next()?, next()?);
                let error = next().unwrap_or_default();
                Marker::Module {
                    kernel,
                    module,
                    error: (state != "ok").then_some(error),
                }
            }
            "OXBPF-VM-RESULT" => Marker::Result {
                kernel: next()?,
                binary: next()?,
                test: next()?,
                outcome: next()?,
            },
            "OXBPF-VM-SKIP" => Marker::Skip {
                kernel: next()?,
                binary: next()?,
                test: next()?,
                reason: next().unwrap_or_default(),
            },
            "OXBPF-VM-EXIT" => {
                let (kernel, binary) = (next()?, next()?);
                let status = [next(), next()].into_iter().flatten().collect::<Vec<_>>();
                Marker::Exit {
                    kernel,
                    binary,
                    status: status.join(" "),
                }
            }
            _ => return None,
        })
    }
}

/// `test NAME ... OUTCOME` of libtest's output: `(name, outcome)` with the
/// outcome's first word (`ok`, `FAILED`, `ignored`).
pub fn parse_test_line(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix("test ")?;
    let (name, outcome) = rest.split_once(" ... ")?;
    let word = outcome.split([',', ' ']).next()?.trim();
    matches!(word, "ok" | "FAILED" | "ignored").then(|| (name.to_string(), word.to_string()))
}

/// The skip records of binary file `exe` in a skip log
/// (`<binary>\t<test>\t<reason>` lines): test name → reason.
pub fn skips_of(log: &str, exe: &str) -> BTreeMap<String, String> {
    log.lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, '\t');
            let (bin, test, reason) = (f.next()?, f.next()?, f.next().unwrap_or(""));
            (bin == exe).then(|| (test.to_string(), reason.to_string()))
        })
        .collect()
}

/// Runs as `/init`: never returns (powers off).
pub fn main() -> ! {
    let mode = std::env::var("OXBPF_MODE").unwrap_or_default();
    if mode == "probe" {
        // The host checks that the accelerator boots a kernel at all.
        println!("OXBPF-VM-ALIVE probe");
        power_off();
    }
    let code = match run() {
        Ok(()) => 0,
        Err(e) => {
            println!("OXBPF-VM-ERROR {e}");
            1
        }
    };
    let _ = std::io::stdout().flush();
    let _ = code;
    power_off();
}

fn power_off() -> ! {
    let _ = std::io::stdout().flush();
    rustix::fs::sync();
    let _ = rustix::system::reboot(rustix::system::RebootCommand::PowerOff);
    // Not PID 1 (a test run on the host), or reboot refused.
    std::process::exit(0)
}

fn run() -> Result<(), Error> {
    mount_all();
    let text = std::fs::read_to_string(CONFIG_PATH)
        .map_err(|e| Error::io("cannot read", CONFIG_PATH, e))?;
    let conf = Config::parse(&text)?;
    let kernel = conf.kernel.as_str();
    println!("OXBPF-VM-ALIVE {kernel}");
    if let Err(e) = loopback_up() {
        println!("oxbpf-vm-init: bringing lo up: {e}");
    }
    for m in &conf.modules {
        let name = Path::new(m)
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| m.clone());
        match load_module(m) {
            Ok(()) => println!("OXBPF-VM-MODULE {kernel} {name} ok"),
            Err(e) => println!("OXBPF-VM-MODULE {kernel} {name} FAILED {e}"),
        }
    }
    for (label, path) in &conf.binaries {
        run_binary(&conf, label, path);
    }
    println!("OXBPF-VM-DONE {kernel}");
    Ok(())
}

fn mount_all() {
    use rustix::mount::{MountFlags, mount};
    let mounts: [(&str, &str, &str); 8] = [
        ("proc", "/proc", "proc"),
        ("sysfs", "/sys", "sysfs"),
        ("devtmpfs", "/dev", "devtmpfs"),
        ("bpf", "/sys/fs/bpf", "bpf"),
        ("tracefs", "/sys/kernel/tracing", "tracefs"),
        ("debugfs", "/sys/kernel/debug", "debugfs"),
        ("cgroup2", "/sys/fs/cgroup", "cgroup2"),
        ("securityfs", "/sys/kernel/security", "securityfs"),
    ];
    for (source, target, fstype) in mounts {
        let _ = std::fs::create_dir_all(target);
        if let Err(e) = mount(source, target, fstype, MountFlags::empty(), None) {
            println!("oxbpf-vm-init: mount {fstype} at {target}: {e}");
        }
    }
    let _ = std::fs::create_dir_all("/tmp");
}

/// `RTM_NEWLINK` setting `IFF_UP` on interface 1 (`lo`), acknowledged.
fn loopback_up() -> std::io::Result<()> {
    use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketType, recv, send, socket};
    // Protocol 0 of AF_NETLINK is NETLINK_ROUTE.
    let fd = socket(AddressFamily::NETLINK, SocketType::RAW, None)?;
    const RTM_NEWLINK: u16 = 16;
    const NLM_F_REQUEST: u16 = 1;
    const NLM_F_ACK: u16 = 4;
    const IFF_UP: u32 = 1;
    let mut msg = Vec::with_capacity(32);
    msg.extend_from_slice(&32u32.to_ne_bytes()); // nlmsg_len
    msg.extend_from_slice(&RTM_NEWLINK.to_ne_bytes());
    msg.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
    msg.extend_from_slice(&1u32.to_ne_bytes()); // seq
    msg.extend_from_slice(&0u32.to_ne_bytes()); // pid
    msg.extend_from_slice(&[0, 0]); // ifi_family AF_UNSPEC, pad
    msg.extend_from_slice(&0u16.to_ne_bytes()); // ifi_type
    msg.extend_from_slice(&1i32.to_ne_bytes()); // ifi_index: lo
    msg.extend_from_slice(&IFF_UP.to_ne_bytes()); // ifi_flags
    msg.extend_from_slice(&IFF_UP.to_ne_bytes()); // ifi_change
    send(&fd, &msg, SendFlags::empty())?;
    let mut buf = [0u8; 256];
    let (n, _) = recv(&fd, &mut buf[..], RecvFlags::empty())?;
    // nlmsgerr: header (16 bytes), then the error (0: success).
    if n >= 20 {
        let err = i32::from_ne_bytes([buf[16], buf[17], buf[18], buf[19]]);
        if err != 0 {
            return Err(std::io::Error::from_raw_os_error(-err));
        }
    }
    Ok(())
}

fn load_module(path: &str) -> std::io::Result<()> {
    let file = std::fs::File::open(path)?;
    match rustix::system::finit_module(&file, c"", 0) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::EXIST) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn run_binary(conf: &Config, label: &str, path: &str) {
    let kernel = conf.kernel.as_str();
    let _ = std::fs::remove_file(SKIP_LOG);
    println!("oxbpf-vm-init: running {label} ({path})");
    let mut cmd = Command::new(path);
    // A process group of its own, as a shell gives: PID 1's group is 0,
    // which getpgid() would report.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd.arg("--test-threads=1")
        .args(conf.libtest_filters(label))
        .env("OXBPF_SKIP_LOG", SKIP_LOG)
        // The kernel starts init without a PATH.
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    for (k, v) in &conf.env {
        cmd.env(k, v);
    }
    let started = std::time::Instant::now();
    let mut results: Vec<(String, String)> = Vec::new();
    let status = match cmd.spawn() {
        Err(e) => format!("spawn-error {e}"),
        Ok(mut child) => {
            if let Some(out) = child.stdout.take() {
                let mut stdout = std::io::stdout();
                for line in BufReader::new(out).split(b'\n') {
                    let Ok(line) = line else { break };
                    let line = String::from_utf8_lossy(&line);
                    let _ = writeln!(stdout, "{line}");
                    if let Some(r) = parse_test_line(&line) {
                        results.push(r);
                    }
                }
            }
            match child.wait() {
                Ok(s) => match (s.code(), std::os::unix::process::ExitStatusExt::signal(&s)) {
                    (Some(c), _) => c.to_string(),
                    (None, Some(sig)) => format!("signal {sig}"),
                    _ => s.to_string(),
                },
                Err(e) => format!("wait-error {e}"),
            }
        }
    };
    let exe = Path::new(path)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let skips = skips_of(&std::fs::read_to_string(SKIP_LOG).unwrap_or_default(), &exe);
    for (test, outcome) in &results {
        match skips.get(test) {
            Some(reason) if outcome == "ok" => {
                println!("OXBPF-VM-SKIP {kernel} {label} {test} {reason}");
                println!("OXBPF-VM-RESULT {kernel} {label} {test} skipped");
            }
            _ => println!("OXBPF-VM-RESULT {kernel} {label} {test} {outcome}"),
        }
    }
    println!(
        "oxbpf-vm-init: {label} took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!("OXBPF-VM-EXIT {kernel} {label} {status}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_round_trip() {
        let c = Config {
            kernel: "6.12".into(),
            binaries: vec![("oxbpf-tests:vm_lsm".into(), "/oxbpf/bin/vm_lsm-1".into())],
            modules: vec!["/lib/modules/x/veth.ko".into()],
            env: vec![("OXBPF_BPF_DIR".into(), "/w/target/bpf".into())],
            filters: vec!["vm_".into(), "load".into()],
        };
        assert_eq!(Config::parse(&c.render()).unwrap(), c);
        assert!(c.libtest_filters("oxbpf-tests:vm_lsm").is_empty());
        assert_eq!(c.libtest_filters("oxbpf-tests:malformed"), ["vm_", "load"]);
        assert!(Config::parse("binary x\n").is_err());
        assert!(Config::parse("frobnicate 1\nkernel k\n").is_err());
        assert!(Config::parse("module /m.ko\n").is_err(), "no kernel");
    }

    #[test]
    fn markers_parse_with_console_noise() {
        assert_eq!(
            Marker::parse("[    4.2] random: OXBPF-VM-RESULT 6.1 a:b t::x FAILED"),
            Some(Marker::Result {
                kernel: "6.1".into(),
                binary: "a:b".into(),
                test: "t::x".into(),
                outcome: "FAILED".into()
            })
        );
        assert_eq!(
            Marker::parse("OXBPF-VM-SKIP 6.1 a:b t kprobe: no kprobe PMU (x)"),
            Some(Marker::Skip {
                kernel: "6.1".into(),
                binary: "a:b".into(),
                test: "t".into(),
                reason: "kprobe: no kprobe PMU (x)".into()
            })
        );
        assert_eq!(
            Marker::parse("OXBPF-VM-MODULE 6.1 veth.ko FAILED Exec format error (os error 8)"),
            Some(Marker::Module {
                kernel: "6.1".into(),
                module: "veth.ko".into(),
                error: Some("Exec format error (os error 8)".into())
            })
        );
        assert_eq!(
            Marker::parse("OXBPF-VM-EXIT 6.1 a:b signal 11"),
            Some(Marker::Exit {
                kernel: "6.1".into(),
                binary: "a:b".into(),
                status: "signal 11".into()
            })
        );
        assert_eq!(
            Marker::parse("OXBPF-VM-DONE 6.12\r"),
            Some(Marker::Done {
                kernel: "6.12".into()
            })
        );
        assert_eq!(Marker::parse("OXBPF-VM-RESULT 6.1 a"), None, "truncated");
        assert_eq!(Marker::parse("test x ... ok"), None);
    }

    #[test]
    fn libtest_lines() {
        assert_eq!(
            parse_test_line("test a::b ... ok"),
            Some(("a::b".into(), "ok".into()))
        );
        assert_eq!(
            parse_test_line("test x ... ignored, needs root"),
            Some(("x".into(), "ignored".into()))
        );
        assert_eq!(
            parse_test_line("test x ... FAILED"),
            Some(("x".into(), "FAILED".into()))
        );
        assert_eq!(parse_test_line("test result: ok. 1 passed"), None);
        assert_eq!(parse_test_line("running 3 tests"), None);
    }

    #[test]
    fn skip_log_is_per_binary() {
        let log = "a-1\tt1\tkprobe: none\nb-2\tt1\tlsm: no\na-1\tt2\tfentry: EPERM\tmore\n";
        let s = skips_of(log, "a-1");
        assert_eq!(s.len(), 2);
        assert_eq!(s["t1"], "kprobe: none");
        assert_eq!(s["t2"], "fentry: EPERM\tmore");
    }
}
