"""How users name files: `FILE` or `FILE:LAYER` (a layer of a GeoPackage or zip)."""

from __future__ import annotations

from pathlib import Path


def parse_layer_ref(ref: str) -> tuple[str, str | None]:
    """'file.gpkg:layer' -> ('file.gpkg', 'layer'); a plain or existing path is unchanged."""
    path = Path(ref)
    if path.exists() or ":" not in path.name:
        return ref, None
    head, _, layer = ref.rpartition(":")
    return head, layer or None
