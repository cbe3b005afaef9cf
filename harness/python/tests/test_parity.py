"""Parity of `last` with the numpy reference: the committed golden case,
and random requests through `last serve`.

Lists and winners must be identical and scores within 1e-5 relative
wherever the reference's own margins (best vs second-best pointer score
at every greedy step, served score vs the best different list) are above
`TIE`; below it the two f32/f64 computations may legitimately choose
differently, so there only the served score is compared (to 1e-4), and
such near-ties must stay rare.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from last_bridge import Config, Reference, load, random_params, save
from last_bridge.golden import cases as golden_cases
from last_bridge.golden import golden_config

from conftest import ROOT, serving

TOL = 1e-5
TIE = 1e-5
GOLDEN = ROOT / "harness/tests/golden"


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-30)


def test_golden_case_is_what_the_reference_computes():
    """The committed cases.json is reproduced by this package's reference
    from the committed model folders (so the Rust golden test checks `last`
    against this code, not against a stale file)."""
    doc = json.loads((GOLDEN / "cases.json").read_text())
    for name, want in doc["models"].items():
        params, cfg = load(GOLDEN / name)
        got = golden_cases(Reference(params, cfg), len(want), seed=11)
        for g, w in zip(got, want):
            assert g["list"] == w["list"] and g["winner"] == w["winner"]
            assert rel(g["score"], w["score"]) < 1e-12


def test_golden_folders_are_one_model_in_three_storages():
    p32, c32 = load(GOLDEN / "f32")
    p16, c16 = load(GOLDEN / "f16")
    pbf, cbf = load(GOLDEN / "bf16")
    assert c32 == golden_config() and c16.dtype == "f16" and cbf.dtype == "f32"
    for k, v in p32.items():
        assert np.array_equal(p16[k], v.astype(np.float16).astype(np.float32)), k
        assert np.max(np.abs(pbf[k] - v)) <= np.max(np.abs(v)) * 2**-8, k


def random_request(rng, cfg: Config):
    n = int(rng.integers(1, cfg.max_candidates + 1))
    length = int(rng.integers(1, min(n, cfg.max_len) + 1))
    if rng.random() < 0.2:
        variant = "baseline"
    else:
        noise = ["gaussian", "rademacher", "antithetic"][int(rng.integers(3))]
        target = ["w2", "keys"][int(rng.integers(2))]
        k = int(rng.integers(2, 25))
        sigma = float(np.float32(rng.uniform(0.01, 0.8)))
        variant = f"parallel-{noise}-{target}-{k}:sigma={sigma}"
    return {
        "user": rng.normal(size=cfg.d_u).astype(np.float32).tolist(),
        "items": rng.normal(size=(n, cfg.d_x)).astype(np.float32).tolist(),
        "length": length,
        "variant": variant,
        "seed": int(rng.integers(0, 2**63)),
        "budget_us": 10**12,
    }


def compare(server, ref: Reference, rng, count: int):
    """`count` random requests; returns (exact, near_ties, max_rel_error)."""
    exact = ties = 0
    worst = 0.0
    for _ in range(count):
        body = random_request(rng, ref.cfg)
        got = server.rank(body)
        want = ref.serve(body["user"], body["items"], body["length"], body["variant"], body["seed"])
        assert not got["budget_exhausted"]
        near = min(want.decode_margin, want.score_margin()) < TIE
        if near:
            ties += 1
            assert rel(got["score"], want.score) < 1e-4, (body["variant"], got, want.score)
            continue
        assert got["baseline_list"] == want.baseline_list, body["variant"]
        assert got["list"] == want.list, body["variant"]
        assert got["winner"] == want.winner, body["variant"]
        for g, w in ((got["score"], want.score), (got["baseline_score"], want.baseline_score)):
            worst = max(worst, rel(g, w))
            assert rel(g, w) <= TOL, (body["variant"], g, w)
        exact += 1
    return exact, ties, worst


@pytest.mark.parametrize("dtype,count", [("f32", 200), ("f16", 50), ("bf16", 50)])
def test_random_requests_through_last_serve(tmp_path: Path, last_bin, dtype: str, count: int):
    cfg = Config(d_x=10, d_u=6, hidden=20, eval_h1=16, eval_h2=12, pos_dim=3, max_len=7, max_candidates=40)
    if dtype == "f16":
        cfg.dtype = "f16"
    params = random_params(cfg, seed=7, scale=2.0)
    save(params, cfg, tmp_path / "m", dtype=dtype)
    p, c = load(tmp_path / "m")
    ref = Reference(p, c)
    with serving(last_bin, tmp_path / "m") as server:
        exact, ties, worst = compare(server, ref, np.random.default_rng(99), count)
    print(f"{dtype}: {exact} exact, {ties} near-ties, max relative score error {worst:.2e}")
    assert ties <= count // 20, f"{ties} near-ties of {count}"


def test_binary_and_json_bodies_serve_the_same(tmp_path: Path, last_bin):
    from last_bridge.wire import BINARY_TYPE, binary_body, json_body

    cfg = golden_config()
    with serving(last_bin, GOLDEN / "f32") as server:
        rng = np.random.default_rng(4)
        for variant in ["parallel-gaussian-w2-16:sigma=0.5", "baseline", None]:
            u = rng.normal(size=cfg.d_u)
            x = rng.normal(size=(15, cfg.d_x))
            a = server.rank(json_body(u, x, 4, seed=3, variant=variant, budget_us=10**9))
            b = server.rank(binary_body(u, x, 4, seed=3, variant=variant, budget_us=10**9), BINARY_TYPE)
            assert {k: a[k] for k in ("list", "score", "winner", "variant")} == {k: b[k] for k in ("list", "score", "winner", "variant")}


def safe_request(rng, cfg: Config):
    body = random_request(rng, cfg)
    noise = ["gaussian", "rademacher", "antithetic"][int(rng.integers(3))]
    target = ["w2", "keys"][int(rng.integers(2))]
    k = int(rng.integers(2, 25))
    sigma = float(np.float32(rng.uniform(0.05, 0.8)))
    lam = [0.0, 0.5, 1.0, 2.0][int(rng.integers(4))]
    margin = ["0", "0.01", "inf"][int(rng.integers(3))]
    body["variant"] = f"safe-{noise}-{target}-{k}:sigma={sigma},lambda={lam},margin={margin}"
    return body


def test_safe_variant_over_an_ensemble_through_last_serve(tmp_path: Path, last_bin):
    """A three-member ensemble written by the bridge (`ensemble.0`,
    `ensemble.1` beside `evaluator`), served by `last serve` with the safe
    variant: the same lists, winners and scores as the reference's
    pessimistic choice, except near-ties (of the decode, or of the bounds)."""
    cfg = Config(d_x=10, d_u=6, hidden=20, eval_h1=16, eval_h2=12, pos_dim=3, max_len=7, max_candidates=40)
    params = random_params(cfg, seed=5, scale=2.0, members=3)
    assert "ensemble.1.l3.bias" in params and "ensemble.2.l1.weight" not in params
    save(params, cfg, tmp_path / "m")
    p, c = load(tmp_path / "m")
    ref = Reference(p, c)
    assert ref.members == 3
    rng = np.random.default_rng(21)
    exact = ties = changed = 0
    with serving(last_bin, tmp_path / "m") as server:
        for _ in range(120):
            body = safe_request(rng, cfg)
            got = server.rank(body)
            want = ref.serve(body["user"], body["items"], body["length"], body["variant"], body["seed"])
            if min(want.decode_margin, want.select_margin) < TIE:
                ties += 1
                continue
            assert got["list"] == want.list, body["variant"]
            assert got["winner"] == want.winner, body["variant"]
            assert rel(got["score"], want.score) <= TOL, (body["variant"], got["score"], want.score)
            exact += 1
            changed += want.list != want.baseline_list
    print(f"safe: {exact} exact ({changed} changed the baseline), {ties} near-ties")
    assert ties <= 12 and changed >= 10, (ties, changed)


def test_one_member_safe_is_parallel_and_bad_ensembles_are_refused(tmp_path: Path):
    cfg = Config(d_x=6, d_u=3, hidden=8, eval_h1=8, eval_h2=4, pos_dim=2, max_len=4, max_candidates=20)
    ref = Reference(random_params(cfg, seed=2, scale=2.0), cfg)
    rng = np.random.default_rng(3)
    for seed in range(30):
        u, x = rng.normal(size=cfg.d_u), rng.normal(size=(12, cfg.d_x))
        par = ref.serve(u, x, 4, "parallel-rademacher-w2-9:sigma=0.5", seed)
        for lam in (0.0, 1.0, 5.0):
            safe = ref.serve(u, x, 4, f"safe-rademacher-w2-9:sigma=0.5,lambda={lam}", seed)
            assert (safe.list, safe.winner) == (par.list, par.winner)
        off = ref.serve(u, x, 4, "safe-rademacher-w2-9:sigma=0.5,margin=inf", seed)
        assert off.list == par.baseline_list and off.winner == 0
    # A member out of sequence is an extra tensor, a member missing a tensor is named.
    p3 = dict(random_params(cfg, seed=2, members=3))
    p3["ensemble.3.l1.weight"] = p3.pop("ensemble.1.l1.weight")
    with pytest.raises(ValueError, match="ensemble"):
        save(p3, cfg, tmp_path / "bad")
    with pytest.raises(ValueError, match="members"):
        cfg.shapes(17)
