//! Shared by the `loader_*` tests: plans built in code (the gen-loader
//! tests' builder), and a comparable description of a loaded object.
#![allow(dead_code)]

pub use oxbpf::{asm, btf, plan, sys};

#[path = "../../../gen-loader/tests/support/plans.rs"]
pub mod plans;

use std::collections::BTreeMap;

use oxbpf::asm::Insn;
use oxbpf::asm::opcode::pseudo;
use oxbpf::{Error, MapType, Object};

/// What the kernel holds for one map of a loaded object.
#[derive(Debug, PartialEq, Eq)]
pub struct MapDesc {
    pub name: String,
    pub kernel_name: String,
    pub map_type: MapType,
    pub sizes: (u32, u32, u32),
    pub flags: u32,
    pub map_extra: u64,
    pub btf_types: (u32, u32),
    pub has_btf: bool,
    /// Array contents (fd arrays: the names of the maps and programs in
    /// the slots).
    pub contents: Vec<Option<Vec<u8>>>,
}

/// What the kernel holds for one program of a loaded object.
#[derive(Debug, PartialEq, Eq)]
pub struct ProgDesc {
    pub name: String,
    pub kernel_name: String,
    pub prog_type: oxbpf::ProgType,
    /// Translated instructions, map ids replaced by the maps' names' ranks.
    pub xlated: Vec<Insn>,
    pub map_names: Vec<String>,
    pub nr_func_info: u32,
    pub nr_line_info: u32,
    pub attach_btf_id: u32,
    pub has_btf: bool,
    pub gpl: u32,
    pub verified_insns: u32,
}

/// Everything comparable about a loaded object.
#[derive(Debug, PartialEq, Eq)]
pub struct ObjectDesc {
    pub maps: Vec<MapDesc>,
    pub progs: Vec<ProgDesc>,
    pub btf: Option<Vec<u8>>,
}

/// Describes `obj` with every id replaced by the name of what it names.
pub fn describe(obj: &Object) -> ObjectDesc {
    let mut map_names: BTreeMap<u32, String> = BTreeMap::new();
    for m in obj.maps() {
        map_names.insert(m.info().unwrap().id, m.name().to_owned());
    }
    let mut prog_names: BTreeMap<u32, String> = BTreeMap::new();
    for p in obj.programs() {
        prog_names.insert(p.info().unwrap().id, p.name().to_owned());
    }
    let mut sorted: Vec<&String> = map_names.values().collect();
    sorted.sort();
    let rank = |id: u32| -> i32 {
        map_names
            .get(&id)
            .and_then(|n| sorted.iter().position(|s| *s == n))
            .map_or(-1, |r| r as i32)
    };
    let name_of = |id: u32| -> Vec<u8> {
        map_names
            .get(&id)
            .or_else(|| prog_names.get(&id))
            .map_or_else(|| format!("?{id}"), Clone::clone)
            .into_bytes()
    };
    let maps = obj
        .maps()
        .map(|m| {
            let info = m.info().unwrap();
            let fd_map = matches!(m.map_type(), MapType::PROG_ARRAY | MapType::ARRAY_OF_MAPS);
            let contents = if matches!(m.map_type(), MapType::ARRAY) || fd_map {
                (0..info.max_entries.min(64))
                    .map(|k| match m.lookup(&k.to_ne_bytes(), 0) {
                        Ok(Some(v)) if fd_map => {
                            Some(name_of(u32::from_ne_bytes([v[0], v[1], v[2], v[3]])))
                        }
                        Ok(v) => v,
                        // Empty fd slots read as ENOENT.
                        Err(Error::Syscall { .. }) => None,
                        Err(e) => panic!("{}: {e}", m.name()),
                    })
                    .collect()
            } else {
                Vec::new()
            };
            MapDesc {
                name: m.name().to_owned(),
                kernel_name: info.name_str(),
                map_type: m.map_type(),
                sizes: (info.key_size, info.value_size, info.max_entries),
                flags: info.map_flags,
                map_extra: info.map_extra,
                btf_types: (info.btf_key_type_id, info.btf_value_type_id),
                has_btf: info.btf_id != 0,
                contents,
            }
        })
        .collect();
    let progs = obj
        .programs()
        .map(|p| {
            let info = p.info().unwrap();
            let mut xlated = oxbpf::sys::prog_xlated_insns(p.prog_fd()).unwrap();
            for (i, x) in xlated.iter_mut().enumerate() {
                if x.is_ld_imm64() && matches!(x.src(), pseudo::MAP_FD | pseudo::MAP_VALUE) {
                    let id = x.imm as u32;
                    x.imm = rank(id);
                    assert!(
                        x.imm >= 0,
                        "{}: insn {i} uses map id {id}, not one of the object's",
                        p.name()
                    );
                }
            }
            let mut names: Vec<String> = oxbpf::sys::prog_map_ids(p.prog_fd())
                .unwrap()
                .into_iter()
                .map(|id| String::from_utf8(name_of(id)).unwrap())
                .collect();
            names.sort();
            ProgDesc {
                name: p.name().to_owned(),
                kernel_name: info.name_str(),
                prog_type: p.prog_type(),
                xlated,
                map_names: names,
                nr_func_info: info.nr_func_info,
                nr_line_info: info.nr_line_info,
                attach_btf_id: info.attach_btf_id,
                has_btf: info.btf_id != 0,
                gpl: info.gpl_compatible,
                verified_insns: info.verified_insns,
            }
        })
        .collect();
    let btf = obj.btf_fd().map(|b| oxbpf::sys::btf_data(b).unwrap());
    ObjectDesc { maps, progs, btf }
}

/// The plan step an error of a load names, if it names one.
pub fn failed_step(e: &Error) -> Option<usize> {
    match e {
        Error::Step { op, .. }
        | Error::Rejected { op, .. }
        | Error::BtfNotFound { op, .. }
        | Error::KsymNotFound { op, .. }
        | Error::KernelLacks { op, .. }
        | Error::LoaderStep { op, .. } => Some(*op),
        _ => None,
    }
}

/// Files under `dir`, recursively.
pub fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}
