//! Parses the objects named on the command line and prints a summary.
fn main() {
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path).expect("readable file");
        match oxbpf_elf_bpf::Object::parse(&bytes) {
            Ok(obj) => {
                println!(
                    "{path}: {} programs, {} maps, {} data",
                    obj.programs.len(),
                    obj.maps.len(),
                    obj.data.len()
                );
                for p in &obj.programs {
                    println!(
                        "  prog {} {} {:?} relocs {:?}",
                        p.name(),
                        p.section(),
                        p.kind.map(|k| k.prog_type),
                        p.function.relocations
                    );
                }
                for m in &obj.maps {
                    println!(
                        "  map {} {} k{} v{} max{} flags{:#x} {:?} {:?}",
                        m.name,
                        m.map_type,
                        m.key_size,
                        m.value_size,
                        m.max_entries,
                        m.map_flags,
                        m.pinning,
                        m.syntax
                    );
                }
            }
            Err(e) => println!("{path}: error: {e}"),
        }
    }
}
