//! `struct_ops.bpf.c`: two TCP congestion controls as struct_ops maps,
//! registered by writing the value and through a link, run by real sockets.

use std::net::{TcpListener, TcpStream};

use oxbpf::OpenObject;
use oxbpf_tests::{FdSnapshot, Feature, kernel_lock, object, require};

fn available() -> String {
    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_available_congestion_control").unwrap()
}

fn registered(name: &str) -> bool {
    available().split_whitespace().any(|n| n == name)
}

fn inits(obj: &oxbpf::Object, which: u32) -> u64 {
    let v = obj
        .map("inits")
        .unwrap()
        .lookup(&which.to_ne_bytes(), 0)
        .unwrap()
        .unwrap();
    u64::from_ne_bytes(v.try_into().unwrap())
}

/// Opens a loopback TCP connection whose client uses congestion control `cc`.
fn connect_with(cc: &str) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let socket = rustix::net::socket(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::STREAM,
        None,
    )
    .unwrap();
    rustix::net::sockopt::set_tcp_congestion(&socket, cc).unwrap();
    rustix::net::connect(&socket, &addr).unwrap();
    assert_eq!(rustix::net::sockopt::tcp_congestion(&socket).unwrap(), cc);
    let stream = TcpStream::from(socket);
    let _accepted = listener.accept().unwrap();
    drop(stream);
}

#[test]
fn congestion_controls_register_run_and_unregister() {
    require!(Feature::StructOpsLinks);
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    let obj = OpenObject::open(object("struct_ops"))
        .unwrap()
        .load()
        .unwrap();
    assert!(
        !registered("oxcc") && !registered("oxcc_link"),
        "loading registers nothing: {}",
        available()
    );

    for (map, which) in [("oxcc", 0), ("oxcc_link", 1)] {
        let link = obj.attach_struct_ops(map).unwrap();
        assert!(registered(map), "{map} after attach: {}", available());
        assert_eq!(
            link.link_fd().is_some(),
            map == "oxcc_link",
            "only the .link map has a BPF link"
        );
        let before = inits(&obj, which);
        connect_with(map);
        connect_with(map);
        assert_eq!(
            inits(&obj, which) - before,
            2,
            "{map}: init ran once per socket"
        );
        drop(link);
        assert!(!registered(map), "{map} after drop: {}", available());
    }
    assert!(
        obj.attach_struct_ops("inits").is_err(),
        "not a struct_ops map"
    );
    drop(obj);
    fds.assert_no_leak("struct_ops");
}
