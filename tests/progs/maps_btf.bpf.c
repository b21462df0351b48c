// SPDX-License-Identifier: GPL-2.0
/*
 * maps_btf: every BTF-defined map field and eleven map types in one object,
 * exercised by one XDP program; a second XDP program in the same section is
 * the tail-call target.
 *
 * Maps ("key"/"value" given as types unless noted as sizes):
 *   hash_typed    HASH           key u32, value struct pkt_stats (16), max 64
 *   array_sized   ARRAY          key_size 4, value_size 8 (numbers), max 4
 *   percpu_cnt    PERCPU_ARRAY   key u32, value u64, max 1
 *   lru_numa      LRU_HASH       key u32, value u64, max 16,
 *                                map_flags BPF_F_NUMA_NODE, numa_node 0
 *   lpm_verdict   LPM_TRIE       key struct lpm_v4 (8), value u32, max 16,
 *                                map_flags BPF_F_NO_PREALLOC
 *   len_queue     QUEUE          no key, value u32, max 8
 *   byte_stack    STACK          no key, value u32, max 8
 *   src_bloom     BLOOM_FILTER   no key, value u32, max 64, map_extra 3
 *   events_rb     RINGBUF        max_entries 4096 (bytes), no key/value
 *   events_perf   PERF_EVENT_ARRAY key_size 4, value_size 4, max 64
 *   tail_progs    PROG_ARRAY     key_size 4, value_size 4, max 2
 *   pinned_hash   HASH           key u32, value u64, max 8,
 *                                pinning LIBBPF_PIN_BY_NAME (pinned as
 *                                <pin root>/pinned_hash; pin root is
 *                                /sys/fs/bpf by convention, tests use their own)
 *
 * Packet for the EXPECT below: Ethernet (14 bytes, EtherType 0x0800) + IPv4
 * header (20 bytes); "len" = len(data_in) >= 34, "b0" = data_in[0],
 * "src" = the u32 read from data_in[26..30] as stored (network order).
 * EXPECT maps_exercise (test_run, one run):
 *   data_in < 34 bytes -> retval 2 (XDP_PASS), no map touched.
 *   hash_typed[b0] += {packets 1, bytes len};   array_sized[0] += 1,
 *   array_sized[1] = len;   sum over CPUs of percpu_cnt[0] += 1;
 *   lru_numa[b0] = len;   len_queue gets len pushed (peek with a
 *   MAP_LOOKUP_ELEM of NULL key gives the oldest), byte_stack gets b0 pushed
 *   (peek gives the newest);   src_bloom contains src (MAP_LOOKUP_ELEM with
 *   NULL key and value = src returns 0; an absent value returns ENOENT,
 *   barring false positives);   events_rb receives one 8-byte record
 *   {u32 len, u32 src};   events_perf: bpf_perf_event_output(BPF_F_CURRENT_CPU)
 *   of the same record is attempted, its error (ENOENT with no perf event in
 *   the slot) ignored;   pinned_hash[0] += 1.
 *   Verdict: if lpm_verdict has a prefix matching src (e.g. the test inserts
 *   {prefixlen 8, 10.0.0.0} -> 1), retval is that value (1 = XDP_DROP).
 *   Else if tail_progs[0] holds maps_tail's fd, retval 3 (XDP_TX, from
 *   maps_tail). Else retval 2 (XDP_PASS). (Keep a user-space fd of
 *   tail_progs open: the kernel empties a prog array when its last user
 *   reference is closed, whatever programs still use it.)
 * EXPECT maps_tail (test_run directly): retval 3 (XDP_TX).
 */
#include "common.h"

struct pkt_stats {
	__u64 packets;
	__u64 bytes;
};

struct lpm_v4 {
	__u32 prefixlen;
	__u32 addr; /* network byte order */
};

struct event {
	__u32 len;
	__u32 src;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct pkt_stats);
	__uint(max_entries, 64);
} hash_typed SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u64));
	__uint(max_entries, 4);
} array_sized SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} percpu_cnt SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 16);
	__uint(map_flags, BPF_F_NUMA_NODE);
	__uint(numa_node, 0);
} lru_numa SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct lpm_v4);
	__type(value, __u32);
	__uint(max_entries, 16);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} lpm_verdict SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__type(value, __u32);
	__uint(max_entries, 8);
} len_queue SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK);
	__type(value, __u32);
	__uint(max_entries, 8);
} byte_stack SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_BLOOM_FILTER);
	__type(value, __u32);
	__uint(max_entries, 64);
	__uint(map_extra, 3); /* number of hash functions */
} src_bloom SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events_rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
	__uint(max_entries, 64);
} events_perf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
	__uint(max_entries, 2);
} tail_progs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 8);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pinned_hash SEC(".maps");

static __always_inline void count_packet(__u32 b0, __u32 len)
{
	struct pkt_stats init = { .packets = 1, .bytes = len }, *ps;
	__u32 k0 = 0, k1 = 1;
	__u64 len64 = len, one = 1, *v;

	ps = bpf_map_lookup_elem(&hash_typed, &b0);
	if (ps) {
		__sync_fetch_and_add(&ps->packets, 1);
		__sync_fetch_and_add(&ps->bytes, len);
	} else {
		bpf_map_update_elem(&hash_typed, &b0, &init, BPF_NOEXIST);
	}

	v = bpf_map_lookup_elem(&array_sized, &k0);
	if (v)
		__sync_fetch_and_add(v, 1);
	bpf_map_update_elem(&array_sized, &k1, &len64, BPF_ANY);

	v = bpf_map_lookup_elem(&percpu_cnt, &k0);
	if (v)
		*v += 1;

	bpf_map_update_elem(&lru_numa, &b0, &len64, BPF_ANY);

	v = bpf_map_lookup_elem(&pinned_hash, &k0);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(&pinned_hash, &k0, &one, BPF_NOEXIST);
}

SEC("xdp")
int maps_exercise(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u8 *pkt = data;
	struct lpm_v4 key;
	struct event ev;
	__u32 len, b0, src, *verdict;

	if (data + ETH_HLEN + 20 > data_end)
		return XDP_PASS;
	len = data_end - data;
	b0 = pkt[0];
	__builtin_memcpy(&src, pkt + ETH_HLEN + 12, sizeof(src));

	count_packet(b0, len);
	bpf_map_push_elem(&len_queue, &len, BPF_ANY);
	bpf_map_push_elem(&byte_stack, &b0, BPF_ANY);
	bpf_map_push_elem(&src_bloom, &src, BPF_ANY);

	ev.len = len;
	ev.src = src;
	bpf_ringbuf_output(&events_rb, &ev, sizeof(ev), 0);
	bpf_perf_event_output(ctx, &events_perf, BPF_F_CURRENT_CPU, &ev, sizeof(ev));

	key.prefixlen = 32;
	key.addr = src;
	verdict = bpf_map_lookup_elem(&lpm_verdict, &key);
	if (verdict)
		return *verdict;

	bpf_tail_call(ctx, &tail_progs, 0);
	return XDP_PASS;
}

SEC("xdp")
int maps_tail(struct xdp_md *ctx)
{
	return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";
