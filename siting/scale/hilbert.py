"""Distance along a Hilbert curve, as dask-geopandas computes it for `spatial_shuffle`
(`dask_geopandas.hilbert_distance`: box mid-points scaled onto a 2**level grid over the total
bounds; "Fast Hilbert curve algorithm" by rawrunprotected, public domain). Kept here so
that a worker does not import dask-geopandas (and with it dask.array and dask.dataframe,
seconds per process) for twenty lines of numpy; tests/test_dask_engine.py checks that the
two agree."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MAX_LEVEL = 16


def discrete(
    bounds: np.ndarray, extent: Sequence[float] | np.ndarray, level: int
) -> tuple[np.ndarray, np.ndarray]:
    side = (2**level) - 1
    x_mid = (bounds[:, 0] + bounds[:, 2]) / 2.0
    y_mid = (bounds[:, 1] + bounds[:, 3]) / 2.0
    xmin, ymin, xmax, ymax = extent

    def scale(v: np.ndarray, lo: float, hi: float) -> np.ndarray:
        res = (v - lo) * (side / ((hi - lo) or 1.0))
        np.clip(res, 0, side, out=res)
        out: np.ndarray = res.astype(np.uint32)
        return out

    return scale(x_mid, xmin, xmax), scale(y_mid, ymin, ymax)


def _interleave(x: np.ndarray) -> np.ndarray:
    x = (x | (x << 8)) & 0x00FF00FF
    x = (x | (x << 4)) & 0x0F0F0F0F
    x = (x | (x << 2)) & 0x33333333
    x = (x | (x << 1)) & 0x55555555
    return x


def encode(level: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype="uint32") << (16 - level)
    y = np.asarray(y, dtype="uint32") << (16 - level)
    a = x ^ y
    b = 0xFFFF ^ a
    c = 0xFFFF ^ (x | y)
    d = x & (y ^ 0xFFFF)
    A = a | (b >> 1)
    B = (a >> 1) ^ a
    C = ((c >> 1) ^ (b & (d >> 1))) ^ c
    D = ((a & (c >> 1)) ^ (d >> 1)) ^ d
    for shift in (2, 4):
        a, b, c, d = A.copy(), B.copy(), C.copy(), D.copy()
        A = (a & (a >> shift)) ^ (b & (b >> shift))
        B = (a & (b >> shift)) ^ (b & ((a ^ b) >> shift))
        C ^= (a & (c >> shift)) ^ (b & (d >> shift))
        D ^= (b & (c >> shift)) ^ ((a ^ b) & (d >> shift))
    a, b, c, d = A.copy(), B.copy(), C.copy(), D.copy()
    C ^= (a & (c >> 8)) ^ (b & (d >> 8))
    D ^= (b & (c >> 8)) ^ ((a ^ b) & (d >> 8))
    a = C ^ (C >> 1)
    b = D ^ (D >> 1)
    i0 = x ^ y
    i1 = b | (0xFFFF ^ (i0 | a))
    out: np.ndarray = ((_interleave(i1) << 1) | _interleave(i0)) >> (32 - 2 * level)
    return out


def hilbert_distance(
    bounds: np.ndarray, extent: Sequence[float] | np.ndarray, level: int = MAX_LEVEL
) -> np.ndarray:
    """Per box (rows of xmin, ymin, xmax, ymax), its mid-point's distance along the curve."""
    x, y = discrete(bounds, extent, level)
    return encode(level, x, y)
