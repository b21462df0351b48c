//! Local access specs, their match in a target type, and the
//! compatibility relations between local and target types.

use oxbpf_btf::{Btf, Endian, MAX_RESOLVE_DEPTH, Member, Type, TypeId};

use super::cand::{essential_bytes, is_enum};

/// Most types visited while comparing for one relocation.
pub(crate) const MAX_STEPS: u32 = 1 << 16;

/// Why a spec could not be computed or compared. Converted to
/// [`crate::Error`] with the relocation's location by the caller.
#[derive(Debug)]
pub(crate) enum Fail {
    Local(oxbpf_btf::Error),
    Target(oxbpf_btf::Error),
    InvalidLocal(String),
    InvalidTarget(TypeId, &'static str),
    TooComplex(&'static str),
    Ambiguous(Vec<crate::error::AmbiguousCandidate>),
    UnknownKind,
}

/// Which BTF an operation reads, to attribute its errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Local,
    Target,
}

impl Side {
    fn err(self, e: oxbpf_btf::Error) -> Fail {
        match self {
            Side::Local => Fail::Local(e),
            Side::Target => Fail::Target(e),
        }
    }
}

/// A BTF and which side it is.
#[derive(Clone, Copy)]
pub(crate) struct On<'b, 'a> {
    pub btf: &'b Btf<'a>,
    pub side: Side,
}

impl<'b, 'a> On<'b, 'a> {
    pub fn local(btf: &'b Btf<'a>) -> Self {
        On {
            btf,
            side: Side::Local,
        }
    }
    pub fn target(btf: &'b Btf<'a>) -> Self {
        On {
            btf,
            side: Side::Target,
        }
    }
    pub fn ty(&self, id: TypeId) -> Result<Type<'b>, Fail> {
        self.btf.type_by_id(id).map_err(|e| self.side.err(e))
    }
    /// The size of type `id`; the common kinds are read from the view, the
    /// others (arrays, variables...) resolved by the BTF crate.
    pub fn size(&self, id: TypeId) -> Result<u32, Fail> {
        let (r, t) = self.resolved(id)?;
        self.size_of(r, &t)
    }
    /// The size of resolved type `r` whose view is `t`.
    pub fn size_of(&self, r: TypeId, t: &Type<'_>) -> Result<u32, Fail> {
        match *t {
            Type::Int(i) => Ok(i.size),
            Type::Float(f) => Ok(f.size),
            Type::Struct(c) | Type::Union(c) => Ok(c.size()),
            Type::Enum(e) | Type::Enum64(e) => Ok(e.size()),
            Type::Ptr(_) => Ok(8),
            _ => self.btf.resolve_size(r).map_err(|e| self.side.err(e)),
        }
    }
    pub fn str(&self, off: u32) -> Result<&'b [u8], Fail> {
        self.btf.string_bytes_at(off).map_err(|e| self.side.err(e))
    }
    /// Whether the string at `off` is `name` (without scanning it for its
    /// end first; an offset out of range is not equal).
    #[inline]
    pub fn str_eq(&self, off: u32, name: &[u8]) -> bool {
        str_eq(self.btf, off, name)
    }
    /// The resolved (mods and typedefs skipped) type and its view, in one
    /// walk (each step decodes its record once).
    #[inline]
    pub fn resolved(&self, id: TypeId) -> Result<(TypeId, Type<'b>), Fail> {
        let mut cur = id;
        for _ in 0..=MAX_RESOLVE_DEPTH {
            let t = self.ty(cur)?;
            match t {
                Type::Typedef(r)
                | Type::Volatile(r)
                | Type::Const(r)
                | Type::Restrict(r)
                | Type::TypeTag(r) => cur = r.ty,
                _ => return Ok((cur, t)),
            }
        }
        Err(Fail::TooComplex("depth"))
    }
    pub fn invalid(&self, id: TypeId, why: &'static str) -> Fail {
        match self.side {
            Side::Local => Fail::InvalidLocal(format!("type [{id}]: {why}")),
            Side::Target => Fail::InvalidTarget(id, why),
        }
    }
}

fn str_eq(btf: &Btf<'_>, off: u32, name: &[u8]) -> bool {
    if off < btf.first_str_off() {
        return btf.base().is_some_and(|b| str_eq(b, off, name));
    }
    let rel = (off - btf.first_str_off()) as usize;
    let s = btf.string_section();
    s.get(rel..rel + name.len()) == Some(name) && s.get(rel + name.len()) == Some(&0)
}

/// A counter bounding the work of one relocation.
#[derive(Debug)]
pub(crate) struct Budget(u32);

impl Budget {
    pub fn new() -> Budget {
        Budget(MAX_STEPS)
    }
    fn step(&mut self) -> Result<(), Fail> {
        match self.0.checked_sub(1) {
            Some(v) => {
                self.0 = v;
                Ok(())
            }
            None => Err(Fail::TooComplex("steps")),
        }
    }
}

fn depth_ok(depth: u32) -> Result<(), Fail> {
    if depth > MAX_RESOLVE_DEPTH {
        Err(Fail::TooComplex("depth"))
    } else {
        Ok(())
    }
}

/// One accessor after the root's array index.
#[derive(Clone, Debug)]
pub(crate) enum Acc<'l> {
    /// Member `idx` of a struct or union; `name` empty if anonymous.
    Field {
        idx: u32,
        name: &'l [u8],
        /// The member's type, resolved (modifiers and typedefs skipped).
        rty: TypeId,
    },
    /// Element `idx` of an array.
    Elem { idx: u32 },
}

/// Where a field is: its bit offset from the root, its type, and its
/// bitfield size (0 for a whole field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FieldLoc {
    pub bit_off: u64,
    pub ty: TypeId,
    /// `ty` with modifiers and typedefs skipped.
    pub rty: TypeId,
    pub bitfield: u32,
}

/// A field access spec on the local BTF.
#[derive(Clone, Debug)]
pub(crate) struct FieldSpec<'l> {
    /// The root type as recorded (may be a typedef or modifier).
    pub root: TypeId,
    /// Whether the root, resolved, is a struct or union.
    pub root_composite: bool,
    /// The array index applied to the root.
    pub first: u32,
    pub accs: Vec<Acc<'l>>,
    pub loc: FieldLoc,
}

/// Whether a member is a bitfield, and its bit offset and size: the
/// kind_flag encoding gives the size in the member; the old one gives an
/// INT member type whose `offset`/`bits` do not fill its storage.
/// `mt` is the member's type, resolved.
fn member_bits(kind_flag: bool, m: &Member, mt: &Type<'_>) -> (u64, u32) {
    if kind_flag {
        return (u64::from(m.bit_offset), m.bitfield_size);
    }
    if let Type::Int(i) = mt {
        let full = i.size.saturating_mul(8);
        if i.offset != 0 || (i.bits != 0 && i.bits != full) {
            return (u64::from(m.bit_offset) + u64::from(i.offset), i.bits);
        }
    }
    (u64::from(m.bit_offset), 0)
}

/// `n` bytes in bits, as u64.
fn bits(bytes: u64) -> Option<u64> {
    bytes.checked_mul(8)
}

/// Builds the local spec of a field relocation: walks `path` from `root`.
/// `root_view` is the root with its modifiers skipped (typedefs kept) and
/// its view.
pub(crate) fn local_field_spec<'l>(
    local: &'l Btf<'_>,
    root: TypeId,
    path: &[u32],
    mut accs: Vec<Acc<'l>>,
    root_view: (TypeId, Type<'l>),
) -> Result<FieldSpec<'l>, Fail> {
    accs.clear();
    let on = On::local(local);
    let Some((&first, rest)) = path.split_first() else {
        return Err(Fail::InvalidLocal("empty access string".into()));
    };
    let (root_r, root_t) = match root_view {
        (r, Type::Typedef(_)) => on.resolved(r)?,
        v => v,
    };
    let root_composite = root_t.as_composite().is_some();
    let mut bit_off: u64 = 0;
    if first != 0 {
        let sz = on.size_of(root_r, &root_t)?;
        bit_off = bits(u64::from(sz) * u64::from(first))
            .ok_or_else(|| Fail::InvalidLocal("offset overflows".into()))?;
    }
    let mut cur = root;
    // `cur` resolved, and its view.
    let (mut rid, mut t) = (root_r, root_t);
    let mut bitfield = 0;
    accs.reserve(rest.len());
    for (i, &idx) in rest.iter().enumerate() {
        bitfield = 0;
        match t {
            Type::Struct(c) | Type::Union(c) => {
                let Some(m) = c.member(idx as usize) else {
                    return Err(Fail::InvalidLocal(format!(
                        "accessor {}: member {idx} of [{rid}], which has {}",
                        i + 1,
                        c.len()
                    )));
                };
                let name = on.str(m.name_off)?;
                let (mr, mt) = on.resolved(m.ty)?;
                let (off, bf) = member_bits(c.kind_flag(), &m, &mt);
                bit_off = bit_off
                    .checked_add(off)
                    .ok_or_else(|| Fail::InvalidLocal("offset overflows".into()))?;
                bitfield = bf;
                accs.push(Acc::Field { idx, name, rty: mr });
                cur = m.ty;
                (rid, t) = (mr, mt);
            }
            Type::Array(a) => {
                if idx >= a.nelems && a.nelems != 0 {
                    return Err(Fail::InvalidLocal(format!(
                        "accessor {}: element {idx} of [{rid}], which has {}",
                        i + 1,
                        a.nelems
                    )));
                }
                let (er, et) = on.resolved(a.elem)?;
                let esz = on.size_of(er, &et)?;
                let add = bits(u64::from(esz) * u64::from(idx))
                    .ok_or_else(|| Fail::InvalidLocal("offset overflows".into()))?;
                bit_off = bit_off
                    .checked_add(add)
                    .ok_or_else(|| Fail::InvalidLocal("offset overflows".into()))?;
                accs.push(Acc::Elem { idx });
                cur = a.elem;
                (rid, t) = (er, et);
            }
            t => {
                return Err(Fail::InvalidLocal(format!(
                    "accessor {}: [{rid}] is {:#}, neither struct, union nor array",
                    i + 1,
                    t.kind()
                )));
            }
        }
    }
    if let Some(Acc::Field { name, .. }) = accs.last()
        && name.is_empty()
    {
        return Err(Fail::InvalidLocal(
            "the access ends at an anonymous member".into(),
        ));
    }
    Ok(FieldSpec {
        root,
        root_composite,
        first,
        accs,
        loc: FieldLoc {
            bit_off,
            ty: cur,
            rty: rid,
            bitfield,
        },
    })
}

/// Finds the member named `name` in composite `id`, looking into
/// anonymous struct and union members; `hint` is the member index to try
/// first (the local index: target layouts usually keep the order).
/// Returns the member, its bit offset from the start of `id` and the
/// kind_flag of the composite that holds it.
fn find_member(
    on: On<'_, '_>,
    id: TypeId,
    c: &oxbpf_btf::Composite<'_>,
    name: &[u8],
    hint: u32,
    depth: u32,
    budget: &mut Budget,
) -> Result<Option<(Member, u64, bool)>, Fail> {
    depth_ok(depth)?;
    budget.step()?;
    if let Some(m) = c.member(hint as usize)
        && m.name_off != 0
        && on.str_eq(m.name_off, name)
    {
        return Ok(Some((m, 0, c.kind_flag())));
    }
    for m in c.members() {
        budget.step()?;
        if m.name_off != 0 {
            if on.str_eq(m.name_off, name) {
                return Ok(Some((m, 0, c.kind_flag())));
            }
            continue;
        }
        let (r, t) = on.resolved(m.ty)?;
        if let Some(inner_c) = t.as_composite()
            && let Some((inner, off, kf)) =
                find_member(on, r, inner_c, name, u32::MAX, depth + 1, budget)?
        {
            let off = off
                .checked_add(u64::from(m.bit_offset))
                .ok_or_else(|| on.invalid(id, "offset overflows"))?;
            return Ok(Some((inner, off, kf)));
        }
    }
    Ok(None)
}

/// Matches a local field spec in target type `cand` (a candidate for the
/// root). `None` if the target has no such field or its types are not
/// compatible.
pub(crate) fn match_field(
    local: &Btf<'_>,
    spec: &FieldSpec<'_>,
    target: &Btf<'_>,
    cand: TypeId,
    budget: &mut Budget,
) -> Result<Option<FieldLoc>, Fail> {
    let lo = On::local(local);
    let to = On::target(target);
    // Candidates have the root's kind: resolved composites are compatible
    // as they are; other roots are compared.
    let (mut rid, mut t) = to.resolved(cand)?;
    if spec.root_composite {
        if t.as_composite().is_none() {
            return Ok(None);
        }
    } else if !fields_compat(lo, spec.root, to, cand, 0, budget)? {
        return Ok(None);
    }
    let mut bit_off: u64 = 0;
    if spec.first != 0 {
        let sz = to.size_of(rid, &t)?;
        bit_off = bits(u64::from(sz) * u64::from(spec.first))
            .ok_or_else(|| to.invalid(cand, "offset overflows"))?;
    }
    let mut cur = cand;
    let mut bitfield = 0;
    for acc in &spec.accs {
        match *acc {
            // Anonymous members are looked through: the next named member
            // is searched from the same target type.
            Acc::Field { name: [], .. } => continue,
            Acc::Field { idx, name, rty, .. } => {
                let Some(c) = t.as_composite() else {
                    return Ok(None);
                };
                let Some((m, moff, kf)) = find_member(to, rid, c, name, idx, 0, budget)? else {
                    return Ok(None);
                };
                let (mr, mt) = to.resolved(m.ty)?;
                if !fields_compat_views(lo, &lo.ty(rty)?, to, &mt, 0, budget)? {
                    return Ok(None);
                }
                let (off, bf) = member_bits(kf, &m, &mt);
                bit_off = bit_off
                    .checked_add(moff)
                    .and_then(|v| v.checked_add(off))
                    .ok_or_else(|| to.invalid(rid, "offset overflows"))?;
                bitfield = bf;
                cur = m.ty;
                (rid, t) = (mr, mt);
            }
            Acc::Elem { idx } => {
                let Type::Array(a) = t else {
                    return Ok(None);
                };
                if idx >= a.nelems && a.nelems != 0 {
                    return Ok(None);
                }
                let (er, et) = to.resolved(a.elem)?;
                let esz = to.size_of(er, &et)?;
                let add = bits(u64::from(esz) * u64::from(idx))
                    .ok_or_else(|| to.invalid(rid, "offset overflows"))?;
                bit_off = bit_off
                    .checked_add(add)
                    .ok_or_else(|| to.invalid(rid, "offset overflows"))?;
                bitfield = 0;
                cur = a.elem;
                (rid, t) = (er, et);
            }
        }
    }
    Ok(Some(FieldLoc {
        bit_off,
        ty: cur,
        rty: rid,
        bitfield,
    }))
}

/// The field relations: may a local field of type `l` be relocated to a
/// target field of type `t`? Modifiers and typedefs are skipped; structs
/// and unions are compatible with each other; pointers with pointers;
/// integers with integers (size and signedness may change: the size
/// relocations report it); floats with floats; enums (32 or 64-bit) with
/// enums of the same essential name, or when either is anonymous; forward
/// declarations with forward declarations of the same name; arrays whose
/// element types are compatible (the number of elements may differ).
pub(crate) fn fields_compat(
    lo: On<'_, '_>,
    l: TypeId,
    to: On<'_, '_>,
    t: TypeId,
    depth: u32,
    budget: &mut Budget,
) -> Result<bool, Fail> {
    let (_, lt) = lo.resolved(l)?;
    let (_, tt) = to.resolved(t)?;
    fields_compat_views(lo, &lt, to, &tt, depth, budget)
}

/// [`fields_compat`] on resolved views.
fn fields_compat_views(
    lo: On<'_, '_>,
    lt: &Type<'_>,
    to: On<'_, '_>,
    tt: &Type<'_>,
    depth: u32,
    budget: &mut Budget,
) -> Result<bool, Fail> {
    depth_ok(depth)?;
    budget.step()?;
    Ok(match (*lt, *tt) {
        (Type::Struct(_) | Type::Union(_), Type::Struct(_) | Type::Union(_)) => true,
        (Type::Ptr(_), Type::Ptr(_)) => true,
        (Type::Int(_), Type::Int(_)) => true,
        (Type::Float(_), Type::Float(_)) => true,
        (Type::Enum(le) | Type::Enum64(le), Type::Enum(te) | Type::Enum64(te)) => {
            le.name_off() == 0
                || te.name_off() == 0
                || essential_bytes(lo.str(le.name_off())?)
                    == essential_bytes(to.str(te.name_off())?)
        }
        (Type::Fwd(lf), Type::Fwd(tf)) => {
            essential_bytes(lo.str(lf.name_off)?) == essential_bytes(to.str(tf.name_off)?)
        }
        (Type::Array(la), Type::Array(ta)) => {
            fields_compat(lo, la.elem, to, ta.elem, depth + 1, budget)?
        }
        _ => false,
    })
}

/// The type relation of TYPE_EXISTS, TYPE_SIZE and TYPE_ID_TARGET:
/// modifiers and typedefs skipped, kinds must be equal (ENUM and ENUM64
/// interchangeable); structs, unions, forward declarations, enums,
/// integers and floats are then compatible whatever their members or
/// sizes; pointers and arrays compare what they point to / hold (array
/// lengths may differ); function prototypes need as many parameters, and
/// compatible return and parameter types.
pub(crate) fn types_compat(
    lo: On<'_, '_>,
    l: TypeId,
    to: On<'_, '_>,
    t: TypeId,
    depth: u32,
    budget: &mut Budget,
) -> Result<bool, Fail> {
    depth_ok(depth)?;
    budget.step()?;
    let (_, lt) = lo.resolved(l)?;
    let (_, tt) = to.resolved(t)?;
    let (lk, tk) = (lt.kind(), tt.kind());
    if lk != tk && !(is_enum(lk) && is_enum(tk)) {
        return Ok(false);
    }
    Ok(match (lt, tt) {
        (Type::Ptr(lp), Type::Ptr(tp)) => types_compat(lo, lp.ty, to, tp.ty, depth + 1, budget)?,
        (Type::Array(la), Type::Array(ta)) => {
            types_compat(lo, la.elem, to, ta.elem, depth + 1, budget)?
        }
        (Type::FuncProto(lf), Type::FuncProto(tf)) => {
            if lf.len() != tf.len() || !types_compat(lo, lf.ret(), to, tf.ret(), depth + 1, budget)?
            {
                return Ok(false);
            }
            for (lp, tp) in lf.params().zip(tf.params()) {
                if !types_compat(lo, lp.ty, to, tp.ty, depth + 1, budget)? {
                    return Ok(false);
                }
            }
            true
        }
        (
            Type::Struct(_)
            | Type::Union(_)
            | Type::Fwd(_)
            | Type::Enum(_)
            | Type::Enum64(_)
            | Type::Int(_)
            | Type::Float(_)
            | Type::Void,
            _,
        ) => true,
        _ => false,
    })
}

/// The essential names of two named types are equal (anonymous types
/// match anonymous types).
fn names_match(lo: On<'_, '_>, lname: u32, to: On<'_, '_>, tname: u32) -> Result<bool, Fail> {
    Ok(essential_bytes(lo.str(lname)?) == essential_bytes(to.str(tname)?))
}

/// The TYPE_MATCHES relation (`Documentation/bpf/llvm_reloc.rst`):
/// modifiers and typedefs are skipped and named types (structs, unions,
/// enums, forward declarations) must have the same essential name;
/// integers match in size and signedness, floats in size; pointers and
/// arrays match what they point to / hold; structs and unions need each
/// local member to exist in the target under the same name with a
/// matching type, except behind a pointer, where a same-named type of a
/// compatible kind suffices (a forward declaration is compatible with a
/// struct or union of its flavor); enums need the same size (32 and 64-bit
/// enums may match) and each local enumerator to exist in the target by
/// name; function prototypes need as many parameters, each matching, and
/// matching return types.
pub(crate) fn types_match(
    lo: On<'_, '_>,
    l: TypeId,
    to: On<'_, '_>,
    t: TypeId,
    behind_ptr: bool,
    depth: u32,
    budget: &mut Budget,
) -> Result<bool, Fail> {
    depth_ok(depth)?;
    budget.step()?;
    let (_, lt) = lo.resolved(l)?;
    let (_, tt) = to.resolved(t)?;
    // Named composite types, enums and forward declarations: names first.
    let named = |t: &Type<'_>| {
        matches!(
            t,
            Type::Struct(_) | Type::Union(_) | Type::Enum(_) | Type::Enum64(_) | Type::Fwd(_)
        )
    };
    if named(&lt) && named(&tt) && !names_match(lo, lt.name_off(), to, tt.name_off())? {
        return Ok(false);
    }
    Ok(match (lt, tt) {
        (Type::Void, Type::Void) => true,
        (Type::Fwd(lf), Type::Fwd(tf)) => lf.is_union == tf.is_union,
        (Type::Fwd(lf), Type::Struct(_)) => !lf.is_union,
        (Type::Fwd(lf), Type::Union(_)) => lf.is_union,
        (Type::Struct(_), Type::Fwd(tf)) => behind_ptr && !tf.is_union,
        (Type::Union(_), Type::Fwd(tf)) => behind_ptr && tf.is_union,
        (Type::Struct(lc), Type::Struct(tc)) | (Type::Union(lc), Type::Union(tc)) => {
            if behind_ptr {
                return Ok(true);
            }
            for (i, lm) in lc.members().enumerate() {
                budget.step()?;
                let found = if lm.name_off == 0 {
                    // An anonymous member matches the anonymous member at
                    // the same position, or else any anonymous one.
                    let mut hit = None;
                    let same = tc.member(i).filter(|m| m.name_off == 0);
                    for tm in same
                        .into_iter()
                        .chain(tc.members().filter(|m| m.name_off == 0))
                    {
                        if types_match(lo, lm.ty, to, tm.ty, false, depth + 1, budget)? {
                            hit = Some(tm);
                            break;
                        }
                    }
                    hit
                } else {
                    let name = lo.str(lm.name_off)?;
                    find_direct_member(to, &tc, name, i)?
                };
                let Some(tm) = found else {
                    return Ok(false);
                };
                if lm.name_off != 0 && !types_match(lo, lm.ty, to, tm.ty, false, depth + 1, budget)?
                {
                    return Ok(false);
                }
            }
            true
        }
        (Type::Enum(le) | Type::Enum64(le), Type::Enum(te) | Type::Enum64(te)) => {
            if le.size() != te.size() {
                return Ok(false);
            }
            for (i, lv) in le.values().enumerate() {
                budget.step()?;
                let name = essential_bytes(lo.str(lv.name_off)?);
                let hinted = match te.value(i) {
                    Some(tv) => essential_bytes(to.str(tv.name_off)?) == name,
                    None => false,
                };
                if hinted {
                    continue;
                }
                let mut found = false;
                for tv in te.values() {
                    budget.step()?;
                    if essential_bytes(to.str(tv.name_off)?) == name {
                        found = true;
                        break;
                    }
                }
                if !found {
                    return Ok(false);
                }
            }
            true
        }
        (Type::Int(li), Type::Int(ti)) => {
            li.size == ti.size && li.encoding.is_signed() == ti.encoding.is_signed()
        }
        (Type::Float(lf), Type::Float(tf)) => lf.size == tf.size,
        (Type::Ptr(lp), Type::Ptr(tp)) => {
            types_match(lo, lp.ty, to, tp.ty, true, depth + 1, budget)?
        }
        (Type::Array(la), Type::Array(ta)) => {
            types_match(lo, la.elem, to, ta.elem, behind_ptr, depth + 1, budget)?
        }
        (Type::FuncProto(lf), Type::FuncProto(tf)) => {
            if lf.len() != tf.len()
                || !types_match(lo, lf.ret(), to, tf.ret(), behind_ptr, depth + 1, budget)?
            {
                return Ok(false);
            }
            for (lp, tp) in lf.params().zip(tf.params()) {
                if !types_match(lo, lp.ty, to, tp.ty, behind_ptr, depth + 1, budget)? {
                    return Ok(false);
                }
            }
            true
        }
        _ => false,
    })
}

/// A direct (not nested) member named `name`, trying index `hint` first.
fn find_direct_member(
    to: On<'_, '_>,
    c: &oxbpf_btf::Composite<'_>,
    name: &[u8],
    hint: usize,
) -> Result<Option<Member>, Fail> {
    if let Some(m) = c.member(hint)
        && m.name_off != 0
        && to.str(m.name_off)? == name
    {
        return Ok(Some(m));
    }
    for m in c.members() {
        if m.name_off != 0 && to.str(m.name_off)? == name {
            return Ok(Some(m));
        }
    }
    Ok(None)
}

/// The byte offset and size of the memory a field is read from: the field
/// itself, or for a bitfield the smallest naturally aligned container of
/// at least the size of its type that holds all its bits.
pub(crate) fn field_bytes(on: On<'_, '_>, loc: &FieldLoc) -> Result<(u64, u32), Fail> {
    if loc.bitfield == 0 {
        if loc.bit_off % 8 != 0 {
            return Err(on.invalid(
                loc.ty,
                "a field that is not a bitfield starts inside a byte",
            ));
        }
        return Ok((loc.bit_off / 8, on.size(loc.rty)?));
    }
    let mut sz = u64::from(on.size(loc.rty)?);
    if !matches!(sz, 1 | 2 | 4 | 8) {
        return Err(on.invalid(loc.ty, "bitfield of a type that is not 1, 2, 4 or 8 bytes"));
    }
    // In u128: a hostile BTF can put a field near the end of u64's range.
    let end = u128::from(loc.bit_off) + u128::from(loc.bitfield);
    loop {
        let off = loc.bit_off / 8 / sz * sz;
        if end <= (u128::from(off) + u128::from(sz)) * 8 {
            return Ok((off, sz as u32));
        }
        if sz == 8 {
            return Err(on.invalid(loc.ty, "bitfield does not fit an aligned 8-byte word"));
        }
        sz *= 2;
    }
}

/// Whether the field's type is a signed integer or a signed enum.
pub(crate) fn field_signed(on: On<'_, '_>, loc: &FieldLoc) -> Result<bool, Fail> {
    let t = on.ty(loc.rty)?;
    Ok(match t {
        Type::Int(i) => i.encoding.is_signed(),
        Type::Enum(e) | Type::Enum64(e) => e.is_signed(),
        _ => false,
    })
}

/// (left shift, right shift) that extract the field from a u64 holding
/// its container loaded from memory, for the byte order `endian`.
pub(crate) fn field_shifts(
    on: On<'_, '_>,
    loc: &FieldLoc,
    endian: Endian,
) -> Result<(u64, u64), Fail> {
    let (off, sz) = field_bytes(on, loc)?;
    let nbits = if loc.bitfield == 0 {
        u64::from(sz) * 8
    } else {
        u64::from(loc.bitfield)
    };
    if sz > 8 || nbits > 64 {
        return Err(on.invalid(loc.ty, "field larger than 8 bytes has no bitfield shifts"));
    }
    let rel = loc.bit_off - off * 8;
    let lshift = match endian {
        Endian::Little => 64 - (rel + nbits),
        Endian::Big => (8 - u64::from(sz)) * 8 + rel,
    };
    Ok((lshift, 64 - nbits))
}

/// An enumerator found in an enum: (index, name, value as raw 64 bits).
/// Also returns whether the enum is signed.
pub(crate) fn enum_value<'b>(
    on: On<'b, '_>,
    id: TypeId,
    idx: u32,
) -> Result<(&'b [u8], u64, bool), Fail> {
    let (rid, t) = on.resolved(id)?;
    let (Type::Enum(e) | Type::Enum64(e)) = t else {
        return Err(Fail::InvalidLocal(format!(
            "[{rid}] is {:#}, not an enum",
            t.kind()
        )));
    };
    let Some(v) = e.value(idx as usize) else {
        return Err(Fail::InvalidLocal(format!(
            "enumerator {idx} of [{rid}], which has {}",
            e.len()
        )));
    };
    Ok((on.str(v.name_off)?, v.raw, e.is_signed()))
}

/// The value of the enumerator whose essential name is `name` in target
/// enum `id`, if it has one, as 64 bits. A 32-bit target enum that does
/// not say it is signed takes the local enum's signedness (`local_signed`):
/// BTF before signed enums (pahole < 1.24) flags none, so -4 reads
/// 0xfffffffc there and is sign-extended like the local -4.
pub(crate) fn match_enum_value(
    to: On<'_, '_>,
    id: TypeId,
    name: &[u8],
    hint: u32,
    local_signed: bool,
    budget: &mut Budget,
) -> Result<Option<u64>, Fail> {
    let (_, t) = to.resolved(id)?;
    let (Type::Enum(e) | Type::Enum64(e)) = t else {
        return Ok(None);
    };
    let extend = |raw: u64| {
        if local_signed && !e.is_64() && !e.is_signed() {
            raw as u32 as i32 as i64 as u64
        } else {
            raw
        }
    };
    let name = essential_bytes(name);
    if let Some(v) = e.value(hint as usize)
        && essential_bytes(to.str(v.name_off)?) == name
    {
        return Ok(Some(extend(v.raw)));
    }
    for v in e.values() {
        budget.step()?;
        if essential_bytes(to.str(v.name_off)?) == name {
            return Ok(Some(extend(v.raw)));
        }
    }
    Ok(None)
}

/// The kind of the root type after modifiers (typedefs kept), for
/// candidate lookup.
pub(crate) fn root_kind<'b>(on: On<'b, '_>, id: TypeId) -> Result<(TypeId, Type<'b>), Fail> {
    let mut cur = id;
    for _ in 0..=MAX_RESOLVE_DEPTH {
        let t = on.ty(cur)?;
        match t {
            Type::Volatile(r) | Type::Const(r) | Type::Restrict(r) | Type::TypeTag(r) => cur = r.ty,
            _ => return Ok((cur, t)),
        }
    }
    Err(Fail::TooComplex("depth"))
}
