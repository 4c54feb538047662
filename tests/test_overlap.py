"""Overlap areas by rectangle clip / numpy convex clip must equal GEOS overlays."""

import numpy as np
import pytest
import shapely
from shapely import affinity

from siting.geo import parallel
from siting.geo.overlap import overlap_areas


def _contexts(rng, n):
    cx, cy = rng.uniform(0, 1000, n), rng.uniform(0, 1000, n)
    ctx = shapely.buffer(shapely.points(cx, cy), rng.uniform(20, 60, n), quad_segs=8)
    holes = shapely.buffer(shapely.points(cx, cy), rng.uniform(5, 15, n))
    ctx[::3] = shapely.difference(ctx[::3], holes[::3])  # polygons with holes
    far = shapely.box(cx + 70, cy, cx + 90, cy + 20)
    ctx[1::5] = shapely.union(ctx[1::5], far[1::5])  # multipolygons
    return ctx, cx, cy


def _lots(rng, cx, cy, kind):
    n = len(cx)
    x, y = cx + rng.uniform(-60, 60, n), cy + rng.uniform(-60, 60, n)
    w, h = rng.uniform(5, 40, n), rng.uniform(5, 40, n)
    boxes = shapely.box(x, y, x + w, y + h)
    if kind == "box":
        return boxes
    if kind == "rotated":  # corners turned about (x, y) by a random angle
        a = rng.uniform(0, np.pi, n)
        dx = np.stack([np.zeros(n), w, w, np.zeros(n), np.zeros(n)], 1)
        dy = np.stack([np.zeros(n), np.zeros(n), h, h, np.zeros(n)], 1)
        cos, sin = np.cos(a)[:, None], np.sin(a)[:, None]
        ring = np.stack([x[:, None] + dx * cos - dy * sin, y[:, None] + dx * sin + dy * cos], 2)
        return shapely.polygons(ring)
    if kind == "triangle":
        ring = np.stack([[x, y], [x + w, y], [x, y + h], [x, y]]).transpose(2, 0, 1)
        return shapely.polygons(ring)
    if kind == "clockwise hexagon":
        hexagons = shapely.buffer(shapely.points(x, y), w / 2, quad_segs=2)
        return shapely.reverse(hexagons)
    if kind == "L-shape":  # not convex: takes the GEOS overlay
        return shapely.difference(boxes, shapely.box(x + w / 2, y + h / 2, x + w, y + h))
    if kind == "with hole":
        return shapely.difference(boxes, shapely.box(x + w / 3, y + h / 3, x + w / 2, y + h / 2))
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind", ["box", "rotated", "triangle", "clockwise hexagon", "L-shape", "with hole"]
)
def test_overlap_areas_equal_geos(kind):
    rng = np.random.default_rng(abs(hash(kind)) % 2**32)
    ctx, cx, cy = _contexts(rng, 3000)
    lots = _lots(rng, cx, cy, kind)
    want = shapely.area(shapely.intersection(lots, ctx))
    got = overlap_areas(lots, ctx)
    assert (want > 0).sum() > 1000  # the sample really overlaps
    assert (want == 0).sum() > 100  # and really misses sometimes
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-6)


def test_many_pairs_run_in_chunks_and_keep_their_order(monkeypatch):
    monkeypatch.setattr(parallel, "MIN_CHUNK", 300)
    rng = np.random.default_rng(3)
    ctx, cx, cy = _contexts(rng, 3000)
    lots = _lots(rng, cx, cy, "rotated")
    want = shapely.area(shapely.intersection(lots, ctx))
    np.testing.assert_allclose(overlap_areas(lots, ctx), want, rtol=1e-9, atol=1e-6)


def test_no_pairs_and_disjoint_pairs():
    assert overlap_areas(np.array([], dtype=object), np.array([], dtype=object)).shape == (0,)
    lots = np.array([shapely.box(0, 0, 1, 1), affinity.rotate(shapely.box(0, 0, 2, 1), 30)])
    ctx = np.array([shapely.box(5, 5, 6, 6), shapely.box(50, 50, 60, 60)])
    assert overlap_areas(lots, ctx).tolist() == [0.0, 0.0]


def test_box_clipping_without_shapely_s_ufunc(monkeypatch):
    """The fallback for a shapely without the element-wise clip gives the same areas."""
    from siting.geo import overlap

    rng = np.random.default_rng(5)
    ctx, cx, cy = _contexts(rng, 300)
    lots = _lots(rng, cx, cy, "rotated")
    fast = overlap_areas(lots, ctx)
    monkeypatch.setattr(overlap, "_clip_ufunc", overlap._clip_one_by_one)
    np.testing.assert_allclose(overlap_areas(lots, ctx), fast, rtol=1e-12, atol=1e-9)


def test_lot_shapes_worked_out_once_per_lot_give_the_same_areas():
    """assign() passes each lot's box, box-ness and convexity once per lot, spread over its
    pairs; the areas must be those of the per-pair route and of GEOS."""
    from siting.geo.overlap import lot_shapes

    rng = np.random.default_rng(7)
    ctx, cx, cy = _contexts(rng, 600)
    lots = np.concatenate([_lots(rng, cx, cy, k) for k in ("box", "rotated", "L-shape")])
    pair_lot = rng.integers(0, len(lots), 4000)  # lots in several pairs each
    near = pair_lot % len(ctx)  # lot i of each kind was placed near context polygon i
    pair_ctx = ctx[np.where(rng.random(4000) < 0.8, near, rng.integers(0, len(ctx), 4000))]
    shaped, spread = np.unique(pair_lot, return_inverse=True)
    box, is_box, convex = lot_shapes(lots[shaped])
    got = overlap_areas(lots[pair_lot], pair_ctx, (box[spread], is_box[spread], convex[spread]))
    np.testing.assert_allclose(got, overlap_areas(lots[pair_lot], pair_ctx), rtol=1e-12)
    want = shapely.area(shapely.intersection(lots[pair_lot], pair_ctx))
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-6)
    assert (want > 0).sum() > 1000 and (want == 0).sum() > 100
    assert is_box.any() and (convex & ~is_box).any() and (~convex).any()  # all three routes
