"""Train a tiny generator and evaluator in PyTorch, export them, and serve
them with `last`.

The world is synthetic and small: users and items have random features, an
item's click probability at position t is `relevance(user, item) / (1 + t)`
with a relevance the models never see. A noisy initial ranker logs lists and
clicks; the evaluator learns the clicks (binary cross-entropy); the
generator learns to put the clicked items of a logged list first
(teacher-forced log-likelihood). Both train on logs only; the true
relevance is used to report expected clicks on held-out requests.

    python harness/python/examples/train_tiny.py --out /tmp/tiny-model
    target/release/last serve --model /tmp/tiny-model --addr 127.0.0.1:8080

With `--last PATH` (or the workspace's build, or this project's `last` on PATH) it also
starts `last serve` on a loopback port, ranks one held-out request there
and checks the answer against the numpy reference.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from last_bridge import Config, Reference, load
from last_bridge.torch_model import LastModel

N, L = 20, 5


class World:
    """Hidden relevance `sigmoid(2 x . M u - 1)`, examination `1 / (1 + t)`."""

    def __init__(self, cfg: Config, seed: int):
        self.rng = np.random.default_rng(seed)
        self.m = self.rng.normal(size=(cfg.d_x, cfg.d_u)) / np.sqrt(cfg.d_u)
        self.cfg = cfg

    def request(self):
        u = self.rng.normal(size=self.cfg.d_u).astype(np.float32)
        x = self.rng.normal(size=(N, self.cfg.d_x)).astype(np.float32)
        return u, x

    def relevance(self, u, x):
        return 1.0 / (1.0 + np.exp(-(2.0 * x @ self.m @ u - 1.0)))

    def expected_clicks(self, u, x, lst):
        return float(sum(self.relevance(u, x)[i] / (1 + t) for t, i in enumerate(lst)))

    def log(self, u, x):
        """The initial ranker (relevance seen through heavy noise) and its clicks."""
        noisy = self.relevance(u, x) + self.rng.normal(scale=0.5, size=N)
        lst = np.argsort(-noisy)[:L]
        p = self.relevance(u, x)[lst] / (1 + np.arange(L))
        return lst, (self.rng.random(L) < p).astype(np.float32)


def logs(world: World, count: int):
    us, xs, lists, clicks = [], [], [], []
    for _ in range(count):
        u, x = world.request()
        lst, c = world.log(u, x)
        us.append(u), xs.append(x), lists.append(lst), clicks.append(c)
    return (torch.tensor(np.stack(a)) for a in (us, xs, lists, clicks))


def clicked_first(lists, clicks):
    """Each logged list reordered: clicked items first, then the rest, each in logged order."""
    order = torch.argsort(-clicks, dim=1, stable=True)
    return torch.gather(lists, 1, order)


def train(model: LastModel, data, epochs: int, seed: int):
    u, x, lists, clicks = data
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    target = clicked_first(lists, clicks)
    for epoch in range(epochs):
        perm = torch.randperm(len(u))
        tot_e = tot_g = 0.0
        for b in perm.split(128):
            ev = torch.nn.functional.binary_cross_entropy_with_logits(model.evaluator.logits(u[b], x[b], lists[b]), clicks[b])
            gen = -model.generator.log_prob(u[b], x[b], target[b]).mean()
            opt.zero_grad()
            (ev + 0.1 * gen).backward()
            opt.step()
            tot_e += ev.item() * len(b)
            tot_g += gen.item() * len(b)
        print(f"epoch {epoch + 1}: evaluator log-loss {tot_e / len(u):.4f}, generator NLL {tot_g / len(u):.3f}")


def find_last(arg):
    """`--last`, else the workspace's build, else a `last` on PATH that is
    this project's (`last info` answers; Unix has a `last` of its own)."""
    if arg:
        return Path(arg)
    root = Path(__file__).resolve().parents[3]
    for p in (root / "target/release/last", root / "target/debug/last"):
        if p.is_file():
            return p
    on_path = shutil.which("last")
    if on_path and subprocess.run([on_path, "info"], capture_output=True).returncode == 0:
        return Path(on_path)
    return None


def serve_one(last: Path, folder: Path, u, x):
    import json
    import re
    import urllib.request

    p = subprocess.Popen([str(last), "serve", "--model", str(folder), "--addr", "127.0.0.1:0"], stdout=subprocess.PIPE, text=True)
    try:
        url = re.search(r"(http://[0-9.:]+)", p.stdout.readline()).group(1)
        body = {"user": u.tolist(), "items": x.tolist(), "length": L, "variant": "parallel-gaussian-w2-16:sigma=0.2", "seed": 1, "budget_us": 10**9}
        req = urllib.request.Request(url + "/rank", json.dumps(body).encode(), {"content-type": "application/json"})
        return json.loads(urllib.request.urlopen(req, timeout=30).read()), body
    finally:
        p.terminate()
        p.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="model folder to write")
    ap.add_argument("--dtype", choices=["f32", "f16", "bf16"], default="f32", help="tensor type in the file")
    ap.add_argument("--requests", type=int, default=4000, help="logged requests to train on")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--last", help="the last binary (default: PATH, then the workspace build)")
    a = ap.parse_args()

    cfg = Config(d_x=8, d_u=4, hidden=32, eval_h1=32, eval_h2=16, pos_dim=4, max_len=L, max_candidates=64)
    world = World(cfg, a.seed)
    torch.manual_seed(a.seed)
    model = LastModel(cfg)
    train(model, logs(world, a.requests), a.epochs, a.seed)

    test = [world.request() for _ in range(500)]
    model.eval()
    with torch.no_grad():
        gen = [model.generator.decode(torch.tensor(u)[None], torch.tensor(x)[None], L)[0].tolist() for u, x in test]
    g = np.mean([world.expected_clicks(u, x, lst) for (u, x), lst in zip(test, gen)])
    r = np.mean([world.expected_clicks(u, x, world.log(u, x)[0]) for u, x in test])
    print(f"held-out expected clicks: initial ranker {r:.4f}, trained generator {g:.4f}")

    model.save(a.out, dtype=a.dtype)
    print(f"wrote {a.out}/model.safetensors ({a.dtype}) and config.json")

    last = find_last(a.last)
    if last is None:
        print("no last binary found: serve with `last serve --model", a.out, "`")
        return 0
    u, x = test[0]
    got, body = serve_one(last, a.out, u, x)
    params, c = load(a.out)
    want = Reference(params, c).serve(u, x, L, body["variant"], body["seed"])
    same = got["list"] == want.list
    print(f"last serve: list {got['list']} score {got['score']:.6f}; reference {want.list} {want.score:.6f}")
    if not same or abs(got["score"] - want.score) > 1e-5 * abs(want.score):
        print("last and the reference disagree", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
