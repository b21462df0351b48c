#!/bin/sh
# Rebuilds the committed test objects of this directory (clang-19, libbpf-dev).
set -e
cd "$(dirname "$0")"
for t in bpfel bpfeb; do
  clang-19 -g -O2 -target $t -I/usr/include/x86_64-linux-gnu -c relocs.bpf.c -o relocs.$t.o
done
