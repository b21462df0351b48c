//! Fixing an object's BTF so that the kernel accepts it: DATASEC sizes, VAR
//! offsets and extern declarations.

use crate::types::{Endian, FuncLinkage, Kind, Type, TypeId, VarLinkage};
use crate::{Btf, Error, Field};

/// What the loader knows from the ELF file: section sizes and symbol
/// values. [`fixup_datasecs`] asks it for what clang left at zero.
pub trait DatasecSource {
    /// Size in bytes of the section named `name`, or `None` if the object
    /// has no such section. For `.kconfig` (no ELF section), a loader that
    /// lays out the kconfig externs in a map of its own answers that map's
    /// value size.
    fn section_size(&self, name: &str) -> Option<u32>;

    /// Offset of variable `var` in section `section` (the value of its
    /// symbol), or `None` if unknown. For an extern variable, `Some` means
    /// the loader gives it a place in the section (kconfig externs in the
    /// loader's `.kconfig` map); `None` means it is resolved elsewhere
    /// (a kernel symbol) and is dropped from the DATASEC.
    fn var_offset(&self, section: &str, var: &str) -> Option<u32>;

    /// Whether the global function `name` is hidden from other objects
    /// (ELF visibility `hidden` or `internal`, as `__hidden` in BPF C
    /// headers declares it). Such a function has no callers outside the
    /// object, so its FUNC becomes `static`: the verifier then checks it in
    /// each caller's context instead of on its own against its BTF
    /// prototype (which a helper library's functions taking a context
    /// pointer do not survive). The default answers `false`.
    fn is_hidden_func(&self, name: &str) -> bool {
        let _ = name;
        false
    }
}

/// Returns a copy of `btf` in native byte order that the kernel accepts:
///
/// - **DATASEC size**: a DATASEC of size 0 gets the size of the section of
///   its name ([`DatasecSource::section_size`]). A DATASEC with variables
///   but no such section is an error ([`Error::DatasecNoSection`]). One left
///   with no variables (`.ksyms` holding only kernel symbols and kfuncs)
///   becomes an anonymous empty STRUCT (of size 1 when it has no section):
///   kernels before 5.13 refuse a DATASEC without variables, every kernel
///   one of size 0, and no map refers to it.
/// - **VAR offsets**: every variable of a DATASEC gets the offset of its
///   symbol ([`DatasecSource::var_offset`]; missing is an error,
///   [`Error::DatasecNoSymbol`]); an entry's size 0 becomes the variable
///   type's size. Entries are then sorted by offset, as the kernel
///   requires, and checked to lie inside the section without overlapping
///   ([`Error::DatasecLayout`]).
/// - **Externs**: the kernel refuses `extern` VARs and FUNCs, and DATASEC
///   entries that are not VARs. FUNC entries (kfuncs in `.ksyms`) are
///   removed from DATASECs; an extern VAR the source places gets its offset
///   and becomes `global` (it is allocated in the loader's map); one it does
///   not place is removed from its DATASEC. All remaining extern VARs
///   become `static` (those of type `void`, typeless ksyms, TYPEDEFs of
///   it, since a VAR needs a sized type), and extern FUNCs TYPEDEFs of their prototypes
///   (a static FUNC would need named parameters, which declarations lack):
///   declarations the kernel accepts and nothing refers to.
/// - **Hidden functions**: a global FUNC the source calls hidden
///   ([`DatasecSource::is_hidden_func`]) becomes `static`.
///
/// Type ids and string offsets do not change; only records are rewritten
/// (a DATASEC may lose entries, so later records move).
pub fn fixup_datasecs(btf: &Btf<'_>, src: &dyn DatasecSource) -> Result<Vec<u8>, Error> {
    let e = btf.endian();
    let out_e = Endian::NATIVE;
    let types_len_hint = btf.type_section().len();
    let mut types: Vec<u8> = Vec::with_capacity(types_len_hint);
    let mut words: Vec<u32> = Vec::new();
    let placed = placed_externs(btf, src)?;
    for (id, t) in btf.types() {
        let raw = btf.raw_record(id).unwrap_or(&[]);
        words.clear();
        words.extend(raw.chunks_exact(4).map(|c| e.u32([c[0], c[1], c[2], c[3]])));
        match t {
            Type::Datasec(d) => fix_datasec(btf, src, id, &d, &mut words)?,
            Type::Var(v)
                if v.linkage == VarLinkage::GlobalExtern
                    && placed.binary_search(&id).is_err()
                    && btf.skip_mods(v.ty)?.is_void() =>
            {
                // A typeless ksym (`extern const void sym __ksym`): the
                // kernel refuses a VAR of type void. Nothing refers to it, so
                // it becomes a TYPEDEF of the same type (one word shorter).
                log::debug!(target: "oxbpf::btf", "VAR [{id}]: typeless extern -> typedef");
                words.truncate(3);
                if let Some(w) = words.get_mut(1) {
                    *w = (Kind::Typedef as u32) << 24;
                }
            }
            Type::Var(v) if v.linkage == VarLinkage::GlobalExtern => {
                let l = if placed.binary_search(&id).is_ok() {
                    VarLinkage::GlobalAllocated
                } else {
                    VarLinkage::Static
                };
                log::debug!(target: "oxbpf::btf", "VAR [{id}]: extern linkage -> {l:?}");
                if let Some(w) = words.get_mut(3) {
                    *w = l.to_u32();
                }
            }
            Type::Func(f) if f.linkage == FuncLinkage::Extern => {
                // A kfunc declaration. The kernel refuses extern FUNCs, and a
                // static FUNC needs named parameters, which clang does not
                // record for declarations; nothing refers to the FUNC, so it
                // becomes a TYPEDEF of its prototype (same id, same name).
                log::debug!(target: "oxbpf::btf", "FUNC [{id}]: extern -> typedef of its prototype");
                if let Some(w) = words.get_mut(1) {
                    *w = (Kind::Typedef as u32) << 24;
                }
            }
            Type::Func(f)
                if f.linkage == FuncLinkage::Global
                    && btf
                        .string_at(t.name_off())
                        .is_ok_and(|name| src.is_hidden_func(name)) =>
            {
                log::debug!(target: "oxbpf::btf", "FUNC [{id}]: hidden global -> static");
                if let Some(w) = words.get_mut(1) {
                    *w = (*w & !0xffff) | u32::from(FuncLinkage::Static.to_u16());
                }
            }
            _ => {}
        }
        for &w in &words {
            types.extend_from_slice(&out_e.u32_bytes(w));
        }
    }
    let strs = btf.string_section();
    let mut out = Vec::with_capacity(24 + types.len() + strs.len());
    out.extend_from_slice(&out_e.u16_bytes(crate::BTF_MAGIC));
    out.push(1);
    out.push(btf.header().flags);
    for v in [
        24,
        0,
        types.len() as u32,
        types.len() as u32,
        strs.len() as u32,
    ] {
        out.extend_from_slice(&out_e.u32_bytes(v));
    }
    out.extend_from_slice(&types);
    out.extend_from_slice(strs);
    Ok(out)
}

/// Name of a DATASEC entry's type, with the error saying where.
fn entry_name<'b>(btf: &'b Btf<'_>, ds: TypeId, i: u32, ty: TypeId) -> Result<&'b str, Error> {
    let ty = btf.check_ref(ds, ty, Field::SecVar(i))?;
    let t = btf.type_by_id(ty)?;
    btf.string_at(t.name_off())
        .map_err(|e| btf.name_error(ty, t.kind(), Field::Name, t.name_off(), e))
}

fn fix_datasec(
    btf: &Btf<'_>,
    src: &dyn DatasecSource,
    id: TypeId,
    d: &crate::Datasec<'_>,
    words: &mut Vec<u32>,
) -> Result<(), Error> {
    let sec = btf
        .string_at(d.name_off())
        .map_err(|e| btf.name_error(id, Kind::Datasec, Field::Name, d.name_off(), e))?;
    let mut entries: Vec<(TypeId, u32, u32, &str)> = Vec::with_capacity(d.len());
    for (i, v) in d.vars().enumerate() {
        let i = i as u32;
        let name = entry_name(btf, id, i, v.ty)?;
        let var = match btf.type_by_id(v.ty)? {
            Type::Var(var) => var,
            other => {
                log::debug!(
                    target: "oxbpf::btf",
                    "DATASEC [{id}] '{sec}': dropping {} '{name}'", other.kind()
                );
                continue;
            }
        };
        let off = src.var_offset(sec, name);
        let off = match (off, var.linkage) {
            (Some(o), _) => o,
            (None, VarLinkage::GlobalExtern) => {
                log::debug!(
                    target: "oxbpf::btf",
                    "DATASEC [{id}] '{sec}': dropping extern VAR '{name}' (not placed)"
                );
                continue;
            }
            (None, _) => {
                return Err(Error::DatasecNoSymbol {
                    id,
                    section: sec.to_string(),
                    index: i,
                    var: name.to_string(),
                });
            }
        };
        let size = if v.size == 0 {
            btf.resolve_size(v.ty)?
        } else {
            v.size
        };
        entries.push((v.ty, off, size, name));
    }
    let size = match (d.size(), src.section_size(sec)) {
        (0, Some(s)) => s,
        (0, None) if entries.is_empty() => 1,
        (0, None) => {
            return Err(Error::DatasecNoSection {
                id,
                name: sec.to_string(),
            });
        }
        (s, _) => s,
    };
    entries.sort_by_key(|&(_, off, _, _)| off);
    let mut end = 0u64;
    for &(_, off, sz, name) in &entries {
        let reason = if u64::from(off) < end {
            Some("overlaps the previous variable".to_string())
        } else if u64::from(off) + u64::from(sz) > u64::from(size) {
            Some(format!("exceeds the section size {size}"))
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(Error::DatasecLayout {
                id,
                section: sec.to_string(),
                var: name.to_string(),
                offset: off,
                size: sz,
                reason,
            });
        }
        end = u64::from(off) + u64::from(sz);
    }
    log::debug!(
        target: "oxbpf::btf",
        "DATASEC [{id}] '{sec}': size {size}, {} of {} entries kept", entries.len(), d.len()
    );
    let (name_off, info) = (words.first().copied(), words.get(1).copied());
    let (name_off, info) = (name_off.unwrap_or(0), info.unwrap_or(0));
    words.clear();
    if entries.is_empty() {
        // Kernels before 5.13 or so refuse a DATASEC without variables
        // ("vlen == 0"); nothing refers to this one, so it becomes an
        // anonymous empty struct of the same size (same id).
        log::debug!(target: "oxbpf::btf", "DATASEC [{id}] '{sec}': empty -> anonymous struct");
        words.extend_from_slice(&[0, (Kind::Struct as u32) << 24, size]);
        return Ok(());
    }
    words.extend_from_slice(&[name_off, (info & !0xffff) | entries.len() as u32, size]);
    for (ty, off, sz, _) in entries {
        words.extend_from_slice(&[ty.0, off, sz]);
    }
    Ok(())
}

/// Extern VARs that the source places in their DATASEC, sorted.
fn placed_externs(btf: &Btf<'_>, src: &dyn DatasecSource) -> Result<Vec<TypeId>, Error> {
    let mut placed = Vec::new();
    for (id, t) in btf.types() {
        let Type::Datasec(d) = t else { continue };
        let Ok(sec) = btf.string_at(d.name_off()) else {
            continue;
        };
        for (i, v) in d.vars().enumerate() {
            if let Ok(Type::Var(var)) = btf.type_by_id(v.ty)
                && var.linkage == VarLinkage::GlobalExtern
                && src
                    .var_offset(sec, entry_name(btf, id, i as u32, v.ty)?)
                    .is_some()
            {
                placed.push(v.ty);
            }
        }
    }
    placed.sort_unstable();
    Ok(placed)
}
