//! The libbpf oracle: what the kernel holds after libbpf loaded an object,
//! compared with what it holds after oxbpf loaded the same object.
//!
//! # Place in the pipeline
//!
//! None: this is a test instrument, not part of the library. DESIGN.md
//! allows the reference libbpf as a black-box oracle in tests, linked as a
//! dev-dependency only. This crate is the pure half of the oracle test;
//! the libbpf half (FFI through the crates.io `libbpf-sys`, libbpf 1.7)
//! is `tests/oracle.rs`, which runs the whole corpus.
//!
//! ```text
//! object ──libbpf──▶ fds ──reopen by id──┐
//!                                         ├─▶ Snapshot::capture ─▶ compare ─▶ Differences ─▶ Expected::classify
//! object ──oxbpf───▶ Object ──────────────┘      (BPF_OBJ_GET_INFO_BY_FD, the same code for both sides)
//! ```
//!
//! A [`Snapshot`] is read back from the kernel, never from either
//! library's bookkeeping (the one exception is the expected attach type,
//! which the kernel does not report): per program its type, kernel name,
//! translated instructions with map ids replaced by map names, func_info
//! and line_info counts, attach BTF ids and license; per map its type,
//! sizes, flags, `map_extra` and the *names* of its BTF key and value types
//! (each side's BTF object read back and parsed). Programs and maps are
//! matched by the loader's name for them.
//!
//! Differences that are known and explained are listed, one per line, in
//! `expected-differences.txt` ([`Expected`]); anything else fails the
//! oracle test, and so does an entry that no longer matches anything.
//!
//! ```
//! use std::collections::BTreeMap;
//! use oxbpf_oracle::{compare, Expected, Item, Outcome, Snapshot};
//!
//! let libbpf = Outcome::Refused {
//!     stage: "open".into(),
//!     error: "legacy map definitions in 'maps' section are not supported".into(),
//! };
//! let oxbpf = Outcome::Loaded(Snapshot { progs: BTreeMap::new(), maps: BTreeMap::new() });
//! let diffs = compare("legacy_maps.bpf.o", &libbpf, &oxbpf);
//! assert_eq!(diffs.len(), 1);
//! assert_eq!(diffs[0].item, Item::Object);
//!
//! let expected = Expected::parse(
//!     "legacy_maps.bpf.o | object | load | libbpf 1.x dropped SEC(\"maps\")\n",
//! )?;
//! let classified = expected.classify(&diffs, &["legacy_maps.bpf.o".to_string()]);
//! assert!(classified.unexpected.is_empty());
//! assert!(classified.unused.is_empty());
//! # Ok::<(), oxbpf_oracle::Error>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use oxbpf::asm::{Insn, Target, disasm_with};
use oxbpf::btf::{Btf, Kind, TypeId};
use oxbpf::plan::{Op, Plan};
use oxbpf::sys::{self, MapFd, MapType, ProgFd, ProgType};

/// `ld_imm64` source: the map with this fd (the kernel reports its id).
const PSEUDO_MAP_FD: u8 = 1;
/// `ld_imm64` source: a value of the map with this fd (id in the dump).
const PSEUDO_MAP_VALUE: u8 = 2;

/// Why reading the kernel's view or the list of expected differences
/// failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A `bpf()` call failed.
    #[error("{what}")]
    Sys {
        /// What was being read (program or map, and which call).
        what: String,
        /// The syscall error.
        #[source]
        source: sys::Error,
    },
    /// The kernel reports a translated length but gives no instructions
    /// (`kernel.kptr_restrict`, no `CAP_SYS_ADMIN`): nothing to compare.
    #[error("program {program}: the kernel withholds the translated instructions")]
    Withheld {
        /// The program.
        program: String,
    },
    /// A loaded program has no `prog_load` step in the plan it was
    /// loaded by.
    #[error("program {program}: no prog_load step in the plan")]
    NotInPlan {
        /// The program.
        program: String,
    },
    /// A BTF object read back from the kernel did not parse.
    #[error("kernel BTF object {btf_id}")]
    Btf {
        /// The kernel's id of the BTF object.
        btf_id: u32,
        /// The parser's error.
        #[source]
        source: oxbpf::btf::Error,
    },
    /// A line of the expected-differences list is malformed.
    #[error("expected differences, line {line}: {message}")]
    Expected {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
}

/// The message of an error followed by those of its sources, joined by
/// `": "`.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(src) = cur {
        s.push_str(": ");
        s.push_str(&src.to_string());
        cur = src.source();
    }
    s
}

fn sys_err(what: impl Into<String>) -> impl FnOnce(sys::Error) -> Error {
    let what = what.into();
    move |source| Error::Sys { what, source }
}

/// One program as the kernel holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgState {
    /// Program type (`bpf_prog_info.type`).
    pub prog_type: ProgType,
    /// The expected attach type the loader passed (0 when none: libbpf
    /// cannot tell "none" from `BPF_CGROUP_INET_INGRESS`, so neither can
    /// this field). Not in `bpf_prog_info`: the loader's word.
    pub expected_attach_type: u32,
    /// The kernel's (truncated) name.
    pub kernel_name: String,
    /// Translated instructions; `ld_imm64` of a map or map value has its
    /// immediate replaced by an index into [`ProgState::map_names`].
    pub xlated: Vec<Insn>,
    /// Names of the maps the instructions refer to, in order of first use.
    pub map_names: Vec<String>,
    /// `nr_func_info`.
    pub nr_func_info: u32,
    /// `nr_line_info`.
    pub nr_line_info: u32,
    /// `attach_btf_id`.
    pub attach_btf_id: u32,
    /// `attach_btf_obj_id` (the kernel's id of vmlinux or module BTF).
    pub attach_btf_obj_id: u32,
    /// The kernel's `gpl_compatible` bit.
    pub gpl_compatible: bool,
}

impl ProgState {
    /// The translated instructions in the verifier's syntax, maps by
    /// name.
    pub fn listing(&self) -> Vec<String> {
        let names = |t: &Target| match *t {
            Target::MapFd(i) => self.map_names.get(i as usize).cloned(),
            _ => None,
        };
        disasm_with(&self.xlated, &names)
            .to_string()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// One map as the kernel holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapState {
    /// The kernel's (truncated) name.
    pub kernel_name: String,
    /// Map type.
    pub map_type: MapType,
    /// Key size.
    pub key_size: u32,
    /// Value size.
    pub value_size: u32,
    /// Maximum number of entries.
    pub max_entries: u32,
    /// `BPF_F_*` flags.
    pub map_flags: u32,
    /// `map_extra`.
    pub map_extra: u64,
    /// The BTF key type, by kind and name (`-` without one).
    pub btf_key_type: String,
    /// The BTF value type, by kind and name (`-` without one).
    pub btf_value_type: String,
    /// vmlinux BTF id of a struct_ops value type.
    pub btf_vmlinux_value_type_id: u32,
}

/// Every program and map one loader left in the kernel for one object,
/// keyed by the loader's names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Loaded programs by name.
    pub progs: BTreeMap<String, ProgState>,
    /// Created maps by name.
    pub maps: BTreeMap<String, MapState>,
}

/// What one loader did with one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It loaded; this is what the kernel holds.
    Loaded(Snapshot),
    /// It refused the object.
    Refused {
        /// Where (`open`, `load`, `snapshot`).
        stage: String,
        /// Its error message.
        error: String,
    },
}

impl Outcome {
    /// `P progs, M maps`, or `refused at STAGE`.
    pub fn summary(&self) -> String {
        match self {
            Outcome::Loaded(s) => format!("{} progs, {} maps", s.progs.len(), s.maps.len()),
            Outcome::Refused { stage, .. } => format!("refused ({stage})"),
        }
    }
}

/// Reads kernel BTF objects once each.
#[derive(Default)]
struct BtfCache(HashMap<u32, Btf<'static>>);

impl BtfCache {
    fn get(&mut self, btf_id: u32) -> Result<&Btf<'static>, Error> {
        use std::collections::hash_map::Entry;
        match self.0.entry(btf_id) {
            Entry::Occupied(e) => Ok(e.into_mut()),
            Entry::Vacant(e) => {
                let fd = sys::btf_get_fd_by_id(btf_id).map_err(sys_err(format!(
                    "BTF object {btf_id}: BPF_BTF_GET_FD_BY_ID"
                )))?;
                let data = sys::btf_data(&fd)
                    .map_err(sys_err(format!("BTF object {btf_id}: reading its data")))?;
                let btf = Btf::from_vec(data).map_err(|source| Error::Btf { btf_id, source })?;
                Ok(e.insert(btf))
            }
        }
    }
}

/// `kind name` of a type: `struct pkt_stats`, `typedef u32`; anonymous
/// pointers, arrays and modifiers name what they refer to
/// (`ptr -> struct sock`); `-` for id 0.
pub fn describe_type(btf: &Btf<'_>, id: TypeId) -> String {
    fn go(btf: &Btf<'_>, id: TypeId, depth: usize) -> String {
        if id.0 == 0 {
            return "-".into();
        }
        let Ok(t) = btf.type_by_id(id) else {
            return format!("<bad id {}>", id.0);
        };
        let kind = match t.kind() {
            Kind::Int => "int".to_owned(),
            Kind::Struct => "struct".to_owned(),
            Kind::Union => "union".to_owned(),
            Kind::Enum | Kind::Enum64 => "enum".to_owned(),
            Kind::Typedef => "typedef".to_owned(),
            Kind::Ptr => "ptr".to_owned(),
            Kind::Array => "array".to_owned(),
            Kind::Datasec => "datasec".to_owned(),
            k => format!("{k:?}").to_lowercase(),
        };
        match btf.name(id) {
            Ok(name) if !name.is_empty() => format!("{kind} {name}"),
            _ => match t.ref_type() {
                Some(r) if depth < 8 => format!("{kind} -> {}", go(btf, r, depth + 1)),
                _ => format!("{kind} (anon)"),
            },
        }
    }
    go(btf, id, 0)
}

impl Snapshot {
    /// Reads back what the kernel holds for these programs and maps.
    ///
    /// `progs`: (loader's name, the expected attach type the loader
    /// passed, 0 for none, fd); `maps`: (loader's name, fd). Map ids in the programs'
    /// instructions become these names; a map a program uses that is not
    /// in `maps` is named `?<kernel name>`.
    pub fn capture<'a>(
        progs: impl IntoIterator<Item = (&'a str, u32, &'a ProgFd)>,
        maps: impl IntoIterator<Item = (&'a str, &'a MapFd)>,
    ) -> Result<Snapshot, Error> {
        let mut btfs = BtfCache::default();
        let mut snap = Snapshot::default();
        let mut names_by_id: HashMap<u32, String> = HashMap::new();
        for (name, fd) in maps {
            let info = sys::map_info(fd).map_err(sys_err(format!("map {name}: map info")))?;
            let btf_type = |btfs: &mut BtfCache, ty: u32| -> Result<String, Error> {
                if info.btf_id == 0 || ty == 0 {
                    return Ok("-".into());
                }
                Ok(describe_type(btfs.get(info.btf_id)?, TypeId(ty)))
            };
            let state = MapState {
                kernel_name: info.name_str(),
                map_type: info.r#type,
                key_size: info.key_size,
                value_size: info.value_size,
                max_entries: info.max_entries,
                map_flags: info.map_flags,
                map_extra: info.map_extra,
                btf_key_type: btf_type(&mut btfs, info.btf_key_type_id)?,
                btf_value_type: btf_type(&mut btfs, info.btf_value_type_id)?,
                btf_vmlinux_value_type_id: info.btf_vmlinux_value_type_id,
            };
            names_by_id.insert(info.id, name.to_owned());
            snap.maps.insert(name.to_owned(), state);
        }
        for (name, expected_attach_type, fd) in progs {
            let what = |call: &str| format!("program {name}: {call}");
            let info = sys::prog_info(fd).map_err(sys_err(what("program info")))?;
            let mut xlated =
                sys::prog_xlated_insns(fd).map_err(sys_err(what("translated instructions")))?;
            if xlated.is_empty() && info.xlated_prog_len != 0 {
                return Err(Error::Withheld {
                    program: name.to_owned(),
                });
            }
            let mut map_names: Vec<String> = Vec::new();
            let mut i = 0;
            while i < xlated.len() {
                let insn = xlated[i];
                if insn.is_ld_imm64() && matches!(insn.src(), PSEUDO_MAP_FD | PSEUDO_MAP_VALUE) {
                    let id = insn.imm as u32;
                    let name = match names_by_id.get(&id) {
                        Some(n) => n.clone(),
                        None => {
                            let fd = sys::map_get_fd_by_id(id)
                                .map_err(sys_err(what(&format!("map id {id}: fd by id"))))?;
                            let info = sys::map_info(&fd)
                                .map_err(sys_err(what(&format!("map id {id}: map info"))))?;
                            let n = format!("?{}", info.name_str());
                            names_by_id.insert(id, n.clone());
                            n
                        }
                    };
                    let idx = match map_names.iter().position(|n| *n == name) {
                        Some(p) => p,
                        None => {
                            map_names.push(name);
                            map_names.len() - 1
                        }
                    };
                    xlated[i].imm = idx as i32;
                    i += 2;
                } else {
                    i += if insn.is_ld_imm64() { 2 } else { 1 };
                }
            }
            let state = ProgState {
                prog_type: info.r#type,
                expected_attach_type,
                kernel_name: info.name_str(),
                xlated,
                map_names,
                nr_func_info: info.nr_func_info,
                nr_line_info: info.nr_line_info,
                attach_btf_id: info.attach_btf_id,
                attach_btf_obj_id: info.attach_btf_obj_id,
                gpl_compatible: info.is_gpl_compatible(),
            };
            snap.progs.insert(name.to_owned(), state);
        }
        Ok(snap)
    }

    /// The same snapshot with data maps (`.bss`, `.data*`, `.rodata*`,
    /// `.kconfig`: those whose BTF value type is a DATASEC) keyed by
    /// their section name instead of the loader's name for them, in the
    /// map list and in the programs' instructions. Loaders name these
    /// maps after the object, each its own way (libbpf keeps 8 characters
    /// of the object's name: `core_man.bss`); the section identifies them.
    /// The loader's names stay visible as the maps' kernel names.
    pub fn canonical(&self) -> Snapshot {
        let rename: HashMap<&str, &str> = self
            .maps
            .iter()
            .filter_map(|(name, m)| {
                let sec = m.btf_value_type.strip_prefix("datasec ")?;
                Some((name.as_str(), sec))
            })
            .collect();
        let new_name = |n: &String| rename.get(n.as_str()).map_or(n.clone(), |s| s.to_string());
        Snapshot {
            maps: self
                .maps
                .iter()
                .map(|(n, m)| (new_name(n), m.clone()))
                .collect(),
            progs: self
                .progs
                .iter()
                .map(|(n, p)| {
                    let mut p = p.clone();
                    p.map_names = p.map_names.iter().map(new_name).collect();
                    (n.clone(), p)
                })
                .collect(),
        }
    }

    /// [`Snapshot::capture`] of everything an oxbpf [`oxbpf::Object`]
    /// holds. `plan` is the object's load plan ([`oxbpf::OpenObject::plan`]),
    /// for the expected attach type oxbpf passed to `BPF_PROG_LOAD`: for
    /// struct_ops programs the expected attach type is the
    /// member index, which [`oxbpf::Program::expected_attach_type`] does
    /// not report.
    pub fn of_oxbpf(obj: &oxbpf::Object, plan: &Plan) -> Result<Snapshot, Error> {
        let mut progs = Vec::new();
        for p in obj.programs() {
            let load = plan
                .ops
                .iter()
                .find_map(|op| match op {
                    Op::LoadProg(l) if l.name == p.name() => Some(l),
                    _ => None,
                })
                .ok_or_else(|| Error::NotInPlan {
                    program: p.name().to_owned(),
                })?;
            let attach = load.expected_attach_type.map_or(0, |t| t.0);
            progs.push((p.name(), attach, p.prog_fd()));
        }
        Snapshot::capture(progs, obj.maps().map(|m| (m.name(), m.map_fd())))
    }
}

/// What a difference is about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Item {
    /// The object as a whole (loaded or refused).
    Object,
    /// A program, by name.
    Program(String),
    /// A map, by name.
    Map(String),
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Item::Object => f.write_str("object"),
            Item::Program(n) => write!(f, "program {n}"),
            Item::Map(n) => write!(f, "map {n}"),
        }
    }
}

/// One attribute on which libbpf and oxbpf left the kernel in different
/// states.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// The object's file name.
    pub object: String,
    /// The program or map (or the object).
    pub item: Item,
    /// The attribute (`type`, `xlated`, `key_type`, `present`, `load`...).
    pub attribute: String,
    /// libbpf's value.
    pub libbpf: String,
    /// oxbpf's value.
    pub oxbpf: String,
    /// More context where a value is long (instruction listings around
    /// the first difference).
    pub detail: Option<String>,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} | {} | {}: libbpf {} / oxbpf {}",
            self.object, self.item, self.attribute, self.libbpf, self.oxbpf
        )?;
        if let Some(d) = &self.detail {
            write!(f, "\n{d}")?;
        }
        Ok(())
    }
}

fn attach_type_str(v: u32) -> String {
    if v == 0 {
        return "0 (none, or cgroup_inet_ingress)".into();
    }
    format!("{} ({v})", sys::AttachType(v))
}

/// Summaries of two listings and the lines that differ.
fn listing_diff(a: &ProgState, b: &ProgState) -> (String, String, String) {
    let la = a.listing();
    let lb = b.listing();
    let differing: Vec<usize> = (0..la.len().max(lb.len()))
        .filter(|&i| la.get(i) != lb.get(i))
        .collect();
    let first = differing.first().copied().unwrap_or(0);
    let summary = |l: &[String], s: &ProgState| {
        format!(
            "{} insns, maps [{}]; {} of {} lines differ, first: {}",
            s.xlated.len(),
            s.map_names.join(", "),
            differing.len(),
            l.len(),
            l.get(first).map_or("(end)", |x| x.trim())
        )
    };
    const SHOWN: usize = 12;
    let mut detail = String::new();
    for &i in differing.iter().take(SHOWN) {
        let line = |l: &[String]| l.get(i).map_or("(end)".to_owned(), |x| x.trim().to_owned());
        detail.push_str(&format!(
            "    libbpf {}\n    oxbpf  {}\n",
            line(&la),
            line(&lb)
        ));
    }
    if differing.len() > SHOWN {
        detail.push_str(&format!("    ... {} more\n", differing.len() - SHOWN));
    }
    detail.pop();
    (summary(&la, a), summary(&lb, b), detail)
}

/// Every difference between libbpf's and oxbpf's outcome for `object`.
///
/// Programs and maps are matched by name, data maps by section (see
/// [`Snapshot::canonical`]); one present on one side only is a `present`
/// difference. An object refused by one side and loaded by the other is
/// one `load` difference of [`Item::Object`]; refused by both, none.
pub fn compare(object: &str, libbpf: &Outcome, oxbpf: &Outcome) -> Vec<Difference> {
    let mut out = Vec::new();
    let mut push = |item: Item, attribute: &str, l: String, o: String, detail: Option<String>| {
        out.push(Difference {
            object: object.to_owned(),
            item,
            attribute: attribute.to_owned(),
            libbpf: l,
            oxbpf: o,
            detail,
        })
    };
    let (l, o) = match (libbpf, oxbpf) {
        (Outcome::Loaded(l), Outcome::Loaded(o)) => (l.canonical(), o.canonical()),
        (Outcome::Refused { .. }, Outcome::Refused { .. }) => return out,
        (Outcome::Refused { stage, error }, Outcome::Loaded(s))
        | (Outcome::Loaded(s), Outcome::Refused { stage, error }) => {
            let refused = format!("refused at {stage}: {error}");
            let loaded = format!("loaded {} programs, {} maps", s.progs.len(), s.maps.len());
            let (lv, ov) = if matches!(libbpf, Outcome::Refused { .. }) {
                (refused, loaded)
            } else {
                (loaded, refused)
            };
            push(Item::Object, "load", lv, ov, None);
            return out;
        }
    };
    let present = |b: bool| if b { "present" } else { "absent" }.to_owned();
    let mut progs: Vec<&String> = l.progs.keys().chain(o.progs.keys()).collect();
    progs.sort();
    progs.dedup();
    for name in progs {
        let item = || Item::Program(name.clone());
        let (Some(a), Some(b)) = (l.progs.get(name), o.progs.get(name)) else {
            push(
                item(),
                "present",
                present(l.progs.contains_key(name)),
                present(o.progs.contains_key(name)),
                None,
            );
            continue;
        };
        let mut field = |attr: &str, x: String, y: String| {
            if x != y {
                push(item(), attr, x, y, None);
            }
        };
        field("type", a.prog_type.to_string(), b.prog_type.to_string());
        field(
            "expected_attach_type",
            attach_type_str(a.expected_attach_type),
            attach_type_str(b.expected_attach_type),
        );
        field("kernel_name", a.kernel_name.clone(), b.kernel_name.clone());
        field(
            "nr_func_info",
            a.nr_func_info.to_string(),
            b.nr_func_info.to_string(),
        );
        field(
            "nr_line_info",
            a.nr_line_info.to_string(),
            b.nr_line_info.to_string(),
        );
        field(
            "attach_btf_id",
            a.attach_btf_id.to_string(),
            b.attach_btf_id.to_string(),
        );
        field(
            "attach_btf_obj_id",
            a.attach_btf_obj_id.to_string(),
            b.attach_btf_obj_id.to_string(),
        );
        field(
            "gpl_compatible",
            a.gpl_compatible.to_string(),
            b.gpl_compatible.to_string(),
        );
        if (&a.xlated, &a.map_names) != (&b.xlated, &b.map_names) {
            let (x, y, detail) = listing_diff(a, b);
            push(item(), "xlated", x, y, Some(detail));
        }
    }
    let mut maps: Vec<&String> = l.maps.keys().chain(o.maps.keys()).collect();
    maps.sort();
    maps.dedup();
    for name in maps {
        let item = || Item::Map(name.clone());
        let (Some(a), Some(b)) = (l.maps.get(name), o.maps.get(name)) else {
            push(
                item(),
                "present",
                present(l.maps.contains_key(name)),
                present(o.maps.contains_key(name)),
                None,
            );
            continue;
        };
        let mut field = |attr: &str, x: String, y: String| {
            if x != y {
                push(item(), attr, x, y, None);
            }
        };
        field("type", a.map_type.to_string(), b.map_type.to_string());
        field("kernel_name", a.kernel_name.clone(), b.kernel_name.clone());
        field("key_size", a.key_size.to_string(), b.key_size.to_string());
        field(
            "value_size",
            a.value_size.to_string(),
            b.value_size.to_string(),
        );
        field(
            "max_entries",
            a.max_entries.to_string(),
            b.max_entries.to_string(),
        );
        field(
            "map_flags",
            format!("{:#x}", a.map_flags),
            format!("{:#x}", b.map_flags),
        );
        field(
            "map_extra",
            a.map_extra.to_string(),
            b.map_extra.to_string(),
        );
        field("key_type", a.btf_key_type.clone(), b.btf_key_type.clone());
        field(
            "value_type",
            a.btf_value_type.clone(),
            b.btf_value_type.clone(),
        );
        field(
            "btf_vmlinux_value_type_id",
            a.btf_vmlinux_value_type_id.to_string(),
            b.btf_vmlinux_value_type_id.to_string(),
        );
    }
    out
}

/// A pattern of one field of an [`ExpectedEntry`]: a literal, or `*`
/// (anything).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// Matches anything.
    Any,
    /// Matches exactly this text.
    Exact(String),
}

impl Pattern {
    fn parse(s: &str) -> Pattern {
        if s == "*" {
            Pattern::Any
        } else {
            Pattern::Exact(s.to_owned())
        }
    }

    fn matches(&self, s: &str) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::Exact(x) => x == s,
        }
    }
}

/// One line of the expected-differences list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedEntry {
    /// 1-based line in the list.
    pub line: usize,
    /// Object file name, or `*`.
    pub object: Pattern,
    /// `object`, `program NAME`, `map NAME` (NAME may be `*`).
    pub item: String,
    /// Attribute name, or `*`.
    pub attribute: Pattern,
    /// Why the difference is expected.
    pub reason: String,
    /// Written `?object`: the difference depends on a kernel feature
    /// (libbpf's choices follow what the kernel offers), so the entry
    /// may match nothing on another kernel without being stale.
    pub optional: bool,
}

impl ExpectedEntry {
    /// Whether `d` is covered by this entry.
    pub fn matches(&self, d: &Difference) -> bool {
        let item_ok = match (self.item.split_once(' '), &d.item) {
            (None, Item::Object) => self.item == "object",
            (Some(("program", n)), Item::Program(p)) => Pattern::parse(n).matches(p),
            (Some(("map", n)), Item::Map(m)) => Pattern::parse(n).matches(m),
            _ => false,
        };
        item_ok && self.object.matches(&d.object) && self.attribute.matches(&d.attribute)
    }
}

/// The list of differences that are known, each with its reason
/// (`oracle/expected-differences.txt`).
///
/// One entry per line, four fields separated by `|`:
/// `object | item | attribute | reason`, where item is `object`,
/// `program NAME` or `map NAME`; the object, the NAME and the attribute
/// may be `*`. An object written `?name` marks an entry that depends on
/// a kernel feature ([`ExpectedEntry::optional`]). `#` starts a comment
/// line; blank lines are ignored. The reason must not be empty.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expected {
    /// The entries, in file order.
    pub entries: Vec<ExpectedEntry>,
}

/// Differences sorted by [`Expected::classify`].
#[derive(Debug, Default)]
pub struct Classified<'a> {
    /// Differences no entry covers: each fails the test.
    pub unexpected: Vec<Difference>,
    /// Differences an entry covers, with that entry.
    pub expected: Vec<(Difference, &'a ExpectedEntry)>,
    /// Entries that covered nothing although their object was compared
    /// (loaded by at least one side) and they are not optional: stale,
    /// they fail the test too.
    pub unused: Vec<&'a ExpectedEntry>,
    /// Entries that covered nothing but could not have: their object was
    /// refused by both sides, or they are optional.
    pub unchecked: Vec<&'a ExpectedEntry>,
}

impl Classified<'_> {
    /// The expected differences with their reasons, then the entries not
    /// checked on this kernel: the part of a report below its table.
    pub fn render_lists(&self) -> String {
        let mut s = format!("\nexpected differences ({}):\n", self.expected.len());
        for (d, e) in &self.expected {
            s.push_str(&format!(
                "- {} | {} | {}: {}\n",
                d.object, d.item, d.attribute, e.reason
            ));
        }
        if !self.unchecked.is_empty() {
            s.push_str(
                "\nentries not checked on this kernel (object refused by both sides, or optional):\n",
            );
            for e in &self.unchecked {
                s.push_str(&format!("- line {}: {}\n", e.line, e.reason));
            }
        }
        s
    }

    /// One line per unexpected difference and per stale entry of the
    /// list at `list` (its path, for the message): what fails a test.
    pub fn failures(&self, list: &std::path::Path) -> Vec<String> {
        let mut out: Vec<String> = self
            .unexpected
            .iter()
            .map(|d| format!("UNEXPECTED: {d}"))
            .collect();
        for e in &self.unused {
            out.push(format!(
                "STALE ENTRY (matches nothing), {} line {}: {:?} | {} | {:?}",
                list.display(),
                e.line,
                e.object,
                e.item,
                e.attribute
            ));
        }
        out
    }
}

impl Expected {
    /// Parses the list.
    pub fn parse(text: &str) -> Result<Expected, Error> {
        let mut entries = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let s = raw.trim();
            if s.is_empty() || s.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = s.splitn(4, '|').map(str::trim).collect();
            let err = |message: &str| Error::Expected {
                line,
                message: message.to_owned(),
            };
            let [object, item, attribute, reason] = fields[..] else {
                return Err(err(
                    "expected four fields: object | item | attribute | reason",
                ));
            };
            if object.is_empty() || attribute.is_empty() {
                return Err(err("empty object or attribute"));
            }
            if reason.is_empty() {
                return Err(err("every expected difference needs its reason"));
            }
            let item_ok = match item.split_once(' ') {
                None => item == "object",
                Some((kind, name)) => matches!(kind, "program" | "map") && !name.trim().is_empty(),
            };
            if !item_ok {
                return Err(err("item must be `object`, `program NAME` or `map NAME`"));
            }
            let (optional, object) = match object.strip_prefix('?') {
                Some(o) => (true, o.trim()),
                None => (false, object),
            };
            entries.push(ExpectedEntry {
                line,
                optional,
                object: Pattern::parse(object),
                item: item.to_owned(),
                attribute: Pattern::parse(attribute),
                reason: reason.to_owned(),
            });
        }
        Ok(Expected { entries })
    }

    /// Sorts `diffs` into expected and unexpected, and finds the entries
    /// that matched nothing. `compared` names the objects at least one
    /// side loaded (an entry for an object both refused cannot match).
    pub fn classify(&self, diffs: &[Difference], compared: &[String]) -> Classified<'_> {
        let mut used = vec![false; self.entries.len()];
        let mut out = Classified::default();
        for d in diffs {
            match self.entries.iter().position(|e| e.matches(d)) {
                Some(i) => {
                    used[i] = true;
                    out.expected.push((d.clone(), &self.entries[i]));
                }
                None => out.unexpected.push(d.clone()),
            }
        }
        for (e, _) in self.entries.iter().zip(&used).filter(|(_, u)| !**u) {
            let checked = !e.optional && compared.iter().any(|o| e.object.matches(o));
            if checked {
                out.unused.push(e);
            } else {
                out.unchecked.push(e);
            }
        }
        out
    }
}

/// One row of the per-object table.
#[derive(Clone, Debug)]
pub struct Row {
    /// Object file name.
    pub object: String,
    /// What libbpf did.
    pub libbpf: String,
    /// What oxbpf did.
    pub oxbpf: String,
    /// Differences covered by the list.
    pub expected: usize,
    /// Differences not covered.
    pub unexpected: usize,
}

impl Row {
    /// A row from both outcomes and the counts of differences.
    pub fn new(
        object: &str,
        libbpf: &Outcome,
        oxbpf: &Outcome,
        expected: usize,
        unexpected: usize,
    ) -> Row {
        Row {
            object: object.to_owned(),
            libbpf: libbpf.summary(),
            oxbpf: oxbpf.summary(),
            expected,
            unexpected,
        }
    }

    fn verdict(&self) -> String {
        match (self.expected, self.unexpected) {
            (0, 0) => "same".into(),
            (e, 0) => format!("{e} listed"),
            (e, u) => format!("{u} UNEXPECTED, {e} listed"),
        }
    }
}

/// The table: per object, what libbpf and oxbpf created and the verdict.
pub fn render_table(rows: &[Row]) -> String {
    let w = |f: &dyn Fn(&Row) -> usize, title: &str| {
        rows.iter().map(f).max().unwrap_or(0).max(title.len())
    };
    let wo = w(&|r| r.object.len(), "object");
    let wl = w(&|r| r.libbpf.len(), "libbpf");
    let wx = w(&|r| r.oxbpf.len(), "oxbpf");
    let mut s = format!(
        "| {:wo$} | {:wl$} | {:wx$} | differences |\n|{}|{}|{}|-------------|\n",
        "object",
        "libbpf",
        "oxbpf",
        "-".repeat(wo + 2),
        "-".repeat(wl + 2),
        "-".repeat(wx + 2),
    );
    for r in rows {
        s.push_str(&format!(
            "| {:wo$} | {:wl$} | {:wx$} | {} |\n",
            r.object,
            r.libbpf,
            r.oxbpf,
            r.verdict()
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prog(insns: Vec<Insn>, maps: &[&str]) -> ProgState {
        ProgState {
            prog_type: ProgType::XDP,
            expected_attach_type: 0,
            kernel_name: "p".into(),
            xlated: insns,
            map_names: maps.iter().map(|s| s.to_string()).collect(),
            nr_func_info: 1,
            nr_line_info: 4,
            attach_btf_id: 0,
            attach_btf_obj_id: 0,
            gpl_compatible: true,
        }
    }

    fn map() -> MapState {
        MapState {
            kernel_name: "m".into(),
            map_type: MapType::ARRAY,
            key_size: 4,
            value_size: 8,
            max_entries: 1,
            map_flags: 0,
            map_extra: 0,
            btf_key_type: "typedef u32".into(),
            btf_value_type: "typedef u64".into(),
            btf_vmlinux_value_type_id: 0,
        }
    }

    fn snap(p: ProgState, m: MapState) -> Outcome {
        Outcome::Loaded(Snapshot {
            progs: [("p".to_string(), p)].into(),
            maps: [("m".to_string(), m)].into(),
        })
    }

    fn code() -> Vec<Insn> {
        let mut v: Vec<Insn> = Insn::ld_map_fd(1, 0).to_vec();
        v.push(Insn::mov64_imm(0, 2));
        v.push(Insn::exit());
        v
    }

    #[test]
    fn identical_outcomes_have_no_difference() {
        let a = snap(prog(code(), &["m"]), map());
        assert!(compare("o", &a, &a.clone()).is_empty());
    }

    #[test]
    fn every_attribute_is_compared() {
        let a = snap(prog(code(), &["m"]), map());
        let mut p = prog(code(), &["m"]);
        p.prog_type = ProgType::SOCKET_FILTER;
        p.expected_attach_type = 37;
        p.nr_line_info = 3;
        let mut m = map();
        m.max_entries = 2;
        m.btf_value_type = "struct v".into();
        let b = snap(p, m);
        let attrs: Vec<String> = compare("o", &a, &b)
            .iter()
            .map(|d| format!("{} {}", d.item, d.attribute))
            .collect();
        assert_eq!(
            attrs,
            [
                "program p type",
                "program p expected_attach_type",
                "program p nr_line_info",
                "map m max_entries",
                "map m value_type"
            ]
        );
    }

    #[test]
    fn map_names_not_ids_decide() {
        let a = snap(prog(code(), &["m"]), map());
        let b = snap(prog(code(), &["other"]), map());
        let d = compare("o", &a, &b);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].attribute, "xlated");
        assert!(d[0].oxbpf.contains("map[other]"), "{}", d[0].oxbpf);
        let mut c = code();
        c[2] = Insn::mov64_imm(0, 1);
        let d = compare("o", &a, &snap(prog(c, &["m"]), map()));
        assert_eq!(d.len(), 1);
        assert!(
            d[0].oxbpf
                .contains("1 of 3 lines differ, first: 2: (b7) r0 = 1"),
            "{}",
            d[0].oxbpf
        );
    }

    #[test]
    fn presence_and_refusal() {
        let a = snap(prog(code(), &["m"]), map());
        let empty = Outcome::Loaded(Snapshot::default());
        let d = compare("o", &a, &empty);
        assert_eq!(d.len(), 2);
        assert_eq!(
            (d[0].libbpf.as_str(), d[0].oxbpf.as_str()),
            ("present", "absent")
        );
        let refused = Outcome::Refused {
            stage: "load".into(),
            error: "EPERM".into(),
        };
        assert!(compare("o", &refused, &refused).is_empty());
        let d = compare("o", &a, &refused);
        assert_eq!(d[0].item, Item::Object);
        assert_eq!(d[0].oxbpf, "refused at load: EPERM");
    }

    #[test]
    fn expected_list_parses_and_classifies() {
        let text = "# comment\n\n\
            a.bpf.o | program p | xlated | why\n\
            * | map * | kernel_name | libbpf shortens names\n\
            b.bpf.o | object | load | never matches\n\
            c.bpf.o | object | load | c was refused by both\n\
            ?a.bpf.o | map m | type | only on some kernels\n";
        let e = Expected::parse(text).unwrap();
        assert_eq!(e.entries.len(), 5);
        assert!(e.entries[4].optional);
        assert_eq!(e.entries[4].object, Pattern::Exact("a.bpf.o".into()));
        let mk = |object: &str, item: Item, attribute: &str| Difference {
            object: object.into(),
            item,
            attribute: attribute.into(),
            libbpf: String::new(),
            oxbpf: String::new(),
            detail: None,
        };
        let diffs = [
            mk("a.bpf.o", Item::Program("p".into()), "xlated"),
            mk("z.bpf.o", Item::Map("q".into()), "kernel_name"),
            mk("a.bpf.o", Item::Program("q".into()), "xlated"),
        ];
        let compared: Vec<String> = ["a.bpf.o", "b.bpf.o", "z.bpf.o"].map(String::from).to_vec();
        let c = e.classify(&diffs, &compared);
        assert_eq!(c.expected.len(), 2);
        assert_eq!(c.unexpected.len(), 1);
        assert_eq!(c.unexpected[0].item, Item::Program("q".into()));
        let lines = |v: &[&ExpectedEntry]| v.iter().map(|e| e.line).collect::<Vec<_>>();
        assert_eq!(lines(&c.unused), [5]);
        assert_eq!(lines(&c.unchecked), [6, 7]);
        let lists = c.render_lists();
        assert!(lists.contains("expected differences (2):"), "{lists}");
        assert!(
            lists.contains("- z.bpf.o | map q | kernel_name: libbpf shortens names"),
            "{lists}"
        );
        assert!(lists.contains("- line 7: only on some kernels"), "{lists}");
        let failures = c.failures(std::path::Path::new("list.txt"));
        assert_eq!(failures.len(), 2, "{failures:?}");
        assert!(failures[0].starts_with("UNEXPECTED: a.bpf.o | program q | xlated"));
        assert!(failures[1].starts_with("STALE ENTRY (matches nothing), list.txt line 5"));
    }

    #[test]
    fn malformed_lists_are_refused() {
        for bad in [
            "a | object | load",
            "a | object | load | ",
            "a | prog p | xlated | r",
            "a | program | xlated | r",
        ] {
            let err = Expected::parse(bad).unwrap_err();
            assert!(
                matches!(err, Error::Expected { line: 1, .. }),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn table_renders_every_row() {
        let a = snap(prog(code(), &["m"]), map());
        let r = Outcome::Refused {
            stage: "open".into(),
            error: "x".into(),
        };
        let t = render_table(&[
            Row::new("a.bpf.o", &a, &a, 0, 0),
            Row::new("legacy.bpf.o", &r, &a, 1, 0),
        ]);
        assert!(
            t.contains("| a.bpf.o      | 1 progs, 1 maps | 1 progs, 1 maps | same |"),
            "{t}"
        );
        assert!(t.contains("refused (open)"), "{t}");
        assert!(t.contains("1 listed"), "{t}");
    }
}
