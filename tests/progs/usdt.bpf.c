// SPDX-License-Identifier: GPL-2.0
/*
 * usdt: a USDT program on the BPF-side ABI of libbpf's <bpf/usdt.bpf.h>:
 * its maps (__bpf_usdt_specs, __bpf_usdt_ip_to_spec_id) and its
 * struct __bpf_usdt_spec, found through the attach cookie (the spec id).
 * The arguments are decoded here, as the header's comments describe the
 * spec fields, rather than through the header's global bpf_usdt_arg():
 * that function takes a pointer argument the verifier treats as
 * nullable unless the loader marks .hidden functions static in BTF, as
 * libbpf does (not done by oxbpf yet).
 *
 * EXPECT (load): program usdt_tick (kprobe type); maps usdt_calls (hash,
 *   key 4, value 48, max 64), __bpf_usdt_specs (array, value 208),
 *   __bpf_usdt_ip_to_spec_id (hash).
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

/* Argument i of the probe, per its spec. */
static __always_inline long spec_arg(struct pt_regs *ctx, struct __bpf_usdt_arg_spec *a)
{
	unsigned long val = 0;

	switch (a->arg_type) {
	case BPF_USDT_ARG_CONST:
		val = a->val_off;
		break;
	case BPF_USDT_ARG_REG:
		bpf_probe_read_kernel(&val, sizeof(val), (void *)ctx + a->reg_off);
		break;
	case BPF_USDT_ARG_REG_DEREF:
		bpf_probe_read_kernel(&val, sizeof(val), (void *)ctx + a->reg_off);
		bpf_probe_read_user(&val, sizeof(val), (void *)val + a->val_off);
		break;
	default:
		return 0;
	}
	val <<= a->arg_bitshift;
	if (a->arg_signed)
		return ((long)val) >> a->arg_bitshift;
	return val >> a->arg_bitshift;
}

SEC("usdt")
int usdt_tick(struct pt_regs *ctx)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	int spec_id = bpf_get_attach_cookie(ctx);
	struct usdt_stats zero = {}, *s;
	struct __bpf_usdt_spec *spec;

	spec = bpf_map_lookup_elem(&__bpf_usdt_specs, &spec_id);
	if (!spec)
		return 0;

	s = bpf_map_lookup_elem(&usdt_calls, &pid);
	if (!s) {
		bpf_map_update_elem(&usdt_calls, &pid, &zero, BPF_NOEXIST);
		s = bpf_map_lookup_elem(&usdt_calls, &pid);
		if (!s)
			return 0;
	}
	s->calls += 1;
	s->a = spec_arg(ctx, &spec->args[0]);
	s->b = spec_arg(ctx, &spec->args[1]);
	s->c = spec_arg(ctx, &spec->args[2]);
	s->arg_cnt = spec->arg_cnt;
	s->cookie = spec->usdt_cookie;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
