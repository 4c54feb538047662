"""Checked parking lots as a map layer: GeoJSON (RFC 7946, WGS84) or GeoPackage (input CRS),
with every result field as an attribute and the original attributes kept."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyogrio
import shapely
from pandas.api.types import infer_dtype

from siting.check import BatchAnswer

# shapely type id -> OGR geometry type name
_TYPE_NAMES = {
    0: "Point",
    1: "LineString",
    3: "Polygon",
    4: "MultiPoint",
    5: "MultiLineString",
    6: "MultiPolygon",
    7: "GeometryCollection",
}
_MULTI = {
    0: (4, shapely.multipoints),
    1: (5, shapely.multilinestrings),
    3: (6, shapely.multipolygons),
}


# pandas.api.types.infer_dtype kinds the layer writers take without help
PLAIN = frozenset({"string", "empty", "integer", "floating", "mixed-integer-float", "boolean"})


@dataclass
class Geometries:
    """The parking features' geometries in their layer's CRS, and the same as WKB when they
    are the file's own (GeoPackage output then writes those bytes back as they came)."""

    series: gpd.GeoSeries
    wkb: pa.Array | None = None


def result_layer(answer: BatchAnswer, geometry: gpd.GeoSeries) -> gpd.GeoDataFrame:
    frame = answer.frame(keep_input=True)
    for col in frame.columns:
        # Object columns of plain values (text, numbers, booleans, blanks) go to the writers
        # as they are; only a column mixing in other objects (a date among texts) is turned
        # into text value by value.
        if frame[col].dtype == object and infer_dtype(frame[col], skipna=True) not in PLAIN:
            frame[col] = frame[col].map(
                lambda v: (
                    None
                    if v is None or v is pd.NA
                    else (v if isinstance(v, str | int | float | bool) else str(v))
                )
            )
    return gpd.GeoDataFrame(frame, geometry=geometry.reset_index(drop=True), crs=geometry.crs)


def write_layer(answer: BatchAnswer, geometry: Geometries | gpd.GeoSeries, out: Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    wkb = geometry.wkb if isinstance(geometry, Geometries) else None
    series = geometry.series if isinstance(geometry, Geometries) else geometry
    # An output being replaced is moved aside and deleted while the new one is written
    # (freeing a large file takes the kernel a while; the syscall leaves the GIL).
    remover = None
    if out.is_file():
        old = out.with_name(f".{out.name}.replaced-{os.getpid()}")
        out.replace(old)
        remover = threading.Thread(target=old.unlink)
        remover.start()
    try:
        _write(answer, series, wkb, out)
    finally:
        if remover is not None:
            remover.join()
    return out


def _write(answer: BatchAnswer, series: gpd.GeoSeries, wkb: pa.Array | None, out: Path) -> None:
    layer = result_layer(answer, series)
    if out.suffix.lower() == ".geojson":
        layer = layer.to_crs(4326)
        pyogrio.write_dataframe(
            layer,
            out,
            driver="GeoJSON",
            use_arrow=True,
            layer_options={"RFC7946": "YES", "WRITE_NAME": "NO"},
        )
    elif _plain_columns(layer):
        write_geopackage(layer, out, wkb)
    else:  # datetimes and other objects: pyogrio's own conversions
        pyogrio.write_dataframe(layer, out, driver="GPKG", layer="results", use_arrow=True)


def _plain_columns(layer: gpd.GeoDataFrame) -> bool:
    """Numbers, booleans and text only (what the result columns are)."""
    for name, dtype in layer.drop(columns=layer.geometry.name).dtypes.items():
        if dtype.kind in "biuf" or isinstance(dtype, pd.StringDtype):
            continue
        is_object = dtype.kind == "O" and not isinstance(dtype, pd.api.extensions.ExtensionDtype)
        text = pd.api.types.infer_dtype(layer[name], skipna=True) in ("string", "empty")
        if not (is_object and text):
            return False
    return True


def write_geopackage(layer: gpd.GeoDataFrame, out: Path, wkb: pa.Array | None = None) -> None:
    """GeoPackage through GDAL's Arrow writer (what pyogrio.write_dataframe does, minus its
    per-geometry type names and pandas round trips). `wkb`: the same geometries already
    encoded (the input file's own), written as they are."""
    geoms = layer.geometry.to_numpy()
    kinds = shapely.get_type_id(geoms)
    present = np.unique(kinds[kinds >= 0]).tolist()
    if len(present) == 2 and present[0] in _MULTI and _MULTI[present[0]][0] == present[1]:
        single = kinds == present[0]  # GeoPackage wants one type: singles become multis
        geoms = geoms.copy()
        geoms[single] = _MULTI[present[0]][1](np.atleast_2d(geoms[single]), axis=0)
        present = present[1:]
        wkb = None
    geometry_type = _TYPE_NAMES.get(present[0], "Unknown") if len(present) == 1 else "Unknown"
    if wkb is not None and (
        len(wkb) != len(geoms) or wkb.null_count != int(shapely.is_missing(geoms).sum())
    ):
        wkb = None  # not the same geometries (some could not be read): encode them afresh
    if wkb is None:
        # one thread: making a million bytes objects holds the GIL (threads are slower)
        wkb = pa.array(shapely.to_wkb(geoms, output_dimension=2), pa.binary())
    attrs = pd.DataFrame(layer.drop(columns=layer.geometry.name))
    table = pa.Table.from_pandas(attrs, preserve_index=False)
    for i, field in enumerate(table.schema):  # all-missing columns: text, as pyogrio does
        if pa.types.is_null(field.type):
            table = table.set_column(i, field.with_type(pa.string()), table[i].cast(pa.string()))
    table = table.append_column("geometry", wkb)
    pyogrio.write_arrow(
        table,
        out,
        layer="results",
        driver="GPKG",
        geometry_name="geometry",
        geometry_type=geometry_type,
        crs=layer.crs.to_wkt() if layer.crs is not None else None,
    )
