"""Convex and plainly-valid polygons recognised from coordinates agree with GEOS."""

import numpy as np
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from siting.geo.convex import (
    convex_polygons,
    plainly_valid_quadrilaterals,
    plainly_valid_quadrilaterals_wkb,
)

coord = st.integers(-5, 5).map(float)  # a small grid: collinear, repeated and spiky corners
corner = st.tuples(coord, coord)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(corner, min_size=4, max_size=4), min_size=1, max_size=40))
def test_plainly_valid_quadrilaterals_are_valid(quads):
    polys = shapely.polygons([[*q, q[0]] for q in quads])
    plain = plainly_valid_quadrilaterals(polys)
    assert shapely.is_valid(polys[plain]).all()
    # and it is not vacuous: strictly convex quadrilaterals are recognised
    convex = shapely.is_valid(polys) & np.isclose(
        shapely.area(polys), shapely.area(shapely.convex_hull(polys))
    )

    def sharp(q):  # four corners, none on a line with its neighbours (exact on the grid)
        turns = [
            (q[(k + 1) % 4][0] - q[k][0]) * (q[(k + 2) % 4][1] - q[(k + 1) % 4][1])
            - (q[(k + 1) % 4][1] - q[k][1]) * (q[(k + 2) % 4][0] - q[(k + 1) % 4][0])
            for k in range(4)
        ]
        return all(t != 0 for t in turns)

    sharp_corners = np.array([sharp(q) for q in quads])
    assert plain[convex & sharp_corners].all()


def test_known_shapes():
    from shapely.geometry import Polygon

    shapes = [
        shapely.box(0, 0, 2, 1),  # rectangle: plain and convex
        shapely.reverse(shapely.box(0, 0, 2, 1)),  # clockwise rectangle
        Polygon([(0, 0), (2, 2), (2, 0), (0, 2)]),  # bowtie: invalid
        Polygon([(0, 0), (4, 0), (2, 0), (2, 2)]),  # spike: invalid
        Polygon([(0, 0), (4, 0), (4, 4), (1, 1), (0, 4)]),  # concave
        Polygon([(0, 0), (1, 0), (2, 0), (2, 1), (0, 1)]),  # collinear corner: convex
        Polygon([(0, 0), (4, 0), (4, 4), (0, 4)], [[(1, 1), (2, 1), (2, 2)]]),  # a hole
    ]
    polys = np.array(shapes, dtype=object)
    assert plainly_valid_quadrilaterals(polys).tolist() == [
        True,
        True,
        False,
        False,
        False,
        False,
        False,
    ]
    assert convex_polygons(polys[[0, 1, 4, 5, 6]], 32).tolist() == [True, True, False, True, False]


def _wkb_array(polys, byte_order=1):
    import pyarrow as pa

    return pa.array(shapely.to_wkb(polys, byte_order=byte_order), pa.binary())


shape = st.one_of(
    st.lists(corner, min_size=4, max_size=4),  # quadrilaterals, the case read from bytes
    st.lists(corner, min_size=3, max_size=6),  # others: left to GEOS
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(shape, st.sampled_from(["plain", "multi", "holed", "z", "none"]))))
def test_quadrilaterals_read_from_wkb_agree_with_geometries(items):
    geoms = []
    for ring, kind in items:
        poly = shapely.Polygon([*ring, ring[0]])
        if kind == "multi":
            poly = shapely.MultiPolygon([poly])
        elif kind == "holed":
            poly = shapely.Polygon(
                [(-9, -9), (9, -9), (9, 9), (-9, 9)], [[(0, 0), (0.5, 0), (0, 0.5)]]
            )
        elif kind == "z":
            poly = shapely.force_3d(poly, 1.0)
        elif kind == "none":
            poly = None
        geoms.append(poly)
    geoms = np.array(geoms, dtype=object)
    from_bytes = plainly_valid_quadrilaterals_wkb(_wkb_array(geoms))
    singles = np.array([g is not None and g.geom_type == "MultiPolygon" for g in geoms], bool)
    as_polygons = geoms.copy()
    as_polygons[singles] = [g.geoms[0] for g in geoms[singles]]
    expected = plainly_valid_quadrilaterals(as_polygons)
    expected &= ~shapely.has_z(geoms)  # 3D bytes are left to GEOS
    assert from_bytes.tolist() == expected.tolist()
    # big-endian bytes are left to GEOS too, never misread
    assert not plainly_valid_quadrilaterals_wkb(_wkb_array(geoms, byte_order=0)).any()


def test_wkb_reading_handles_slices_and_large_binary():
    import pyarrow as pa

    polys = np.array([shapely.box(0, 0, 1, 1), None, shapely.box(0, 0, 2, 2)] * 3, dtype=object)
    arr = _wkb_array(polys)
    assert plainly_valid_quadrilaterals_wkb(arr.slice(1, 5)).tolist() == [
        False,
        True,
        True,
        False,
        True,
    ]
    large = arr.cast(pa.large_binary())
    assert plainly_valid_quadrilaterals_wkb(large).tolist() == [True, False, True] * 3
    assert plainly_valid_quadrilaterals_wkb(arr.slice(0, 0)).tolist() == []
