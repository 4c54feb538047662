"""Tests that pin each decision of siting/geo/assign.py (issue 9): which context feature gives
a parking lot its category, how ties, broad zones, points and distances are decided, and which
other candidates are returned. Written against the survivors of a mutation run
(tools/mutation.py, docs/testing.md)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely.geometry import Point, Polygon, box

from siting.geo.assign import NEAREST, OVERLAP, WITHIN, assign


def arr(*geoms) -> np.ndarray:
    out = np.empty(len(geoms), dtype=object)
    out[:] = list(geoms)
    return out


def alts(a) -> list[tuple[int, int, bool]]:
    return list(zip(a.alt_lot.tolist(), a.alt_ctx.tolist(), a.alt_tie.tolist(), strict=True))


def rhombus(cx: float, cy: float, rx: float, ry: float) -> Polygon:
    """A lot that is not its bounding box: its box corners lie outside a slightly larger
    rhombus of the same shape, its own vertices inside."""
    return Polygon([(cx + rx, cy), (cx, cy + ry), (cx - rx, cy), (cx, cy - ry)])


# ----------------------------------------------------------------------------- nothing found


def test_a_lot_that_finds_nothing_is_unassigned_and_alternatives_are_index_arrays():
    lot = box(0, 0, 10, 10)
    for context in (arr(), arr(box(100, 100, 110, 110))):  # no context at all / none near
        a = assign(arr(lot, Point(5, 5)), context, 10.0)
        assert a.context.tolist() == [-1, -1] and a.method.tolist() == [0, 0]
        assert np.isnan(a.overlap_m2).all() and np.isnan(a.distance_m).all()
        assert np.isnan(a.coverage).all()
        # the alternatives index the lots and context features: empty, usable as indexes
        assert alts(a) == []
        assert np.arange(2)[a.alt_lot].tolist() == [] and a.alt_ctx[a.alt_tie].tolist() == []
    a = assign(arr(), arr(box(0, 0, 1, 1)), 10.0)
    assert a.context.tolist() == [] and alts(a) == []


# ----------------------------------------------------------------------------- single polygons


def test_a_box_lot_with_one_corner_inside_its_only_polygon_takes_it_unmeasured():
    # 1 m2 of the lot lies in the polygon, one corner inside: taken, coverage not known
    a = assign(arr(box(0, 0, 10, 10)), arr(box(9, 9, 50, 50)), 0.0)
    assert a.method.tolist() == [OVERLAP] and a.context.tolist() == [0]
    assert np.isnan(a.coverage[0]) and np.isnan(a.overlap_m2[0])


def test_a_turned_lot_is_tested_on_its_own_vertices_wherever_it_lies():
    # far from the origin, with negative coordinates and a box wider than tall: the lot's
    # box is twice its area, so its own vertices are tested, all inside: coverage 1, no area
    for cx, cy in ((-1050.0, -1980.0), (1050.0, 1980.0), (-1050.0, 1980.0), (1050.0, -1980.0)):
        lot = rhombus(cx, cy, 50, 20)
        a = assign(arr(lot), arr(rhombus(cx, cy, 55, 22)), 0.0)
        assert a.method.tolist() == [OVERLAP]
        assert a.coverage.tolist() == [1.0] and np.isnan(a.overlap_m2[0])


def test_turned_lots_with_all_some_and_none_of_their_vertices_inside():
    inside = rhombus(0, 0, 50, 20)  # all four vertices in the larger rhombus
    poking = rhombus(2000, 0, 50, 20)  # only its top vertex is in the small square
    crossed = rhombus(1000, 0, 50, 20)  # a bar crosses its middle: no vertex inside
    context = arr(
        rhombus(0, 0, 55, 22),
        box(1997, 15, 2003, 40),
        box(995, -10, 1005, 10),
    )
    a = assign(arr(inside, poking, crossed), context, 0.0)
    assert a.method.tolist() == [OVERLAP, OVERLAP, OVERLAP]
    assert a.context.tolist() == [0, 1, 2]
    assert a.coverage[0] == 1.0 and np.isnan(a.overlap_m2[0])
    # some vertices inside (one): taken without an area, coverage not known
    assert np.isnan(a.coverage[1]) and np.isnan(a.overlap_m2[1])
    # no vertex inside: the overlap is measured (the 10 x 20 m bar lies inside the lot)
    assert a.overlap_m2[2] == 200.0 and a.coverage[2] == 0.1


def test_only_what_a_lot_really_meets_counts_not_what_its_box_meets():
    # the lot lies inside A; B is a thin L whose bounding box covers the lot but which is
    # far from it: the lot meets A alone, so it is taken without measuring an area
    a_poly = box(200, 0, 300, 100)
    l_shape = Polygon([(150, -50), (350, -50), (350, -40), (160, -40), (160, 150), (150, 150)])
    # a point inside the L's box, 40 m from the L itself, in nothing
    a = assign(arr(box(210, 10, 220, 20), Point(250, 120)), arr(a_poly, l_shape), 10.0)
    assert a.method.tolist() == [OVERLAP, 0] and a.context.tolist() == [0, -1]
    assert a.coverage[0] == 1.0 and np.isnan(a.overlap_m2[0])
    assert alts(a) == []
    # with room enough, the point finds the L by distance
    a = assign(arr(Point(250, 120)), arr(a_poly, l_shape), 100.0)
    assert a.method.tolist() == [NEAREST] and a.distance_m.tolist() == [20.0]


def test_point_features_are_no_polygons_for_lots():
    # a POI point inside the lot does not make the lot meet two features
    lot = box(10, 10, 20, 20)
    a = assign(arr(lot), arr(box(0, 0, 100, 100), Point(15, 15)), 0.0)
    assert a.method.tolist() == [OVERLAP] and a.context.tolist() == [0]
    assert a.coverage[0] == 1.0 and np.isnan(a.overlap_m2[0])
    # a point lot on a POI is not "within" it: the POI is the nearest feature, 0 m away
    a = assign(arr(Point(500, 500)), arr(box(0, 0, 100, 100), Point(500, 500)), 10.0)
    assert a.method.tolist() == [NEAREST] and a.context.tolist() == [1]
    assert a.distance_m.tolist() == [0.0]


def test_small_polygons_and_small_lots_are_polygons_all_the_same():
    # a kiosk of 0.25 m2 inside a shed of 0.64 m2: a point in both is in the smaller, and
    # the shed is no tie (1/0.64 is not within 1 % of 1/0.25)
    kiosk, shed = box(0, 0, 0.5, 0.5), box(-0.1, -0.1, 0.7, 0.7)
    a = assign(arr(Point(0.25, 0.25)), arr(shed, kiosk), 10.0)
    assert a.method.tolist() == [WITHIN] and a.context.tolist() == [1]
    assert alts(a) == []
    # a lot of 0.25 m2 astride two polygons: the one it overlaps more (0.15 vs 0.1 m2)
    a = assign(arr(box(0, 0, 0.5, 0.5)), arr(box(-1, -1, 0.2, 1), box(0.2, -1, 2, 1)), 10.0)
    assert a.method.tolist() == [OVERLAP] and a.context.tolist() == [1]
    assert a.overlap_m2[0] == pytest.approx(0.15) and a.coverage[0] == pytest.approx(0.6)


def test_broad_zone_flags_may_be_numbers():
    # flags read from a layer as 0 / 1: the specific polygon wins, the zone is no candidate
    lot = box(10, 10, 20, 20)
    context = arr(box(0, 0, 50, 50), box(-100, -100, 100, 100))
    for broad in (np.array([0, 1]), [False, True], np.array([0.0, 1.0])):
        a = assign(arr(lot), context, 0.0, broad=broad)
        assert a.context.tolist() == [0] and a.method.tolist() == [OVERLAP]
        assert a.overlap_m2.tolist() == [100.0] and alts(a) == []
    # not broad: the smaller polygon wins the tie of equal overlaps, the zone is the tie
    a = assign(arr(lot), context, 0.0)
    assert a.context.tolist() == [0] and alts(a) == [(0, 1, True)]


def test_where_a_broad_zone_wins_the_specific_polygons_met_are_runners_up():
    lot = box(0, 0, 10, 10)
    zone = box(-100, -100, 100, 100)
    touching = box(10, 0, 20, 10)  # along the lot's edge: no overlap
    sliver = box(-1, 9.5, 1, 11)  # 0.5 m2 of the lot
    a = assign(arr(lot), arr(zone, touching, sliver), 0.0, broad=[True, False, False])
    assert a.context.tolist() == [0] and a.method.tolist() == [OVERLAP]
    assert a.overlap_m2.tolist() == [100.0]
    assert alts(a) == [(0, 2, False)]  # a runner-up, not a tie; the touching one is none


def test_a_point_in_a_broad_zone_alone_is_within_it():
    zone, hospital = box(0, 0, 100, 100), box(200, 0, 210, 10)
    a = assign(arr(Point(50, 50), Point(205, 5)), arr(zone, hospital), 10.0, broad=[True, False])
    assert a.method.tolist() == [WITHIN, WITHIN] and a.context.tolist() == [0, 1]


def test_a_feature_inside_the_grown_box_but_beyond_the_distance_is_not_near():
    # the POI is 25 m east and 25 m north of the lot's corner: 35.4 m away, more than 30
    a = assign(arr(box(0, 0, 10, 10)), arr(Point(35, 35)), 30.0)
    assert a.method.tolist() == [0] and a.context.tolist() == [-1]
    assert np.isnan(a.distance_m[0])
    a = assign(arr(box(0, 0, 10, 10)), arr(Point(35, 35)), 36.0)
    assert a.method.tolist() == [NEAREST] and a.distance_m[0] == pytest.approx(25 * 2**0.5)


def test_ten_thousand_context_polygons_are_searched_in_chunks_and_found():
    # 100 x 100 squares of 10 m, 20 m apart: the bulk query runs in several chunks
    x, y = np.meshgrid(np.arange(100) * 20.0, np.arange(100) * 20.0)
    x, y = x.ravel(), y.ravel()
    context = shapely.box(x, y, x + 10, y + 10)
    picks = [0, 2600, 5100, 7777, 9999]
    lots = shapely.box(x[picks] + 2, y[picks] + 2, x[picks] + 8, y[picks] + 8)
    a = assign(lots, context, 0.0)
    assert a.context.tolist() == picks
    assert a.method.tolist() == [OVERLAP] * 5 and a.coverage.tolist() == [1.0] * 5
