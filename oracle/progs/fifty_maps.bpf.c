// SPDX-License-Identifier: GPL-2.0
/*
 * fifty_maps: many_maps.bpf.c with 50 maps (low uses m0..m24, high
 * m25..m49): within libbpf's 64-map limit for generated loaders.
 */
#define REPEAT R50
#define HALF 25
#include "many_maps.bpf.c"
