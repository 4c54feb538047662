"""GeoPackage: map layers in (any layer, `FILE:layer`); the lots with their results out, in
the parking layer's CRS."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from siting.formats import Format, Output

if TYPE_CHECKING:
    from siting.check import BatchAnswer


def write(answer: BatchAnswer, out: Path, output: Output) -> None:
    from siting.geo.output import write_layer
    from siting.labels import localised_answer

    # field names follow --lang only when it is given (siting.labels)
    write_layer(localised_answer(answer, output.options.lang), output.geometry, out)


FORMAT = Format(
    id="gpkg",
    title="GeoPackage: a map layer in, the lots with their results out",
    extensions=(".gpkg",),
    media_type="application/geopackage+sqlite3",
    reads="layer",
    write=write,
    geometry="required",
)
