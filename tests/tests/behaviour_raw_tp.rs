//! raw_tp.bpf.c in the live kernel: raw tracepoint programs attached to
//! `sys_enter` and `sys_exit` by name, counting this thread's getppid
//! calls.
#![forbid(unsafe_code)]

mod behaviour_support;

use behaviour_support::{i64_at, tid, u64_at, value_of};
use oxbpf::OpenObject;
use oxbpf_tests::{FdSnapshot, kernel_lock, object};

fn getppid() -> i64 {
    rustix::process::getppid().map_or(0, |p| i64::from(p.as_raw_nonzero().get()))
}

/// `{enters, exits, last_ret}` of `getppid_calls[tid]`.
fn stats(obj: &oxbpf::Object, tid: u32) -> Option<(u64, u64, i64)> {
    let v = value_of(obj.map("getppid_calls").unwrap(), tid)?;
    assert_eq!(v.len(), 24);
    Some((u64_at(&v, 0), u64_at(&v, 8), i64_at(&v, 16)))
}

#[test]
fn raw_tracepoints_count_this_threads_getppid_calls() {
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let obj = OpenObject::open(object("raw_tp")).unwrap().load().unwrap();
        let me = tid();
        let parent = getppid(); // before attaching: not counted
        let enter = obj.program("getppid_enter").unwrap();
        let exit = obj.program("getppid_exit").unwrap();
        // By the section names (raw_tp/sys_enter, raw_tracepoint/sys_exit),
        // then once more by explicit name.
        let links = [enter.attach().unwrap(), exit.attach().unwrap()];
        for _ in 0..5 {
            assert_eq!(getppid(), parent);
        }
        assert_eq!(stats(&obj, me), Some((5, 5, parent)));
        drop(links);
        getppid();
        assert_eq!(stats(&obj, me), Some((5, 5, parent)), "detached");

        let links = [
            enter.attach_raw_tracepoint("sys_enter").unwrap(),
            exit.attach_raw_tracepoint("sys_exit").unwrap(),
        ];
        getppid();
        getppid();
        assert_eq!(stats(&obj, me), Some((7, 7, parent)));
        drop(links);
    }
    fds.assert_no_leak("raw_tp");
}
