//! The libbpf side of the oracle: libbpf 1.7 (crates.io `libbpf-sys`)
//! opens and loads an object; its programs and maps are then reopened by
//! id, so that the kernel is read back by the same code as for oxbpf.
//!
//! Calling libbpf is FFI, so unlike the library crates this file has
//! `unsafe` blocks, each with its `SAFETY` comment. libbpf's global state
//! is its print callback (set once here) and its feature-probe cache
//! (harmless); every `bpf_object` is closed before the next one opens.
//!
//! Shared by the live oracle (`oracle.rs`: [`load`]) and the generated
//! loaders' (`loader_oracle.rs`: [`generate_loader`]); each uses half.
#![allow(dead_code)]

pub mod gen_loader;

use std::ffi::{CStr, CString, c_char, c_int};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::{Mutex, Once};

use libbpf_sys as lb;
use oxbpf::sys;
use oxbpf_oracle::{Outcome, Snapshot};

static LOG: Mutex<String> = Mutex::new(String::new());
static PRINT: Once = Once::new();

unsafe extern "C" {
    // glibc's; on x86_64 a `va_list` argument is a pointer to the
    // `__va_list_tag` that libbpf hands its print callback.
    fn vsnprintf(
        buf: *mut c_char,
        n: usize,
        fmt: *const c_char,
        ap: *mut lb::__va_list_tag,
    ) -> c_int;
}

/// libbpf's print callback: every level, appended to [`LOG`].
unsafe extern "C" fn print(
    _level: lb::libbpf_print_level,
    fmt: *const c_char,
    ap: *mut lb::__va_list_tag,
) -> c_int {
    let mut buf = vec![0u8; 64 * 1024];
    // SAFETY: `buf` is writable for its length; `fmt` and `ap` are the
    // format and argument list libbpf passed us, used once.
    let n = unsafe { vsnprintf(buf.as_mut_ptr().cast(), buf.len(), fmt, ap) };
    if n < 0 {
        return n;
    }
    let len = (n as usize).min(buf.len() - 1);
    // Never panic across the FFI boundary: a poisoned lock is still usable.
    let mut log = LOG.lock().unwrap_or_else(|e| e.into_inner());
    log.push_str(&String::from_utf8_lossy(&buf[..len]));
    n
}

fn take_log() -> String {
    std::mem::take(&mut *LOG.lock().unwrap_or_else(|e| e.into_inner()))
}

/// The last line libbpf printed with its `libbpf:` prefix, for a refusal's
/// message.
fn last_libbpf_line(log: &str) -> String {
    log.lines()
        .rev()
        .find(|l| l.starts_with("libbpf:"))
        .unwrap_or("")
        .to_owned()
}

/// A libbpf `struct bpf_object`, closed on drop.
struct Object(*mut lb::bpf_object);

impl Drop for Object {
    fn drop(&mut self) {
        // SAFETY: self.0 came from bpf_object__open_file and is closed
        // once; closing frees libbpf's fds (pins stay).
        unsafe { lb::bpf_object__close(self.0) }
    }
}

fn cstr(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: libbpf returns NUL-terminated names that live as long as
    // the object, which outlives this call.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

fn errno_message(err: i32) -> String {
    std::io::Error::from_raw_os_error(err.abs()).to_string()
}

/// The kernel id behind one of libbpf's program fds.
fn prog_id(fd: c_int) -> Result<u32, String> {
    let mut info = lb::bpf_prog_info::default();
    let mut len = size_of::<lb::bpf_prog_info>() as u32;
    // SAFETY: `info` is a zeroed bpf_prog_info (no buffers asked for) of
    // `len` bytes, alive for the call.
    let r = unsafe { lb::bpf_prog_get_info_by_fd(fd, &mut info, &mut len) };
    if r < 0 {
        return Err(errno_message(r));
    }
    Ok(info.id)
}

/// The kernel id behind one of libbpf's map fds.
fn map_id(fd: c_int) -> Result<u32, String> {
    let mut info = lb::bpf_map_info::default();
    let mut len = size_of::<lb::bpf_map_info>() as u32;
    // SAFETY: as in prog_id, for a bpf_map_info.
    let r = unsafe { lb::bpf_map_get_info_by_fd(fd, &mut info, &mut len) };
    if r < 0 {
        return Err(errno_message(r));
    }
    Ok(info.id)
}

/// Opens and loads `path` with libbpf (maps pinned by name go under
/// `pin_root`), reads back what the kernel holds, closes the object.
/// Returns the outcome and libbpf's whole log.
pub fn load(path: &Path, pin_root: &Path) -> (Outcome, String) {
    PRINT.call_once(|| {
        // SAFETY: `print` has the signature libbpf expects and is valid
        // for the whole process.
        unsafe { lb::libbpf_set_print(Some(print)) };
    });
    take_log();
    let outcome = load_inner(path, pin_root);
    (outcome, take_log())
}

/// [`gen_loader::generate`] with libbpf's log captured: a refusal's
/// message ends with the last line libbpf printed. Returns the loader or
/// the message, and libbpf's whole log.
pub fn generate_loader(
    path: &Path,
    pin_root: &Path,
) -> (Result<gen_loader::LibbpfLoader, String>, String) {
    PRINT.call_once(|| {
        // SAFETY: as in `load`.
        unsafe { lb::libbpf_set_print(Some(print)) };
    });
    take_log();
    let result = gen_loader::generate(path, pin_root);
    let log = take_log();
    let result = result.map_err(|e| format!("{e}; {}", last_libbpf_line(&log)));
    (result, log)
}

fn load_inner(path: &Path, pin_root: &Path) -> Outcome {
    let refused = |stage: &str, error: String| Outcome::Refused {
        stage: stage.into(),
        error,
    };
    let cpath = CString::new(path.as_os_str().as_bytes()).expect("path without NUL");
    let cpin = CString::new(pin_root.as_os_str().as_bytes()).expect("path without NUL");
    let opts = lb::bpf_object_open_opts {
        sz: size_of::<lb::bpf_object_open_opts>() as _,
        pin_root_path: cpin.as_ptr(),
        ..Default::default()
    };
    // SAFETY: both strings are NUL-terminated and outlive the call (libbpf
    // copies the pin root); `opts.sz` is the size of the struct passed.
    let raw = unsafe { lb::bpf_object__open_file(cpath.as_ptr(), &opts) };
    if raw.is_null() {
        let err = std::io::Error::last_os_error();
        let log = LOG.lock().unwrap_or_else(|e| e.into_inner()).clone();
        return refused("open", format!("{err}; {}", last_libbpf_line(&log)));
    }
    let obj = Object(raw);
    // SAFETY: obj.0 is an open object, loaded at most once.
    let r = unsafe { lb::bpf_object__load(obj.0) };
    if r < 0 {
        let log = LOG.lock().unwrap_or_else(|e| e.into_inner()).clone();
        return refused(
            "load",
            format!("{}; {}", errno_message(r), last_libbpf_line(&log)),
        );
    }

    // Reopen every program and map by id: the fds are then ours, typed,
    // and read by the same code as oxbpf's.
    let mut progs: Vec<(String, u32, sys::ProgFd)> = Vec::new();
    let mut p: *mut lb::bpf_program = std::ptr::null_mut();
    loop {
        // SAFETY: obj.0 is loaded; `p` is NULL or the previous program.
        p = unsafe { lb::bpf_object__next_program(obj.0, p) };
        if p.is_null() {
            break;
        }
        // SAFETY: `p` is a program of the live object.
        // (bpf_program__flags is not compared: it reports the flags set
        // through the API, without BPF_F_SLEEPABLE that libbpf adds at
        // load for sleepable sections.)
        let (name, fd, attach) = unsafe {
            (
                cstr(lb::bpf_program__name(p)),
                lb::bpf_program__fd(p),
                lb::bpf_program__expected_attach_type(p),
            )
        };
        if fd < 0 {
            continue; // not loaded (autoload off)
        }
        let id = prog_id(fd).unwrap_or_else(|e| panic!("program {name}: info: {e}"));
        let fd = sys::prog_get_fd_by_id(id)
            .unwrap_or_else(|e| panic!("program {name}: fd by id {id}: {e}"));
        progs.push((name, attach, fd));
    }
    let mut maps: Vec<(String, sys::MapFd)> = Vec::new();
    let mut m: *mut lb::bpf_map = std::ptr::null_mut();
    loop {
        // SAFETY: obj.0 is loaded; `m` is NULL or the previous map.
        m = unsafe { lb::bpf_object__next_map(obj.0, m) };
        if m.is_null() {
            break;
        }
        // SAFETY: `m` is a map of the live object.
        let (name, fd) = unsafe { (cstr(lb::bpf_map__name(m)), lb::bpf_map__fd(m)) };
        if fd < 0 {
            continue; // not created (autocreate off)
        }
        let id = map_id(fd).unwrap_or_else(|e| panic!("map {name}: info: {e}"));
        let fd =
            sys::map_get_fd_by_id(id).unwrap_or_else(|e| panic!("map {name}: fd by id {id}: {e}"));
        maps.push((name, fd));
    }
    let snap = Snapshot::capture(
        progs.iter().map(|(n, e, fd)| (n.as_str(), *e, fd)),
        maps.iter().map(|(n, fd)| (n.as_str(), fd)),
    )
    .unwrap_or_else(|e| panic!("reading back libbpf's objects: {e}"));
    drop(obj);
    Outcome::Loaded(snap)
}
