//! Writes a BTF file as a C header on stdout:
//! `cargo run -p oxbpf-btf --example dump_c [PATH]` (default: the kernel's).
fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/sys/kernel/btf/vmlinux".into());
    let btf = oxbpf_btf::Btf::from_file(std::path::Path::new(&path)).expect("read BTF");
    let out = std::io::stdout();
    oxbpf_btf::dump_c(&btf, &mut out.lock(), &oxbpf_btf::DumpOptions::default()).expect("dump");
}
