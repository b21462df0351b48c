// SPDX-License-Identifier: MIT OR Apache-2.0
//
// Test input of oxbpf-asm: small programs that make clang emit as many
// instruction forms as it can (ALU32/64, signed division, sign-extending
// moves and loads, byte swaps, every atomic, legacy packet loads, map and
// global-data loads, subprogram calls, a callback address, kfunc calls).
// It avoids byte-order-dependent code so that the bpfel and bpfeb builds
// hold the same instructions.
// The built objects are committed next to this file; rebuild them and the
// reference disassembly with `sh asm/tests/data/build.sh`.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

__u64 total = 0;
__s64 sdata = -5;
volatile const __u32 limit = 10;

unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");
unsigned long long load_half(void *skb, unsigned long long off) asm("llvm.bpf.load.half");
unsigned long long load_word(void *skb, unsigned long long off) asm("llvm.bpf.load.word");

extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;

static __attribute__((noinline)) __u64 mix(__u64 a, __u64 b)
{
	return (a * 31) ^ (b >> 3) ^ (__u64)((__s64)a >> 7);
}

static long loop_cb(__u64 i, void *ctx)
{
	__u64 *acc = ctx;

	*acc += i * 3;
	return *acc > 100;
}

SEC("socket")
int sock_prog(struct __sk_buff *skb)
{
	__u32 key = skb->len & 3;
	__u64 *v = bpf_map_lookup_elem(&counts, &key);
	__u64 acc = 0, old = 0;
	__u32 *w;

	if (!v)
		return 0;
	__sync_fetch_and_add(v, 1);
	old += __sync_fetch_and_add(v, 2);
	old += __sync_fetch_and_or(v, 4);
	old += __sync_fetch_and_and(v, ~8ULL);
	old += __sync_fetch_and_xor(v, 16);
	__sync_fetch_and_or(v, 32);
	__sync_fetch_and_and(v, ~64ULL);
	__sync_fetch_and_xor(v, 128);
	old += __sync_lock_test_and_set(v, old);
	old += __sync_val_compare_and_swap(v, 7, old);
	w = (__u32 *)v;
	__sync_fetch_and_add(w, 1);
	old += __sync_fetch_and_add(w, 3);
	old += __sync_lock_test_and_set(w, (__u32)old);
	old += __sync_val_compare_and_swap(w, 9, (__u32)old);

	old += load_byte(skb, 0);
	old += load_half(skb, 2);
	old += load_word(skb, key);

	__s64 s = (__s64)skb->mark / (__s64)(skb->priority | 1);
	s = s % -7;
	__s32 s32 = (__s32)skb->hash / (__s32)(skb->queue_mapping | 3);
	s32 = s32 % (__s32)(skb->protocol | 5);
	old += (__s8)skb->tc_index + (__s16)skb->vlan_tci + (__s32)s;
	old += *(volatile __s8 *)v + *(volatile __s16 *)v + *(volatile __s32 *)v;
	old += __builtin_bswap64(old) + __builtin_bswap32((__u32)old) + __builtin_bswap16((__u16)old);
	old += mix(old, (__u64)s32);

	bpf_loop(limit, loop_cb, &acc, 0);
	bpf_rcu_read_lock();
	bpf_rcu_read_unlock();

	total += old + acc;
	sdata -= (__s64)acc;
	if ((__s32)old < -3 || (__s64)old > 1000000)
		return 1;
	return old & 0xff;
}

SEC("xdp")
int xdp_prog(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u8 *p = data;
	__u32 sum = 0;

	if (data + 64 > data_end)
		return XDP_PASS;
	for (int i = 0; i < 32; i++) {
		__u8 c = p[i];

		if (c == 0x45)
			sum += c << 2;
		else if (c >= 0x80)
			sum ^= c;
		else
			sum -= c >> 1;
	}
	if (__builtin_bswap16(*(__u16 *)(p + 12)) == 0x0800 && sum > limit)
		return XDP_DROP;
	total += sum;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
