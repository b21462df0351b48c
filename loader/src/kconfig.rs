//! The `.kconfig` map: the layout of an object's kconfig externs, read
//! from its BTF when planning ([`layout`]), and their values, encoded from
//! a kernel's configuration as each declared C type says ([`image`],
//! [`fill`]).
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
//!
//! The layout is part of the plan ([`oxbpf_plan::KconfigVar`]), so the
//! values can be computed wherever the object is loaded: by the planner
//! for live loads, and by the light-skeleton runtime on the target for a
//! generated loader, which carries the layout instead of the build
//! host's values. Both use [`fill`].

use oxbpf_btf::{Btf, Type, TypeId};
use oxbpf_elf_bpf::{ExternKind, Externs};
use oxbpf_plan::{KconfigKind, KconfigVar};

use crate::error::{Error, Result};
use crate::target::Target;

/// The values a loader computes instead of reading them from the
/// configuration.
const COMPUTED: [&str; 3] = [
    "LINUX_KERNEL_VERSION",
    "LINUX_HAS_SYSCALL_WRAPPER",
    "LINUX_HAS_BPF_COOKIE",
];

/// The layout of the `.kconfig` map: every kconfig extern of the object
/// with its slot and how its type encodes a value. Refuses names no
/// loader can supply and types no value can be encoded as.
pub(crate) fn layout(btf: &Btf<'_>, externs: &Externs) -> Result<Vec<KconfigVar>> {
    let mut out = Vec::new();
    for ext in &externs.list {
        let ExternKind::Kconfig { offset, size, ty } = ext.kind else {
            continue;
        };
        let fail = |reason: String| Error::Kconfig {
            name: ext.name.clone(),
            reason,
        };
        if !ext.name.starts_with("CONFIG_") && !COMPUTED.contains(&ext.name.as_str()) {
            return Err(fail(format!(
                "{} is neither CONFIG_* nor a LINUX_* value the loader computes",
                ext.name
            )));
        }
        let var = KconfigVar {
            name: ext.name.clone(),
            offset,
            size,
            kind: kind_of(btf, ty, size).map_err(fail)?,
            weak: ext.weak,
        };
        var.check().map_err(|e| fail(e.to_owned()))?;
        out.push(var);
    }
    Ok(out)
}

/// How the declared type `ty` (of `size` bytes) encodes a value.
fn kind_of(btf: &Btf<'_>, ty: TypeId, size: u32) -> Result<KconfigKind, String> {
    let t = btf.type_by_id(ty).map_err(|e| e.to_string())?;
    Ok(match t {
        Type::Int(int) if int.encoding.is_bool() => KconfigKind::Bool,
        // clang describes plain `char` as a 1-byte INT named "char", often
        // without the CHAR encoding bit.
        Type::Int(int)
            if int.size == 1
                && (int.encoding.is_char() || btf.name(ty).is_ok_and(|n| n == "char")) =>
        {
            KconfigKind::Char
        }
        Type::Enum(e) if btf.name(ty).map_err(|e| e.to_string())? == "libbpf_tristate" => {
            let value = |wanted: &str| {
                e.values()
                    .find(|v| btf.string_at(v.name_off).is_ok_and(|n| n == wanted))
                    .map(|v| v.as_i64())
                    .ok_or_else(|| format!("enum libbpf_tristate has no {wanted}"))
            };
            KconfigKind::Tristate {
                signed: e.is_signed(),
                no: value("TRI_NO")?,
                yes: value("TRI_YES")?,
                module: value("TRI_MODULE")?,
            }
        }
        Type::Int(int) => {
            if size != int.size {
                return Err(format!("integer of {} bytes in a slot of {size}", int.size));
            }
            KconfigKind::Int {
                signed: int.encoding.is_signed(),
            }
        }
        Type::Array(a) => {
            let elem = btf
                .skip_mods_and_typedefs(a.elem)
                .map_err(|e| e.to_string())?;
            if !matches!(btf.type_by_id(elem), Ok(Type::Int(i)) if i.size == 1) {
                return Err("kconfig arrays must be of char".into());
            }
            KconfigKind::Str
        }
        other => {
            return Err(format!(
                "kconfig externs cannot have type kind {}",
                other.kind()
            ));
        }
    })
}

/// The value of a `.kconfig` map of `size` bytes holding `vars`, for
/// `target`.
pub(crate) fn image(vars: &[KconfigVar], size: usize, target: &Target) -> Result<Vec<u8>> {
    let mut out = vec![0u8; size];
    fill(vars, &mut out, target)?;
    Ok(out)
}

/// Writes each variable's value for `target` into its slot of `value`
/// (the `.kconfig` map's value), zeroed first: the padding and the slot of
/// a weak option the target does not set read 0, whatever `value` held.
pub(crate) fn fill(vars: &[KconfigVar], value: &mut [u8], target: &Target) -> Result<()> {
    value.fill(0);
    for var in vars {
        let fail = |reason: String| Error::Kconfig {
            name: var.name.clone(),
            reason,
        };
        let end = var.offset as usize + var.size as usize;
        let len = value.len();
        let slot = value
            .get_mut(var.offset as usize..end)
            .ok_or_else(|| fail(format!("slot ends at byte {end}, the value has {len}")))?;
        let text: Option<String> = match var.name.as_str() {
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
        let Some(text) = text else {
            if var.weak {
                continue;
            }
            return Err(fail(
                "the kernel configuration does not set it (declare it __weak to read 0)".into(),
            ));
        };
        encode(var.kind, &text, slot).map_err(fail)?;
    }
    Ok(())
}

fn yes_no(b: bool) -> String {
    if b { "y" } else { "n" }.to_owned()
}

/// Writes `value` into `slot` as `kind` says.
fn encode(kind: KconfigKind, value: &str, slot: &mut [u8]) -> Result<(), String> {
    match kind {
        KconfigKind::Bool => match value {
            "y" => slot[0] = 1,
            "n" => slot[0] = 0,
            other => return Err(format!("bool from value {other:?}")),
        },
        KconfigKind::Char => match value {
            "y" | "n" | "m" => slot[0] = value.as_bytes()[0],
            other => return Err(format!("char from value {other:?} (expected y, n or m)")),
        },
        KconfigKind::Tristate {
            signed,
            no,
            yes,
            module,
        } => {
            let v = match value {
                "y" => yes,
                "n" => no,
                "m" => module,
                other => return Err(format!("tristate from value {other:?}")),
            };
            write_int(slot, i128::from(v), signed)?;
        }
        KconfigKind::Int { signed } => {
            let n = parse_number(value).ok_or_else(|| format!("integer from value {value:?}"))?;
            write_int(slot, n, signed)?;
        }
        KconfigKind::Str => {
            let text = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
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
        let kind = kind_of(&btf, id, len as u32)?;
        let mut slot = vec![0; len];
        encode(kind, value, &mut slot).map(|()| slot)
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

    #[test]
    fn fill_overwrites_every_slot_and_zeroes_absent_weak_ones() {
        let mut target = Target::live();
        target.set_kconfig(oxbpf_syscalls::KernelConfig::parse(
            "CONFIG_HZ=300\nCONFIG_X=y\n",
            std::path::Path::new("fake"),
        ));
        let var = |name: &str, offset, size, kind, weak| KconfigVar {
            name: name.into(),
            offset,
            size,
            kind,
            weak,
        };
        let vars = [
            var("CONFIG_HZ", 0, 4, KconfigKind::Int { signed: true }, false),
            var("CONFIG_X", 4, 1, KconfigKind::Bool, false),
            var(
                "CONFIG_ABSENT",
                8,
                8,
                KconfigKind::Int { signed: false },
                true,
            ),
        ];
        let mut value = vec![0xaa; 16];
        fill(&vars, &mut value, &target).unwrap();
        assert_eq!(value[..4], 300i32.to_ne_bytes());
        assert_eq!(value[4], 1);
        assert_eq!(value[5..8], [0; 3], "padding");
        assert_eq!(value[8..], [0; 8]);
        let mut strict = vars.clone();
        strict[2].weak = false;
        assert!(matches!(
            fill(&strict, &mut value, &target),
            Err(Error::Kconfig { name, .. }) if name == "CONFIG_ABSENT"
        ));
        let mut short = vec![0; 6];
        assert!(fill(&vars, &mut short, &target).is_err());
    }
}
