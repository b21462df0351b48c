//! tracepoint.bpf.c in the live kernel: two tracepoint programs attached
//! to `syscalls/sys_{enter,exit}_getpid`, counting this thread's getpid
//! calls (objects of clang-19 and clang-14).
#![forbid(unsafe_code)]

mod behaviour_support;

use behaviour_support::{i64_at, pid, tid, u64_at, value_of};
use oxbpf::OpenObject;
use oxbpf_tests::{FdSnapshot, kernel_lock, object};

/// `{enters, exits, last_ret}` of `getpid_calls[tid]`.
fn stats(obj: &oxbpf::Object, tid: u32) -> Option<(u64, u64, i64)> {
    let v = value_of(obj.map("getpid_calls").unwrap(), tid)?;
    assert_eq!(v.len(), 24);
    Some((u64_at(&v, 0), u64_at(&v, 8), i64_at(&v, 16)))
}

#[test]
fn tracepoints_count_this_threads_getpid_calls() {
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    for name in ["tracepoint", "tracepoint.clang14"] {
        let obj = OpenObject::open(object(name)).unwrap().load().unwrap();
        let me = tid();
        let expected_pid = i64::from(std::process::id());
        let links = [
            obj.program("getpid_enter").unwrap().attach().unwrap(),
            obj.program("getpid_exit").unwrap().attach().unwrap(),
        ];
        assert_eq!(stats(&obj, me), None, "{name}: nothing before the calls");
        for _ in 0..7 {
            assert_eq!(i64::from(pid()), expected_pid);
        }
        assert_eq!(stats(&obj, me), Some((7, 7, expected_pid)), "{name}");

        drop(links);
        for _ in 0..3 {
            pid();
        }
        assert_eq!(
            stats(&obj, me),
            Some((7, 7, expected_pid)),
            "{name}: detached programs do not count"
        );
    }
    fds.assert_no_leak("tracepoint");
}
