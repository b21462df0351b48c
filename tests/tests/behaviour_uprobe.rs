//! uprobe.bpf.c in the live kernel. Attaching uprobes comes with a later
//! issue; until then this checks what loading shows, and that asking to
//! attach is a clear error rather than a fake success.
#![forbid(unsafe_code)]

use oxbpf::{Error, MapType, OpenObject, ProgType};
use oxbpf_tests::{FdSnapshot, kernel_lock, object};

#[test]
fn uprobe_programs_load_as_kprobe_programs() {
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let obj = OpenObject::open(object("uprobe")).unwrap().load().unwrap();
        let progs: Vec<(&str, ProgType)> = obj
            .programs()
            .map(|p| (p.name(), p.info().unwrap().r#type))
            .collect();
        assert_eq!(
            progs,
            [
                ("uprobe_entry", ProgType::KPROBE),
                ("uprobe_return", ProgType::KPROBE)
            ]
        );
        let info = obj.map("uprobe_calls").unwrap().info().unwrap();
        assert_eq!(
            (
                info.r#type,
                info.key_size,
                info.value_size,
                info.max_entries
            ),
            (MapType::HASH, 4, 24, 1024)
        );
        for p in obj.programs() {
            // Both programs use the map.
            let ids = oxbpf::sys::prog_map_ids(p.prog_fd()).unwrap();
            assert_eq!(ids, [info.id], "{}", p.name());
            let err = p.attach().unwrap_err();
            assert!(
                matches!(err, Error::Unsupported { .. } | Error::AttachTarget { .. }),
                "{}: {err:?}",
                p.name()
            );
        }
    }
    fds.assert_no_leak("uprobe");
}
