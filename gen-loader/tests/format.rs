//! The loader file format: round trip, and malformed files refused
//! without a panic or an allocation larger than the file.

mod support;

use oxbpf_gen_loader::{Error, FORMAT_VERSION, GenOptions, Loader, MAGIC, decode, generate};
use support::plans::{Many, many};

fn file() -> Vec<u8> {
    let plan = many(&Many {
        maps: 2,
        progs: 2,
        pin: Some("/sys/fs/bpf/t/m0".into()),
    });
    generate(&plan, &GenOptions::default()).unwrap().to_bytes()
}

#[test]
fn the_header_is_as_documented() {
    let f = file();
    assert_eq!(&f[..8], MAGIC);
    assert_eq!(
        u32::from_le_bytes(f[8..12].try_into().unwrap()),
        FORMAT_VERSION
    );
    assert_eq!(f[12], if cfg!(target_endian = "big") { 2 } else { 1 });
    // The plan hands CO-RE relocations to the kernel: 5.17.
    assert_eq!(&f[16..18], &[5, 17]);
    let l = Loader::from_bytes(&f).unwrap();
    assert_eq!(l.to_bytes(), f);
}

#[test]
fn every_truncation_is_refused() {
    let f = file();
    for n in 0..f.len() {
        assert!(
            matches!(Loader::from_bytes(&f[..n]), Err(Error::Format { .. })),
            "a file cut at {n} of {} bytes was read",
            f.len()
        );
    }
    let mut longer = f.clone();
    longer.push(0);
    assert!(Loader::from_bytes(&longer).is_err());
}

#[test]
fn bit_flips_never_panic() {
    let f = file();
    for i in 0..f.len() {
        for bit in [0, 3, 7] {
            let mut g = f.clone();
            g[i] ^= 1 << bit;
            if let Ok(l) = Loader::from_bytes(&g) {
                // Whatever was read decodes or is refused, without a panic.
                let _ = decode(&l);
            }
        }
    }
}

#[test]
fn counts_larger_than_the_file_are_refused_before_allocating() {
    let mut f = file();
    // n_insns (offset 24) set to 2^32 - 1.
    f[24..28].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        Loader::from_bytes(&f),
        Err(Error::Format { offset: _, .. })
    ));
    let mut f = file();
    // n_steps (offset 36).
    f[36..40].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(Loader::from_bytes(&f).is_err());
}

#[test]
fn foreign_files_are_refused() {
    assert!(Loader::from_bytes(b"\x7fELF\x02\x01\x01").is_err());
    let mut f = file();
    f[8] = 1; // the format before map_update steps located their values
    let err = Loader::from_bytes(&f).unwrap_err();
    assert!(err.to_string().contains("version 1"), "{err}");
    let mut f = file();
    f[12] = if cfg!(target_endian = "big") { 1 } else { 2 };
    assert!(
        Loader::from_bytes(&f)
            .unwrap_err()
            .to_string()
            .contains("another machine")
    );
}
