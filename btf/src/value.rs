//! Decoding bytes as a BTF type: the values of maps and ring buffer records
//! shown typed (`oxbpf run`, map dumps), as text or JSON.

use std::fmt::{self, Write as _};

use crate::types::{Endian, Type, TypeId};
use crate::{Btf, Error};

/// A decoded value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A signed integer (or a signed bitfield).
    Int(i128),
    /// An unsigned integer.
    Uint(u128),
    /// A `bool`.
    Bool(bool),
    /// A floating point number.
    Float(f64),
    /// An enumerator, by name, or the number when no enumerator has it.
    Enum(Enumerator),
    /// A pointer (an address: user space cannot follow it).
    Ptr(u64),
    /// A `char` array holding text (up to its first NUL).
    Str(String),
    /// An array.
    Array(Vec<Value>),
    /// A struct or union: its named members in order.
    Struct(Vec<(String, Value)>),
    /// Bytes of a type with no better form (a function pointer, `void`).
    Bytes(Vec<u8>),
}

/// An enum's value.
#[derive(Clone, Debug, PartialEq)]
pub enum Enumerator {
    /// The enumerator with this value.
    Named(String),
    /// A value no enumerator has.
    Number(i128),
}

/// How deep nested types may go before decoding gives up.
const MAX_DEPTH: u32 = 32;

/// How many types one decoding may visit. Each visit makes one [`Value`],
/// so this bounds the time and memory a value can take: an array of a
/// zero-sized type does not take its length from the bytes, and union
/// members decode the same bytes again, so malformed BTF could otherwise
/// ask for billions.
const MAX_STEPS: u32 = 1 << 20;

impl Btf<'_> {
    /// Decodes `bytes` as a value of type `id`. The bytes must be at least
    /// the type's size; they are read in the BTF's byte order.
    pub fn decode_value(&self, id: TypeId, bytes: &[u8]) -> Result<Value, Error> {
        let mut steps = MAX_STEPS;
        self.decode_at(id, bytes, 0, &mut steps)
            .map_err(|e| match e {
                Error::TooManySteps { steps, .. } => Error::TooManySteps { id, steps },
                e => e,
            })
    }

    fn decode_at(
        &self,
        id: TypeId,
        bytes: &[u8],
        depth: u32,
        steps: &mut u32,
    ) -> Result<Value, Error> {
        *steps = steps.checked_sub(1).ok_or(Error::TooManySteps {
            id,
            steps: MAX_STEPS,
        })?;
        if depth > MAX_DEPTH {
            return Err(Error::TooDeep {
                id,
                depth: MAX_DEPTH,
            });
        }
        let id = self.skip_mods_and_typedefs(id)?;
        let size = self.resolve_size(id).unwrap_or(0) as usize;
        let take = |n: usize| {
            bytes.get(..n).ok_or(Error::ValueTooShort {
                id,
                need: n,
                have: bytes.len(),
            })
        };
        let e = self.endian();
        Ok(match self.type_by_id(id)? {
            Type::Int(int) => {
                let raw = take(int.size as usize)?;
                if int.encoding.is_bool() {
                    Value::Bool(raw.iter().any(|&b| b != 0))
                } else {
                    let bits = int.bits.min(int.size * 8);
                    let v = bits_of(raw, e, int.offset, bits);
                    if int.encoding.is_signed() {
                        Value::Int(sign_extend(v, bits))
                    } else {
                        Value::Uint(v)
                    }
                }
            }
            Type::Float(f) => {
                let raw = take(f.size as usize)?;
                match raw.len() {
                    4 => Value::Float(f64::from(f32::from_bits(int_of(raw, e) as u32))),
                    8 => Value::Float(f64::from_bits(int_of(raw, e) as u64)),
                    _ => Value::Bytes(raw.to_vec()),
                }
            }
            Type::Enum(en) | Type::Enum64(en) => {
                let raw = take(en.size() as usize)?;
                let bits = en.size() * 8;
                let v = bits_of(raw, e, 0, bits);
                let v = if en.is_signed() {
                    sign_extend(v, bits)
                } else {
                    v as i128
                };
                match en.values().find(|x| x.value() == v) {
                    Some(x) => {
                        Value::Enum(Enumerator::Named(self.string_at(x.name_off)?.to_owned()))
                    }
                    None => Value::Enum(Enumerator::Number(v)),
                }
            }
            Type::Ptr(_) => Value::Ptr(int_of(take(8)?, e) as u64),
            Type::Array(a) => {
                let elem = self.skip_mods_and_typedefs(a.elem)?;
                let esize = self.resolve_size(elem)? as usize;
                let raw = take(esize.saturating_mul(a.nelems as usize))?;
                if esize == 1
                    && matches!(self.type_by_id(elem)?, Type::Int(i) if i.encoding.is_char() || self.name(elem).is_ok_and(|n| n == "char"))
                {
                    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
                    if let Ok(text) = std::str::from_utf8(&raw[..end]) {
                        if text.chars().all(|c| !c.is_control()) {
                            return Ok(Value::Str(text.to_owned()));
                        }
                    }
                }
                let mut items = Vec::with_capacity(a.nelems.min(4096) as usize);
                for i in 0..a.nelems as usize {
                    items.push(self.decode_at(elem, &raw[i * esize..], depth + 1, steps)?);
                }
                Value::Array(items)
            }
            Type::Struct(s) | Type::Union(s) => {
                take(size)?;
                let mut fields = Vec::with_capacity(s.len());
                for m in s.members() {
                    let name = self.string_at(m.name_off)?.to_owned();
                    let value = if m.bitfield_size > 0 {
                        let mt = self.skip_mods_and_typedefs(m.ty)?;
                        let signed = match self.type_by_id(mt)? {
                            Type::Int(i) => i.encoding.is_signed(),
                            Type::Enum(en) | Type::Enum64(en) => en.is_signed(),
                            _ => false,
                        };
                        let v = bits_of(bytes, e, m.bit_offset, m.bitfield_size);
                        if signed {
                            Value::Int(sign_extend(v, m.bitfield_size))
                        } else {
                            Value::Uint(v)
                        }
                    } else {
                        let at = (m.bit_offset / 8) as usize;
                        let rest = bytes.get(at..).ok_or(Error::ValueTooShort {
                            id,
                            need: at,
                            have: bytes.len(),
                        })?;
                        self.decode_at(m.ty, rest, depth + 1, steps)?
                    };
                    if name.is_empty() {
                        // An anonymous struct or union: its members are the
                        // parent's.
                        if let Value::Struct(inner) = value {
                            fields.extend(inner);
                            continue;
                        }
                    }
                    fields.push((name, value));
                }
                Value::Struct(fields)
            }
            Type::Datasec(d) => {
                // A global data section: its variables by name.
                let mut fields = Vec::with_capacity(d.len());
                for v in d.vars() {
                    let name = self.name(v.ty)?.to_owned();
                    let at = v.offset as usize;
                    let rest = bytes.get(at..).ok_or(Error::ValueTooShort {
                        id,
                        need: at,
                        have: bytes.len(),
                    })?;
                    let ty = self.type_by_id(v.ty)?.ref_type().unwrap_or(v.ty);
                    fields.push((name, self.decode_at(ty, rest, depth + 1, steps)?));
                }
                Value::Struct(fields)
            }
            _ => Value::Bytes(take(size)?.to_vec()),
        })
    }
}

/// The integer of up to 16 bytes in `raw`, in byte order `e`.
fn int_of(raw: &[u8], e: Endian) -> u128 {
    let mut v = 0u128;
    let n = raw.len().min(16);
    for i in 0..n {
        let b = if e == Endian::Little {
            raw[n - 1 - i]
        } else {
            raw[i]
        };
        v = (v << 8) | u128::from(b);
    }
    v
}

/// `bits` bits starting at bit `offset` of the integer stored in `raw`
/// (little-endian bit numbering from the least significant bit; for
/// big-endian data, BTF numbers bitfields from the most significant bit).
fn bits_of(raw: &[u8], e: Endian, offset: u32, bits: u32) -> u128 {
    if bits == 0 {
        return 0;
    }
    let first = (offset / 8) as usize;
    let last = ((offset + bits).div_ceil(8) as usize).min(raw.len());
    let window = raw.get(first..last).unwrap_or(&[]);
    let v = int_of(window, e);
    let span = (window.len() * 8) as u32;
    let shift = match e {
        Endian::Little => offset % 8,
        Endian::Big => span.saturating_sub(offset % 8 + bits),
    };
    let mask = if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    };
    (v >> shift) & mask
}

fn sign_extend(v: u128, bits: u32) -> i128 {
    if bits == 0 || bits >= 128 {
        return v as i128;
    }
    let shift = 128 - bits;
    ((v << shift) as i128) >> shift
}

impl fmt::Display for Value {
    /// C-like text: `{pid: 12, comm: "bash", flags: 0x0}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(v) => write!(f, "{v}"),
            Value::Uint(v) => write!(f, "{v}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Enum(Enumerator::Named(n)) => f.write_str(n),
            Value::Enum(Enumerator::Number(v)) => write!(f, "{v}"),
            Value::Ptr(p) => write!(f, "{p:#x}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Array(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Struct(fields) => {
                f.write_str("{")?;
                for (i, (n, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{n}: {v}")?;
                }
                f.write_str("}")
            }
            Value::Bytes(b) => {
                f.write_str("<")?;
                for (i, x) in b.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{x:02x}")?;
                }
                f.write_str(">")
            }
        }
    }
}

impl Value {
    /// The value as JSON text (numbers beyond 2^53 as numbers too: JSON
    /// allows them, and `jq` keeps them exact with `--arg`).
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.write_json(&mut out);
        out
    }

    fn write_json(&self, out: &mut String) {
        match self {
            Value::Int(v) => {
                let _ = write!(out, "{v}");
            }
            Value::Uint(v) => {
                let _ = write!(out, "{v}");
            }
            Value::Bool(b) => {
                let _ = write!(out, "{b}");
            }
            Value::Float(x) if x.is_finite() => {
                let _ = write!(out, "{x}");
            }
            Value::Float(_) => out.push_str("null"),
            Value::Enum(Enumerator::Named(n)) => json_string(out, n),
            Value::Enum(Enumerator::Number(v)) => {
                let _ = write!(out, "{v}");
            }
            Value::Ptr(p) => json_string(out, &format!("{p:#x}")),
            Value::Str(s) => json_string(out, s),
            Value::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write_json(out);
                }
                out.push(']');
            }
            Value::Struct(fields) => {
                out.push('{');
                for (i, (n, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    json_string(out, n);
                    out.push(':');
                    v.write_json(out);
                }
                out.push('}');
            }
            Value::Bytes(b) => {
                out.push('[');
                for (i, x) in b.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{x}");
                }
                out.push(']');
            }
        }
    }
}

fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BtfBuilder, IntEncoding};

    #[test]
    fn structs_ints_strings_enums_bitfields() {
        let mut b = BtfBuilder::new();
        let u32_ = b.add_int("unsigned int", 4, IntEncoding::NONE);
        let i16_ = b.add_int("short", 2, IntEncoding::SIGNED);
        let ch = b.add_int("char", 1, IntEncoding::SIGNED);
        let idx = b.add_int("int", 4, IntEncoding::SIGNED);
        let comm = b.add_array(ch, idx, 8);
        let color = b.add_enum("color", 4, false, &[("RED", 0), ("GREEN", 1)]);
        let bools = b.add_int("_Bool", 1, IntEncoding::BOOL);
        let s = b.add_struct_bitfields(
            "ev",
            20,
            &[
                ("pid", u32_, 0, 0),
                ("delta", i16_, 32, 0),
                ("comm", comm, 48, 0),
                ("color", color, 112, 0),
                ("lo", u32_, 144, 3),
                ("hi", idx, 147, 5),
            ],
        );
        let _ = bools;
        let btf = Btf::from_vec(b.build()).unwrap();
        let mut bytes = vec![0u8; 20];
        bytes[0..4].copy_from_slice(&1234u32.to_le_bytes());
        bytes[4..6].copy_from_slice(&(-5i16).to_le_bytes());
        bytes[6..10].copy_from_slice(b"bash");
        bytes[14..18].copy_from_slice(&1u32.to_le_bytes());
        // lo = 5 (bits 144..147), hi = -3 (5 bits at 147: 0b11101).
        let word = 5u16 | (0b11101u16 << 3);
        bytes[18..20].copy_from_slice(&word.to_le_bytes());
        let v = btf.decode_value(s, &bytes).unwrap();
        assert_eq!(
            v.to_string(),
            "{pid: 1234, delta: -5, comm: \"bash\", color: GREEN, lo: 5, hi: -3}"
        );
        assert_eq!(
            v.to_json(),
            r#"{"pid":1234,"delta":-5,"comm":"bash","color":"GREEN","lo":5,"hi":-3}"#
        );
        assert!(matches!(
            btf.decode_value(s, &bytes[..10]),
            Err(Error::ValueTooShort { .. })
        ));
    }
}
