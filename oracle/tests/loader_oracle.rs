//! Generated loaders, libbpf's against oxbpf's: for every object of the
//! oracle's corpus (see `corpus/mod.rs`, plus the oracle's own many-maps
//! and many-programs objects), libbpf 1.7 generates its loader
//! (`bpf_object__gen_loader`, what `bpftool gen skeleton -L` embeds) and
//! oxbpf generates its own (`oxbpf::gen_loader::generate`); each is run
//! (`libbpf/gen_loader.rs`: the skel_internal.h protocol; oxbpf's
//! `LightSkeleton`) and what the kernel then holds is compared as the live
//! oracle compares it (`oxbpf_oracle::compare`: programs' xlated
//! instructions, types, func/line info, attach BTF ids; maps' definitions
//! and BTF types).
//!
//! Differences that are known are listed with their reasons in
//! `oracle/expected-loader-differences.txt` (the same format as the live
//! list): an object libbpf's generator or its loader refuses while ours
//! loads it is one `object | load` difference whose reason says why. An
//! unlisted difference, an object oxbpf's loader refuses, or a stale
//! entry fails the test. oxbpf's side must leave no fd behind; fds
//! libbpf's loader leaves open without reporting them are counted in the
//! table. The table goes to stdout and `<target>/oracle-loader.md`;
//! `ORACLE_DUMP=LABEL` (or `all`) also prints libbpf's generation log.

mod corpus;
mod libbpf;

use std::path::Path;

use oxbpf::gen_loader::{GenOptions, generate};
use oxbpf::{LightSkeleton, OpenObject};
use oxbpf_oracle::{Expected, Outcome, Row, Snapshot, compare, error_chain, render_table};
use oxbpf_tests::{FdSnapshot, PinDir, bpf_dir, kernel_lock};

use libbpf::gen_loader;

fn refused(stage: &str, error: String) -> Outcome {
    Outcome::Refused {
        stage: stage.into(),
        error,
    }
}

/// oxbpf: plan, generate, run through the light-skeleton runtime.
fn oxbpf_side(path: &Path, pin_root: &Path) -> (Outcome, Option<(usize, usize)>) {
    let mut open = match OpenObject::open(path) {
        Ok(o) => o,
        Err(e) => return (refused("open", error_chain(&e)), None),
    };
    open.set_pin_root(pin_root);
    let plan = match open.loader_plan() {
        Ok(p) => p,
        Err(e) => return (refused("plan", error_chain(&e)), None),
    };
    let loader = match generate(&plan, &GenOptions::default()) {
        Ok(l) => l,
        Err(e) => return (refused("generate", error_chain(&e)), None),
    };
    let size = (loader.insn_count(), loader.blob_size());
    let obj = match LightSkeleton::new(loader).load() {
        Ok(o) => o,
        Err(e) => return (refused("run", error_chain(&e)), Some(size)),
    };
    let snap = Snapshot::of_oxbpf(&obj, &plan)
        .unwrap_or_else(|e| panic!("reading back oxbpf's objects: {}", error_chain(&e)));
    (Outcome::Loaded(snap), Some(size))
}

/// Set in the child process that [`generation_crashes`] runs.
const CHILD_ENV: &str = "ORACLE_LIBBPF_GEN_CHILD";

/// Not a test of its own: in the child process of [`generation_crashes`]
/// (`$ORACLE_LIBBPF_GEN_CHILD` names an object), has libbpf generate that
/// object's loader; without the variable it does nothing.
#[test]
fn libbpf_generation_child() {
    if let Some(path) = std::env::var_os(CHILD_ENV) {
        let dir = std::env::temp_dir();
        let _ = libbpf::generate_loader(Path::new(&path), &dir);
    }
}

/// Whether libbpf's generator kills the process on this object, as it
/// does on some (struct_ops: libbpf 1.7 in generation mode does not read
/// vmlinux BTF, then looks the value type up in it, a NULL `struct btf`;
/// arena: it copies the arena's initial data into a mapping of a map it
/// did not create, SIGBUS). Shown, not assumed: every object's generation
/// runs first in a child process (this test binary, in
/// [`libbpf_generation_child`]), and the signal that ended it is
/// returned.
fn generation_crashes(path: &Path) -> Option<String> {
    use std::os::unix::process::ExitStatusExt;
    let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "libbpf_generation_child", "--nocapture"])
        .env(CHILD_ENV, path)
        .output()
        .expect("running the child");
    out.status
        .signal()
        .map(|sig| format!("libbpf's generator killed the process with signal {sig}"))
}

/// libbpf: generate, run; also the fds its loader left open without
/// reporting them.
fn libbpf_side(
    label: &str,
    path: &Path,
    pin_root: &Path,
) -> (Outcome, Option<(usize, usize)>, Vec<String>) {
    if let Some(crash) = generation_crashes(path) {
        return (refused("generate", crash), None, Vec::new());
    }
    let (generated, log) = libbpf::generate_loader(path, pin_root);
    let dump = std::env::var_os("ORACLE_DUMP");
    if dump.is_some_and(|d| d == label || d == "all") {
        println!("--- libbpf's generation log for {label} ---\n{log}");
    }
    let loader = match generated {
        Ok(l) => l,
        Err(e) => return (refused("generate", e), None, Vec::new()),
    };
    let size = Some((loader.insns.len(), loader.data.len()));
    let fds = FdSnapshot::take();
    let outcome = match gen_loader::run(&loader) {
        Ok(loaded) => {
            let snap = Snapshot::capture(
                loaded.progs.iter().map(|(n, e, fd)| (n.as_str(), *e, fd)),
                loaded.maps.iter().map(|(n, fd)| (n.as_str(), fd)),
            )
            .unwrap_or_else(|e| panic!("reading back libbpf's objects: {e}"));
            drop(loaded);
            Outcome::Loaded(snap)
        }
        Err(e) => refused("run", e),
    };
    // Reported, not closed: an fd opened meanwhile may belong to a cache
    // of this process.
    // (An empty target: the fd closed again while it was being read.)
    let leaked = fds
        .leaked()
        .into_iter()
        .map(|(_, target)| target)
        .filter(|t| !t.is_empty())
        .collect();
    (outcome, size, leaked)
}

fn clear(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("creating a bpffs directory");
}

#[test]
fn libbpf_and_oxbpf_generated_loaders_leave_the_kernel_in_the_same_state() {
    let _k = kernel_lock();
    let list_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("expected-loader-differences.txt");
    let text = std::fs::read_to_string(&list_path)
        .unwrap_or_else(|e| panic!("{}: {e}", list_path.display()));
    let expected = Expected::parse(&text).unwrap_or_else(|e| panic!("{e}"));
    let root = PinDir::new("oracle-loader");
    let pins = root.0.join("pins");

    let mut rows = Vec::new();
    let mut sizes = Vec::new();
    let mut all = Vec::new();
    let mut compared = Vec::new();
    let mut failures = Vec::new();
    let mut objects = corpus::objects();
    objects.extend(corpus::oracle_objects());
    for (label, path) in objects {
        clear(&pins);
        let (lib, lib_size, leaked) = libbpf_side(&label, &path, &pins);
        clear(&pins);
        let fds = FdSnapshot::take();
        let (ox, ox_size) = oxbpf_side(&path, &pins);
        let ox_leaked = fds.leaked();
        if !ox_leaked.is_empty() {
            failures.push(format!("{label}: oxbpf's loader leaked fds {ox_leaked:?}"));
        }
        // The objects made to exceed libbpf's limits must load through
        // oxbpf's loader: both refusing would compare as "same".
        if label.starts_with("oracle/") && !matches!(ox, Outcome::Loaded(_)) {
            failures.push(format!("{label}: oxbpf's loader refused it"));
        }
        let diffs = compare(&label, &lib, &ox);
        let c = expected.classify(&diffs, std::slice::from_ref(&label));
        rows.push(Row::new(
            &label,
            &lib,
            &ox,
            c.expected.len(),
            c.unexpected.len(),
        ));
        let fmt = |s: Option<(usize, usize)>| {
            s.map_or("-".to_owned(), |(i, b)| format!("{i} insns, {b} B"))
        };
        sizes.push(format!(
            "| {label} | {} | {} | {} |",
            fmt(lib_size),
            fmt(ox_size),
            if leaked.is_empty() {
                "-".to_owned()
            } else {
                leaked.join(", ")
            }
        ));
        for (side, o) in [("libbpf", &lib), ("oxbpf", &ox)] {
            if let Outcome::Refused { stage, error } = o {
                println!("{label}: {side} refused at {stage}: {error}");
            }
        }
        match (&lib, &ox) {
            (Outcome::Refused { .. }, Outcome::Refused { .. }) => {}
            // oxbpf's live mode loads what its generated mode loads; an
            // object only the live oracle's libbpf loads is refused by
            // the live oxbpf too (the live oracle lists those).
            _ => compared.push(label.clone()),
        }
        all.extend(diffs);
    }

    let c = expected.classify(&all, &compared);
    let mut report = render_table(&rows);
    report.push_str("\n| object | libbpf's loader | oxbpf's loader | fds libbpf's loader left open |\n|---|---|---|---|\n");
    for line in &sizes {
        report.push_str(line);
        report.push('\n');
    }
    report.push_str(&c.render_lists());
    println!("\n{report}");
    let out = bpf_dir().with_file_name("oracle-loader.md");
    std::fs::write(&out, &report).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
    println!("(written to {})", out.display());
    failures.extend(c.failures(&list_path));
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
