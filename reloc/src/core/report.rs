//! Telling which relocation a verifier rejection is about, and mapping
//! `.BTF.ext` records to instruction indices.

use std::fmt;

use oxbpf_btf::CoreRelo;

use super::patch::POISON_HELPER_ID;
use super::{Applied, kind_name};
use crate::error::Error;

/// Why a poisoned relocation failed, and where: the message a loader shows
/// when the verifier rejects a poisoned instruction.
///
/// `CO-RE relocation #3 (byte_off, root type `struct task_struct___old`,
/// access `0:5` = `task_struct___old.state`) failed at insn 12: the target
/// has no such field (1 candidate type); source: prog.bpf.c:42 ...`
#[derive(Clone, Copy, Debug)]
pub struct PoisonReport<'a> {
    applied: &'a Applied,
    insn: usize,
    source: Option<&'a str>,
}

impl<'a> PoisonReport<'a> {
    /// The report for `applied`, rejected at instruction `insn` of the
    /// loaded program (which differs from [`Applied::insn`] when the
    /// relocated function was moved, e.g. appended as a subprogram), with
    /// the source line if known.
    pub fn new(applied: &'a Applied, insn: usize, source: Option<&'a str>) -> Self {
        PoisonReport {
            applied,
            insn,
            source,
        }
    }
}

impl fmt::Display for PoisonReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.applied.resolution;
        write!(
            f,
            "CO-RE relocation #{} ({}, root type `{}`, access `{}` = `{}`) failed at insn {}: ",
            self.applied.index,
            kind_name(r.kind),
            r.root(),
            r.access(),
            r.spec(),
            self.insn
        )?;
        if r.candidates == 0 {
            write!(f, "the target BTF has no type named like `{}`", r.root())?;
        } else {
            let what = match r.kind {
                k if super::is_field_kind(k) => "such field",
                oxbpf_btf::CoreReloKind::EnumvalValue | oxbpf_btf::CoreReloKind::EnumvalExists => {
                    "such enumerator"
                }
                _ => "compatible type",
            };
            let s = if r.candidates == 1 { "" } else { "s" };
            write!(
                f,
                "the target has no {what} ({} candidate type{s})",
                r.candidates
            )?;
        }
        if let Some(src) = self.source {
            write!(f, "; source: {src}")?;
        }
        Ok(())
    }
}

/// The instruction index at which the verifier rejected a poisoned
/// instruction, read from its log (`N: (85) call unknown#195896080`
/// followed by `invalid func unknown#195896080`), or `None` if the log
/// does not show such a rejection.
pub fn poisoned_insn_in_log(log: &str) -> Option<usize> {
    let call = format!("call unknown#{POISON_HELPER_ID}");
    let err = format!("invalid func unknown#{POISON_HELPER_ID}");
    let lines: Vec<&str> = log.lines().collect();
    let e = lines.iter().rposition(|l| l.contains(&err))?;
    lines[..e].iter().rev().find_map(|l| {
        let l = l.trim_start();
        let (n, rest) = l.split_once(':')?;
        if !rest.contains(&call) {
            return None;
        }
        n.trim().parse().ok()
    })
}

/// The poisoned relocation that patched instruction `insn` (either slot of
/// a poisoned `ld_imm64`).
pub fn find_poisoned(applied: &[Applied], insn: usize) -> Option<&Applied> {
    applied.iter().find(|a| match a.patch {
        super::Patch::Poisoned { slots } => insn >= a.insn && insn < a.insn + usize::from(slots),
        _ => false,
    })
}

/// The CO-RE records of one function, with the index of the instruction
/// each applies to: `records` are the records of the function's ELF
/// section (`section`, for messages), `func_off` the function's byte
/// offset in it and `len` its number of instructions. Records of other
/// functions of the section are left out; a record inside the function
/// but not on an instruction boundary is an error.
pub fn function_relos(
    section: &str,
    records: impl IntoIterator<Item = CoreRelo>,
    func_off: u64,
    len: usize,
) -> Result<Vec<(usize, CoreRelo)>, Error> {
    let end = func_off.saturating_add((len as u64).saturating_mul(8));
    let mut out = Vec::new();
    for (index, r) in records.into_iter().enumerate() {
        let off = u64::from(r.insn_off);
        if off < func_off || off >= end {
            continue;
        }
        if (off - func_off) % 8 != 0 {
            return Err(Error::MisplacedRecord {
                section: section.to_owned(),
                index,
                insn_off: r.insn_off,
                func_off,
                len,
                reason: "is not on an instruction boundary",
            });
        }
        out.push((((off - func_off) / 8) as usize, r));
    }
    Ok(out)
}
