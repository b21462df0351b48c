//! Access strings: `"0:1:2"`.

use std::fmt;

use crate::error::Error;

/// The most accessors an access string may have. Clang emits one per
/// member or array subscript in an expression; 64 is far beyond anything
/// real and bounds the work a hostile record can ask for.
pub const MAX_ACCESS_LEN: usize = 64;

/// A parsed access string: the first index is the array index applied to
/// the root type (`p[n]`, 0 for `p->`), the rest are member indices
/// (for structs and unions, in declaration order, anonymous members
/// included) or element indices (for arrays).
///
/// ```
/// use oxbpf_reloc::AccessPath;
///
/// let p = AccessPath::parse("1:2:0:5")?;
/// assert_eq!(p.indices(), &[1, 2, 0, 5]);
/// assert_eq!(p.to_string(), "1:2:0:5");
/// assert!(AccessPath::parse("1::2").is_err());
/// # Ok::<(), oxbpf_reloc::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct AccessPath {
    idx: Vec<u32>,
}

impl AccessPath {
    /// Parses an access string: decimal `u32`s separated by `:`, at least
    /// one and at most [`MAX_ACCESS_LEN`]. Leading zeros are accepted,
    /// signs, spaces and empty components are not.
    pub fn parse(s: &str) -> Result<AccessPath, Error> {
        AccessPath::parse_bytes(s.as_bytes())
    }

    /// Like [`AccessPath::parse`], on raw bytes (what a BTF string section
    /// holds); any byte sequence gives a result or an error, never a panic.
    pub fn parse_bytes(s: &[u8]) -> Result<AccessPath, Error> {
        parse_raw(s)
            .map(|p| AccessPath {
                idx: p.indices().to_vec(),
            })
            .map_err(|(pos, reason)| Error::AccessString {
                access: String::from_utf8_lossy(&s[..s.len().min(256)]).into_owned(),
                pos,
                reason,
            })
    }

    /// The indices.
    pub fn indices(&self) -> &[u32] {
        &self.idx
    }

    /// Number of indices (at least 1).
    pub fn len(&self) -> usize {
        self.idx.len()
    }

    /// Whether there are no indices (never true for a parsed path).
    pub fn is_empty(&self) -> bool {
        self.idx.is_empty()
    }
}

impl fmt::Display for AccessPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.idx.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{v}")?;
        }
        Ok(())
    }
}

/// Indices parsed into a fixed buffer (no allocation).
pub(crate) struct Parsed {
    buf: [u32; MAX_ACCESS_LEN],
    len: usize,
}

impl Parsed {
    pub fn indices(&self) -> &[u32] {
        &self.buf[..self.len]
    }
}

/// Parses into indices; the error is (byte position, reason).
pub(crate) fn parse_raw(s: &[u8]) -> Result<Parsed, (usize, &'static str)> {
    if s.is_empty() {
        return Err((0, "empty"));
    }
    let mut out = Parsed {
        buf: [0; MAX_ACCESS_LEN],
        len: 0,
    };
    let mut cur: Option<u32> = None;
    for (pos, &c) in s.iter().enumerate() {
        match c {
            b'0'..=b'9' => {
                let d = u32::from(c - b'0');
                let v = cur
                    .unwrap_or(0)
                    .checked_mul(10)
                    .and_then(|v| v.checked_add(d))
                    .ok_or((pos, "index does not fit 32 bits"))?;
                cur = Some(v);
            }
            b':' => {
                let v = cur.take().ok_or((pos, "empty index"))?;
                let slot = out.buf.get_mut(out.len).ok_or((pos, "too many indices"))?;
                *slot = v;
                out.len += 1;
            }
            _ => return Err((pos, "expected a digit or ':'")),
        }
    }
    let v = cur.ok_or((s.len(), "empty index"))?;
    let slot = out
        .buf
        .get_mut(out.len)
        .ok_or((s.len(), "too many indices"))?;
    *slot = v;
    out.len += 1;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &str) -> (usize, &'static str) {
        match parse_raw(s.as_bytes()) {
            Ok(p) => panic!("{s:?} parsed as {:?}", p.indices()),
            Err(e) => e,
        }
    }

    #[test]
    fn parses_valid_strings() {
        assert_eq!(AccessPath::parse("0").unwrap().indices(), &[0]);
        assert_eq!(AccessPath::parse("0:1:2").unwrap().indices(), &[0, 1, 2]);
        assert_eq!(
            AccessPath::parse("007:4294967295").unwrap().indices(),
            &[7, u32::MAX]
        );
        let max = vec!["1"; MAX_ACCESS_LEN].join(":");
        assert_eq!(AccessPath::parse(&max).unwrap().len(), MAX_ACCESS_LEN);
    }

    #[test]
    fn rejects_malformed_strings_saying_where() {
        assert_eq!(err(""), (0, "empty"));
        assert_eq!(err(":"), (0, "empty index"));
        assert_eq!(err("1:"), (2, "empty index"));
        assert_eq!(err("1::2"), (2, "empty index"));
        assert_eq!(err("1:x"), (2, "expected a digit or ':'"));
        assert_eq!(err(" 1"), (0, "expected a digit or ':'"));
        assert_eq!(err("-1"), (0, "expected a digit or ':'"));
        assert_eq!(err("4294967296"), (9, "index does not fit 32 bits"));
        let over = vec!["1"; MAX_ACCESS_LEN + 1].join(":");
        assert_eq!(err(&over).1, "too many indices");
        let e = AccessPath::parse("1:x").unwrap_err().to_string();
        assert_eq!(
            e,
            "access string \"1:x\": expected a digit or ':' at byte 2"
        );
    }

    #[test]
    fn display_round_trips() {
        for s in ["0", "1:2:0:5", "4294967295:0"] {
            assert_eq!(AccessPath::parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn never_panics_on_random_bytes() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let alphabet = b"0123456789:::9x\0-";
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 40) as usize;
            let mut s = Vec::with_capacity(len);
            let mut y = x;
            for _ in 0..len {
                y = y
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let c = if y >> 60 == 0 {
                    (y >> 32) as u8
                } else {
                    alphabet[((y >> 33) % alphabet.len() as u64) as usize]
                };
                s.push(c);
            }
            if let Ok(p) = AccessPath::parse_bytes(&s) {
                // What parses prints back to an equivalent path.
                let again = AccessPath::parse(&p.to_string()).unwrap();
                assert_eq!(again, p);
            }
        }
    }
}
