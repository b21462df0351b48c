//! cgroup_sock.bpf.c in the live kernel: the socket-creation and
//! socket-address hooks attached to a test cgroup, acting on a child
//! process in it.
//!
//! Network safety: every address the child uses is on the loopback
//! interface except `10.0.0.7`, which the sendmsg4 program rewrites to
//! 127.0.0.1. The sending socket is bound to 127.0.0.1 first, and the
//! kernel refuses to route a packet with a loopback source to any other
//! host (`EINVAL`), so even if the program failed to rewrite, nothing
//! would leave the machine.
#![forbid(unsafe_code)]

mod behaviour_support;

use std::net::UdpSocket;
use std::time::Duration;

use behaviour_support::{TestCgroup, eperm, u64_of};
use oxbpf::{OpenObject, ProgType};
use oxbpf_tests::{FdSnapshot, kernel_lock, object};

const SOCK_MARK: i64 = 0xB9F;

#[test]
fn programs_load_with_their_types() {
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let obj = OpenObject::open(object("cgroup_sock"))
            .unwrap()
            .load()
            .unwrap();
        let types: Vec<(&str, ProgType)> = obj
            .programs()
            .map(|p| (p.name(), p.info().unwrap().r#type))
            .collect();
        assert_eq!(
            types,
            [
                ("sock_mark", ProgType::CGROUP_SOCK),
                ("connect_7777", ProgType::CGROUP_SOCK_ADDR),
                ("bind_deny_6666", ProgType::CGROUP_SOCK_ADDR),
                ("sendmsg_redir", ProgType::CGROUP_SOCK_ADDR),
            ]
        );
    }
    fds.assert_no_leak("cgroup_sock load");
}

#[test]
fn attached_programs_mark_redirect_and_refuse() {
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let obj = OpenObject::open(object("cgroup_sock"))
            .unwrap()
            .load()
            .unwrap();
        let cgroup = TestCgroup::new("cgroup_sock");
        let links: Vec<_> = [
            "sock_mark",
            "connect_7777",
            "bind_deny_6666",
            "sendmsg_redir",
        ]
        .iter()
        .map(|p| {
            obj.program(p)
                .unwrap()
                .attach_cgroup(cgroup.fd())
                .unwrap_or_else(|e| panic!("{p}: {e:?}"))
        })
        .collect();
        let stats = obj.map("sock_stats").unwrap();
        assert_eq!(u64_of(stats, 0), 0);

        // The redirected datagram's receiver, outside the cgroup.
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        receiver
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let port = receiver.local_addr().unwrap().port();

        let report = cgroup.run_perl(
            r#"
            use Socket;
            my $SO_MARK = 36;
            my $lo = inet_aton("127.0.0.1");
            my @socks;
            for my $i (1 .. 4) {
                socket(my $s, PF_INET, SOCK_DGRAM, 0) or die "socket: $!";
                push @socks, $s;
            }
            report("sockets", scalar @socks);
            report("mark", unpack("I", getsockopt($socks[0], SOL_SOCKET, $SO_MARK)));
            report("mark_last", unpack("I", getsockopt($socks[3], SOL_SOCKET, $SO_MARK)));

            connect($socks[0], sockaddr_in(7777, $lo)) or die "connect: $!";
            my ($peer_port, $peer) = sockaddr_in(getpeername($socks[0]));
            report("peer_port", $peer_port);
            report("peer", inet_ntoa($peer));
            connect($socks[0], sockaddr_in(7700, $lo)) or die "connect: $!";
            ($peer_port, $peer) = sockaddr_in(getpeername($socks[0]));
            report("peer_port_other", $peer_port);

            report("bind_6666", errno_of(bind($socks[1], sockaddr_in(6666, $lo))));
            report("bind_any", errno_of(bind($socks[1], sockaddr_in(0, $lo))));

            bind($socks[2], sockaddr_in(0, $lo)) or die "bind: $!";
            my $sent = send($socks[2], "redirected", 0,
                sockaddr_in($ENV{PORT}, inet_aton("10.0.0.7")));
            report("sendto", defined $sent ? 0 : $! + 0);
            my ($from_port) = sockaddr_in(getsockname($socks[2]));
            report("from_port", $from_port);
            "#,
            &[("PORT", port.to_string())],
        );
        assert_eq!(report.num("mark"), SOCK_MARK);
        assert_eq!(report.num("mark_last"), SOCK_MARK);
        assert_eq!(
            report.num("peer_port"),
            7778,
            "connect to 7777 goes to 7778"
        );
        assert_eq!(report.get("peer"), "127.0.0.1");
        assert_eq!(report.num("peer_port_other"), 7700, "other ports unchanged");
        assert_eq!(report.num("bind_6666"), eperm());
        assert_eq!(report.num("bind_any"), 0);
        assert_eq!(report.num("sendto"), 0);

        let mut buf = [0u8; 64];
        let (n, from) = receiver
            .recv_from(&mut buf)
            .expect("the redirected datagram");
        assert_eq!(&buf[..n], b"redirected");
        assert_eq!(from.ip().to_string(), "127.0.0.1");
        assert_eq!(i64::from(from.port()), report.num("from_port"));

        // Every socket the child created, and none of this process's.
        assert_eq!(u64_of(stats, 0), report.num("sockets") as u64);
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        drop(probe);
        assert_eq!(u64_of(stats, 0), 4);

        // Detached: a new child's sockets are not counted.
        drop(links);
        cgroup.run_perl(
            r#"use Socket; socket(my $s, PF_INET, SOCK_DGRAM, 0) or die "socket: $!";"#,
            &[],
        );
        assert_eq!(u64_of(stats, 0), 4);
    }
    fds.assert_no_leak("cgroup_sock attached");
}
