#!/usr/bin/env python3
"""Eager PyTorch baseline for `last bench`: the standard request (N = 50,
L = 10, standard model sizes) as a recommender engineer would write it in
PyTorch, timed the same way (median and p99 over REQUESTS requests after a
warm-up), one JSON line per variant:

* `baseline`: encode, greedy pointer decode, evaluator score;
* `parallel-gaussian-w2-16`: 15 Gaussian perturbations of W2 drawn with
  `torch.randn`, all 16 candidates (the baseline first) batched through
  the encoder (`torch.bmm` with one W2 per candidate), one loop over the
  decode steps for all of them, one batched evaluator call, argmax.

The modules are `last_bridge`'s (`harness/python`), so the mathematics is
the one `last` serves. Usage: scripts/bench-torch.py [REQUESTS] [THREADS]
"""

import json
import statistics
import sys
import time

import torch
from torch.nn import functional as F

sys.path.insert(0, "harness/python")
from last_bridge import Config  # noqa: E402
from last_bridge.torch_model import LastModel  # noqa: E402

N, L, K, SIGMA = 50, 10, 16, 0.1


def decode(g, user, h, keys):
    """Greedy lists `[B, L]` from batched encoder outputs."""
    s = g._start(user, h)
    taken = torch.zeros(h.shape[:2], dtype=torch.bool)
    rows = torch.arange(h.shape[0])
    out = []
    for _ in range(L):
        sc = g._scores(s, keys).masked_fill(taken, float("-inf"))
        pick = sc.argmax(-1)
        out.append(pick)
        taken[rows, pick] = True
        s = g._next(s, h, pick)
    return torch.stack(out, 1)


def baseline(m, user, items):
    h, keys = m.generator.encode(user, items)
    lst = decode(m.generator, user, h, keys)
    return lst, m.evaluator.score(user, items, lst)


def parallel(m, user, items):
    g = m.generator
    w2 = g.w2.weight
    rms = w2.pow(2).mean().sqrt()
    e = torch.randn(K - 1, *w2.shape)
    w = torch.cat([w2[None], w2[None] + SIGMA * rms * e])  # [K, H, H]
    n = items.shape[1]
    mean = items.mean(1, keepdim=True).expand(-1, n, -1)
    inp = torch.cat([items, user[:, None].expand(-1, n, -1), mean], -1)
    e1 = F.relu(g.w1(inp)).expand(K, -1, -1)  # shared by every candidate
    h = F.relu(torch.bmm(e1, w.transpose(1, 2)) + g.w2.bias)
    keys = g.a(h)
    uk = user.expand(K, -1)
    lists = decode(g, uk, h, keys)
    scores = m.evaluator.score(uk, items.expand(K, -1, -1), lists)
    best = int(scores.argmax())
    return lists[best], scores[best]


def main():
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    torch.set_num_threads(threads)
    torch.manual_seed(7)
    cfg = Config.standard()
    m = LastModel(cfg).eval()
    user = torch.randn(1, cfg.d_u)
    items = torch.randn(1, N, cfg.d_x)
    for name, f in [("baseline", baseline), ("parallel-gaussian-w2-16", parallel)]:
        with torch.inference_mode():
            for _ in range(30):
                f(m, user, items)
            times = []
            for _ in range(requests):
                t0 = time.perf_counter()
                f(m, user, items)
                times.append((time.perf_counter() - t0) * 1e6)
        times.sort()
        print(json.dumps({
            "impl": "pytorch-eager",
            "torch": torch.__version__,
            "variant": name,
            "threads": threads,
            "requests": requests,
            "p50_us": statistics.median(times),
            "p99_us": times[int(0.99 * (len(times) - 1))],
        }))


if __name__ == "__main__":
    main()
