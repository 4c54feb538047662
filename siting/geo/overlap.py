"""Exact overlap areas of (lot, context polygon) pairs, on whole arrays.

A general GEOS overlay (`shapely.intersection`) costs tens of microseconds per pair whatever
the sizes, which dominates classification when hundreds of thousands of lots straddle two
context polygons. Parking lots are small and most are convex, so:

1. the context polygon is cut to the lot's bounding box (GEOS rectangle clipping, linear in
   its vertices and far cheaper than an overlay); for a lot that *is* its bounding box (an
   axis-aligned rectangle) the clipped area is the overlap, exactly;
2. for any other convex lot the clipped piece, now a handful of vertices, is clipped against
   each edge of the lot (Sutherland-Hodgman) for all pairs at once in numpy; the area of the
   result is the overlap, exactly (up to floating point), including for pieces with holes
   or several parts;
3. non-convex lots (and lots with holes) get the GEOS overlay.

All three give the same areas to within floating-point rounding (tests compare them).
"""

from __future__ import annotations

import numpy as np
import shapely

from siting.geo.convex import convex_polygons, next_in_ring, open_cycles, twice_signed_areas
from siting.geo.parallel import in_blocks, run_chunks

# shapely.clip_by_rect takes one box; the ufunc behind it (shapely 2.0 to 2.2 at least)
# takes a box per geometry. Without it, one box at a time.
_clip_one_by_one = np.frompyfunc(
    lambda g, x0, y0, x1, y1: shapely.clip_by_rect(g, x0, y0, x1, y1), 5, 1
)
try:
    from shapely.lib import clip_by_rect as _clip_ufunc
except ImportError:  # pragma: no cover - depends on the shapely release
    _clip_ufunc = _clip_one_by_one

# Per lot: its bounding box (n, 4), whether it is its box, whether it is convex.
LotShapes = tuple[np.ndarray, np.ndarray, np.ndarray]

MAX_CONVEX_EDGES = 32  # convex lots with more edges than this take the GEOS overlay
_REL = 1e-9  # relative tolerance for "the lot is its bounding box"


def clip_to_boxes(geoms: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Each geometry cut to its own box (xmin, ymin, xmax, ymax) - GEOS rectangle clipping,
    element-wise. shapely's public clip_by_rect takes one box only; its ufunc takes arrays."""

    def run(a: int, b: int) -> np.ndarray:
        bb = bounds[a:b]
        clipped: np.ndarray = _clip_ufunc(geoms[a:b], bb[:, 0], bb[:, 1], bb[:, 2], bb[:, 3])
        return clipped

    return np.concatenate(run_chunks(run, len(geoms)))


def _rings(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Polygon rings of each geometry as open vertex cycles: (x, y, ring id per vertex, and
    per ring [owning geometry, +1 exterior / -1 hole]). Lines and points are left out."""
    owner = np.arange(len(geoms))
    parts = geoms
    while True:  # flatten multi-parts and collections (nested ones too)
        kind = shapely.get_type_id(parts)
        multi = kind >= 4
        if not multi.any():
            break
        sub, idx = shapely.get_parts(parts[multi], return_index=True)
        parts = np.concatenate([parts[~multi], sub])
        owner = np.concatenate([owner[~multi], owner[multi][idx]])
    polys = shapely.get_type_id(parts) == 3
    parts, owner = parts[polys], owner[polys]
    # Polygons without holes: their coordinates are their one ring's (no ring objects made).
    plain = shapely.get_num_interior_rings(parts) == 0
    xy_plain, ring_plain = shapely.get_coordinates(parts[plain], return_index=True)
    # Polygons with holes: ring by ring.
    rings, ring_poly = shapely.get_rings(parts[~plain], return_index=True)
    exterior = np.ones(len(rings), bool)
    exterior[1:] = ring_poly[1:] != ring_poly[:-1]
    xy_holed, ring_holed = shapely.get_coordinates(rings, return_index=True)
    n_plain = int(plain.sum())
    xy = np.concatenate([xy_plain, xy_holed])
    ring_of = np.concatenate([ring_plain, ring_holed + n_plain])
    meta = np.concatenate(
        [
            np.column_stack([owner[plain], np.ones(n_plain, np.int64)]),
            np.column_stack([owner[~plain][ring_poly], np.where(exterior, 1, -1)]),
        ]
    ).astype(np.int64)
    xy, ring_of = open_cycles(xy, ring_of)
    return xy[:, 0].copy(), xy[:, 1].copy(), ring_of, meta


def _clip_half_plane(
    x: np.ndarray, y: np.ndarray, ring: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sutherland-Hodgman step for every ring at once: keep the part of each ring where
    a*x + b*y <= c (a, b, c per ring). Returns the new (x, y, ring)."""
    nxt = next_in_ring(ring)
    d = a[ring] * x + b[ring] * y - c[ring]
    inside = d <= 0
    in_next = inside[nxt]
    cross = inside != in_next
    count = cross.astype(np.int64) + in_next
    edge = np.repeat(np.arange(len(x)), count)
    first = np.ones(len(edge), bool)
    first[1:] = edge[1:] != edge[:-1]
    is_cross = first & cross[edge]
    j = nxt[edge]
    ox, oy = x[j].copy(), y[j].copy()
    e = edge[is_cross]
    t = d[e] / (d[e] - d[nxt[e]])
    ox[is_cross] = x[e] + t * (x[nxt[e]] - x[e])
    oy[is_cross] = y[e] + t * (y[nxt[e]] - y[e])
    return ox, oy, ring[edge]


def _convex_clip_areas(pieces: np.ndarray, hulls: np.ndarray) -> np.ndarray:
    """Area of pieces[i] ∩ hulls[i] where every hull is a convex polygon (no holes)."""
    area = np.zeros(len(pieces))
    x, y, ring, meta = _rings(pieces)
    if not len(x):
        return area
    hx, hull_of = shapely.get_coordinates(hulls, return_index=True)  # no holes: the ring
    counts = np.bincount(hull_of, minlength=len(hulls))  # closed rings: edges = vertices - 1
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    open_xy, open_of = open_cycles(hx, hull_of)
    cw = twice_signed_areas(open_xy[:, 0], open_xy[:, 1], open_of, len(hulls)) < 0
    owner = meta[:, 0]
    for k in range(int(counts.max()) - 1):
        has = counts > k + 1
        p = np.where(has, starts + k, 0)
        q = np.where(has, starts + k + 1, 0)
        px, py, qx, qy = hx[p, 0], hx[p, 1], hx[q, 0], hx[q, 1]
        px, qx = np.where(cw, qx, px), np.where(cw, px, qx)
        py, qy = np.where(cw, qy, py), np.where(cw, py, qy)
        a = np.where(has, qy - py, 0.0)
        b = np.where(has, px - qx, 0.0)
        c = a * px + b * py
        x, y, ring = _clip_half_plane(x, y, ring, a[owner], b[owner], c[owner])
        if not len(x):
            return area
    per_ring = np.abs(twice_signed_areas(x, y, ring, len(meta))) / 2 * meta[:, 1]
    np.add.at(area, owner, per_ring)
    return np.maximum(area, 0.0)


def lot_shapes(lots: np.ndarray, area: np.ndarray | None = None) -> LotShapes:
    """Per lot: (bounding box, is it its box, is it convex) - what overlap_areas needs to
    know of a lot, worked out once per lot when a lot has several pairs."""
    box = shapely.bounds(lots)
    area = shapely.area(lots) if area is None else area
    box_area = (box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1])
    is_box = np.abs(box_area - area) <= _REL * box_area
    convex = is_box.copy()
    rest = np.flatnonzero(~is_box)
    convex[rest] = convex_polygons(lots[rest], MAX_CONVEX_EDGES)
    return box, is_box, convex


def overlap_areas(
    lots: np.ndarray, context: np.ndarray, shapes: LotShapes | None = None
) -> np.ndarray:
    """Area of lots[i] ∩ context[i] for every i (polygons in a metric CRS). `shapes`:
    lot_shapes() of the lots, per pair, when the caller has them."""
    n = len(lots)
    area = np.zeros(n)
    if n == 0:
        return area
    box, is_box, lot_convex = lot_shapes(lots) if shapes is None else shapes
    pieces = clip_to_boxes(context, box)
    area[is_box] = shapely.area(pieces[is_box])
    rest = np.flatnonzero(~is_box)
    if not len(rest):
        return area
    convex = lot_convex[rest]
    idx = rest[convex]
    if len(idx):

        def clip(a: int, b: int) -> np.ndarray:
            return _convex_clip_areas(pieces[idx[a:b]], lots[idx[a:b]])

        def run(a: int, b: int) -> np.ndarray:
            return in_blocks(clip, a, b)

        area[idx] = np.concatenate(run_chunks(run, len(idx)))
    other = rest[~convex]
    if len(other):
        area[other] = np.concatenate(
            run_chunks(
                lambda a, b: shapely.area(
                    shapely.intersection(lots[other[a:b]], pieces[other[a:b]])
                ),
                len(other),
            )
        )
    return area
