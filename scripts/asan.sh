#!/usr/bin/env bash
# The unit and integration tests of every default crate under AddressSanitizer
# (nightly, x86-64). Doc-tests are not included (rustdoc would need its own
# sanitizer runtime). Installs the nightly toolchain if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! rustup toolchain list | grep -q '^nightly'; then
    rustup toolchain install nightly --profile minimal
fi
export RUSTFLAGS="-Zsanitizer=address" CARGO_TARGET_DIR=target/asan
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
cargo +nightly test --locked --target x86_64-unknown-linux-gnu \
    -p last-kernels -p last-tests -p last --lib --tests
