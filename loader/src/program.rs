//! Handles to loaded programs.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use oxbpf_syscalls::{AttachType, ProgFd, ProgInfo, ProgType, TestRunOptions, TestRunOutput};

use crate::error::{Error, Result};

/// A program in the kernel, owned by a loaded [`crate::Object`].
#[derive(Debug)]
pub struct Program {
    pub(crate) name: String,
    pub(crate) section: String,
    pub(crate) attach_target: String,
    pub(crate) section_def: Option<&'static oxbpf_elf_bpf::section::SectionDef>,
    pub(crate) prog_type: ProgType,
    pub(crate) expected_attach_type: Option<AttachType>,
    pub(crate) fd: ProgFd,
}

impl Program {
    /// The program's name (its symbol in the object).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The ELF section it came from (`tracepoint/syscalls/sys_enter_read`).
    pub fn section(&self) -> &str {
        &self.section
    }

    /// The program type it was loaded as.
    pub fn prog_type(&self) -> ProgType {
        self.prog_type
    }

    /// The expected attach type it was loaded with.
    pub fn expected_attach_type(&self) -> Option<AttachType> {
        self.expected_attach_type
    }

    /// The typed fd.
    pub fn prog_fd(&self) -> &ProgFd {
        &self.fd
    }

    /// The kernel's view of the program (`BPF_OBJ_GET_INFO_BY_FD`): id,
    /// tag, type, translated length, map ids...
    pub fn info(&self) -> Result<ProgInfo> {
        oxbpf_syscalls::prog_info(&self.fd).map_err(Error::syscall(format!(
            "program {}: reading info",
            self.name
        )))
    }

    /// Runs the program once or more on the given input
    /// (`BPF_PROG_TEST_RUN`): packet data for XDP, tc and socket programs,
    /// a context for `syscall` and tracing programs.
    pub fn test_run(&self, opts: &TestRunOptions<'_>) -> Result<TestRunOutput> {
        oxbpf_syscalls::prog_test_run(&self.fd, opts)
            .map_err(Error::syscall(format!("program {}: test run", self.name)))
    }

    /// Runs a `syscall` program once on `ctx` (`BPF_PROG_TEST_RUN`); the
    /// kernel writes the context back into `ctx`. Returns the program's
    /// return value.
    pub fn run_syscall(&self, ctx: &mut [u8]) -> Result<u32> {
        oxbpf_syscalls::prog_run_syscall(&self.fd, ctx)
            .map_err(Error::syscall(format!("program {}: running it", self.name)))
    }

    /// Pins the program at `path` on a bpffs.
    pub fn pin(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        oxbpf_syscalls::obj_pin(&self.fd, path).map_err(Error::syscall(format!(
            "program {}: pinning at {}",
            self.name,
            path.display()
        )))
    }
}

impl AsFd for Program {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
