// SPDX-License-Identifier: GPL-2.0
/*
 * cgroup_sockopt: "cgroup/getsockopt" and "cgroup/setsockopt"
 * (BPF_PROG_TYPE_CGROUP_SOCKOPT, expected attach types
 * BPF_CGROUP_GETSOCKOPT / BPF_CGROUP_SETSOCKOPT, required at load time).
 * No test_run: these run on socket option calls inside a cgroup.
 *
 * EXPECT (load): two programs of type cgroup_sockopt.
 * EXPECT (attached to a fresh cgroup v2 directory, a child process in it):
 *   getsockopt_tos: getsockopt(fd, SOL_IP, IP_TOS, buf, &len = 4) on an
 *                   IPv4 socket succeeds with len == 1 and buf[0] == 0x2C;
 *                   other options are untouched.
 *   setsockopt_no_ttl: setsockopt(fd, SOL_IP, IP_TTL, ...) fails with EPERM;
 *                   sockopt_stats[0] counts the refusals.
 */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} sockopt_stats SEC(".maps");

SEC("cgroup/getsockopt")
int getsockopt_tos(struct bpf_sockopt *ctx)
{
	__u8 *optval = ctx->optval;
	__u8 *optval_end = ctx->optval_end;

	if (ctx->level != SOL_IP || ctx->optname != IP_TOS)
		return 1;
	if (optval + 1 > optval_end)
		return 1;
	optval[0] = 0x2C;
	ctx->optlen = 1;
	return 1;
}

SEC("cgroup/setsockopt")
int setsockopt_no_ttl(struct bpf_sockopt *ctx)
{
	__u32 zero = 0;
	__u64 *v;

	if (ctx->level != SOL_IP || ctx->optname != IP_TTL)
		return 1;
	v = bpf_map_lookup_elem(&sockopt_stats, &zero);
	if (v)
		__sync_fetch_and_add(v, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
