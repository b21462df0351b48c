// SPDX-License-Identifier: GPL-2.0
/*
 * perf_event: the "perf_event" section name (BPF_PROG_TYPE_PERF_EVENT), run
 * on every sample of a perf event it is attached to (PERF_EVENT_IOC_SET_BPF
 * or BPF_LINK_CREATE with BPF_PERF_EVENT). The context is
 * struct bpf_perf_event_data { regs; u64 sample_period; u64 addr; }.
 *
 * EXPECT (load): one program of type perf_event; map perf_samples is an
 *   array, key 4, value 16, max 1.
 * EXPECT (attach to perf_event_open(PERF_TYPE_SOFTWARE,
 *   PERF_COUNT_SW_TASK_CLOCK, sample_period P = 100000 ns) on the test
 *   thread, then spin ~100 ms): perf_samples[0].samples > 0 and
 *   perf_samples[0].last_period == P.
 */
#include "common.h"

struct sample_stats {
	__u64 samples;
	__u64 last_period;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct sample_stats);
	__uint(max_entries, 1);
} perf_samples SEC(".maps");

SEC("perf_event")
int perf_sample(struct bpf_perf_event_data *ctx)
{
	__u32 zero = 0;
	struct sample_stats *s = bpf_map_lookup_elem(&perf_samples, &zero);

	if (!s)
		return 0;
	__sync_fetch_and_add(&s->samples, 1);
	s->last_period = ctx->sample_period;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
