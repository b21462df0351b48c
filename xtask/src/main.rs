//! The `cargo xtask` command; the work happens in the library ([`oxbpf_xtask::run`]).
#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    // As PID 1 this binary is the `/init` of a vm-test guest.
    if std::process::id() == 1 {
        oxbpf_xtask::vm_init::main();
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    match oxbpf_xtask::run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
