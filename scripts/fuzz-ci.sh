#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time (FUZZ_SECONDS, default 25)
# over its committed seed corpus and regression inputs. New inputs go to a
# scratch folder, so CI never changes the repository. Installs cargo-fuzz and
# the nightly toolchain if they are missing; fails on the first crash.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
SECS=${FUZZ_SECONDS:-25}
if ! rustup toolchain list | grep -q '^nightly'; then
    rustup toolchain install nightly --profile minimal
fi
if ! command -v cargo-fuzz >/dev/null; then
    cargo install cargo-fuzz --locked
fi
targets=$(cargo +nightly fuzz list)
for t in $targets; do
    work=$(mktemp -d)
    inputs=()
    [ -d "corpus/$t" ] && inputs+=("corpus/$t")
    [ -d "regressions/$t" ] && inputs+=("regressions/$t")
    echo "--- fuzz $t for ${SECS}s (inputs: ${inputs[*]:-none})"
    log="$work.log"
    set +e
    cargo +nightly fuzz run "$t" "$work" "${inputs[@]}" -- \
        -max_total_time="$SECS" -print_final_stats=1 >"$log" 2>&1
    status=$?
    set -e
    grep -E '^(INFO: seed corpus|#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" || true
    if [ "$status" -ne 0 ]; then
        tail -n 60 "$log" >&2
        echo "fuzz target $t failed (exit $status)" >&2
        exit 1
    fi
    rm -rf "$work" "$log"
done
