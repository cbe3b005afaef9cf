#!/usr/bin/env bash
# Installs what the aarch64 (NEON) tests need, from Debian packages only:
#   gcc-aarch64-linux-gnu + libc6-dev-arm64-cross (linker), qemu-user (runner),
#   and Debian's rustc-web with x86-64 and arm64 std, unpacked into DEST
#   (not installed system-wide). With WITH_SRC=1 also the Rust library source,
#   for `-Zbuild-std=core` (the no_std build check of the kernels).
# Usage: scripts/setup-aarch64.sh [DEST]   (default /opt/last-a64). Idempotent.
set -euo pipefail
DEST=${1:-/opt/last-a64}
if [ -x "$DEST/rustc" ] && { [ -z "${WITH_SRC:-}" ] || [ -d "$DEST/root/usr/lib/rustlib/src" ]; } \
   && command -v qemu-aarch64 >/dev/null && command -v aarch64-linux-gnu-gcc >/dev/null; then
  echo "aarch64 toolchain already in $DEST: $("$DEST/rustc" -V)"
  exit 0
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user >/dev/null
# Host compiler + host std: downloaded and unpacked, so /usr/bin/rustc is not replaced.
stdpkg=$(apt-cache depends libstd-rust-web-dev | awk '/Depends: libstd-rust-web-1/{print $2}')
(cd "$WORK" && apt-get -oAPT::Sandbox::User=root download -qq rustc-web libstd-rust-web-dev libllvm22 \
   "$stdpkg" ${WITH_SRC:+rust-web-src})
# Target std from a private arm64 package list (no dpkg --add-architecture).
A64="-oAPT::Sandbox::User=root -oAPT::Architecture=arm64 -oAPT::Architectures=arm64 -oDir::State::Lists=$WORK/lists -oDir::Cache=$WORK/cache"
mkdir -p "$WORK/lists/partial" "$WORK/cache/archives/partial" "$WORK/a64"
# shellcheck disable=SC2086
apt-get $A64 update -qq
# shellcheck disable=SC2086
(cd "$WORK/a64" && apt-get $A64 download -qq libstd-rust-web-dev)
v_host=$(dpkg-deb -f "$WORK"/libstd-rust-web-dev_*_amd64.deb Version)
v_tgt=$(dpkg-deb -f "$WORK"/a64/libstd-rust-web-dev_*_arm64.deb Version)
[ "$v_host" = "$v_tgt" ] || { echo "rust std version mismatch: amd64=$v_host arm64=$v_tgt" >&2; exit 1; }
mkdir -p "$DEST"
for d in "$WORK"/*.deb "$WORK"/a64/*.deb; do dpkg -x "$d" "$DEST/root"; done
for t in rustc rustdoc; do
  cat > "$DEST/$t" <<W
#!/bin/sh
LD_LIBRARY_PATH="$DEST/root/usr/lib/x86_64-linux-gnu\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "$DEST/root/usr/bin/$t" "\$@"
W
  chmod +x "$DEST/$t"
done
"$DEST/rustc" -V
