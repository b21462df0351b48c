// SPDX-License-Identifier: GPL-2.0
/*
 * cgroup_sock: the socket-creation and socket-address hooks of the cgroup
 * family. BPF_PROG_TYPE_CGROUP_SOCK (cgroup/sock_create, attach type
 * BPF_CGROUP_INET_SOCK_CREATE) and BPF_PROG_TYPE_CGROUP_SOCK_ADDR
 * (cgroup/connect4, cgroup/bind4, cgroup/sendmsg4 with expected attach types
 * BPF_CGROUP_INET4_CONNECT, BPF_CGROUP_INET4_BIND, BPF_CGROUP_UDP4_SENDMSG,
 * which the kernel requires at load time). Return 1 allows, 0 refuses
 * (the syscall fails with EPERM). No test_run: these types need a cgroup.
 *
 * EXPECT (load): four programs, types and names as above.
 * EXPECT (attached to a fresh cgroup v2 directory, a child process in it):
 *   sock_mark:      every socket created has SO_MARK == 0xB9F;
 *                   sock_stats[0] counts the creations.
 *   connect_7777:   connect() to 127.0.0.1:7777 actually goes to port 7778
 *                   (getpeername shows 7778).
 *   bind_deny_6666: bind() to port 6666 fails with EPERM; other ports work.
 *   sendmsg_redir:  UDP sendto 10.0.0.7:P arrives at 127.0.0.1:P.
 */
#include "common.h"

#define SOCK_MARK 0xB9F

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} sock_stats SEC(".maps");

SEC("cgroup/sock_create")
int sock_mark(struct bpf_sock *sk)
{
	__u32 zero = 0;
	__u64 *v = bpf_map_lookup_elem(&sock_stats, &zero);

	if (v)
		__sync_fetch_and_add(v, 1);
	sk->mark = SOCK_MARK;
	return 1;
}

SEC("cgroup/connect4")
int connect_7777(struct bpf_sock_addr *ctx)
{
	if (ctx->user_port == bpf_htons(7777))
		ctx->user_port = bpf_htons(7778);
	return 1;
}

SEC("cgroup/bind4")
int bind_deny_6666(struct bpf_sock_addr *ctx)
{
	if (ctx->user_port == bpf_htons(6666))
		return 0;
	return 1;
}

SEC("cgroup/sendmsg4")
int sendmsg_redir(struct bpf_sock_addr *ctx)
{
	if (ctx->user_ip4 == bpf_htonl(0x0A000007)) /* 10.0.0.7 */
		ctx->user_ip4 = bpf_htonl(0x7F000001); /* 127.0.0.1 */
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
