//! Fault injection for tests: make a chosen `bpf()` call fail with a
//! chosen errno without reaching the kernel.
//!
//! Every `bpf()` call of this crate goes through one function. Before it
//! enters the kernel it asks the current thread's hook, if one is
//! installed, whether to fail. The hook sees the command and the index of
//! the call among all `bpf()` calls made on this thread since the hook was
//! installed (0-based, failed calls included). The hook is thread-local, so
//! tests running in parallel do not see each other's faults; code that
//! runs on another thread is not affected.
//!
//! This is how "fail step k of n, check nothing leaked" tests work: run the
//! operation once under [`count`] to learn n, then for each k run it again
//! under [`fail_from`]`(k, ..)` and check the result and the fds.
//!
//! Some wrappers make more than one call: [`crate::prog_load`] and
//! [`crate::btf_load`] retry a failed load with a log buffer (and again with
//! a bigger one on `ENOSPC`), so to make a load fail, fail every call of it
//! ([`fail_from`], [`fail_cmd`]), not only the first.
//!
//! ```
//! use oxbpf_syscalls::{fault, Cmd, Errno, MapCreateAttr, MapType, map_create};
//!
//! let guard = fault::fail_cmd(Cmd::MAP_CREATE, Errno::NOMEM);
//! let err = map_create(&MapCreateAttr::new(MapType::ARRAY, 4, 8, 1)).unwrap_err();
//! assert_eq!(err.errno(), Some(Errno::NOMEM));
//! assert_eq!(guard.calls(), 1);
//! drop(guard); // calls reach the kernel again
//! ```

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::rc::Rc;

use crate::enums::Cmd;
use crate::error::Errno;

type HookFn = dyn FnMut(Cmd, u64) -> Option<Errno>;

struct Hook {
    f: Box<HookFn>,
    calls: Rc<Cell<u64>>,
}

thread_local! {
    static HOOK: RefCell<Option<Hook>> = const { RefCell::new(None) };
}

/// Asks the current thread's hook whether call `cmd` should fail.
pub(crate) fn check(cmd: Cmd) -> Option<Errno> {
    HOOK.with(|cell| {
        // A hook that itself calls bpf() would find the cell borrowed: its
        // own calls go to the kernel unhooked.
        let mut slot = cell.try_borrow_mut().ok()?;
        let hook = slot.as_mut()?;
        let n = hook.calls.get();
        hook.calls.set(n + 1);
        let verdict = (hook.f)(cmd, n);
        if let Some(e) = verdict {
            log::debug!(target: "oxbpf::syscalls", "fault injected: call #{n} {cmd} fails with {e:?}");
        }
        verdict
    })
}

/// An installed hook. Dropping it reinstates the hook that was installed
/// before it (usually none). Not `Send`: it belongs to the thread.
#[must_use = "the hook is removed when the guard is dropped"]
pub struct Injection {
    calls: Rc<Cell<u64>>,
    prev: Option<Hook>,
    _not_send: PhantomData<*const ()>,
}

impl Injection {
    /// Number of `bpf()` calls the hook has seen so far (failed ones
    /// included).
    pub fn calls(&self) -> u64 {
        self.calls.get()
    }
}

impl Drop for Injection {
    fn drop(&mut self) {
        let prev = self.prev.take();
        HOOK.with(|cell| *cell.borrow_mut() = prev);
    }
}

impl std::fmt::Debug for Injection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Injection")
            .field("calls", &self.calls.get())
            .finish()
    }
}

/// Installs `hook` on the current thread: for each `bpf()` call it gets
/// the command and the call's index, and returns `Some(errno)` to make the
/// call fail with that errno instead of entering the kernel.
pub fn inject(hook: impl FnMut(Cmd, u64) -> Option<Errno> + 'static) -> Injection {
    let calls = Rc::new(Cell::new(0));
    let new = Hook {
        f: Box::new(hook),
        calls: calls.clone(),
    };
    let prev = HOOK.with(|cell| cell.borrow_mut().replace(new));
    Injection {
        calls,
        prev,
        _not_send: PhantomData,
    }
}

/// Counts calls without failing any.
pub fn count() -> Injection {
    inject(|_, _| None)
}

/// Fails exactly the call with index `n`.
pub fn fail_nth(n: u64, errno: Errno) -> Injection {
    inject(move |_, i| (i == n).then_some(errno))
}

/// Fails the call with index `n` and every later one.
pub fn fail_from(n: u64, errno: Errno) -> Injection {
    inject(move |_, i| (i >= n).then_some(errno))
}

/// Fails every call of command `cmd`.
pub fn fail_cmd(cmd: Cmd, errno: Errno) -> Injection {
    inject(move |c, _| (c == cmd).then_some(errno))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_nest_and_count() {
        assert_eq!(check(Cmd::MAP_CREATE), None);
        let outer = fail_cmd(Cmd::MAP_CREATE, Errno::NOMEM);
        assert_eq!(check(Cmd::MAP_CREATE), Some(Errno::NOMEM));
        {
            let inner = fail_nth(1, Errno::PERM);
            assert_eq!(check(Cmd::MAP_CREATE), None);
            assert_eq!(check(Cmd::PROG_LOAD), Some(Errno::PERM));
            assert_eq!(check(Cmd::PROG_LOAD), None);
            assert_eq!(inner.calls(), 3);
        }
        assert_eq!(check(Cmd::PROG_LOAD), None);
        assert_eq!(check(Cmd::MAP_CREATE), Some(Errno::NOMEM));
        assert_eq!(outer.calls(), 3);
        drop(outer);
        assert_eq!(check(Cmd::MAP_CREATE), None);
    }

    #[test]
    fn fail_from_fails_the_rest() {
        let g = fail_from(2, Errno::INVAL);
        let got: Vec<_> = (0..4).map(|_| check(Cmd::MAP_UPDATE_ELEM)).collect();
        assert_eq!(
            got,
            vec![None, None, Some(Errno::INVAL), Some(Errno::INVAL)]
        );
        assert_eq!(g.calls(), 4);
    }

    #[test]
    fn other_threads_are_not_affected() {
        let _g = fail_cmd(Cmd::MAP_CREATE, Errno::NOMEM);
        let seen = std::thread::spawn(|| check(Cmd::MAP_CREATE))
            .join()
            .unwrap();
        assert_eq!(seen, None);
        assert_eq!(check(Cmd::MAP_CREATE), Some(Errno::NOMEM));
    }
}
