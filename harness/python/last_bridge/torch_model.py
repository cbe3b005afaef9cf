"""The generator and evaluator as PyTorch modules (needs torch).

`LastModel(cfg).state_dict()` has exactly the tensor names `last` loads
(`generator.w1.weight`, ..., `generator.v`, `evaluator.l1.weight`, ...,
`evaluator.pos`), so `save(model, cfg, folder)` writes a folder `last`
serves, and `LastModel.load(folder)` reads one back. The forward passes are
batched (`user: [B, d_u]`, `items: [B, N, d_x]`, `lists: [B, L]`) for
training; the mathematics is that of `last_bridge.reference` (the module
docs there), which the tests check against each other.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .config import Config, members_of
from .io import load as load_folder
from .io import save as save_folder
from .reference import ParallelVariant, Served
from .rng import noise


def _mask_taken(scores: torch.Tensor, taken: torch.Tensor) -> torch.Tensor:
    return scores.masked_fill(taken, float("-inf"))


class Generator(nn.Module):
    """The pointer-network generator: encoder `w1`, `w2`, keys `a`; decoder
    start `w0`, query `b`, state update `ws`, score vector `v`."""

    def __init__(self, cfg: Config):
        super().__init__()
        h, dx, du = cfg.hidden, cfg.d_x, cfg.d_u
        self.w1 = nn.Linear(2 * dx + du, h)
        self.w2 = nn.Linear(h, h)
        self.a = nn.Linear(h, h)
        self.w0 = nn.Linear(h + du, h)
        self.b = nn.Linear(h, h)
        self.ws = nn.Linear(2 * h, h)
        self.v = nn.Parameter(torch.empty(h).uniform_(-1 / math.sqrt(h), 1 / math.sqrt(h)))

    def encode(self, user, items, w2: Optional[torch.Tensor] = None, a: Optional[torch.Tensor] = None):
        """`(h, keys)`, each `[B, N, H]`; `w2` / `a` replace those weights
        (a parallel LAST candidate's perturbed matrix)."""
        b, n, _ = items.shape
        mean = items.mean(1, keepdim=True).expand(-1, n, -1)
        inp = torch.cat([items, user[:, None].expand(-1, n, -1), mean], -1)
        e1 = F.relu(self.w1(inp))
        h = F.relu(F.linear(e1, self.w2.weight if w2 is None else w2, self.w2.bias))
        keys = F.linear(h, self.a.weight if a is None else a, self.a.bias)
        return h, keys

    def _start(self, user, h):
        return torch.tanh(self.w0(torch.cat([h.mean(1), user], -1)))

    def _scores(self, s, keys):
        return (torch.tanh(keys + self.b(s)[:, None]) * self.v).sum(-1)

    def _next(self, s, h, pick):
        hp = h[torch.arange(h.shape[0]), pick]
        return torch.tanh(self.ws(torch.cat([s, hp], -1)))

    def log_prob(self, user, items, lists):
        """`log p(list)` under the generator, teacher-forced: `[B]`."""
        h, keys = self.encode(user, items)
        s = self._start(user, h)
        taken = torch.zeros(items.shape[:2], dtype=torch.bool, device=items.device)
        total = torch.zeros(items.shape[0], dtype=items.dtype, device=items.device)
        rows = torch.arange(items.shape[0])
        for t in range(lists.shape[1]):
            logp = F.log_softmax(_mask_taken(self._scores(s, keys), taken), -1)
            pick = lists[:, t]
            total = total + logp[rows, pick]
            taken = taken.clone()
            taken[rows, pick] = True
            s = self._next(s, h, pick)
        return total

    @torch.no_grad()
    def decode(self, user, items, length: int, sample: Optional[torch.Generator] = None, **weights):
        """Greedy lists `[B, L]` (the lowest index among equal scores), or
        sampled ones when `sample` is a `torch.Generator`."""
        h, keys = self.encode(user, items, **weights)
        s = self._start(user, h)
        taken = torch.zeros(items.shape[:2], dtype=torch.bool, device=items.device)
        rows = torch.arange(items.shape[0])
        out = []
        for _ in range(length):
            sc = _mask_taken(self._scores(s, keys), taken)
            if sample is None:
                pick = sc.argmax(-1)
            else:
                pick = torch.multinomial(F.softmax(sc, -1), 1, generator=sample)[:, 0]
            out.append(pick)
            taken[rows, pick] = True
            s = self._next(s, h, pick)
        return torch.stack(out, 1)


class Evaluator(nn.Module):
    """The list-wise click model: `l1`, `l2`, head `l3`, position embeddings `pos`."""

    def __init__(self, cfg: Config):
        super().__init__()
        self.l1 = nn.Linear(cfg.eval_in, cfg.eval_h1)
        self.l2 = nn.Linear(cfg.eval_h1, cfg.eval_h2)
        self.l3 = nn.Linear(cfg.eval_h2, 1)
        self.pos = nn.Parameter(0.1 * torch.randn(cfg.max_len, cfg.pos_dim))

    def logits(self, user, items, lists):
        """Click logits per position, `[B, L]`."""
        b, length = lists.shape
        x = torch.gather(items, 1, lists[..., None].expand(-1, -1, items.shape[2]))
        csum = x.cumsum(1)
        above = torch.zeros_like(x)
        counts = torch.arange(1, length, dtype=x.dtype, device=x.device)[None, :, None]
        above[:, 1:] = csum[:, :-1] / counts
        pos = self.pos[:length][None].expand(b, -1, -1)
        z = torch.cat([x, user[:, None].expand(-1, length, -1), above, pos], -1)
        return self.l3(F.relu(self.l2(F.relu(self.l1(z)))))[..., 0]

    def score(self, user, items, lists, position_weights: Optional[torch.Tensor] = None):
        """List scores `sum_t w_t c_t`, `[B]`."""
        c = torch.sigmoid(self.logits(user, items, lists))
        if position_weights is not None:
            c = c * position_weights[: lists.shape[1]]
        return c.sum(-1)


class LastModel(nn.Module):
    """A generator/evaluator pair with the config `last` needs beside it,
    and `members - 1` further evaluators (`ensemble`, a `ModuleList`: the
    safe variant's ensemble; its state_dict keys `ensemble.{i}.l1.weight`,
    ... are the names `last` loads)."""

    def __init__(self, cfg: Config, members: int = 1):
        super().__init__()
        cfg.check()
        cfg.shapes(members)  # checks the ensemble size
        self.cfg = cfg
        self.generator = Generator(cfg)
        self.evaluator = Evaluator(cfg)
        self.ensemble = nn.ModuleList(Evaluator(cfg) for _ in range(members - 1))

    def save(self, folder: Union[str, Path], dtype: Optional[str] = None) -> Path:
        """Writes a folder `last` serves (see `last_bridge.save`)."""
        return save_folder(self, self.cfg, folder, dtype)

    @staticmethod
    def load(folder: Union[str, Path]) -> "LastModel":
        """Reads a model folder (F16 / BF16 tensors widened to f32)."""
        params, cfg = load_folder(folder)
        m = LastModel(cfg, members_of(params))
        m.load_state_dict({k: torch.from_numpy(v) for k, v in params.items()})
        return m

    def position_weights(self, dtype=torch.float32) -> Optional[torch.Tensor]:
        w = self.cfg.position_weights
        return None if w is None else torch.tensor(w, dtype=dtype)


@torch.no_grad()
def serve_reference(model: LastModel, user, items, length: int, variant: str = "baseline", seed: int = 0) -> Served:
    """The PyTorch reference of one request (float64): the baseline, or
    parallel LAST with `last`'s noise streams (`parallel-NOISE-TARGET-K`)."""
    m = copy.deepcopy(model).double()  # the caller's model is not touched
    if model.cfg.dtype == "f16":
        raise ValueError("the PyTorch reference takes f32 models; use last_bridge.Reference for f16 storage")
    u = torch.as_tensor(np.asarray(user), dtype=torch.float64)[None]
    x = torch.as_tensor(np.asarray(items), dtype=torch.float64)[None]
    pw = model.position_weights(torch.float64)

    def run(**weights):
        lst = m.generator.decode(u, x, length, **weights)
        return lst[0].tolist(), float(m.evaluator.score(u, x, lst, pw)[0])

    base, bscore = run()
    cands = [(base, bscore)]
    best, score, winner = base, bscore, 0
    if variant != "baseline":
        pv = ParallelVariant.parse(variant)
        name = "w2" if pv.target == "w2" else "a"
        w32 = getattr(m.generator, name).weight.float()
        rms = np.float32(torch.sqrt((w32.double() ** 2).mean()).item())
        scale = torch.tensor(np.float32(pv.sigma) * rms)
        anti = pv.noise == "antithetic"
        for c in range(1, pv.k):
            e = noise(seed, c - 1, "gaussian" if anti else pv.noise, w32.numel(), antithetic=anti)
            wp = (w32 + scale * torch.from_numpy(e).reshape(w32.shape)).double()
            lst, s = run(**{name: wp})
            cands.append((lst, s))
            if s > score:
                best, score, winner = lst, s, c
    return Served(best, score, winner, base, bscore, cands)
