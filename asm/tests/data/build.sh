#!/bin/sh
# Rebuilds the committed test objects of oxbpf-asm and the reference
# disassembly of llvm-objdump. Run from anywhere; needs clang-19,
# llvm-objdump-19 and libbpf-dev's BPF headers.
set -eu
cd "$(dirname "$0")"
for t in bpfel bpfeb; do
    clang-19 -g -O2 -mcpu=v4 -target "$t" -c progs.bpf.c -o "progs.$t.o"
    llvm-objdump-19 -d --mcpu=v4 --no-show-raw-insn "progs.$t.o" > "progs.$t.objdump"
done
# The kernel's own disassembly of the little-endian object, as the verifier
# log prints it ("Live regs before insn" listing and the instructions of its
# walk), loaded with bpftool.
# Needs root; the listing is committed so the tests do not depend on it.
if [ "$(id -u)" = 0 ]; then
    grep -q ' /sys/fs/bpf ' /proc/mounts || mount -t bpf bpf /sys/fs/bpf
    pin=/sys/fs/bpf/oxbpf_asm_build_$$
    bpftool -d prog loadall progs.bpfel.o "$pin" > verifier.log.tmp 2>&1 || { tail -20 verifier.log.tmp; exit 1; }
    rm -rf "$pin"
    # Keep the listing, and each distinct instruction line of the walk with
    # the register state after ';' cut off.
    grep -E "BEGIN PROG LOAD LOG|^func#|^ +[0-9]+: [.0-9]{10} |^[0-9]+: \([0-9a-f]{2}\) " verifier.log.tmp |
        sed -E 's/ +;.*$//' |
        awk '/BEGIN PROG LOAD LOG/ { prog = $0 } !seen[prog "|" $0]++' > progs.bpfel.verifier
    rm -f verifier.log.tmp
fi
