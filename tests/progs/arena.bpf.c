// SPDX-License-Identifier: GPL-2.0
/*
 * arena: a BPF arena (BPF_MAP_TYPE_ARENA, 4 pages) holding __arena globals
 * (clang's address_space(1), section .addr_space.1) and a page the program
 * allocates with the bpf_arena_alloc_pages kfunc.
 *
 * EXPECT (load): maps arena (arena, key 0, value 0, max 4, BPF_F_MMAPABLE)
 *   and arena.bss; the arena mapped into the loading process; the
 *   globals' image (start_value = 42, hits = 0) in the arena's last page.
 * EXPECT bump (BPF_PROG_RUN, no context), run N times: hits == N,
 *   start_value == 42 + N; the first run allocates one page, stores its
 *   address (a user-space address inside the arena's mapping) in page_ptr
 *   (.bss) and writes 7 to it, each later run adds 1 to it (7 + N - 1).
 *   Returns 0, or 1 when the allocation fails.
 */
#include "common.h"

#define __arena __attribute__((address_space(1)))

struct {
	__uint(type, BPF_MAP_TYPE_ARENA);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 4);
} arena SEC(".maps");

void __arena *bpf_arena_alloc_pages(void *map, void __arena *addr, __u32 page_cnt,
				    int node_id, __u64 flags) __ksym;

__u64 __arena hits;
__u64 __arena start_value = 42;
__u64 __arena *page_ptr;

SEC("syscall")
int bump(void *ctx)
{
	__u64 __arena *p = page_ptr;

	hits += 1;
	start_value += 1;
	if (!p) {
		p = bpf_arena_alloc_pages(&arena, NULL, 1, -1, 0);
		if (!p)
			return 1;
		*p = 7;
		page_ptr = p;
		return 0;
	}
	*p += 1;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
