"""Which context feature gives each parking lot its category (SPEC section 6), on whole arrays.

- polygon lot: the context polygon it overlaps most (areas in a metric CRS); overlaps equal
  within 1 % go to the smaller context polygon (the more specific one);
- point lot (or any lot without area): the smallest context polygon containing it;
- otherwise: the nearest context feature within `max_distance` metres (ties: the smaller);
- otherwise: unassigned.

Fast path: a lot with a single candidate that lies within it needs no intersection; exact
intersections are computed only for lots with several candidates, in chunks on all cores
(shapely releases the GIL).
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import shapely

OVERLAP, WITHIN, NEAREST = 1, 2, 3
METHOD_NAMES = {OVERLAP: "overlap", WITHIN: "within", NEAREST: "nearest"}
TIE = 0.99  # overlaps within 1 % of the largest are ties


@dataclass
class Assignment:
    context: np.ndarray  # int64 index into the context array, -1 when none
    method: np.ndarray  # int8: 0 none, OVERLAP, WITHIN, NEAREST
    overlap_m2: np.ndarray  # float, NaN unless OVERLAP
    distance_m: np.ndarray  # float, NaN unless NEAREST


def _threads() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def _chunked(fn, *arrays, min_chunk: int = 20_000) -> np.ndarray:
    n = len(arrays[0])
    workers = _threads()
    if n < 2 * min_chunk or workers == 1:
        return fn(*arrays)
    bounds = np.linspace(0, n, workers * 2 + 1).astype(int)
    with ThreadPoolExecutor(workers) as pool:
        parts = pool.map(
            lambda ab: fn(*(a[ab[0] : ab[1]] for a in arrays)),
            itertools.pairwise(bounds),
        )
        return np.concatenate(list(parts))


def _intersection_area(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return shapely.area(shapely.intersection(a, b))


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


def assign(lots: np.ndarray, context: np.ndarray, max_distance: float) -> Assignment:
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
    lot_area = np.where(present, shapely.area(lots), 0.0)
    polys = np.flatnonzero(present & (lot_area > 0))
    others = np.flatnonzero(present & (lot_area == 0))

    # --- polygons: largest overlap
    if len(polys):
        li, ci = tree.query(lots[polys], predicate="intersects")
        keep = ctx_poly[ci]
        li, ci = li[keep], ci[keep]
        lot = polys[li]
        n_cand = np.bincount(lot, minlength=n)
        single = n_cand[lot] == 1
        area = np.full(len(lot), np.nan)
        # a lot inside its only candidate: overlap = its own area, no intersection needed
        if single.any():
            inside = _chunked(
                lambda a, b: shapely.within(a, b), lots[lot[single]], context[ci[single]]
            )
            idx = np.flatnonzero(single)
            area[idx[inside]] = lot_area[lot[idx[inside]]]
        todo = np.isnan(area)
        if todo.any():
            area[todo] = _chunked(_intersection_area, lots[lot[todo]], context[ci[todo]])
        winner, best = _pick(lot, ci, area, ctx_area, n)
        won = winner >= 0
        out.context[won], out.method[won] = winner[won], OVERLAP
        out.overlap_m2[won] = best[won]

    # --- points (and lines): smallest containing polygon
    if len(others):
        probe = lots[others]
        li, ci = tree.query(probe, predicate="within")
        keep = ctx_poly[ci]
        li, ci = others[li[keep]], ci[keep]
        winner, _ = _pick(li, ci, 1.0 / np.maximum(ctx_area[ci], 1e-9), ctx_area, n)
        won = winner >= 0
        out.context[won], out.method[won] = winner[won], WITHIN

    # --- nearest within the distance
    rest = np.flatnonzero(present & (out.method == 0))
    if len(rest) and max_distance > 0:
        (li, ci), dist = tree.query_nearest(
            lots[rest], max_distance=max_distance, return_distance=True, all_matches=True
        )
        lot = rest[li]
        winner, _ = _pick(lot, ci, 1.0 / (1.0 + dist), ctx_area, n)
        won = winner >= 0
        out.context[won], out.method[won] = winner[won], NEAREST
        d = np.full(n, np.inf)
        np.minimum.at(d, lot, dist)
        out.distance_m[won] = d[won]
    return out
