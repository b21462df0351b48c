//! Objects load on kernels whose BTF lacks newer kinds: planned for an
//! assumed older feature set, the object's BTF is sanitized, programs lose
//! func/line info when FUNC is missing, data maps their value type when
//! DATASEC is, and the programs behave the same.

use oxbpf::OpenObject;
use oxbpf::btf::BtfFeatures;
use oxbpf_tests::{FdSnapshot, Feature, excused_load_failure, kernel_lock, object, require};

fn results(obj: &oxbpf::Object) -> [u64; 3] {
    let map = obj.map("results").unwrap();
    [0u32, 1, 2].map(|k| {
        u64::from_ne_bytes(
            map.lookup(&k.to_ne_bytes(), 0)
                .unwrap()
                .unwrap()
                .try_into()
                .unwrap(),
        )
    })
}

#[test]
fn subprograms_and_globals_on_older_btf() {
    require!(Feature::SyscallProgs, Feature::BpfLoop);
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    // Global functions and callbacks need FUNC (func_info) on any kernel
    // that has them, so the oldest BTF tried is 5.0's.
    for (major, minor) in [(5, 0), (5, 2), (5, 6), (5, 15), (6, 0), (6, 18)] {
        let mut open = OpenObject::open(object("subprogs")).unwrap();
        let features = BtfFeatures::for_kernel(major, minor);
        open.assume_btf_features(features);
        let obj = open
            .load()
            .unwrap_or_else(|e| panic!("{major}.{minor}: {e}"));
        let run = obj.program("run").unwrap();
        assert_eq!(run.run_syscall(&mut []).unwrap(), 7, "{major}.{minor}");
        assert_eq!(results(&obj), [15, 10, 42], "{major}.{minor}");
        let info = run.info().unwrap();
        assert_eq!(
            info.nr_func_info > 0,
            features.func,
            "{major}.{minor}: func_info only with FUNC"
        );
        let data = obj.map("subprogs.data").unwrap().info().unwrap();
        assert_eq!(
            data.btf_value_type_id != 0,
            features.var_datasec,
            "{major}.{minor}: DATASEC value type"
        );
    }
    fds.assert_no_leak("sanitized loads");
}

#[test]
fn every_corpus_object_loads_with_btf_of_5_2() {
    let _k = kernel_lock();
    let pins = oxbpf_tests::PinDir::new("sanitize");
    for path in oxbpf_tests::corpus() {
        let mut open = OpenObject::open(&path).unwrap();
        open.set_pin_root(&pins.0);
        open.assume_btf_features(BtfFeatures::for_kernel(5, 2));
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        match open.load() {
            Ok(_) => assert!(
                !name.starts_with("exceptions."),
                "{name} loaded without DECL_TAG"
            ),
            // The one object that cannot: its exception callback is found
            // by the kernel through a DECL_TAG, which 5.2 lacks.
            Err(oxbpf::Error::Unsupported { what, .. }) if name.starts_with("exceptions.") => {
                assert!(what.contains("DECL_TAG"), "{what}");
            }
            // Objects needing what this kernel lacks (vm-test's older
            // kernels), whatever the BTF.
            Err(e) => match excused_load_failure(&path, &e) {
                Some(why) => println!("{name}: not loadable here ({why}): {e}"),
                None => panic!("{name}: {e:?}"),
            },
        }
        for entry in std::fs::read_dir(&pins.0).unwrap() {
            std::fs::remove_file(entry.unwrap().path()).unwrap();
        }
    }
}
