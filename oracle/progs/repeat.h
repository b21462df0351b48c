/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * R10(X, t) expands X(t0) ... X(t9) (t empty: X(0) ... X(9)); R50, R70 and
 * R80 expand X(0) ... X(49), X(69), X(79): the many-maps and
 * many-programs objects of the generated-loader oracle and benchmark.
 */
#ifndef OXBPF_REPEAT_H
#define OXBPF_REPEAT_H
#define R10(X, t) X(t##0) X(t##1) X(t##2) X(t##3) X(t##4) \
	X(t##5) X(t##6) X(t##7) X(t##8) X(t##9)
#define R50(X) R10(X, ) R10(X, 1) R10(X, 2) R10(X, 3) R10(X, 4)
#define R70(X) R10(X, ) R10(X, 1) R10(X, 2) R10(X, 3) R10(X, 4) R10(X, 5) R10(X, 6)
#define R80(X) R70(X) R10(X, 7)
#endif
