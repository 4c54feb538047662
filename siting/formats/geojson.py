"""GeoJSON (and newline-delimited GeoJSON): map layers in; the lots with their results out
(WGS 84, as RFC 7946 asks)."""

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
    id="geojson",
    title="GeoJSON: a map layer in, the lots with their results out",
    extensions=(".geojson", ".geojsonl"),
    media_type="application/geo+json",
    reads="layer",
    write=write,
    geometry="required",
)
