//! Taking ownership of the fds a syscall program creates.
//!
//! A `BPF_PROG_TYPE_SYSCALL` program that calls `bpf_sys_bpf` (a generated
//! loader) creates maps, programs and BTF objects whose fds are installed
//! in the fd table of the process that ran it; the program reports their
//! numbers in its context. Turning a number into an [`OwnedFd`] is only
//! sound if the fd is open and nothing else owns it, which
//! [`prog_run_syscall_with_fds`] checks instead of trusting the program:
//! every fd it adopts refers to a BPF object that was not behind that fd
//! number before the run, and is adopted once.
//!
//! The check compares kernel objects (kind and id), not fd numbers: in a
//! process whose other threads open and close fds while the program runs,
//! the program may well be handed a number that was open before the run
//! and closed since.

use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::error::{Error, Result};
use crate::fd::{BtfFd, MapFd, ProgFd};

/// The fds open in this process, without the one used to list them.
fn open_fds() -> Result<BTreeSet<RawFd>> {
    use rustix::fs::{Dir, Mode, OFlags};
    let io = |errno: rustix::io::Errno| Error::Io {
        what: "listing the open fds in",
        path: "/proc/thread-self/fd".into(),
        source: std::io::Error::from_raw_os_error(errno.raw_os_error()),
    };
    let fd = rustix::fs::open(
        "/proc/thread-self/fd",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(io)?;
    let own = fd.as_raw_fd();
    let mut dir = Dir::new(fd).map_err(io)?;
    let mut fds = BTreeSet::new();
    while let Some(entry) = dir.read() {
        let entry = entry.map_err(io)?;
        if let Some(n) = entry
            .file_name()
            .to_str()
            .ok()
            .and_then(|s| s.parse::<RawFd>().ok())
        {
            if n != own {
                fds.insert(n);
            }
        }
    }
    Ok(fds)
}

/// A BPF object a syscall program created, typed by what the kernel says
/// its file is.
#[derive(Debug)]
#[non_exhaustive]
pub enum CreatedFd {
    /// A map (`anon_inode:bpf-map`).
    Map(MapFd),
    /// A program (`anon_inode:bpf-prog`).
    Prog(ProgFd),
    /// A BTF object (`anon_inode:btf`).
    Btf(BtfFd),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Map,
    Prog,
    Btf,
}

/// What kind of BPF object `fd` is, if it is a map, program or BTF.
fn kind_of(fd: RawFd) -> Option<Kind> {
    let target = std::fs::read_link(format!("/proc/thread-self/fd/{fd}")).ok()?;
    match target.to_str()? {
        "anon_inode:bpf-map" => Some(Kind::Map),
        "anon_inode:bpf-prog" => Some(Kind::Prog),
        "anon_inode:btf" => Some(Kind::Btf),
        _ => None,
    }
}

/// The BPF object behind an fd, as far as `/proc` tells.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Identity {
    /// Its kind and kernel id.
    Known(Kind, u32),
    /// A map, program or BTF object whose id could not be read (fdinfo
    /// failed: no fd left for the read, no memory): it may be anything,
    /// so a program reporting this number is not believed.
    Unknown(Kind),
}

/// The kernel object behind `fd`: its kind and id (from
/// `/proc/thread-self/fdinfo`, which needs no borrow of an fd this code
/// does not own), or `None` for anything but a map, program or BTF
/// object.
fn object_of(fd: RawFd) -> Option<Identity> {
    let kind = kind_of(fd)?;
    let key = match kind {
        Kind::Map => "map_id:",
        Kind::Prog => "prog_id:",
        Kind::Btf => "btf_id:",
    };
    let id = std::fs::read_to_string(format!("/proc/thread-self/fdinfo/{fd}"))
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix(key))?
                .trim()
                .parse()
                .ok()
        });
    Some(match id {
        Some(id) => Identity::Known(kind, id),
        None => Identity::Unknown(kind),
    })
}

/// The BPF objects behind this thread's open fds (the process's fd table,
/// unless the thread has its own).
fn open_objects() -> Result<BTreeMap<RawFd, Identity>> {
    Ok(open_fds()?
        .into_iter()
        .filter_map(|fd| Some((fd, object_of(fd)?)))
        .collect())
}

/// Whether `fd`, reported by the program, may be taken: open now, not yet
/// taken (`numbers` records it), and a BPF object other than the one that
/// number held before the run.
fn adoptable(
    fd: RawFd,
    before: &BTreeMap<RawFd, Identity>,
    after: &BTreeSet<RawFd>,
    numbers: &mut BTreeSet<RawFd>,
) -> std::result::Result<Kind, &'static str> {
    if !after.contains(&fd) {
        return Err("is not open");
    }
    if !numbers.insert(fd) {
        return Err("is named twice");
    }
    if let Some(Identity::Unknown(_)) = before.get(&fd) {
        return Err("was open before the program ran (a BPF object whose id could not be read)");
    }
    match object_of(fd).ok_or("is no map, program or BTF object")? {
        Identity::Unknown(_) => Err("is a BPF object whose id cannot be read"),
        now if before.get(&fd) == Some(&now) => Err("was open before the program ran"),
        Identity::Known(kind, _) => Ok(kind),
    }
}

/// Runs the syscall program `prog` once on `ctx` (as
/// [`crate::prog_run_syscall`]) and takes ownership of the fds it created,
/// typed by what the kernel says each is (a map's sizes asked for as
/// [`MapFd::from_owned`] does).
///
/// `pick` reads the context as the program left it, with the program's
/// return value, and names the fds to take (in the order it wants them
/// back). Each must refer to a map, program or BTF object that no fd of
/// this process referred to under that number before the run; none may be
/// named twice. If any
/// fails these checks, the valid ones are closed and the call fails with
/// [`Error::InvalidInput`] naming the first bad one: an fd the program did
/// not create is never taken. Fds 0 to 2 (possible when the process had
/// closed stdin, stdout or stderr) are moved above 2, as everywhere in this
/// crate.
///
/// Two gaps: if `BPF_PROG_TEST_RUN` fails after the program ran (the
/// kernel could not copy the context back), the fds the program created
/// cannot be known and stay open; and a *faulty* program that reports a
/// number another thread opened for a new BPF object during the run is
/// not caught (a program that reports what it created is always right,
/// whatever other threads do).
pub fn prog_run_syscall_with_fds(
    prog: &ProgFd,
    ctx: &mut [u8],
    pick: impl FnOnce(&[u8], u32) -> Vec<RawFd>,
) -> Result<(u32, Vec<CreatedFd>)> {
    let before = open_objects()?;
    let retval = crate::prog_run_syscall(prog, ctx)?;
    let wanted = pick(ctx, retval);
    let after = open_fds()?;
    let mut taken: Vec<(OwnedFd, Kind)> = Vec::with_capacity(wanted.len());
    let mut numbers: BTreeSet<RawFd> = BTreeSet::new();
    let mut bad = None;
    for fd in wanted {
        let kind = match adoptable(fd, &before, &after, &mut numbers) {
            Ok(kind) => kind,
            Err(why) => {
                bad.get_or_insert((fd, why));
                continue;
            }
        };
        // SAFETY: `fd` is open now and refers to a BPF object that no fd
        // of this process referred to under this number before the run,
        // so the program created it (bpf_sys_bpf installs new fds in this
        // process's table); nothing in this process has been told its
        // number but this function, which takes it once.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        let owned = if fd > 2 {
            owned
        } else {
            let moved =
                rustix::io::fcntl_dupfd_cloexec(&owned, 3).map_err(|errno| Error::DupFd {
                    origin: "a syscall program".into(),
                    fd,
                    errno,
                })?;
            drop(owned);
            moved
        };
        taken.push((owned, kind));
    }
    if let Some((fd, why)) = bad {
        drop(taken);
        return Err(Error::invalid(format!(
            "prog_run_syscall_with_fds: fd {fd} reported by the program {why}"
        )));
    }
    let mut out = Vec::with_capacity(taken.len());
    for (fd, kind) in taken {
        out.push(match kind {
            Kind::Map => CreatedFd::Map(MapFd::from_kernel(fd)?),
            Kind::Prog => CreatedFd::Prog(ProgFd::from_kernel(fd)),
            Kind::Btf => CreatedFd::Btf(BtfFd::from_kernel(fd)),
        });
    }
    Ok((retval, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::prog_flags;
    use crate::{ProgLoadOptions, ProgType, VerifierLog, prog_load};
    use oxbpf_asm::Insn;
    use oxbpf_asm::opcode::{alu, size};

    #[test]
    fn listing_sees_open_fds_only() {
        // Other tests of this binary open and close fds meanwhile: the
        // file sits at a high number they do not reach, and only it is
        // checked.
        let file = std::fs::File::open("/proc/self/status").unwrap();
        let high = rustix::io::fcntl_dupfd_cloexec(&file, 700).unwrap();
        drop(file);
        let raw = high.as_raw_fd();
        let with = open_fds().unwrap();
        assert!(with.contains(&raw));
        drop(high);
        assert!(!open_fds().unwrap().contains(&raw));
    }

    #[test]
    fn a_number_reused_for_a_new_object_is_adoptable() {
        if !crate::mmap::tests::have(
            "syscall_progs",
            crate::probe_prog_type(crate::ProgType::SYSCALL),
        ) {
            return;
        }
        use crate::{MapCreateAttr, MapType, map_create};
        let map = || -> OwnedFd {
            map_create(&MapCreateAttr::new(MapType::ARRAY, 4, 4, 1))
                .unwrap()
                .into()
        };
        // Another thread's file, closed during the run, its number reused
        // for the object the program creates (dup2 stands for both).
        let mut slot: OwnedFd = std::fs::File::open("/proc/self/status").unwrap().into();
        let number = slot.as_raw_fd();
        let before = open_objects().unwrap();
        assert_eq!(before.get(&number), None);
        rustix::io::dup2(map(), &mut slot).unwrap();
        let after = open_fds().unwrap();
        let mut numbers = BTreeSet::new();
        assert_eq!(
            adoptable(number, &before, &after, &mut numbers),
            Ok(Kind::Map)
        );
        assert_eq!(
            adoptable(number, &before, &after, &mut numbers),
            Err("is named twice")
        );
        // A map closed and its number reused for a new map: the kernel
        // ids tell them apart.
        let before = open_objects().unwrap();
        assert!(matches!(
            before.get(&number),
            Some(Identity::Known(Kind::Map, _))
        ));
        rustix::io::dup2(map(), &mut slot).unwrap();
        assert_eq!(
            adoptable(number, &before, &after, &mut BTreeSet::new()),
            Ok(Kind::Map)
        );
        // The object that was there before the run is refused.
        let before = open_objects().unwrap();
        assert_eq!(
            adoptable(number, &before, &after, &mut BTreeSet::new()),
            Err("was open before the program ran")
        );
        // A program is recognised as one.
        let prog = reporter();
        assert!(matches!(
            object_of(prog.as_raw_fd()),
            Some(Identity::Known(Kind::Prog, _))
        ));
        // A number whose object could not be identified before the run is
        // never adopted.
        let mut before = open_objects().unwrap();
        before.insert(number, Identity::Unknown(Kind::Map));
        rustix::io::dup2(map(), &mut slot).unwrap();
        assert!(
            adoptable(number, &before, &after, &mut BTreeSet::new())
                .unwrap_err()
                .contains("could not be read")
        );
    }

    /// `*(u32 *)(r1 + 0) = <value>; r0 = 0; exit`: reports a number
    /// without creating anything.
    fn reporter() -> ProgFd {
        let insns = [
            Insn::ldx_mem(size::W, 2, 1, 4),
            Insn::stx_mem(size::W, 1, 2, 0),
            Insn::alu64_imm(alu::MOV, 0, 0),
            Insn::exit(),
        ];
        let mut opts = ProgLoadOptions::new(ProgType::SYSCALL, &insns, c"GPL");
        opts.prog_flags = prog_flags::SLEEPABLE;
        prog_load(&opts, &mut VerifierLog::new()).unwrap()
    }

    #[test]
    fn an_fd_the_program_did_not_create_is_refused() {
        if !crate::mmap::tests::have(
            "syscall_progs",
            crate::probe_prog_type(crate::ProgType::SYSCALL),
        ) {
            return;
        }
        let prog = reporter();
        let mut ctx = [0u8; 8];
        let own = prog.as_raw_fd();
        ctx[4..].copy_from_slice(&own.to_ne_bytes());
        let err = prog_run_syscall_with_fds(&prog, &mut ctx, |ctx, _| {
            vec![i32::from_ne_bytes([ctx[0], ctx[1], ctx[2], ctx[3]])]
        })
        .unwrap_err();
        assert!(err.to_string().contains("was open before"), "{err}");
        // The program's own fd is still open and usable.
        assert!(crate::prog_info(&prog).is_ok());
        let err = prog_run_syscall_with_fds(&prog, &mut ctx, |_, _| vec![9999]).unwrap_err();
        assert!(err.to_string().contains("is not open"), "{err}");
        let (ret, fds) = prog_run_syscall_with_fds(&prog, &mut ctx, |_, _| Vec::new()).unwrap();
        assert_eq!((ret, fds.len()), (0, 0));
    }
}
