//! Real clang objects (tests/data, built by build.sh, little- and
//! big-endian): their BTF is read, fixed and loaded into the running kernel.

mod common;

use common::kernel::{ElfSource, btf_load, section};
use oxbpf_btf::{
    Btf, DatasecSource, Endian, Error, FuncLinkage, Kind, Type, VarLinkage, fixup_datasecs,
};

fn read(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

const OBJECTS: [&str; 4] = [
    "globals.bpf.o",
    "core.bpf.o",
    "globals.bpf.eb.o",
    "core.bpf.eb.o",
];

#[test]
fn both_byte_orders_read_the_same() {
    for name in ["globals", "core"] {
        let el = read(&format!("{name}.bpf.o"));
        let eb = read(&format!("{name}.bpf.eb.o"));
        let bl = Btf::parse(section(&el, ".BTF")).unwrap();
        let bb = Btf::parse(section(&eb, ".BTF")).unwrap();
        assert_eq!(bl.endian(), Endian::Little);
        assert_eq!(bb.endian(), Endian::Big);
        assert_eq!(common::dump(&bl), common::dump(&bb), "{name}");
        // Converting to native order gives the little-endian bytes exactly.
        assert_eq!(&*bb.to_native_bytes(), bl.as_bytes(), "{name}");
        assert!(matches!(
            bl.to_native_bytes(),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}

#[test]
fn objects_match_bpftool() {
    for obj in ["globals.bpf.o", "core.bpf.o"] {
        let elf = read(obj);
        let btf = Btf::parse(section(&elf, ".BTF")).unwrap();
        let path = format!("{}/tests/data/{obj}", env!("CARGO_MANIFEST_DIR"));
        common::assert_same_dump(&common::dump(&btf), &common::bpftool_dump(&path));
    }
}

#[test]
fn raw_object_btf_is_refused_by_the_kernel() {
    // The reason fixups exist: the kernel refuses clang's BTF as it is.
    let elf = read("globals.bpf.o");
    let err = btf_load(section(&elf, ".BTF")).unwrap_err();
    assert!(err.contains("Invalid argument"), "{err}");
}

/// Checks the fixed BTF against the ELF: DATASEC sizes are section sizes,
/// entries are sorted and sit at their symbols' values, no extern remains.
fn check_fixed(obj: &str, fixed: &Btf<'_>, src: &dyn DatasecSource) {
    let mut datasecs = 0;
    for (id, t) in fixed.types() {
        match t {
            Type::Datasec(d) => {
                datasecs += 1;
                let sec = fixed.string_at(d.name_off()).unwrap();
                assert!(!d.is_empty(), "{obj} {sec}: an empty DATASEC is left");
                assert_eq!(Some(d.size()), src.section_size(sec), "{obj} {sec}");
                let mut last = 0;
                for v in d.vars() {
                    let name = fixed.name(v.ty).unwrap();
                    let Type::Var(var) = fixed.type_by_id(v.ty).unwrap() else {
                        panic!("{obj} {sec}: non-VAR entry {name}");
                    };
                    assert_ne!(var.linkage, VarLinkage::GlobalExtern);
                    assert_eq!(
                        Some(v.offset),
                        src.var_offset(sec, name),
                        "{obj} {sec} {name}"
                    );
                    assert_eq!(v.size, fixed.resolve_size(v.ty).unwrap(), "{obj} {name}");
                    assert!(v.offset >= last, "{obj} {sec}: not sorted");
                    last = v.offset + v.size;
                }
                assert!(last <= d.size());
            }
            Type::Var(v) => assert_ne!(v.linkage, VarLinkage::GlobalExtern, "{obj} [{id}]"),
            Type::Func(f) => assert_ne!(f.linkage, FuncLinkage::Extern, "{obj} [{id}]"),
            _ => {}
        }
    }
    assert!(datasecs > 0, "{obj}: no DATASEC");
}

#[test]
fn fixed_object_btf_loads() {
    for obj in OBJECTS {
        let elf = read(obj);
        let btf = Btf::parse(section(&elf, ".BTF")).unwrap();
        let src = ElfSource::new(&elf);
        let fixed = fixup_datasecs(&btf, &src).unwrap();
        let parsed = Btf::parse(&fixed).unwrap();
        assert_eq!(parsed.endian(), Endian::NATIVE);
        assert_eq!(
            parsed.types_len(),
            btf.types_len(),
            "{obj}: type ids changed"
        );
        for (id, t) in btf.types() {
            // DATASECs left without variables (unplaced externs) become
            // anonymous empty structs.
            if parsed.kind(id).unwrap() == Kind::Struct && t.kind() == Kind::Datasec {
                let Type::Struct(st) = parsed.type_by_id(id).unwrap() else {
                    unreachable!()
                };
                assert!(st.is_empty(), "{obj} [{id}]");
                assert_eq!(parsed.name(id).unwrap(), "", "{obj} [{id}]");
                continue;
            }
            assert_eq!(parsed.name(id).unwrap(), btf.name(id).unwrap());
            // Kinds are kept, except extern FUNCs (kfunc declarations) and
            // typeless extern VARs, which become TYPEDEFs of their types.
            let expect = match t {
                Type::Func(f) if f.linkage == FuncLinkage::Extern => Kind::Typedef,
                Type::Var(v)
                    if v.linkage == VarLinkage::GlobalExtern
                        && btf.skip_mods(v.ty).unwrap().is_void() =>
                {
                    Kind::Typedef
                }
                _ => t.kind(),
            };
            assert_eq!(parsed.kind(id).unwrap(), expect, "{obj} [{id}]");
        }
        check_fixed(obj, &parsed, &src);
        // Fixing is idempotent.
        assert_eq!(fixup_datasecs(&parsed, &src).unwrap(), fixed, "{obj}");
        if let Err(e) = btf_load(&fixed) {
            panic!("{obj}: {e}");
        }
    }
}

/// The ELF plus a loader-made `.kconfig` layout.
struct WithKconfig(ElfSource);

impl DatasecSource for WithKconfig {
    fn section_size(&self, name: &str) -> Option<u32> {
        match name {
            ".kconfig" => Some(8),
            _ => self.0.section_size(name),
        }
    }
    fn var_offset(&self, section: &str, var: &str) -> Option<u32> {
        match (section, var) {
            (".kconfig", "CONFIG_BPF_SYSCALL") => Some(0),
            (".kconfig", "LINUX_KERNEL_VERSION") => Some(4),
            _ => self.0.var_offset(section, var),
        }
    }
}

#[test]
fn placed_externs_become_allocated_and_load() {
    let elf = read("globals.bpf.o");
    let btf = Btf::parse(section(&elf, ".BTF")).unwrap();
    let src = WithKconfig(ElfSource::new(&elf));
    let fixed = fixup_datasecs(&btf, &src).unwrap();
    let parsed = Btf::parse(&fixed).unwrap();
    check_fixed("globals.bpf.o", &parsed, &src);
    let kc = parsed
        .find_by_name_kind(".kconfig", Kind::Datasec)
        .unwrap()
        .unwrap();
    let Type::Datasec(d) = parsed.type_by_id(kc).unwrap() else {
        panic!()
    };
    let names: Vec<&str> = d.vars().map(|v| parsed.name(v.ty).unwrap()).collect();
    assert_eq!(
        names,
        ["CONFIG_BPF_SYSCALL", "LINUX_KERNEL_VERSION"],
        "sorted by offset"
    );
    for v in d.vars() {
        let Type::Var(var) = parsed.type_by_id(v.ty).unwrap() else {
            panic!()
        };
        assert_eq!(var.linkage, VarLinkage::GlobalAllocated);
    }
    // The typed ksym, not placed, is no longer in .ksyms, which, empty,
    // is no DATASEC any more; the ksym is static.
    assert_eq!(
        parsed.find_by_name_kind(".ksyms", Kind::Datasec).unwrap(),
        None
    );
    let pa = parsed
        .find_by_name_kind("bpf_prog_active", Kind::Var)
        .unwrap()
        .unwrap();
    let Type::Var(var) = parsed.type_by_id(pa).unwrap() else {
        panic!()
    };
    assert_eq!(var.linkage, VarLinkage::Static);
    btf_load(&fixed).unwrap();
}

/// A source that forgets things, to check the errors.
struct Forgetful<'a> {
    inner: ElfSource,
    no_section: &'a str,
    no_symbol: &'a str,
    shift: Option<(&'a str, u32)>,
}

impl DatasecSource for Forgetful<'_> {
    fn section_size(&self, name: &str) -> Option<u32> {
        if name == self.no_section {
            None
        } else {
            self.inner.section_size(name)
        }
    }
    fn var_offset(&self, section: &str, var: &str) -> Option<u32> {
        if var == self.no_symbol {
            return None;
        }
        match self.shift {
            Some((v, off)) if v == var => Some(off),
            _ => self.inner.var_offset(section, var),
        }
    }
}

#[test]
fn fixup_errors_say_where() {
    let elf = read("globals.bpf.o");
    let btf = Btf::parse(section(&elf, ".BTF")).unwrap();
    let f = |no_section, no_symbol, shift| Forgetful {
        inner: ElfSource::new(&elf),
        no_section,
        no_symbol,
        shift,
    };
    let e = fixup_datasecs(&btf, &f(".data.custom", "", None)).unwrap_err();
    assert!(
        matches!(&e, Error::DatasecNoSection { name, .. } if name == ".data.custom"),
        "{e}"
    );
    let e = fixup_datasecs(&btf, &f("", "bss_a", None)).unwrap_err();
    assert!(
        matches!(&e, Error::DatasecNoSymbol { var, section, .. } if var == "bss_a" && section == ".bss")
    );
    assert!(e.to_string().contains("'bss_a'"), "{e}");
    // data_y (1 byte) moved onto data_x (8 bytes at 0): overlap.
    let e = fixup_datasecs(&btf, &f("", "", Some(("data_y", 4)))).unwrap_err();
    assert!(
        matches!(&e, Error::DatasecLayout { var, .. } if var == "data_y"),
        "{e}"
    );
    // Past the end of .data (9 bytes).
    let e = fixup_datasecs(&btf, &f("", "", Some(("data_y", 9)))).unwrap_err();
    assert!(e.to_string().contains("exceeds the section size 9"), "{e}");
}

/// Says which functions are hidden; knows no sections.
struct Hidden(&'static [&'static str]);

impl DatasecSource for Hidden {
    fn section_size(&self, _: &str) -> Option<u32> {
        None
    }
    fn var_offset(&self, _: &str, _: &str) -> Option<u32> {
        None
    }
    fn is_hidden_func(&self, name: &str) -> bool {
        self.0.contains(&name)
    }
}

#[test]
fn hidden_global_functions_become_static() {
    let mut b = oxbpf_btf::BtfBuilder::new();
    let int = b.add_int("int", 4, oxbpf_btf::IntEncoding::SIGNED);
    let proto = b.add_func_proto(int, &[("x", int)]);
    let helper = b.add_func("helper", proto, FuncLinkage::Global);
    let exported = b.add_func("exported", proto, FuncLinkage::Global);
    let local = b.add_func("local", proto, FuncLinkage::Static);
    let raw = b.build();
    let btf = Btf::parse(&raw).unwrap();
    let fixed = fixup_datasecs(&btf, &Hidden(&["helper", "local"])).unwrap();
    let fixed = Btf::parse(&fixed).unwrap();
    let linkage = |id| match fixed.type_by_id(id).unwrap() {
        Type::Func(f) => (f.linkage, f.proto),
        t => panic!("{t:?}"),
    };
    assert_eq!(linkage(helper), (FuncLinkage::Static, proto));
    assert_eq!(linkage(exported), (FuncLinkage::Global, proto));
    assert_eq!(linkage(local), (FuncLinkage::Static, proto));
    btf_load(fixed.as_bytes()).unwrap();
}
