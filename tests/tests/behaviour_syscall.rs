//! syscall.bpf.c in the live kernel: `BPF_PROG_TYPE_SYSCALL` programs run
//! on a context that the kernel writes back (objects of clang-19 and
//! clang-14).
#![forbid(unsafe_code)]

mod behaviour_support;

use oxbpf::sys::{Errno, prog_run_syscall};
use oxbpf::{OpenObject, TestRunOptions};
use oxbpf_tests::{FdSnapshot, Feature, kernel_lock, object, require};

/// `struct args { s32 a; s32 b; s32 sum; }`.
fn args(a: i32, b: i32, sum: i32) -> Vec<u8> {
    [a, b, sum].iter().flat_map(|v| v.to_le_bytes()).collect()
}

#[test]
fn syscall_programs_write_their_context_back() {
    require!(Feature::SyscallProgs);
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    for name in ["syscall", "syscall.clang14"] {
        let obj = OpenObject::open(object(name)).unwrap().load().unwrap();
        let add = obj.program("syscall_add").unwrap();
        let sub = obj.program("syscall_sub").unwrap();

        let mut ctx = args(3, 4, 0);
        assert_eq!(
            prog_run_syscall(add.prog_fd(), &mut ctx).unwrap(),
            12,
            "{name}"
        );
        assert_eq!(ctx, args(3, 4, 7), "{name}: syscall_add");

        let mut ctx = args(3, 10, 0);
        assert_eq!(
            prog_run_syscall(sub.prog_fd(), &mut ctx).unwrap(),
            0,
            "{name}"
        );
        assert_eq!(ctx, args(3, 10, -7), "{name}: syscall_sub");

        // retval is (u32)(a * b).
        let mut ctx = args(-6, 7, 99);
        assert_eq!(
            prog_run_syscall(add.prog_fd(), &mut ctx).unwrap(),
            (-42i32) as u32,
            "{name}"
        );
        assert_eq!(ctx, args(-6, 7, 1), "{name}");
    }
    fds.assert_no_leak("syscall");
}

#[test]
fn syscall_programs_refuse_bad_test_runs() {
    require!(Feature::SyscallProgs);
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let obj = OpenObject::open(object("syscall")).unwrap().load().unwrap();
        let add = obj.program("syscall_add").unwrap();

        // A context shorter than what the program touches.
        let mut short = args(3, 4, 0);
        short.truncate(8);
        let err = prog_run_syscall(add.prog_fd(), &mut short).unwrap_err();
        assert_eq!(err.errno(), Some(Errno::INVAL), "{err}");
        assert_eq!(
            short,
            args(3, 4, 0)[..8],
            "an refused run leaves the context"
        );

        // A general test run would lend the context immutably while the
        // kernel writes it back: the library refuses any syscall program
        // run with a context there, before the kernel sees it.
        let ctx = args(3, 4, 0);
        let mut with_ctx_out = TestRunOptions::default();
        with_ctx_out.ctx_in = &ctx;
        with_ctx_out.ctx_out_capacity = 12;
        let mut with_data = TestRunOptions::new(&[0u8; 14], 0);
        with_data.ctx_in = &ctx;
        let mut repeated = TestRunOptions::default();
        repeated.ctx_in = &ctx;
        repeated.repeat = 2;
        for (what, opts) in [
            ("ctx_out", &with_ctx_out),
            ("data_in", &with_data),
            ("repeat", &repeated),
        ] {
            let err = add.test_run(opts).unwrap_err();
            assert!(
                format!("{err:?}").contains("prog_run_syscall"),
                "{what}: {err:?}"
            );
        }
        assert_eq!(ctx, args(3, 4, 0), "never written");
    }
    fds.assert_no_leak("syscall errors");
}
