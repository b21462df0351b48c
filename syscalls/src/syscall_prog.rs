//! Running `BPF_PROG_TYPE_SYSCALL` programs.
//!
//! A syscall program runs only through `BPF_PROG_TEST_RUN`, on a context
//! the caller passes in `ctx_in`, and the kernel copies the context back
//! into the **same** `ctx_in` buffer after the run (`ctx_out`, `data_*`,
//! `repeat` and `flags` must all be zero). [`crate::prog_test_run`]
//! borrows `ctx_in` immutably, so it must not be used for these programs:
//! the kernel would write through a shared borrow. [`prog_run_syscall`]
//! borrows the context mutably.

use std::os::fd::AsFd;

use crate::attr::TestRunAttr;
use crate::enums::Cmd;
use crate::error::{Error, Result};
use crate::fd::ProgFd;
use crate::sys::{self, fd_u32, slice_addr_mut};

/// Runs the syscall program `prog` once on the context `ctx`, which the
/// kernel updates in place with what the program wrote. Returns the
/// program's return value.
///
/// `ctx` must cover every offset the program touches (`EINVAL` otherwise;
/// the kernel checks it against the highest offset the verifier saw).
pub fn prog_run_syscall(prog: &ProgFd, ctx: &mut [u8]) -> Result<u32> {
    let cmd = Cmd::PROG_TEST_RUN;
    let ctx_size_in = u32::try_from(ctx.len()).map_err(|_| {
        Error::invalid(format!(
            "prog_run_syscall: a context of {} bytes",
            ctx.len()
        ))
    })?;
    let mut a = TestRunAttr {
        prog_fd: fd_u32(prog.as_fd()),
        ctx_size_in,
        ctx_in: slice_addr_mut(ctx),
        ..Default::default()
    };
    // SAFETY: the only pointer, ctx_in, points to `ctx`, exclusively
    // borrowed for the call: the kernel reads ctx_size_in bytes from it
    // and, for a syscall program, writes the same number back.
    unsafe { sys::bpf(cmd, &mut a) }.map_err(|e| Error::syscall(cmd, e))?;
    Ok(a.retval)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::prog_flags;
    use crate::{ProgLoadOptions, ProgType, VerifierLog, prog_load};
    use oxbpf_asm::Insn;

    /// `*(u32 *)(r1 + 4) = *(u32 *)(r1 + 0) + 1; r0 = 9; exit`.
    fn increment() -> ProgFd {
        let insns = [
            Insn::ldx_mem(oxbpf_asm::opcode::size::W, 2, 1, 0),
            Insn::alu64_imm(oxbpf_asm::opcode::alu::ADD, 2, 1),
            Insn::stx_mem(oxbpf_asm::opcode::size::W, 1, 2, 4),
            Insn::mov64_imm(0, 9),
            Insn::exit(),
        ];
        let mut opts = ProgLoadOptions::new(ProgType::SYSCALL, &insns, c"GPL");
        opts.prog_flags = prog_flags::SLEEPABLE;
        prog_load(&opts, &mut VerifierLog::new()).unwrap()
    }

    #[test]
    fn the_context_is_written_back() {
        if !crate::mmap::tests::have(
            "syscall_progs",
            crate::probe_prog_type(crate::ProgType::SYSCALL),
        ) {
            return;
        }
        let prog = increment();
        let mut ctx = [0u8; 8];
        ctx[..4].copy_from_slice(&41u32.to_le_bytes());
        assert_eq!(prog_run_syscall(&prog, &mut ctx).unwrap(), 9);
        assert_eq!(&ctx[4..], &42u32.to_le_bytes());
    }

    #[test]
    fn prog_test_run_refuses_to_lend_a_read_only_context() {
        if !crate::mmap::tests::have(
            "syscall_progs",
            crate::probe_prog_type(crate::ProgType::SYSCALL),
        ) {
            return;
        }
        let prog = increment();
        let ctx = [0u8; 8];
        let opts = crate::TestRunOptions {
            ctx_in: &ctx,
            ..crate::TestRunOptions::new(&[], 0)
        };
        let err = crate::prog_test_run(&prog, &opts).unwrap_err();
        assert!(err.to_string().contains("prog_run_syscall"), "{err}");
        assert_eq!(ctx, [0; 8], "the kernel never ran it");
    }

    #[test]
    fn a_short_context_is_refused() {
        if !crate::mmap::tests::have(
            "syscall_progs",
            crate::probe_prog_type(crate::ProgType::SYSCALL),
        ) {
            return;
        }
        let prog = increment();
        let err = prog_run_syscall(&prog, &mut [0u8; 4]).unwrap_err();
        assert_eq!(err.errno(), Some(crate::Errno::INVAL), "{err}");
    }
}
