// SPDX-License-Identifier: GPL-2.0
/*
 * BPF LSM on the file_open hook, acting only for one thread.
 *
 * lsm_ctl[0] = the watched thread id (set by the test), lsm_ctl[1] = 1 to
 * deny its opens. lsm_stats[0] counts the watched thread's opens,
 * lsm_stats[1] the denied ones.
 *
 * Test: attach; set lsm_ctl = [gettid(), 1]; open /dev/null → EPERM; set
 * lsm_ctl[1] = 0; open /dev/null → works; set lsm_ctl[0] = 0.
 * Observe: lsm_stats = [2, 1]. Detach: with lsm_ctl = [gettid(), 1], the
 * open works and lsm_stats is unchanged.
 */
#include "../progs/common.h"

char LICENSE[] SEC("license") = "GPL";

#define EPERM 1

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 2);
} lsm_ctl SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 2);
} lsm_stats SEC(".maps");

static __always_inline __u64 ctl(__u32 k)
{
	__u64 *v = bpf_map_lookup_elem(&lsm_ctl, &k);
	return v ? *v : 0;
}

static __always_inline void bump(__u32 k)
{
	__u64 *v = bpf_map_lookup_elem(&lsm_stats, &k);
	if (v)
		__sync_fetch_and_add(v, 1);
}

SEC("lsm/file_open")
int BPF_PROG(lsm_file_open, struct file *file)
{
	if (ctl(0) != current_tid())
		return 0;
	bump(0);
	if (ctl(1)) {
		bump(1);
		return -EPERM;
	}
	return 0;
}
