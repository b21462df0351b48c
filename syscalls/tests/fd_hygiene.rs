//! fd hygiene, in a test binary of its own (`harness = false`, one
//! thread), because the checks close stdin, stdout and stderr and compare
//! the process's whole fd table, which parallel tests would disturb.
//!
//! 1. With fds 0, 1 and 2 closed, every kind of fd this crate returns
//!    (map, program, BTF, link, perf event, clone, fd by id) is above 2,
//!    and 0..=2 are still free afterwards; opening a file then gets fd 0,
//!    which proves the kernel would have handed out the low numbers.
//! 2. A multi-step scenario is run once per `bpf()` call it makes, with
//!    that call (and, in a second pass, only that call) failing through
//!    fault injection: each run fails with the injected errno or succeeds,
//!    and the fd table afterwards equals the one before.

mod common;

use std::collections::BTreeSet;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, IntoRawFd, OwnedFd};

use common::*;
use oxbpf_syscalls::*;

fn open_fds() -> BTreeSet<i32> {
    // The directory's own fd shows up too, at the same number each time as
    // long as nothing else changed.
    std::fs::read_dir("/proc/self/fd")
        .expect("listing /proc/self/fd")
        .map(|e| {
            e.expect("fd entry")
                .file_name()
                .to_string_lossy()
                .parse()
                .expect("fd number")
        })
        .collect()
}

fn is_open(fd: i32) -> bool {
    std::fs::read_link(format!("/proc/self/fd/{fd}")).is_ok()
}

/// Each kind of fd and its number.
type Made = Vec<(&'static str, i32)>;

/// Creates one of each kind of fd; returns their numbers while they are
/// all still open, and which of 0..=2 were open at that moment.
fn make_everything() -> Result<(Made, Vec<i32>), Error> {
    let btf = btf_load(&int_btf(32), &mut VerifierLog::new())?;
    let map = map_create(&MapCreateAttr::new(MapType::ARRAY, 4, 8, 1))?;
    let insns = counter_insns(&map, gettid());
    let prog = prog_load(
        &ProgLoadOptions::new(ProgType::RAW_TRACEPOINT, &insns, c"GPL"),
        &mut VerifierLog::new(),
    )?;
    let link = raw_tracepoint_open(Some(c"sys_enter"), &prog)?;
    let event = perf_event_open_tracepoint(tracepoint_id("raw_syscalls", "sys_enter")?, -1, 0)?;
    let clone = map.try_clone()?;
    let by_id = prog_get_fd_by_id(prog_info(&prog)?.id)?;
    let fds = vec![
        ("btf", btf.as_raw_fd()),
        ("map", map.as_raw_fd()),
        ("prog", prog.as_raw_fd()),
        ("link", link.as_raw_fd()),
        ("perf event", event.as_raw_fd()),
        ("map clone", clone.as_raw_fd()),
        ("prog by id", by_id.as_raw_fd()),
    ];
    let low_open = (0..=2).filter(|&fd| is_open(fd)).collect();
    Ok((fds, low_open))
}

fn low_fds_are_never_returned(failures: &mut Vec<String>) -> usize {
    let saved = rustix::io::fcntl_dupfd_cloexec(std::io::stderr(), 10).expect("saving stderr");
    // SAFETY: this program is single-threaded and nothing reads or writes
    // the standard streams until they are restored below; closing them
    // invalidates no Rust-owned fd (std's handles do not own them).
    unsafe {
        libc::close(0);
        libc::close(1);
        libc::close(2);
    }
    let result = make_everything();
    // The kernel hands out the lowest free numbers: with 0..=2 free, the
    // next three files land there. These become the new standard streams.
    let nulls: Vec<File> = (0..3)
        .map(|_| File::open("/dev/null").expect("opening /dev/null"))
        .collect();
    let null_fds: Vec<i32> = nulls.iter().map(|f| f.as_raw_fd()).collect();
    let mut std_fds: Vec<OwnedFd> = nulls.into_iter().map(OwnedFd::from).collect();
    rustix::io::dup2(&saved, &mut std_fds[1]).expect("restoring stdout");
    rustix::io::dup2(&saved, &mut std_fds[2]).expect("restoring stderr");
    for fd in std_fds {
        let _ = fd.into_raw_fd(); // they are the standard streams now
    }

    let mut checks = 0;
    match result {
        Err(e) => failures.push(format!("creating objects with 0..=2 closed: {e}")),
        Ok((fds, low_open)) => {
            for (what, fd) in fds {
                checks += 1;
                if fd <= 2 {
                    failures.push(format!("{what} got fd {fd}"));
                }
            }
            checks += 1;
            if !low_open.is_empty() {
                failures.push(format!(
                    "fds {low_open:?} were left open (the low duplicates must be closed)"
                ));
            }
        }
    }
    checks += 1;
    if null_fds != [0, 1, 2] {
        failures.push(format!(
            "after the test /dev/null opened at {null_fds:?}: the test did not exercise fds 0..=2"
        ));
    }
    checks
}

/// Several steps, each creating something the next ones use.
fn scenario() -> Result<(), Error> {
    let btf = btf_load(&int_btf(32), &mut VerifierLog::new())?;
    let mut a = MapCreateAttr::new(MapType::ARRAY, 4, 4, 1);
    a.btf_fd = btf.as_fd().as_raw_fd() as u32;
    a.btf_key_type_id = 1;
    a.btf_value_type_id = 1;
    let typed = map_create(&a)?;
    map_update_elem(&typed, &0u32.to_ne_bytes(), &5u32.to_ne_bytes(), 0)?;
    let counter = map_create(&MapCreateAttr::new(MapType::ARRAY, 4, 8, 1))?;
    let insns = counter_insns(&counter, gettid());
    let prog = prog_load(
        &ProgLoadOptions::new(ProgType::RAW_TRACEPOINT, &insns, c"GPL"),
        &mut VerifierLog::new(),
    )?;
    let link = raw_tracepoint_open(Some(c"sys_enter"), &prog)?;
    let again = link_get_fd_by_id(link_info(&link)?.id)?;
    let same = map_get_fd_by_id(map_info(&counter)?.id)?;
    map_freeze(&typed)?;
    drop((again, same));
    Ok(())
}

fn every_step_can_fail_without_leaks(failures: &mut Vec<String>) -> usize {
    let before = open_fds();
    let counting = fault::count();
    if let Err(e) = scenario() {
        failures.push(format!("scenario without faults: {e}"));
        return 1;
    }
    let n = counting.calls();
    drop(counting);
    let mut checks = 1;
    if open_fds() != before {
        failures.push("scenario without faults leaked fds".into());
    }
    if n < 10 {
        failures.push(format!("scenario made only {n} bpf() calls"));
    }
    for k in 0..n {
        for mode in ["from", "only"] {
            let guard = match mode {
                "from" => fault::fail_from(k, Errno::NOMEM),
                _ => fault::fail_nth(k, Errno::NOMEM),
            };
            let r = scenario();
            drop(guard);
            checks += 1;
            match (mode, &r) {
                (_, Err(e)) if e.errno() == Some(Errno::NOMEM) => {}
                // Failing only the first attempt of a load is healed by the
                // logged retry.
                ("only", Ok(())) => {}
                _ => failures.push(format!("failing call {k} ({mode}): {r:?}")),
            }
            let after = open_fds();
            if after != before {
                failures.push(format!(
                    "failing call {k} ({mode}) leaked fds {:?}",
                    after.difference(&before).collect::<Vec<_>>()
                ));
            }
        }
    }
    checks
}

fn main() {
    let before = open_fds();
    let mut failures = Vec::new();
    let mut checks = low_fds_are_never_returned(&mut failures);
    checks += every_step_can_fail_without_leaks(&mut failures);
    checks += 1;
    if open_fds() != before {
        failures.push(format!(
            "fds at the start {before:?}, at the end {:?}",
            open_fds()
        ));
    }
    if failures.is_empty() {
        println!("fd_hygiene: {checks} checks passed");
    } else {
        eprintln!("fd_hygiene: {} of {checks} checks failed:", failures.len());
        for f in &failures {
            eprintln!("  {f}");
        }
        std::process::exit(1);
    }
}
