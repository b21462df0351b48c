//! The user ring buffer producer with `user_ringbuf.bpf.c`: samples
//! submitted, reserved and filled in place, discarded; a full ring refuses
//! and recovers once a program drains it.

use oxbpf::{OpenObject, UserRingBuffer};
use oxbpf_tests::{FdSnapshot, Feature, kernel_lock, object, require};

fn drained(obj: &oxbpf::Object) -> (u64, u64) {
    let get = |k: u32| {
        let v = obj
            .map("drained")
            .unwrap()
            .lookup(&k.to_ne_bytes(), 0)
            .unwrap()
            .unwrap();
        u64::from_ne_bytes(v.try_into().unwrap())
    };
    (get(0), get(1))
}

#[test]
fn samples_reach_the_draining_program() {
    require!(Feature::UserRingbufMaps, Feature::SyscallProgs);
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    let obj = OpenObject::open(object("user_ringbuf"))
        .unwrap()
        .load()
        .unwrap();
    let drain = obj.program("drain").unwrap();
    let mut urb = UserRingBuffer::new(obj.map("urb").unwrap().map_fd()).unwrap();
    for v in 1..=10u64 {
        urb.submit(&v.to_ne_bytes()).unwrap();
    }
    // One reserved in place, one discarded, one dropped (discarded too).
    let mut s = urb.reserve(8).unwrap();
    s.data_mut().copy_from_slice(&100u64.to_ne_bytes());
    s.submit();
    urb.reserve(8).unwrap().discard();
    drop(urb.reserve(8).unwrap());
    assert_eq!(drain.run_syscall(&mut []).unwrap(), 11);
    assert_eq!(drained(&obj), (155, 11), "1..=10 plus 100");
    assert_eq!(drain.run_syscall(&mut []).unwrap(), 0, "nothing left");
    drop(urb);
    drop(obj);
    fds.assert_no_leak("user ringbuf");
}

#[test]
fn a_full_ring_refuses_until_drained() {
    require!(Feature::UserRingbufMaps, Feature::SyscallProgs);
    let _k = kernel_lock();
    let obj = OpenObject::open(object("user_ringbuf"))
        .unwrap()
        .load()
        .unwrap();
    let mut urb = UserRingBuffer::new(obj.map("urb").unwrap().map_fd()).unwrap();
    assert_eq!(urb.free(), 4096);
    let mut n = 0u64;
    while urb.submit(&n.to_ne_bytes()).is_ok() {
        n += 1;
    }
    assert_eq!(n, 256, "16 bytes a sample in 4 KiB");
    let err = urb.submit(&[0; 8]).unwrap_err();
    assert!(err.to_string().contains("full"), "{err}");
    // The program drains up to its per-call limit; room comes back.
    let drain = obj.program("drain").unwrap();
    let mut total = 0;
    while total < 256 {
        let got = drain.run_syscall(&mut []).unwrap();
        assert!(got > 0, "drained nothing with {total} of 256 done");
        total += got;
    }
    assert!(
        urb.wait_for_space(std::time::Duration::from_millis(10))
            .unwrap()
    );
    urb.submit(&7u64.to_ne_bytes()).unwrap();
    let sum: u64 = (0..256).sum();
    assert_eq!(drained(&obj), (sum, 256));
}

#[test]
fn only_user_ringbuf_maps_are_accepted() {
    require!(Feature::UserRingbufMaps, Feature::SyscallProgs);
    let _k = kernel_lock();
    let obj = OpenObject::open(object("user_ringbuf"))
        .unwrap()
        .load()
        .unwrap();
    assert!(UserRingBuffer::new(obj.map("drained").unwrap().map_fd()).is_err());
}
