// One of every BTF kind that sanitization rewrites: global and static
// functions (FUNC, FUNC_PROTO), global data (VAR, DATASEC), floats, decl and
// type tags, a 64-bit enum and a signed one. Built by build.sh; the .o files
// are committed.
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define __tag(x) __attribute__((btf_decl_tag(x)))
#define __user __attribute__((btf_type_tag("user")))

// No fixed underlying type: clang-19 writes `enum x : __u64` as a plain
// ENUM with truncated values, and only an enum whose values need 64 bits as
// ENUM64.
enum wide { WIDE_LOW = 1, WIDE_HIGH = 0xffffffff00000000ULL };
enum sgn { SGN_NEG = -3, SGN_POS = 3 };
enum swide { SWIDE_MIN = -0x7fffffffffffffffLL - 1, SWIDE_ONE = 1 };

struct sample {
	double ratio;
	float part;
	enum wide w;
	enum sgn s;
	enum swide sw;
	int __user *uptr;
	int (*cb)(int, long);
	__u32 flags : 4 __tag("flags_tag");
} __tag("sample_tag");

typedef struct sample sample_t __tag("typedef_tag");

struct sample samples[2];
sample_t last __tag("var_tag");
float scale = 1.5f;
double total;
const volatile enum wide mode = WIDE_HIGH;

static __noinline int scaled(int x __tag("param_tag"))
{
	return x * 2 + samples[0].s;
}

__noinline __tag("global_tag") int account(struct sample *s)
{
	if (!s)
		return 0;
	return scaled(s->flags) + (s->w == WIDE_HIGH) + (s->sw < 0);
}

SEC("tracepoint/syscalls/sys_enter_getpid")
int on_getpid(void *ctx)
{
	last.flags++;
	return account(&samples[1]) + (mode == WIDE_LOW);
}

char LICENSE[] SEC("license") = "GPL";
