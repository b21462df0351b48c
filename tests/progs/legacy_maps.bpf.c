// SPDX-License-Identifier: GPL-2.0
/*
 * legacy_maps: maps defined the pre-BTF way, as struct bpf_map_def values in
 * a section named "maps" (libbpf 1.x refuses these; older toolchains and
 * aya-style objects still produce them), plus the legacy "version" section.
 * The program is a socket filter (it sees the packet from byte 14 of
 * data_in on, see socket_filter.bpf.c).
 *
 * Maps (all from section "maps", 20 bytes each, in this order):
 *   legacy_hash:  BPF_MAP_TYPE_HASH,  key 4, value 8, max 256, flags 0
 *   legacy_array: BPF_MAP_TYPE_ARRAY, key 4, value 8, max 2,   flags 0
 * "version": a u32, 0x00060C00 (kernel 6.12.0 encoded as KERNEL_VERSION).
 *
 * EXPECT legacy_count (test_run, data_in >= 15 bytes, repeat R):
 *   retval len(data_in) - 14;
 *   legacy_hash[data_in[14]] (key is the byte as a u32) += R;
 *   legacy_array[0] += R; legacy_array[1] += R * (len(data_in) - 14).
 */
#include "common.h"

/* The layout every loader of this format agrees on; libbpf 1.x headers
 * dropped the type, so objects declare it themselves. */
struct bpf_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct bpf_map_def SEC("maps") legacy_hash = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 256,
	.map_flags = 0,
};

struct bpf_map_def SEC("maps") legacy_array = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 2,
	.map_flags = 0,
};

static __always_inline void array_add(__u32 idx, __u64 by)
{
	__u64 *v = bpf_map_lookup_elem(&legacy_array, &idx);

	if (v)
		__sync_fetch_and_add(v, by);
}

SEC("socket")
int legacy_count(struct __sk_buff *skb)
{
	__u8 first;
	__u32 key;
	__u64 one = 1, *v;

	if (bpf_skb_load_bytes(skb, 0, &first, sizeof(first)) < 0)
		return 0;
	key = first;
	v = bpf_map_lookup_elem(&legacy_hash, &key);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(&legacy_hash, &key, &one, BPF_NOEXIST);
	array_add(0, 1);
	array_add(1, skb->len);
	return skb->len;
}

char LICENSE[] SEC("license") = "GPL";
__u32 _version SEC("version") = 0x00060C00;
