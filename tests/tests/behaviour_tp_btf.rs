//! tp_btf.bpf.c in the live kernel: a BTF-typed raw tracepoint program on
//! `sys_enter`, recording this thread's getpgid calls and their argument.
#![forbid(unsafe_code)]

mod behaviour_support;

use behaviour_support::{pid, tid, u64_at, value_of};
use oxbpf::OpenObject;
use oxbpf_tests::{FdSnapshot, kernel_lock, object};
use rustix::process::{Pid, getpgid};

/// `{calls, last_arg}` of `getpgid_calls[tid]`.
fn stats(obj: &oxbpf::Object, tid: u32) -> Option<(u64, u64)> {
    let v = value_of(obj.map("getpgid_calls").unwrap(), tid)?;
    assert_eq!(v.len(), 16);
    Some((u64_at(&v, 0), u64_at(&v, 8)))
}

#[test]
fn tp_btf_sees_getpgid_and_its_argument() {
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let obj = OpenObject::open(object("tp_btf")).unwrap().load().unwrap();
        let me = tid();
        let p = pid();
        let own = Pid::from_raw(p as i32).unwrap();
        let link = obj.program("getpgid_enter").unwrap().attach().unwrap();
        for _ in 0..4 {
            getpgid(None).unwrap(); // getpgid(0)
        }
        assert_eq!(stats(&obj, me), Some((4, 0)));
        getpgid(Some(own)).unwrap();
        assert_eq!(stats(&obj, me), Some((5, u64::from(p))));
        drop(link);
        getpgid(None).unwrap();
        assert_eq!(stats(&obj, me), Some((5, u64::from(p))), "detached");
    }
    fds.assert_no_leak("tp_btf");
}
