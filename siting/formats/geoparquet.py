"""GeoParquet: the lots with their results out (GeoParquet 1.0: WKB geometry, the parking
layer's CRS), as the GeoPackage output has them. `--engine dask` streams it in input order
(`-o out.parquet`, or a folder of files `-o out.parquet/`) and reads GeoParquet layers in
(docs/scale.md); the in-memory engine writes it from the answer it holds."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from siting.formats import Format, Output

if TYPE_CHECKING:
    from siting.check import BatchAnswer


def write(answer: BatchAnswer, out: Path, output: Output) -> None:
    from siting.scale.answer import write_geoparquet

    write_geoparquet(answer, output.geometry, out)


FORMAT = Format(
    id="geoparquet",
    title="GeoParquet: the lots with their results out (read as layers by --engine dask)",
    extensions=(".parquet", ".geoparquet"),
    media_type="application/vnd.apache.parquet",
    write=write,
    geometry="required",
)
