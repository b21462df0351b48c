//! cgroup_sockopt.bpf.c in the live kernel: the getsockopt and setsockopt
//! hooks attached to a test cgroup, acting on a child process in it.
#![forbid(unsafe_code)]

mod behaviour_support;

use std::net::UdpSocket;

use behaviour_support::{TestCgroup, eperm, u64_of};
use oxbpf::{OpenObject, ProgType};
use oxbpf_tests::{FdSnapshot, kernel_lock, object};

/// The child's socket-option calls. `getsockopt(SOL_IP, IP_TOS)` goes
/// through `syscall(SYS_getsockopt)` with a 4-byte buffer and length, so
/// that the length the program sets comes back as is.
const CHILD: &str = r#"
    use Socket qw(:DEFAULT IPPROTO_IP IP_TOS IP_TTL);
    my $SYS_getsockopt = 55; # x86_64
    socket(my $s, PF_INET, SOCK_DGRAM, 0) or die "socket: $!";
    my $buf = "\xFF" x 4;
    my $len = pack("L", 4);
    my $r = syscall($SYS_getsockopt, fileno($s), IPPROTO_IP, IP_TOS, $buf, $len);
    report("get_tos", $r == 0 ? 0 : $! + 0);
    report("tos_len", unpack("L", $len));
    report("tos_bytes", unpack("H*", $buf));
    report("set_ttl", errno_of(setsockopt($s, IPPROTO_IP, IP_TTL, 17)));
    report("set_ttl_again", errno_of(setsockopt($s, IPPROTO_IP, IP_TTL, 18)));
    report("ttl", unpack("I", getsockopt($s, IPPROTO_IP, IP_TTL)));
    report("set_tos", errno_of(setsockopt($s, IPPROTO_IP, IP_TOS, 0x10)));
    report("set_rcvbuf", errno_of(setsockopt($s, SOL_SOCKET, SO_RCVBUF, 65536)));
"#;

#[test]
fn programs_load_with_their_types() {
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let obj = OpenObject::open(object("cgroup_sockopt"))
            .unwrap()
            .load()
            .unwrap();
        for p in obj.programs() {
            assert_eq!(
                p.info().unwrap().r#type,
                ProgType::CGROUP_SOCKOPT,
                "{}",
                p.name()
            );
        }
        assert_eq!(obj.programs().len(), 2);
    }
    fds.assert_no_leak("cgroup_sockopt load");
}

#[test]
fn attached_programs_rewrite_tos_and_refuse_ttl() {
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let obj = OpenObject::open(object("cgroup_sockopt"))
            .unwrap()
            .load()
            .unwrap();
        let stats = obj.map("sockopt_stats").unwrap();
        let cgroup = TestCgroup::new("cgroup_sockopt");

        // Before attaching: the kernel's own answers.
        let before = cgroup.run_perl(CHILD, &[]);
        assert_eq!(before.num("get_tos"), 0);
        assert_eq!(before.num("tos_len"), 4);
        assert_eq!(before.get("tos_bytes"), "00000000");
        assert_eq!(before.num("set_ttl"), 0);
        assert_eq!(before.num("ttl"), 18);

        let links = [
            obj.program("getsockopt_tos")
                .unwrap()
                .attach_cgroup(cgroup.fd())
                .unwrap(),
            obj.program("setsockopt_no_ttl")
                .unwrap()
                .attach_cgroup(cgroup.fd())
                .unwrap(),
        ];
        let after = cgroup.run_perl(CHILD, &[]);
        assert_eq!(after.num("get_tos"), 0);
        assert_eq!(after.num("tos_len"), 1, "the program shortened the option");
        // The kernel's own answer (an int 0) went to the buffer first, then
        // the program's one byte over it.
        assert_eq!(after.get("tos_bytes"), "2c000000");
        assert_eq!(after.num("set_ttl"), eperm());
        assert_eq!(after.num("set_ttl_again"), eperm());
        let default_ttl: i64 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_default_ttl")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(after.num("ttl"), default_ttl, "TTL was never set");
        assert_eq!(after.num("set_tos"), 0, "other options still work");
        assert_eq!(after.num("set_rcvbuf"), 0);
        assert_eq!(u64_of(stats, 0), 2, "two refusals");

        // This process is not in the cgroup.
        let own = UdpSocket::bind("127.0.0.1:0").unwrap();
        own.set_ttl(33).unwrap();
        assert_eq!(own.ttl().unwrap(), 33);
        assert_eq!(u64_of(stats, 0), 2);

        drop(links);
        let detached = cgroup.run_perl(CHILD, &[]);
        assert_eq!(detached.num("tos_len"), 4);
        assert_eq!(detached.num("set_ttl"), 0);
        assert_eq!(u64_of(stats, 0), 2);
    }
    fds.assert_no_leak("cgroup_sockopt attached");
}
