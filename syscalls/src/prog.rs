//! Program commands: load (with the verifier log) and test runs.

use std::ffi::CStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use oxbpf_asm::Insn;
use oxbpf_asm::opcode::pseudo;

use crate::attr::{ProgLoadAttr, TestRunAttr, obj_name};
use crate::enums::{AttachType, Cmd, ProgType};
use crate::error::{Errno, Error, Result, VerifierError};
use crate::fd::{BtfFd, ProgFd};
use crate::sys::{self, addr, fd_u32, slice_addr, slice_addr_mut};

/// The largest log buffer the kernel accepts (`UINT_MAX >> 2`).
pub const MAX_LOG_SIZE: usize = (u32::MAX >> 2) as usize;

/// How to ask for the kernel's log on `BPF_PROG_LOAD`/`BPF_BTF_LOAD`, and
/// after the call, the log that came back.
///
/// By default a load is first tried without a log (the fast path); only
/// if it fails is it retried with a log of `level`, in a buffer that
/// starts at `initial_size` bytes and grows on `ENOSPC` up to `max_size`.
/// With `on_success` set, the first attempt already has the log and the
/// log is kept when the load succeeds.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct VerifierLog {
    /// Log level of the logged attempts, see [`crate::attr::log_level`]
    /// (0 is taken as 1).
    pub level: u32,
    /// Ask for the log on the first attempt and keep it on success.
    pub on_success: bool,
    /// First buffer size (at least 128, the kernel's minimum).
    pub initial_size: usize,
    /// Largest buffer size to grow to (at most [`MAX_LOG_SIZE`]).
    pub max_size: usize,
    text: String,
    truncated: bool,
    attempts: u32,
}

impl Default for VerifierLog {
    fn default() -> Self {
        VerifierLog {
            level: 1,
            on_success: false,
            initial_size: 64 * 1024,
            max_size: 16 * 1024 * 1024,
            text: String::new(),
            truncated: false,
            attempts: 0,
        }
    }
}

impl VerifierLog {
    /// The default: a level 1 log on failure only.
    pub fn new() -> Self {
        Self::default()
    }

    /// A log of `level` on every load, kept on success too.
    pub fn always(level: u32) -> Self {
        VerifierLog {
            level,
            on_success: true,
            ..Self::default()
        }
    }

    /// The log of the last load (empty if none was asked for).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the last log hit `max_size` and lost its beginning (or,
    /// with `BPF_LOG_FIXED`, its end).
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// How many `bpf()` calls the last load made.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    pub(crate) fn reset_for_load(&mut self) {
        self.text.clear();
        self.truncated = false;
        self.attempts = 0;
    }

    fn bounds(&self) -> (usize, usize) {
        let max = self.max_size.clamp(128, MAX_LOG_SIZE);
        (self.initial_size.clamp(128, max), max)
    }
}

/// The fields of a `BPF_PROG_LOAD` that can be given safely; everything
/// borrowed lives as long as `'a`.
///
/// Build it with [`ProgLoadOptions::new`] and set the other fields.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ProgLoadOptions<'a> {
    /// Program type.
    pub prog_type: ProgType,
    /// The instructions.
    pub insns: &'a [Insn],
    /// License (`c"GPL"` for GPL-only helpers).
    pub license: &'a CStr,
    /// Name (cut to 15 bytes; letters, digits, `_` and `.` only).
    pub name: &'a str,
    /// Expected attach type.
    pub expected_attach_type: AttachType,
    /// `BPF_F_*` flags, see [`crate::attr::prog_flags`].
    pub prog_flags: u32,
    /// `LINUX_VERSION_CODE`, see [`crate::kernel_version_code`].
    pub kern_version: u32,
    /// Device to offload to or bind to.
    pub prog_ifindex: u32,
    /// The program's BTF (needed with func_info/line_info).
    pub btf: Option<&'a BtfFd>,
    /// `bpf_func_info` records, raw.
    pub func_info: &'a [u8],
    /// Size of one func_info record.
    pub func_info_rec_size: u32,
    /// `bpf_line_info` records, raw.
    pub line_info: &'a [u8],
    /// Size of one line_info record.
    pub line_info_rec_size: u32,
    /// BTF id of the attach target.
    pub attach_btf_id: u32,
    /// Target program (freplace, tracing of BPF programs).
    pub attach_prog: Option<&'a ProgFd>,
    /// Module BTF of the attach target.
    pub attach_btf_obj: Option<&'a BtfFd>,
    /// fds for `BPF_PSEUDO_MAP_IDX` instructions and kfunc module BTFs.
    pub fd_array: &'a [BorrowedFd<'a>],
    /// `bpf_core_relo` records for the kernel to apply, raw.
    pub core_relos: &'a [u8],
    /// Size of one core_relo record.
    pub core_relo_rec_size: u32,
    /// BPF token (sets `BPF_F_TOKEN_FD`).
    pub token: Option<BorrowedFd<'a>>,
}

impl<'a> ProgLoadOptions<'a> {
    /// A program of `prog_type` made of `insns` under `license`, everything
    /// else empty.
    pub fn new(prog_type: ProgType, insns: &'a [Insn], license: &'a CStr) -> Self {
        ProgLoadOptions {
            prog_type,
            insns,
            license,
            name: "",
            expected_attach_type: AttachType(0),
            prog_flags: 0,
            kern_version: 0,
            prog_ifindex: 0,
            btf: None,
            func_info: &[],
            func_info_rec_size: 0,
            line_info: &[],
            line_info_rec_size: 0,
            attach_btf_id: 0,
            attach_prog: None,
            attach_btf_obj: None,
            fd_array: &[],
            core_relos: &[],
            core_relo_rec_size: 0,
            token: None,
        }
    }
}

fn records(what: &str, data: &[u8], rec_size: u32) -> Result<u32> {
    if data.is_empty() {
        return Ok(0);
    }
    if rec_size == 0 || data.len() % rec_size as usize != 0 {
        return Err(Error::invalid(format!(
            "prog_load: {what} is {} bytes, not a multiple of its record size {rec_size}",
            data.len()
        )));
    }
    u32::try_from(data.len() / rec_size as usize)
        .map_err(|_| Error::invalid(format!("prog_load: too many {what} records")))
}

/// Checks that every `fd_array` index the instructions use is inside
/// `fd_array`: the kernel reads `fd_array[idx]` for each one without
/// knowing the array's length.
fn check_fd_array_indices(insns: &[Insn], fd_array_len: usize) -> Result<()> {
    for (i, insn) in insns.iter().enumerate() {
        let idx = if insn.is_ld_imm64()
            && matches!(insn.src(), pseudo::MAP_IDX | pseudo::MAP_IDX_VALUE)
        {
            insn.imm as u32 as usize
        } else if insn.is_kfunc_call() && insn.off != 0 {
            insn.off as u16 as usize
        } else {
            continue;
        };
        if idx >= fd_array_len {
            return Err(Error::invalid(format!(
                "prog_load: instruction {i} uses fd_array[{idx}], fd_array has {fd_array_len} fds"
            )));
        }
    }
    Ok(())
}

/// Builds the attribute. Pointer fields point into `opts` and `fd_array`.
fn prog_load_attr(opts: &ProgLoadOptions<'_>, fd_array: &[i32]) -> Result<ProgLoadAttr> {
    if opts.attach_prog.is_some() && opts.attach_btf_obj.is_some() {
        return Err(Error::invalid(
            "prog_load: attach_prog and attach_btf_obj are exclusive",
        ));
    }
    check_fd_array_indices(opts.insns, fd_array.len())?;
    let insn_cnt = u32::try_from(opts.insns.len())
        .map_err(|_| Error::invalid(format!("prog_load: {} instructions", opts.insns.len())))?;
    let mut a = ProgLoadAttr {
        prog_type: opts.prog_type,
        insn_cnt,
        insns: slice_addr(opts.insns),
        license: addr(opts.license.as_ptr()),
        kern_version: opts.kern_version,
        prog_flags: opts.prog_flags,
        prog_name: obj_name(opts.name),
        prog_ifindex: opts.prog_ifindex,
        expected_attach_type: opts.expected_attach_type,
        attach_btf_id: opts.attach_btf_id,
        ..Default::default()
    };
    if let Some(btf) = opts.btf {
        a.prog_btf_fd = fd_u32(btf.as_fd());
    }
    a.func_info_cnt = records("func_info", opts.func_info, opts.func_info_rec_size)?;
    if a.func_info_cnt > 0 {
        a.func_info = slice_addr(opts.func_info);
        a.func_info_rec_size = opts.func_info_rec_size;
    }
    a.line_info_cnt = records("line_info", opts.line_info, opts.line_info_rec_size)?;
    if a.line_info_cnt > 0 {
        a.line_info = slice_addr(opts.line_info);
        a.line_info_rec_size = opts.line_info_rec_size;
    }
    a.core_relo_cnt = records("core_relos", opts.core_relos, opts.core_relo_rec_size)?;
    if a.core_relo_cnt > 0 {
        a.core_relos = slice_addr(opts.core_relos);
        a.core_relo_rec_size = opts.core_relo_rec_size;
    }
    if let Some(p) = opts.attach_prog {
        a.attach_prog_fd = fd_u32(p.as_fd());
    }
    if let Some(b) = opts.attach_btf_obj {
        a.attach_prog_fd = fd_u32(b.as_fd());
    }
    a.fd_array = slice_addr(fd_array);
    if let Some(t) = opts.token {
        a.prog_token_fd = t.as_raw_fd();
        a.prog_flags |= crate::attr::prog_flags::TOKEN_FD;
    }
    Ok(a)
}

/// `BPF_PROG_LOAD`, with the log handling of [`VerifierLog`].
///
/// A failure that the kernel explained in its log is
/// [`Error::Verifier`], holding the whole log; one without a log (e.g.
/// `EPERM` for a program type this kernel refuses) is [`Error::Syscall`].
/// `EAGAIN` is retried a few times.
pub fn prog_load(opts: &ProgLoadOptions<'_>, log: &mut VerifierLog) -> Result<ProgFd> {
    let fd_array: Vec<i32> = opts.fd_array.iter().map(|f| f.as_raw_fd()).collect();
    let mut attr = prog_load_attr(opts, &fd_array)?;
    log.reset_for_load();
    let fd = load_with_log(Cmd::PROG_LOAD, log, |buf, level| {
        attr.log_level = level;
        attr.log_size = buf.len() as u32;
        attr.log_buf = slice_addr_mut(buf);
        attr.log_true_size = 0;
        let mut tries = 0;
        loop {
            // SAFETY: every pointer of `attr` points into `opts` (insns,
            // license, func/line info, core relos), `fd_array` or `buf`,
            // with the counts and sizes set from those slices by
            // prog_load_attr and above (every fd_array index the
            // instructions use was checked to be inside `fd_array`); all
            // are borrowed for the call.
            let r = unsafe { sys::bpf_fd(Cmd::PROG_LOAD, &mut attr) };
            match r {
                Err(ref e) if e.errno() == Some(Errno::AGAIN) && tries < 5 => tries += 1,
                r => return (r, attr.log_true_size),
            }
        }
    })?;
    log::debug!(target: "oxbpf::syscalls", "prog_load {:?} {} insns -> {:?}", opts.name, opts.insns.len(), fd);
    Ok(ProgFd::from_kernel(fd))
}

/// The fast path / log retry / grow-on-ENOSPC loop shared by
/// `BPF_PROG_LOAD` and `BPF_BTF_LOAD`. `attempt(buf, level)` makes one
/// call with the given log buffer (empty: no log) and returns the result
/// and the kernel's `log_true_size` (0 if unknown).
pub(crate) fn load_with_log<T>(
    cmd: Cmd,
    log: &mut VerifierLog,
    mut attempt: impl FnMut(&mut [u8], u32) -> (Result<T>, u32),
) -> Result<T> {
    let level = if log.level == 0 { 1 } else { log.level };
    if !log.on_success {
        log.attempts += 1;
        match attempt(&mut [], 0).0 {
            Ok(v) => return Ok(v),
            Err(e) => {
                log::debug!(target: "oxbpf::syscalls", "{e}; retrying with a verifier log");
            }
        }
    }
    let (mut size, max) = log.bounds();
    loop {
        let mut buf = vec![0u8; size];
        log.attempts += 1;
        let (res, true_size) = attempt(&mut buf, level);
        let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        let full = len + 1 >= size || true_size as usize > size;
        let errno = match &res {
            Ok(_) => None,
            Err(e) => e.errno(),
        };
        if errno == Some(Errno::NOSPC) && full && size < max {
            // Grow to what the kernel said it needs (6.4+) or by 4x.
            let want = if true_size as usize > size {
                true_size as usize
            } else {
                size.saturating_mul(4)
            };
            size = want.clamp(size + 1, max);
            log::debug!(target: "oxbpf::syscalls", "{cmd} log full, growing to {size} bytes");
            continue;
        }
        log.text = String::from_utf8_lossy(&buf[..len]).into_owned();
        log.truncated = errno == Some(Errno::NOSPC) && full;
        return match res {
            Ok(v) => Ok(v),
            Err(Error::Syscall { errno, .. }) if !log.text.is_empty() => Err(VerifierError {
                call: cmd,
                errno,
                log: log.text.clone(),
                truncated: log.truncated,
            }
            .into()),
            Err(e) => Err(e),
        };
    }
}

/// Input of [`prog_test_run`].
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct TestRunOptions<'a> {
    /// Input packet (or other data).
    pub data_in: &'a [u8],
    /// Room for the output packet (0: don't return it).
    pub data_out_capacity: usize,
    /// Input context (e.g. `struct __sk_buff`, `struct xdp_md`).
    pub ctx_in: &'a [u8],
    /// Room for the output context (0: don't return it).
    pub ctx_out_capacity: usize,
    /// Number of runs (0 is taken as 1 by the kernel).
    pub repeat: u32,
    /// `BPF_F_TEST_*` flags.
    pub flags: u32,
    /// CPU to run on (with `BPF_F_TEST_RUN_ON_CPU`).
    pub cpu: u32,
    /// Batch size for XDP live frames.
    pub batch_size: u32,
}

impl<'a> TestRunOptions<'a> {
    /// Runs once on `data_in`, returning an output packet of up to
    /// `data_out_capacity` bytes.
    pub fn new(data_in: &'a [u8], data_out_capacity: usize) -> Self {
        TestRunOptions {
            data_in,
            data_out_capacity,
            ..Default::default()
        }
    }
}

/// Output of [`prog_test_run`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestRunOutput {
    /// The program's return value.
    pub retval: u32,
    /// Average run time in nanoseconds.
    pub duration: u32,
    /// The output packet.
    pub data_out: Vec<u8>,
    /// The output context.
    pub ctx_out: Vec<u8>,
}

fn u32_len(what: &str, n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::invalid(format!("prog_test_run: {what} of {n} bytes")))
}

/// `BPF_PROG_TEST_RUN`.
///
/// If the output did not fit in the capacity given, the error is
/// [`Error::TestRunOutputTooSmall`] naming the buffer and the size needed.
/// A `syscall` program given a context is refused: the kernel would write
/// the context back into `ctx_in`; run it with [`crate::prog_run_syscall`].
pub fn prog_test_run(prog: &ProgFd, opts: &TestRunOptions<'_>) -> Result<TestRunOutput> {
    let cmd = Cmd::PROG_TEST_RUN;
    if !opts.ctx_in.is_empty() && crate::prog_info(prog)?.r#type == ProgType::SYSCALL {
        // The kernel writes a syscall program's context back into ctx_in,
        // which is borrowed immutably here.
        return Err(Error::invalid(
            "prog_test_run: a syscall program writes its context back into ctx_in; use prog_run_syscall",
        ));
    }
    let mut data_out = vec![0u8; opts.data_out_capacity];
    let mut ctx_out = vec![0u8; opts.ctx_out_capacity];
    let mut a = TestRunAttr {
        prog_fd: fd_u32(prog.as_fd()),
        data_size_in: u32_len("data_in", opts.data_in.len())?,
        data_size_out: u32_len("data_out", data_out.len())?,
        data_in: slice_addr(opts.data_in),
        data_out: slice_addr_mut(&mut data_out),
        repeat: opts.repeat,
        ctx_size_in: u32_len("ctx_in", opts.ctx_in.len())?,
        ctx_size_out: u32_len("ctx_out", ctx_out.len())?,
        ctx_in: slice_addr(opts.ctx_in),
        ctx_out: slice_addr_mut(&mut ctx_out),
        flags: opts.flags,
        cpu: opts.cpu,
        batch_size: opts.batch_size,
        ..Default::default()
    };
    // SAFETY: data_in/ctx_in point to the caller's slices with their
    // lengths; data_out/ctx_out to our buffers with their capacities as
    // sizes (the kernel writes at most that much); all live for the call.
    let r = unsafe { sys::bpf(cmd, &mut a) };
    match r {
        Ok(_) => {}
        Err(Errno::NOSPC) => {
            let (buffer, capacity, needed) = if a.data_size_out as usize > data_out.len() {
                ("data_out", data_out.len(), a.data_size_out as usize)
            } else if a.ctx_size_out as usize > ctx_out.len() {
                ("ctx_out", ctx_out.len(), a.ctx_size_out as usize)
            } else {
                return Err(Error::syscall(cmd, Errno::NOSPC));
            };
            return Err(Error::TestRunOutputTooSmall {
                buffer,
                capacity,
                needed,
            });
        }
        Err(e) => return Err(Error::syscall(cmd, e)),
    }
    data_out.truncate(a.data_size_out as usize);
    ctx_out.truncate(a.ctx_size_out as usize);
    Ok(TestRunOutput {
        retval: a.retval,
        duration: a.duration,
        data_out,
        ctx_out,
    })
}
