//! `Object::parse`: from ELF bytes to programs, maps, data and relocations.

use std::collections::HashMap;

use object::elf;
use object::read::elf::{FileHeader, Rel, SectionHeader, SectionTable, Sym, SymbolTable};
use object::{Endianness, SectionIndex, SymbolIndex};
use oxbpf_asm::Insn;
use oxbpf_btf::Btf;

use crate::error::{Error, Result};
use crate::externs::{self, Externs};

/// The DATASEC of kconfig externs, and the name of the map holding them.
pub const KCONFIG_SECTION: &str = ".kconfig";
use crate::maps::{self, MapDef, MapInit};
use crate::section::{SectionKind, parse_section_name};

type Elf = elf::FileHeader64<Endianness>;

/// `R_BPF_64_64`: a 64-bit immediate load (`ld_imm64`) of a symbol.
const R_BPF_64_64: u32 = 1;
/// `R_BPF_64_ABS64` / `R_BPF_64_ABS32`: data words (in BTF, DWARF, `.maps`).
const R_BPF_64_ABS64: u32 = 2;
const R_BPF_64_ABS32: u32 = 3;
/// `R_BPF_64_NODYLD32`: DWARF and BTF.ext words, nothing to do at load.
const R_BPF_64_NODYLD32: u32 = 4;
/// `R_BPF_64_32`: a call instruction to a function symbol.
const R_BPF_64_32: u32 = 10;

/// Byte order of the object (and of its instructions and BTF).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endian {
    /// `bpfel`, the byte order of x86, arm64 and most hosts.
    Little,
    /// `bpfeb`.
    Big,
}

/// A parsed BPF object: everything `Object::parse` read from the ELF file.
///
/// Instructions are decoded into host order; the object's BTF is kept in the
/// object's own byte order, with DATASEC sizes and VAR offsets filled in
/// from the symbol table.
#[derive(Debug)]
pub struct Object {
    /// Byte order of the file.
    pub endian: Endian,
    /// Contents of the `license` section (`""` when absent).
    pub license: String,
    /// Contents of the `version` section, if present.
    pub kern_version: Option<u32>,
    /// Entry programs: functions in executable sections other than `.text`.
    pub programs: Vec<Program>,
    /// Functions of `.text`: subprograms that programs call.
    pub subprograms: Vec<Function>,
    /// Map definitions, from `.maps` (BTF-defined) and `maps` (legacy).
    pub maps: Vec<MapDef>,
    /// Global data sections (`.data*`, `.rodata*`, `.bss*`).
    pub data: Vec<DataSection>,
    /// `__arena` global variables (section [`ARENA_SECTION`], kind
    /// [`DataKind::Arena`]): they live in the object's arena map, not in a
    /// data map of their own.
    pub arena: Option<DataSection>,
    /// The object's BTF (`.BTF`), DATASECs fixed up.
    pub btf: Option<Btf<'static>>,
    /// Raw contents of `.BTF.ext`.
    pub btf_ext: Option<Vec<u8>>,
    /// Extern declarations (kconfig values, ksyms, kfuncs).
    pub externs: Externs,
}

/// A function in an executable section.
#[derive(Clone, Debug)]
pub struct Function {
    /// Symbol name.
    pub name: String,
    /// Name of the ELF section holding the function.
    pub section: String,
    /// ELF index of that section.
    pub section_index: usize,
    /// Byte offset of the first instruction within the section.
    pub offset: u64,
    /// The instructions, in host byte order.
    pub insns: Vec<Insn>,
    /// Relocations of these instructions (indices relative to the function).
    pub relocations: Vec<Relocation>,
    /// Whether the symbol is global (`STB_GLOBAL`/`STB_WEAK`).
    pub global: bool,
}

/// An entry program and what its section name says about it.
#[derive(Clone, Debug)]
pub struct Program {
    /// The code.
    pub function: Function,
    /// The section-name table entry, or `None` for an unknown section name
    /// (loading then needs the user to set a program type).
    pub kind: Option<&'static crate::section::SectionDef>,
    /// What follows `name/` in the section name (the attach target).
    pub attach_target: String,
    /// `false` for sections named with a leading `?`.
    pub autoload: bool,
}

impl Program {
    /// The program's name (its symbol).
    pub fn name(&self) -> &str {
        &self.function.name
    }

    /// The ELF section the program lives in.
    pub fn section(&self) -> &str {
        &self.function.section
    }
}

/// A reference to a function by place: section and byte offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FuncRef {
    /// ELF index of the section.
    pub section_index: usize,
    /// Byte offset of the function's first instruction.
    pub offset: u64,
}

/// What a relocated instruction refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RelocTarget {
    /// `ld_imm64` of a map: index into [`Object::maps`].
    Map(usize),
    /// `ld_imm64` of an `__arena` global: byte offset into
    /// [`Object::arena`]. The loader points it into the arena map.
    Arena {
        /// Byte offset into the arena section.
        offset: u64,
    },
    /// `ld_imm64` of global data: index into [`Object::data`] and byte offset.
    Data {
        /// Index into [`Object::data`].
        section: usize,
        /// Byte offset into the section.
        offset: u64,
    },
    /// A bpf-to-bpf call (`call` with `src_reg` 1).
    Call(FuncRef),
    /// `ld_imm64` of a function's address (a callback).
    FuncAddr(FuncRef),
    /// An undefined symbol: kconfig value, ksym, kfunc.
    Extern {
        /// Symbol name.
        name: String,
        /// `__weak`: resolves to zero when absent.
        weak: bool,
    },
}

/// One relocation of a function's instruction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relocation {
    /// Index of the instruction within its function.
    pub insn: usize,
    /// The symbol it refers to.
    pub target: RelocTarget,
    /// Name of the symbol of the relocation (for messages).
    pub symbol: String,
}

/// Kind of a global data section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataKind {
    /// `.data`, `.data.*`: initialized, writable.
    Data,
    /// `.rodata`, `.rodata.*`: initialized, frozen after load.
    Rodata,
    /// `.bss`, `.bss.*`: zero-initialized.
    Bss,
    /// [`ARENA_SECTION`]: variables declared `__arena`
    /// (`address_space(1)`), placed in the object's arena map.
    Arena,
}

/// The section clang puts `__arena` (`address_space(1)`) globals in.
pub const ARENA_SECTION: &str = ".addr_space.1";

/// A variable of a global data section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataSymbol {
    /// Symbol name.
    pub name: String,
    /// Byte offset in the section.
    pub offset: u64,
    /// Size in bytes (0 when the compiler did not say).
    pub size: u64,
}

/// A global data section.
#[derive(Clone, Debug)]
pub struct DataSection {
    /// Section name (`.data`, `.rodata.str1.1`...).
    pub name: String,
    /// ELF section index.
    pub section_index: usize,
    /// Kind.
    pub kind: DataKind,
    /// Initial contents (zeros for `.bss`).
    pub bytes: Vec<u8>,
    /// Named symbols (variables) in the section, by offset.
    pub symbols: Vec<DataSymbol>,
}

/// Where a section of the file was classified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Other,
    Code { text: bool },
    Data(usize),
    Arena,
    BtfMaps,
    LegacyMaps,
    StructOps { link: bool },
}

/// Parsing context shared by the steps of [`Object::parse`].
struct Ctx<'data> {
    data: &'data [u8],
    endian: Endianness,
    sections: SectionTable<'data, Elf, &'data [u8]>,
    symbols: SymbolTable<'data, Elf, &'data [u8]>,
    roles: Vec<Role>,
}

impl<'data> Ctx<'data> {
    fn section_name(&self, index: usize) -> String {
        self.sections
            .section(SectionIndex(index))
            .ok()
            .and_then(|s| self.sections.section_name(self.endian, s).ok())
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_else(|| format!("#{index}"))
    }

    fn section_data(&self, index: usize) -> Result<&'data [u8]> {
        let header = self.sections.section(SectionIndex(index))?;
        if header.sh_type(self.endian) == elf::SHT_NOBITS {
            return Ok(&[]);
        }
        Ok(header.data(self.endian, self.data)?)
    }

    fn symbol_name(&self, sym: &elf::Sym64<Endianness>) -> Result<String> {
        let name = self.symbols.symbol_name(self.endian, sym)?;
        Ok(String::from_utf8_lossy(name).into_owned())
    }

    /// Section index a symbol is defined in, if any.
    fn symbol_section(&self, sym: &elf::Sym64<Endianness>) -> Option<usize> {
        let shndx = sym.st_shndx(self.endian);
        if shndx == elf::SHN_UNDEF || shndx.is_reserved() {
            None
        } else {
            Some(shndx.0 as usize)
        }
    }

    /// Section `index`, named `name`, as data of `kind`: its bytes (zeros
    /// for `SHT_NOBITS`, refused above `max_zeroed` bytes) and symbols.
    fn data_section(
        &self,
        name: String,
        index: usize,
        kind: DataKind,
        max_zeroed: u64,
    ) -> Result<DataSection> {
        let header = self.sections.section(SectionIndex(index))?;
        let bytes = if header.sh_type(self.endian) == elf::SHT_NOBITS {
            let size = header.sh_size(self.endian);
            if size > max_zeroed {
                return Err(Error::section(&name, format!("absurd size {size}")));
            }
            vec![0; size as usize]
        } else {
            self.section_data(index)?.to_vec()
        };
        let symbols = self
            .symbols_in(index)?
            .into_iter()
            .map(|(name, sym)| DataSymbol {
                name,
                offset: sym.st_value(self.endian),
                size: sym.st_size(self.endian),
            })
            .collect();
        Ok(DataSection {
            name,
            section_index: index,
            kind,
            bytes,
            symbols,
        })
    }

    /// Named symbols defined in a section, as (name, value, size, symbol).
    fn symbols_in(&self, index: usize) -> Result<Vec<(String, &'data elf::Sym64<Endianness>)>> {
        let mut out = Vec::new();
        for sym in self.symbols.iter() {
            if self.symbol_section(sym) != Some(index) || sym.st_type() == elf::STT_SECTION {
                continue;
            }
            let name = self.symbol_name(sym)?;
            if name.is_empty() {
                continue;
            }
            out.push((name, sym));
        }
        out.sort_by_key(|(_, sym)| sym.st_value(self.endian));
        Ok(out)
    }
}

impl Object {
    /// Parses a BPF ELF object (64-bit, either byte order, `ET_REL`).
    ///
    /// Malformed input — a truncated file, out-of-range section or symbol
    /// indices, relocations pointing outside their section or at the wrong
    /// instruction — yields an [`Error`] naming the place, never a panic.
    pub fn parse(data: &[u8]) -> Result<Object> {
        let header = Elf::parse(data)?;
        let endian = header.endian()?;
        if header.e_machine(endian) != elf::EM_BPF {
            return Err(Error::NotBpf("e_machine is not EM_BPF (247)"));
        }
        if header.e_type(endian) != elf::ET_REL {
            return Err(Error::NotBpf("not a relocatable object (ET_REL)"));
        }
        let sections = header.sections(endian, data)?;
        let symbols = sections.symbols(endian, data, elf::SHT_SYMTAB)?;
        let mut ctx = Ctx {
            data,
            endian,
            roles: vec![Role::Other; sections.len()],
            sections,
            symbols,
        };

        let mut obj = Object {
            endian: if endian == Endianness::Big {
                Endian::Big
            } else {
                Endian::Little
            },
            license: String::new(),
            kern_version: None,
            programs: Vec::new(),
            subprograms: Vec::new(),
            maps: Vec::new(),
            data: Vec::new(),
            arena: None,
            btf: None,
            btf_ext: None,
            externs: Externs::default(),
        };
        obj.classify_sections(&mut ctx)?;
        obj.read_functions(&ctx)?;
        obj.read_btf(&ctx)?;
        obj.read_maps(&ctx)?;
        obj.read_relocations(&ctx)?;
        obj.read_map_values(&ctx)?;
        obj.read_struct_ops(&ctx)?;
        Ok(obj)
    }

    /// Finds a program by name.
    pub fn program(&self, name: &str) -> Option<&Program> {
        self.programs.iter().find(|p| p.name() == name)
    }

    /// Finds a map by name.
    pub fn map(&self, name: &str) -> Option<&MapDef> {
        self.maps.iter().find(|m| m.name == name)
    }

    /// Sorts every section into a role and reads the small ones
    /// (`license`, `version`, data sections).
    fn classify_sections(&mut self, ctx: &mut Ctx<'_>) -> Result<()> {
        for (i, header) in ctx.sections.enumerate() {
            let index = i.0;
            let name_bytes = ctx.sections.section_name(ctx.endian, header)?;
            let name = String::from_utf8_lossy(name_bytes).into_owned();
            let sh_type = header.sh_type(ctx.endian);
            let flags = header.sh_flags(ctx.endian);
            let is_progbits = sh_type == elf::SHT_PROGBITS;
            let role = if is_progbits && flags.contains(elf::SHF_EXECINSTR) {
                Role::Code {
                    text: name == ".text",
                }
            } else if name == "license" {
                let bytes = ctx.section_data(index)?;
                let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
                self.license = std::str::from_utf8(&bytes[..end])
                    .map_err(|_| Error::section(&name, "license is not UTF-8"))?
                    .to_owned();
                Role::Other
            } else if name == "version" {
                let bytes = ctx.section_data(index)?;
                let word: [u8; 4] = bytes
                    .try_into()
                    .map_err(|_| Error::section(&name, format!("size {} is not 4", bytes.len())))?;
                self.kern_version = Some(match self.endian {
                    Endian::Little => u32::from_le_bytes(word),
                    Endian::Big => u32::from_be_bytes(word),
                });
                Role::Other
            } else if name == ".maps" {
                Role::BtfMaps
            } else if name == ".struct_ops" || name == ".struct_ops.link" {
                Role::StructOps {
                    link: name.ends_with(".link"),
                }
            } else if name == "maps" || name.starts_with("maps/") {
                Role::LegacyMaps
            } else if name == ARENA_SECTION {
                // An arena holds at most 4 GiB (its map's page count).
                self.arena = Some(ctx.data_section(name, index, DataKind::Arena, 1 << 32)?);
                Role::Arena
            } else if let Some(kind) = data_kind(&name, sh_type) {
                // A .bss can legitimately be larger than the file, but not
                // absurdly so: refuse sizes no real object has.
                let max = ctx.data.len() as u64 * 64 + (1 << 20);
                self.data.push(ctx.data_section(name, index, kind, max)?);
                Role::Data(self.data.len() - 1)
            } else {
                Role::Other
            };
            ctx.roles[index] = role;
        }
        Ok(())
    }

    /// Reads every function symbol of every executable section.
    fn read_functions(&mut self, ctx: &Ctx<'_>) -> Result<()> {
        for index in 0..ctx.roles.len() {
            let Role::Code { text } = ctx.roles[index] else {
                continue;
            };
            let section = ctx.section_name(index);
            let bytes = ctx.section_data(index)?;
            if bytes.len() % 8 != 0 {
                return Err(Error::section(
                    &section,
                    format!("size {} is not a multiple of 8", bytes.len()),
                ));
            }
            let funcs: Vec<_> = ctx
                .symbols_in(index)?
                .into_iter()
                .filter(|(_, sym)| sym.st_type() == elf::STT_FUNC)
                .collect();
            if funcs.is_empty() && !bytes.is_empty() && !text {
                return Err(Error::section(&section, "code without a function symbol"));
            }
            for (name, sym) in funcs {
                let offset = sym.st_value(ctx.endian);
                let size = sym.st_size(ctx.endian);
                let bad = |reason: String| Error::Symbol {
                    section: section.clone(),
                    symbol: name.clone(),
                    reason,
                };
                if offset % 8 != 0 || size % 8 != 0 || size == 0 {
                    return Err(bad(format!(
                        "offset {offset} / size {size} not whole instructions"
                    )));
                }
                let end = offset
                    .checked_add(size)
                    .filter(|&e| e <= bytes.len() as u64)
                    .ok_or_else(|| {
                        bad(format!("{offset}+{size} past section end {}", bytes.len()))
                    })?;
                let code = &bytes[offset as usize..end as usize];
                let big = self.endian == Endian::Big;
                let insns = code
                    .chunks_exact(8)
                    .map(|c| Insn::from_bytes(c.try_into().expect("chunks of 8"), big))
                    .collect();
                let function = Function {
                    name: name.clone(),
                    section: section.clone(),
                    section_index: index,
                    offset,
                    insns,
                    relocations: Vec::new(),
                    global: sym.st_bind() != elf::STB_LOCAL,
                };
                if text {
                    self.subprograms.push(function);
                } else {
                    let kind: Option<SectionKind<'_>> = parse_section_name(&section);
                    self.programs.push(Program {
                        function,
                        kind: kind.map(|k| k.def),
                        attach_target: kind.map(|k| k.extras.to_owned()).unwrap_or_default(),
                        autoload: kind.is_none_or(|k| k.autoload),
                    });
                }
            }
        }
        Ok(())
    }

    /// Reads `.BTF` (fixing DATASEC sizes and VAR offsets) and `.BTF.ext`.
    fn read_btf(&mut self, ctx: &Ctx<'_>) -> Result<()> {
        let mut btf_ext = None;
        let mut raw_btf = None;
        for (i, header) in ctx.sections.enumerate() {
            match ctx.sections.section_name(ctx.endian, header)? {
                b".BTF" => raw_btf = Some(ctx.section_data(i.0)?),
                b".BTF.ext" => btf_ext = Some(ctx.section_data(i.0)?.to_vec()),
                _ => {}
            }
        }
        self.btf_ext = btf_ext;
        let parsed = match raw_btf {
            Some(raw) => Some(Btf::parse(raw).map_err(|e| Error::btf(".BTF", e))?),
            None => None,
        };
        let mut undefined = Vec::new();
        for sym in ctx.symbols.iter() {
            if sym.st_shndx(ctx.endian) != elf::SHN_UNDEF || sym.st_type() == elf::STT_SECTION {
                continue;
            }
            let name = ctx.symbol_name(sym)?;
            if !name.is_empty() {
                undefined.push((name, sym.st_bind() == elf::STB_WEAK));
            }
        }
        self.externs = externs::collect(parsed.as_ref(), &undefined)?;
        let Some(parsed) = parsed else { return Ok(()) };
        let source = SectionLayout::new(ctx, &self.externs);
        let fixed = oxbpf_btf::fixup_datasecs(&parsed, &source)
            .map_err(|e| Error::btf(".BTF: fixing DATASECs", e))?;
        self.btf = Some(Btf::from_vec(fixed).map_err(|e| Error::btf(".BTF after fixups", e))?);
        Ok(())
    }

    /// Reads map definitions from `.maps` and legacy `maps` sections.
    fn read_maps(&mut self, ctx: &Ctx<'_>) -> Result<()> {
        for index in 0..ctx.roles.len() {
            let section = ctx.section_name(index);
            match ctx.roles[index] {
                Role::BtfMaps => {
                    let btf = self.btf.as_ref().ok_or_else(|| {
                        Error::section(&section, "BTF-defined maps need a .BTF section")
                    })?;
                    for (name, sym) in ctx.symbols_in(index)? {
                        let mut def =
                            maps::btf_map_def(btf, &name, index, sym.st_value(ctx.endian))?;
                        // With `.values` initialized, the symbol is larger
                        // than its BTF struct: the flexible array follows.
                        def.def_size = def.def_size.max(sym.st_size(ctx.endian));
                        self.maps.push(def);
                    }
                }
                Role::LegacyMaps => {
                    let bytes = ctx.section_data(index)?;
                    let syms = ctx.symbols_in(index)?;
                    for (name, sym) in &syms {
                        let offset = sym.st_value(ctx.endian);
                        let mut size = sym.st_size(ctx.endian);
                        if size == 0 {
                            // Older compilers leave st_size 0: every definition
                            // of the section then has the same size.
                            size = bytes.len() as u64 / syms.len() as u64;
                        }
                        let def = offset
                            .checked_add(size)
                            .and_then(|end| bytes.get(offset as usize..end as usize))
                            .ok_or_else(|| Error::Symbol {
                                section: section.clone(),
                                symbol: name.clone(),
                                reason: format!("{offset}+{size} past section end {}", bytes.len()),
                            })?;
                        self.maps.push(maps::legacy_map_def(
                            name,
                            def,
                            self.endian,
                            index,
                            offset,
                        )?);
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Reads `.struct_ops` and `.struct_ops.link` sections: each variable
    /// is a struct_ops map whose value is the struct's image, its function
    /// pointers relocated to programs.
    fn read_struct_ops(&mut self, ctx: &Ctx<'_>) -> Result<()> {
        for index in 0..ctx.roles.len() {
            let Role::StructOps { link } = ctx.roles[index] else {
                continue;
            };
            let section = ctx.section_name(index);
            let bytes = ctx.section_data(index)?;
            let btf = self
                .btf
                .as_ref()
                .ok_or_else(|| Error::section(&section, "struct_ops maps need a .BTF section"))?;
            for (name, sym) in ctx.symbols_in(index)? {
                let offset = sym.st_value(ctx.endian);
                let size = sym.st_size(ctx.endian);
                let data = offset
                    .checked_add(size)
                    .and_then(|end| bytes.get(offset as usize..end as usize))
                    .ok_or_else(|| Error::Symbol {
                        section: section.clone(),
                        symbol: name.clone(),
                        reason: format!("{offset}+{size} past section end {}", bytes.len()),
                    })?;
                let local_type = maps::datasec_var_type(btf, &section, &name)?;
                let type_name = btf
                    .name(local_type)
                    .map_err(|e| Error::btf(format!("struct_ops map {name}"), e))?
                    .to_owned();
                if type_name.is_empty() {
                    return Err(Error::map(
                        &name,
                        "a struct_ops map needs a named struct type",
                    ));
                }
                self.maps.push(MapDef::struct_ops(
                    &name,
                    maps::StructOps {
                        type_name,
                        local_type,
                        data: data.to_vec(),
                        funcs: Vec::new(),
                        link,
                    },
                    index,
                    offset,
                ));
            }
        }
        // Function pointers: ABS64 relocations of the struct_ops sections.
        for (_, header) in ctx.sections.enumerate() {
            let Some((rels, _)) = header.rel(ctx.endian, ctx.data)? else {
                continue;
            };
            let target = header.sh_info(ctx.endian) as usize;
            if !matches!(ctx.roles.get(target), Some(Role::StructOps { .. })) {
                continue;
            }
            let section = ctx.section_name(target);
            for rel in rels {
                let offset = rel.r_offset(ctx.endian);
                let bad = |reason: String| Error::Relocation {
                    section: section.clone(),
                    offset,
                    reason,
                };
                let sym_index = rel.r_sym(ctx.endian) as usize;
                let sym = ctx
                    .symbols
                    .symbol(SymbolIndex(sym_index))
                    .map_err(|_| bad(format!("symbol index {sym_index} out of range")))?;
                let (value, sym_section) = (sym.st_value(ctx.endian), ctx.symbol_section(sym));
                let prog = self
                    .programs
                    .iter()
                    .find(|p| {
                        Some(p.function.section_index) == sym_section && p.function.offset == value
                    })
                    .ok_or_else(|| bad("a struct_ops member that points to no program".into()))?
                    .name()
                    .to_owned();
                let map = self
                    .maps
                    .iter_mut()
                    .find(|m| {
                        m.section_index == target
                            && offset >= m.section_offset
                            && offset < m.section_offset + m.def_size
                    })
                    .ok_or_else(|| bad("not inside any struct_ops variable".into()))?;
                let at = u32::try_from(offset - map.section_offset)
                    .map_err(|_| bad("offset too large".into()))?;
                if let Some(ops) = map.struct_ops.as_mut() {
                    ops.funcs.push((at, prog));
                }
            }
        }
        Ok(())
    }

    /// Reads the relocations of `.maps` that fill `values` arrays: initial
    /// slots of map-in-maps (other maps) and prog arrays (programs).
    fn read_map_values(&mut self, ctx: &Ctx<'_>) -> Result<()> {
        for (_, header) in ctx.sections.enumerate() {
            let Some((rels, _)) = header.rel(ctx.endian, ctx.data)? else {
                continue;
            };
            let maps_index = header.sh_info(ctx.endian) as usize;
            if ctx.roles.get(maps_index) != Some(&Role::BtfMaps) {
                continue;
            }
            let section = ctx.section_name(maps_index);
            for rel in rels {
                let offset = rel.r_offset(ctx.endian);
                let bad = |reason: String| Error::Relocation {
                    section: section.clone(),
                    offset,
                    reason,
                };
                if rel.r_type(ctx.endian).0 != R_BPF_64_ABS64 {
                    return Err(bad(format!(
                        "relocation type {} in .maps",
                        rel.r_type(ctx.endian).0
                    )));
                }
                let sym_index = rel.r_sym(ctx.endian) as usize;
                let sym = ctx
                    .symbols
                    .symbol(SymbolIndex(sym_index))
                    .map_err(|_| bad(format!("symbol index {sym_index} out of range")))?;
                let symbol = ctx.symbol_name(sym)?;
                let owner = self
                    .maps
                    .iter()
                    .position(|m| {
                        m.section_index == maps_index
                            && offset >= m.section_offset
                            && offset < m.section_offset + m.def_size
                    })
                    .ok_or_else(|| bad("not inside any map definition".into()))?;
                let def = &self.maps[owner];
                let values = def
                    .values_offset
                    .ok_or_else(|| bad(format!("map {} has no values member", def.name)))?;
                let at = offset - def.section_offset;
                if at < values || (at - values) % 8 != 0 {
                    return Err(bad(format!("not a slot of map {}'s values", def.name)));
                }
                let slot = u32::try_from((at - values) / 8)
                    .map_err(|_| bad("slot out of range".into()))?;
                if slot >= def.max_entries {
                    return Err(bad(format!(
                        "slot {slot} of map {} with max_entries {}",
                        def.name, def.max_entries
                    )));
                }
                let value = sym.st_value(ctx.endian);
                let init = match ctx
                    .symbol_section(sym)
                    .map(|s| (s, ctx.roles.get(s).copied()))
                {
                    Some((s, Some(Role::BtfMaps))) => {
                        let target = self
                            .maps
                            .iter()
                            .position(|m| m.section_index == s && m.section_offset == value)
                            .ok_or_else(|| bad(format!("{symbol} is not a map")))?;
                        MapInit::Map(target)
                    }
                    Some((s, Some(Role::Code { .. }))) => {
                        let prog = self
                            .programs
                            .iter()
                            .find(|p| p.function.section_index == s && p.function.offset == value)
                            .ok_or_else(|| bad(format!("{symbol} is not an entry program")))?;
                        MapInit::Program(prog.name().to_owned())
                    }
                    _ => return Err(bad(format!("{symbol} is neither a map nor a program"))),
                };
                self.maps[owner].init.push((slot, init));
            }
        }
        for map in &mut self.maps {
            map.init.sort_by_key(|(slot, _)| *slot);
        }
        Ok(())
    }

    /// Reads the relocations of every executable section and attaches them
    /// to the functions they fall in.
    fn read_relocations(&mut self, ctx: &Ctx<'_>) -> Result<()> {
        for (_, header) in ctx.sections.enumerate() {
            let Some((rels, symtab)) = header.rel(ctx.endian, ctx.data)? else {
                continue;
            };
            let target = header.sh_info(ctx.endian) as usize;
            let Some(&Role::Code { .. }) = ctx.roles.get(target) else {
                continue;
            };
            let section = ctx.section_name(target);
            if symtab != ctx.symbols.section() {
                return Err(Error::section(
                    &section,
                    format!(
                        "relocations refer to section #{} instead of the symbol table",
                        symtab.0
                    ),
                ));
            }
            for rel in rels {
                let offset = rel.r_offset(ctx.endian);
                let r_type = rel.r_type(ctx.endian).0;
                let bad = |reason: String| Error::Relocation {
                    section: section.clone(),
                    offset,
                    reason,
                };
                let sym_index = rel.r_sym(ctx.endian) as usize;
                let sym = ctx
                    .symbols
                    .symbol(SymbolIndex(sym_index))
                    .map_err(|_| bad(format!("symbol index {sym_index} out of range")))?;
                let mut symbol = ctx.symbol_name(sym)?;
                if symbol.is_empty() {
                    if let Some(s) = ctx.symbol_section(sym) {
                        symbol = ctx.section_name(s);
                    }
                }
                let func = self
                    .function_at_mut(target, offset)
                    .ok_or_else(|| bad("not inside any function".into()))?;
                if offset % 8 != 0 {
                    return Err(bad("not on an instruction boundary".into()));
                }
                let insn_index = ((offset - func.offset) / 8) as usize;
                let insn = func.insns[insn_index];
                let sym_section = ctx.symbol_section(sym);
                let is_section_sym = sym.st_type() == elf::STT_SECTION;
                let value = sym.st_value(ctx.endian);
                let target_kind = match r_type {
                    R_BPF_64_64 => {
                        if !insn.is_ld_imm64() || insn_index + 1 >= func.insns.len() {
                            return Err(bad(format!(
                                "R_BPF_64_64 on a non-ld_imm64 instruction {insn:?}"
                            )));
                        }
                        match sym_section.map(|s| (s, ctx.roles.get(s).copied())) {
                            None => RelocTarget::Extern {
                                name: symbol.clone(),
                                weak: sym.st_bind() == elf::STB_WEAK,
                            },
                            Some((s, Some(Role::BtfMaps | Role::LegacyMaps))) => {
                                let at = if is_section_sym {
                                    insn.imm as u64
                                } else {
                                    value
                                };
                                let map = self
                                    .maps
                                    .iter()
                                    .position(|m| m.section_index == s && m.section_offset == at)
                                    .ok_or_else(|| {
                                        bad(format!("no map at offset {at} of its section"))
                                    })?;
                                RelocTarget::Map(map)
                            }
                            Some((_, Some(Role::Data(d)))) => RelocTarget::Data {
                                section: d,
                                offset: value.wrapping_add(insn.imm as i64 as u64),
                            },
                            Some((_, Some(Role::Arena))) => RelocTarget::Arena {
                                offset: value.wrapping_add(insn.imm as i64 as u64),
                            },
                            Some((s, Some(Role::Code { .. }))) => {
                                let at = if is_section_sym {
                                    insn.imm as i64 as u64
                                } else {
                                    value
                                };
                                RelocTarget::FuncAddr(FuncRef {
                                    section_index: s,
                                    offset: at,
                                })
                            }
                            Some((s, _)) => {
                                return Err(bad(format!(
                                    "symbol {symbol} is in section {}, which is neither maps, data nor code",
                                    ctx.section_name(s)
                                )));
                            }
                        }
                    }
                    R_BPF_64_32 => {
                        if insn.code != 0x85 || insn.src() != oxbpf_asm::opcode::pseudo::CALL {
                            return Err(bad(format!(
                                "R_BPF_64_32 on a non-call instruction {insn:?}"
                            )));
                        }
                        match sym_section {
                            None => RelocTarget::Extern {
                                name: symbol.clone(),
                                weak: sym.st_bind() == elf::STB_WEAK,
                            },
                            Some(s) if matches!(ctx.roles.get(s), Some(Role::Code { .. })) => {
                                let at = if is_section_sym {
                                    (i64::from(insn.imm) + 1).wrapping_mul(8) as u64
                                } else {
                                    value
                                };
                                RelocTarget::Call(FuncRef {
                                    section_index: s,
                                    offset: at,
                                })
                            }
                            Some(s) => {
                                return Err(bad(format!(
                                    "call to symbol {symbol} in non-code section {}",
                                    ctx.section_name(s)
                                )));
                            }
                        }
                    }
                    R_BPF_64_ABS64 | R_BPF_64_ABS32 | R_BPF_64_NODYLD32 => {
                        return Err(bad(format!(
                            "data relocation type {r_type} in a code section"
                        )));
                    }
                    other => return Err(bad(format!("unknown relocation type {other}"))),
                };
                let func = self.function_at_mut(target, offset).expect("found above");
                func.relocations.push(Relocation {
                    insn: insn_index,
                    target: target_kind,
                    symbol,
                });
            }
        }
        Ok(())
    }

    fn function_at_mut(&mut self, section_index: usize, offset: u64) -> Option<&mut Function> {
        self.programs
            .iter_mut()
            .map(|p| &mut p.function)
            .chain(self.subprograms.iter_mut())
            .find(|f| {
                f.section_index == section_index
                    && offset >= f.offset
                    && offset < f.offset + 8 * f.insns.len() as u64
            })
    }
}

/// Section kind from a data section's name and type.
fn data_kind(name: &str, sh_type: elf::SectionType) -> Option<DataKind> {
    let matches =
        |base: &str| name == base || name.strip_prefix(base).is_some_and(|r| r.starts_with('.'));
    if sh_type == elf::SHT_NOBITS && matches(".bss") {
        Some(DataKind::Bss)
    } else if sh_type != elf::SHT_PROGBITS {
        None
    } else if matches(".data") {
        Some(DataKind::Data)
    } else if matches(".rodata") {
        Some(DataKind::Rodata)
    } else {
        None
    }
}

/// What the BTF DATASEC fixup needs to know about the ELF layout: section
/// sizes and symbol offsets, indexed once.
struct SectionLayout<'data, 'e> {
    sizes: HashMap<&'data [u8], u32>,
    vars: HashMap<(usize, &'data [u8]), u32>,
    indices: HashMap<&'data [u8], usize>,
    /// Functions of non-default ELF visibility (`__hidden`).
    hidden_funcs: Vec<&'data [u8]>,
    externs: &'e Externs,
}

impl<'data, 'e> SectionLayout<'data, 'e> {
    fn new(ctx: &Ctx<'data>, externs: &'e Externs) -> Self {
        let mut layout = SectionLayout {
            sizes: HashMap::new(),
            vars: HashMap::new(),
            indices: HashMap::new(),
            hidden_funcs: Vec::new(),
            externs,
        };
        for (i, header) in ctx.sections.enumerate() {
            let Ok(name) = ctx.sections.section_name(ctx.endian, header) else {
                continue;
            };
            if let Ok(size) = u32::try_from(header.sh_size(ctx.endian)) {
                layout.sizes.insert(name, size);
            }
            layout.indices.insert(name, i.0);
        }
        for sym in ctx.symbols.iter() {
            let (Some(section), Ok(name)) = (
                ctx.symbol_section(sym),
                ctx.symbols.symbol_name(ctx.endian, sym),
            ) else {
                continue;
            };
            if sym.st_type() == elf::STT_FUNC
                && matches!(sym.st_visibility(), elf::STV_HIDDEN | elf::STV_INTERNAL)
            {
                layout.hidden_funcs.push(name);
            }
            if let Ok(value) = u32::try_from(sym.st_value(ctx.endian)) {
                layout.vars.insert((section, name), value);
            }
        }
        layout
    }
}

impl oxbpf_btf::DatasecSource for SectionLayout<'_, '_> {
    fn section_size(&self, name: &str) -> Option<u32> {
        if name == KCONFIG_SECTION && self.externs.kconfig_size > 0 {
            return Some(self.externs.kconfig_size);
        }
        self.sizes.get(name.as_bytes()).copied()
    }

    fn var_offset(&self, section: &str, var: &str) -> Option<u32> {
        if section == KCONFIG_SECTION {
            return self.externs.kconfig_offset(var);
        }
        let index = *self.indices.get(section.as_bytes())?;
        self.vars.get(&(index, var.as_bytes())).copied()
    }

    fn is_hidden_func(&self, name: &str) -> bool {
        self.hidden_funcs.contains(&name.as_bytes())
    }
}
