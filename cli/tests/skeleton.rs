//! The skeleton generator (`oxbpf::skel`, `oxbpf gen skeleton`): the
//! regular and light modules of every corpus object, and of a fixture of
//! awkward C types, compile in one crate — with `#![deny(warnings,
//! missing_docs)]`, and with their compile-time layout assertions (every
//! generated size and field offset against the object's BTF) evaluated;
//! the command writes what the library generates; malformed objects are
//! errors.

use std::path::{Path, PathBuf};
use std::process::Command;

use oxbpf::skel::{Builder, Embed, SkelOptions, generate};

fn oxbpf(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_oxbpf"))
        .args(args)
        .output()
        .expect("running oxbpf");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// The fixture of C types, compiled by the skeleton Builder (clang).
fn fixture_object(dir: &Path) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/skel/types.bpf.c");
    let object = Builder::new(&source)
        .compile(dir)
        .unwrap_or_else(|e| panic!("compiling {}: {e:?}", source.display()));
    assert!(object.ends_with("types.bpf.o"), "{}", object.display());
    object
}

#[test]
fn every_corpus_module_compiles_with_its_layout_assertions() {
    let krate = Path::new(env!("CARGO_TARGET_TMPDIR")).join("skel-check");
    let src = krate.join("src");
    let objects_dir = krate.join("objects");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::create_dir_all(&objects_dir).unwrap();

    let mut objects = oxbpf_tests::corpus();
    objects.push(fixture_object(&objects_dir));
    let mut lib = String::from(
        "//! Generated skeletons of the oxbpf test corpus.\n#![deny(warnings, missing_docs)]\n\n",
    );
    let mut generated = 0;
    let mut refused = Vec::new();
    for object in &objects {
        let name = object.file_name().unwrap().to_string_lossy().into_owned();
        let module = name.replace(['.', '-'], "_");
        let bytes = std::fs::read(object).unwrap();
        for light in [false, true] {
            let module = if light {
                format!("{module}_light")
            } else {
                module.clone()
            };
            // The fixture's regular module embeds the object inline, the
            // rest include their files.
            let embed = if name == "types.bpf.o" && !light {
                Embed::Inline
            } else if light {
                Embed::File(krate.join("objects").join(format!("{module}.loader")))
            } else {
                Embed::File(object.clone())
            };
            let opts = SkelOptions::new().light(light).embed(embed.clone());
            let skel = match generate(&name, &bytes, &opts) {
                Ok(skel) => skel,
                // What a generated loader cannot express fails the light
                // skeleton with the loader generator's own error.
                Err(oxbpf::Error::GenLoader(oxbpf::gen_loader::Error::Unsupported {
                    what,
                    site,
                })) if light => {
                    refused.push(format!("{name}: {site}: {what}"));
                    continue;
                }
                Err(e) => panic!("{name} (light: {light}): {e:?}"),
            };
            if let Embed::File(path) = &embed {
                if light {
                    std::fs::write(path, &skel.embedded).unwrap();
                } else {
                    assert_eq!(skel.embedded, bytes);
                }
            }
            // Light and regular skeletons of one object have the same
            // surface: the same types, maps, programs and data views.
            assert!(
                skel.source
                    .contains(&format!("pub struct {}", skel.struct_name))
            );
            std::fs::write(src.join(format!("{module}.rs")), &skel.source).unwrap();
            lib.push_str(&format!(
                "/// `{name}`{}.\npub mod {module};\n",
                if light { " (light)" } else { "" }
            ));
            generated += 1;
        }
    }
    assert_eq!(generated + refused.len(), objects.len() * 2);
    assert!(
        refused.len() * 4 < objects.len(),
        "light skeletons refused for {refused:#?}"
    );
    eprintln!("light skeletons refused (loader generator: unsupported): {refused:#?}");
    std::fs::write(src.join("lib.rs"), lib).unwrap();
    let loader = workspace().join("loader");
    std::fs::write(
        krate.join("Cargo.toml"),
        format!(
            "[package]\nname = \"oxbpf-skel-check\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
             [dependencies]\noxbpf = {{ path = {:?} }}\n\n[workspace]\n",
            loader.to_string_lossy()
        ),
    )
    .unwrap();
    // The workspace's lock file: the same dependency versions, offline.
    std::fs::copy(workspace().join("Cargo.lock"), krate.join("Cargo.lock")).unwrap();
    let tests = krate.join("tests");
    std::fs::create_dir_all(&tests).unwrap();
    std::fs::write(tests.join("run.rs"), RUN_GENERATED).unwrap();
    // Builds the modules (evaluating their layout assertions) and runs
    // RUN_GENERATED against them.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["test", "--offline", "--quiet", "--tests"])
        .current_dir(&krate)
        .env("CARGO_TARGET_DIR", krate.join("target"))
        .env_remove("RUSTFLAGS")
        .output()
        .expect("running cargo test");
    assert!(
        out.status.success(),
        "cargo test of the generated skeletons in {} failed:\n{}\n{}",
        krate.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("test result: ok. 2 passed"),
        "the generated skeletons' test did not run:\n{stdout}"
    );
}

/// Run against generated modules: struct_ops maps, which attach() of both
/// kinds of skeleton registers (a light skeleton with the value laid out
/// at build time) and detach() unregisters; the fixture's bitfields, set
/// and read through their generated accessors, as C code in the kernel
/// reads and writes them.
const RUN_GENERATED: &str = r#"
use oxbpf_skel_check::{struct_ops_bpf_o as regular, struct_ops_bpf_o_light as light};

fn registered(name: &str) -> bool {
    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_available_congestion_control")
        .unwrap()
        .split_whitespace()
        .any(|n| n == name)
}

macro_rules! registers_on_attach {
    ($skel:ty) => {{
        let mut skel = <$skel>::open_and_load().unwrap();
        assert!(!registered("oxcc") && !registered("oxcc_link"), "loading registers nothing");
        assert!(skel.links().ox_init().is_none());
        skel.attach().unwrap();
        assert!(registered("oxcc") && registered("oxcc_link"));
        assert!(skel.skel().struct_ops_link(0).is_some());
        assert!(skel.skel().struct_ops_link(1).is_some());
        assert!(skel.links().ox_init().is_none(), "struct_ops programs have no link of their own");
        assert_eq!(skel.maps().inits().lookup(&0).unwrap(), Some(0));
        skel.detach();
        assert!(!registered("oxcc") && !registered("oxcc_link"));
    }};
}

#[test]
fn struct_ops_maps_register_on_attach() {
    registers_on_attach!(regular::StructOpsSkel);
    registers_on_attach!(light::StructOpsSkel);
}

// The fixture's bitfields: what the generated setters write before load is
// what C reads (bf_copy copies each member into seen[]), and what C writes
// (g_bf_out) is what the getters read.
macro_rules! bitfields_are_what_c_sees {
    ($m:path) => {{
        use $m as m;
        use m::types::color;
        let mut open = m::TypesSkel::open().unwrap();
        assert_eq!(open.data().g_bf.a(), 1, "the C initializer");
        assert_eq!(open.data().g_bf.b(), 0);
        let v = &mut open.data_mut().g_bf;
        v.set_a(0b1110); // 3 bits: C reads 6
        v.set_b(17);
        v.set_neg(-5);
        v.set_sc(2);
        v.set_col(color::GREEN);
        v.set_wide(0x123_4567_89ab);
        v.set_swide(-3);
        v.set_flag(1);
        v.set_td(0x55);
        v.plain = b'x' as _;
        v.set_top(0xabc);
        assert_eq!((v.a(), v.b(), v.neg(), v.col(), v.swide()), (6, 17, -5, color::GREEN, -3));
        let skel = open.load().unwrap();
        let run = skel.progs().bf_copy().test_run(&Default::default()).unwrap();
        assert_eq!(run.retval, 0);
        assert_eq!(
            skel.bss().seen(),
            [6, 17, -5, 2, 5, 0x123_4567_89ab, -3, 1, 0x55, 0xabc],
            "C's reading of the bitfields set through the setters"
        );
        let o = skel.bss().g_bf_out();
        assert_eq!(
            (o.a(), o.b(), o.neg(), o.sc(), o.col(), o.wide(), o.swide(), o.flag(), o.td(), o.top()),
            (5, 31, -8, -3, color::BLUE, 0xabc_def0_1234, -4294967296, 1, 100, 0xfff),
            "the getters' reading of the bitfields C wrote"
        );
        assert_eq!(o.plain as u8, b'p');
    }};
}

#[test]
fn bitfields_are_what_c_sees() {
    bitfields_are_what_c_sees!(oxbpf_skel_check::types_bpf_o);
    bitfields_are_what_c_sees!(oxbpf_skel_check::types_bpf_o_light);
}
"#;

#[test]
fn the_command_writes_what_the_library_generates() {
    let object = oxbpf_tests::object("subprogs");
    let path = object.to_str().unwrap();
    let bytes = std::fs::read(&object).unwrap();
    let want = generate("subprogs.bpf.o", &bytes, &SkelOptions::new()).unwrap();
    let (ok, stdout, stderr) = oxbpf(&["gen", "skeleton", path]);
    assert!(ok, "{stderr}");
    assert_eq!(stdout, want.source);
    assert!(stdout.contains("pub struct SubprogsSkel"));
    assert!(stdout.contains("::oxbpf::skel::OpenSkel::open(&SKEL_SPEC, SKEL_BYTES)"));

    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("subprogs.lskel.rs");
    let (ok, stdout, stderr) = oxbpf(&[
        "gen",
        "skeleton",
        "--light",
        "--name",
        "sub",
        path,
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    let light = std::fs::read_to_string(&out).unwrap();
    assert!(light.contains("pub struct SubSkel"), "--name");
    assert!(light.contains("::oxbpf::skel::OpenLightSkel::open(&SKEL_SPEC, SKEL_BYTES)"));
    // The embedded bytes are a loader file, not the object.
    assert!(!light.contains("\\x7fELF"));

    let (ok, _, stderr) = oxbpf(&["gen", "skeleton", "/nonexistent.bpf.o"]);
    assert!(!ok);
    assert!(stderr.contains("/nonexistent.bpf.o"), "{stderr}");
    let garbage = Path::new(env!("CARGO_TARGET_TMPDIR")).join("garbage.bpf.o");
    std::fs::write(&garbage, b"\x7fELF garbage").unwrap();
    let (ok, _, stderr) = oxbpf(&["gen", "skeleton", garbage.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        stderr.starts_with("error: parsing garbage.bpf.o"),
        "{stderr}"
    );
}

#[test]
fn malformed_objects_are_errors_not_panics() {
    let bytes = std::fs::read(oxbpf_tests::object("subprogs")).unwrap();
    let opts = SkelOptions::new();
    assert!(matches!(
        generate("x.bpf.o", b"", &opts),
        Err(oxbpf::Error::Parse { .. })
    ));
    // Every truncation, and a byte flipped every 7 bytes through the file
    // (headers, BTF, instructions): an error or a module, never a panic.
    for len in (0..bytes.len()).step_by(61) {
        assert!(generate("x.bpf.o", &bytes[..len], &opts).is_err(), "{len}");
    }
    let mut generated = 0;
    for at in (0..bytes.len()).step_by(7) {
        let mut b = bytes.clone();
        b[at] ^= 0xff;
        if generate("x.bpf.o", &b, &opts).is_ok() {
            generated += 1;
        }
    }
    // Most bytes are DWARF and string data the generator does not read.
    assert!(generated > 0);
}

#[test]
fn the_builder_writes_vmlinux_h_and_compiles_against_it() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("skel-vmlinux");
    let _ = std::fs::remove_dir_all(&dir);
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/skel/vmlinux_user.bpf.c");
    let out = dir.join("vmlinux_user.skel.rs");
    Builder::new(&source)
        .vmlinux_h(true)
        .build_and_generate(&out)
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(dir.join("vmlinux.h").is_file());
    assert!(dir.join("vmlinux_user.bpf.o").is_file());
    let skel = std::fs::read_to_string(&out).unwrap();
    // The map's value is the kernel's struct, typed.
    assert!(skel.contains("pub struct ethhdr {"), "{skel}");
    assert!(
        skel.contains("TypedMap<'a, types::__u32, types::ethhdr>"),
        "{skel}"
    );
    // Embedded by path: the object beside it.
    let object = std::path::absolute(dir.join("vmlinux_user.bpf.o")).unwrap();
    assert!(
        skel.contains(&format!("include_bytes!({:?})", object.to_string_lossy())),
        "{skel}"
    );

    // A compile error is an error with clang's message.
    let bad = dir.join("bad.bpf.c");
    std::fs::write(&bad, "int f( {").unwrap();
    let err = Builder::new(&bad).compile(&dir).unwrap_err().to_string();
    assert!(err.contains("bad.bpf.c"), "{err}");
    assert!(err.contains("error"), "{err}");
}
