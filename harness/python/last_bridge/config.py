"""The model config, `config.json` beside the weights (mirrors `last::model::Config`)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import List, Optional

#: Largest magnitude of a position weight `last` accepts.
MAX_POSITION_WEIGHT = 1e6


#: Largest evaluator ensemble (the evaluator included) `last` loads.
MAX_MEMBERS = 16


def member_prefix(i: int) -> str:
    """Tensor-name prefix of ensemble member `i`: `evaluator`, then
    `ensemble.0`, `ensemble.1`, ..."""
    return "evaluator" if i == 0 else f"ensemble.{i - 1}"


def members_of(names) -> int:
    """Ensemble size of a set of tensor names, as `last` counts it: 1 plus
    the members `ensemble.{i}.l1.weight` present in sequence from 0 (a
    member out of sequence is then an extra tensor)."""
    names = set(names)
    m = 1
    while m < MAX_MEMBERS and f"ensemble.{m - 1}.l1.weight" in names:
        m += 1
    return m


@dataclass
class Config:
    """Sizes and serving limits of a generator/evaluator pair.

    Field names and meanings are those of `config.json`; `last` refuses
    unknown fields, so this class writes exactly these.
    """

    d_x: int
    d_u: int
    hidden: int
    eval_h1: int
    eval_h2: int
    pos_dim: int
    max_len: int
    max_candidates: int
    dtype: str = "f32"
    position_weights: Optional[List[float]] = field(default=None)

    @staticmethod
    def standard() -> "Config":
        """The standard scenario (N = 50, d_x = 64, d_u = 32, L = 10)."""
        return Config(64, 32, 128, 128, 64, 16, 10, 256)

    @staticmethod
    def tiny() -> "Config":
        """A small model for tests and examples."""
        return Config(8, 4, 16, 16, 8, 4, 5, 32)

    @property
    def eval_in(self) -> int:
        """Input width of the evaluator's first layer: `[x; u; mean x above; P_t]`."""
        return 2 * self.d_x + self.d_u + self.pos_dim

    def position_weight(self, t: int) -> float:
        """Weight of position `t` in the list score (1 unless configured)."""
        if self.position_weights is None:
            return 1.0
        return float(self.position_weights[t])

    def check(self) -> None:
        """Raises `ValueError` for what `last` would refuse."""
        for name in ("d_x", "d_u", "hidden", "eval_h1", "eval_h2", "pos_dim", "max_len", "max_candidates"):
            v = getattr(self, name)
            if not isinstance(v, int) or not 1 <= v <= 4096:
                raise ValueError(f"{name} = {v!r} must be an integer in 1..=4096")
        if self.dtype not in ("f32", "f16", "bf16"):
            raise ValueError(f"dtype {self.dtype!r}: the kernels store f32, f16 or bf16")
        if self.position_weights is not None:
            w = self.position_weights
            if len(w) != self.max_len or any(not abs(float(v)) <= MAX_POSITION_WEIGHT for v in w):
                raise ValueError(f"position_weights must hold max_len finite values of magnitude <= {MAX_POSITION_WEIGHT:g}")

    def shapes(self, members: int = 1) -> dict:
        """Every tensor `last` loads, by name, with its shape (PyTorch
        layouts), for an evaluator ensemble of `members` (the evaluator,
        then `ensemble.0`, `ensemble.1`, ...: a `ModuleList` named
        `ensemble`)."""
        if not 1 <= members <= MAX_MEMBERS:
            raise ValueError(f"members = {members} must be in 1..={MAX_MEMBERS}")
        h, dx, du = self.hidden, self.d_x, self.d_u
        layers = [
            ("generator.w1", h, 2 * dx + du),
            ("generator.w2", h, h),
            ("generator.a", h, h),
            ("generator.w0", h, h + du),
            ("generator.b", h, h),
            ("generator.ws", h, 2 * h),
        ]
        for i in range(members):
            p = member_prefix(i)
            layers += [
                (f"{p}.l1", self.eval_h1, self.eval_in),
                (f"{p}.l2", self.eval_h2, self.eval_h1),
                (f"{p}.l3", 1, self.eval_h2),
            ]
        out = {}
        for name, n, k in layers:
            out[f"{name}.weight"] = (n, k)
            out[f"{name}.bias"] = (n,)
        out["generator.v"] = (h,)
        for i in range(members):
            out[f"{member_prefix(i)}.pos"] = (self.max_len, self.pos_dim)
        return out

    def to_json(self) -> str:
        """JSON text of `config.json`."""
        d = asdict(self)
        if d["position_weights"] is None:
            del d["position_weights"]
        return json.dumps(d, indent=2)

    @staticmethod
    def from_json(text: str) -> "Config":
        """Parses `config.json` text (unknown fields are an error, as in `last`)."""
        d = json.loads(text)
        known = set(Config.__dataclass_fields__)
        extra = set(d) - known
        if extra:
            raise ValueError(f"unknown config fields: {sorted(extra)}")
        cfg = Config(**d)
        cfg.check()
        return cfg

    @staticmethod
    def read(path: Path) -> "Config":
        """Reads `config.json` (a file or the model folder holding it)."""
        p = Path(path)
        if p.is_dir():
            p = p / "config.json"
        return Config.from_json(p.read_text())
