// SPDX-License-Identifier: GPL-2.0
/*
 * usdt: a USDT program on the BPF-side ABI of libbpf's <bpf/usdt.bpf.h>:
 * its maps (__bpf_usdt_specs, __bpf_usdt_ip_to_spec_id) and its
 * struct __bpf_usdt_spec, found through the attach cookie (the spec id),
 * read with the header's own bpf_usdt_arg(), bpf_usdt_arg_cnt() and
 * bpf_usdt_cookie(). Those are __hidden global functions taking the
 * context: the verifier accepts them only if the loader makes their BTF
 * FUNCs static (checked in the caller's context), as oxbpf does for
 * functions of hidden ELF visibility. Also uses the LINUX_HAS_BPF_COOKIE
 * kconfig extern.
 *
 * EXPECT (load): program usdt_tick (kprobe type); maps usdt_calls (hash,
 *   key 4, value 48, max 64), __bpf_usdt_specs (array, value 208),
 *   __bpf_usdt_ip_to_spec_id (hash), .kconfig; the BTF FUNCs of
 *   bpf_usdt_arg, bpf_usdt_arg_cnt and bpf_usdt_cookie static.
 * EXPECT (attach usdt_tick to probe oxbpf:tick of a C program built with
 *   <sys/sdt.h>, whose probe has the arguments (int32_t a, uint8_t b,
 *   int64_t c); the program fires it N times, the last with (A, B, C);
 *   cookie K given at attach):
 *   usdt_calls[pid of the program] == { calls: N, a: A (sign-extended),
 *   b: B, c: C, arg_cnt: 3, cookie: K }.
 */
#include "common.h"
#include <bpf/usdt.bpf.h>

struct usdt_stats {
	__u64 calls;
	__s64 a;
	__u64 b;
	__s64 c;
	__u64 arg_cnt;
	__u64 cookie;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct usdt_stats);
	__uint(max_entries, 64);
} usdt_calls SEC(".maps");

SEC("usdt")
int usdt_tick(struct pt_regs *ctx)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	struct usdt_stats zero = {}, *s;
	long a = 0, b = 0, c = 0;

	s = bpf_map_lookup_elem(&usdt_calls, &pid);
	if (!s) {
		bpf_map_update_elem(&usdt_calls, &pid, &zero, BPF_NOEXIST);
		s = bpf_map_lookup_elem(&usdt_calls, &pid);
		if (!s)
			return 0;
	}
	if (bpf_usdt_arg(ctx, 0, &a) || bpf_usdt_arg(ctx, 1, &b) ||
	    bpf_usdt_arg(ctx, 2, &c))
		return 0;
	s->calls += 1;
	s->a = a;
	s->b = b;
	s->c = c;
	s->arg_cnt = bpf_usdt_arg_cnt(ctx);
	s->cookie = bpf_usdt_cookie(ctx);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
