//! libbpf's generated loader: `bpf_object__gen_loader` then
//! `bpf_object__load` (libbpf 1.7, the crates.io `libbpf-sys` build) make a
//! loader program and its data blob instead of loading the object — what
//! `bpftool gen skeleton -L` embeds — and [`run`] executes one as a light
//! skeleton's runtime does (the protocol `skel_internal.h` describes): the
//! blob in a one-element array map (written, frozen), the loader loaded as
//! a sleepable `BPF_PROG_TYPE_SYSCALL` program with `fd_array` = that map,
//! one `BPF_PROG_TEST_RUN` on a `struct bpf_loader_ctx` followed by one
//! `struct bpf_map_desc` per map and one `struct bpf_prog_desc` per
//! program, in which the loader returns the fds it created.
//!
//! The runner makes its system calls through `oxbpf::sys`, the same calls
//! oxbpf's own light-skeleton runtime makes (fds adopted with
//! `prog_run_syscall_with_fds`), so that timing both runtimes compares the
//! loaders, not two runtimes.
//!
//! Shared by the oracle's differential test (`oracle/tests/loader_oracle.rs`)
//! and the loader benchmark (`loader/benches`), which include this file
//! with `#[path]`; the including crate depends on `libbpf-sys` and `oxbpf`.
//! Calling libbpf is FFI: each `unsafe` block has its `SAFETY` comment.
#![allow(dead_code)]

use std::ffi::{CStr, CString, c_char};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use libbpf_sys as lb;
use oxbpf::asm::Insn;
use oxbpf::sys;

/// `struct bpf_loader_ctx` (sz, flags, log_level, log_size, log_buf).
pub const CTX_HEADER: usize = 24;
/// `struct bpf_map_desc` (map_fd out; max_entries and initial_value in,
/// 0 meaning the blob's).
pub const MAP_DESC: usize = 16;
/// `struct bpf_prog_desc` (prog_fd out).
pub const PROG_DESC: usize = 4;
/// The name skel_internal.h gives the blob map.
pub const BLOB_MAP_NAME: &str = "__loader.map";
/// The name skel_internal.h gives the loader program.
pub const LOADER_PROG_NAME: &str = "__loader.prog";
/// The loader's license.
pub const LOADER_LICENSE: &CStr = c"Dual BSD/GPL";

/// A loader libbpf generated for one object.
#[derive(Clone, Debug)]
pub struct LibbpfLoader {
    /// The loader program.
    pub insns: Vec<Insn>,
    /// Its data blob.
    pub data: Vec<u8>,
    /// Every map of the object in libbpf's order: the fd of map `i` comes
    /// back in map slot `i`.
    pub maps: Vec<String>,
    /// The programs libbpf loads (autoload on), in order, with their
    /// expected attach type: program slot `j`.
    pub progs: Vec<(String, u32)>,
}

impl LibbpfLoader {
    /// Bytes of the loader's context.
    pub fn ctx_size(&self) -> usize {
        CTX_HEADER + MAP_DESC * self.maps.len() + PROG_DESC * self.progs.len()
    }
}

/// What libbpf's loader created: maps and programs by libbpf's names
/// (programs with their expected attach type).
#[derive(Debug)]
pub struct LibbpfLoaded {
    /// Maps by name.
    pub maps: Vec<(String, sys::MapFd)>,
    /// Programs by name, with the expected attach type libbpf gave them.
    pub progs: Vec<(String, u32, sys::ProgFd)>,
}

fn errno_message(err: i32) -> String {
    std::io::Error::from_raw_os_error(err.abs()).to_string()
}

fn cstr(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: libbpf returns NUL-terminated names that live as long as
    // the object, which outlives this call.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// A libbpf `struct bpf_object`, closed on drop.
struct Object(*mut lb::bpf_object);

impl Drop for Object {
    fn drop(&mut self) {
        // SAFETY: self.0 came from bpf_object__open_file and is closed
        // once (in generation mode it holds no kernel object).
        unsafe { lb::bpf_object__close(self.0) }
    }
}

/// Has libbpf generate the loader of the object at `path` (maps pinned by
/// name under `pin_root`). The error names the stage (`open`,
/// `generate`) and the errno; libbpf's own message goes to its print
/// callback.
pub fn generate(path: &Path, pin_root: &Path) -> Result<LibbpfLoader, String> {
    let cpath = CString::new(path.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
    let cpin = CString::new(pin_root.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
    let open_opts = lb::bpf_object_open_opts {
        sz: size_of::<lb::bpf_object_open_opts>() as _,
        pin_root_path: cpin.as_ptr(),
        ..Default::default()
    };
    // SAFETY: both strings are NUL-terminated and outlive the call (libbpf
    // copies the pin root); `sz` is the size of the struct passed.
    let raw = unsafe { lb::bpf_object__open_file(cpath.as_ptr(), &open_opts) };
    if raw.is_null() {
        return Err(format!("open: {}", std::io::Error::last_os_error()));
    }
    let obj = Object(raw);
    let mut opts = lb::gen_loader_opts {
        sz: size_of::<lb::gen_loader_opts>() as _,
        ..Default::default()
    };
    // SAFETY: obj.0 is an open, not yet loaded object; `opts` is a
    // zeroed gen_loader_opts of the size given in `sz`, which libbpf keeps
    // a pointer to until the load below fills it.
    let r = unsafe { lb::bpf_object__gen_loader(obj.0, &mut opts) };
    if r < 0 {
        return Err(format!("gen_loader: {}", errno_message(r)));
    }
    // SAFETY: obj.0 is open and in generation mode; loaded at most once.
    let r = unsafe { lb::bpf_object__load(obj.0) };
    if r < 0 {
        return Err(format!("generate: {}", errno_message(r)));
    }
    let copy = |p: *const c_char, len: u32| -> Vec<u8> {
        if p.is_null() || len == 0 {
            return Vec::new();
        }
        // SAFETY: after a successful load libbpf points `p` at `len`
        // bytes it owns until the object is closed, which happens after
        // this copy.
        unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len as usize) }.to_vec()
    };
    let insn_bytes = copy(opts.insns, opts.insns_sz);
    let data = copy(opts.data, opts.data_sz);
    let insns = Insn::vec_from_bytes(&insn_bytes, false)
        .map_err(|e| format!("libbpf's loader instructions: {e}"))?;

    let mut maps = Vec::new();
    let mut m: *mut lb::bpf_map = std::ptr::null_mut();
    loop {
        // SAFETY: obj.0 is open; `m` is NULL or the previous map.
        m = unsafe { lb::bpf_object__next_map(obj.0, m) };
        if m.is_null() {
            break;
        }
        // SAFETY: `m` is a map of the live object.
        maps.push(cstr(unsafe { lb::bpf_map__name(m) }));
    }
    let mut progs = Vec::new();
    let mut p: *mut lb::bpf_program = std::ptr::null_mut();
    loop {
        // SAFETY: obj.0 is open; `p` is NULL or the previous program.
        p = unsafe { lb::bpf_object__next_program(obj.0, p) };
        if p.is_null() {
            break;
        }
        // SAFETY: `p` is a program of the live object.
        let (name, autoload, attach) = unsafe {
            (
                cstr(lb::bpf_program__name(p)),
                lb::bpf_program__autoload(p),
                lb::bpf_program__expected_attach_type(p),
            )
        };
        if autoload {
            progs.push((name, attach));
        }
    }
    Ok(LibbpfLoader {
        insns,
        data,
        maps,
        progs,
    })
}

/// The fd word at `off` of the context.
fn word(ctx: &[u8], off: usize) -> i32 {
    ctx.get(off..off + 4)
        .map_or(-1, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

fn sys_err(what: &str) -> impl FnOnce(sys::Error) -> String + '_ {
    // A verifier error displays the last lines of its log.
    move |e| format!("{what}: {e}")
}

/// Runs libbpf's loader: creates and freezes the blob map, loads the
/// loader, runs it, and takes the fds it reports (the blob map and the
/// loader are closed again). A negative return value of the loader is an
/// error naming its errno.
pub fn run(l: &LibbpfLoader) -> Result<LibbpfLoaded, String> {
    let len = u32::try_from(l.data.len()).map_err(|_| "blob too large".to_string())?;
    let mut attr = sys::MapCreateAttr::new(sys::MapType::ARRAY, 4, len, 1);
    attr.map_name = sys::attr::obj_name(BLOB_MAP_NAME);
    let blob = sys::map_create(&attr).map_err(sys_err("blob map"))?;
    sys::map_update_elem(&blob, &0u32.to_ne_bytes(), &l.data, 0).map_err(sys_err("blob map"))?;
    sys::map_freeze(&blob).map_err(sys_err("blob map"))?;
    let fd_array = [blob.as_fd()];
    let mut opts = sys::ProgLoadOptions::new(sys::ProgType::SYSCALL, &l.insns, LOADER_LICENSE);
    opts.name = LOADER_PROG_NAME;
    opts.prog_flags = sys::attr::prog_flags::SLEEPABLE;
    opts.fd_array = &fd_array;
    let prog = sys::prog_load(&opts, &mut sys::VerifierLog::new())
        .map_err(sys_err("loading libbpf's loader"))?;

    let size = l.ctx_size();
    let mut ctx = vec![0u8; size];
    ctx[..4].copy_from_slice(&(size as u32).to_ne_bytes());
    let prog_base = CTX_HEADER + MAP_DESC * l.maps.len();
    // (is a map, slot) of each fd taken, in order.
    let mut owners: Vec<(bool, usize)> = Vec::new();
    let (retval, fds) = sys::prog_run_syscall_with_fds(&prog, &mut ctx, |ctx, retval| {
        if (retval as i32) < 0 {
            return Vec::new();
        }
        let mut fds = Vec::new();
        let slots = (0..l.maps.len())
            .map(|i| (true, i, CTX_HEADER + MAP_DESC * i))
            .chain((0..l.progs.len()).map(|j| (false, j, prog_base + PROG_DESC * j)));
        for (is_map, slot, off) in slots {
            let fd = word(ctx, off);
            if fd > 0 {
                fds.push(fd);
                owners.push((is_map, slot));
            }
        }
        fds
    })
    .map_err(sys_err("running libbpf's loader"))?;
    if (retval as i32) < 0 {
        return Err(format!(
            "libbpf's loader returned {} ({})",
            retval as i32,
            errno_message(retval as i32)
        ));
    }
    let mut out = LibbpfLoaded {
        maps: Vec::new(),
        progs: Vec::new(),
    };
    for ((is_map, slot), fd) in owners.into_iter().zip(fds) {
        match (is_map, fd) {
            (true, sys::CreatedFd::Map(fd)) => out.maps.push((l.maps[slot].clone(), fd)),
            (false, sys::CreatedFd::Prog(fd)) => {
                let (name, attach) = &l.progs[slot];
                out.progs.push((name.clone(), *attach, fd));
            }
            (is_map, fd) => {
                return Err(format!(
                    "libbpf's loader reports {fd:?} in {} slot {slot}",
                    if is_map { "map" } else { "program" }
                ));
            }
        }
    }
    Ok(out)
}
