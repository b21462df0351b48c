//! Rust identifiers from C and ELF names: sanitized, keywords escaped,
//! deduplicated within a namespace.

use std::collections::HashSet;

/// Rust's strict and reserved keywords (2024 edition), which a C name may
/// be.
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "try", "typeof", "unsized", "virtual", "yield",
];

/// Keywords that cannot be raw identifiers either.
const NOT_RAW: &[&str] = &["crate", "self", "Self", "super", "_"];

/// Names that would shadow Rust's primitive types (or prelude items the
/// generated code relies on) if a type took them.
const RESERVED_TYPE_NAMES: &[&str] = &[
    "bool", "char", "str", "f32", "f64", "i8", "i16", "i32", "i64", "i128", "isize", "u8", "u16",
    "u32", "u64", "u128", "usize",
];

/// `name` with every character that cannot be in an identifier replaced by
/// `_`, and a `_` in front of a leading digit; `fallback` if empty.
pub(crate) fn sanitize(name: &str, fallback: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() {
        out = fallback.to_owned();
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// `name` as written in code: keywords as raw identifiers (`r#type`), or
/// with a `_` appended where a raw identifier is not allowed.
pub(crate) fn escape(name: &str) -> String {
    if NOT_RAW.contains(&name) {
        format!("{name}_")
    } else if KEYWORDS.contains(&name) {
        format!("r#{name}")
    } else {
        name.to_owned()
    }
}

/// `snake_or.dotted-name` as `CamelCase` (`.data.custom` → `DataCustom`).
pub(crate) fn camel(name: &str) -> String {
    let mut out = String::new();
    for part in name.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars);
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'X');
    }
    out
}

/// One namespace of generated names.
#[derive(Debug, Default)]
pub(crate) struct Names {
    used: HashSet<String>,
}

impl Names {
    /// A namespace where `reserved` are taken already.
    pub(crate) fn with_reserved(reserved: &[&str]) -> Names {
        Names {
            used: reserved.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    /// Claims `name` (sanitized) or, if taken, `name_1`, `name_2`...
    /// Returns the bare identifier (escape it with [`escape`] where code
    /// uses it).
    pub(crate) fn claim(&mut self, name: &str, fallback: &str) -> String {
        let base = sanitize(name, fallback);
        let base = if base == "_" { "_x".to_owned() } else { base };
        let mut candidate = base.clone();
        let mut n = 0u32;
        while self.used.contains(&candidate) {
            n += 1;
            candidate = format!("{base}_{n}");
        }
        self.used.insert(candidate.clone());
        candidate
    }

    /// Claims a type name: as [`Names::claim`], also avoiding keywords and
    /// primitive type names (a type is never a raw identifier).
    pub(crate) fn claim_type(&mut self, name: &str, fallback: &str) -> String {
        let base = sanitize(name, fallback);
        if KEYWORDS.contains(&base.as_str())
            || NOT_RAW.contains(&base.as_str())
            || RESERVED_TYPE_NAMES.contains(&base.as_str())
        {
            self.claim(&format!("{base}_"), fallback)
        } else {
            self.claim(&base, fallback)
        }
    }
}

/// A Rust string literal for `s`.
pub(crate) fn str_lit(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_ascii_graphic() || c == ' ' => out.push(c),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sanitized_escaped_and_deduplicated() {
        assert_eq!(sanitize("handle.counter", "x"), "handle_counter");
        assert_eq!(sanitize("9lives", "x"), "_9lives");
        assert_eq!(sanitize("", "anon"), "anon");
        assert_eq!(escape("type"), "r#type");
        assert_eq!(escape("self"), "self_");
        assert_eq!(escape("count"), "count");
        assert_eq!(camel(".data.custom"), "DataCustom");
        assert_eq!(camel("my_prog"), "MyProg");
        assert_eq!(camel("3d"), "X3d");
        let mut n = Names::default();
        assert_eq!(n.claim("a", "x"), "a");
        assert_eq!(n.claim("a", "x"), "a_1");
        assert_eq!(n.claim("a.", "x"), "a_");
        assert_eq!(n.claim("_", "x"), "_x");
        assert_eq!(n.claim_type("u32", "x"), "u32_");
        assert_eq!(n.claim_type("type", "x"), "type_");
        assert_eq!(str_lit("a\"b\\c\n"), "\"a\\\"b\\\\c\\u{a}\"");
    }
}
