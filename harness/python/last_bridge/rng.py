"""The counter-based noise of `last_kernels::rng`, bit for bit, in numpy.

A value is a pure function of `(seed, candidate, element index)`:
`splitmix64` of the seed and candidate gives two 32-bit keys; element `i`
is `lowbias32(i ^ key)`; the Gaussian is the Irwin-Hall(8) approximation
(the 8 bytes of two hashes summed, centred and scaled in f32), Rademacher
is +-1 from one hash's top bit, and antithetic candidates `2i`, `2i+1`
share a stream with opposite signs. Parallel LAST's candidate `c >= 1`
perturbs the target matrix `W (n x k)` by `sigma * rms(W) * E` with
`E[j, kk] = value(j * k + kk)` of stream `candidate = c - 1`.
"""

from __future__ import annotations

import numpy as np

M64 = (1 << 64) - 1
_IH8_INV_STD = np.float32(0.004784196)
_IH8_MEAN = np.float32(1020.0)


def splitmix64(z: int) -> int:
    """splitmix64 finaliser on a Python int (mod 2^64)."""
    z = (z + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def lowbias32(x: np.ndarray) -> np.ndarray:
    """Wellons' lowbias32 on a uint32 array (wrapping multiplies)."""
    x = x.astype(np.uint32, copy=True)
    with np.errstate(over="ignore"):
        x ^= x >> np.uint32(16)
        x *= np.uint32(0x7FEB352D)
        x ^= x >> np.uint32(15)
        x *= np.uint32(0x846CA68B)
        x ^= x >> np.uint32(16)
    return x


def _byte_sum(h: np.ndarray) -> np.ndarray:
    m = np.uint32(0x00FF00FF)
    return (h & m) + ((h >> np.uint32(8)) & m)


def noise(seed: int, candidate: int, kind: str, count: int, offset: int = 0, antithetic: bool = False) -> np.ndarray:
    """Elements `offset .. offset + count` of a stream, as float32.

    `kind` is "gaussian" or "rademacher"; `antithetic` pairs candidates
    (`last`'s `antithetic` noise is Gaussian with this flag).
    """
    if kind not in ("gaussian", "rademacher"):
        raise ValueError(f"noise kind {kind!r}")
    if antithetic:
        base, sign = candidate >> 1, (candidate & 1) << 31
    else:
        base, sign = candidate, 0
    h = splitmix64((seed & M64) ^ splitmix64(base ^ 0x4C41535400000000))
    k1, k2 = np.uint32(h & 0xFFFFFFFF), np.uint32(h >> 32)
    idx = (np.arange(count, dtype=np.uint64) + offset).astype(np.uint32)
    h1 = lowbias32(idx ^ k1)
    if kind == "gaussian":
        h2 = lowbias32(idx ^ k2)
        s = _byte_sum(h1) + _byte_sum(h2)
        t = (s & np.uint32(0xFFFF)) + (s >> np.uint32(16))
        bits = ((t.astype(np.float32) - _IH8_MEAN) * _IH8_INV_STD).view(np.uint32)
    else:
        bits = np.uint32(0x3F800000) | (h1 & np.uint32(0x80000000))
    return (bits ^ np.uint32(sign)).view(np.float32)
