#!/usr/bin/env bash
# Load test of `last serve` on 127.0.0.1 with oha (installed if missing):
# the standard request (N = 50, L = 10, parallel-gaussian-w2-16, budget
# 5 ms) at concurrency 1, 4, 16 and 64, then an overload at 256, each for
# LOAD_SECONDS (default 10), next to in-process `last bench` on the same
# shapes (1 and 2 threads). Not part of CI (too slow). Prints a Markdown table.
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
        "length": 10, "variant": "parallel-gaussian-w2-16", "seed": 1, "budget_us": 5000}
open(sys.argv[1], "w").write(json.dumps(body))
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
for c in 1 4 16 64 256; do
    oha --no-tui -z "${SECS}s" -c "$c" -m POST -H 'content-type: application/json' \
        -D "$work/body.json" --output-format json "http://127.0.0.1:$PORT/rank" >"$work/oha-$c.json"
    python3 - "$work/oha-$c.json" "$c" "$PORT" "$work/exhausted" <<'PY'
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
ms = lambda v: f"{1000 * v:.2f}" if v is not None else "-"
print(f"| HTTP, {sys.argv[2]} clients | {s['requestsPerSec']:.0f} | {ms(p.get('p50'))} | {ms(p.get('p99'))} | {ok} | {busy} | {other} | {cut} | {total - prev} |")
PY
done
kill -TERM "$pid"
wait "$pid" || true
for t in 1 2; do
    "$bin" bench --variant parallel-gaussian-w2-16 --threads "$t" --requests 2000 --json -q >"$work/bench-$t.json"
    python3 - "$work/bench-$t.json" "$t" <<'PY'
import json, sys
d = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
print(f"| in-process `last bench`, {sys.argv[2]} thread(s) | {1e6 / d['mean_us']:.0f} (1 / mean) | {d['p50_us'] / 1000:.2f} | {d['p99_us'] / 1000:.2f} | - | - | - | - | - |")
PY
done
