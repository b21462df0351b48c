//! Patching an instruction with a relocation's target value, or poisoning it.

use std::fmt;

use oxbpf_asm::opcode::{alu, class, mode, size, source};
use oxbpf_asm::{Insn, Size};
use oxbpf_btf::CoreReloKind;

use super::Resolution;
use crate::error::{Error, ReloLoc};

/// The helper id a poisoned instruction calls: `call 0xbad2310`
/// (195896080, "bad relo"). No kernel has a helper with that id, so the
/// verifier rejects the call — but only when it reaches it: the verifier
/// walks only the paths that can run, so a relocation guarded by
/// `bpf_core_field_exists()` (or any branch the verifier knows is not
/// taken) loads fine. Its log then ends with `invalid func
/// unknown#195896080`, which [`crate::poisoned_insn_in_log`] recognises.
pub const POISON_HELPER_ID: i32 = 0xbad_2310;

/// What patching did to the instruction(s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Patch {
    /// An ALU immediate was replaced.
    Imm {
        /// The old immediate.
        old: i32,
        /// The new one.
        new: i32,
    },
    /// A load/store offset was replaced, and maybe its access size.
    Off {
        /// The old offset.
        old: i16,
        /// The new one.
        new: i16,
        /// The access size, if it changed: (old, new).
        size: Option<(Size, Size)>,
    },
    /// The 64-bit immediate of an `ld_imm64` was replaced.
    Imm64 {
        /// The old value.
        old: u64,
        /// The new one.
        new: u64,
    },
    /// The relocation is unresolved: the instruction was replaced by a
    /// call of [`POISON_HELPER_ID`] (both slots for an `ld_imm64`).
    Poisoned {
        /// Number of slots replaced (1, or 2 for an `ld_imm64`).
        slots: u8,
    },
}

impl fmt::Display for Patch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Patch::Imm { old, new } => write!(f, "imm {old} -> {new}"),
            Patch::Off { old, new, size } => {
                write!(f, "off {old} -> {new}")?;
                if let Some((a, b)) = size {
                    write!(f, ", size {} -> {} bytes", a.bytes(), b.bytes())?;
                }
                Ok(())
            }
            Patch::Imm64 { old, new } => write!(f, "imm64 {old} -> {new}"),
            Patch::Poisoned { slots } => {
                write!(f, "poisoned: call {POISON_HELPER_ID:#x}")?;
                if slots > 1 {
                    write!(f, " x{slots}")?;
                }
                Ok(())
            }
        }
    }
}

/// The shape of the instruction a relocation applies to.
enum Shape {
    /// ALU/ALU64 with an immediate operand.
    Alu { wide: bool },
    /// A load or store (LDX, ST, STX, atomic).
    Mem,
    /// First slot of an `ld_imm64` of a plain number.
    Imm64,
}

/// Builds the location of the relocation being applied, for errors only.
pub(crate) struct At<'r> {
    pub res: &'r Resolution,
    pub relo: Option<usize>,
    pub insn: usize,
}

impl At<'_> {
    fn loc(&self) -> Box<ReloLoc> {
        Box::new(self.res.loc(self.relo, Some(self.insn)))
    }
}

fn unexpected(at: &At<'_>, code: u8, reason: &'static str) -> Error {
    Error::UnexpectedInsn {
        at: at.loc(),
        code,
        reason,
    }
}

fn shape(insns: &[Insn], idx: usize, at: &At<'_>) -> Result<Shape, Error> {
    let Some(&insn) = insns.get(idx) else {
        return Err(Error::InsnOutOfRange {
            at: at.loc(),
            len: insns.len(),
        });
    };
    let code = insn.code;
    match insn.class() {
        c @ (class::ALU | class::ALU64) => {
            if code & source::MASK != source::K {
                return Err(unexpected(at, code, "ALU with a register operand"));
            }
            let op = code & 0xf0;
            if op == alu::END || op == alu::NEG {
                return Err(unexpected(
                    at,
                    code,
                    "byte swap or negation has no immediate",
                ));
            }
            Ok(Shape::Alu {
                wide: c == class::ALU64,
            })
        }
        class::LDX => {
            if !matches!(code & mode::MASK, mode::MEM | mode::MEMSX) {
                return Err(unexpected(at, code, "LDX of an unexpected mode"));
            }
            Ok(Shape::Mem)
        }
        class::ST | class::STX => {
            if !matches!(code & mode::MASK, mode::MEM | mode::ATOMIC) {
                return Err(unexpected(at, code, "store of an unexpected mode"));
            }
            Ok(Shape::Mem)
        }
        class::LD if insn.is_ld_imm64() => {
            if insn.src() != 0 {
                return Err(unexpected(
                    at,
                    code,
                    "ld_imm64 of a map, function or kernel symbol",
                ));
            }
            match insns.get(idx + 1) {
                Some(next) if next.code == 0 => Ok(Shape::Imm64),
                _ => Err(unexpected(at, code, "ld_imm64 without its second slot")),
            }
        }
        _ => Err(unexpected(
            at,
            code,
            "only ALU immediates, load/store offsets and ld_imm64 are relocated",
        )),
    }
}

/// Whether `value`, found in an instruction where the local value of `res`
/// is expected, is that value — or, for the container-dependent values of
/// a bitfield (byte offset, byte size, left shift), describes some valid
/// container of the local bitfield (see [`super::Bitfield`]).
fn local_ok(res: &Resolution, value: u64, big_endian: bool) -> bool {
    if value == res.local_value {
        return true;
    }
    let Some(bf) = res.field.and_then(|f| f.bitfield) else {
        return false;
    };
    let (bit_off, bits) = (bf.bit_offset, u64::from(bf.bits));
    [1u64, 2, 4, 8].into_iter().any(|sz| {
        let off = bit_off / 8 / sz * sz;
        // In u128: the offset may be near the end of u64's range.
        if u128::from(bit_off) + u128::from(bits) > (u128::from(off) + u128::from(sz)) * 8 {
            return false;
        }
        let rel = bit_off - off * 8;
        match res.kind {
            CoreReloKind::FieldByteOffset => value == off,
            CoreReloKind::FieldByteSize => value == sz,
            CoreReloKind::FieldLshiftU64 if big_endian => value == (8 - sz) * 8 + rel,
            CoreReloKind::FieldLshiftU64 => value == 64 - (rel + bits),
            _ => false,
        }
    })
}

fn poison(insns: &mut [Insn], idx: usize, slots: usize) -> Patch {
    for s in insns.iter_mut().skip(idx).take(slots) {
        *s = Insn::call_helper(POISON_HELPER_ID);
    }
    Patch::Poisoned { slots: slots as u8 }
}

/// Checks the instruction at `idx` is one `res` may patch and holds the
/// local value, then writes the target value — or poisons it if `res` is
/// unresolved. Returns what was done and the local value the instruction
/// held. On error nothing is changed.
pub(crate) fn apply(
    insns: &mut [Insn],
    idx: usize,
    res: &Resolution,
    relo: Option<usize>,
    big_endian: bool,
) -> Result<(Patch, u64), Error> {
    let at = &At {
        res,
        relo,
        insn: idx,
    };
    let sh = shape(insns, idx, at)?;
    let insn = insns[idx];
    let local = res.local_value;
    let boxed = || at.loc();
    match sh {
        Shape::Alu { wide } => {
            // The immediate holds the low 32 bits of the local value.
            let held = if wide {
                insn.imm as i64 as u64
            } else {
                u64::from(insn.imm as u32)
            };
            let held = if held as u32 == local as u32 {
                local
            } else {
                held
            };
            if !local_ok(res, held, big_endian) {
                return Err(Error::LocalValueMismatch {
                    at: boxed(),
                    field: "imm",
                    found: i64::from(insn.imm),
                    expected: local,
                });
            }
            let Some(v) = res.target_value else {
                return Ok((poison(insns, idx, 1), held));
            };
            let new = if wide {
                i32::try_from(v as i64).ok()
            } else if v <= u64::from(u32::MAX) {
                Some(v as u32 as i32)
            } else {
                i32::try_from(v as i64).ok()
            };
            let Some(new) = new else {
                return Err(Error::ValueOutOfRange {
                    at: boxed(),
                    field: "imm",
                    value: v,
                });
            };
            insns[idx].imm = new;
            Ok((Patch::Imm { old: insn.imm, new }, held))
        }
        Shape::Imm64 => {
            let old = u64::from(insn.imm as u32) | (u64::from(insns[idx + 1].imm as u32) << 32);
            if !local_ok(res, old, big_endian) {
                return Err(Error::LocalValueMismatch {
                    at: boxed(),
                    field: "imm64",
                    found: old as i64,
                    expected: local,
                });
            }
            let Some(v) = res.target_value else {
                return Ok((poison(insns, idx, 2), old));
            };
            insns[idx].imm = v as u32 as i32;
            insns[idx + 1].imm = (v >> 32) as u32 as i32;
            Ok((Patch::Imm64 { old, new: v }, old))
        }
        Shape::Mem => {
            if res.kind != CoreReloKind::FieldByteOffset {
                return Err(unexpected(
                    at,
                    insn.code,
                    "a load/store offset takes only a field byte offset",
                ));
            }
            let held = insn.off as i64 as u64;
            if insn.off < 0 || !local_ok(res, held, big_endian) {
                return Err(Error::LocalValueMismatch {
                    at: boxed(),
                    field: "off",
                    found: i64::from(insn.off),
                    expected: local,
                });
            }
            let Some(v) = res.target_value else {
                return Ok((poison(insns, idx, 1), held));
            };
            let Ok(new) = i16::try_from(v) else {
                return Err(Error::ValueOutOfRange {
                    at: boxed(),
                    field: "off",
                    value: v,
                });
            };
            let new_code = resize(insn, res, at)?;
            insns[idx].off = new;
            let size = new_code.map(|c| {
                insns[idx].code = c;
                (Size::from_code(insn.code), Size::from_code(c))
            });
            Ok((
                Patch::Off {
                    old: insn.off,
                    new,
                    size,
                },
                held,
            ))
        }
    }
}

/// The new opcode of a load/store of a whole field whose size changed on
/// the target, or `None` if the access size stays.
///
/// - A bitfield is loaded through its container: the access takes the
///   size of the target container (the shift relocations assume it).
/// - Another field is resized only when the access covers exactly the
///   local field (a partial access is left as it is).
///
/// The new size must be 1, 2, 4 or 8 bytes; atomics are not resized; a
/// zero-extending load of a signed field may not shrink (the sign would be
/// lost); a sign-extending load of 8 bytes becomes a plain load.
fn resize(insn: Insn, res: &Resolution, at: &At<'_>) -> Result<Option<u8>, Error> {
    let Some(f) = res.field else {
        return Ok(None);
    };
    let cur = Size::from_code(insn.code);
    let Some(target) = f.target_size else {
        return Ok(None);
    };
    let local = match (f.bitfield, f.local_size) {
        (Some(_), _) => u32::from(cur.bytes()),
        (None, Some(l)) if l == u32::from(cur.bytes()) => l,
        _ => return Ok(None),
    };
    if local == target {
        return Ok(None);
    }
    let err = |reason| Error::MemSize {
        at: at.loc(),
        insn_size: cur.bytes(),
        local,
        target,
        reason,
    };
    let new = match target {
        1 => size::B,
        2 => size::H,
        4 => size::W,
        8 => size::DW,
        _ => return Err(err("the target size is not 1, 2, 4 or 8")),
    };
    let m = insn.code & mode::MASK;
    if m == mode::ATOMIC {
        return Err(err("atomic operations are not resized"));
    }
    let mut code = (insn.code & !size::MASK) | new;
    if insn.class() == class::LDX {
        if m == mode::MEMSX && new == size::DW {
            code = class::LDX | mode::MEM | size::DW;
        } else if m == mode::MEM && f.signed && f.bitfield.is_none() && target < local {
            return Err(err(
                "a zero-extending load of a signed field that shrank loses its sign",
            ));
        }
    }
    Ok(Some(code))
}
