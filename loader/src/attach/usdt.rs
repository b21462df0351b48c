//! USDT probes (the `<sys/sdt.h>` static probes of user programs).
//!
//! A binary describes each probe site in an ELF note of `.note.stapsdt`
//! (owner `stapsdt`, type 3): the site's address, the `.stapsdt.base`
//! address it was linked against (prelink may move the code since), the
//! address of its semaphore (a 16-bit counter the program checks before
//! computing arguments; 0 for none), then three strings: provider, probe
//! name and the arguments, each `[-]SIZE@LOCATION` in assembler syntax
//! (`-4@%edi`, `8@-8(%rbp)`, `4@$42`).
//!
//! Attaching follows the BPF-side ABI of libbpf's `usdt.bpf.h`, so that
//! programs written for it work unchanged: each distinct argument layout
//! becomes a `struct __bpf_usdt_spec` in the program's
//! `__bpf_usdt_specs` array map, and every site gets a uprobe whose BPF
//! cookie is that spec's index (kernels with cookies, 5.15+), with the
//! semaphore raised through the uprobe's reference counter.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use object::{Object, ObjectSection};

use crate::attach::elf_sym::{Binary, resolve_binary};
use crate::attach::uprobe::{UprobeMultiOptions, UprobeOptions};
use crate::attach::{Attached, target_err};
use crate::error::{Error, Result};
use crate::link::Link;
use crate::program::Program;
use oxbpf_syscalls::AttachType;

/// Where a USDT argument is.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UsdtArgKind {
    /// A constant (`$42`).
    Const(i64),
    /// In a register (`%edi`): its offset in the kernel's `struct
    /// pt_regs`.
    Reg {
        /// The register as written (`edi`).
        name: String,
        /// Offset of the full register in `struct pt_regs`.
        pt_regs_offset: u16,
    },
    /// In memory at register + offset (`-8(%rbp)`).
    Deref {
        /// The register as written.
        name: String,
        /// Offset of the register in `struct pt_regs`.
        pt_regs_offset: u16,
        /// The displacement.
        offset: i64,
    },
}

/// One argument of a USDT probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsdtArg {
    /// Size in bytes: 1, 2, 4 or 8.
    pub size: u8,
    /// Whether it is signed (a negative size in the note).
    pub signed: bool,
    /// Where it is.
    pub kind: UsdtArgKind,
}

/// One probe site from `.note.stapsdt`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsdtNote {
    /// The provider (`DTRACE_PROBE(provider, name)`).
    pub provider: String,
    /// The probe's name.
    pub name: String,
    /// The site's virtual address (adjusted for `.stapsdt.base`).
    pub address: u64,
    /// The semaphore's virtual address (adjusted likewise), 0 for none.
    pub semaphore: u64,
    /// The argument string as written in the note.
    pub args_text: String,
    /// The parsed arguments.
    pub args: Vec<UsdtArg>,
}

/// How [`Program::attach_usdt`] attaches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UsdtOptions {
    /// Only this process; `None`: every process that runs the binary.
    pub pid: Option<i32>,
    /// What `bpf_usdt_cookie()` returns in the program.
    pub cookie: u64,
}

impl UsdtOptions {
    /// Only process `pid`.
    pub fn with_pid(mut self, pid: i32) -> Self {
        self.pid = Some(pid);
        self
    }

    /// With `cookie` for `bpf_usdt_cookie()`.
    pub fn with_cookie(mut self, cookie: u64) -> Self {
        self.cookie = cookie;
        self
    }
}

/// x86_64 registers: every name (64, 32, 16, 8-bit) → the offset of the
/// full register in `struct pt_regs`.
const X86_64_REGS: &[(&[&str], u16)] = &[
    (&["r15", "r15d", "r15w", "r15b"], 0),
    (&["r14", "r14d", "r14w", "r14b"], 8),
    (&["r13", "r13d", "r13w", "r13b"], 16),
    (&["r12", "r12d", "r12w", "r12b"], 24),
    (&["rbp", "ebp", "bp", "bpl"], 32),
    (&["rbx", "ebx", "bx", "bl"], 40),
    (&["r11", "r11d", "r11w", "r11b"], 48),
    (&["r10", "r10d", "r10w", "r10b"], 56),
    (&["r9", "r9d", "r9w", "r9b"], 64),
    (&["r8", "r8d", "r8w", "r8b"], 72),
    (&["rax", "eax", "ax", "al"], 80),
    (&["rcx", "ecx", "cx", "cl"], 88),
    (&["rdx", "edx", "dx", "dl"], 96),
    (&["rsi", "esi", "si", "sil"], 104),
    (&["rdi", "edi", "di", "dil"], 112),
    (&["rip", "eip"], 128),
    (&["rsp", "esp", "sp", "spl"], 152),
];

fn x86_64_reg(name: &str) -> Option<u16> {
    X86_64_REGS
        .iter()
        .find(|(names, _)| names.contains(&name))
        .map(|(_, off)| *off)
}

fn parse_int(s: &str) -> Option<i64> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = match digits.strip_prefix("0x") {
        Some(hex) => i64::from_str_radix(hex, 16).ok()?,
        None => digits.parse().ok()?,
    };
    Some(if neg { -v } else { v })
}

/// Parses one x86_64 argument (`-4@%edi`, `8@-8(%rbp)`, `4@$42`).
pub(crate) fn parse_arg_x86_64(spec: &str) -> Result<UsdtArg> {
    let bad = |why: &str| Error::InvalidArgument(format!("USDT argument {spec:?}: {why}"));
    let (size, loc) = spec.split_once('@').ok_or_else(|| bad("no SIZE@"))?;
    let size: i32 = size.parse().map_err(|_| bad("bad size"))?;
    let signed = size < 0;
    let size = size.unsigned_abs();
    if !matches!(size, 1 | 2 | 4 | 8) {
        return Err(bad("size is not 1, 2, 4 or 8"));
    }
    let kind = if let Some(imm) = loc.strip_prefix('$') {
        UsdtArgKind::Const(parse_int(imm).ok_or_else(|| bad("bad constant"))?)
    } else if let Some(reg) = loc.strip_prefix('%') {
        let off = x86_64_reg(reg).ok_or_else(|| bad("unknown register"))?;
        UsdtArgKind::Reg {
            name: reg.to_owned(),
            pt_regs_offset: off,
        }
    } else if let Some((disp, rest)) = loc.split_once('(') {
        let inner = rest
            .strip_suffix(')')
            .ok_or_else(|| bad("no closing parenthesis"))?;
        if inner.contains(',') {
            return Err(bad(
                "indexed addressing (base,index,scale) is not supported",
            ));
        }
        let reg = inner.strip_prefix('%').ok_or_else(|| bad("no register"))?;
        let off = x86_64_reg(reg).ok_or_else(|| bad("unknown register"))?;
        let offset = if disp.is_empty() {
            0
        } else {
            parse_int(disp).ok_or_else(|| bad("bad displacement"))?
        };
        UsdtArgKind::Deref {
            name: reg.to_owned(),
            pt_regs_offset: off,
            offset,
        }
    } else {
        return Err(bad("unknown location"));
    };
    Ok(UsdtArg {
        size: size as u8,
        signed,
        kind,
    })
}

/// Every USDT probe site of an ELF file (64-bit, x86_64 arguments).
pub fn parse_usdt_notes(elf: &[u8]) -> Result<Vec<UsdtNote>> {
    let bad = |why: String| Error::InvalidArgument(format!(".note.stapsdt: {why}"));
    let file = object::File::parse(elf).map_err(|e| bad(format!("not an ELF file: {e}")))?;
    let Some(notes) = file.section_by_name(".note.stapsdt") else {
        return Ok(Vec::new());
    };
    let base_section = file.section_by_name(".stapsdt.base").map(|s| s.address());
    let data = notes
        .data()
        .map_err(|e| bad(format!("unreadable section: {e}")))?;
    let little = file.is_little_endian();
    let u32_at = |b: &[u8], at: usize| -> Option<u32> {
        let w: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        Some(if little {
            u32::from_le_bytes(w)
        } else {
            u32::from_be_bytes(w)
        })
    };
    let u64_at = |b: &[u8], at: usize| -> Option<u64> {
        let w: [u8; 8] = b.get(at..at + 8)?.try_into().ok()?;
        Some(if little {
            u64::from_le_bytes(w)
        } else {
            u64::from_be_bytes(w)
        })
    };
    let mut out = Vec::new();
    let mut at = 0usize;
    while at + 12 <= data.len() {
        let namesz = u32_at(data, at).ok_or_else(|| bad(format!("offset {at}")))? as usize;
        let descsz = u32_at(data, at + 4).ok_or_else(|| bad(format!("offset {at}")))? as usize;
        let ty = u32_at(data, at + 8).ok_or_else(|| bad(format!("offset {at}")))?;
        let name_at = at + 12;
        let desc_at = name_at
            .checked_add(namesz.next_multiple_of(4))
            .ok_or_else(|| bad(format!("note at {at}: name size {namesz}")))?;
        let end = desc_at
            .checked_add(descsz)
            .filter(|&e| e <= data.len())
            .ok_or_else(|| bad(format!("note at {at}: description runs past the section")))?;
        let name = &data[name_at..name_at + namesz.min(data.len() - name_at)];
        let desc = &data[desc_at..end];
        let note_start = at;
        at = desc_at + descsz.next_multiple_of(4);
        if name != b"stapsdt\0" || ty != 3 {
            continue;
        }
        let (Some(pc), Some(base), Some(sema)) =
            (u64_at(desc, 0), u64_at(desc, 8), u64_at(desc, 16))
        else {
            return Err(bad(format!("note at {note_start}: description too short")));
        };
        let mut strings = desc[24..].split(|&b| b == 0);
        let mut next = || {
            strings
                .next()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .ok_or_else(|| bad(format!("note at {note_start}: missing strings")))
        };
        let (provider, name, args_text) = (next()?, next()?, next()?);
        // Prelink moves code without rewriting the notes: shift by how
        // far .stapsdt.base moved.
        let delta = base_section.map_or(0, |b| b.wrapping_sub(base));
        let args = args_text
            .split_whitespace()
            .map(parse_arg_x86_64)
            .collect::<Result<Vec<_>>>()?;
        out.push(UsdtNote {
            provider,
            name,
            address: pc.wrapping_add(delta),
            semaphore: if sema == 0 {
                0
            } else {
                sema.wrapping_add(delta)
            },
            args_text,
            args,
        });
    }
    Ok(out)
}

/// Layout of `struct __bpf_usdt_spec` in `usdt.bpf.h` (libbpf 1.x).
const MAX_ARGS: usize = 12;
const ARG_SPEC_SIZE: usize = 16;
const SPEC_COOKIE: usize = MAX_ARGS * ARG_SPEC_SIZE;
const SPEC_ARG_CNT: usize = SPEC_COOKIE + 8;
/// `sizeof(struct __bpf_usdt_spec)`.
pub(crate) const SPEC_SIZE: usize = SPEC_ARG_CNT + 8;

/// The `struct __bpf_usdt_spec` value for `args` and `cookie`.
pub(crate) fn spec_bytes(args: &[UsdtArg], cookie: u64) -> Result<[u8; SPEC_SIZE]> {
    if args.len() > MAX_ARGS {
        return Err(Error::InvalidArgument(format!(
            "USDT probe with {} arguments: usdt.bpf.h takes at most {MAX_ARGS}",
            args.len()
        )));
    }
    let mut b = [0u8; SPEC_SIZE];
    for (i, a) in args.iter().enumerate() {
        let at = i * ARG_SPEC_SIZE;
        // enum __bpf_usdt_arg_type: CONST 0, REG 1, REG_DEREF 2.
        let (val_off, ty, reg_off): (u64, u32, u16) = match &a.kind {
            UsdtArgKind::Const(v) => (*v as u64, 0, 0),
            UsdtArgKind::Reg { pt_regs_offset, .. } => (0, 1, *pt_regs_offset),
            UsdtArgKind::Deref {
                pt_regs_offset,
                offset,
                ..
            } => (*offset as u64, 2, *pt_regs_offset),
        };
        b[at..at + 8].copy_from_slice(&val_off.to_ne_bytes());
        b[at + 8..at + 12].copy_from_slice(&ty.to_ne_bytes());
        b[at + 12..at + 14].copy_from_slice(&reg_off.to_ne_bytes());
        b[at + 14] = u8::from(a.signed);
        b[at + 15] = 64 - 8 * a.size;
    }
    b[SPEC_COOKIE..SPEC_COOKIE + 8].copy_from_slice(&cookie.to_ne_bytes());
    b[SPEC_ARG_CNT..SPEC_ARG_CNT + 2].copy_from_slice(&(args.len() as u16).to_ne_bytes());
    Ok(b)
}

/// Spec ids in use, per spec map (by kernel map id): shared by every
/// attachment of the process to programs of the same object.
static SPEC_IDS: Mutex<Option<HashMap<u32, Vec<bool>>>> = Mutex::new(None);

/// Spec ids held by a USDT link, given back when it is dropped.
#[derive(Debug)]
pub(crate) struct SpecSlots {
    map_id: u32,
    ids: Vec<u32>,
}

impl SpecSlots {
    fn alloc(map_id: u32, capacity: u32, n: usize) -> Result<SpecSlots> {
        let mut guard = SPEC_IDS.lock().unwrap_or_else(|e| e.into_inner());
        let used = guard
            .get_or_insert_with(HashMap::new)
            .entry(map_id)
            .or_insert_with(|| vec![false; capacity as usize]);
        let free: Vec<u32> = used
            .iter()
            .enumerate()
            .filter(|(_, u)| !**u)
            .map(|(i, _)| i as u32)
            .take(n)
            .collect();
        if free.len() < n {
            return Err(Error::InvalidArgument(format!(
                "USDT: {n} more specs needed, the spec map (id {map_id}) has {} free of {capacity}; \
                 raise BPF_USDT_MAX_SPEC_CNT",
                free.len()
            )));
        }
        for &i in &free {
            used[i as usize] = true;
        }
        Ok(SpecSlots { map_id, ids: free })
    }
}

impl Drop for SpecSlots {
    fn drop(&mut self) {
        let mut guard = SPEC_IDS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(used) = guard.as_mut().and_then(|m| m.get_mut(&self.map_id)) {
            for &i in &self.ids {
                if let Some(u) = used.get_mut(i as usize) {
                    *u = false;
                }
            }
        }
    }
}

/// The spec map the program uses (`__bpf_usdt_specs`, 15 characters
/// as the kernel keeps names), by the maps the kernel says it uses.
fn spec_map(prog: &Program) -> Result<(oxbpf_syscalls::MapFd, u32)> {
    let what = || format!("program {}: finding its USDT spec map", prog.name);
    let ids = oxbpf_syscalls::prog_map_ids(prog.prog_fd()).map_err(Error::syscall(what()))?;
    for id in ids {
        let Ok(fd) = oxbpf_syscalls::map_get_fd_by_id(id) else {
            continue;
        };
        let info = oxbpf_syscalls::map_info(&fd).map_err(Error::syscall(what()))?;
        if "__bpf_usdt_specs".starts_with(&info.name_str()) && info.name_str().len() >= 15 {
            if info.value_size as usize != SPEC_SIZE {
                return Err(target_err(
                    &prog.name,
                    format!(
                        "its __bpf_usdt_specs values are {} bytes; this oxbpf writes the \
                         {SPEC_SIZE}-byte struct __bpf_usdt_spec of libbpf 1.x's usdt.bpf.h",
                        info.value_size
                    ),
                ));
            }
            return Ok((fd, id));
        }
    }
    Err(target_err(
        &prog.name,
        "it uses no __bpf_usdt_specs map: USDT programs read their arguments through \
         <bpf/usdt.bpf.h> (bpf_usdt_arg, BPF_USDT)",
    ))
}

/// `usdt/<binary>:<provider>:<name>` → `(binary, provider, name)`.
pub(crate) fn parse_usdt_target(target: &str) -> Option<(&str, &str, &str)> {
    let mut it = target.rsplitn(3, ':');
    let name = it.next()?;
    let provider = it.next()?;
    let binary = it.next()?;
    (!binary.is_empty() && !provider.is_empty() && !name.is_empty())
        .then_some((binary, provider, name))
}

impl Program {
    /// Attaches a USDT program (`SEC("usdt")` with `BPF_USDT(...)` from
    /// `<bpf/usdt.bpf.h>`) to every site of probe `provider:name` in
    /// `binary` (a path, library name or program in `$PATH`). The
    /// arguments' locations are written into the program's
    /// `__bpf_usdt_specs` map; each site gets a uprobe with the spec's
    /// index as cookie and the site's semaphore as reference counter: all
    /// in one uprobe_multi link where the program was loaded for one (a
    /// live load on Linux 6.6+, as libbpf does), else one perf-event
    /// uprobe per site. Dropping the link detaches every site and frees
    /// the specs.
    ///
    /// # Minimum kernel version
    ///
    /// 5.15 (BPF cookies); older kernels would need the IP-to-spec map,
    /// which this does not fill.
    pub fn attach_usdt(
        &self,
        binary: impl AsRef<Path>,
        provider: &str,
        name: &str,
        opts: &UsdtOptions,
    ) -> Result<Link> {
        let path = resolve_binary(&binary.as_ref().to_string_lossy(), opts.pid)?;
        let bin = Binary::read(&path)?;
        let sites: Vec<UsdtNote> = parse_usdt_notes(&bin.data)?
            .into_iter()
            .filter(|n| n.provider == provider && n.name == name)
            .collect();
        if sites.is_empty() {
            return Err(target_err(
                &self.name,
                format!("{} has no USDT probe {provider}:{name}", path.display()),
            ));
        }
        if !crate::target::Target::live().has_bpf_cookie() {
            return Err(Error::Unsupported {
                what: "USDT on a kernel without BPF cookies (before 5.15)".into(),
                site: format!("program {}", self.name),
            });
        }
        let (specs, map_id) = spec_map(self)?;
        let capacity = specs.meta().max_entries;
        // One spec per distinct argument layout.
        let mut layouts: Vec<[u8; SPEC_SIZE]> = Vec::new();
        let mut site_spec = Vec::with_capacity(sites.len());
        for s in &sites {
            let b = spec_bytes(&s.args, opts.cookie)?;
            let i = match layouts.iter().position(|l| *l == b) {
                Some(i) => i,
                None => {
                    layouts.push(b);
                    layouts.len() - 1
                }
            };
            site_spec.push(i);
        }
        let slots = SpecSlots::alloc(map_id, capacity, layouts.len())?;
        for (id, layout) in slots.ids.iter().zip(&layouts) {
            oxbpf_syscalls::map_update_elem(&specs, &id.to_ne_bytes(), layout, 0).map_err(
                Error::syscall(format!(
                    "program {}: writing USDT spec {id} for {provider}:{name}",
                    self.name
                )),
            )?;
        }
        // Per site: (file offset, semaphore's file offset or 0, cookie).
        let mut probes = Vec::with_capacity(sites.len());
        for (site, &spec) in sites.iter().zip(&site_spec) {
            let offset = bin.file_offset(site.address)?;
            let ref_ctr_offset = if site.semaphore == 0 {
                0
            } else {
                bin.file_offset(site.semaphore)?
            };
            log::debug!(target: "oxbpf::attach", "USDT {provider}:{name} at {:#x} (file offset {offset:#x}), semaphore at {ref_ctr_offset:#x}, spec {}", site.address, slots.ids[spec]);
            probes.push((offset, ref_ctr_offset, u64::from(slots.ids[spec])));
        }
        let links = if self.expected_attach_type == Some(AttachType::TRACE_UPROBE_MULTI) {
            // Loaded for a uprobe_multi link (see the planner): every site
            // in one link, the spec ids as cookies.
            let offsets: Vec<u64> = probes.iter().map(|p| p.0).collect();
            let mopts = UprobeMultiOptions {
                pid: opts.pid,
                retprobe: false,
                ref_ctr_offsets: probes.iter().map(|p| p.1).collect(),
                cookies: probes.iter().map(|p| p.2).collect(),
            };
            vec![self.attach_uprobe_multi_offsets(&path, &offsets, &mopts)?]
        } else {
            let mut links = Vec::with_capacity(probes.len());
            for (offset, ref_ctr_offset, cookie) in probes {
                let uopts = UprobeOptions {
                    pid: opts.pid,
                    retprobe: false,
                    ref_ctr_offset,
                    cookie,
                };
                links.push(self.attach_uprobe_offset(&path, offset, &uopts)?);
            }
            links
        };
        Ok(Link::attached(Attached::Group {
            links,
            usdt: Some(slots),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_parse() {
        assert_eq!(
            parse_arg_x86_64("-4@%edi").unwrap(),
            UsdtArg {
                size: 4,
                signed: true,
                kind: UsdtArgKind::Reg {
                    name: "edi".into(),
                    pt_regs_offset: 112
                }
            }
        );
        assert_eq!(
            parse_arg_x86_64("8@-8(%rbp)").unwrap().kind,
            UsdtArgKind::Deref {
                name: "rbp".into(),
                pt_regs_offset: 32,
                offset: -8
            }
        );
        assert_eq!(
            parse_arg_x86_64("8@(%rax)").unwrap().kind,
            UsdtArgKind::Deref {
                name: "rax".into(),
                pt_regs_offset: 80,
                offset: 0
            }
        );
        assert_eq!(
            parse_arg_x86_64("-4@$-9").unwrap().kind,
            UsdtArgKind::Const(-9)
        );
        assert_eq!(parse_arg_x86_64("1@%sil").unwrap().size, 1);
        assert_eq!(
            parse_arg_x86_64("2@%r9w").unwrap().kind,
            UsdtArgKind::Reg {
                name: "r9w".into(),
                pt_regs_offset: 64
            }
        );
        for bad in [
            "4",
            "3@%eax",
            "4@%xyz",
            "4@8(%rax,%rbx,2)",
            "4@8(%rax",
            "4@?",
        ] {
            assert!(parse_arg_x86_64(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn specs_follow_usdt_bpf_h() {
        let args = [
            parse_arg_x86_64("-4@%edi").unwrap(),
            parse_arg_x86_64("1@$7").unwrap(),
            parse_arg_x86_64("8@-16(%rbp)").unwrap(),
        ];
        let b = spec_bytes(&args, 0xC0FFEE).unwrap();
        assert_eq!(SPEC_SIZE, 208);
        // arg 0: REG, rdi, signed, shift 32.
        assert_eq!(u32::from_ne_bytes(b[8..12].try_into().unwrap()), 1);
        assert_eq!(u16::from_ne_bytes(b[12..14].try_into().unwrap()), 112);
        assert_eq!((b[14], b[15]), (1, 32));
        // arg 1: CONST 7, unsigned, shift 56.
        assert_eq!(u64::from_ne_bytes(b[16..24].try_into().unwrap()), 7);
        assert_eq!(u32::from_ne_bytes(b[24..28].try_into().unwrap()), 0);
        assert_eq!((b[30], b[31]), (0, 56));
        // arg 2: REG_DEREF rbp - 16.
        assert_eq!(i64::from_ne_bytes(b[32..40].try_into().unwrap()), -16);
        assert_eq!(u32::from_ne_bytes(b[40..44].try_into().unwrap()), 2);
        assert_eq!(
            u64::from_ne_bytes(b[192..200].try_into().unwrap()),
            0xC0FFEE
        );
        assert_eq!(u16::from_ne_bytes(b[200..202].try_into().unwrap()), 3);
        assert!(spec_bytes(&vec![args[0].clone(); 13], 0).is_err());
    }

    #[test]
    fn section_targets() {
        assert_eq!(
            parse_usdt_target("/usr/bin/app:prov:probe"),
            Some(("/usr/bin/app", "prov", "probe"))
        );
        assert_eq!(parse_usdt_target("prov:probe"), None);
        assert_eq!(parse_usdt_target("/a::b"), None);
    }

    #[test]
    fn spec_slots_are_reused_after_drop() {
        let a = SpecSlots::alloc(u32::MAX, 3, 2).unwrap();
        assert_eq!(a.ids, [0, 1]);
        assert!(SpecSlots::alloc(u32::MAX, 3, 2).is_err());
        let b = SpecSlots::alloc(u32::MAX, 3, 1).unwrap();
        assert_eq!(b.ids, [2]);
        drop(a);
        let c = SpecSlots::alloc(u32::MAX, 3, 2).unwrap();
        assert_eq!(c.ids, [0, 1]);
    }

    #[test]
    fn notes_of_a_non_elf_are_an_error_and_absent_notes_are_none() {
        assert!(parse_usdt_notes(b"not elf").is_err());
        let exe = std::fs::read("/proc/self/exe").unwrap();
        assert_eq!(parse_usdt_notes(&exe).unwrap(), []);
    }
}
