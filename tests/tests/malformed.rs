//! Malformed objects — truncated, bit-flipped, random — give errors, never
//! panics, at every layer a user reaches: opening and planning.

use oxbpf::OpenObject;
use oxbpf_tests::{bpf_dir, corpus};

/// xorshift64*, so that a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Opens (and for some, plans) the bytes; returns whether opening worked.
fn try_open(bytes: &[u8], plan: bool) -> bool {
    match OpenObject::from_bytes("mutant.bpf.o", bytes) {
        Ok(open) => {
            if plan {
                // A plan of a mutant may fail (unknown section, bad map...);
                // it must not panic.
                let _ = open.plan();
            }
            true
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            false
        }
    }
}

fn all_objects() -> Vec<std::path::PathBuf> {
    let mut objects = corpus();
    if let Ok(dir) = std::fs::read_dir(bpf_dir().join("eb")) {
        objects.extend(
            dir.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && p.to_string_lossy().ends_with(".bpf.o")),
        );
    }
    objects
}

#[test]
fn truncated_objects_are_refused() {
    for path in all_objects() {
        let bytes = std::fs::read(&path).unwrap();
        let mut refused = 0;
        let cuts: Vec<usize> = (0..bytes.len())
            .step_by((bytes.len() / 97).max(1))
            .collect();
        for &len in &cuts {
            if !try_open(&bytes[..len], false) {
                refused += 1;
            }
        }
        // The section header table is at the end of the file: every cut
        // before it must be refused.
        assert_eq!(
            refused,
            cuts.len(),
            "{}: a truncated object opened",
            path.display()
        );
    }
}

#[test]
fn bit_flipped_objects_never_panic() {
    let mut rng = Rng(0x5eed);
    for path in all_objects() {
        let bytes = std::fs::read(&path).unwrap();
        for i in 0..400 {
            let mut m = bytes.clone();
            for _ in 0..1 + rng.next() % 3 {
                let bit = rng.next() as usize % (m.len() * 8);
                m[bit / 8] ^= 1 << (bit % 8);
            }
            try_open(&m, i % 40 == 0);
        }
    }
}

#[test]
fn random_and_empty_files_are_refused() {
    let mut rng = Rng(7);
    for len in [0usize, 1, 4, 52, 64, 65, 1000, 1 << 16] {
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        assert!(!try_open(&bytes, false), "{len} random bytes opened");
    }
    // A valid ELF header for another machine.
    let mut elf = std::fs::read(&corpus()[0]).unwrap();
    elf[18] = 0x3e;
    let err = OpenObject::from_bytes("x86.o", &elf).unwrap_err();
    assert!(
        format!("{err}: {}", err_chain(&err)).contains("EM_BPF"),
        "{err}"
    );
    // A missing file names the path.
    let err = OpenObject::open("/nonexistent/x.bpf.o").unwrap_err();
    assert!(err.to_string().contains("/nonexistent/x.bpf.o"), "{err}");
}

fn err_chain(e: &dyn std::error::Error) -> String {
    let mut s = String::new();
    let mut src = e.source();
    while let Some(x) = src {
        s.push_str(&x.to_string());
        s.push_str(": ");
        src = x.source();
    }
    s
}
