"""The committed parity case: `python -m last_bridge.golden DIR` writes
three model folders (`f32`, `f16` storage, and a `bf16` file) of one random
model and `cases.json`, the requests with what the numpy reference serves
for them, which `harness/tests/golden.rs` checks `last` against without
Python. Only requests whose every greedy choice and winning score clear
the reference's margin by `MIN_MARGIN` are kept, so rounding cannot flip
them; the random parity test (`tests/test_parity.py`) covers the rest.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from .config import Config
from .io import load, random_params, save
from .reference import Reference
from .rng import noise

#: Margin (absolute, on pointer scores and list scores) a kept case clears.
MIN_MARGIN = 1e-3
#: Variants of the golden case.
VARIANTS = [
    "baseline",
    "parallel-gaussian-w2-16",
    "parallel-gaussian-w2-16:sigma=0.5",
    "parallel-rademacher-w2-8:sigma=0.3",
    "parallel-antithetic-w2-16:sigma=0.4",
    "parallel-gaussian-keys-16:sigma=0.5",
    "parallel-rademacher-keys-8:sigma=0.3",
]
#: Noise streams recorded bit for bit: (seed, candidate, kind, antithetic).
STREAMS = [(0, 0, "gaussian", False), (7, 3, "gaussian", False), (2**64 - 1, 9, "rademacher", False), (42, 5, "gaussian", True)]


def golden_config() -> Config:
    """The golden model's sizes (small enough to commit, wide enough that
    every kernel path and tail is used)."""
    return Config(d_x=12, d_u=5, hidden=24, eval_h1=20, eval_h2=10, pos_dim=4, max_len=6, max_candidates=32)


def cases(ref: Reference, count: int, seed: int):
    """`count` kept requests (random N, L, seed and variant) with the reference's answers."""
    rng = np.random.default_rng(seed)
    cfg = ref.cfg
    out = []
    while len(out) < count:
        n = int(rng.integers(6, 21))
        length = int(rng.integers(1, min(n, cfg.max_len) + 1))
        user = rng.normal(size=cfg.d_u).astype(np.float32)
        items = rng.normal(size=(n, cfg.d_x)).astype(np.float32)
        variant = VARIANTS[len(out) % len(VARIANTS)]
        rseed = int(rng.integers(0, 2**63))
        r = ref.serve(user, items, length, variant, rseed)
        if r.decode_margin < MIN_MARGIN or r.score_margin() < MIN_MARGIN:
            continue
        out.append(
            {
                "user": user.tolist(),
                "items": items.tolist(),
                "length": length,
                "variant": variant,
                "seed": rseed,
                "list": r.list,
                "score": r.score,
                "winner": r.winner,
                "baseline_list": r.baseline_list,
                "baseline_score": r.baseline_score,
            }
        )
    return out


def main(argv) -> int:
    if len(argv) != 2:
        print("usage: python -m last_bridge.golden DIR", file=sys.stderr)
        return 2
    root = Path(argv[1])
    cfg = golden_config()
    params = random_params(cfg, seed=2026, scale=2.0)
    cfg16 = Config(**{**cfg.__dict__, "dtype": "f16"})
    save(params, cfg, root / "f32")
    save(params, cfg16, root / "f16")
    save(params, cfg, root / "bf16", dtype="bf16")
    doc = {"tolerance_rel": 1e-5, "streams": [], "models": {}}
    for seed, cand, kind, anti in STREAMS:
        vals = noise(seed, cand, kind, 64, antithetic=anti)
        doc["streams"].append(
            {"seed": str(seed), "candidate": cand, "kind": kind, "antithetic": anti, "bits": vals.view(np.uint32).tolist()}
        )
    for name in ("f32", "f16", "bf16"):
        p, c = load(root / name)
        doc["models"][name] = cases(Reference(p, c), 24, seed=11)
    (root / "cases.json").write_text(json.dumps(doc, separators=(",", ":")))
    winners = [c["winner"] for c in doc["models"]["f32"]]
    print(f"wrote {root}: 3 models x 24 cases; winners of the f32 cases {winners}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
