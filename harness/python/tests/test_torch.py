"""The PyTorch modules: names, export, and agreement with the numpy
reference (skipped where torch is not installed)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from last_bridge import Config, Reference, load  # noqa: E402
from last_bridge.io import bf16_bits  # noqa: E402
from last_bridge.torch_model import LastModel, serve_reference  # noqa: E402

CFG = Config(d_x=9, d_u=3, hidden=14, eval_h1=12, eval_h2=6, pos_dim=3, max_len=6, max_candidates=30)


def test_state_dict_keys_are_the_tensor_names_last_loads():
    m = LastModel(CFG)
    sd = m.state_dict()
    assert {k: tuple(v.shape) for k, v in sd.items()} == CFG.shapes()
    m.eval()  # no submodule shadows nn.Module.eval
    m.train()


def test_an_ensemble_is_a_module_list_last_loads(tmp_path):
    m = LastModel(CFG, members=3)
    assert len(m.ensemble) == 2
    sd = m.state_dict()
    assert {k: tuple(v.shape) for k, v in sd.items()} == CFG.shapes(3)
    m.save(tmp_path)
    back = LastModel.load(tmp_path)
    assert len(back.ensemble) == 2
    assert all(torch.equal(back.state_dict()[k], v) for k, v in sd.items())
    assert Reference(*load(tmp_path)).members == 3


@pytest.mark.parametrize("dtype", ["f32", "f16", "bf16"])
def test_save_load_round_trip(tmp_path, dtype):
    torch.manual_seed(0)
    m = LastModel(CFG)
    m.save(tmp_path, dtype=dtype)
    params, cfg = load(tmp_path)
    for k, v in m.state_dict().items():
        w = v.float()
        want = {"f32": w, "f16": w.half().float(), "bf16": w.bfloat16().float()}[dtype]
        assert np.array_equal(params[k], want.numpy()), k
    back = LastModel.load(tmp_path)
    assert all(torch.equal(back.state_dict()[k], torch.from_numpy(params[k])) for k in params)


def test_bf16_rounding_is_torchs():
    x = torch.randn(10000) * 10.0 ** torch.randint(-5, 5, (10000,)).float()
    assert np.array_equal(bf16_bits(x.numpy()), x.bfloat16().view(torch.int16).numpy().view(np.uint16))


@pytest.mark.parametrize(
    "variant",
    ["baseline", "parallel-gaussian-w2-12:sigma=0.4", "parallel-rademacher-keys-9:sigma=0.3", "parallel-antithetic-w2-10:sigma=0.5"],
)
def test_torch_reference_agrees_with_numpy_reference(variant):
    torch.manual_seed(3)
    m = LastModel(CFG)
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(2.0)
    ref = Reference({k: v.numpy() for k, v in m.state_dict().items()}, CFG)
    rng = np.random.default_rng(5)
    for _ in range(30):
        n = int(rng.integers(2, 30))
        length = int(rng.integers(1, min(n, CFG.max_len) + 1))
        u = rng.normal(size=CFG.d_u).astype(np.float32)
        x = rng.normal(size=(n, CFG.d_x)).astype(np.float32)
        seed = int(rng.integers(0, 2**63))
        a = serve_reference(m, u, x, length, variant, seed)
        b = ref.serve(u, x, length, variant, seed)
        assert [l for l, _ in a.candidates] == [l for l, _ in b.candidates]
        assert a.list == b.list and a.winner == b.winner
        assert abs(a.score - b.score) <= 1e-12 * abs(b.score)


def test_log_prob_is_a_distribution_and_trains():
    torch.manual_seed(1)
    m = LastModel(Config(d_x=4, d_u=2, hidden=6, eval_h1=4, eval_h2=3, pos_dim=2, max_len=3, max_candidates=4))
    u, x = torch.randn(1, 2), torch.randn(1, 3, 4)
    import itertools

    lists = torch.tensor(list(itertools.permutations(range(3))))
    lp = m.generator.log_prob(u.expand(6, -1), x.expand(6, -1, -1), lists)
    assert abs(lp.exp().sum().item() - 1.0) < 1e-5
    lp[0].backward()
    assert m.generator.w2.weight.grad.abs().sum() > 0
    assert m.evaluator.l1.weight.grad is None


def test_train_tiny_example_trains_exports_and_serves(tmp_path, last_bin):
    """The README's PyTorch path end to end: train, export (bf16), serve with
    `last serve`, and agree with the reference (the example exits 1 if not)."""
    import subprocess
    import sys
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "examples/train_tiny.py"
    out = tmp_path / "model"
    r = subprocess.run(
        [sys.executable, str(example), "--out", str(out), "--dtype", "bf16", "--requests", "600", "--epochs", "2", "--last", str(last_bin)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "last serve: list" in r.stdout
    _, cfg = load(out)
    assert cfg.max_len == 5
