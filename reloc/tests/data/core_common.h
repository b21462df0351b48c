/* SPDX-License-Identifier: GPL-2.0 */
/* Shared by the CO-RE test programs: one array map of u64 results, one
 * slot per value. Each program documents its slots; the Rust tests
 * (reloc/tests/core_kernel.rs) check the relocated constants against the
 * kernel BTF and, loaded live, the values the program stores. */
#pragma once
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define NSLOTS 64

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NSLOTS);
	__type(key, __u32);
	__type(value, __u64);
} results SEC(".maps");

static __always_inline void put(__u32 slot, __u64 v)
{
	bpf_map_update_elem(&results, &slot, &v, BPF_ANY);
}

char LICENSE[] SEC("license") = "GPL";
