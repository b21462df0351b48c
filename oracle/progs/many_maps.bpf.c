// SPDX-License-Identifier: GPL-2.0
/*
 * many_maps: 70 BTF-defined array maps m0..m69 and two socket filters,
 * low using m0..m34 and high m35..m69 (the kernel allows 64 maps per
 * program, libbpf's generated loader 64 per object). Each program adds 1
 * to slot 0 of each of its maps and returns 0. fifty_maps.bpf.c includes
 * this file with REPEAT and HALF set for 50 maps.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "repeat.h"

#ifndef REPEAT
#define REPEAT R70
#define HALF 35
#endif

#define MAP(n)                                                         \
	struct {                                                       \
		__uint(type, BPF_MAP_TYPE_ARRAY);                      \
		__type(key, __u32);                                    \
		__type(value, __u64);                                  \
		__uint(max_entries, 1);                                \
	} m##n SEC(".maps");
REPEAT(MAP)

#define BUMP(n)                                                        \
	{                                                              \
		__u64 *c = bpf_map_lookup_elem(&m##n, &zero);          \
		if (c)                                                 \
			__sync_fetch_and_add(c, 1);                    \
	}
#define BUMP_LOW(n) if ((n) < HALF) BUMP(n)
#define BUMP_HIGH(n) if ((n) >= HALF) BUMP(n)

SEC("socket") int low(struct __sk_buff *skb)
{
	__u32 zero = 0;

	REPEAT(BUMP_LOW)
	return 0;
}

SEC("socket") int high(struct __sk_buff *skb)
{
	__u32 zero = 0;

	REPEAT(BUMP_HIGH)
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
