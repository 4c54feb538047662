"""Shapefiles: map layers in, as .shp with its .dbf, .shx, .prj (and .cpg) beside it, or all of
them in a .zip (GBK attributes are recognised; siting.geo.layers)."""

from siting.formats import Format

FORMAT = Format(
    id="shapefile",
    title="Shapefile (.shp with its sidecars, or zipped): a map layer in",
    extensions=(".shp", ".zip"),
    media_type="application/zip",
    reads="layer",
)
