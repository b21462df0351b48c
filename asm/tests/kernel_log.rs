//! Our disassembly against the kernel's own: the "Live regs before insn"
//! listing the 6.18 verifier prints for every instruction of a program it
//! loads (log level 2), for the clang-built `tests/data/progs.bpfel.o`.
//!
//! Both the listing and the lines of the verifier's walk (`12: (bf) r1 =
//! r2 ; state`) are read; the listing leaves out some instructions inside
//! loops, the walk visits every reachable one.
//!
//! The object is loaded with `bpftool -d prog loadall` (libbpf as a
//! black-box loader). Instructions the loader rewrites — `ld_imm64` (map
//! and global-data addresses, callback addresses) and pseudo calls
//! (subprogram offsets, kfunc BTF ids) — are skipped; every other line must
//! be equal, `(code)` column included. Subprograms the loader appended
//! after the main program must each equal one `.text` function.
//!
//! One test reads the listing committed by `tests/data/build.sh`; the other
//! loads the object into the running kernel now (root, bpftool, bpffs).

mod common;

use common::{Code, code_sections, data};
use oxbpf_asm::disasm;
use std::collections::BTreeMap;

/// One program's listing: slot index → `(code) text`, and subprogram
/// starts (`func#N @start`).
#[derive(Default, Debug)]
struct Listing {
    lines: BTreeMap<usize, String>,
    funcs: Vec<usize>,
}

/// Parses the verifier output: `libbpf: prog 'NAME': -- BEGIN PROG LOAD
/// LOG --`, `func#N @S`, and `   12: 0123...... (bf) r1 = r2` lines.
fn parse_log(text: &str) -> BTreeMap<String, Listing> {
    let mut out: BTreeMap<String, Listing> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.contains("BEGIN PROG LOAD LOG") {
            let name = line.split('\'').nth(1).expect("prog name").to_string();
            out.entry(name.clone()).or_default();
            current = Some(name);
            continue;
        }
        let Some(prog) = current.as_ref() else {
            continue;
        };
        let listing = out.get_mut(prog).unwrap();
        if let Some(rest) = line.strip_prefix("func#") {
            let start = rest.split('@').nth(1).unwrap().trim().parse().unwrap();
            listing.funcs.push(start);
            continue;
        }
        // "   12: 0123...... (bf) r1 = r2": index, 10-char liveness mask, text;
        // or a line of the walk, "12: (bf) r1 = r2      ; R1=...".
        let Some((idx, rest)) = line.split_once(": ") else {
            continue;
        };
        let Ok(idx) = idx.trim().parse::<usize>() else {
            continue;
        };
        let text = if rest.starts_with('(') {
            rest.split(';').next().unwrap().trim_end()
        } else if rest.len() > 12 && rest[..10].bytes().all(|b| b == b'.' || b.is_ascii_digit()) {
            &rest[11..]
        } else {
            continue;
        };
        if !text.starts_with('(') {
            continue;
        }
        if let Some(old) = listing.lines.insert(idx, text.to_string()) {
            assert_eq!(old, text, "{prog}: the log prints insn {idx} two ways");
        }
    }
    out
}

/// Our disassembly of a code range: slot index (from 0) → `(code) text`.
fn ours(code: &Code, start: usize, len: usize) -> BTreeMap<usize, String> {
    disasm(&code.insns[start..start + len])
        .to_string()
        .lines()
        .map(|l| {
            let (idx, text) = l.split_once(": ").unwrap();
            (idx.trim().parse().unwrap(), text.to_string())
        })
        .collect()
}

fn compare(log: &str) -> usize {
    let listings = parse_log(log);
    let sections = code_sections("progs.bpfel.o");
    let text = sections.iter().find(|c| c.name == ".text").expect(".text");
    let mut compared = 0;
    assert!(
        listings.len() >= 2,
        "expected two programs in the log, got {:?}",
        listings.keys()
    );
    for (prog, listing) in &listings {
        let (code, func) = sections
            .iter()
            .find_map(|c| c.funcs.iter().find(|f| &f.name == prog).map(|f| (c, f)))
            .unwrap_or_else(|| panic!("no function {prog} in the object"));
        let main = ours(code, func.start, func.len);
        for (idx, line) in &main {
            let insn = code.insns[func.start + idx];
            if insn.is_ld_imm64() || (insn.is_call() && insn.src() != 0) {
                continue; // rewritten by the loader
            }
            let kernel = listing
                .lines
                .get(idx)
                .unwrap_or_else(|| panic!("{prog}: kernel has no insn {idx}"));
            assert_eq!(line, kernel, "{prog} insn {idx}");
            compared += 1;
        }
        // Appended subprograms: each must be one of the .text functions.
        for &start in listing.funcs.iter().filter(|&&s| s != 0) {
            let found = text.funcs.iter().any(|f| {
                let theirs: Vec<&String> = (start..start + f.len)
                    .filter_map(|i| listing.lines.get(&i))
                    .collect();
                let mine = ours(text, f.start, f.len);
                theirs.len() == mine.len() && mine.values().zip(&theirs).all(|(a, b)| a == *b)
            });
            assert!(
                found,
                "{prog}: subprogram at {start} matches no .text function"
            );
            compared += 1;
        }
    }
    compared
}

#[test]
fn committed_verifier_listing_matches_our_disassembly() {
    let log = std::fs::read_to_string(data("progs.bpfel.verifier")).unwrap();
    let n = compare(&log);
    assert!(n > 150, "only {n} lines compared");
}

#[test]
fn live_kernel_verifier_matches_our_disassembly() {
    use std::process::Command;
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    if !mounts
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some("/sys/fs/bpf"))
    {
        let st = Command::new("mount")
            .args(["-t", "bpf", "bpf", "/sys/fs/bpf"])
            .status()
            .unwrap();
        assert!(st.success(), "cannot mount bpffs (this test needs root)");
    }
    let pin = format!("/sys/fs/bpf/oxbpf_asm_test_{}", std::process::id());
    let out = Command::new("bpftool")
        .args(["-d", "prog", "loadall"])
        .arg(data("progs.bpfel.o"))
        .arg(&pin)
        .output()
        .expect("bpftool must be installed for this test");
    let _ = std::fs::remove_dir_all(&pin);
    let log =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bpftool failed:\n{}",
        &log[log.len().saturating_sub(3000)..]
    );
    let n = compare(&log);
    assert!(n > 150, "only {n} lines compared");
}
