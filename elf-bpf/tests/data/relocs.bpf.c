// Exercises every relocation kind elf-bpf resolves: BTF and legacy maps,
// global data (.data, .rodata, .bss, a custom .data.* section), a
// bpf-to-bpf call, a callback address, and externs (typed kconfig, weak).
// Built into relocs.bpf.o (bpfel) and relocs.bpfeb.o (bpfeb); see build.sh.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct legacy_def {
	unsigned int type, key_size, value_size, max_entries, map_flags;
};

struct legacy_def legacy SEC("maps") = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = 4,
	.value_size = 8,
	.max_entries = 4,
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 16);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} btf_hash SEC(".maps");

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner);
} outer SEC(".maps");

__u64 counter = 7;
const volatile __u32 limit = 42;
__u64 zeroed;
__u32 custom SEC(".data.custom") = 3;

extern unsigned int CONFIG_HZ __kconfig __weak;

static __attribute__((noinline)) int helper(int x)
{
	return x + limit;
}

static long cb(__u32 index, void *ctx)
{
	zeroed += index;
	return 0;
}

SEC("xdp")
int prog(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(&btf_hash, &key);
	if (v)
		counter += *v;
	if (bpf_map_lookup_elem(&legacy, &key))
		custom++;
	if (bpf_map_lookup_elem(&outer, &key))
		custom--;
	bpf_loop(4, cb, 0, 0);
	return helper(CONFIG_HZ) > 100 ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
