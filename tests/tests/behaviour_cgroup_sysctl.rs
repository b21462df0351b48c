//! cgroup_sysctl.bpf.c in the live kernel: the sysctl hook attached to a
//! test cgroup (never the root), acting on a child process in it.
#![forbid(unsafe_code)]

mod behaviour_support;

use behaviour_support::{TestCgroup, eperm, u64_array};
use oxbpf::{OpenObject, ProgType};
use oxbpf_tests::{FdSnapshot, kernel_lock, object};

/// Reads `kernel/ostype` with one `read`, then writes the current host
/// name back to `kernel/hostname` (a no-op if it were allowed).
const CHILD: &str = r#"
    use Fcntl;
    sysopen(my $r, "/proc/sys/kernel/ostype", O_RDONLY) or die "open: $!";
    my $n = sysread($r, my $ostype, 4096);
    report("read", defined $n ? 0 : $! + 0);
    chomp $ostype;
    report("ostype", $ostype);
    sysopen(my $w, "/proc/sys/kernel/hostname", O_WRONLY) or die "open: $!";
    my $m = syswrite($w, "$ENV{HOST}\n");
    report("write", defined $m ? 0 : $! + 0);
"#;

#[test]
fn attached_program_allows_reads_and_refuses_writes() {
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let obj = OpenObject::open(object("cgroup_sysctl"))
            .unwrap()
            .load()
            .unwrap();
        let prog = obj.program("sysctl_readonly").unwrap();
        assert_eq!(prog.info().unwrap().r#type, ProgType::CGROUP_SYSCTL);
        let stats = obj.map("sysctl_stats").unwrap();
        let cgroup = TestCgroup::new("cgroup_sysctl");
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        let env = [("HOST", host.trim_end().to_string())];

        let link = prog.attach_cgroup(cgroup.fd()).unwrap();
        let report = cgroup.run_perl(CHILD, &env);
        assert_eq!(report.num("read"), 0);
        assert_eq!(report.get("ostype"), "Linux");
        assert_eq!(report.num("write"), eperm());
        let [reads, writes] = u64_array(stats)[..] else {
            unreachable!()
        };
        // The child's read, plus whatever its runtime read from /proc/sys.
        assert!(reads >= 1, "{reads} reads");
        assert_eq!(writes, 1, "one refused write");

        // This process is not in the cgroup: its reads are not seen.
        std::fs::read_to_string("/proc/sys/kernel/ostype").unwrap();
        assert_eq!(u64_array(stats), [reads, 1]);

        drop(link);
        let report = cgroup.run_perl(CHILD, &env);
        assert_eq!(report.num("write"), 0, "writes work again once detached");
        assert_eq!(u64_array(stats), [reads, 1]);
    }
    fds.assert_no_leak("cgroup_sysctl");
}
