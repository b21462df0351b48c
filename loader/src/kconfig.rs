//! The `.kconfig` map image: kconfig externs encoded from the target
//! kernel's configuration, each as its declared C type says.
//!
//! | declared type                 | config value | stored as                    |
//! |-------------------------------|--------------|------------------------------|
//! | `bool`                        | `y` / `n`    | 1 / 0                        |
//! | `char`                        | `y` `n` `m`  | the character                |
//! | `enum libbpf_tristate`        | `y` `n` `m`  | `TRI_YES` `TRI_NO` `TRI_MODULE` |
//! | integers (1, 2, 4, 8 bytes)   | number       | the number (range-checked)   |
//! | `char[N]`                     | `"string"`   | the bytes, NUL-terminated    |
//!
//! Besides `CONFIG_*`, three names are computed: `LINUX_KERNEL_VERSION`,
//! `LINUX_HAS_SYSCALL_WRAPPER` and `LINUX_HAS_BPF_COOKIE`. An option the
//! configuration does not mention is an error unless the extern is
//! `__weak`, in which case it reads as zero.

use oxbpf_btf::{Btf, Type, TypeId};
use oxbpf_elf_bpf::{ExternKind, Externs};

use crate::error::{Error, Result};
use crate::target::Target;

/// Builds the value of the `.kconfig` map.
pub(crate) fn image(btf: &Btf<'_>, externs: &Externs, target: &Target) -> Result<Vec<u8>> {
    let mut out = vec![0u8; externs.kconfig_size as usize];
    for ext in &externs.list {
        let ExternKind::Kconfig { offset, size, ty } = ext.kind else {
            continue;
        };
        let fail = |reason: String| Error::Kconfig {
            name: ext.name.clone(),
            reason,
        };
        let value: Option<String> = match ext.name.as_str() {
            "LINUX_KERNEL_VERSION" => Some(target.kernel_version_code()?.to_string()),
            "LINUX_HAS_SYSCALL_WRAPPER" => Some(yes_no(target.has_syscall_wrapper()?)),
            "LINUX_HAS_BPF_COOKIE" => Some(yes_no(target.has_bpf_cookie())),
            name if name.starts_with("CONFIG_") => target.kconfig()?.get(name).map(str::to_owned),
            name => {
                return Err(fail(format!(
                    "{name} is neither CONFIG_* nor a LINUX_* value the loader computes"
                )));
            }
        };
        let Some(value) = value else {
            if ext.weak {
                continue;
            }
            return Err(fail(
                "the kernel configuration does not set it (declare it __weak to read 0)".into(),
            ));
        };
        let slot = &mut out[offset as usize..(offset + size) as usize];
        encode(btf, ty, &value, slot).map_err(fail)?;
    }
    Ok(out)
}

fn yes_no(b: bool) -> String {
    if b { "y" } else { "n" }.to_owned()
}

/// Writes `value` into `slot` as the type `ty` declares.
fn encode(btf: &Btf<'_>, ty: TypeId, value: &str, slot: &mut [u8]) -> Result<(), String> {
    let t = btf.type_by_id(ty).map_err(|e| e.to_string())?;
    match t {
        Type::Int(int) if int.encoding.is_bool() => match value {
            "y" => slot[0] = 1,
            "n" => slot[0] = 0,
            other => return Err(format!("bool from value {other:?}")),
        },
        // clang describes plain `char` as a 1-byte INT named "char", often
        // without the CHAR encoding bit.
        Type::Int(int)
            if int.size == 1
                && (int.encoding.is_char() || btf.name(ty).is_ok_and(|n| n == "char")) =>
        {
            match value {
                "y" | "n" | "m" => slot[0] = value.as_bytes()[0],
                other => return Err(format!("char from value {other:?} (expected y, n or m)")),
            }
        }
        Type::Enum(e) if btf.name(ty).map_err(|e| e.to_string())? == "libbpf_tristate" => {
            let wanted = match value {
                "y" => "TRI_YES",
                "n" => "TRI_NO",
                "m" => "TRI_MODULE",
                other => return Err(format!("tristate from value {other:?}")),
            };
            let v = e
                .values()
                .find(|v| btf.string_at(v.name_off).is_ok_and(|n| n == wanted))
                .ok_or_else(|| format!("enum libbpf_tristate has no {wanted}"))?;
            write_int(slot, v.value(), e.is_signed())?;
        }
        Type::Int(int) => {
            let n = parse_number(value).ok_or_else(|| format!("integer from value {value:?}"))?;
            if slot.len() != int.size as usize {
                return Err(format!(
                    "integer of {} bytes in a slot of {}",
                    int.size,
                    slot.len()
                ));
            }
            write_int(slot, n, int.encoding.is_signed())?;
        }
        Type::Array(a) => {
            let elem = btf
                .skip_mods_and_typedefs(a.elem)
                .map_err(|e| e.to_string())?;
            let is_char = matches!(btf.type_by_id(elem), Ok(Type::Int(i)) if i.size == 1);
            let text = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .filter(|_| is_char)
                .ok_or_else(|| {
                    format!("char array from value {value:?} (expected a quoted string)")
                })?;
            if text.len() >= slot.len() {
                return Err(format!(
                    "string of {} bytes does not fit char[{}]",
                    text.len(),
                    slot.len()
                ));
            }
            slot[..text.len()].copy_from_slice(text.as_bytes());
        }
        other => {
            return Err(format!(
                "kconfig externs cannot have type kind {}",
                other.kind()
            ));
        }
    }
    Ok(())
}

/// Parses a config number: decimal, or hexadecimal with `0x`, optionally negative.
fn parse_number(s: &str) -> Option<i128> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let n = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) => i128::from_str_radix(hex, 16).ok()?,
        None => digits.parse::<i128>().ok()?,
    };
    Some(if neg { -n } else { n })
}

/// Stores `n` in native byte order in `slot`, refusing values out of range.
fn write_int(slot: &mut [u8], n: i128, signed: bool) -> Result<(), String> {
    let bits = slot.len() as u32 * 8;
    if !matches!(bits, 8 | 16 | 32 | 64) {
        return Err(format!("integer of {} bytes", slot.len()));
    }
    let (min, max) = if signed {
        (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
    } else {
        (0, (1i128 << bits) - 1)
    };
    if n < min || n > max {
        return Err(format!(
            "value {n} does not fit a {}{bits}",
            if signed { "s" } else { "u" }
        ));
    }
    let bytes = (n as u64).to_ne_bytes();
    let range = if cfg!(target_endian = "little") {
        0..slot.len()
    } else {
        8 - slot.len()..8
    };
    slot.copy_from_slice(&bytes[range]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use oxbpf_btf::{BtfBuilder, IntEncoding};

    use super::*;

    fn with_type(f: impl FnOnce(&mut BtfBuilder) -> TypeId) -> (Vec<u8>, TypeId) {
        let mut b = BtfBuilder::new();
        let id = f(&mut b);
        (b.build(), id)
    }

    fn enc(bytes: &[u8], id: TypeId, value: &str, len: usize) -> Result<Vec<u8>, String> {
        let btf = Btf::parse(bytes).unwrap();
        let mut slot = vec![0; len];
        encode(&btf, id, value, &mut slot).map(|()| slot)
    }

    #[test]
    fn bool_char_and_tristate() {
        let (b, id) = with_type(|b| b.add_int("_Bool", 1, IntEncoding::BOOL));
        assert_eq!(enc(&b, id, "y", 1).unwrap(), [1]);
        assert_eq!(enc(&b, id, "n", 1).unwrap(), [0]);
        assert!(enc(&b, id, "m", 1).is_err());
        let (b, id) = with_type(|b| b.add_int("char", 1, IntEncoding::CHAR));
        assert_eq!(enc(&b, id, "m", 1).unwrap(), [b'm']);
        let (b, id) = with_type(|b| {
            b.add_enum(
                "libbpf_tristate",
                4,
                false,
                &[("TRI_NO", 0), ("TRI_YES", 1), ("TRI_MODULE", 2)],
            )
        });
        assert_eq!(enc(&b, id, "m", 4).unwrap(), 2u32.to_ne_bytes());
        assert_eq!(enc(&b, id, "y", 4).unwrap(), 1u32.to_ne_bytes());
    }

    #[test]
    fn integers_are_range_checked() {
        let (b, u32_) = with_type(|b| b.add_int("unsigned int", 4, IntEncoding::NONE));
        assert_eq!(enc(&b, u32_, "250", 4).unwrap(), 250u32.to_ne_bytes());
        assert_eq!(enc(&b, u32_, "0x10", 4).unwrap(), 16u32.to_ne_bytes());
        assert!(enc(&b, u32_, "4294967296", 4).is_err());
        assert!(enc(&b, u32_, "-1", 4).is_err());
        assert!(enc(&b, u32_, "y", 4).is_err());
        let (b, s8) = with_type(|b| b.add_int("signed char", 1, IntEncoding::SIGNED));
        assert_eq!(enc(&b, s8, "-128", 1).unwrap(), [0x80]);
        assert!(enc(&b, s8, "128", 1).is_err());
        let (b, u64_) = with_type(|b| b.add_int("u64", 8, IntEncoding::NONE));
        assert_eq!(
            enc(&b, u64_, "0xffffffffffffffff", 8).unwrap(),
            u64::MAX.to_ne_bytes()
        );
    }

    #[test]
    fn strings_fit_or_fail() {
        let (b, id) = with_type(|b| {
            let ch = b.add_int("char", 1, IntEncoding::CHAR);
            let idx = b.add_int("int", 4, IntEncoding::SIGNED);
            b.add_array(ch, idx, 8)
        });
        assert_eq!(enc(&b, id, "\"abc\"", 8).unwrap(), *b"abc\0\0\0\0\0");
        assert!(
            enc(&b, id, "\"12345678\"", 8).is_err(),
            "no room for the NUL"
        );
        assert!(enc(&b, id, "abc", 8).is_err(), "unquoted");
    }
}
