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
    out = np.zeros(len(polys), bool)
    idx, _, lo, hi = _turn_range(polys, max_edges + 1)
    out[idx] = (lo >= -1e-9) | (hi <= 1e-9)
    return out


def plainly_valid_quadrilaterals(polys: np.ndarray) -> np.ndarray:
    """True for four-cornered polygons whose corners all turn the same way, clearly: these
    are convex and valid. False says nothing (GEOS decides for the rest)."""
    out = np.zeros(len(polys), bool)
    idx, corners, lo, hi = _turn_range(polys, 5)
    out[idx] = (corners == 4) & ((lo > _SPIKE) | (hi < -_SPIKE))
    return out
