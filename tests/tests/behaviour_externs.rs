//! `externs.bpf.c`: kconfig values of every C type, the loader-computed
//! LINUX_* values, a weak absent kconfig value, a typeless ksym, kfunc calls
//! and a weak absent kfunc, checked against the running kernel.

use oxbpf::OpenObject;
use oxbpf::sys::{Kallsyms, KernelConfig};
use oxbpf_tests::{FdSnapshot, Feature, kernel_lock, object, require};

#[test]
fn externs_resolve_to_the_running_kernel() {
    require!(Feature::SyscallProgs, Feature::TaskFromPid);
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    let obj = OpenObject::open(object("externs")).unwrap().load().unwrap();
    let pid = std::process::id() as i32;
    let mut ctx = pid.to_ne_bytes();
    assert_eq!(
        obj.program("read_externs")
            .unwrap()
            .run_syscall(&mut ctx)
            .unwrap(),
        0
    );

    let out = obj.map("out").unwrap();
    let slot = |i: u32| -> u64 {
        let v = out.lookup(&i.to_ne_bytes(), 0).unwrap().unwrap();
        u64::from_ne_bytes(v.try_into().unwrap())
    };
    let config = KernelConfig::read().unwrap();
    let hz: u64 = config.get("CONFIG_HZ").unwrap().parse().unwrap();
    assert_eq!(slot(0), hz, "CONFIG_HZ");
    assert_eq!(slot(1), 1, "CONFIG_BPF_SYSCALL (bool)");
    assert_eq!(slot(2), 1, "CONFIG_BPF_JIT (tristate TRI_YES)");
    assert_eq!(slot(3), u64::from(b'y'), "CONFIG_BPF (char)");
    let hostname = config
        .get("CONFIG_DEFAULT_HOSTNAME")
        .unwrap()
        .trim_matches('"');
    let mut first8 = [0u8; 8];
    let n = hostname.len().min(8);
    first8[..n].copy_from_slice(&hostname.as_bytes()[..n]);
    assert_eq!(slot(4).to_ne_bytes(), first8, "CONFIG_DEFAULT_HOSTNAME");
    assert_eq!(slot(5), 0, "weak CONFIG_OXBPF_NOT_A_CONFIG");
    assert_eq!(
        slot(6),
        u64::from(oxbpf::sys::kernel_version_code().unwrap()),
        "LINUX_KERNEL_VERSION"
    );
    assert_eq!(slot(7), 1, "LINUX_HAS_SYSCALL_WRAPPER");
    assert_eq!(slot(8), 1, "LINUX_HAS_BPF_COOKIE");
    let kallsyms = Kallsyms::read().unwrap();
    assert_eq!(
        slot(9),
        kallsyms.get("bpf_prog_put").unwrap(),
        "typeless ksym bpf_prog_put"
    );
    assert_eq!(slot(11), pid as u64, "bpf_task_from_pid(pid)->pid");
    assert_eq!(slot(12), 0, "bpf_ksym_exists(absent weak kfunc)");

    // The .kconfig map is frozen and read-only for programs.
    let kconfig = obj.map("externs.kconfig").unwrap();
    let info = kconfig.info().unwrap();
    assert_eq!(info.map_flags & (1 << 7), 1 << 7, "BPF_F_RDONLY_PROG");
    assert!(
        kconfig
            .update(
                &0u32.to_ne_bytes(),
                &vec![0; kconfig.value_size() as usize],
                0
            )
            .is_err(),
        "frozen"
    );
    drop(obj);
    fds.assert_no_leak("externs");
}

#[test]
fn a_missing_non_weak_kconfig_value_is_an_error_naming_it() {
    let _k = kernel_lock();
    // The plan of an object is built from the running kernel's config; an
    // option it does not set must be named. Make one by renaming an extern
    // in the object's string table: CONFIG_HZ -> CONFIG_QZ.
    let bytes = std::fs::read(object("externs")).unwrap();
    let mut renamed = bytes.clone();
    let mut hits = 0;
    for i in 0..bytes.len() - 9 {
        if &bytes[i..i + 10] == b"CONFIG_HZ\0" {
            renamed[i + 7] = b'Q';
            hits += 1;
        }
    }
    assert!(
        hits >= 2,
        "the name is in both the ELF and the BTF string tables"
    );
    let err = OpenObject::from_bytes("renamed.bpf.o", &renamed)
        .unwrap()
        .plan()
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("CONFIG_QZ"), "{msg}");
}
