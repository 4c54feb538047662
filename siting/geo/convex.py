"""Convex polygons recognised from their coordinates, on whole arrays.

A ring that always turns the same way is convex, if it goes round once: for a valid
polygon that is given; for a four-cornered ring it is given too (four turns of the same sign,
each less than half a turn, add up to exactly one turn), so such a quadrilateral is valid
without asking GEOS.
"""

from __future__ import annotations

import numpy as np
import shapely

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


def _turn_range(polys: np.ndarray, max_coords: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(index, lowest, highest sine of the turn at a vertex) for the polygons without holes
    and with at most max_coords coordinates (closing one included)."""
    idx = np.flatnonzero(
        (shapely.get_type_id(polys) == 3)
        & ~shapely.is_empty(polys)
        & (shapely.get_num_interior_rings(polys) == 0)
        & (shapely.get_num_coordinates(polys) <= max_coords)
    )
    if not len(idx):
        return idx, np.zeros(0), np.zeros(0)
    # no holes: a polygon's coordinates are its exterior ring's (no ring objects are made)
    xy, of = shapely.get_coordinates(polys[idx], return_index=True)
    closing = np.r_[of[1:] != of[:-1], True]
    xy, of = xy[~closing], of[~closing]
    nxt = next_in_ring(of)
    ex, ey = xy[nxt, 0] - xy[:, 0], xy[nxt, 1] - xy[:, 1]
    cross = ex * ey[nxt] - ey * ex[nxt]
    scale = np.hypot(ex, ey) * np.hypot(ex[nxt], ey[nxt])
    turn = cross / np.where(scale > 0, scale, 1.0)  # sine of the turn; 0 at a repeated point
    starts = np.flatnonzero(np.r_[True, of[1:] != of[:-1]])
    return idx, np.minimum.reduceat(turn, starts), np.maximum.reduceat(turn, starts)


def convex_polygons(polys: np.ndarray, max_edges: int) -> np.ndarray:
    """True for valid polygons without holes that are convex, with at most max_edges edges."""
    out = np.zeros(len(polys), bool)
    idx, lo, hi = _turn_range(polys, max_edges + 1)
    out[idx] = (lo >= -1e-9) | (hi <= 1e-9)
    return out


def plainly_valid_quadrilaterals(polys: np.ndarray) -> np.ndarray:
    """True for four-cornered polygons whose corners all turn the same way, clearly: these
    are convex and valid. False says nothing (GEOS decides for the rest)."""
    out = np.zeros(len(polys), bool)
    idx, lo, hi = _turn_range(polys, 5)
    four = shapely.get_num_coordinates(polys[idx]) == 5
    out[idx] = four & ((lo > _SPIKE) | (hi < -_SPIKE))
    return out
