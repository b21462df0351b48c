//! Opening an object and planning its load, without loading anything:
//! `OpenObject::from_bytes` then `plan()` (seeded with the test objects).
//! A plan that comes out must compile into a loader whose file reads back
//! and decodes (what `oxbpf gen loader` then `oxbpf explain` do), or be
//! refused by the generator as unsupported.
//!
//! Planning reads kernel facts from files (vmlinux BTF, possible CPUs,
//! the kernel configuration); it must not ask the kernel anything. So the
//! BTF features are assumed (from the input's last byte) instead of
//! probed, the pin directory does not exist, and objects whose `.kconfig`
//! asks for `LINUX_HAS_BPF_COOKIE` (answered by loading a probe program)
//! or `LINUX_HAS_SYSCALL_WRAPPER` (a read of all of `/proc/kallsyms` per
//! input) are opened but not planned.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxbpf::OpenObject;
use oxbpf::btf::{BtfFeature, BtfFeatures};
use oxbpf::elf::ExternKind;
use oxbpf::gen_loader::{GenOptions, Loader, decode, generate};

fuzz_target!(|data: &[u8]| {
    let mut open = match OpenObject::from_bytes("fuzz.bpf.o", data) {
        Ok(o) => o,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let probes_kernel = open.elf().externs.list.iter().any(|e| {
        matches!(e.kind, ExternKind::Kconfig { .. })
            && matches!(
                e.name.as_str(),
                "LINUX_HAS_BPF_COOKIE" | "LINUX_HAS_SYSCALL_WRAPPER"
            )
    });
    if probes_kernel {
        return;
    }
    let bits = data.last().copied().unwrap_or(0xff);
    let features = BtfFeatures::from_fn(|f| {
        let i = BtfFeature::ALL.iter().position(|&g| g == f).unwrap_or(0);
        bits & (1 << (i % 8)) != 0
    });
    open.set_pin_root("/nonexistent/oxbpf-fuzz")
        .assume_btf_features(features);
    let plan = match open.plan() {
        Ok(p) => p,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let _ = plan.to_string();
    let loader = match generate(&plan, &GenOptions::default()) {
        Ok(l) => l,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let read = Loader::from_bytes(&loader.to_bytes()).expect("a generated loader's file reads");
    if let Err(e) = decode(&read) {
        panic!("a generated loader does not decode: {e}\nplan:\n{plan}");
    }
});
