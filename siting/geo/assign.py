"""Which context feature gives each parking lot its category (SPEC section 6), on whole arrays.

- polygon lot: the context polygon it overlaps most (areas in a metric CRS); overlaps equal
  within 1 % go to the smaller context polygon (the more specific one); a lot touching
  polygons only along their edges (no overlap) is not in any of them;
- point lot (or any lot without area): the smallest context polygon containing it;
- otherwise: the nearest context feature within `max_distance` metres (ties: the smaller;
  `max_distance` 0: none);
- otherwise: unassigned.

Broad zones (`broad`, e.g. landuse=commercial) are credited only with the part of a polygon
lot that the best specific polygon leaves uncovered (at most the lot's area minus that
polygon's overlap): a lot inside a hospital inside a commercial zone is the hospital's, a lot
half in a hospital and half in the zone is a tie. A point lot inside a specific polygon takes
it over any broad zone.

Besides the winner, the other candidates that could have been it are returned as pairs:
overlaps and containing polygons tied with the winner (within 1 %), equally near features,
and, where a broad zone won, the specific polygons the lot also overlaps. The caller decides
what they mean (siting/geo/pipeline.py: confidence, alternatives).

Fast paths: intersecting pairs come from one bulk STRtree query from the context side (each
context polygon prepared once); a lot touching a single context polygon with some of its
vertices inside it takes it with no area computed (coverage 1 when all are inside, else not
known); overlap areas, for lots meeting several polygons or with no vertex inside their only
one, come from `overlap.py` (rectangle clip, then a numpy convex clip; GEOS
overlays only for non-convex lots). Queries and areas run in chunks on all cores (shapely
releases the GIL).
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
HALF = 0.5  # a polygon covering at least half of a lot "mostly" covers it (confidence high)


@dataclass
class Assignment:
    context: np.ndarray  # int64 index into the context array, -1 when none
    method: np.ndarray  # int8: 0 none, OVERLAP, WITHIN, NEAREST
    overlap_m2: np.ndarray  # float, NaN unless OVERLAP (and measured)
    distance_m: np.ndarray  # float, NaN unless NEAREST
    coverage: np.ndarray  # float: share of the lot the winner covers (OVERLAP; NaN: not known)
    alt_lot: np.ndarray  # int64: other candidates that could have been the winner: lot ...
    alt_ctx: np.ndarray  # int64: ... and context index
    alt_tie: np.ndarray  # bool: the pair ties with the winner (not merely a runner-up)


def _query(
    tree: shapely.STRtree,
    geoms: np.ndarray,
    predicate: str | None = None,
    min_chunk: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """tree.query in chunks on all cores; returns (input index, tree index) pairs."""

    def run(a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        li, ci = tree.query(geoms[a:b], predicate=predicate)
        return li + a, ci

    parts = run_chunks(run, len(geoms), min_chunk)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _pick(
    lot: np.ndarray, cand: np.ndarray, score: np.ndarray, ctx_area: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per lot: the candidate with the highest score; scores within 1 % of it tie, and a tie
    goes to the smaller context feature, then the lower index. Returns (winner, best score,
    per pair: it tied with the winner but lost)."""
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
    tied = eligible & (cand != winner[lot])
    return winner, best, tied


def _distances(
    lots: np.ndarray,
    lot_box: np.ndarray,
    context: np.ndarray,
    li: np.ndarray,
    ci: np.ndarray,
    max_distance: float,
) -> np.ndarray:
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


ALL_IN, SOME_IN, NONE_IN = 2, 1, 0


def _inside(lots: np.ndarray, area: np.ndarray, context: np.ndarray, ci: np.ndarray) -> np.ndarray:
    """Per (lot, context[ci]) pair, without measuring an area: ALL_IN when the lot's vertices
    all lie inside the polygon, SOME_IN when some do (then they certainly overlap), NONE_IN
    otherwise (a point on the polygon's boundary is not inside). The corners of the lot's
    bounding box are tested first (no coordinates extracted; for a lot that is its box they
    are its vertices); a lot that is not its box (turned, irregular) and not plainly inside
    is tested on its own vertices. A notch of the polygon between two vertices is not looked
    for. The polygons used are prepared (once: it stays with them)."""
    if not len(lots):
        return np.zeros(0, np.int8)
    shapely.prepare(context[np.unique(ci)])
    b = shapely.bounds(lots)
    x = b[:, [0, 2, 2, 0]].ravel()
    y = b[:, [1, 1, 3, 3]].ravel()
    hit = chunked(shapely.contains_xy, np.repeat(context[ci], 4), x, y).reshape(-1, 4)
    n_in = hit.sum(axis=1)
    state = np.where(n_in == 4, ALL_IN, np.where(n_in > 0, SOME_IN, NONE_IN)).astype(np.int8)
    box_area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    again = np.flatnonzero((state != ALL_IN) & (area < box_area * (1 - 1e-9)))
    if len(again):
        xy, of = shapely.get_coordinates(lots[again], return_index=True)
        hit = chunked(shapely.contains_xy, context[ci[again][of]], xy[:, 0], xy[:, 1])
        n_in = np.bincount(of[hit], minlength=len(again))
        n_pts = np.bincount(of, minlength=len(again))
        state[again] = np.where(n_in == n_pts, ALL_IN, np.where(n_in > 0, SOME_IN, NONE_IN))
    return state


def assign(
    lots: np.ndarray,
    context: np.ndarray,
    max_distance: float,
    lot_area: np.ndarray | None = None,
    broad: np.ndarray | None = None,
) -> Assignment:
    """lot_area: the lots' areas when the caller has them already (0 for missing ones).
    broad: per context feature, it is a broad zone (credited only with the part of a lot the
    best specific polygon leaves; a point inside a specific polygon ignores it)."""
    n = len(lots)
    none = np.array([], np.int64)
    out = Assignment(
        np.full(n, -1, np.int64),
        np.zeros(n, np.int8),
        np.full(n, np.nan),
        np.full(n, np.nan),
        np.full(n, np.nan),
        none,
        none,
        np.array([], bool),
    )
    if n == 0 or len(context) == 0:
        return out
    broad = np.zeros(len(context), bool) if broad is None else np.asarray(broad, bool)
    alts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
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
        # A lot touching a single context polygon takes it without an area when its
        # vertices lie inside it (coverage 1) or some do (part of it outside: coverage not
        # measured, NaN); areas where a lot meets several polygons, or has no vertex inside
        # its only one (it may merely touch it: no overlap, no assignment).
        single = n_cand[lot] == 1
        s_lot, s_ci = lot[single], ci[single]
        state = _inside(lots[s_lot], lot_area[s_lot], context, s_ci)
        take = state != NONE_IN
        out.context[s_lot[take]], out.method[s_lot[take]] = s_ci[take], OVERLAP
        out.coverage[s_lot[state == ALL_IN]] = 1.0
        measure = ~single
        measure[np.flatnonzero(single)[~take]] = True
        pair_lot, pair_ci = lot[measure], ci[measure]
        shaped, pair_shape = np.unique(pair_lot, return_inverse=True)  # once per lot
        box, is_box, convex = lot_shapes(lots[shaped], lot_area[shaped])
        shapes = (box[pair_shape], is_box[pair_shape], convex[pair_shape])
        area = overlap_areas(lots[pair_lot], context[pair_ci], shapes)
        # A broad zone is credited only with the part of the lot the best specific polygon
        # leaves uncovered (at most lot - that overlap): a lot inside a hospital inside a
        # commercial zone is the hospital's; a lot half in each is a tie.
        specific_best = np.zeros(n)
        wide = broad[pair_ci]
        np.maximum.at(specific_best, pair_lot[~wide], area[~wide])
        score = area.copy()
        score[wide] = np.minimum(
            area[wide], lot_area[pair_lot[wide]] - specific_best[pair_lot[wide]]
        )
        winner, _, tied = _pick(pair_lot, pair_ci, score, ctx_area, n)
        won = winner >= 0
        is_winner = pair_ci == winner[pair_lot]
        actual = np.zeros(n)
        actual[pair_lot[is_winner]] = area[is_winner]
        out.context[won], out.method[won] = winner[won], OVERLAP
        out.overlap_m2[won] = actual[won]
        out.coverage[won] = actual[won] / lot_area[won]
        # runners-up: the ties, and where a broad zone won, the specific polygons met
        broad_won = np.zeros(n, bool)
        broad_won[won] = broad[winner[won]]
        runner = tied | (broad_won[pair_lot] & ~wide & (area > 0))
        alts.append((pair_lot[runner], pair_ci[runner], tied[runner]))

    # --- points (and lines): smallest containing polygon; specific ones before broad zones
    if len(others):
        probe = lots[others]
        li, ci = _query(tree, probe, predicate="within")
        keep = ctx_poly[ci]
        li, ci = others[li[keep]], ci[keep]
        has_specific = np.zeros(n, bool)
        has_specific[li[~broad[ci]]] = True
        keep = ~(broad[ci] & has_specific[li])
        li, ci = li[keep], ci[keep]
        winner, _, tied = _pick(li, ci, 1.0 / np.maximum(ctx_area[ci], 1e-9), ctx_area, n)
        won = winner >= 0
        out.context[won], out.method[won] = winner[won], WITHIN
        alts.append((li[tied], ci[tied], np.ones(int(tied.sum()), bool)))

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
        lot, ci = lot[nearest], ci[nearest]
        winner, _, tied = _pick(lot, ci, np.ones(len(lot)), ctx_area, n)
        won = winner >= 0
        out.context[won], out.method[won] = winner[won], NEAREST
        out.distance_m[won] = d[won]
        alts.append((lot[tied], ci[tied], np.ones(int(tied.sum()), bool)))
    if alts:
        out.alt_lot = np.concatenate([a[0] for a in alts]).astype(np.int64)
        out.alt_ctx = np.concatenate([a[1] for a in alts]).astype(np.int64)
        out.alt_tie = np.concatenate([a[2] for a in alts]).astype(bool)
    return out
