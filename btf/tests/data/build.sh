#!/bin/sh
# Rebuilds the committed test objects (needs clang-19 and libbpf-dev).
set -e
cd "$(dirname "$0")"
for src in *.bpf.c; do
	base=${src%.c}
	clang-19 -g -O2 -target bpfel -c "$src" -o "$base.o"
	clang-19 -g -O2 -target bpfeb -c "$src" -o "$base.eb.o"
done
