//! `oxbpf load`: load an object and report what the kernel now holds.

use std::path::Path;

use oxbpf::OpenObject;

use crate::Result;

pub(crate) fn load(path: &Path, pin: Option<&Path>, via_loader: bool) -> Result {
    let open = OpenObject::open(path)?;
    let obj = if via_loader {
        open.load_via_loader()?
    } else {
        open.load()?
    };
    println!("loaded {}", obj.name());
    for map in obj.maps() {
        let info = map.info()?;
        println!(
            "  map  {:<24} id {:<6} {:<16} key {:<4} value {:<6} max {}",
            map.name(),
            info.id,
            map.map_type().to_string(),
            info.key_size,
            info.value_size,
            info.max_entries
        );
    }
    for prog in obj.programs() {
        let info = prog.info()?;
        println!(
            "  prog {:<24} id {:<6} {:<16} {} insns (xlated), tag {}",
            prog.name(),
            info.id,
            prog.prog_type().to_string(),
            info.xlated_prog_len / 8,
            hex(&info.tag)
        );
    }
    match pin {
        Some(dir) => {
            obj.pin_all(dir)?;
            println!("pinned under {} (maps/<name>, progs/<name>)", dir.display());
        }
        None => println!("not pinned: the kernel frees these objects when oxbpf exits"),
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
