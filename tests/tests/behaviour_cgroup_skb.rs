//! cgroup_skb.bpf.c in the live kernel: the two cgroup_skb programs under
//! `BPF_PROG_TEST_RUN` (they see the packet from byte 14 on), then
//! attached to a test cgroup with a child process in it.
#![forbid(unsafe_code)]

mod behaviour_support;

use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::time::Duration;

use behaviour_support::{TestCgroup, eperm, errno, ethernet, ipv4_packet, u64_array, udp_packet};
use oxbpf::{OpenObject, TestRunOptions};
use oxbpf_tests::{FdSnapshot, kernel_lock, object};

#[test]
fn ingress_counts_packets_and_network_bytes() {
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let obj = OpenObject::open(object("cgroup_skb"))
            .unwrap()
            .load()
            .unwrap();
        let prog = obj.program("skb_ingress_count").unwrap();
        let stats = obj.map("cg_skb_stats").unwrap();
        let packet = udp_packet(0); // Ethernet + IPv4 + UDP header: 42 bytes
        assert_eq!(packet.len(), 42);
        let mut opts = TestRunOptions::new(&packet, 42);
        opts.repeat = 3;
        let out = prog.test_run(&opts).unwrap();
        assert_eq!(out.retval, 1);
        // The packet comes back from the network header on; the kernel
        // zeroes the link-layer header it put in front for the run.
        assert_eq!(out.data_out[..14], [0; 14]);
        assert_eq!(out.data_out[14..], packet[14..]);
        // [packets, bytes from the IP header on] = [3, 3 * 28].
        assert_eq!(u64_array(stats), [3, 84]);

        let big = udp_packet(100);
        let out = prog
            .test_run(&TestRunOptions::new(&big, big.len()))
            .unwrap();
        assert_eq!(out.retval, 1);
        assert_eq!(u64_array(stats), [4, 84 + 128]);
    }
    fds.assert_no_leak("skb_ingress_count");
}

#[test]
fn egress_refuses_udp_only() {
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let obj = OpenObject::open(object("cgroup_skb"))
            .unwrap()
            .load()
            .unwrap();
        let prog = obj.program("skb_egress_no_udp").unwrap();
        let mut arp = ethernet(0x0806);
        arp.resize(42, 0);
        let mut ipv6 = ethernet(0x86DD);
        ipv6.extend_from_slice(&[0x60, 0, 0, 0, 0, 8, 17, 64]); // next header UDP
        ipv6.resize(62, 0);
        let cases = [
            ("IPv4 UDP", udp_packet(8), 0),
            (
                "IPv4 TCP",
                ipv4_packet(6, [10, 0, 0, 1], [10, 0, 0, 2], 20),
                1,
            ),
            (
                "IPv4 ICMP",
                ipv4_packet(1, [10, 0, 0, 1], [10, 0, 0, 2], 8),
                1,
            ),
            ("ARP", arp, 1),
            ("IPv6 UDP", ipv6, 1),
        ];
        for (what, packet, verdict) in cases {
            let out = prog
                .test_run(&TestRunOptions::new(&packet, packet.len()))
                .unwrap();
            assert_eq!(out.retval, verdict, "{what}");
        }
        assert_eq!(u64_array(obj.map("cg_skb_stats").unwrap()), [0, 0]);
    }
    fds.assert_no_leak("skb_egress_no_udp");
}

/// Attached to a cgroup: a child in it cannot send UDP (EPERM) but can
/// talk TCP, and the ingress program counts what it receives. Everything
/// goes over the loopback interface to sockets of this test.
#[test]
fn attached_to_a_cgroup() {
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let obj = OpenObject::open(object("cgroup_skb"))
            .unwrap()
            .load()
            .unwrap();
        let cgroup = TestCgroup::new("cgroup_skb");
        // An XDP program at the cgroup: the kernel refuses the hook.
        let xdp = OpenObject::open(object("xdp_count"))
            .unwrap()
            .load()
            .unwrap();
        let err = xdp
            .program("xdp_count")
            .unwrap()
            .attach_cgroup(cgroup.fd())
            .unwrap_err();
        assert_eq!(errno(&err), Some(oxbpf::sys::Errno::INVAL), "{err:?}");
        drop(xdp);
        let _ingress = obj
            .program("skb_ingress_count")
            .unwrap()
            .attach_cgroup(cgroup.fd())
            .unwrap();
        let _egress = obj
            .program("skb_egress_no_udp")
            .unwrap()
            .attach_cgroup(cgroup.fd())
            .unwrap();

        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        udp.set_nonblocking(true).unwrap();
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp_port = tcp.local_addr().unwrap().port();
        // Accepts one connection, reads what comes, answers "hello".
        let server = std::thread::spawn(move || {
            tcp.set_nonblocking(true).unwrap();
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            let mut conn = loop {
                match tcp.accept() {
                    Ok((c, _)) => break c,
                    Err(_) if std::time::Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    Err(e) => panic!("no connection from the child: {e}"),
                }
            };
            conn.set_nonblocking(false).unwrap();
            conn.set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            let mut got = [0u8; 7];
            conn.read_exact(&mut got).unwrap();
            conn.write_all(b"hello").unwrap();
            got
        });
        let report = cgroup.run_perl(
            r#"
            use Socket;
            socket(my $u, PF_INET, SOCK_DGRAM, 0) or die "socket: $!";
            bind($u, sockaddr_in(0, inet_aton("127.0.0.1"))) or die "bind: $!";
            report("udp_send", errno_of(send($u, "dropped", 0,
                sockaddr_in($ENV{UDP_PORT}, inet_aton("127.0.0.1")))));
            socket(my $t, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
            report("tcp_connect", errno_of(connect($t,
                sockaddr_in($ENV{TCP_PORT}, inet_aton("127.0.0.1")))));
            report("tcp_send", defined(send($t, "through", 0)) ? 0 : $! + 0);
            my $reply = "";
            while (length($reply) < 5) {
                my $n = sysread($t, $reply, 5 - length($reply), length($reply));
                last unless $n;
            }
            report("tcp_reply", $reply);
            "#,
            &[
                ("UDP_PORT", udp.local_addr().unwrap().port().to_string()),
                ("TCP_PORT", tcp_port.to_string()),
            ],
        );
        assert_eq!(report.num("udp_send"), eperm(), "UDP out of the cgroup");
        assert_eq!(report.num("tcp_connect"), 0);
        assert_eq!(report.num("tcp_send"), 0);
        assert_eq!(report.get("tcp_reply"), "hello");
        assert_eq!(&server.join().unwrap(), b"through");
        let mut buf = [0u8; 64];
        assert!(
            udp.recv_from(&mut buf).is_err(),
            "the refused datagram arrived"
        );

        // The child received the SYN-ACK, the ACK of its data and the
        // reply at least; each is an IPv4 + TCP packet of 40 bytes or more.
        let [packets, bytes] = u64_array(obj.map("cg_skb_stats").unwrap())[..] else {
            unreachable!()
        };
        assert!(packets >= 3, "{packets} packets in");
        assert!(bytes >= 40 * packets, "{bytes} bytes in {packets} packets");
    }
    fds.assert_no_leak("cgroup_skb attached");
}
