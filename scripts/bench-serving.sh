#!/usr/bin/env bash
# Serving-latency table: every variant of `last bench` (standard scenario,
# plus exhaustive on the small one), RUNS interleaved rounds of REQUESTS
# requests each; prints one JSON line per variant × threads with the median
# over the rounds of p50/p90/p99 (and the min and max p50), for the README.
# The VM's throughput drifts within minutes, so a single run is not enough.
# Usage: scripts/bench-serving.sh [RUNS] [REQUESTS]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
REQ=${2:-300}
cargo build --release -q -p last
BIN=target/release/last
OUT=$(mktemp)
for r in $(seq "$RUNS"); do
  for v in baseline best-of-16 parallel-gaussian-w2-16 parallel-rademacher-w2-16 \
           parallel-antithetic-w2-16 parallel-table-w2-16 parallel-gaussian-keys-16 \
           parallel-lowrank1-keys-16 gradient-l4-s3 serial-r8-p2; do
    "$BIN" bench --variant "$v" --requests "$REQ" --json >> "$OUT"
  done
  for v in parallel-gaussian-w2-16 parallel-table-w2-16 parallel-lowrank1-keys-16; do
    "$BIN" bench --variant "$v" --requests "$REQ" --threads 2 --json >> "$OUT"
  done
  # bf16 models (bf16 per-candidate products; the scalar reference where
  # the CPU has neither AMX nor AVX512-BF16, far slower).
  for v in parallel-gaussian-w2-16 parallel-table-w2-16 parallel-gaussian-keys-16; do
    "$BIN" bench --variant "$v" --requests "$REQ" --dtype bf16 --json >> "$OUT"
  done
  "$BIN" bench --scenario small --variant exhaustive --requests 100 --json >> "$OUT"
done
python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    d = json.loads(line)
    rows.setdefault((d["variant"], d["scenario"], d["threads"], d["precision"]), []).append(d)
for (v, sc, t, prec), ds in rows.items():
    med = lambda k: statistics.median(d[k] for d in ds)
    print(json.dumps({
        "variant": v, "scenario": sc, "threads": t, "precision": prec, "runs": len(ds),
        "p50_us": round(med("p50_us")), "p50_min": round(min(d["p50_us"] for d in ds)),
        "p50_max": round(max(d["p50_us"] for d in ds)),
        "p90_us": round(med("p90_us")), "p99_us": round(med("p99_us")),
        "mflop": round(ds[0]["flops_per_request"] / 1e6, 1),
        "std_mflop": round(ds[0]["standard_flops_per_request"] / 1e6, 1),
        "gflops": round(med("gflops"), 1),
        "peak_frac": round(med("fraction_of_peak"), 3),
        "std_peak_frac": round(med("standard_fraction_of_peak"), 3),
    }))
PY
rm -f "$OUT"
