//! A typed ksym (`tests/progs-vm/typed_ksym.bpf.c`): the per-CPU
//! variable `runqueues`, which the loader resolves to the BTF id of its
//! vmlinux VAR, read through `bpf_this_cpu_ptr` and `bpf_per_cpu_ptr`; and
//! a weak typed ksym the kernel lacks, resolved to zero.
//!
//! The kernel finds a typed ksym's address in kallsyms, which lists data
//! symbols only with `CONFIG_KALLSYMS_ALL`: this project's 6.18 host lacks
//! it (the test records a skip there); Debian's kernels under vm-test have
//! it.
#![forbid(unsafe_code)]

use oxbpf::OpenObject;
use oxbpf::sys::{Kallsyms, prog_run_syscall};
use oxbpf_tests::{FdSnapshot, Feature, kernel_lock, record_skip, require, vm_object};

#[test]
fn runqueues_is_read_through_its_btf_id() {
    require!(Feature::SyscallProgs);
    let found = Kallsyms::lookup(&["runqueues"]).expect("reading /proc/kallsyms");
    if found[0].is_none() {
        record_skip(
            "typed ksym: /proc/kallsyms lists no data symbol runqueues \
             (no CONFIG_KALLSYMS_ALL), so the kernel cannot place typed ksyms",
        );
        return;
    }
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let obj = OpenObject::open(vm_object("typed_ksym"))
            .unwrap()
            .load()
            .unwrap_or_else(|e| panic!("{e}"));
        let prog = obj.program("read_runqueues").unwrap();
        let mut ctx = [0u8; 8];
        assert_eq!(prog_run_syscall(prog.prog_fd(), &mut ctx).unwrap(), 0);
        let out = obj.map("out").unwrap();
        let at = |k: u32| {
            let v = out.lookup(&k.to_ne_bytes(), 0).unwrap().unwrap();
            u64::from_ne_bytes(v[..8].try_into().unwrap())
        };
        assert_eq!(at(4), 1, "the program ran to the end");
        assert_eq!(
            at(0),
            at(1),
            "this CPU's runqueue says it is CPU {}, the program ran on {}",
            at(0),
            at(1)
        );
        assert_eq!(at(2), 0, "CPU 0's runqueue");
        assert_eq!(at(3), 0, "a weak typed ksym the kernel lacks is null");
    }
    fds.assert_no_leak("typed ksym");
}
