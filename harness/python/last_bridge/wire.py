"""Bodies of `POST /rank` for `last serve`: JSON, and the compact binary
body (`Content-Type: application/octet-stream`, layout in
`harness/src/server/binary.rs`), which the server copies instead of
parsing 3,000 decimal numbers."""

from __future__ import annotations

import json
import struct
from typing import Optional

import numpy as np

MAGIC = b"LST1"
BINARY_TYPE = "application/octet-stream"


def json_body(user, items, length: int, seed: int = 0, variant: Optional[str] = None, budget_us: Optional[int] = None) -> bytes:
    """The JSON body (`variant` / `budget_us` left to the server when None)."""
    body = {"user": np.asarray(user, np.float32).tolist(), "items": np.asarray(items, np.float32).tolist(), "length": length, "seed": seed}
    if variant is not None:
        body["variant"] = variant
    if budget_us is not None:
        body["budget_us"] = budget_us
    return json.dumps(body).encode()


def binary_body(user, items, length: int, seed: int = 0, variant: Optional[str] = None, budget_us: Optional[int] = None) -> bytes:
    """The binary body of the same request."""
    u = np.ascontiguousarray(user, dtype="<f4")
    x = np.ascontiguousarray(items, dtype="<f4")
    if x.ndim != 2:
        raise ValueError("items must be N x d_x")
    name = (variant or "").encode()
    budget = (1 << 64) - 1 if budget_us is None else int(budget_us)
    head = MAGIC + struct.pack("<IIIIQQI", x.shape[0], x.shape[1], u.shape[0], length, seed, budget, len(name))
    return head + name + u.tobytes() + x.tobytes()
