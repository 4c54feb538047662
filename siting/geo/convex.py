"""Convex polygons recognised from their coordinates, on whole arrays.

A ring that always turns the same way is convex, if it goes round once: for a valid
polygon that is given; for a four-cornered ring it is given too (four turns of the same sign,
each less than half a turn, add up to exactly one turn), so such a quadrilateral is valid
without asking GEOS.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import shapely

from siting.geo.parallel import BLOCK, in_blocks

_SPIKE = 1e-6  # |sine of a turn| below this: too close to straight or to a spike to judge here


def next_in_ring(ring: np.ndarray) -> np.ndarray:
    """For vertices listed ring by ring (open cycles), the index of each vertex's successor."""
    n = len(ring)
    nxt = np.arange(1, n + 1)
    if n == 0:
        return nxt
    ends = np.flatnonzero(np.r_[ring[1:] != ring[:-1], True])
    starts = np.r_[0, ends[:-1] + 1]
    nxt[ends] = starts
    return nxt


def open_cycles(xy: np.ndarray, of: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Closed rings listed ring by ring (the last vertex repeats the first) as open cycles:
    each ring's closing vertex dropped."""
    closing = np.ones(len(of), bool)
    closing[:-1] = of[1:] != of[:-1]
    return xy[~closing], of[~closing]


def twice_signed_areas(x: np.ndarray, y: np.ndarray, ring: np.ndarray, n: int) -> np.ndarray:
    """Shoelace sum of each open cycle: twice its signed area (positive: counter-clockwise)."""
    nxt = next_in_ring(ring)
    return np.bincount(ring, x * y[nxt] - x[nxt] * y, minlength=n)


def _turn_range(polys: np.ndarray, max_coords: int) -> tuple[np.ndarray, ...]:
    """(index, corners, lowest and highest sine of the turn at a corner) for the polygons
    without holes and with at most max_coords coordinates (closing one included)."""
    idx = np.flatnonzero(
        (shapely.get_type_id(polys) == 3)
        & ~shapely.is_empty(polys)
        & (shapely.get_num_interior_rings(polys) == 0)
        & (shapely.get_num_coordinates(polys) <= max_coords)
    )
    if not len(idx):
        return idx, np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    # no holes: a polygon's coordinates are its exterior ring's (no ring objects are made)
    xy, of = open_cycles(*shapely.get_coordinates(polys[idx], return_index=True))
    nxt = next_in_ring(of)
    ex, ey = xy[nxt, 0] - xy[:, 0], xy[nxt, 1] - xy[:, 1]
    cross = ex * ey[nxt] - ey * ex[nxt]
    scale = np.hypot(ex, ey) * np.hypot(ex[nxt], ey[nxt])
    turn = cross / np.where(scale > 0, scale, 1.0)  # sine of the turn; 0 at a repeated point
    starts = np.flatnonzero(np.r_[True, of[1:] != of[:-1]])
    corners = np.diff(np.r_[starts, len(of)])
    return idx, corners, np.minimum.reduceat(turn, starts), np.maximum.reduceat(turn, starts)


def convex_polygons(polys: np.ndarray, max_edges: int) -> np.ndarray:
    """True for valid polygons without holes that are convex, with at most max_edges edges."""

    def convex(a: int, b: int) -> np.ndarray:
        out = np.zeros(b - a, bool)
        idx, _, lo, hi = _turn_range(polys[a:b], max_edges + 1)
        out[idx] = (lo >= -1e-9) | (hi <= 1e-9)
        return out

    return in_blocks(convex, 0, len(polys), 4 * BLOCK)


def plainly_valid_quadrilaterals(polys: np.ndarray) -> np.ndarray:
    """True for four-cornered polygons whose corners all turn the same way, clearly: these
    are convex and valid. False says nothing (GEOS decides for the rest)."""
    out = np.zeros(len(polys), bool)
    idx, corners, lo, hi = _turn_range(polys, 5)
    out[idx] = (corners == 4) & ((lo > _SPIKE) | (hi < -_SPIKE))
    return out


# Well-known binary of a polygon with one ring of five points (four corners and the closing
# one), little-endian, 2D: byte order, type, rings, points, then ten doubles. A multipolygon
# of one such polygon has its own 9-byte header in front.
_QUAD_POLYGON = 93
_QUAD_MULTI = 9 + _QUAD_POLYGON


def _quad_turns_plain(xy: np.ndarray) -> npt.NDArray[np.bool_]:
    """xy (k, 10): closed rings of four corners as x0 y0 ... x4 y4. True where all four
    corners turn the same way, clearly (the sine of each turn beyond _SPIKE)."""
    ex, ey = np.diff(xy[:, 0::2], axis=1), np.diff(xy[:, 1::2], axis=1)  # four edges
    nxt = [1, 2, 3, 0]  # each edge's successor
    fx, fy = ex[:, nxt], ey[:, nxt]
    length = np.hypot(ex, ey)
    cross = ex * fy - ey * fx
    bound = _SPIKE * length * length[:, nxt]  # |sine| > _SPIKE, without dividing
    plain: npt.NDArray[np.bool_] = (cross > bound).all(axis=1) | (cross < -bound).all(axis=1)
    return plain


def plainly_valid_quadrilaterals_wkb(wkb: pa.Array) -> np.ndarray:
    """plainly_valid_quadrilaterals read straight from WKB (a pyarrow binary array), with no
    geometry objects: the same answer for the same features, in a fraction of the time.
    Anything but a little-endian 2D polygon (or one-part multipolygon) with one ring of five
    points is left to GEOS (False)."""
    n = len(wkb)
    out = np.zeros(n, bool)
    if n == 0:
        return out
    offset_type: type[np.signedinteger[Any]]
    if pa.types.is_large_binary(wkb.type):
        offset_type = np.int64
    elif pa.types.is_binary(wkb.type):
        offset_type = np.int32
    else:
        raise TypeError(f"expected a binary array of WKB, got {wkb.type}")
    validity, offsets, data = wkb.buffers()
    offsets = np.frombuffer(offsets, offset_type)[wkb.offset : wkb.offset + n + 1].astype(np.int64)
    data = np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)
    lengths = np.diff(offsets)
    if validity is not None:  # a null's length is 0 anyway; this is only for safety
        lengths[~np.asarray(wkb.is_valid())] = 0
    for size, head in ((_QUAD_POLYGON, 0), (_QUAD_MULTI, 9)):
        rows = np.flatnonzero(lengths == size)
        if len(rows):
            starts = offsets[rows]

            def quads(a: int, b: int, s: np.ndarray = starts, h: int = head) -> np.ndarray:
                return _plain_quads(data, s[a:b], h)

            out[rows] = in_blocks(quads, 0, len(rows), 8 * BLOCK)
    return out


def _plain_quads(data: np.ndarray, starts: np.ndarray, head: int) -> np.ndarray:
    at = starts + head  # where the polygon starts
    ok: npt.NDArray[np.bool_] = _header(data, at, 3) & (_read(data, at + 5, "<u4") == 1)
    ok &= _read(data, at + 9, "<u4") == 5
    if head:
        ok &= _header(data, starts, 6) & (_read(data, starts + 5, "<u4") == 1)
    coords = _read(data, at + 13, "<f8", 10)
    ok &= (coords[:, 0] == coords[:, 8]) & (coords[:, 1] == coords[:, 9])
    ok &= np.isfinite(coords).all(axis=1)
    return ok & _quad_turns_plain(coords)


def _read(data: np.ndarray, at: np.ndarray, dtype: str, count: int = 1) -> np.ndarray:
    """count consecutive values of dtype at each byte position in `at`: a view of the bytes
    that starts a value at every byte (unaligned, which numpy reads fine), indexed once."""
    size = np.dtype(dtype).itemsize
    span = size * count
    if len(data) < span:
        return np.zeros((len(at), count) if count > 1 else len(at), dtype)
    every_byte = np.ndarray((len(data) - span + 1, count), dtype, buffer=data, strides=(1, size))
    out: np.ndarray = every_byte[at]
    return out[:, 0] if count == 1 else out


def _header(data: np.ndarray, at: np.ndarray, kind: int) -> npt.NDArray[np.bool_]:
    """Little-endian and of the geometry type `kind` (2D)."""
    kind_ok: npt.NDArray[np.bool_] = (data[at] == 1) & (_read(data, at + 1, "<u4") == kind)
    return kind_ok
