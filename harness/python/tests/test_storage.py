"""What f16 storage and a bf16 file change against the f32 model itself
(the reference on the rounded weights; `last` matches the reference on
them, `test_parity.py`). Prints the figures the README quotes:
`python3 -m pytest -s tests/test_storage.py`."""

from __future__ import annotations

import numpy as np

from last_bridge import Config, Reference, random_params
from last_bridge.io import bf16_bits, bf16_to_f32


def test_rounded_storage_keeps_most_lists():
    cfg = Config(d_x=10, d_u=6, hidden=20, eval_h1=16, eval_h2=12, pos_dim=3, max_len=7, max_candidates=40)
    p = random_params(cfg, seed=7, scale=2.0)
    r32 = Reference(p, cfg)
    stores = {
        "f16": (Reference(p, Config(**{**cfg.__dict__, "dtype": "f16"})), 3),
        "bf16": (Reference({k: bf16_to_f32(bf16_bits(v)) for k, v in p.items()}, cfg), 30),
    }
    for name, (ref, most) in stores.items():
        rng = np.random.default_rng(1)
        differ, errs = 0, []
        for i in range(300):
            n = int(rng.integers(2, 41))
            length = int(rng.integers(1, min(n, cfg.max_len) + 1))
            u, x = rng.normal(size=cfg.d_u), rng.normal(size=(n, cfg.d_x))
            v = "parallel-gaussian-w2-16:sigma=0.3"
            a, b = r32.serve(u, x, length, v, i), ref.serve(u, x, length, v, i)
            differ += a.list != b.list
            errs.append(abs(a.baseline_score - b.baseline_score) / abs(a.baseline_score))
        print(f"{name}: {differ} of 300 served lists differ from f32; baseline score relative difference median {np.median(errs):.1e}, max {max(errs):.1e}")
        assert differ <= most
