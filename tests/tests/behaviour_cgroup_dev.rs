//! cgroup_dev.bpf.c in the live kernel: the device hook attached to a test
//! cgroup, acting on a child process in it.
#![forbid(unsafe_code)]

mod behaviour_support;

use behaviour_support::{TestCgroup, eperm, errno, u64_of};
use oxbpf::{OpenObject, ProgType};
use oxbpf_tests::{FdSnapshot, kernel_lock, object};

const CHILD: &str = r#"
    use Fcntl;
    for my $dev ("zero", "null", "zero", "full") {
        report("open_$dev", sysopen(my $f, "/dev/$dev", O_RDONLY) ? 0 : $! + 0);
    }
"#;

#[test]
fn attached_program_denies_dev_zero_only() {
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let obj = OpenObject::open(object("cgroup_dev"))
            .unwrap()
            .load()
            .unwrap();
        let prog = obj.program("dev_deny_zero").unwrap();
        assert_eq!(prog.info().unwrap().r#type, ProgType::CGROUP_DEVICE);
        let denied = obj.map("dev_denied").unwrap();
        let cgroup = TestCgroup::new("cgroup_dev");

        // Neither auto-attach (no cgroup given) nor an iterator link.
        assert!(matches!(
            prog.attach(),
            Err(oxbpf::Error::Unsupported { .. })
        ));
        let err = prog.attach_iter().unwrap_err();
        assert_eq!(errno(&err), Some(oxbpf::sys::Errno::INVAL), "{err:?}");

        let link = prog.attach_cgroup(cgroup.fd()).unwrap();
        let report = cgroup.run_perl(CHILD, &[]);
        assert_eq!(report.num("open_zero"), eperm(), "/dev/zero (1:5)");
        assert_eq!(report.num("open_null"), 0, "/dev/null (1:3)");
        assert_eq!(report.num("open_full"), 0, "/dev/full (1:7)");
        assert_eq!(u64_of(denied, 0), 2, "/dev/zero was opened twice");

        // This process is not in the cgroup.
        std::fs::File::open("/dev/zero").unwrap();
        assert_eq!(u64_of(denied, 0), 2);

        drop(link);
        let report = cgroup.run_perl(CHILD, &[]);
        assert_eq!(report.num("open_zero"), 0, "detached");
        assert_eq!(u64_of(denied, 0), 2);
    }
    fds.assert_no_leak("cgroup_dev");
}
