#!/usr/bin/env bash
# The serving library alone: `last` with default-features = false builds and
# depends on the serving crates only (no clap, no peer GEMM crates, no tools).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --locked -q -p last --no-default-features --lib
direct=$(cargo tree --locked -p last --no-default-features -e normal --depth 1 --prefix none \
    | tail -n +2 | awk '{print $1}' | sort -u | tr '\n' ' ')
# bytemuck and half are last-kernels' own dependencies (f16 weights, byte views).
expected="bytemuck half last-kernels rayon safetensors serde serde_json thiserror "
echo "direct dependencies: $direct"
if [ "$direct" != "$expected" ]; then
    echo "lean build: expected direct dependencies '$expected', got '$direct'" >&2
    exit 1
fi
all=$(cargo tree --locked -p last --no-default-features -e normal --prefix none | awk '{print $1}' | sort -u)
for banned in clap gemm matrixmultiply criterion; do
    if grep -qx "$banned" <<<"$all"; then
        echo "lean build pulls in $banned" >&2
        exit 1
    fi
done
echo "lean build: $(wc -l <<<"$all") crates in the tree, serving dependencies only"
