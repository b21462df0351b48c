//! Recording a skipped test, shared by the integration tests
//! (`tests/common`) and the crate's unit tests (included by `lib.rs` with
//! `#[path]`).

/// Records the running test as skipped because of `reason` (`OXBPF-SKIP`
/// on stdout and a line in `$OXBPF_SKIP_LOG`, as the tests crate's
/// `require!` writes it); the caller returns.
pub fn skip(reason: &str) {
    let test = std::thread::current().name().unwrap_or("?").to_string();
    println!("OXBPF-SKIP {reason}");
    if let Some(log) = std::env::var_os("OXBPF_SKIP_LOG") {
        let exe = std::env::current_exe().unwrap();
        let binary = exe.file_name().unwrap().to_string_lossy();
        use std::io::Write;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .and_then(|mut f| writeln!(f, "{binary}\t{test}\t{reason}"))
            .expect("recording the skip");
    }
}
