//! `oxbpf run OBJ`: load, attach every program its section names a place
//! for, stream ring buffer and perf buffer records, and dump every map at the end — typed
//! through the object's BTF where it describes them, hex otherwise.

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use oxbpf::btf::{Btf, TypeId};
use oxbpf::{MapType, Object, OpenObject, PerfBuffer, PerfRecord, RingBuffer};

use crate::Result;

/// What `oxbpf run` was asked.
pub(crate) struct RunOptions<'a> {
    pub(crate) object: &'a Path,
    pub(crate) duration: Option<u64>,
    pub(crate) json: bool,
    /// `MAP=TYPE`: decode the records of ring buffer MAP as the object's
    /// BTF type TYPE (`struct event` or `event`).
    pub(crate) record_types: &'a [String],
}

pub(crate) fn run(opts: &RunOptions<'_>) -> Result {
    let open = OpenObject::open(opts.object)?;
    let btf = open
        .elf()
        .btf
        .as_ref()
        .map(|b| Btf::from_vec(b.as_bytes().to_vec()))
        .transpose()?;
    let obj = open.load()?;
    let report = obj.attach_all_report()?;
    let out = Output { json: opts.json };
    for (prog, _) in &report.links {
        out.note(&format!("attached {prog}"));
    }
    for s in &report.skipped {
        out.note(&format!(
            "not attached: {} (section {}): {}",
            s.program, s.section, s.reason
        ));
    }

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst))?;
    }
    let mut rings = RingBuffer::new()?;
    let mut ring_names = Vec::new();
    let mut ring_types = Vec::new();
    for map in obj.maps().filter(|m| m.map_type() == MapType::RINGBUF) {
        rings.add(map.map_fd())?;
        ring_names.push(map.name().to_owned());
        ring_types.push(record_type(btf.as_ref(), opts.record_types, map.name())?);
    }
    let mut perfs = Vec::new();
    for map in obj
        .maps()
        .filter(|m| m.map_type() == MapType::PERF_EVENT_ARRAY)
    {
        let ty = record_type(btf.as_ref(), opts.record_types, map.name())?;
        perfs.push((map.name().to_owned(), ty, PerfBuffer::new(map.map_fd(), 8)?));
    }
    let deadline = opts
        .duration
        .map(|s| Instant::now() + Duration::from_secs(s));
    out.note(&format!(
        "running{}; Ctrl-C to stop",
        opts.duration
            .map(|s| format!(" for {s} s"))
            .unwrap_or_default()
    ));
    while !stop.load(Ordering::SeqCst) && deadline.is_none_or(|d| Instant::now() < d) {
        let wait = Duration::from_millis(if perfs.is_empty() { 100 } else { 50 });
        if rings.is_empty() && perfs.is_empty() {
            std::thread::sleep(wait);
            continue;
        }
        if !rings.is_empty() {
            rings.poll(Some(wait), |i, bytes| {
                out.record(&ring_names[i], btf.as_ref(), ring_types[i], bytes);
                ControlFlow::Continue(())
            })?;
        }
        for (name, ty, perf) in &mut perfs {
            perf.poll(Some(wait), |r| {
                match r {
                    PerfRecord::Sample { data, .. } => out.record(name, btf.as_ref(), *ty, data),
                    PerfRecord::Lost { cpu, count } => {
                        out.note(&format!("{name}: {count} records lost on CPU {cpu}"))
                    }
                }
                ControlFlow::Continue(())
            })?;
        }
    }
    drop(report);
    out.note("detached");
    dump_maps(&obj, btf.as_ref(), &out)?;
    Ok(())
}

/// The type named for a ring buffer's records by `--record-type MAP=TYPE`.
fn record_type(btf: Option<&Btf<'_>>, specs: &[String], map: &str) -> Result<Option<TypeId>> {
    let Some(spec) = specs
        .iter()
        .find_map(|s| s.strip_prefix(map)?.strip_prefix('='))
    else {
        return Ok(None);
    };
    let btf = btf.ok_or("the object has no BTF to decode records with")?;
    let name = spec.trim_start_matches("struct ").trim();
    for kind in [
        oxbpf::btf::Kind::Struct,
        oxbpf::btf::Kind::Union,
        oxbpf::btf::Kind::Typedef,
    ] {
        if let Some(id) = btf.find_by_name_kind(name, kind)? {
            return Ok(Some(id));
        }
    }
    Err(format!("--record-type {map}={spec}: no such type in the object's BTF").into())
}

struct Output {
    json: bool,
}

impl Output {
    fn note(&self, text: &str) {
        if self.json {
            eprintln!("{text}");
        } else {
            println!("{text}");
        }
    }

    fn record(&self, map: &str, btf: Option<&Btf<'_>>, ty: Option<TypeId>, bytes: &[u8]) {
        let decoded = ty.and_then(|t| btf?.decode_value(t, bytes).ok());
        match (self.json, decoded) {
            (true, Some(v)) => println!("{{\"map\":{map:?},\"record\":{}}}", v.to_json()),
            (true, None) => println!("{{\"map\":{map:?},\"bytes\":{:?}}}", bytes),
            (false, Some(v)) => println!("{map}: {v}"),
            (false, None) => println!("{map}: {}", hex(bytes)),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every map's entries, decoded through BTF where the map has key/value
/// types, else as hex; per-CPU maps show one value per CPU.
fn dump_maps(obj: &Object, btf: Option<&Btf<'_>>, out: &Output) -> Result {
    let mut json_maps = Vec::new();
    for map in obj.maps() {
        if !dumpable(map.map_type()) {
            continue;
        }
        let info = map.info()?;
        let decode = |id: u32, bytes: &[u8]| -> Option<oxbpf::btf::Value> {
            (id != 0).then_some(())?;
            btf?.decode_value(TypeId(id), bytes).ok()
        };
        let per_cpu = matches!(
            map.map_type(),
            MapType::PERCPU_ARRAY | MapType::PERCPU_HASH | MapType::LRU_PERCPU_HASH
        );
        let mut entries = Vec::new();
        for key in map.keys() {
            let key = key?;
            let values: Vec<Vec<u8>> = if per_cpu {
                let Some(v) = map.lookup_percpu(&key, 0)? else {
                    continue;
                };
                v
            } else {
                let Some(v) = map.lookup(&key, 0)? else {
                    continue;
                };
                vec![v]
            };
            let k = decode(info.btf_key_type_id, &key).or_else(|| {
                // Array indices and other unnamed 4-byte keys read best as numbers.
                let word: [u8; 4] = key.as_slice().try_into().ok()?;
                Some(oxbpf::btf::Value::Uint(u128::from(u32::from_ne_bytes(
                    word,
                ))))
            });
            let vs: Vec<_> = values
                .into_iter()
                .map(|v| (decode(info.btf_value_type_id, &v), v))
                .collect();
            entries.push((k, key, vs));
        }
        if out.json {
            let items: Vec<String> = entries
                .iter()
                .map(|(k, key, vs)| {
                    let key = k
                        .as_ref()
                        .map_or_else(|| format!("{key:?}"), |k| k.to_json());
                    let values: Vec<String> = vs
                        .iter()
                        .map(|(v, raw)| {
                            v.as_ref()
                                .map_or_else(|| format!("{raw:?}"), |v| v.to_json())
                        })
                        .collect();
                    let value = if per_cpu {
                        format!("[{}]", values.join(","))
                    } else {
                        values.join(",")
                    };
                    format!("{{\"key\":{key},\"value\":{value}}}")
                })
                .collect();
            json_maps.push(format!(
                "{{\"name\":{:?},\"type\":{:?},\"entries\":[{}]}}",
                map.name(),
                map.map_type().to_string(),
                items.join(",")
            ));
        } else {
            println!(
                "map {} ({}), {} entries",
                map.name(),
                map.map_type(),
                entries.len()
            );
            for (k, key, vs) in &entries {
                let key = k.as_ref().map_or_else(|| hex(key), ToString::to_string);
                let values: Vec<String> = vs
                    .iter()
                    .map(|(v, raw)| v.as_ref().map_or_else(|| hex(raw), ToString::to_string))
                    .collect();
                if per_cpu {
                    println!("  {key} => per CPU [{}]", values.join(", "));
                } else {
                    println!("  {key} => {}", values.join(""));
                }
            }
        }
    }
    if out.json {
        println!("{{\"maps\":[{}]}}", json_maps.join(","));
    }
    Ok(())
}

/// Maps whose entries user space can list and read.
fn dumpable(t: MapType) -> bool {
    matches!(
        t,
        MapType::HASH
            | MapType::ARRAY
            | MapType::PERCPU_HASH
            | MapType::PERCPU_ARRAY
            | MapType::LRU_HASH
            | MapType::LRU_PERCPU_HASH
            | MapType::LPM_TRIE
    )
}
