// SPDX-License-Identifier: GPL-2.0
/*
 * cgroup_dev: "cgroup/dev" (BPF_PROG_TYPE_CGROUP_DEVICE, attach type
 * BPF_CGROUP_DEVICE), the cgroup v2 device controller. 1 allows the access,
 * 0 refuses it (EPERM). No test_run.
 *
 * EXPECT (load): one program of type cgroup_device.
 * EXPECT (attached to a fresh cgroup v2 directory, a child process in it):
 *   opening /dev/zero (char 1:5) fails with EPERM; /dev/null (char 1:3)
 *   opens; dev_denied[0] counts the refusals.
 */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} dev_denied SEC(".maps");

SEC("cgroup/dev")
int dev_deny_zero(struct bpf_cgroup_dev_ctx *ctx)
{
	__u32 dev_type = ctx->access_type & 0xFFFF;
	__u32 zero = 0;
	__u64 *v;

	if (dev_type != BPF_DEVCG_DEV_CHAR || ctx->major != 1 || ctx->minor != 5)
		return 1;
	v = bpf_map_lookup_elem(&dev_denied, &zero);
	if (v)
		__sync_fetch_and_add(v, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
