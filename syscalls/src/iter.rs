//! BPF iterators: `BPF_ITER_CREATE` turns an iterator link (a program of
//! attach type `BPF_TRACE_ITER` attached with [`crate::link_create`]) into
//! a file descriptor whose `read()` runs the program over the objects it
//! iterates (tasks, maps, ...) and returns what it wrote with
//! `bpf_seq_write`/`bpf_seq_printf`.

use std::os::fd::{AsFd, OwnedFd};

use crate::enums::Cmd;
use crate::error::Result;
use crate::fd::LinkFd;
use crate::layout::uapi_struct;
use crate::sys::{self, fd_u32};

uapi_struct! {
    /// `BPF_ITER_CREATE`.
    pub struct IterCreateAttr = "bpf_attr.iter_create" {
        /// The iterator link.
        pub link_fd: u32,
        /// Must be 0.
        pub flags: u32,
    }
}

/// `BPF_ITER_CREATE`: a new, independent reading session of the iterator
/// `link`. Each call starts the iteration afresh; read the fd to its end
/// (a `read` of 0 bytes).
pub fn iter_create(link: &LinkFd) -> Result<OwnedFd> {
    let mut a = IterCreateAttr {
        link_fd: fd_u32(link.as_fd()),
        flags: 0,
    };
    // SAFETY: the attribute holds no pointer; BPF_ITER_CREATE returns a
    // new fd.
    let fd = unsafe { sys::bpf_fd(Cmd::ITER_CREATE, &mut a) }?;
    log::debug!(target: "oxbpf::syscalls", "iter_create -> {fd:?}");
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::UapiStruct;
    use oxbpf_btf::{Btf, Kind, Type};

    /// The struct matches the kernel's `bpf_attr.iter_create` (read from
    /// the running kernel's BTF): same size, same member offsets.
    #[test]
    fn layout_matches_the_kernel() {
        let btf = Btf::from_file(std::path::Path::new("/sys/kernel/btf/vmlinux"))
            .expect("reading vmlinux BTF");
        let attr = btf
            .find_by_name_kind("bpf_attr", Kind::Union)
            .unwrap()
            .expect("union bpf_attr");
        let Type::Union(u) = btf.type_by_id(attr).unwrap() else {
            panic!("bpf_attr is not a union")
        };
        let member = u
            .members()
            .find(|m| btf.string_at(m.name_off).unwrap() == "iter_create")
            .expect("bpf_attr has iter_create");
        let id = btf.skip_mods_and_typedefs(member.ty).unwrap();
        let Type::Struct(s) = btf.type_by_id(id).unwrap() else {
            panic!("iter_create is not a struct")
        };
        assert_eq!(
            btf.resolve_size(id).unwrap() as usize,
            size_of::<IterCreateAttr>()
        );
        let kernel: Vec<(String, usize)> = s
            .members()
            .map(|m| {
                (
                    btf.string_at(m.name_off).unwrap().to_string(),
                    m.bit_offset as usize / 8,
                )
            })
            .collect();
        let ours: Vec<(String, usize)> = IterCreateAttr::FIELDS
            .iter()
            .map(|f| (f.name.to_string(), f.offset))
            .collect();
        assert_eq!(ours, kernel);
    }

    #[test]
    fn a_link_that_is_not_an_iterator_is_refused() {
        // A raw tracepoint link is a BPF link, but not an iterator.
        use oxbpf_asm::Insn;
        let insns = [Insn::mov64_imm(0, 0), Insn::exit()];
        let opts = crate::ProgLoadOptions::new(crate::ProgType::RAW_TRACEPOINT, &insns, c"GPL");
        let prog = crate::prog_load(&opts, &mut crate::VerifierLog::new()).unwrap();
        let link = crate::raw_tracepoint_open(Some(c"sys_enter"), &prog).unwrap();
        let err = iter_create(&link).unwrap_err();
        assert_eq!(err.errno(), Some(crate::Errno::INVAL), "{err}");
    }
}
