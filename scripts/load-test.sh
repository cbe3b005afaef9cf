#!/usr/bin/env bash
# Load test of `last serve` on 127.0.0.1 with oha (installed if missing):
# the standard request (N = 50, L = 10, parallel-gaussian-w2-16) with a
# budget no request reaches (1 s: every request runs the full search, so
# throughput compares with in-process serving) as JSON at concurrency 1, 4,
# 16 and 64 and as the binary body at 1 and 16; then an overload at 256
# with a 5 ms budget, then one client again (recovery). Each load runs
# LOAD_SECONDS (default 10; recovery 2 s), next to in-process `last bench`
# on the same shapes (1 and 2 threads). Prints a Markdown table and the
# server's peak resident memory. Not part of CI (too slow).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${LOAD_SECONDS:-10}
PORT=${LOAD_PORT:-18080}
WORKERS=${LOAD_WORKERS:-2}
QUEUE=${LOAD_QUEUE:-64}
if ! command -v oha >/dev/null; then
    cargo install oha --locked
fi
cargo build --release -q -p last --bin last --example standard_model
bin=target/release/last
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
target/release/examples/standard_model "$work/model" >/dev/null
python3 - "$work/body.json" <<'PY'
import json, random, sys
r = random.Random(1)
body = {"user": [r.uniform(-1, 1) for _ in range(32)],
        "items": [[r.uniform(-1, 1) for _ in range(64)] for _ in range(50)],
        "length": 10, "variant": "parallel-gaussian-w2-16", "seed": 1, "budget_us": 1000000}
open(sys.argv[1], "w").write(json.dumps(body))
over = dict(body, budget_us=5000)
open(sys.argv[1].replace("body", "over"), "w").write(json.dumps(over))
sys.path.insert(0, "harness/python")
from last_bridge.wire import binary_body
open(sys.argv[1].replace("body.json", "body.bin"), "wb").write(
    binary_body(body["user"], body["items"], 10, 1, body["variant"], body["budget_us"]))
PY
"$bin" serve --model "$work/model" --addr "127.0.0.1:$PORT" --workers "$WORKERS" --queue "$QUEUE" \
    >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
    grep -q listening "$work/serve.log" && break
    sleep 0.1
done
grep listening "$work/serve.log"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) vCPU"
echo
echo "| load | requests/s | p50 ms | p99 ms | 200 | 503 | other status | cut at the end | budget exhausted |"
echo "|---|---|---|---|---|---|---|---|---|"
load() { # label concurrency seconds body content-type
    oha --no-tui -z "$3s" -c "$2" -m POST -H "content-type: $5" \
        -D "$4" --output-format json "http://127.0.0.1:$PORT/rank" >"$work/oha.json"
    python3 - "$work/oha.json" "$1" "$PORT" "$work/exhausted" <<'PY'
import json, os, sys, urllib.request
d = json.load(open(sys.argv[1]))
# Ranked requests whose budget ran out (baseline or a partial search), from /metrics.
text = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[3]}/metrics").read().decode()
total = int(next(l.split()[1] for l in text.splitlines() if l.startswith("last_budget_exhausted_total ")))
prev = int(open(sys.argv[4]).read()) if os.path.exists(sys.argv[4]) else 0
open(sys.argv[4], "w").write(str(total))
s, p, codes = d["summary"], d["latencyPercentiles"], d.get("statusCodeDistribution", {})
ok, busy = codes.get("200", 0), codes.get("503", 0)
other = sum(codes.values()) - ok - busy
cut = sum(d.get("errorDistribution", {}).values())  # in flight when oha's time ran out
ms = lambda v: f"{1000 * v:.3f}" if v is not None else "-"
print(f"| {sys.argv[2]} | {s['requestsPerSec']:.0f} | {ms(p.get('p50'))} | {ms(p.get('p99'))} | {ok} | {busy} | {other} | {cut} | {total - prev} |")
PY
}
json=application/json
for c in 1 4 16 64; do
    load "HTTP JSON, $c clients" "$c" "$SECS" "$work/body.json" "$json"
done
for c in 1 16; do
    load "HTTP binary, $c clients" "$c" "$SECS" "$work/body.bin" application/octet-stream
done
load "HTTP JSON, 256 clients, 5 ms budget (overload)" 256 "$SECS" "$work/over.json" "$json"
load "HTTP JSON, 1 client right after the overload" 1 2 "$work/body.json" "$json"
peak_kb=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
kill -TERM "$pid"
wait "$pid" || true
for t in 1 2; do
    "$bin" bench --variant parallel-gaussian-w2-16 --threads "$t" --requests 2000 --json -q >"$work/bench-$t.json"
    python3 - "$work/bench-$t.json" "$t" <<'PY'
import json, sys
d = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
# One request at a time, on a pool of that many threads: 1 / mean latency.
print(f"| in-process `last bench`, {sys.argv[2]} thread(s) | {1e6 / d['mean_us']:.0f} (1 / mean) | {d['p50_us'] / 1000:.3f} | {d['p99_us'] / 1000:.3f} | - | - | - | - | - |")
PY
done
echo
echo "server peak resident memory: $((peak_kb / 1024)) MB"
