//! Inputs the `loader_file` fuzz target (`gen-loader/fuzz`, what
//! `oxbpf explain` does with a file) once found failing, and the same
//! faults made on a generated loader: each file reads as a loader or is
//! refused with an error, never a panic. Files in `tests/data/fuzz` are
//! named `<target>-<what>`.

mod support;

use oxbpf_gen_loader::{CtxOff, Error, GenOptions, Loader, Step, decode, generate};
use support::plans::{Many, many};

/// What the fuzz target does with a file.
fn replay(data: &[u8]) {
    let Ok(loader) = Loader::from_bytes(data) else {
        return;
    };
    assert_eq!(Loader::from_bytes(&loader.to_bytes()).unwrap(), loader);
    if let Ok(plan) = decode(&loader) {
        let _ = plan.to_string();
    }
}

#[test]
fn fuzz_findings_stay_fixed() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        replay(&std::fs::read(e.unwrap().path()).unwrap());
        n += 1;
    }
    assert!(n >= 1, "regression inputs missing from {}", dir.display());
}

/// Found by `loader_file`: a step's context offset near `u32::MAX`
/// overflowed the check that the word fits in the context
/// (`offset + 4 <= ctx_size`), a panic with overflow checks on.
#[test]
fn a_context_offset_at_the_end_of_u32_is_refused() {
    let plan = many(&Many {
        maps: 1,
        progs: 2,
        pin: None,
    });
    let good = generate(&plan, &GenOptions::default()).unwrap();
    for off in [u32::MAX - 3, u32::MAX - 7] {
        let mut bad = good.clone();
        let fd = bad
            .steps
            .iter_mut()
            .find_map(|s| match s {
                Step::CreateMap { fd, .. } | Step::LoadProg { fd, .. } => Some(fd),
                _ => None,
            })
            .expect("a step with an fd word");
        *fd = CtxOff(off);
        match Loader::from_bytes(&bad.to_bytes()) {
            Err(Error::Format { what, .. }) => {
                assert!(what.contains("no word of a"), "{what}");
            }
            other => panic!("offset {off:#x}: {other:?}"),
        }
    }
    assert_eq!(Loader::from_bytes(&good.to_bytes()).unwrap(), good);
}
