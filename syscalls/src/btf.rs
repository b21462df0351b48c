//! `BPF_BTF_LOAD`.

use crate::attr::BtfLoadAttr;
use crate::enums::Cmd;
use crate::error::{Error, Result};
use crate::fd::BtfFd;
use crate::prog::{VerifierLog, load_with_log};
use crate::sys::{self, slice_addr, slice_addr_mut};

/// `BPF_BTF_LOAD` of a raw BTF blob (header, types, strings), with the log
/// handling of [`VerifierLog`]: a blob the kernel rejects with an
/// explanation is [`Error::Verifier`] with the kernel's BTF log.
pub fn btf_load(data: &[u8], log: &mut VerifierLog) -> Result<BtfFd> {
    let btf_size = u32::try_from(data.len())
        .map_err(|_| Error::invalid(format!("btf_load: blob of {} bytes", data.len())))?;
    let mut attr = BtfLoadAttr {
        btf: slice_addr(data),
        btf_size,
        ..Default::default()
    };
    log.reset_for_load();
    let fd = load_with_log(Cmd::BTF_LOAD, log, |buf, level| {
        attr.btf_log_level = level;
        attr.btf_log_size = buf.len() as u32;
        attr.btf_log_buf = slice_addr_mut(buf);
        attr.btf_log_true_size = 0;
        // SAFETY: `btf` points to `data` (btf_size bytes) and `btf_log_buf`
        // to `buf` (btf_log_size bytes), both borrowed for the call;
        // BPF_BTF_LOAD returns a new fd.
        let r = unsafe { sys::bpf_fd(Cmd::BTF_LOAD, &mut attr) };
        (r, attr.btf_log_true_size)
    })?;
    log::debug!(target: "oxbpf::syscalls", "btf_load {} bytes -> {:?}", data.len(), fd);
    Ok(BtfFd::from_kernel(fd))
}
