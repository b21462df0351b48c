//! The loader file format (`oxbpf gen loader OBJ -o FILE`).
//!
//! Version 3 (2 lacked the kconfig layout and named the count of CO-RE
//! relocations applied at generation `core_relos`; 1 lacked the value
//! offset of `map_update`). Integers of the header and the descriptor are
//! little-endian; the instructions and the blob are in the byte order of
//! the machine the loader is for (the header says which), exactly as the
//! kernel takes them. A string is a `u32` length and that many UTF-8
//! bytes.
//!
//! ```text
//! offset  size
//!      0     8  magic "OXBPFLDR"
//!      8     4  format version (3)
//!     12     1  byte order of instructions and blob: 1 little, 2 big
//!     13     3  zero
//!     16     1  minimum kernel: major
//!     17     1                  minor
//!     18     2                  patch
//!     20     4  context size
//!     24     4  n_insns
//!     28     4  blob size
//!     32     4  n_chunks
//!     36     4  n_steps
//!     40        string: the object's name
//!               n_chunks × u32: end offset of each blob chunk
//!               n_insns × 8: the loader program
//!               blob size bytes: the blob
//!               n_steps × step: the descriptor
//! ```
//!
//! A step is a tag byte and its fields (`off` = `u32` blob or context
//! offset, `ref` = `u32` step index):
//!
//! | tag | step | fields |
//! |---|---|---|
//! | 0 | `btf_load`   | attr off, fd off |
//! | 1 | `map_create` | name, attr off, fd off, handle (u8 0/1) |
//! | 2 | `map_update` | map ref, attr off, has value (u8 0/1), value off (if it has one), kconfig count (u32) × kconfig variable |
//! | 3 | `map_freeze` | map ref, attr off |
//! | 4 | `prog_load`  | name, attr off, fd off, attach type given (u8 0/1), count of CO-RE relocations applied at generation (u32), poisoned count (u32) × (instruction u32, slots u8, what: string) |
//! | 5 | `btf_find`   | name off, BTF kind (u32), id off, module fd off |
//! | 6 | `ksym_find`  | name off, address off |
//! | 7 | `map_reuse`  | path, fd off, then the expected map: name, kernel name, type, key size, value size, max entries, flags, NUMA node (u32 each), map_extra (u64), BTF key and value type ids (u32) |
//! | 8 | `obj_pin`    | map ref, path |
//! | 9 | `map_set_fd` | map ref, value ref, attr off |
//! | 10 | `struct_ops` | map ref, attr off |
//!
//! A kconfig variable (the runtime fills it from the running kernel's
//! configuration) is: name (string), offset in the value (u32), size
//! (u32), kind (u8), weak (u8 0/1), and by kind:
//!
//! | kind | C type | then |
//! |---|---|---|
//! | 0 | `bool` | — |
//! | 1 | `char` | — |
//! | 2 | `enum libbpf_tristate` | signed (u8 0/1), `TRI_NO`, `TRI_YES`, `TRI_MODULE` (i64 each) |
//! | 3 | integer | signed (u8 0/1) |
//! | 4 | `char[size]` | — |
//!
//! CO-RE relocations left to the kernel are not in the descriptor: they
//! are `bpf_core_relo` records in the blob, which the `prog_load`
//! attributes point at.
//!
//! Nothing may follow the last step. Reading checks every count against
//! the bytes left before allocating, every offset against the blob or the
//! context, and every reference against the steps before it.

use oxbpf_asm::Insn;
use oxbpf_asm::InsnIdx;
use oxbpf_btf::Kind;
use oxbpf_plan::{CreateMap, KconfigKind, KconfigVar, Poisoned, Ref};
use oxbpf_syscalls::MapType;
use zerocopy::FromBytes;

use crate::error::Error;
use crate::layout::{Blob, BlobOff, CtxOff, KernelVersion, ctx};
use crate::loader::{Loader, Step};

/// The file's first bytes.
pub const MAGIC: &[u8; 8] = b"OXBPFLDR";
/// The format version this crate writes and reads.
pub const FORMAT_VERSION: u32 = 3;

const LITTLE: u8 = 1;
const BIG: u8 = 2;

fn host_order() -> u8 {
    if cfg!(target_endian = "big") {
        BIG
    } else {
        LITTLE
    }
}

impl Loader {
    /// The loader as a file (see the format above).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer(Vec::with_capacity(
            64 + self.insns.len() * 8 + self.blob.bytes.len() + self.steps.len() * 32,
        ));
        w.0.extend_from_slice(MAGIC);
        w.u32(FORMAT_VERSION);
        w.0.extend_from_slice(&[host_order(), 0, 0, 0]);
        w.0.push(self.min_kernel.major);
        w.0.push(self.min_kernel.minor);
        w.0.extend_from_slice(&self.min_kernel.patch.to_le_bytes());
        w.u32(self.ctx_size);
        w.len(self.insns.len());
        w.len(self.blob.bytes.len());
        w.len(self.blob.chunk_ends.len());
        w.len(self.steps.len());
        w.str(&self.object);
        for &end in &self.blob.chunk_ends {
            w.u32(end);
        }
        w.0.extend_from_slice(Insn::as_bytes(&self.insns));
        w.0.extend_from_slice(&self.blob.bytes);
        for step in &self.steps {
            w.step(step);
        }
        w.0
    }

    /// Reads a loader file (e.g. one embedded with `include_bytes!`).
    pub fn from_bytes(bytes: &[u8]) -> Result<Loader, Error> {
        let mut r = Reader { bytes, pos: 0 };
        if r.take(8, "magic")? != MAGIC {
            return Err(Error::format(0, "not an oxbpf loader file (bad magic)"));
        }
        let version = r.u32("version")?;
        if version != FORMAT_VERSION {
            return Err(Error::format(
                8,
                format!("format version {version}, this oxbpf reads {FORMAT_VERSION}"),
            ));
        }
        let order = r.take(4, "byte order")?;
        if order[0] != host_order() || order[1..] != [0, 0, 0] {
            return Err(Error::format(
                12,
                format!(
                    "byte order {} (1 little, 2 big): the loader is for another machine",
                    order[0]
                ),
            ));
        }
        let kv = r.take(4, "minimum kernel")?;
        let min_kernel = KernelVersion {
            major: kv[0],
            minor: kv[1],
            patch: u16::from_le_bytes([kv[2], kv[3]]),
        };
        let ctx_at = r.pos;
        let ctx_size = r.u32("context size")?;
        if !(ctx::WORDS.0..=ctx::MAX_SIZE).contains(&ctx_size) || ctx_size % 4 != 0 {
            return Err(Error::format(ctx_at, format!("context size {ctx_size}")));
        }
        let n_insns = r.u32("instruction count")? as usize;
        let blob_size = r.u32("blob size")? as usize;
        let n_chunks = r.u32("chunk count")? as usize;
        let n_steps = r.u32("step count")? as usize;
        let object = r.str("object name")?;
        r.room(n_chunks, 4, "chunk ends")?;
        let mut chunk_ends = Vec::with_capacity(n_chunks);
        for _ in 0..n_chunks {
            chunk_ends.push(r.u32("chunk end")?);
        }
        r.room(n_insns, 8, "instructions")?;
        let insns = r
            .take(n_insns * 8, "instructions")?
            .chunks_exact(8)
            .map(|b| Insn::read_from_bytes(b).unwrap_or_default())
            .collect();
        let blob_at = r.pos;
        let blob = r.take(blob_size, "blob")?.to_vec();
        let blob = Blob::new(blob, chunk_ends).map_err(|e| match e {
            Error::Format { what, .. } => Error::format(blob_at, what),
            other => other,
        })?;
        // A step takes at least 5 bytes.
        r.room(n_steps, 5, "steps")?;
        let mut steps = Vec::with_capacity(n_steps);
        for k in 0..n_steps {
            let at = r.pos;
            let step = r.step(k)?;
            check_step(k, &step, &blob, ctx_size).map_err(|what| Error::format(at, what))?;
            steps.push(step);
        }
        if r.pos != bytes.len() {
            return Err(Error::format(r.pos, "bytes after the last step"));
        }
        Ok(Loader {
            object,
            min_kernel,
            insns,
            blob,
            ctx_size,
            steps,
        })
    }
}

/// Offsets inside the blob and the context, references to earlier steps.
fn check_step(k: usize, step: &Step, blob: &Blob, ctx_size: u32) -> Result<(), String> {
    let blob_ok = |off: BlobOff| {
        if off.index() < blob.bytes.len() {
            Ok(())
        } else {
            Err(format!("step {k}: {off} is outside the blob"))
        }
    };
    let ctx_ok = |off: CtxOff| {
        if off.0 >= ctx::WORDS.0
            && off.0 % 4 == 0
            && off.0.checked_add(4).is_some_and(|end| end <= ctx_size)
        {
            Ok(())
        } else {
            Err(format!(
                "step {k}: {off} is no word of a {ctx_size}-byte context"
            ))
        }
    };
    let ref_ok = |r: Ref| {
        if r.index() < k {
            Ok(())
        } else {
            Err(format!("step {k} refers to {r}, not an earlier step"))
        }
    };
    match step {
        Step::LoadBtf { attr, fd }
        | Step::CreateMap { attr, fd, .. }
        | Step::LoadProg { attr, fd, .. } => {
            blob_ok(*attr)?;
            ctx_ok(*fd)
        }
        Step::UpdateElem {
            map,
            attr,
            value,
            kconfig,
        } => {
            ref_ok(*map)?;
            if let Some(value) = value {
                blob_ok(*value)?;
            }
            for var in kconfig {
                var.check()
                    .map_err(|what| format!("step {k}: kconfig variable {}: {what}", var.name))?;
                let end = u64::from(var.offset) + u64::from(var.size);
                match value {
                    Some(v) if u64::from(v.0) + end <= blob.bytes.len() as u64 => {}
                    _ => {
                        return Err(format!(
                            "step {k}: kconfig variable {} is outside the blob",
                            var.name
                        ));
                    }
                }
            }
            blob_ok(*attr)
        }
        Step::Freeze { map, attr } | Step::StructOpsValue { map, attr } => {
            ref_ok(*map)?;
            blob_ok(*attr)
        }
        Step::SetFd { map, value, attr } => {
            ref_ok(*map)?;
            ref_ok(*value)?;
            blob_ok(*attr)
        }
        Step::FindBtfId {
            name,
            id,
            module_fd,
            ..
        } => {
            blob_ok(*name)?;
            ctx_ok(*id)?;
            ctx_ok(*module_fd)
        }
        Step::FindKsym { name, addr } => {
            blob_ok(*name)?;
            blob_ok(*addr)
        }
        Step::ReuseMap { fd, .. } => ctx_ok(*fd),
        Step::Pin { map, .. } => ref_ok(*map),
    }
}

struct Writer(Vec<u8>);

impl Writer {
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    /// Lengths are below 4 GiB: blobs, programs and names of a loader are.
    fn len(&mut self, n: usize) {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }

    fn str(&mut self, s: &str) {
        self.len(s.len());
        self.0.extend_from_slice(s.as_bytes());
    }

    fn flag(&mut self, b: bool) {
        self.0.push(u8::from(b));
    }

    fn step(&mut self, step: &Step) {
        match step {
            Step::LoadBtf { attr, fd } => {
                self.0.push(0);
                self.u32(attr.0);
                self.u32(fd.0);
            }
            Step::CreateMap {
                name,
                attr,
                fd,
                handle,
            } => {
                self.0.push(1);
                self.str(name);
                self.u32(attr.0);
                self.u32(fd.0);
                self.flag(*handle);
            }
            Step::UpdateElem {
                map,
                attr,
                value,
                kconfig,
            } => {
                self.0.push(2);
                self.u32(map.0);
                self.u32(attr.0);
                self.flag(value.is_some());
                if let Some(value) = value {
                    self.u32(value.0);
                }
                self.len(kconfig.len());
                for var in kconfig {
                    self.kconfig_var(var);
                }
            }
            Step::Freeze { map, attr } => {
                self.0.push(3);
                self.u32(map.0);
                self.u32(attr.0);
            }
            Step::LoadProg {
                name,
                attr,
                fd,
                attach_type_given,
                core_applied,
                poisoned,
            } => {
                self.0.push(4);
                self.str(name);
                self.u32(attr.0);
                self.u32(fd.0);
                self.flag(*attach_type_given);
                self.len(*core_applied);
                self.len(poisoned.len());
                for p in poisoned {
                    self.len(p.insn.0);
                    self.0.push(p.slots);
                    self.str(&p.what);
                }
            }
            Step::FindBtfId {
                name,
                kind,
                id,
                module_fd,
            } => {
                self.0.push(5);
                self.u32(name.0);
                self.u32(*kind as u32);
                self.u32(id.0);
                self.u32(module_fd.0);
            }
            Step::FindKsym { name, addr } => {
                self.0.push(6);
                self.u32(name.0);
                self.u32(addr.0);
            }
            Step::ReuseMap { path, expect, fd } => {
                self.0.push(7);
                self.str(path);
                self.u32(fd.0);
                self.str(&expect.name);
                self.str(&expect.kernel_name);
                for v in [
                    expect.map_type.0,
                    expect.key_size,
                    expect.value_size,
                    expect.max_entries,
                    expect.map_flags,
                    expect.numa_node,
                ] {
                    self.u32(v);
                }
                self.0.extend_from_slice(&expect.map_extra.to_le_bytes());
                self.u32(expect.btf_key_type_id);
                self.u32(expect.btf_value_type_id);
            }
            Step::Pin { map, path } => {
                self.0.push(8);
                self.u32(map.0);
                self.str(path);
            }
            Step::StructOpsValue { map, attr } => {
                self.0.push(10);
                self.u32(map.0);
                self.u32(attr.0);
            }
            Step::SetFd { map, value, attr } => {
                self.0.push(9);
                self.u32(map.0);
                self.u32(value.0);
                self.u32(attr.0);
            }
        }
    }
}

impl Writer {
    fn kconfig_var(&mut self, var: &KconfigVar) {
        self.str(&var.name);
        self.u32(var.offset);
        self.u32(var.size);
        let (tag, signed) = match var.kind {
            KconfigKind::Bool => (0, None),
            KconfigKind::Char => (1, None),
            KconfigKind::Tristate { signed, .. } => (2, Some(signed)),
            KconfigKind::Int { signed } => (3, Some(signed)),
            KconfigKind::Str => (4, None),
        };
        self.0.push(tag);
        self.flag(var.weak);
        if let Some(signed) = signed {
            self.flag(signed);
        }
        if let KconfigKind::Tristate {
            no, yes, module, ..
        } = var.kind
        {
            for v in [no, yes, module] {
                self.0.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], Error> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| {
                Error::format(
                    self.pos,
                    format!(
                        "{what}: {n} bytes wanted, {} left",
                        self.bytes.len() - self.pos
                    ),
                )
            })?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    /// Checks that `count` items of at least `each` bytes can follow.
    fn room(&self, count: usize, each: usize, what: &str) -> Result<(), Error> {
        let left = self.bytes.len() - self.pos;
        if count.checked_mul(each).is_none_or(|n| n > left) {
            return Err(Error::format(
                self.pos,
                format!("{count} {what} do not fit the {left} bytes left"),
            ));
        }
        Ok(())
    }

    fn u8(&mut self, what: &str) -> Result<u8, Error> {
        Ok(self.take(1, what)?[0])
    }

    fn u32(&mut self, what: &str) -> Result<u32, Error> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self, what: &str) -> Result<u64, Error> {
        let b = self.take(8, what)?;
        let mut a = [0; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn kconfig_var(&mut self) -> Result<KconfigVar, Error> {
        let name = self.str("kconfig name")?;
        let offset = self.u32("kconfig offset")?;
        let size = self.u32("kconfig size")?;
        let at = self.pos;
        let tag = self.u8("kconfig kind")?;
        let weak = self.flag("kconfig weak")?;
        let kind = match tag {
            0 => KconfigKind::Bool,
            1 => KconfigKind::Char,
            2 => {
                let signed = self.flag("tristate signed")?;
                let mut v = [0i64; 3];
                for x in &mut v {
                    *x = self.u64("tristate value")? as i64;
                }
                KconfigKind::Tristate {
                    signed,
                    no: v[0],
                    yes: v[1],
                    module: v[2],
                }
            }
            3 => KconfigKind::Int {
                signed: self.flag("integer signed")?,
            },
            4 => KconfigKind::Str,
            t => return Err(Error::format(at, format!("kconfig kind {t}"))),
        };
        Ok(KconfigVar {
            name,
            offset,
            size,
            kind,
            weak,
        })
    }

    fn flag(&mut self, what: &str) -> Result<bool, Error> {
        let at = self.pos;
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(Error::format(at, format!("{what}: {v} is not 0 or 1"))),
        }
    }

    fn str(&mut self, what: &str) -> Result<String, Error> {
        let n = self.u32(what)? as usize;
        let at = self.pos;
        let bytes = self.take(n, what)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| Error::format(at, format!("{what} is not UTF-8")))
    }

    fn step(&mut self, k: usize) -> Result<Step, Error> {
        let at = self.pos;
        let blob = |r: &mut Self, what| r.u32(what).map(BlobOff);
        let word = |r: &mut Self, what| r.u32(what).map(CtxOff);
        let step_ref = |r: &mut Self, what| r.u32(what).map(Ref);
        Ok(match self.u8("step tag")? {
            0 => Step::LoadBtf {
                attr: blob(self, "attr")?,
                fd: word(self, "fd")?,
            },
            1 => Step::CreateMap {
                name: self.str("map name")?,
                attr: blob(self, "attr")?,
                fd: word(self, "fd")?,
                handle: self.flag("handle")?,
            },
            2 => {
                let map = step_ref(self, "map")?;
                let attr = blob(self, "attr")?;
                let value = if self.flag("has value")? {
                    Some(blob(self, "value")?)
                } else {
                    None
                };
                let n = self.u32("kconfig count")? as usize;
                // A kconfig variable takes at least 14 bytes.
                self.room(n, 14, "kconfig variables")?;
                let mut kconfig = Vec::with_capacity(n);
                for _ in 0..n {
                    kconfig.push(self.kconfig_var()?);
                }
                Step::UpdateElem {
                    map,
                    attr,
                    value,
                    kconfig,
                }
            }
            3 => Step::Freeze {
                map: step_ref(self, "map")?,
                attr: blob(self, "attr")?,
            },
            4 => {
                let name = self.str("program name")?;
                let attr = blob(self, "attr")?;
                let fd = word(self, "fd")?;
                let attach_type_given = self.flag("attach type given")?;
                let core_applied = self.u32("CO-RE relocation count")? as usize;
                let n = self.u32("poisoned count")? as usize;
                // A poisoned record takes at least 9 bytes.
                self.room(n, 9, "poisoned instructions")?;
                let mut poisoned = Vec::with_capacity(n);
                for _ in 0..n {
                    poisoned.push(Poisoned {
                        insn: InsnIdx(self.u32("poisoned instruction")? as usize),
                        slots: self.u8("poisoned slots")?,
                        what: self.str("poisoned relocation")?,
                    });
                }
                Step::LoadProg {
                    name,
                    attr,
                    fd,
                    attach_type_given,
                    core_applied,
                    poisoned,
                }
            }
            5 => {
                let name = blob(self, "name")?;
                let kind_at = self.pos;
                let kind = self.u32("kind")?;
                Step::FindBtfId {
                    name,
                    kind: Kind::from_u32(kind)
                        .ok_or_else(|| Error::format(kind_at, format!("BTF kind {kind}")))?,
                    id: word(self, "id")?,
                    module_fd: word(self, "module fd")?,
                }
            }
            6 => Step::FindKsym {
                name: blob(self, "name")?,
                addr: blob(self, "address")?,
            },
            7 => {
                let path = self.str("pin path")?;
                let fd = word(self, "fd")?;
                let name = self.str("map name")?;
                let kernel_name = self.str("kernel name")?;
                let map_type = MapType(self.u32("map type")?);
                let key_size = self.u32("key size")?;
                let value_size = self.u32("value size")?;
                let max_entries = self.u32("max entries")?;
                let mut expect = CreateMap::new(&name, map_type, key_size, value_size, max_entries);
                expect.kernel_name = kernel_name;
                expect.map_flags = self.u32("map flags")?;
                expect.numa_node = self.u32("numa node")?;
                expect.map_extra = self.u64("map extra")?;
                expect.btf_key_type_id = self.u32("key type id")?;
                expect.btf_value_type_id = self.u32("value type id")?;
                Step::ReuseMap { path, expect, fd }
            }
            8 => Step::Pin {
                map: step_ref(self, "map")?,
                path: self.str("pin path")?,
            },
            9 => Step::SetFd {
                map: step_ref(self, "map")?,
                value: step_ref(self, "value")?,
                attr: blob(self, "attr")?,
            },
            10 => Step::StructOpsValue {
                map: step_ref(self, "map")?,
                attr: blob(self, "attr")?,
            },
            tag => return Err(Error::format(at, format!("step {k}: unknown tag {tag}"))),
        })
    }
}
