//! `oxbpf inspect`, `oxbpf disasm` and `oxbpf plan`: reading an object
//! without loading it.

use std::path::Path;

use oxbpf::OpenObject;
use oxbpf::elf::{MapSyntax, Object, RelocTarget};

use crate::Result;

pub(crate) fn inspect(path: &Path) -> Result {
    let open = OpenObject::open(path)?;
    let obj = open.elf();
    println!("object   {}", open.name());
    println!("endian   {:?}", obj.endian);
    println!("license  {:?}", obj.license);
    if let Some(v) = obj.kern_version {
        println!("version  {v:#x}");
    }
    match &obj.btf {
        Some(btf) => println!(
            "btf      {} types, {} bytes",
            btf.types_len(),
            btf.as_bytes().len()
        ),
        None => println!("btf      none"),
    }
    println!(
        "btf.ext  {}",
        obj.btf_ext
            .as_ref()
            .map_or("none".to_owned(), |e| format!("{} bytes", e.len()))
    );

    println!("\nprograms ({}):", open.programs().len());
    for prog in open.programs() {
        let elf = prog.elf();
        let ty = prog
            .prog_type()
            .map_or("unknown".to_owned(), |t| t.to_string());
        let attach = prog
            .expected_attach_type()
            .map_or(String::new(), |a| format!(" attach {a}"));
        let autoload = if prog.autoload() {
            ""
        } else {
            " (not autoloaded)"
        };
        println!(
            "  {:<24} section {:<32} type {ty}{attach}, {} insns, {} relocations{autoload}",
            prog.name(),
            prog.section(),
            elf.function.insns.len(),
            elf.function.relocations.len()
        );
    }
    if !obj.subprograms.is_empty() {
        println!("\nsubprograms ({}):", obj.subprograms.len());
        for f in &obj.subprograms {
            println!(
                "  {:<24} section {:<32} {} insns",
                f.name,
                f.section,
                f.insns.len()
            );
        }
    }

    println!("\nmaps ({}):", obj.maps.len());
    for map in &obj.maps {
        let syntax = match map.syntax {
            MapSyntax::Btf => "btf",
            MapSyntax::Legacy => "legacy",
        };
        print!(
            "  {:<24} {:<16} key {:<4} value {:<6} max {:<8} flags {:#x} ({syntax})",
            map.name,
            map.map_type.to_string(),
            map.key_size,
            map.value_size,
            map.max_entries,
            map.map_flags
        );
        if let (Some(btf), Some(k), Some(v)) = (&obj.btf, map.btf_key_type, map.btf_value_type) {
            print!(
                " btf key [{k}] {} value [{v}] {}",
                type_name(btf, k),
                type_name(btf, v)
            );
        }
        if map.pinning != oxbpf::elf::Pinning::None {
            print!(" pinned {:?}", map.pinning);
        }
        if let Some(inner) = &map.inner {
            print!(
                " inner {} key {} value {}",
                inner.map_type, inner.key_size, inner.value_size
            );
        }
        println!();
    }

    if !obj.data.is_empty() {
        println!("\ndata sections ({}):", obj.data.len());
        for d in &obj.data {
            println!(
                "  {:<24} {:?}, {} bytes, {} symbols",
                d.name,
                d.kind,
                d.bytes.len(),
                d.symbols.len()
            );
        }
    }

    println!("\nrelocations:");
    let mut any = false;
    for prog in &obj.programs {
        for r in &prog.function.relocations {
            any = true;
            println!(
                "  {:<24} insn {:<5} {}",
                prog.name(),
                r.insn,
                describe_target(obj, &r.target, &r.symbol)
            );
        }
    }
    for f in &obj.subprograms {
        for r in &f.relocations {
            any = true;
            println!(
                "  {:<24} insn {:<5} {}",
                f.name,
                r.insn,
                describe_target(obj, &r.target, &r.symbol)
            );
        }
    }
    if !any {
        println!("  none");
    }
    Ok(())
}

fn type_name(btf: &oxbpf::btf::Btf<'_>, id: oxbpf::btf::TypeId) -> String {
    match btf.type_by_id(id) {
        Ok(t) => {
            let name = btf.name(id).unwrap_or("?");
            if name.is_empty() {
                t.kind().name().to_owned()
            } else {
                format!("{} {name}", t.kind().name())
            }
        }
        Err(_) => "?".to_owned(),
    }
}

fn describe_target(obj: &Object, target: &RelocTarget, symbol: &str) -> String {
    match target {
        RelocTarget::Map(i) => format!("map {}", obj.maps.get(*i).map_or("?", |m| m.name.as_str())),
        RelocTarget::Data { section, offset } => {
            format!(
                "data {}+{offset} ({symbol})",
                obj.data.get(*section).map_or("?", |d| d.name.as_str())
            )
        }
        RelocTarget::Arena { offset } => format!("arena +{offset} ({symbol})"),
        RelocTarget::Call(f) => {
            format!("call {symbol} (section #{} +{})", f.section_index, f.offset)
        }
        RelocTarget::FuncAddr(f) => format!(
            "address of {symbol} (section #{} +{})",
            f.section_index, f.offset
        ),
        RelocTarget::Extern { name, weak } => {
            format!("extern {name}{}", if *weak { " (weak)" } else { "" })
        }
    }
}

pub(crate) fn disasm(path: &Path, only: Option<&str>) -> Result {
    let open = OpenObject::open(path)?;
    let obj = open.elf();
    let mut shown = 0;
    for prog in &obj.programs {
        if only.is_some_and(|name| name != prog.name()) {
            continue;
        }
        shown += 1;
        println!("{}: section {}", prog.name(), prog.section());
        let mut lines = String::new();
        use std::fmt::Write;
        let _ = write!(lines, "{}", oxbpf::asm::disasm(&prog.function.insns));
        let relocs = &prog.function.relocations;
        for line in lines.lines() {
            let index = line
                .split(':')
                .next()
                .and_then(|i| i.trim().parse::<usize>().ok());
            match index.and_then(|i| relocs.iter().find(|r| r.insn == i)) {
                Some(r) => println!(
                    "  {line:<48} ; {}",
                    describe_target(obj, &r.target, &r.symbol)
                ),
                None => println!("  {line}"),
            }
        }
        println!();
    }
    if let Some(name) = only {
        if shown == 0 {
            return Err(format!("no program named {name:?} in {}", path.display()).into());
        }
    }
    Ok(())
}

pub(crate) fn plan(path: &Path, loader: bool) -> Result {
    let open = OpenObject::open(path)?;
    let plan = if loader {
        open.loader_plan()?
    } else {
        open.plan()?
    };
    print!("{plan}");
    Ok(())
}
