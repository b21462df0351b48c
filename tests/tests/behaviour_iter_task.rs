//! iter_task.bpf.c in the live kernel: a task iterator, attached with a
//! `BPF_TRACE_ITER` link and read through `BPF_ITER_CREATE`.
#![forbid(unsafe_code)]

mod behaviour_support;

use std::io::Read;

use behaviour_support::{pid, tid, u32_at, u64_at};
use oxbpf::{OpenObject, ProgType};
use oxbpf_tests::{FdSnapshot, kernel_lock, object};

/// `{tgid, pid, seq_num}` records.
fn records(bytes: &[u8]) -> Vec<(u32, u32, u64)> {
    assert_eq!(bytes.len() % 16, 0, "{} bytes of output", bytes.len());
    bytes
        .chunks_exact(16)
        .map(|r| (u32_at(r, 0), u32_at(r, 4), u64_at(r, 8)))
        .collect()
}

fn check(recs: &[(u32, u32, u64)], me: (u32, u32)) {
    assert!(recs.len() >= 2, "{} records", recs.len());
    let (last, tasks) = recs.split_last().unwrap();
    assert_eq!((last.0, last.1), (u32::MAX, u32::MAX), "the trailer");
    for (i, r) in tasks.iter().enumerate() {
        assert_eq!(r.2, i as u64, "record {i}: seq_num");
        assert_ne!((r.0, r.1), (u32::MAX, u32::MAX), "record {i}: a trailer");
    }
    assert!(
        tasks.iter().any(|r| (r.0, r.1) == me),
        "this thread {me:?} is not listed"
    );
}

#[test]
fn task_iterator_lists_this_thread() {
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let obj = OpenObject::open(object("iter_task"))
            .unwrap()
            .load()
            .unwrap();
        let prog = obj.program("dump_task").unwrap();
        assert_eq!(prog.info().unwrap().r#type, ProgType::TRACING);
        let me = (pid(), tid());
        let link = prog.attach_iter().unwrap();
        let mut out = Vec::new();
        link.open_iter().unwrap().read_to_end(&mut out).unwrap();
        let recs = records(&out);
        check(&recs, me);
        // The iterator visits threads, the main thread of this process
        // (tgid == pid) as well as the test's own.
        assert!(
            recs.iter().any(|r| r.0 == me.0 && r.1 == me.0),
            "the main thread"
        );

        // Each open is a new pass; the section name attaches too.
        let link2 = prog.attach().unwrap();
        let mut again = Vec::new();
        link2.open_iter().unwrap().read_to_end(&mut again).unwrap();
        check(&records(&again), me);
        drop((link, link2));
    }
    fds.assert_no_leak("iter_task");
}
