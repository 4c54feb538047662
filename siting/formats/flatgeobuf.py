"""FlatGeobuf: map layers in."""

from siting.formats import Format

FORMAT = Format(
    id="flatgeobuf",
    title="FlatGeobuf: a map layer in",
    extensions=(".fgb",),
    media_type="application/flatgeobuf",
    reads="layer",
)
