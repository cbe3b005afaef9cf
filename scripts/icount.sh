#!/usr/bin/env bash
# Instructions per request of each variant on the standard scenario, under
# callgrind (deterministic: the way to compare two builds on a noisy
# machine). Runs `icount_serve VARIANT 2 REPS` and `icount_serve VARIANT 2 0`
# and divides the difference by REPS, so the warm-up, model set-up and
# process start cancel out. Usage: scripts/icount.sh [BINARY] [REPS]
# (BINARY defaults to a fresh release build of harness/examples/icount_serve.rs;
# LAST_ISA picks the path as everywhere else).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-}
reps=${2:-10}
if [ -z "$bin" ]; then
    cargo build --release --locked -q -p last --example icount_serve
    bin=target/release/examples/icount_serve
fi
count() {
    local out
    out=$(mktemp)
    valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" "$@" >/dev/null 2>&1
    grep -E '^(summary|totals):' "$out" | head -1 | awk '{print $2}'
    rm -f "$out"
}
printf '%-27s %14s\n' variant instr/request
for v in baseline best-of-16 parallel-gaussian-w2-16 parallel-table-w2-16 \
    parallel-lowrank1-keys-16 parallel-gaussian-keys-16 gradient-l4-s3 serial-r8-p2; do
    a=$(count "$v" 2 "$reps")
    b=$(count "$v" 2 0)
    printf '%-27s %14d\n' "$v" $(( (a - b) / reps ))
done
