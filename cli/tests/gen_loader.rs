//! `oxbpf gen loader`, `oxbpf explain` and `oxbpf load --loader` on every
//! corpus object: explain prints exactly what `oxbpf plan` prints, and a
//! load through the loader prints the same summary as a live load.

use std::path::{Path, PathBuf};
use std::process::Command;

fn bpf_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("OXBPF_BPF_DIR") {
        return dir.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("bpf")
}

fn corpus() -> Vec<PathBuf> {
    let dir = bpf_dir();
    let mut objects: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}: run `cargo xtask build-bpf` first", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".bpf.o"))
        .collect();
    objects.sort();
    assert!(objects.len() >= 12, "too few objects in {}", dir.display());
    objects
}

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

/// A summary line without what differs between two loads (ids, tags).
fn stable(line: &str) -> String {
    let mut words: Vec<&str> = line.split_whitespace().collect();
    for i in 0..words.len() {
        if i > 0 && matches!(words[i - 1], "id" | "tag") {
            words[i] = "_";
        }
    }
    words.join(" ")
}

#[test]
fn explain_prints_the_plan_and_load_loader_the_same_summary() {
    let dir = std::env::temp_dir().join(format!("oxbpf-gen-loader-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for object in corpus() {
        let path = object.to_str().unwrap();
        let name = object.file_name().unwrap().to_string_lossy();
        // Objects that pin by name would pin under /sys/fs/bpf: planning is
        // enough for them (the library tests load them with a pin root).
        let (ok, plan, stderr) = oxbpf(&["plan", "--loader", path]);
        assert!(ok, "plan --loader {path}: {stderr}");
        let file = dir.join(format!("{name}.loader"));
        let file = file.to_str().unwrap();
        let (ok, out, stderr) = oxbpf(&["gen", "loader", path, "-o", file]);
        if plan.contains("arena_map") {
            // An arena must be mapped into the loading process before its
            // programs load: generation refuses, naming the step.
            assert!(
                !ok && stderr.contains("arena_map"),
                "gen loader {path}: {stderr}"
            );
            continue;
        }
        assert!(ok, "gen loader {path}: {stderr}");
        assert!(
            out.contains("instructions") && out.contains("needs Linux "),
            "{out}"
        );
        if plan.contains("kernel_core_relos") {
            assert!(
                out.contains("needs Linux 5.17") || out.contains("needs Linux 6."),
                "{out}"
            );
        }
        let (ok, explained, stderr) = oxbpf(&["explain", file]);
        assert!(ok, "explain {file}: {stderr}");
        assert_eq!(explained, plan, "{path}");
        if plan.contains("obj_pin") || plan.contains("map_reuse") {
            continue;
        }
        let (ok, live, stderr) = oxbpf(&["load", path]);
        assert!(ok, "load {path}: {stderr}");
        let (ok, via, stderr) = oxbpf(&["load", "--loader", path]);
        assert!(ok, "load --loader {path}: {stderr}");
        let a: Vec<String> = live.lines().map(stable).collect();
        let b: Vec<String> = via.lines().map(stable).collect();
        assert_eq!(a, b, "{path}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn explain_refuses_what_is_not_a_loader() {
    let dir = std::env::temp_dir().join(format!("oxbpf-gen-loader-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let garbage = dir.join("garbage.loader");
    std::fs::write(&garbage, b"OXBPFLDR\x01\0\0\0").unwrap();
    let (ok, _, stderr) = oxbpf(&["explain", garbage.to_str().unwrap()]);
    assert!(!ok);
    assert!(stderr.contains("loader file"), "{stderr}");
    let object = &corpus()[0];
    let (ok, _, stderr) = oxbpf(&["explain", object.to_str().unwrap()]);
    assert!(!ok);
    assert!(stderr.contains("bad magic"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}
