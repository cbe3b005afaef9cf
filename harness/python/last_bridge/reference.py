"""A numpy reference of what `last` serves: the generator's greedy list,
the evaluator's list score, the parallel LAST request, and the safe
variant's pessimistic selection over an evaluator ensemble.

Everything is computed in float64 from the weights exactly as `last` holds
them (f32, or rounded to f16 when the config stores f16), with the same
noise streams (`last_bridge.rng`), so `last`'s f32 kernels agree with it to
rounding: lists identical, scores within 1e-5 relative, except where two
choices are closer than that (the reference reports its margins, so a
caller can tell such near-ties apart).

The networks (docs/DESIGN.md section 5):

* generator encoder: `e1_i = ReLU(W1 [x_i; u; mean x] + b1)`,
  `h_i = ReLU(W2 e1_i + b2)`, `k_i = A h_i + bA`;
* decoder: `s_0 = tanh(W0 [mean h; u] + b0)`; step `t`: `q_t = B s_t + bB`,
  `score_i = v . tanh(k_i + q_t)` over untaken items, greedy arg-max (the
  lowest index among equals), `s_{t+1} = tanh(Ws [s_t; h_pick] + bs)`;
* evaluator: position `t` of list `pi` has input
  `z_t = [x_pi_t; u; mean of x_pi_s for s < t (0 at t = 0); P_t]`,
  `c_t = sigmoid(l3 ReLU(l2 ReLU(l1 z_t)))`, list score `sum_t w_t c_t`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Tuple

import numpy as np

from .config import Config, member_prefix, members_of
from .rng import noise

#: sigma of a parallel candidate unless the variant name says otherwise.
DEFAULT_SIGMA = 0.05
#: lambda and margin of a safe variant unless the name says otherwise.
SAFE_DEFAULTS = (1.0, 0.0)


def _relu(x):
    return np.maximum(x, 0.0)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class ParallelVariant:
    """`parallel-NOISE-TARGET-K[:sigma=S]` of `last`'s naming scheme."""

    noise: str
    target: str
    k: int
    sigma: float = DEFAULT_SIGMA

    @staticmethod
    def parse(name: str) -> "ParallelVariant":
        head, _, knobs = name.partition(":")
        parts = head.split("-")
        if len(parts) != 4 or parts[0] != "parallel":
            raise ValueError(f"{name!r} is not a parallel variant (parallel-NOISE-TARGET-K)")
        _, nz, target, k = parts
        if nz not in ("gaussian", "rademacher", "antithetic"):
            raise ValueError(f"noise {nz!r}: the reference implements gaussian, rademacher and antithetic")
        if target not in ("w2", "keys"):
            raise ValueError(f"target {target!r}: w2 or keys")
        sigma = DEFAULT_SIGMA
        for kv in filter(None, knobs.split(",")):
            key, _, val = kv.partition("=")
            if key != "sigma":
                raise ValueError(f"knob {key!r}: the reference takes sigma only")
            sigma = float(val)
        return ParallelVariant(nz, target, int(k), sigma)

    def name(self) -> str:
        """The canonical name (`:sigma=` only when not the default)."""
        base = f"parallel-{self.noise}-{self.target}-{self.k}"
        return base if self.sigma == DEFAULT_SIGMA else f"{base}:sigma={self.sigma}"


@dataclass
class SafeVariant:
    """`safe-NOISE-TARGET-K[:sigma=S,lambda=L,margin=M]`: parallel LAST's
    search, then pessimistic selection over the evaluator ensemble
    (`margin=inf` never replaces the baseline)."""

    search: ParallelVariant
    lam: float = SAFE_DEFAULTS[0]
    margin: float = SAFE_DEFAULTS[1]

    @staticmethod
    def parse(name: str) -> "SafeVariant":
        head, _, knobs = name.partition(":")
        if not head.startswith("safe-"):
            raise ValueError(f"{name!r} is not a safe variant (safe-NOISE-TARGET-K)")
        rest, lam, margin = [], SAFE_DEFAULTS[0], SAFE_DEFAULTS[1]
        for kv in filter(None, knobs.split(",")):
            key, _, val = kv.partition("=")
            if key == "lambda":
                lam = float(val)
            elif key == "margin":
                margin = float("inf") if val == "inf" else float(val)
            else:
                rest.append(kv)
        par = "parallel-" + head[len("safe-") :] + (":" + ",".join(rest) if rest else "")
        return SafeVariant(ParallelVariant.parse(par), lam, margin)


def choose(gains: np.ndarray, lam: float, margin: float) -> Tuple[int, float]:
    """`last`'s pessimistic choice: `gains[i, j]` is member `i`'s gain of
    kept list `j` over the baseline; the bound is mean − lam·sd over members
    (sample sd, 0 for one member); the highest bound above `margin` wins,
    ties keep the earlier list. Returns (index or -1, the smallest gap
    between a bound and the margin or between the two best bounds)."""
    members = gains.shape[0]
    mean = gains.mean(0)
    sd = gains.std(0, ddof=1) if members > 1 else np.zeros_like(mean)
    bound = mean - np.float64(lam) * sd
    pick, gap = -1, float("inf")
    for j, b in enumerate(bound):
        gap = min(gap, abs(b - margin))
        if b > margin and (pick < 0 or b > bound[pick]):
            pick = j
    above = np.sort(bound[bound > margin])
    if above.size >= 2:
        gap = min(gap, float(above[-1] - above[-2]))
    return pick, gap


@dataclass
class Decoded:
    """One greedy decode: the list and the smallest gap between the best
    and the second-best untaken pointer score over its steps."""

    items: List[int]
    margin: float


@dataclass
class Served:
    """What the reference serves for one request."""

    list: List[int]
    score: float
    winner: int
    baseline_list: List[int]
    baseline_score: float
    #: Every candidate's list and score, baseline first.
    candidates: List[Tuple[List[int], float]] = field(default_factory=list)
    #: Smallest greedy margin over every candidate's decode.
    decode_margin: float = float("inf")
    #: Safe variants: the smallest gap of the pessimistic choice (see `choose`).
    select_margin: float = float("inf")

    def score_margin(self) -> float:
        """Gap between the served score and the best score of a different list
        (infinite when every candidate produced the served list)."""
        others = [s for (l, s) in self.candidates if l != self.list]
        return self.score - max(others) if others else float("inf")


class Reference:
    """The reference model: weights by tensor name (`state_dict` / safetensors
    names), as float32 arrays in PyTorch layouts."""

    def __init__(self, params: Dict[str, np.ndarray], cfg: Config):
        cfg.check()
        #: Evaluators: the evaluator and the `ensemble.{i}` members present.
        self.members = members_of(params)
        shapes = cfg.shapes(self.members)
        missing = set(shapes) - set(params)
        extra = set(params) - set(shapes)
        if missing or extra:
            raise ValueError(f"tensors missing {sorted(missing)}, extra {sorted(extra)}")
        self.cfg = cfg
        self.f32: Dict[str, np.ndarray] = {}
        for name, shape in shapes.items():
            a = np.asarray(params[name], dtype=np.float32)
            if a.shape != shape:
                raise ValueError(f"{name}: shape {a.shape}, expected {shape}")
            if cfg.dtype == "f16":
                # `last` keeps exactly the f16 values the kernels compute with.
                a = a.astype(np.float16).astype(np.float32)
            self.f32[name] = a
        self.w = {k: v.astype(np.float64) for k, v in self.f32.items()}

    def _lin(self, name: str, x, weight=None):
        w = self.w[f"{name}.weight"] if weight is None else weight
        return x @ w.T + self.w[f"{name}.bias"]

    def rms(self, name: str) -> np.float32:
        """RMS of a layer's weights, as `last` computes it (f64 sum, f32 result)."""
        w = self.w[f"{name}.weight"]
        return np.float32(np.sqrt(np.mean(w * w)))

    def encode(self, user, items, w2=None) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`(e1, h, keys)` of every item (`w2` replaces W2's weight)."""
        x = np.asarray(items, dtype=np.float64)
        u = np.asarray(user, dtype=np.float64)
        n = x.shape[0]
        inp = np.concatenate([x, np.tile(u, (n, 1)), np.tile(x.mean(0), (n, 1))], axis=1)
        e1 = _relu(self._lin("generator.w1", inp))
        h = _relu(self._lin("generator.w2", e1, w2))
        return e1, h, self._lin("generator.a", h)

    def greedy(self, user, h, keys, length: int) -> Decoded:
        """The greedy pointer decode of `length` items."""
        n = h.shape[0]
        u = np.asarray(user, dtype=np.float64)
        s = np.tanh(self._lin("generator.w0", np.concatenate([h.mean(0), u])))
        v = self.w["generator.v"]
        taken = np.zeros(n, dtype=bool)
        out, margin = [], float("inf")
        for t in range(length):
            q = self._lin("generator.b", s)
            sc = np.tanh(keys + q) @ v
            sc[taken] = -np.inf
            pick = int(np.argmax(sc))
            rest = np.delete(sc, pick)
            rest = rest[np.isfinite(rest)]
            if rest.size:
                margin = min(margin, float(sc[pick] - rest.max()))
            out.append(pick)
            taken[pick] = True
            if t + 1 < length:
                s = np.tanh(self._lin("generator.ws", np.concatenate([s, h[pick]])))
        return Decoded(out, margin)

    def clicks(self, user, items, lst: List[int], member: int = 0) -> np.ndarray:
        """Ensemble member `member`'s click probability per position of
        `lst` (member 0: the evaluator)."""
        p = member_prefix(member)
        x = np.asarray(items, dtype=np.float64)[lst]
        u = np.asarray(user, dtype=np.float64)
        length = len(lst)
        above = np.zeros_like(x)
        csum = np.cumsum(x, axis=0)
        above[1:] = csum[:-1] / np.arange(1, length)[:, None]
        z = np.concatenate([x, np.tile(u, (length, 1)), above, self.w[f"{p}.pos"][:length]], axis=1)
        e1 = _relu(self._lin(f"{p}.l1", z))
        e2 = _relu(self._lin(f"{p}.l2", e1))
        return _sigmoid(self._lin(f"{p}.l3", e2))[:, 0]

    def score(self, user, items, lst: List[int], member: int = 0) -> float:
        """Member `member`'s list score `sum_t w_t c_t`."""
        c = self.clicks(user, items, lst, member)
        return float(sum(self.cfg.position_weight(t) * c[t] for t in range(len(lst))))

    def baseline(self, user, items, length: int) -> Served:
        """The generator's greedy list (Delta theta = 0) and its score."""
        _, h, keys = self.encode(user, items)
        d = self.greedy(user, h, keys, length)
        s = self.score(user, items, d.items)
        return Served(d.items, s, 0, d.items, s, [(d.items, s)], d.margin)

    def perturbed(self, name: str, sigma: float, seed: int, candidate: int, kind: str) -> np.ndarray:
        """`W + sigma * rms(W) * E` for parallel candidate `candidate >= 1`,
        rounded to f32 as `last` forms it."""
        w = self.f32[f"{name}.weight"]
        n, k = w.shape
        anti = kind == "antithetic"
        e = noise(seed, candidate - 1, "gaussian" if anti else kind, n * k, antithetic=anti).reshape(n, k)
        scale = np.float32(sigma) * self.rms(name)
        return (w + scale * e).astype(np.float64)

    def parallel(self, user, items, length: int, variant: str, seed: int = 0) -> Served:
        """Parallel LAST: K - 1 perturbed candidates beside the baseline; the
        highest evaluator score wins, ties keep the earlier candidate."""
        pv = ParallelVariant.parse(variant)
        base = self.baseline(user, items, length)
        e1, h0, keys0 = self.encode(user, items)
        best = base
        cands = [(base.list, base.score)]
        margin = base.decode_margin
        for c in range(1, pv.k):
            if pv.target == "w2":
                w2 = self.perturbed("generator.w2", pv.sigma, seed, c, pv.noise)
                h = _relu(e1 @ w2.T + self.w["generator.w2.bias"])
                keys = self._lin("generator.a", h)
            else:
                a = self.perturbed("generator.a", pv.sigma, seed, c, pv.noise)
                h, keys = h0, h0 @ a.T + self.w["generator.a.bias"]
            d = self.greedy(user, h, keys, length)
            s = self.score(user, items, d.items)
            cands.append((d.items, s))
            margin = min(margin, d.margin)
            if s > best.score:
                best = Served(d.items, s, c, base.list, base.score)
        return Served(best.list, best.score, best.winner, base.list, base.score, cands, margin)

    def safe(self, user, items, length: int, variant: str, seed: int = 0) -> Served:
        """The safe variant: parallel LAST's candidates, then every distinct
        list other than the baseline (in candidate order) is kept, and the
        one whose ensemble bound is highest and above the margin replaces
        the baseline (see `choose`); its score is the evaluator's."""
        sv = SafeVariant.parse(variant)
        if sv.margin == float("inf"):
            return self.baseline(user, items, length)
        par = self.parallel(user, items, length, sv.search.name(), seed)
        base = par.baseline_list
        kept: List[Tuple[List[int], float, int]] = []
        for idx, (lst, s) in enumerate(par.candidates[1:], start=1):
            if lst != base and all(lst != k[0] for k in kept):
                kept.append((lst, s, idx))
        out = Served(base, par.baseline_score, 0, base, par.baseline_score, [], par.decode_margin)
        if not kept:
            return out
        gains = np.array(
            [[self.score(user, items, k[0], i) - self.score(user, items, base, i) for k in kept] for i in range(self.members)]
        )
        j, gap = choose(gains, sv.lam, sv.margin)
        out.select_margin = gap
        if j >= 0:
            out.list, out.score, out.winner = kept[j][0], kept[j][1], kept[j][2]
        out.candidates = [(out.list, out.score)]
        return out

    def serve(self, user, items, length: int, variant: str = "baseline", seed: int = 0) -> Served:
        """`baseline`, a parallel or a safe variant by name."""
        if variant == "baseline":
            return self.baseline(user, items, length)
        if variant.startswith("safe-"):
            return self.safe(user, items, length, variant, seed)
        return self.parallel(user, items, length, variant, seed)


