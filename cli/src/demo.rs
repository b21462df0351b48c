//! `oxbpf demo`: the README's first command. Loads the example object
//! shipped in `cli/demo/` (its C source beside it), attaches it to the
//! `raw_syscalls/sys_enter` tracepoint and shows the busiest processes once
//! a second.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use oxbpf::OpenObject;

use crate::Result;

/// The example object, built from `cli/demo/syscount.bpf.c` by
/// `cargo xtask build-demo` and committed, so the demo needs only cargo.
const OBJECT: &[u8] = include_bytes!("../demo/syscount.bpf.o");

/// `struct value { __u64 count; char comm[16]; }` of the example.
const VALUE_SIZE: usize = 24;

pub(crate) fn run(duration: u64, top: usize) -> Result {
    let obj = OpenObject::from_bytes("syscount.bpf.o", OBJECT)?.load()?;
    let prog = obj
        .programs()
        .next()
        .ok_or("the demo object has no program")?;
    let _link = prog.attach()?;
    let counts = obj.map("counts")?;
    println!(
        "oxbpf demo: system calls per process, counted in the kernel by {} ({}), for {duration} s",
        prog.name(),
        prog.section()
    );
    let start = Instant::now();
    let mut previous: HashMap<u32, u64> = HashMap::new();
    for second in 1..=duration {
        let wake = start + Duration::from_secs(second);
        std::thread::sleep(wake.saturating_duration_since(Instant::now()));
        let mut rows = Vec::new();
        for key in counts.keys() {
            let key = key?;
            let Some(value) = counts.lookup(&key, 0)? else {
                continue;
            };
            let (pid, count, comm) = decode(&key, &value)?;
            rows.push((pid, count, comm));
        }
        let delta =
            |pid: u32, count: u64| count - previous.get(&pid).copied().unwrap_or(0).min(count);
        // Busiest in the last second first, then by total.
        rows.sort_by_key(|&(pid, count, _)| {
            (
                std::cmp::Reverse(delta(pid, count)),
                std::cmp::Reverse(count),
                pid,
            )
        });
        let total: u64 = rows.iter().map(|r| r.1).sum();
        println!(
            "\n[{second:>3} s] {} processes, {total} system calls so far",
            rows.len()
        );
        println!(
            "{:>8}  {:<16} {:>12} {:>10}",
            "PID", "COMM", "SYSCALLS", "LAST 1 s"
        );
        for (pid, count, comm) in rows.iter().take(top) {
            println!(
                "{pid:>8}  {comm:<16} {count:>12} {:>10}",
                delta(*pid, *count)
            );
        }
        previous = rows.iter().map(|r| (r.0, r.1)).collect();
    }
    println!("\ndetached; all kernel objects released");
    Ok(())
}

fn decode(key: &[u8], value: &[u8]) -> Result<(u32, u64, String)> {
    let pid = u32::from_ne_bytes(key.try_into().map_err(|_| "key is not 4 bytes")?);
    if value.len() != VALUE_SIZE {
        return Err(format!("value is {} bytes, expected {VALUE_SIZE}", value.len()).into());
    }
    let count = u64::from_ne_bytes(value[..8].try_into().expect("8 bytes"));
    let comm = &value[8..];
    let end = comm.iter().position(|&b| b == 0).unwrap_or(comm.len());
    Ok((
        pid,
        count,
        String::from_utf8_lossy(&comm[..end]).into_owned(),
    ))
}
