#!/usr/bin/env bash
# Builds and runs the kernels' unit tests, doc-tests and the property tests
# for aarch64-unknown-linux-gnu under qemu (NEON path + scalar reference).
# qemu gives correctness, not timings. Usage: scripts/test-aarch64.sh [DEST]
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=${1:-/opt/last-a64}
scripts/setup-aarch64.sh "$DEST"
export RUSTC="$DEST/rustc" RUSTDOC="$DEST/rustdoc" CARGO_TARGET_DIR=target/a64
export QEMU_CPU=${QEMU_CPU:-neoverse-n1}
cargo test --locked -p last-kernels -p last-tests --target aarch64-unknown-linux-gnu
# The whole serving loop on NEON against the scalar path and the x86-pinned lists.
cargo test --locked -p last --no-default-features --test cross_isa --target aarch64-unknown-linux-gnu
