//! Candidate lookup: target types whose essential name and kind match a
//! local type, and the cache that keeps them for all programs of an object.

use std::rc::Rc;
use std::sync::Arc;

use hashbrown::HashMap;
use oxbpf_btf::{Btf, Kind, TypeId};

/// The essential name of a type or enumerator: the name without its
/// flavor suffix, i.e. without everything from the last `___`
/// (`task_struct___old` → `task_struct`). Names without `___` are their
/// own essential name.
///
/// ```
/// use oxbpf_reloc::essential_name;
/// assert_eq!(essential_name("task_struct___old"), "task_struct");
/// assert_eq!(essential_name("a___b___c"), "a___b");
/// assert_eq!(essential_name("pid"), "pid");
/// ```
pub fn essential_name(name: &str) -> &str {
    match name.rfind("___") {
        Some(i) => &name[..i],
        None => name,
    }
}

/// [`essential_name`] on bytes.
pub(crate) fn essential_bytes(name: &[u8]) -> &[u8] {
    match name.windows(3).rposition(|w| w == b"___") {
        Some(i) => &name[..i],
        None => name,
    }
}

/// A type in one of the target BTFs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TargetType {
    /// Which target BTF: 0 is the main target (vmlinux or a BTF file),
    /// `i > 0` is the `i-1`th module BTF given to
    /// [`crate::CoreRelocator::with_modules`].
    pub btf: usize,
    /// The type id in that BTF.
    pub id: TypeId,
}

/// Whether a target type of kind `t` may be a candidate for a local type
/// of kind `l`: same kind, except that ENUM and ENUM64 stand for each
/// other.
pub(crate) fn kinds_compatible(l: Kind, t: Kind) -> bool {
    l == t || (is_enum(l) && is_enum(t))
}

pub(crate) fn is_enum(k: Kind) -> bool {
    matches!(k, Kind::Enum | Kind::Enum64)
}

/// Identifies the BTFs a cache was filled for, so that a cache reused with
/// other BTFs starts over instead of answering with stale ids.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Fingerprint {
    local: (u32, u32, usize),
    targets: Vec<(u32, u32, usize)>,
}

fn print(btf: &Btf<'_>) -> (u32, u32, usize) {
    (
        btf.types_len(),
        btf.strings_end(),
        btf.as_bytes().as_ptr() as usize,
    )
}

/// Target types whose names carry a flavor suffix, by essential name.
/// Kernels seldom have such names (vmlinux 6.18: one struct,
/// `nf_conn___init`), so the map is tiny; building it takes one substring
/// search over the target's strings, done at most once per target and
/// cache, and only when some lookup finds no exact name.
#[derive(Debug, Default)]
struct Flavored {
    by_essential: HashMap<Box<[u8]>, Vec<TypeId>>,
}

impl Flavored {
    /// Finds the flavored names in the target's own string section (a
    /// SIMD substring search for `___`: ~2 MB for vmlinux), then the types
    /// so named through the name index.
    fn build(btf: &Btf<'_>) -> Flavored {
        let mut by_essential: HashMap<Box<[u8]>, Vec<TypeId>> = HashMap::new();
        let strs = btf.string_section();
        let mut last_start = usize::MAX;
        for pos in memchr::memmem::find_iter(strs, b"___") {
            let start = memchr::memrchr(0, &strs[..pos]).map_or(0, |i| i + 1);
            if start == last_start {
                continue;
            }
            last_start = start;
            let end = memchr::memchr(0, &strs[pos..]).map_or(strs.len(), |i| pos + i);
            let name = &strs[start..end];
            let ess = essential_bytes(name);
            let Ok(full) = std::str::from_utf8(name) else {
                continue;
            };
            if ess.is_empty() {
                continue;
            }
            for id in btf.find_all_by_name(full) {
                let relevant = btf.kind(id).is_ok_and(|k| {
                    matches!(
                        k,
                        Kind::Struct
                            | Kind::Union
                            | Kind::Enum
                            | Kind::Enum64
                            | Kind::Fwd
                            | Kind::Typedef
                            | Kind::Int
                            | Kind::Float
                    )
                });
                if id >= btf.first_id() && relevant {
                    by_essential.entry(ess.into()).or_default().push(id);
                }
            }
        }
        Flavored { by_essential }
    }
}

/// What the cache keeps for one local type.
#[derive(Debug)]
struct Entry {
    /// Its description ("struct task_struct").
    root: Arc<str>,
    /// Its candidates, once looked up.
    cands: Option<Rc<[TargetType]>>,
}

/// Candidates found for each local type, shared by all programs of an
/// object: the caller keeps one `CandidateCache` per object (and set of
/// target BTFs) and passes it to every [`crate::CoreRelocator`].
///
/// Lookups go through the target BTF's name index by essential name (one
/// hash lookup). Only when a target has no type of that exact name are its
/// types whose own names carry a flavor (`name___suffix`) considered,
/// through a side index built on that first miss. A cache given other
/// BTFs than it was filled for empties itself first.
#[derive(Debug, Default)]
pub struct CandidateCache {
    fingerprint: Option<Fingerprint>,
    entries: HashMap<TypeId, Entry>,
    flavored: Vec<Option<Flavored>>,
    lookups: u64,
    hits: u64,
}

impl CandidateCache {
    /// An empty cache.
    pub fn new() -> CandidateCache {
        CandidateCache::default()
    }

    /// Number of local types whose candidates are cached.
    pub fn len(&self) -> usize {
        self.entries.values().filter(|e| e.cands.is_some()).count()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// (lookups, of which answered from the cache).
    pub fn stats(&self) -> (u64, u64) {
        (self.lookups, self.hits)
    }

    /// Empties the cache if it was filled for other BTFs.
    pub(crate) fn bind(&mut self, local: &Btf<'_>, targets: &[&Btf<'_>]) {
        let fp = Fingerprint {
            local: print(local),
            targets: targets.iter().map(|t| print(t)).collect(),
        };
        if self.fingerprint.as_ref() != Some(&fp) {
            if self.fingerprint.is_some() {
                log::debug!(target: "oxbpf::reloc", "candidate cache: other BTFs, starting over");
            }
            self.entries.clear();
            self.flavored.clear();
            self.flavored.resize_with(targets.len(), || None);
            self.fingerprint = Some(fp);
        }
    }

    /// The description of local type `id` ("struct task_struct", made by
    /// `make` on first use) and, if `want` (local type `id` named `name`,
    /// of kind `kind`), its candidates: from the cache or looked up in
    /// `targets`, the main target first, the modules only if it has none.
    pub(crate) fn get(
        &mut self,
        id: TypeId,
        name: &[u8],
        kind: Kind,
        targets: &[&Btf<'_>],
        want: bool,
        make: impl FnOnce() -> Arc<str>,
    ) -> (Arc<str>, Option<Rc<[TargetType]>>) {
        let e = self.entries.entry(id).or_insert_with(|| Entry {
            root: make(),
            cands: None,
        });
        if !want {
            return (e.root.clone(), None);
        }
        self.lookups += 1;
        if let Some(c) = &e.cands {
            self.hits += 1;
            return (e.root.clone(), Some(c.clone()));
        }
        let root = e.root.clone();
        let ess = essential_bytes(name);
        let mut out = Vec::new();
        if !ess.is_empty() {
            for (i, t) in targets.iter().enumerate() {
                if i == 1 && !out.is_empty() {
                    break;
                }
                self.lookup(i, t, ess, kind, &mut out);
            }
        }
        log::trace!(
            target: "oxbpf::reloc",
            "candidates for [{id}] {}: {out:?}",
            String::from_utf8_lossy(name)
        );
        let c: Rc<[TargetType]> = out.into();
        if let Some(e) = self.entries.get_mut(&id) {
            e.cands = Some(c.clone());
        }
        (root, Some(c))
    }

    fn lookup(&mut self, i: usize, t: &Btf<'_>, ess: &[u8], kind: Kind, out: &mut Vec<TargetType>) {
        let own = |id: TypeId| id >= t.first_id();
        let before = out.len();
        // Not UTF-8 names are never in a target (kernel names are ASCII).
        if let Ok(s) = std::str::from_utf8(ess) {
            for id in t.find_all_by_name(s) {
                if own(id) && t.kind(id).is_ok_and(|k| kinds_compatible(kind, k)) {
                    out.push(TargetType { btf: i, id });
                }
            }
        }
        if out.len() > before {
            return;
        }
        // No exact name: target types with a flavor of it.
        if self.flavored.len() <= i {
            self.flavored.resize_with(i + 1, || None);
        }
        let fl = self.flavored[i].get_or_insert_with(|| Flavored::build(t));
        if let Some(ids) = fl.by_essential.get(ess) {
            for &id in ids {
                if t.kind(id).is_ok_and(|k| kinds_compatible(kind, k)) {
                    out.push(TargetType { btf: i, id });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxbpf_btf::{BtfBuilder, IntEncoding};

    fn get(
        cache: &mut CandidateCache,
        id: TypeId,
        name: &[u8],
        kind: Kind,
        targets: &[&Btf<'_>],
    ) -> Rc<[TargetType]> {
        cache
            .get(id, name, kind, targets, true, || "".into())
            .1
            .unwrap()
    }

    #[test]
    fn essential_names() {
        assert_eq!(essential_name("foo"), "foo");
        assert_eq!(essential_name("foo___bar"), "foo");
        assert_eq!(essential_name("foo___bar___baz"), "foo___bar");
        assert_eq!(essential_name("foo____x"), "foo_");
        assert_eq!(essential_name("___x"), "");
        assert_eq!(essential_bytes(b"foo___1"), b"foo");
        assert_eq!(essential_bytes(b"__"), b"__");
    }

    #[test]
    fn lookup_by_essential_name_and_kind_with_flavored_targets() {
        let mut b = BtfBuilder::new();
        let int = b.add_int("int", 4, IntEncoding::SIGNED);
        let s = b.add_struct("foo", 4, &[("a", int, 0)]);
        let u = b.add_union("foo", 4, &[("a", int, 0)]);
        let s2 = b.add_struct("foo___v2", 4, &[("a", int, 0)]);
        let e = b.add_enum64("foo", 8, false, &[("A", 1)]);
        let bar2 = b.add_struct("bar___v2", 4, &[("a", int, 0)]);
        let target = b.build();
        let target = Btf::parse(&target).unwrap();

        let mut l = BtfBuilder::new();
        let lint = l.add_int("int", 4, IntEncoding::SIGNED);
        let ls = l.add_struct("foo___local", 4, &[("a", lint, 0)]);
        let le = l.add_enum("foo", 4, false, &[("A", 1)]);
        let lbar = l.add_struct("bar___mine", 4, &[("a", lint, 0)]);
        let local = l.build();
        let local = Btf::parse(&local).unwrap();

        let mut cache = CandidateCache::new();
        cache.bind(&local, &[&target]);
        let c = get(&mut cache, ls, b"foo___local", Kind::Struct, &[&target]);
        let ids: Vec<TypeId> = c.iter().map(|c| c.id).collect();
        assert_eq!(ids, [s]);
        assert!(!ids.contains(&u) && !ids.contains(&s2));
        let c = get(&mut cache, le, b"foo", Kind::Enum, &[&target]);
        assert_eq!(c.iter().map(|c| c.id).collect::<Vec<_>>(), [e]);
        // Only a flavored name in the target: found through the side index.
        let c = get(&mut cache, lbar, b"bar___mine", Kind::Struct, &[&target]);
        assert_eq!(c.iter().map(|c| c.id).collect::<Vec<_>>(), [bar2]);
        // Cached: the second lookup is a hit.
        get(&mut cache, ls, b"foo___local", Kind::Struct, &[&target]);
        assert_eq!(cache.stats(), (4, 1));
        assert_eq!(cache.len(), 3);
        // Another target: the cache starts over.
        let other = BtfBuilder::new().build();
        let other = Btf::parse(&other).unwrap();
        cache.bind(&local, &[&other]);
        assert!(cache.is_empty());
        assert!(get(&mut cache, ls, b"foo___local", Kind::Struct, &[&other]).is_empty());
    }

    #[test]
    fn modules_are_searched_only_without_base_candidates() {
        let mut b = BtfBuilder::new();
        let int = b.add_int("int", 4, IntEncoding::SIGNED);
        let base_s = b.add_struct("in_base", 4, &[("a", int, 0)]);
        let base = b.build();
        let base = Btf::parse(&base).unwrap();
        let mut m = BtfBuilder::new_split(&base);
        let mod_s = m.add_struct("in_module", 4, &[("a", int, 0)]);
        let mod_dup = m.add_struct("in_base", 8, &[("a", int, 0)]);
        let module = m.build();
        let module = Btf::parse_split(&module, &base).unwrap();

        let mut l = BtfBuilder::new();
        let lint = l.add_int("int", 4, IntEncoding::SIGNED);
        let l1 = l.add_struct("in_base", 4, &[("a", lint, 0)]);
        let l2 = l.add_struct("in_module", 4, &[("a", lint, 0)]);
        let local = l.build();
        let local = Btf::parse(&local).unwrap();

        let targets = [&base, &module];
        let mut cache = CandidateCache::new();
        cache.bind(&local, &targets);
        let c = get(&mut cache, l1, b"in_base", Kind::Struct, &targets);
        assert_eq!(&*c, &[TargetType { btf: 0, id: base_s }]);
        assert_ne!(base_s, mod_dup);
        let c = get(&mut cache, l2, b"in_module", Kind::Struct, &targets);
        assert_eq!(&*c, &[TargetType { btf: 1, id: mod_s }]);
    }
}
