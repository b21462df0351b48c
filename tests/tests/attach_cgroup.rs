//! Cgroup attachments beyond the behaviour tests: sockops on a test
//! cgroup (TCP connections made by a child in it), the pre-link
//! `BPF_PROG_ATTACH` way with its detach on drop, ordered links, and
//! `BPF_LINK_DETACH` of a pinned cgroup link.
#![forbid(unsafe_code)]

mod attach_support;
mod behaviour_support;

use attach_support::array_u64;
use behaviour_support::TestCgroup;
use oxbpf::sys::{AttachTarget, AttachType, F_ALLOW_MULTI, LinkType, prog_query};
use oxbpf::{Anchor, Link, OpenObject};
use oxbpf_tests::{FdSnapshot, Feature, PinDir, kernel_lock, object, require};

const TCP_PAIR: &str = r#"
    use Socket;
    socket(my $l, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
    bind($l, sockaddr_in(0, inet_aton("127.0.0.1"))) or die "bind: $!";
    listen($l, 1) or die "listen: $!";
    my ($port) = sockaddr_in(getsockname($l));
    socket(my $c, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
    connect($c, sockaddr_in($port, inet_aton("127.0.0.1"))) or die "connect: $!";
    accept(my $a, $l) or die "accept: $!";
    report('connected', 1);
"#;

fn programs_at(cg: &TestCgroup, t: AttachType) -> Vec<u32> {
    prog_query(AttachTarget::Fd(cg.fd()), t, false)
        .unwrap()
        .prog_ids
}

#[test]
fn sockops_sees_both_ends_of_a_connection_in_its_cgroup() {
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let cg = TestCgroup::new("sockops");
        let obj = OpenObject::open(object("sockops")).unwrap().load().unwrap();
        let prog = obj.program("sockops_count").unwrap();
        let stats = obj.map("sockops_stats").unwrap();
        let link = prog.attach_cgroup(cg.fd()).unwrap();
        let info = link.info().unwrap();
        assert_eq!(info.link_type(), LinkType::CGROUP);
        assert_eq!(
            info.cgroup().unwrap().attach_type,
            AttachType::CGROUP_SOCK_OPS
        );
        let r = cg.run_perl(TCP_PAIR, &[]);
        assert_eq!(r.num("connected"), 1);
        // TCP_CONNECT_CB, ACTIVE_ESTABLISHED_CB, PASSIVE_ESTABLISHED_CB.
        assert_eq!(
            (
                array_u64(stats, 3),
                array_u64(stats, 4),
                array_u64(stats, 5)
            ),
            (1, 1, 1)
        );
        drop(link);
        cg.run_perl(TCP_PAIR, &[]);
        assert_eq!(array_u64(stats, 4), 1, "a detached program ran");
    }
    fds.assert_no_leak("sockops");
}

#[test]
fn legacy_cgroup_attachment_detaches_when_dropped() {
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let cg = TestCgroup::new("legacy");
        let obj = OpenObject::open(object("sockops")).unwrap().load().unwrap();
        let prog = obj.program("sockops_count").unwrap();
        let id = prog.info().unwrap().id;
        let link = prog.attach_cgroup_legacy(cg.fd(), F_ALLOW_MULTI).unwrap();
        assert!(link.link_fd().is_none());
        assert!(link.info().is_err(), "not a BPF link");
        let q = prog_query(
            AttachTarget::Fd(cg.fd()),
            AttachType::CGROUP_SOCK_OPS,
            false,
        )
        .unwrap();
        assert_eq!(q.prog_ids, [id]);
        assert_eq!(q.attach_flags, F_ALLOW_MULTI);
        cg.run_perl(TCP_PAIR, &[]);
        assert_eq!(array_u64(obj.map("sockops_stats").unwrap(), 4), 1);
        drop(link);
        assert_eq!(programs_at(&cg, AttachType::CGROUP_SOCK_OPS), []);
    }
    fds.assert_no_leak("legacy cgroup");
}

#[test]
fn cgroup_links_are_ordered_and_a_pinned_one_detaches_on_request() {
    require!(Feature::CgroupLinkOrder);
    let _k = kernel_lock();
    let pins = PinDir::new("cglink");
    let fds = FdSnapshot::take();
    {
        let cg = TestCgroup::new("order");
        let a = OpenObject::open(object("cgroup_dev"))
            .unwrap()
            .load()
            .unwrap();
        let b = OpenObject::open(object("cgroup_dev"))
            .unwrap()
            .load()
            .unwrap();
        let pa = a.program("dev_deny_zero").unwrap();
        let pb = b.program("dev_deny_zero").unwrap();
        let (ida, idb) = (pa.info().unwrap().id, pb.info().unwrap().id);
        let la = pa.attach_cgroup(cg.fd()).unwrap();
        let lb = pb
            .attach_cgroup_anchored(cg.fd(), Anchor::BeforeLink(&la), 0)
            .unwrap();
        assert_eq!(programs_at(&cg, AttachType::CGROUP_DEVICE), [idb, ida]);

        // Pinned, the link outlives its Link; BPF_LINK_DETACH still
        // detaches it, leaving a defunct pin.
        let pin = pins.0.join("dev_link");
        la.pin(&pin).unwrap();
        drop(la);
        assert_eq!(programs_at(&cg, AttachType::CGROUP_DEVICE), [idb, ida]);
        let reopened = Link::from_pin(&pin).unwrap();
        assert_eq!(reopened.info().unwrap().prog_id, ida);
        reopened.detach().unwrap();
        assert_eq!(programs_at(&cg, AttachType::CGROUP_DEVICE), [idb]);
        let again = Link::from_pin(&pin).unwrap();
        again.unpin(&pin).unwrap();
        assert!(!pin.exists());
        assert!(Link::from_pin(&pin).is_err());
        drop(again);
        drop(lb);
        assert_eq!(programs_at(&cg, AttachType::CGROUP_DEVICE), []);
    }
    fds.assert_no_leak("cgroup links");
}
