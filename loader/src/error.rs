//! The one error type of the `oxbpf` library.

use std::path::PathBuf;

/// Why opening, planning, loading or using an object failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read.
    #[error("reading {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The object file is malformed.
    #[error("parsing {object}")]
    Parse {
        /// Object name.
        object: String,
        /// What the parser found.
        #[source]
        source: Box<oxbpf_elf_bpf::Error>,
    },

    /// BTF (the object's or the kernel's) could not be read.
    #[error("{context}")]
    Btf {
        /// What was being read.
        context: String,
        /// The BTF error.
        #[source]
        source: Box<oxbpf_btf::Error>,
    },

    /// A program's section name is not in the section table and the user
    /// did not set a program type.
    #[error(
        "program {program}: section {section:?} is not a known program section; \
         set a program type with set_prog_type()"
    )]
    UnknownSection {
        /// Program name.
        program: String,
        /// Its section.
        section: String,
    },

    /// The object uses something this version of oxbpf cannot load yet.
    #[error("{site}: {what} is not supported yet")]
    Unsupported {
        /// What is not supported.
        what: String,
        /// Where in the object (program and instruction, map...).
        site: String,
    },

    /// A program's calls could not be linked to its subprograms.
    #[error("program {program}: linking subprograms")]
    Link {
        /// Program name.
        program: String,
        /// What went wrong.
        #[source]
        source: Box<oxbpf_reloc::Error>,
    },

    /// A program's CO-RE relocations could not be applied (malformed
    /// records, or several candidate types that disagree).
    #[error("program {program}: CO-RE relocation")]
    Core {
        /// Program name.
        program: String,
        /// What went wrong.
        #[source]
        source: Box<oxbpf_reloc::Error>,
    },

    /// A program or map name that the object does not have.
    #[error("no {kind} named {name:?} in the object")]
    NotFound {
        /// `"program"` or `"map"`.
        kind: &'static str,
        /// The name asked for.
        name: String,
    },

    /// A value does not fit what the kernel object expects.
    #[error("{0}")]
    InvalidArgument(String),

    /// An attach target could not be resolved.
    #[error("program {program}: {reason}")]
    AttachTarget {
        /// Program name.
        program: String,
        /// What went wrong.
        reason: String,
    },

    /// The plan built for the object is inconsistent (a bug in oxbpf).
    #[error("internal error: inconsistent load plan")]
    Plan(#[from] oxbpf_plan::Error),

    /// Step `%op` of the load plan failed; everything created before it has
    /// been closed.
    #[error("load step %{op} ({what}) failed")]
    Step {
        /// Index of the failing operation in the plan.
        op: usize,
        /// The operation and what it concerns (`prog_load "handle_tp"`).
        what: String,
        /// The kernel's answer.
        #[source]
        source: oxbpf_syscalls::Error,
    },

    /// Step `%op` failed because the kernel has no such kind of map or
    /// program (found by a probe after the kernel's `EINVAL`): it is older
    /// than the object, or built without the feature.
    #[error("load step %{op} ({what}): this kernel has no {feature}")]
    KernelLacks {
        /// Index of the failing operation in the plan.
        op: usize,
        /// The operation.
        what: String,
        /// What the kernel lacks (`arena maps (BPF_MAP_TYPE_ARENA)`).
        feature: String,
        /// The kernel's answer.
        #[source]
        source: oxbpf_syscalls::Error,
    },

    /// The verifier refused a program. The error says where: the
    /// instruction the verifier stopped at and, when the object has line
    /// info, the source line it came from; the whole log is kept.
    #[error(
        "load step %{op}: the verifier rejected program {program}{}{}",
        at(*insn, source_line.as_deref()),
        core.as_deref().map(|c| format!(": {c}")).unwrap_or_default()
    )]
    Rejected {
        /// Index of the failing operation in the plan.
        op: usize,
        /// The program.
        program: String,
        /// The instruction the verifier stopped at (index in the loaded
        /// program), if its log names one.
        insn: Option<usize>,
        /// The source line of that instruction, from line_info.
        source_line: Option<Box<SourceLine>>,
        /// When the instruction is a poisoned CO-RE relocation: which one
        /// failed, for which type and access path.
        core: Option<Box<str>>,
        /// The kernel's answer, with the whole log.
        #[source]
        source: Box<oxbpf_syscalls::Error>,
    },

    /// The kernel's BTF has no type of this name and kind (an attach
    /// target that does not exist on this kernel).
    #[error("load step %{op}: the kernel's BTF has no {kind} named {name:?}")]
    BtfNotFound {
        /// Index of the failing operation in the plan.
        op: usize,
        /// The name looked up.
        name: String,
        /// Its kind.
        kind: oxbpf_btf::Kind,
    },

    /// A struct_ops map cannot be laid out for the target kernel.
    #[error("struct_ops map {map}: {reason}")]
    StructOps {
        /// The map.
        map: String,
        /// Why.
        reason: String,
    },

    /// A kconfig extern cannot be given a value.
    #[error("kconfig extern {name}: {reason}")]
    Kconfig {
        /// The extern.
        name: String,
        /// Why.
        reason: String,
    },

    /// A non-weak ksym extern names no kernel symbol.
    #[error("load step %{op}: /proc/kallsyms has no symbol {name:?}")]
    KsymNotFound {
        /// Index of the failing operation in the plan.
        op: usize,
        /// The symbol.
        name: String,
    },

    /// A map pinned by name differs from the object's definition, so it
    /// cannot be reused.
    #[error(
        "map {map}: the map pinned at {path} is incompatible: its {attribute} is {pinned}, the object wants {wanted}"
    )]
    IncompatiblePin {
        /// The pin path.
        path: String,
        /// The object's map.
        map: String,
        /// Which attribute differs.
        attribute: &'static str,
        /// The pinned map's value.
        pinned: u32,
        /// The object's value.
        wanted: u32,
    },

    /// A generated loader could not be made, read or decoded.
    #[error("generated loader")]
    GenLoader(#[from] oxbpf_gen_loader::Error),

    /// The running kernel is older than the generated loader's declared
    /// minimum (the helpers and commands it uses appeared later).
    #[error("the generated loader needs Linux {need} or newer, this kernel is {have}")]
    KernelTooOld {
        /// The loader's minimum kernel.
        need: String,
        /// The running kernel.
        have: String,
    },

    /// A generated loader's lookup failed with an error other than "not
    /// found" (`EPERM` from `bpf_kallsyms_lookup_name`...).
    #[error("load step %{op} ({what}) failed in the generated loader: {}", oxbpf_syscalls::ErrnoDisplay(*errno))]
    LoaderStep {
        /// Index of the failing operation in the plan.
        op: usize,
        /// The operation.
        what: String,
        /// The helper's error number.
        errno: oxbpf_syscalls::Errno,
    },

    /// A generated loader broke its contract with the runtime (a result
    /// missing, a failure of a step it does not perform).
    #[error("generated loader: {what}")]
    LoaderProtocol {
        /// What went wrong.
        what: String,
    },

    /// A syscall made outside a load plan failed.
    #[error("{what}")]
    Syscall {
        /// What was being done.
        what: String,
        /// The kernel's answer.
        #[source]
        source: oxbpf_syscalls::Error,
    },
}

impl Error {
    pub(crate) fn syscall(what: impl Into<String>) -> impl FnOnce(oxbpf_syscalls::Error) -> Error {
        let what = what.into();
        move |source| Error::Syscall { what, source }
    }

    pub(crate) fn btf(context: impl Into<String>) -> impl FnOnce(oxbpf_btf::Error) -> Error {
        let context = context.into();
        move |source| Error::Btf {
            context,
            source: Box::new(source),
        }
    }

    /// The kernel verifier's log, when the error is a program load the
    /// verifier rejected.
    pub fn verifier_log(&self) -> Option<&str> {
        let source = match self {
            Error::Rejected { source, .. } => &**source,
            Error::Step { source, .. } | Error::Syscall { source, .. } => source,
            _ => return None,
        };
        match source {
            oxbpf_syscalls::Error::Verifier(v) => Some(&v.log),
            _ => None,
        }
    }
}

/// A line of the program's source, from its BTF line info.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceLine {
    /// Source file.
    pub file: String,
    /// Line number (1-based).
    pub line: u32,
    /// Column (1-based, 0 when unknown).
    pub column: u32,
    /// The line's text as the compiler recorded it.
    pub text: String,
}

impl std::fmt::Display for SourceLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)?;
        if self.column > 0 {
            write!(f, ":{}", self.column)?;
        }
        write!(f, ": `{}`", self.text.trim())
    }
}

fn at(insn: Option<usize>, line: Option<&SourceLine>) -> String {
    match (insn, line) {
        (Some(i), Some(l)) => format!(" at instruction {i} ({l})"),
        (Some(i), None) => format!(" at instruction {i}"),
        (None, _) => String::new(),
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = core::result::Result<T, E>;
