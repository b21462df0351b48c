//! Network attachments in the live kernel, with real packets: XDP, tcx
//! (ordering, revisions), legacy clsact filters, sk_lookup, netfilter and
//! sockmap programs (`net_attach.bpf.c`, `sk_lookup.bpf.c`,
//! `netfilter.bpf.c`, `sockmap.bpf.c`). Each test makes its own network
//! namespaces (a veth pair between two of them where packets must cross
//! an interface) and removes them, which also removes every attachment.
#![forbid(unsafe_code)]

mod attach_support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd};

use attach_support::{NetNs, RECEIVER_IP, VethPair, array_u64s, udp_bound, udp_drain, udp_send};
use oxbpf::sys::{AttachTarget, AttachType, Errno, LinkType};
use oxbpf::{
    Anchor, NetfilterOptions, OpenObject, TcAttachPoint, TcFilterInfo, TcOptions, XdpMode,
    tc_bpf_filters,
};
use oxbpf_tests::{FdSnapshot, Feature, Probed, kernel_lock, object, probe, require};

fn syscall_errno(e: &oxbpf::Error) -> Option<Errno> {
    match e {
        oxbpf::Error::Syscall { source, .. } => source.errno(),
        _ => None,
    }
}

#[test]
fn xdp_link_passes_drops_updates_and_detaches() {
    if !attach_support::have(&["ip"], &[]) {
        return;
    }
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let net = VethPair::new("xdp");
        let obj = OpenObject::open(object("net_attach"))
            .unwrap()
            .load()
            .unwrap();
        let other = OpenObject::open(object("xdp_count"))
            .unwrap()
            .load()
            .unwrap();
        let prog = obj.program("xdp_udp").unwrap();
        let stats = obj.map("xdp_udp_stats").unwrap();
        let ifindex = net.receiver_ifindex();
        let (pass, drop_) = net.receiver.run(|| {
            (
                udp_bound(&format!("{RECEIVER_IP}:47001")),
                udp_bound(&format!("{RECEIVER_IP}:47002")),
            )
        });
        let link = net
            .receiver
            .run(|| prog.attach_xdp(ifindex, XdpMode::Default))
            .unwrap();
        let info = link.info().unwrap();
        assert_eq!(info.link_type(), LinkType::XDP);
        assert_eq!(info.prog_id, prog.info().unwrap().id);
        assert_eq!(info.xdp().unwrap().ifindex, ifindex);

        net.sender.run(|| {
            udp_send(&format!("{RECEIVER_IP}:47001"), 5, b"pass");
            udp_send(&format!("{RECEIVER_IP}:47002"), 3, b"drop");
        });
        assert_eq!(udp_drain(&pass), 5);
        assert_eq!(udp_drain(&drop_), 0, "XDP_DROP let datagrams through");
        assert_eq!(array_u64s(stats), [5, 3]);

        // A second XDP link on the same interface is refused; updating
        // the link swaps the program in place.
        let err = net
            .receiver
            .run(|| prog.attach_xdp(ifindex, XdpMode::Default))
            .unwrap_err();
        assert_eq!(syscall_errno(&err), Some(Errno::BUSY), "{err:?}");
        let counter = other.program("xdp_count").unwrap();
        link.update_program(counter).unwrap();
        assert_eq!(link.info().unwrap().prog_id, counter.info().unwrap().id);
        net.sender
            .run(|| udp_send(&format!("{RECEIVER_IP}:47002"), 4, b"now passes"));
        assert_eq!(udp_drain(&drop_), 4);
        assert_eq!(array_u64s(stats), [5, 3], "the replaced program still ran");
        // xdp_count: [passed, dropped, bytes]: 4 frames of 14 + 20 + 8 + 10.
        assert_eq!(array_u64s(other.map("xdp_stats").unwrap()), [4, 0, 4 * 52]);

        // BPF_LINK_DETACH: the program is gone at once.
        link.detach().unwrap();
        net.sender
            .run(|| udp_send(&format!("{RECEIVER_IP}:47002"), 2, b"after"));
        assert_eq!(udp_drain(&drop_), 2);
        assert_eq!(array_u64s(other.map("xdp_stats").unwrap())[0], 4);
    }
    fds.assert_no_leak("xdp");
}

#[test]
fn tcx_programs_run_in_the_order_asked_and_revisions_are_checked() {
    if !attach_support::have(&["ip"], &[]) {
        return;
    }
    require!(Feature::TcxLinks);
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let net = VethPair::new("tcx");
        let obj = OpenObject::open(object("net_attach"))
            .unwrap()
            .load()
            .unwrap();
        let first = obj.program("tcx_first").unwrap();
        let second = obj.program("tcx_second").unwrap();
        let (id1, id2) = (first.info().unwrap().id, second.info().unwrap().id);
        let order = obj.map("tcx_order").unwrap();
        let ifindex = net.receiver_ifindex();
        let query = || {
            net.receiver.run(|| {
                oxbpf::sys::prog_query(
                    AttachTarget::Ifindex(ifindex),
                    AttachType::TCX_INGRESS,
                    false,
                )
                .unwrap()
            })
        };
        let rx = net
            .receiver
            .run(|| udp_bound(&format!("{RECEIVER_IP}:47003")));
        let drop_rx = net
            .receiver
            .run(|| udp_bound(&format!("{RECEIVER_IP}:47004")));

        let l1 = net
            .receiver
            .run(|| first.attach_tcx(ifindex, Anchor::Last))
            .unwrap();
        let l2 = net
            .receiver
            .run(|| second.attach_tcx(ifindex, Anchor::Last))
            .unwrap();
        let q = query();
        assert_eq!(q.prog_ids, [id1, id2]);
        assert_eq!(q.link_ids, [l1.info().unwrap().id, l2.info().unwrap().id]);
        assert_eq!(l2.info().unwrap().tcx().unwrap().ifindex, ifindex);
        net.sender
            .run(|| udp_send(&format!("{RECEIVER_IP}:47003"), 3, b"x"));
        assert_eq!(udp_drain(&rx), 3, "TCX_NEXT passes the packets on");
        assert_eq!(array_u64s(order), [3, 3, 0, 0]);

        // Put the second program first, at the revision just read.
        drop(l2);
        let rev = query().revision;
        let l2 = net
            .receiver
            .run(|| second.attach_tcx_at_revision(ifindex, Anchor::Before(first), rev))
            .unwrap();
        assert_eq!(query().prog_ids, [id2, id1]);
        net.sender
            .run(|| udp_send(&format!("{RECEIVER_IP}:47003"), 2, b"x"));
        assert_eq!(udp_drain(&rx), 2);
        assert_eq!(array_u64s(order), [5, 3, 2, 0]);

        // A stale revision is refused.
        let err = net
            .receiver
            .run(|| first.attach_tcx_at_revision(ifindex, Anchor::First, rev))
            .unwrap_err();
        assert_eq!(syscall_errno(&err), Some(Errno::STALE), "{err:?}");

        // TCX_DROP.
        net.sender
            .run(|| udp_send(&format!("{RECEIVER_IP}:47004"), 2, b"x"));
        assert_eq!(udp_drain(&drop_rx), 0);
        assert_eq!(array_u64s(order)[3], 2);

        drop((l1, l2));
        assert!(query().prog_ids.is_empty());
    }
    fds.assert_no_leak("tcx");
}

#[test]
fn legacy_clsact_filter_is_added_listed_and_removed() {
    if !attach_support::have(&["ip"], &[]) {
        return;
    }
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let net = VethPair::new("tc");
        let obj = OpenObject::open(object("net_attach"))
            .unwrap()
            .load()
            .unwrap();
        let prog = obj.program("tc_udp").unwrap();
        let stats = obj.map("tc_udp_stats").unwrap();
        let ifindex = net.receiver_ifindex();
        let filters = || {
            net.receiver
                .run(|| tc_bpf_filters(ifindex, TcAttachPoint::Ingress).unwrap())
        };
        assert_eq!(filters(), []);
        let (ok_rx, shot_rx) = net.receiver.run(|| {
            (
                udp_bound(&format!("{RECEIVER_IP}:47005")),
                udp_bound(&format!("{RECEIVER_IP}:47006")),
            )
        });
        let opts = TcOptions::default();
        let link = net
            .receiver
            .run(|| prog.attach_tc(ifindex, TcAttachPoint::Ingress, &opts))
            .unwrap();
        assert_eq!(
            filters(),
            [TcFilterInfo {
                handle: 1,
                priority: 1,
                prog_id: prog.info().unwrap().id
            }]
        );
        assert!(link.link_fd().is_none());
        assert!(link.pin("/sys/fs/bpf/oxbpf-never").is_err());
        net.sender.run(|| {
            udp_send(&format!("{RECEIVER_IP}:47005"), 3, b"ok");
            udp_send(&format!("{RECEIVER_IP}:47006"), 2, b"shot");
        });
        assert_eq!(udp_drain(&ok_rx), 3);
        assert_eq!(udp_drain(&shot_rx), 0, "TC_ACT_SHOT let datagrams through");
        assert_eq!(array_u64s(stats), [3, 2]);

        // Same handle and priority: refused.
        let err = net
            .receiver
            .run(|| prog.attach_tc(ifindex, TcAttachPoint::Ingress, &opts))
            .unwrap_err();
        assert_eq!(syscall_errno(&err), Some(Errno::EXIST), "{err:?}");
        // The egress hook is a different place.
        let egress = net
            .receiver
            .run(|| prog.attach_tc(ifindex, TcAttachPoint::Egress, &opts))
            .unwrap();
        assert_eq!(
            net.receiver
                .run(|| tc_bpf_filters(ifindex, TcAttachPoint::Egress).unwrap())
                .len(),
            1
        );

        // Dropping the link removes the filter (from the other thread's
        // namespace: the link kept its socket).
        drop(link);
        drop(egress);
        assert_eq!(filters(), []);
        net.sender
            .run(|| udp_send(&format!("{RECEIVER_IP}:47006"), 1, b"free"));
        assert_eq!(udp_drain(&shot_rx), 1);
        assert_eq!(array_u64s(stats), [3, 2]);
    }
    fds.assert_no_leak("legacy tc");
}

#[test]
fn sk_lookup_steers_datagrams_to_the_socket_in_its_map() {
    if !attach_support::have(&["ip"], &[]) {
        return;
    }
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let ns = NetNs::new("sklookup");
        let obj = OpenObject::open(object("sk_lookup"))
            .unwrap()
            .load()
            .unwrap();
        let prog = obj.program("steer_udp").unwrap();
        let target = ns.run(|| udp_bound("127.0.0.1:47101"));
        obj.map("steer_map")
            .unwrap()
            .update(
                &0u32.to_le_bytes(),
                &(target.as_raw_fd() as u64).to_le_bytes(),
                0,
            )
            .unwrap();
        let link = prog.attach_netns(ns.file().as_fd()).unwrap();
        let info = link.info().unwrap();
        assert_eq!(info.link_type(), LinkType::NETNS);
        assert_eq!(info.netns().unwrap().attach_type, AttachType::SK_LOOKUP);
        ns.run(|| udp_send("127.0.0.1:47100", 4, b"steered"));
        assert_eq!(udp_drain(&target), 4);
        assert_eq!(array_u64s(obj.map("lookup_stats").unwrap()), [4]);

        drop(link);
        ns.run(|| udp_send("127.0.0.1:47100", 1, b"lost"));
        assert_eq!(udp_drain(&target), 0);
        assert_eq!(array_u64s(obj.map("lookup_stats").unwrap()), [4]);

        // Only sk_lookup and flow_dissector programs go to a namespace.
        let other = OpenObject::open(object("xdp_count"))
            .unwrap()
            .load()
            .unwrap();
        let err = other
            .program("xdp_count")
            .unwrap()
            .attach_netns(ns.file().as_fd())
            .unwrap_err();
        assert!(matches!(err, oxbpf::Error::AttachTarget { .. }), "{err:?}");
    }
    fds.assert_no_leak("sk_lookup");
}

#[test]
fn netfilter_hook_counts_and_drops() {
    if !attach_support::have(&["ip"], &[]) {
        return;
    }
    require!(Feature::NetfilterProgs);
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let ns = NetNs::new("nf");
        let obj = OpenObject::open(object("netfilter"))
            .unwrap()
            .load()
            .unwrap();
        let prog = obj.program("nf_udp").unwrap();
        let opts = NetfilterOptions::new(NetfilterOptions::IPV4, NetfilterOptions::LOCAL_IN, -128);
        let link = ns.run(|| prog.attach_netfilter(&opts)).unwrap();
        let nf = link.info().unwrap().netfilter().unwrap();
        assert_eq!((nf.pf, nf.hooknum, nf.priority), (2, 1, -128));
        let (acc, dropped) =
            ns.run(|| (udp_bound("127.0.0.1:47200"), udp_bound("127.0.0.1:47201")));
        ns.run(|| {
            udp_send("127.0.0.1:47200", 3, b"in");
            udp_send("127.0.0.1:47201", 2, b"out");
        });
        assert_eq!(udp_drain(&acc), 3);
        assert_eq!(udp_drain(&dropped), 0, "NF_DROP let datagrams through");
        assert_eq!(array_u64s(obj.map("nf_stats").unwrap()), [3, 2]);

        link.detach().unwrap();
        ns.run(|| udp_send("127.0.0.1:47201", 1, b"free"));
        assert_eq!(udp_drain(&dropped), 1);
        assert_eq!(array_u64s(obj.map("nf_stats").unwrap()), [3, 2]);
    }
    fds.assert_no_leak("netfilter");
}

#[test]
fn sockmap_programs_see_what_the_sockets_send_and_receive() {
    if !attach_support::have(&["ip"], &[]) {
        return;
    }
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let ns = NetNs::new("sockmap");
        let obj = OpenObject::open(object("sockmap")).unwrap().load().unwrap();
        let map = obj.map("sock_map").unwrap();
        let msg = obj.program("msg_count").unwrap();
        let verdict = obj.program("skb_verdict_count").unwrap();
        // Programs first: sockets added to the map later get them.
        let l_msg = msg.attach_sockmap(map).unwrap();
        let l_verdict = verdict.attach_sockmap(map).unwrap();
        let map_id = map.info().unwrap().id;
        match probe(Feature::SockmapLinks) {
            Probed::Supported => {
                for l in [&l_msg, &l_verdict] {
                    let info = l.info().unwrap();
                    assert_eq!(info.link_type(), LinkType::SOCKMAP);
                    assert_eq!(info.sockmap().unwrap().map_id, map_id);
                }
                assert_eq!(
                    l_verdict.info().unwrap().sockmap().unwrap().attach_type,
                    AttachType::SK_SKB_STREAM_VERDICT
                );
            }
            // Before sockmap links the library attaches with
            // BPF_PROG_ATTACH, which has no link info.
            Probed::Unsupported(why) => {
                println!("no sockmap links ({why}): attached with BPF_PROG_ATTACH");
                for l in [&l_msg, &l_verdict] {
                    assert!(l.link_fd().is_none() && l.info().is_err());
                }
            }
            Probed::Inconclusive(why) => panic!("sockmap link probe: {why}"),
        }
        let (mut client, mut server) = ns.run(|| {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (server, _) = listener.accept().unwrap();
            (client, server)
        });
        for (k, s) in [(0u32, client.as_raw_fd()), (1, server.as_raw_fd())] {
            map.update(&k.to_le_bytes(), &(s as u64).to_le_bytes(), 0)
                .unwrap();
        }
        client.write_all(b"hello").unwrap();
        let mut buf = [0u8; 5];
        server
            .set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        server.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hello");
        assert_eq!(array_u64s(obj.map("sockmap_stats").unwrap()), [1, 5, 1, 5]);
        drop((l_msg, l_verdict));
        drop((client, server));
    }
    fds.assert_no_leak("sockmap");
}

#[test]
fn flow_dissector_runs_for_its_namespace_only_while_attached() {
    if !attach_support::have(&["ip"], &[]) {
        return;
    }
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let net = VethPair::new("flow");
        // Receive packet steering hashes every packet veth-r receives,
        // which makes the kernel dissect its flow.
        attach_support::run(
            "ip",
            &[
                "netns",
                "exec",
                &net.receiver.name,
                "sh",
                "-c",
                "echo 1 > /sys/class/net/veth-r/queues/rx-0/rps_cpus",
            ],
        );
        let obj = OpenObject::open(object("flow_dissector"))
            .unwrap()
            .load()
            .unwrap();
        let prog = obj.program("dissect_count").unwrap();
        let stats = obj.map("dissect_stats").unwrap();
        let rx = net
            .receiver
            .run(|| udp_bound(&format!("{RECEIVER_IP}:47300")));
        let link = prog.attach_netns(net.receiver.file().as_fd()).unwrap();
        assert_eq!(
            link.info().unwrap().netns().unwrap().attach_type,
            AttachType::FLOW_DISSECTOR
        );
        net.sender
            .run(|| udp_send(&format!("{RECEIVER_IP}:47300"), 6, b"flow"));
        assert_eq!(udp_drain(&rx), 6);
        let seen = array_u64s(stats)[0];
        assert!(
            seen >= 6,
            "6 packets received with RPS on, {seen} dissections"
        );
        drop(link);
        net.sender
            .run(|| udp_send(&format!("{RECEIVER_IP}:47300"), 3, b"flow"));
        assert_eq!(udp_drain(&rx), 3);
        assert_eq!(array_u64s(stats)[0], seen, "a detached dissector ran");
    }
    fds.assert_no_leak("flow_dissector");
}
