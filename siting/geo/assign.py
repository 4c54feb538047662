"""Which context feature gives each parking lot its category (SPEC section 6), on whole arrays.

- polygon lot: the context polygon it overlaps most (areas in a metric CRS); overlaps equal
  within 1 % go to the smaller context polygon (the more specific one);
- point lot (or any lot without area): the smallest context polygon containing it;
- otherwise: the nearest context feature within `max_distance` metres (ties: the smaller);
- otherwise: unassigned.

Fast paths: intersecting pairs come from one bulk STRtree query from the context side (each
context polygon prepared once); a lot touching a single context polygon takes it with no area
computed; overlap areas, only for lots meeting several polygons, come from `overlap.py`
(rectangle clip, then a numpy convex clip; GEOS overlays only for non-convex lots). Queries and
areas run in chunks on all cores (shapely releases the GIL).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from siting.geo.overlap import lot_shapes, overlap_areas
from siting.geo.parallel import chunked, run_chunks

OVERLAP, WITHIN, NEAREST = 1, 2, 3
METHOD_NAMES = {OVERLAP: "overlap", WITHIN: "within", NEAREST: "nearest"}
TIE = 0.99  # overlaps within 1 % of the largest are ties


@dataclass
class Assignment:
    context: np.ndarray  # int64 index into the context array, -1 when none
    method: np.ndarray  # int8: 0 none, OVERLAP, WITHIN, NEAREST
    overlap_m2: np.ndarray  # float, NaN unless OVERLAP
    distance_m: np.ndarray  # float, NaN unless NEAREST


def _query(
    tree: shapely.STRtree, geoms: np.ndarray, predicate: str | None = None, min_chunk=None
) -> tuple[np.ndarray, np.ndarray]:
    """tree.query in chunks on all cores; returns (input index, tree index) pairs."""

    def run(a, b):
        li, ci = tree.query(geoms[a:b], predicate=predicate)
        return li + a, ci

    parts = run_chunks(run, len(geoms), min_chunk)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _pick(
    lot: np.ndarray, cand: np.ndarray, score: np.ndarray, ctx_area: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per lot: the candidate with the highest score; scores within 1 % of it tie, and a tie
    goes to the smaller context feature, then the lower index. Returns (winner, best score)."""
    best = np.full(n, -np.inf)
    np.maximum.at(best, lot, score)
    eligible = score >= best[lot] * TIE
    eligible &= score > 0
    lot_e, cand_e = lot[eligible], cand[eligible]
    order = np.lexsort((cand_e, ctx_area[cand_e], lot_e))
    lot_s = lot_e[order]
    first = np.ones(len(order), bool)
    first[1:] = lot_s[1:] != lot_s[:-1]
    winner = np.full(n, -1, np.int64)
    winner[lot_s[first]] = cand_e[order][first]
    return winner, best


def _distances(lots, lot_box, context, li, ci, max_distance) -> np.ndarray:
    """Exact distances of (lot, candidate) pairs where they can matter, +inf elsewhere.
    The distance between two boxes is a lower bound of the distance between what they hold:
    per lot, the candidate with the closest box is measured first, and the others only when
    their box is no farther than that distance (and than max_distance)."""
    dist = np.full(len(li), np.inf)
    if not len(li):
        return dist
    cb = shapely.bounds(context[ci])
    lb = lot_box[li]
    gap_x = np.maximum(0.0, np.maximum(cb[:, 0] - lb[:, 2], lb[:, 0] - cb[:, 2]))
    gap_y = np.maximum(0.0, np.maximum(cb[:, 1] - lb[:, 3], lb[:, 1] - cb[:, 3]))
    low = np.hypot(gap_x, gap_y)
    order = np.lexsort((low, li))
    first = order[np.r_[True, li[order][1:] != li[order][:-1]]]
    first = first[low[first] <= max_distance]
    dist[first] = chunked(shapely.distance, lots[li[first]], context[ci[first]])
    bound = np.full(len(lot_box), max_distance)
    bound[li[first]] = np.minimum(dist[first], max_distance)
    more = np.flatnonzero((low <= bound[li]) & np.isinf(dist))
    more = np.setdiff1d(more, first, assume_unique=True)
    dist[more] = chunked(shapely.distance, lots[li[more]], context[ci[more]])
    return dist


def assign(
    lots: np.ndarray, context: np.ndarray, max_distance: float, lot_area: np.ndarray | None = None
) -> Assignment:
    """lot_area: the lots' areas when the caller has them already (0 for missing ones)."""
    n = len(lots)
    out = Assignment(
        np.full(n, -1, np.int64), np.zeros(n, np.int8), np.full(n, np.nan), np.full(n, np.nan)
    )
    if n == 0 or len(context) == 0:
        return out
    tree = shapely.STRtree(context)
    ctx_area = shapely.area(context)
    ctx_poly = ctx_area > 0
    present = ~shapely.is_missing(lots) & ~shapely.is_empty(lots)
    if lot_area is None:
        lot_area = shapely.area(lots)
    lot_area = np.where(present, lot_area, 0.0)
    polys = np.flatnonzero(present & (lot_area > 0))
    others = np.flatnonzero(present & (lot_area == 0))

    # --- polygons: largest overlap
    if len(polys):
        # Pairs that intersect, found from the context side: each context polygon is
        # prepared once and tested against the few lots near it (faster than testing every
        # lot against the full polygon).
        poly_ctx = np.flatnonzero(ctx_poly)
        ci, li = _query(shapely.STRtree(lots[polys]), context[poly_ctx], "intersects", 5_000)
        lot, ci = polys[li], poly_ctx[ci]
        n_cand = np.bincount(lot, minlength=n)
        # Areas only where a lot meets several polygons; a lot touching a single context
        # polygon takes it: no area is needed (NaN).
        multi = n_cand[lot] > 1
        single = ~multi
        out.context[lot[single]], out.method[lot[single]] = ci[single], OVERLAP
        pair_lot = lot[multi]
        shaped, pair_shape = np.unique(pair_lot, return_inverse=True)  # once per lot
        box, is_box, convex = lot_shapes(lots[shaped], lot_area[shaped])
        shapes = (box[pair_shape], is_box[pair_shape], convex[pair_shape])
        area = overlap_areas(lots[pair_lot], context[ci[multi]], shapes)
        winner, best = _pick(lot[multi], ci[multi], area, ctx_area, n)
        won = winner >= 0
        out.context[won], out.method[won] = winner[won], OVERLAP
        out.overlap_m2[won] = best[won]

    # --- points (and lines): smallest containing polygon
    if len(others):
        probe = lots[others]
        li, ci = _query(tree, probe, predicate="within")
        keep = ctx_poly[ci]
        li, ci = others[li[keep]], ci[keep]
        winner, _ = _pick(li, ci, 1.0 / np.maximum(ctx_area[ci], 1e-9), ctx_area, n)
        won = winner >= 0
        out.context[won], out.method[won] = winner[won], WITHIN

    # --- nearest within the distance: candidates from boxes grown by the distance, then
    # exact distances (several times faster than STRtree.query_nearest on detailed polygons)
    rest = np.flatnonzero(present & (out.method == 0))
    if len(rest) and max_distance > 0:
        b = shapely.bounds(lots[rest])
        grown = shapely.box(
            b[:, 0] - max_distance,
            b[:, 1] - max_distance,
            b[:, 2] + max_distance,
            b[:, 3] + max_distance,
        )
        li, ci = _query(tree, grown)
        dist = _distances(lots[rest], b, context, li, ci, max_distance)
        close = dist <= max_distance
        lot, ci, dist = rest[li[close]], ci[close], dist[close]
        d = np.full(n, np.inf)
        np.minimum.at(d, lot, dist)
        nearest = dist <= d[lot]  # only the (equally) nearest compete; then the smaller wins
        winner, _ = _pick(lot[nearest], ci[nearest], np.ones(int(nearest.sum())), ctx_area, n)
        won = winner >= 0
        out.context[won], out.method[won] = winner[won], NEAREST
        out.distance_m[won] = d[won]
    return out
