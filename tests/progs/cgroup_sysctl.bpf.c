// SPDX-License-Identifier: GPL-2.0
/*
 * cgroup_sysctl: "cgroup/sysctl" (BPF_PROG_TYPE_CGROUP_SYSCTL, attach type
 * BPF_CGROUP_SYSCTL). Runs on every read and write of /proc/sys by a task
 * of the cgroup; 1 allows, 0 refuses with EPERM. No test_run.
 *
 * EXPECT (load): one program of type cgroup_sysctl.
 * EXPECT (attached to a fresh cgroup v2 directory, a child process in it):
 *   reading /proc/sys/kernel/ostype works; writing any file under /proc/sys
 *   (even the value it already holds) fails with EPERM;
 *   sysctl_stats[0] counts reads, sysctl_stats[1] counts refused writes.
 *   Never attach it to the root cgroup.
 */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 2);
} sysctl_stats SEC(".maps");

SEC("cgroup/sysctl")
int sysctl_readonly(struct bpf_sysctl *ctx)
{
	__u32 idx = ctx->write ? 1 : 0;
	__u64 *v = bpf_map_lookup_elem(&sysctl_stats, &idx);

	if (v)
		__sync_fetch_and_add(v, 1);
	return ctx->write ? 0 : 1;
}

char LICENSE[] SEC("license") = "GPL";
