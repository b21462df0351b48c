//! USDT probes in the live kernel: a C program built here with
//! `<sys/sdt.h>` (Debian's systemtap-sdt-dev) whose probe `oxbpf:tick` has
//! three arguments of different sizes and a semaphore, traced by
//! `usdt.bpf.c` through the spec map of libbpf's `usdt.bpf.h`.
#![forbid(unsafe_code)]

mod attach_support;
mod behaviour_support;

use std::io::Write;
use std::process::{Command, Stdio};

use attach_support::build_c;
use behaviour_support::{i64_at, u64_at, value_of};
use oxbpf::sys::{AttachType, LinkType, link_info};
use oxbpf::{OpenObject, UsdtArgKind, UsdtOptions, parse_usdt_notes};
use oxbpf_tests::{FdSnapshot, kernel_lock, object};

/// Whether the running kernel has uprobe_multi links: its BTF has the
/// function that attaches them.
fn kernel_has_uprobe_multi() -> bool {
    let btf = oxbpf::btf::Btf::from_file(std::path::Path::new(oxbpf::VMLINUX_BTF)).unwrap();
    btf.find_by_name_kind("bpf_uprobe_multi_link_attach", oxbpf::btf::Kind::Func)
        .unwrap()
        .is_some()
}

/// Fires `oxbpf:tick(a, b, c)` argv[1] times after reading a line, each
/// time only if the probe's semaphore is raised, and prints how many
/// times it did.
const SOURCE: &str = r#"
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

__extension__ unsigned short oxbpf_tick_semaphore
	__attribute__((unused)) __attribute__((section(".probes")));

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1, fired = 0;
	char line[16];

	if (!fgets(line, sizeof(line), stdin))
		return 2;
	for (int i = 0; i < n; i++) {
		volatile int32_t a = -1000 - i;
		volatile uint8_t b = 200 + i;
		volatile int64_t c = 0x123456789LL * (i + 1);
		int32_t av = a;
		uint8_t bv = b;
		int64_t cv = c;

		if (oxbpf_tick_semaphore) {
			fired++;
			DTRACE_PROBE3(oxbpf, tick, av, bv, cv);
		}
	}
	printf("fired=%d\n", fired);
	return 0;
}
"#;

/// Runs the program with `n`, calling `attached(pid)` once it waits, and
/// returns what it printed.
fn run_ticks(bin: &std::path::Path, n: u32, attached: impl FnOnce(u32)) -> String {
    let mut child = Command::new(bin)
        .arg(n.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    attached(child.id());
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}", out);
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn the_notes_of_a_sdt_binary_parse() {
    if !attach_support::have(&["cc"], &[]) {
        return;
    }
    let (bin, _dir) = build_c("usdt_notes", SOURCE);
    let notes = parse_usdt_notes(&std::fs::read(&bin).unwrap()).unwrap();
    assert_eq!(notes.len(), 1, "{notes:?}");
    let n = &notes[0];
    assert_eq!((n.provider.as_str(), n.name.as_str()), ("oxbpf", "tick"));
    assert_ne!(n.semaphore, 0);
    assert_ne!(n.address, 0);
    let shape: Vec<(u8, bool)> = n.args.iter().map(|a| (a.size, a.signed)).collect();
    assert_eq!(shape, [(4, true), (1, false), (8, true)], "{}", n.args_text);
    assert!(
        n.args
            .iter()
            .all(|a| !matches!(a.kind, UsdtArgKind::Const(_))),
        "volatile arguments are not constants: {}",
        n.args_text
    );
}

#[test]
fn usdt_probe_arguments_cookie_and_semaphore() {
    if !attach_support::have(&["cc"], &[]) {
        return;
    }
    let _k = kernel_lock();
    let fds = FdSnapshot::take();
    {
        let (bin, _dir) = build_c("usdt_tick", SOURCE);
        // Without a probe attached, the semaphore stays down.
        assert_eq!(run_ticks(&bin, 3, |_| {}), "fired=0");

        // Both ways of attaching: as the planner chooses for this kernel,
        // and perf-event uprobes as the user may ask (no attach type).
        for perf_events in [false, true] {
            usdt_round(&bin, perf_events);
        }
    }
    fds.assert_no_leak("usdt");
}

/// One load and attach of usdt.bpf.c to `bin`, checked in the kernel.
fn usdt_round(bin: &std::path::Path, perf_events: bool) {
    let mut open = OpenObject::open(object("usdt")).unwrap();
    if perf_events {
        open.program_mut("usdt_tick")
            .unwrap()
            .set_expected_attach_type(None);
    }
    let obj = open.load().unwrap();
    let prog = obj.program("usdt_tick").unwrap();
    let calls = obj.map("usdt_calls").unwrap();
    let mut link = None;
    let mut pid = 0;
    let out = run_ticks(bin, 4, |p| {
        pid = p;
        let opts = UsdtOptions::default()
            .with_pid(p as i32)
            .with_cookie(0xC0FFEE);
        link = Some(prog.attach_usdt(bin, "oxbpf", "tick", &opts).unwrap());
    });
    assert_eq!(out, "fired=4", "the semaphore was not raised");
    let link = link.unwrap();
    assert_eq!(link.parts().len(), 1, "one probe site");
    // As libbpf: one uprobe_multi link where the kernel has the link
    // type (its BTF lists the attach function), perf-event uprobes
    // elsewhere; the kernel's view of the link says which.
    let multi = kernel_has_uprobe_multi() && !perf_events;
    assert_eq!(
        prog.expected_attach_type(),
        multi.then_some(AttachType::TRACE_UPROBE_MULTI)
    );
    let kernel_link = link.parts()[0].link_fd().map(|fd| link_info(fd).unwrap());
    if multi {
        assert_eq!(kernel_link.map(|i| i.r#type), Some(LinkType::UPROBE_MULTI));
    } else if let Some(info) = kernel_link {
        assert_eq!(info.r#type, LinkType::PERF_EVENT);
    }
    let v = value_of(calls, pid).expect("the program ran for the child");
    assert_eq!(
        (
            u64_at(&v, 0),
            i64_at(&v, 8),
            u64_at(&v, 16),
            i64_at(&v, 24),
            u64_at(&v, 32),
            u64_at(&v, 40)
        ),
        (4, -1003, 203, 0x1_2345_6789 * 4, 3, 0xC0FFEE)
    );

    // Detached: the semaphore is down again and nothing is counted.
    drop(link);
    let mut pid2 = 0;
    assert_eq!(run_ticks(bin, 2, |p| pid2 = p), "fired=0");
    assert!(value_of(calls, pid2).is_none());

    // A probe the binary does not have.
    let err = prog
        .attach_usdt(bin, "oxbpf", "nope", &UsdtOptions::default())
        .unwrap_err();
    assert!(err.to_string().contains("oxbpf:nope"), "{err}");
}
