//! The `oxbpf` command on every corpus object: inspect, disasm, plan and
//! load succeed; load --pin leaves pins that outlive the command; the demo
//! shows live counts.

use std::process::Command;

use oxbpf_tests::{PinDir, bpf_dir, corpus};

fn oxbpf(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_oxbpf"))
        .args(args)
        .output()
        .expect("running oxbpf");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_corpus_object_inspects_disassembles_plans_and_loads() {
    for obj in corpus() {
        let path = obj.to_str().unwrap();
        for cmd in ["inspect", "disasm", "plan"] {
            let (ok, stdout, stderr) = oxbpf(&[cmd, path]);
            assert!(ok, "oxbpf {cmd} {path}: {stderr}");
            assert!(!stdout.is_empty(), "oxbpf {cmd} {path} printed nothing");
        }
        let (ok, stdout, stderr) = oxbpf(&["load", path]);
        assert!(ok, "oxbpf load {path}: {stderr}");
        assert!(
            stdout.contains("loaded ") && stdout.contains(" id "),
            "oxbpf load {path}: {stdout}"
        );
    }
    // maps_btf pins `pinned_hash` by name in the default pin root, where it
    // outlives the command (and is reused by the next load): remove it.
    let _ = std::fs::remove_file("/sys/fs/bpf/pinned_hash");
}

#[test]
fn load_with_pin_outlives_the_command() {
    let pins = PinDir::new("cli-pin");
    let obj = bpf_dir().join("xdp_count.bpf.o");
    let (ok, stdout, stderr) = oxbpf(&[
        "load",
        obj.to_str().unwrap(),
        "--pin",
        pins.0.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("pinned under"), "{stdout}");
    // The pins are real kernel objects that survived the process.
    let map = oxbpf::sys::obj_get(&pins.0.join("maps/xdp_stats"), 0).expect("pinned map");
    let map = oxbpf::sys::MapFd::from_owned(map).unwrap();
    assert_eq!(map.meta().max_entries, 3);
    let prog = oxbpf::sys::obj_get(&pins.0.join("progs/xdp_count"), 0).expect("pinned program");
    let prog = oxbpf::sys::ProgFd::from_owned(prog).unwrap();
    assert_eq!(
        oxbpf::sys::prog_info(&prog).unwrap().r#type,
        oxbpf::ProgType::XDP
    );
}

#[test]
fn bad_input_is_a_clear_error() {
    let (ok, _, stderr) = oxbpf(&["inspect", "/nonexistent.bpf.o"]);
    assert!(!ok && stderr.contains("/nonexistent.bpf.o"), "{stderr}");
    let garbage = std::env::temp_dir().join(format!("oxbpf-garbage-{}.o", std::process::id()));
    std::fs::write(&garbage, b"\x7fELF garbage").unwrap();
    let (ok, _, stderr) = oxbpf(&["load", garbage.to_str().unwrap()]);
    std::fs::remove_file(&garbage).unwrap();
    assert!(!ok && stderr.starts_with("error: parsing"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn demo_shows_live_counts() {
    let (ok, stdout, stderr) = oxbpf(&["demo", "--duration", "2"]);
    assert!(ok, "{stderr}");
    let tables = stdout.matches("PID  COMM").count();
    assert_eq!(tables, 2, "one table a second: {stdout}");
    // The demo itself makes system calls (sleeping, reading the map), so
    // at least one process has a non-zero count.
    let counted = stdout
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2)?.parse::<u64>().ok())
        .any(|n| n > 0);
    assert!(counted, "no counts: {stdout}");
    assert!(stdout.contains("detached"), "{stdout}");
}

#[test]
fn run_streams_typed_records_and_dumps_maps_as_json() {
    let obj = bpf_dir().join("ringbuf.bpf.o");
    let child = Command::new(env!("CARGO_BIN_EXE_oxbpf"))
        .args([
            "run",
            obj.to_str().unwrap(),
            "--duration",
            "3",
            "--json",
            "--record-type",
            "rb_a=record",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Give it time to load and attach, then make a process call getppid
    // three times: the attached program records its thread id.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let caller = Command::new("perl")
        .args(["-e", "getppid() for 1..3"])
        .spawn()
        .unwrap();
    let caller_pid = caller.id();
    caller.wait_with_output().unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mine = format!(
        "{{\"map\":\"rb_a\",\"record\":{{\"seq\":{caller_pid},\"ring\":2,\"value\":153}}}}"
    );
    assert_eq!(stdout.lines().filter(|l| *l == mine).count(), 3, "{stdout}");
    let dump = stdout.lines().last().unwrap();
    assert!(
        dump.starts_with("{\"maps\":[") && dump.contains("\"name\":\"ringbuf.bss\""),
        "{dump}"
    );
}
