#!/bin/sh
# Builds the CO-RE test objects committed next to this script.
#   reloc/tests/data/build.sh
# Needs clang-19 and bpftool; libbpf headers (libbpf-dev) for
# bpf_helpers.h / bpf_core_read.h. vmlinux.h is generated from the running
# kernel into a temporary directory (it is large and not committed): the
# objects then carry that kernel's types as their local BTF, which is what
# CO-RE relocates from.
set -eu
cd "$(dirname "$0")"
CLANG=${CLANG:-clang-19}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bpftool btf dump file "${VMLINUX_BTF:-/sys/kernel/btf/vmlinux}" format c > "$tmp/vmlinux.h"
for src in core_*.bpf.c; do
	obj=${src%.c}.o
	# -ffile-prefix-map: the temporary directory does not reach the debug
	# info, so rebuilding gives the same bytes.
	"$CLANG" -g -O2 -target bpf -D__TARGET_ARCH_x86 -I"$tmp" \
		-ffile-prefix-map="$tmp"=generated -ffile-prefix-map="$PWD"=. \
		-c "$src" -o "$obj"
	echo "built $obj"
done
