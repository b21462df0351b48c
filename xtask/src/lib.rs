//! `cargo xtask`: the developer tasks of the oxbpf workspace.
//!
//! The alias in `.cargo/config.toml` makes `cargo xtask <command>` run this
//! binary. It sits outside the library pipeline: it builds the BPF objects
//! that the tests load (`tests/progs/*.bpf.c`), rebuilds the demo object that
//! `oxbpf demo` ships with, and runs the README's test command and the CI
//! checks, and boots other kernels (`vm-test`). Besides `std` it uses only
//! `rustix` (the guest init's mounts, module loads and power-off), so it
//! builds before anything else does.
//!
//! Commands:
//!
//! - `build-bpf`: `vmlinux.h` of the running kernel (written by oxbpf's own
//!   `oxbpf btf dump ... format c`, the cli built first) into
//!   `<target>/bpf/include/`, then every `tests/progs/*.bpf.c` with clang-19
//!   into `<target>/bpf/<name>.bpf.o`, a few also with clang-14 into
//!   `<name>.clang14.bpf.o`, and all of them big-endian into
//!   `<target>/bpf/eb/<name>.bpf.o`. Incremental.
//! - `build-demo`: `cli/demo/syscount.bpf.c` into the committed
//!   `cli/demo/syscount.bpf.o`.
//! - `test [CARGO TEST ARGS] [-- HARNESS ARGS]`: prerequisites (installed
//!   with apt-get when missing and run as root on Debian), `build-bpf`,
//!   `cargo test --workspace`, then a summary that counts the live-kernel
//!   tests (package `oxbpf-tests`).
//! - `ci`: `cargo fmt --check`, `cargo clippy -D warnings`, `test`,
//!   `core-targets`, then a bounded `vm-test` on one 6.1 kernel
//!   ([`test::CI_VM_TEST`]). The fuzz targets run on demand (`fuzz`).
//! - `vm-test [--kernel NAME]... [--filter PATTERN]... [--timeout S]`:
//!   boots Debian's kernels under qemu and runs the kernel tests inside
//!   each ([`vm`]), with a pass/fail/skip table per kernel and test. The
//!   same binary, statically linked, is the guests' `/init` when it runs
//!   as PID 1 ([`vm_init`]).
//! - `fuzz [TARGET|CRATE|all] [--time SECONDS]`: the cargo-fuzz targets
//!   of every parser and decoder (`<crate>/fuzz/`, [`fuzz::TARGETS`]) on
//!   stable, SECONDS each (default 60); prints execs per target.
//! - `core-targets`: the `.BTF` of Debian's 6.1 and 6.12 kernels
//!   (downloaded and unpacked as vm-test does, cached under
//!   `<target>/core-btf/`), then the CO-RE test objects relocated against
//!   each, every value checked by an independent walk of that BTF
//!   ([`core_targets`]).
//! - `bench btf`: the BTF benchmarks (criterion, against libbpf through
//!   libbpf-sys; package `btf/benches`, outside the workspace), then
//!   callgrind instruction counts. Not part of `ci`.
//! - `bench core`: the CO-RE benchmark (package `reloc/benches`, outside
//!   the workspace): `core_many.bpf.o` opened and relocated against the
//!   running kernel's BTF by oxbpf and by libbpf, then callgrind counts.
//!   Not part of `ci`.
//! - `bench ringbuf`: ring buffer consumption, oxbpf's `RingBuffer` vs
//!   libbpf's `ring_buffer__consume`/`__poll` on the same map (package
//!   `loader/benches`), then callgrind counts of the consume path.
//! - `bench loader`: generated loaders, oxbpf's vs libbpf's
//!   (`bpf_object__gen_loader`): sizes and load times, and oxbpf's live
//!   load (package `loader/benches`). Not part of `ci`.
//!
//! `<target>` is `$CARGO_TARGET_DIR` or `<workspace>/target`. Tests find the
//! objects through the environment variable `OXBPF_BPF_DIR`, which `test`
//! sets to `<target>/bpf`.
//!
//! The library half holds the logic so that it can be tested; `main.rs`
//! only calls [`run`].
//!
//! ```
//! // The parser of clang's `-MD` depfiles, which drives incremental builds:
//! let deps = oxbpf_xtask::bpf::parse_depfile("out.o: a.bpf.c \\\n  inc/my\\ dir/b.h\n");
//! assert_eq!(deps, ["a.bpf.c", "inc/my dir/b.h"]);
//!
//! // Which test binaries are live-kernel tests: those of package oxbpf-tests.
//! let ws = oxbpf_xtask::Workspace::new("/src/oxbpf".into(), "/src/oxbpf/target".into());
//! assert!(ws.is_live_test_manifest(std::path::Path::new("/src/oxbpf/tests/Cargo.toml")));
//! ```
#![forbid(unsafe_code)]

pub mod bench;
pub mod bpf;
pub mod core_targets;
pub mod cpio;
mod error;
pub mod fuzz;
pub mod kernel;
pub mod prereq;
pub mod test;
pub mod vm;
pub mod vm_init;
mod workspace;

pub use error::Error;
pub use workspace::Workspace;

const USAGE: &str = "\
usage: cargo xtask <command> [args]

commands:
  build-bpf    vmlinux.h + every tests/progs/*.bpf.c into <target>/bpf/
  build-demo   rebuild cli/demo/syscount.bpf.o from its source
  test [ARGS]  prerequisites, build-bpf, cargo test --workspace [ARGS], summary
  vm-test [--kernel NAME]... [--filter PATTERN]... [--timeout S]
               the kernel tests on Debian's 6.1/6.12/5.10 kernels under
               qemu (`cargo xtask vm-test --help`)
  ci           cargo fmt --check, cargo clippy -D warnings, test,
               core-targets, then a bounded vm-test on Debian's 6.1
  fuzz [TARGET|CRATE|all] [--time S]
               cargo-fuzz targets of every parser, S seconds each (default 60)
  core-targets the CO-RE test objects relocated against Debian 6.1/6.12 BTF
  bench btf    BTF benchmarks against libbpf, then callgrind instruction counts
  bench core   CO-RE open+relocate benchmark against libbpf, then callgrind counts
  bench ringbuf  ring buffer consumption against libbpf, then callgrind counts
  bench loader   generated loaders (size, load time) against libbpf's
  help         this text

<target> is $CARGO_TARGET_DIR or <workspace>/target.";

/// Runs one xtask command; `args` are the words after `cargo xtask`.
pub fn run(args: &[String]) -> Result<(), Error> {
    let Some((command, rest)) = args.split_first() else {
        println!("{USAGE}");
        return Ok(());
    };
    match command.as_str() {
        "build-bpf" => {
            no_args(command, rest)?;
            bpf::build_corpus(&Workspace::locate()?)
        }
        "build-demo" => {
            no_args(command, rest)?;
            bpf::build_demo(&Workspace::locate()?)
        }
        "test" => test::run(&Workspace::locate()?, rest),
        "vm-test" => vm::run(&Workspace::locate()?, rest),
        "ci" => {
            no_args(command, rest)?;
            test::ci(&Workspace::locate()?)
        }
        "bench" => {
            let which = bench::parse_args(rest)?;
            bench::run(&Workspace::locate()?, which)
        }
        "core-targets" => {
            no_args(command, rest)?;
            core_targets::run(&Workspace::locate()?)
        }
        "fuzz" => fuzz::run(&Workspace::locate()?, &fuzz::parse_args(rest)?),
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(Error::Usage(format!(
            "unknown command `{other}`\n\n{USAGE}"
        ))),
    }
}

fn no_args(command: &str, rest: &[String]) -> Result<(), Error> {
    match rest.first() {
        None => Ok(()),
        Some(arg) => Err(Error::Usage(format!(
            "`{command}` takes no arguments (got `{arg}`)"
        ))),
    }
}
