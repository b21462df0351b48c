//! Uprobe perf events: the `uprobe` PMU (`/sys/bus/event_source/devices/
//! uprobe`), whose events name a binary, a file offset into it and,
//! optionally, the file offset of a reference counter (a USDT semaphore)
//! that the kernel increments in every process the probe is installed in.

use std::ffi::CStr;
use std::os::fd::OwnedFd;
use std::path::Path;

use crate::error::{Error, Result};
use crate::perf::PerfEventAttr;
use crate::sys;

/// The sysfs file holding the uprobe PMU's perf event type.
pub const UPROBE_PMU_TYPE: &str = "/sys/bus/event_source/devices/uprobe/type";
/// The sysfs file saying which `config` bit makes a return probe.
pub const UPROBE_PMU_RETPROBE: &str = "/sys/bus/event_source/devices/uprobe/format/retprobe";
/// The sysfs file saying where in `config` the reference counter offset
/// goes (`config:32-63`).
pub const UPROBE_PMU_REF_CTR: &str = "/sys/bus/event_source/devices/uprobe/format/ref_ctr_offset";

/// The perf event type of the uprobe PMU; `None` when the kernel has none
/// (no `CONFIG_UPROBE_EVENTS`).
pub fn uprobe_pmu_type() -> Result<Option<u32>> {
    let path = Path::new(UPROBE_PMU_TYPE);
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::Io {
                what: "reading",
                path: path.to_path_buf(),
                source,
            });
        }
    };
    text.trim().parse().map(Some).map_err(|_| Error::Parse {
        path: path.to_path_buf(),
        what: format!("number {:?}", text.trim()),
    })
}

/// `config:N` or `config:N-M` → `(N, M)` (M = N for a single bit).
pub fn parse_config_bits(text: &str) -> Option<(u32, u32)> {
    let spec = text.trim().strip_prefix("config:")?;
    let (lo, hi) = match spec.split_once('-') {
        Some((lo, hi)) => (lo.parse().ok()?, hi.parse().ok()?),
        None => {
            let n = spec.parse().ok()?;
            (n, n)
        }
    };
    (lo <= hi && hi < 64).then_some((lo, hi))
}

fn read_config_bits(path: &str) -> Result<(u32, u32)> {
    let path = Path::new(path);
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        what: "reading the uprobe PMU's format from",
        path: path.to_path_buf(),
        source,
    })?;
    parse_config_bits(&text).ok_or_else(|| Error::Parse {
        path: path.to_path_buf(),
        what: format!("format {:?}", text.trim()),
    })
}

/// The `config` of a uprobe event: the return-probe bit and the reference
/// counter offset placed where the PMU's format files say (`retprobe`
/// at `ret_bit`, the offset at bits `ref_ctr_bits.0..`).
pub fn uprobe_config(
    retprobe: bool,
    ret_bit: u32,
    ref_ctr_offset: u64,
    ref_ctr_bits: (u32, u32),
) -> Result<u64> {
    let (lo, hi) = ref_ctr_bits;
    let width = hi - lo + 1;
    if width < 64 && ref_ctr_offset >> width != 0 {
        return Err(Error::invalid(format!(
            "uprobe: reference counter offset {ref_ctr_offset:#x} does not fit in {width} bits"
        )));
    }
    let mut config = ref_ctr_offset << lo;
    if retprobe {
        config |= 1u64 << ret_bit;
    }
    Ok(config)
}

/// `perf_event_open` of a uprobe (or, with `retprobe`, a uretprobe) at
/// file offset `offset` of the binary `path`, through the uprobe PMU
/// whose type is `pmu_type` ([`uprobe_pmu_type`]), for process `pid` (-1:
/// every process) on `cpu` (-1: all; one of them must not be -1),
/// close-on-exec. A non-zero `ref_ctr_offset` is the file offset of a
/// 16-bit reference counter (a USDT semaphore) that the kernel increments
/// while the probe is installed (kernel 4.20+).
///
/// A `BPF_PROG_TYPE_KPROBE` program attached to the event runs on every
/// hit of matching processes. Closing the event removes the probe.
pub fn perf_event_open_uprobe(
    pmu_type: u32,
    path: &CStr,
    offset: u64,
    ref_ctr_offset: u64,
    retprobe: bool,
    pid: i32,
    cpu: i32,
) -> Result<OwnedFd> {
    if path.is_empty() {
        return Err(Error::invalid("perf_event_open_uprobe: empty path"));
    }
    let ret_bit = if retprobe {
        read_config_bits(UPROBE_PMU_RETPROBE)?.0
    } else {
        0
    };
    let ref_bits = if ref_ctr_offset != 0 {
        read_config_bits(UPROBE_PMU_REF_CTR)?
    } else {
        (32, 63)
    };
    let attr = PerfEventAttr {
        r#type: pmu_type,
        config: uprobe_config(retprobe, ret_bit, ref_ctr_offset, ref_bits)?,
        sample_period: 1,
        wakeup_events: 1,
        // `uprobe_path`: the kernel copies the path (a user string) during
        // the call; `path` is borrowed for all of it.
        config1: sys::addr(path.as_ptr()),
        // `probe_offset`.
        config2: offset,
        ..Default::default()
    };
    sys::perf_event_open(&attr, pid, cpu)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_bits_parse() {
        assert_eq!(parse_config_bits("config:0\n"), Some((0, 0)));
        assert_eq!(parse_config_bits("config:32-63"), Some((32, 63)));
        assert_eq!(parse_config_bits("config:63-32"), None);
        assert_eq!(parse_config_bits("config:64"), None);
        assert_eq!(parse_config_bits("config1:0"), None);
    }

    #[test]
    fn config_places_the_counter_and_the_return_bit() {
        assert_eq!(uprobe_config(false, 0, 0, (32, 63)).unwrap(), 0);
        assert_eq!(uprobe_config(true, 0, 0, (32, 63)).unwrap(), 1);
        assert_eq!(
            uprobe_config(true, 0, 0x1234, (32, 63)).unwrap(),
            0x1234_0000_0001
        );
        assert!(uprobe_config(false, 0, 1 << 40, (32, 63)).is_err());
    }

    #[test]
    fn this_kernel_has_a_uprobe_pmu_with_the_documented_format() {
        let t = uprobe_pmu_type().unwrap().expect("uprobe PMU");
        assert!(t >= 6, "dynamic PMU types come after the fixed ones: {t}");
        assert_eq!(read_config_bits(UPROBE_PMU_RETPROBE).unwrap(), (0, 0));
        assert_eq!(read_config_bits(UPROBE_PMU_REF_CTR).unwrap(), (32, 63));
    }

    #[test]
    fn a_missing_binary_is_an_error() {
        let t = uprobe_pmu_type().unwrap().expect("uprobe PMU");
        let err = perf_event_open_uprobe(t, c"/nonexistent/oxbpf", 0, 0, false, -1, 0).unwrap_err();
        assert!(err.errno().is_some(), "{err}");
    }
}
