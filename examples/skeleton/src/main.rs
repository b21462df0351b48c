//! Loads the counter through its regular skeleton (or, with `--light`, its
//! light skeleton), attaches it, makes a few getpid() calls and prints
//! what the program counted.

use oxbpf_example_skeleton::{counter, counter_light, getpid_calls, gettid};

macro_rules! run {
    ($skel:ty, $calls:expr) => {{
        let mut open = <$skel>::open()?;
        open.rodata_mut().target_tid = gettid();
        let mut skel = open.load()?;
        skel.attach()?;
        getpid_calls($calls);
        let tid = gettid();
        println!(
            "thread {tid}: {} getpid() calls counted",
            skel.bss().calls()
        );
        let last = skel.bss().last();
        println!("last call: thread {}, system call {}", last.tid, last.nr);
        for (tid, stats) in skel.maps().per_tid().entries()? {
            println!(
                "per_tid[{tid}] = {} calls, last at {} ns",
                stats.calls, stats.last_ns
            );
        }
    }};
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let light = std::env::args().skip(1).any(|a| a == "--light");
    if light {
        println!("light skeleton (generated loader, no ELF or BTF parsing):");
        run!(counter_light::CounterSkel, 5);
    } else {
        println!("regular skeleton:");
        run!(counter::CounterSkel, 5);
    }
    Ok(())
}
