"""Checked parking lots as a map layer: GeoJSON (RFC 7946, WGS84) or GeoPackage (input CRS),
with every result field as an attribute and the original attributes kept."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from siting.check import BatchAnswer


def result_layer(answer: BatchAnswer, geometry: gpd.GeoSeries) -> gpd.GeoDataFrame:
    frame = answer.frame(keep_input=True)
    for col in frame.columns:
        if frame[col].dtype == object:
            frame[col] = frame[col].map(
                lambda v: (
                    None
                    if v is None or v is pd.NA
                    else (v if isinstance(v, str | int | float | bool) else str(v))
                )
            )
    return gpd.GeoDataFrame(frame, geometry=geometry.reset_index(drop=True), crs=geometry.crs)


def write_layer(answer: BatchAnswer, geometry: gpd.GeoSeries, out: Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    layer = result_layer(answer, geometry)
    if out.exists():
        out.unlink()
    if out.suffix.lower() == ".geojson":
        layer = layer.to_crs(4326)
        pyogrio.write_dataframe(
            layer,
            out,
            driver="GeoJSON",
            use_arrow=True,
            layer_options={"RFC7946": "YES", "WRITE_NAME": "NO"},
        )
    else:
        pyogrio.write_dataframe(layer, out, driver="GPKG", layer="results", use_arrow=True)
    return out
