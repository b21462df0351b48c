//! The libbpf oracle over the whole corpus: every object of `tests/progs`
//! (built into `<target>/bpf/*.bpf.o`, both compilers), of
//! `tests/progs-vm` (`<target>/bpf/vm/`), the CO-RE objects of
//! `reloc/tests/data` and the oracle's own `oracle/progs` is loaded by libbpf 1.7 and by oxbpf on this kernel,
//! one after the other, and what the kernel holds is compared
//! (`oxbpf_oracle::compare`). A difference not listed with its reason in
//! `oracle/expected-differences.txt`, or an entry there that matches
//! nothing although its object was compared (and it is not marked `?`,
//! kernel-dependent), fails the test. The per-object table is printed either way
//! (`cargo test -p oxbpf-oracle -- --nocapture` shows it on success) and
//! written to `<target>/oracle.md`. `ORACLE_DUMP=OBJECT` (or `all`) prints
//! both sides' maps and instruction listings of that object.

mod corpus;
mod libbpf;

use std::path::{Path, PathBuf};

use oxbpf::OpenObject;
use oxbpf_oracle::{Expected, Outcome, Row, Snapshot, compare, error_chain, render_table};
use oxbpf_tests::{FdSnapshot, PinDir, bpf_dir, kernel_lock};

use corpus::objects;

fn oxbpf_load(path: &Path, pin_root: &Path) -> Outcome {
    let refused = |stage: &str, e: &dyn std::error::Error| Outcome::Refused {
        stage: stage.into(),
        error: error_chain(e),
    };
    let mut open = match OpenObject::open(path) {
        Ok(o) => o,
        Err(e) => return refused("open", &e),
    };
    open.set_pin_root(pin_root);
    let plan = match open.plan() {
        Ok(p) => p,
        Err(e) => return refused("plan", &e),
    };
    let obj = match open.load() {
        Ok(o) => o,
        Err(e) => return refused("load", &e),
    };
    let snap = Snapshot::of_oxbpf(&obj, &plan)
        .unwrap_or_else(|e| panic!("reading back oxbpf's objects: {}", error_chain(&e)));
    Outcome::Loaded(snap)
}

/// `ORACLE_DUMP=OBJECT` (a label as in the table, or `all`): prints both
/// sides' maps and the translated instructions of every program of that
/// object.
fn dump_listings(label: &str, lib: &Outcome, ox: &Outcome) {
    let Some(want) = std::env::var_os("ORACLE_DUMP") else {
        return;
    };
    if want != label && want != "all" {
        return;
    }
    for (side, o) in [("libbpf", lib), ("oxbpf", ox)] {
        let Outcome::Loaded(s) = o else { continue };
        for (name, m) in &s.maps {
            println!("=== {label} {side} map {name}: {m:?}");
        }
        for (name, p) in &s.progs {
            println!("=== {label} {side} {name} ===");
            for line in p.listing() {
                println!("{line}");
            }
        }
    }
}

/// A fresh bpffs directory for one side of one object (bpffs refuses `.`
/// in names).
fn pin_dir(root: &Path, label: &str, side: &str) -> PathBuf {
    let dir = root.join(format!("{}-{side}", label.replace(['.', '/'], "_")));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating a bpffs directory");
    dir
}

#[test]
fn libbpf_and_oxbpf_leave_the_kernel_in_the_same_state() {
    let _k = kernel_lock();
    let list_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("expected-differences.txt");
    let text = std::fs::read_to_string(&list_path)
        .unwrap_or_else(|e| panic!("{}: {e}", list_path.display()));
    let expected = Expected::parse(&text).unwrap_or_else(|e| panic!("{e}"));
    let root = PinDir::new("oracle");

    let mut rows = Vec::new();
    let mut all = Vec::new();
    let mut logs = Vec::new();
    let mut compared = Vec::new();
    let mut objects = objects();
    objects.extend(corpus::oracle_objects());
    for (label, path) in objects {
        let (lib, log) = libbpf::load(&path, &pin_dir(&root.0, &label, "libbpf"));
        let fds = FdSnapshot::take();
        let ox = oxbpf_load(&path, &pin_dir(&root.0, &label, "oxbpf"));
        fds.assert_no_leak(&format!("{label}: oxbpf"));
        dump_listings(&label, &lib, &ox);
        let diffs = compare(&label, &lib, &ox);
        let c = expected.classify(&diffs, std::slice::from_ref(&label));
        rows.push(Row::new(
            &label,
            &lib,
            &ox,
            c.expected.len(),
            c.unexpected.len(),
        ));
        for (side, o) in [("libbpf", &lib), ("oxbpf", &ox)] {
            if let Outcome::Refused { stage, error } = o {
                println!("{label}: {side} refused at {stage}: {error}");
            }
        }
        if !c.unexpected.is_empty() {
            logs.push((label.clone(), log));
        }
        let both_refused = matches!(
            (&lib, &ox),
            (Outcome::Refused { .. }, Outcome::Refused { .. })
        );
        if !both_refused {
            compared.push(label.clone());
        }
        all.extend(diffs);
    }

    let c = expected.classify(&all, &compared);
    let mut report = render_table(&rows);
    report.push_str(&c.render_lists());
    println!("\n{report}");
    // The harness hides a passing test's output: the table is also kept
    // in the target directory.
    let out = bpf_dir().with_file_name("oracle.md");
    std::fs::write(&out, &report).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
    println!("(written to {})", out.display());
    for (label, log) in &logs {
        println!("\n--- libbpf log for {label} ---\n{log}");
    }
    let failures = c.failures(&list_path);
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
