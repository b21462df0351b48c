//! The `oxbpf` command: inspect, disassemble, plan and load BPF objects;
//! dump BTF.
#![forbid(unsafe_code)]

mod btf;
mod demo;
mod explain;
mod genloader;
mod genskel;
mod inspect;
mod load;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Load and inspect BPF objects (a pure-Rust libbpf).
#[derive(Parser, Debug)]
#[command(name = "oxbpf", version, about)]
struct Cli {
    /// More log output (-v: info, -vv: debug, -vvv: trace). RUST_LOG also works.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show an object's sections, programs, maps, data and relocations.
    Inspect {
        /// The BPF object file (clang -target bpf output).
        object: PathBuf,
    },
    /// Disassemble an object's programs in the verifier's syntax.
    Disasm {
        /// The BPF object file.
        object: PathBuf,
        /// Only this program.
        program: Option<String>,
    },
    /// Print the load plan: every kernel operation loading would perform.
    Plan {
        /// The BPF object file.
        object: PathBuf,
        /// The plan a generated loader executes (`gen loader`, `explain`):
        /// CO-RE relocations and kconfig values left to the kernel it runs on.
        #[arg(long)]
        loader: bool,
    },
    /// Load an object into the kernel and print what was created.
    Load {
        /// The BPF object file.
        object: PathBuf,
        /// Pin maps and programs under this bpffs directory
        /// (DIR/maps/NAME, DIR/progs/NAME) so that they outlive the command.
        #[arg(long, value_name = "DIR")]
        pin: Option<PathBuf>,
        /// Load through a generated loader program (the light skeleton's
        /// way) instead of making the bpf() calls directly.
        #[arg(long)]
        loader: bool,
    },
    /// Generate code from an object.
    Gen {
        #[command(subcommand)]
        command: GenCommand,
    },
    /// Decode a loader file (from `oxbpf gen loader`) back into the plan it
    /// executes, printed as `oxbpf plan` prints plans.
    Explain {
        /// The loader file.
        file: PathBuf,
    },
    /// BTF: dump it as a C header (vmlinux.h) or in bpftool's raw format.
    Btf {
        #[command(subcommand)]
        command: BtfCommand,
    },
    /// Load an object, attach every program its section names a place for,
    /// print ring buffer records as they come, and dump every map at the
    /// end (typed through the object's BTF). Ctrl-C stops and detaches.
    Run {
        /// The BPF object file.
        object: PathBuf,
        /// Stop after this many seconds (default: at Ctrl-C).
        #[arg(long, value_name = "SECS")]
        duration: Option<u64>,
        /// Print records and the map dump as JSON.
        #[arg(long)]
        json: bool,
        /// Decode ring buffer MAP's records as the object's type TYPE
        /// (`--record-type events=event`); repeatable.
        #[arg(long, value_name = "MAP=TYPE")]
        record_type: Vec<String>,
    },
    /// Count system calls per process live, from a tracepoint (the example
    /// shipped with oxbpf).
    Demo {
        /// How long to run, in seconds.
        #[arg(long, default_value_t = 5)]
        duration: u64,
        /// How many processes to show.
        #[arg(long, default_value_t = 10)]
        top: usize,
    },
}

#[derive(Subcommand, Debug)]
enum GenCommand {
    /// Compile the object's load plan into a loader program and its data
    /// blob, and write them as a loader file.
    Loader {
        /// The BPF object file.
        object: PathBuf,
        /// The loader file to write.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
    /// Generate the object's Rust skeleton: a module with a typed struct
    /// of its maps, programs and links and its global data as Rust types
    /// (the object, or with --light a generated loader, embedded).
    Skeleton {
        /// The BPF object file.
        object: PathBuf,
        /// A light skeleton: loads through a generated loader, with no ELF
        /// or BTF parsing at run time.
        #[arg(long)]
        light: bool,
        /// The skeleton's name (default: the object's file name up to its
        /// first dot).
        #[arg(long)]
        name: Option<String>,
        /// Write the module here instead of to standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum BtfCommand {
    /// Dump BTF, like `bpftool btf dump`.
    Dump {
        #[command(subcommand)]
        source: BtfSource,
    },
}

#[derive(Subcommand, Debug)]
enum BtfSource {
    /// From a file: raw BTF (`/sys/kernel/btf/vmlinux`) or a BPF object's
    /// `.BTF`. Then `format c` (a header) or `format raw` (the default).
    File {
        /// The BTF file or BPF object.
        path: PathBuf,
        /// `format c` or `format raw`.
        #[arg(num_args = 0..=2, value_name = "format {c|raw}")]
        format: Vec<String>,
        /// Base BTF of a split BTF (a module's BTF on vmlinux).
        #[arg(long, short = 'B', value_name = "BASE")]
        base: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let verbose = cli.verbose;
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level)).init();
    let result = match cli.command {
        Command::Inspect { object } => inspect::inspect(&object),
        Command::Disasm { object, program } => inspect::disasm(&object, program.as_deref()),
        Command::Plan { object, loader } => inspect::plan(&object, loader),
        Command::Load {
            object,
            pin,
            loader,
        } => load::load(&object, pin.as_deref(), loader),
        Command::Gen {
            command: GenCommand::Loader { object, output },
        } => genloader::gen_loader(&object, &output),
        Command::Gen {
            command:
                GenCommand::Skeleton {
                    object,
                    light,
                    name,
                    output,
                },
        } => genskel::gen_skeleton(&object, light, name.as_deref(), output.as_deref()),
        Command::Explain { file } => explain::explain(&file),
        Command::Demo { duration, top } => demo::run(duration, top),
        Command::Run {
            object,
            duration,
            json,
            record_type,
        } => run::run(&run::RunOptions {
            object: &object,
            duration,
            json,
            record_types: &record_type,
        }),
        Command::Btf {
            command:
                BtfCommand::Dump {
                    source: BtfSource::File { path, format, base },
                },
        } => btf::parse_format(&format).and_then(|f| btf::dump_file(&path, f, base.as_deref())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_chain(&*e));
            if let Some(log) = e
                .downcast_ref::<oxbpf::Error>()
                .and_then(|e| e.verifier_log())
            {
                if verbose > 0 {
                    eprintln!("verifier log:\n{log}");
                } else {
                    eprintln!(
                        "(the kernel's log has {} lines: run with -v to see it whole)",
                        log.lines().count()
                    );
                }
            }
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line: `a: b: c`.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Errors of the commands: any error, with its chain printed.
type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;
