// SPDX-License-Identifier: GPL-2.0
/*
 * Type shapes for the skeleton generator's test (cli/tests/skeleton.rs):
 * every global and map type below becomes a Rust type whose size and field
 * offsets the generated module asserts at compile time. No headers: the
 * test compiles it with clang alone.
 */
#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) __typeof__(val) *name

typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef __u32 u32; /* a typedef named like a Rust primitive */

enum color { RED, GREEN = 5, BLUE = -1 };
enum wide { SMALL = 1, HUGE = 1ULL << 40 };

struct inner {
	char c;
	int i;
};

struct packed_s {
	char a;
	int b;
	short c;
} __attribute__((packed));

struct bits {
	unsigned a : 3, b : 5;
	unsigned c : 10;
	char d;
	unsigned long long e : 40;
	unsigned long long f : 24;
};

union u {
	int i;
	float f;
	struct inner in;
	unsigned char b[12];
};

struct flex {
	int n;
	char data[];
};

struct aligned16 {
	char c;
} __attribute__((aligned(16)));

struct outer {
	struct inner arr[3];
	union u un;
	struct {
		int x, y;
	} named_anon;
	union {
		int p;
		short q;
	};
	struct {
		long anon_l;
	};
	enum color col;
	enum wide w;
	void *ptr;
	struct packed_s ps;
	struct bits bf;
	char type;
	int self;
	_Bool flag;
	double d;
	__int128 big;
	struct aligned16 al;
	u32 prim_named;
	char matrix[2][3];
	const volatile int cv;
};

typedef struct {
	int a;
	struct inner in;
} tdef_anon;

struct outer g_outer;
struct flex g_flex;
tdef_anon g_t = { 7, { 'x', -2 } };
char c_before_long = 1;
long aligned_after = 2;
const volatile int r_const = 3;
const volatile struct packed_s r_packed = { 1, 2, 3 };
int custom SEC(".data.custom") = 9;
int match SEC(".data.custom") = 10;
struct outer arr_outer[2] SEC(".data.arr");

struct {
	__uint(type, 1); /* BPF_MAP_TYPE_HASH */
	__type(key, struct inner);
	__type(value, struct outer);
	__uint(max_entries, 4);
} by_inner SEC(".maps");

struct {
	__uint(type, 2); /* BPF_MAP_TYPE_ARRAY */
	__type(key, __u32);
	__type(value, union u);
	__uint(max_entries, 2);
} of_unions SEC(".maps");

struct {
	__uint(type, 2); /* BPF_MAP_TYPE_ARRAY */
	__type(key, __u32);
	__type(value, tdef_anon[2]);
	__uint(max_entries, 1);
} of_arrays SEC(".maps");

SEC("syscall") int prog(void *ctx)
{
	return g_t.a + r_const + custom;
}

/*
 * Bitfields of every signedness and width, read and written by C here and
 * by the generated getters and setters in the test: user space sets g_bf
 * before load, bf_copy reads each member into seen[] and writes fixed
 * values into g_bf_out.
 */
struct bf {
	unsigned a : 3, b : 5;
	int neg : 4;
	signed char sc : 3;
	enum color col : 4;
	unsigned long long wide : 44;
	long long swide : 33;
	_Bool flag : 1;
	u32 td : 7;
	char plain;
	unsigned long long top : 12;
};

struct bf g_bf = { .a = 1 };
struct bf g_bf_out;
long long seen[10];

SEC("syscall") int bf_copy(void *ctx)
{
	seen[0] = g_bf.a;
	seen[1] = g_bf.b;
	seen[2] = g_bf.neg;
	seen[3] = g_bf.sc;
	seen[4] = g_bf.col;
	seen[5] = g_bf.wide;
	seen[6] = g_bf.swide;
	seen[7] = g_bf.flag;
	seen[8] = g_bf.td;
	seen[9] = g_bf.top;
	g_bf_out.a = 5;
	g_bf_out.b = 31;
	g_bf_out.neg = -8;
	g_bf_out.sc = -3;
	g_bf_out.col = BLUE;
	g_bf_out.wide = 0xabcdef01234ULL;
	g_bf_out.swide = -4294967296LL;
	g_bf_out.flag = 1;
	g_bf_out.td = 100;
	g_bf_out.plain = 'p';
	g_bf_out.top = 0xfff;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
