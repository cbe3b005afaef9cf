"""Reading and writing a model folder: `model.safetensors` + `config.json`.

Tensor names are those `last` loads (`generator.w1.weight`, ...,
`evaluator.pos`), PyTorch `Linear` layouts (`out x in`). Files may hold
F32, F16 or BF16 tensors; `last` widens each to f32 once at load and then
stores it as the config's `dtype` says (f32; f16 for the kernels' f16
path; bf16, whose per-candidate products `last` runs on its bf16 kernels,
so its parallel lists can differ from this package's f32 reference where
rounding reorders near-tied scores).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Dict, Mapping, Optional, Union

import numpy as np
import safetensors

from .config import Config, members_of

_DTYPES = {"f32": "F32", "f16": "F16", "bf16": "BF16"}


def _to_numpy(t) -> np.ndarray:
    """A float32 numpy copy of a numpy array or a torch tensor."""
    if hasattr(t, "detach"):
        t = t.detach().to("cpu").float().numpy()
    return np.ascontiguousarray(np.asarray(t, dtype=np.float32))


def bf16_bits(a: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bits, rounding to nearest even (as torch does);
    NaN stays NaN."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
    with np.errstate(over="ignore"):
        rounded = (u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)
    nan = np.isnan(a)
    rounded[nan] = (u[nan] >> np.uint32(16)) | np.uint32(0x40)
    return rounded.astype(np.uint16)


def bf16_to_f32(bits: np.ndarray) -> np.ndarray:
    """bfloat16 bits -> float32 (exact)."""
    return (bits.astype(np.uint32) << np.uint32(16)).view(np.float32)


def state_of(source) -> Dict[str, np.ndarray]:
    """Tensors by name from a `LastModel` (or any `nn.Module` with the right
    `state_dict`) or a mapping of arrays / tensors."""
    if hasattr(source, "state_dict"):
        source = source.state_dict()
    return {k: _to_numpy(v) for k, v in source.items()}


def save(source, cfg: Config, folder: Union[str, Path], dtype: Optional[str] = None) -> Path:
    """Writes `folder/model.safetensors` and `folder/config.json`.

    `source`: a `LastModel`, a `state_dict`, or a mapping of arrays with the
    names of `Config.shapes(members)`, where `members` counts the evaluator
    and the `ensemble.{i}` members present (`config.members_of`). `dtype`: the tensors' type in the file,
    "f32", "f16" or "bf16" (default: the config's storage dtype). Every
    tensor is checked for presence, shape and finiteness first, so a folder
    `last` would refuse is never written.
    """
    cfg.check()
    dtype = dtype or cfg.dtype
    if dtype not in _DTYPES:
        raise ValueError(f"dtype {dtype!r}: f32, f16 or bf16")
    tensors = state_of(source)
    shapes = cfg.shapes(members_of(tensors))
    missing, extra = set(shapes) - set(tensors), set(tensors) - set(shapes)
    if missing or extra:
        raise ValueError(f"tensors missing {sorted(missing)}, extra {sorted(extra)}")
    header, chunks, offset = {}, [], 0
    for name in sorted(shapes):
        a = tensors[name]
        if a.shape != shapes[name]:
            raise ValueError(f"{name}: shape {a.shape}, expected {shapes[name]}")
        if not np.isfinite(a).all():
            raise ValueError(f"{name}: non-finite value")
        if dtype == "f32":
            data = a.astype("<f4").tobytes()
        elif dtype == "f16":
            h = a.astype(np.float16)
            if not np.isfinite(h).all():
                raise ValueError(f"{name}: a value overflows f16")
            data = h.astype("<f2").tobytes()
        else:
            data = bf16_bits(a).astype("<u2").tobytes()
        header[name] = {"dtype": _DTYPES[dtype], "shape": list(a.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "model.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)
    (out / "config.json").write_text(cfg.to_json())
    return out


def load(folder: Union[str, Path]) -> "tuple[Dict[str, np.ndarray], Config]":
    """Reads a model folder: float32 arrays by name (F16 / BF16 widened
    exactly) and its config."""
    folder = Path(folder)
    cfg = Config.read(folder)
    raw = safetensors.deserialize((folder / "model.safetensors").read_bytes())
    out: Dict[str, np.ndarray] = {}
    for name, t in raw:
        buf = bytes(t["data"])
        if t["dtype"] == "F32":
            a = np.frombuffer(buf, dtype="<f4").astype(np.float32)
        elif t["dtype"] == "F16":
            a = np.frombuffer(buf, dtype="<f2").astype(np.float32)
        elif t["dtype"] == "BF16":
            a = bf16_to_f32(np.frombuffer(buf, dtype="<u2"))
        else:
            raise ValueError(f"{name}: dtype {t['dtype']}, expected F32, F16 or BF16")
        out[name] = a.reshape(t["shape"])
    return out, cfg


def random_params(cfg: Config, seed: int = 0, scale: float = 1.0, members: int = 1) -> Mapping[str, np.ndarray]:
    """Random weights of `cfg`'s shapes with an evaluator ensemble of
    `members` (uniform, PyTorch `Linear`'s default range `1/sqrt(fan_in)`
    times `scale`), for tests and examples."""
    rng = np.random.default_rng(seed)
    out = {}
    shapes = cfg.shapes(members)
    for name, shape in shapes.items():
        fan_in = shape[1] if len(shape) == 2 else shape[0]
        if name.endswith(".bias"):
            fan_in = shapes[name[: -len("bias")] + "weight"][1]
        bound = scale / np.sqrt(fan_in)
        out[name] = rng.uniform(-bound, bound, size=shape).astype(np.float32)
    return out
