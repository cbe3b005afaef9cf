#!/usr/bin/env bash
# Proves last-kernels builds against `core` alone (no std, no alloc), for a
# bare-metal aarch64 target, using Debian's Rust library source.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=${1:-/opt/last-a64}
WITH_SRC=1 scripts/setup-aarch64.sh "$DEST"
RUSTC_BOOTSTRAP=1 RUSTC="$DEST/rustc" CARGO_TARGET_DIR=target/nostd \
  cargo build --locked -p last-kernels -Zbuild-std=core --target aarch64-unknown-none
echo "last-kernels builds with core only (aarch64-unknown-none)"
