"""The options of a map check, on their own: a site list check takes them too (its --field
columns) without loading the map libraries (geopandas, pyproj, pyogrio: 0.13 s)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class LayerOptions:
    layer: str | None = None
    crs: str | None = None
    offset: str | None = None
    context_crs: dict[str, str] = field(default_factory=dict)
    context_offset: dict[str, str] = field(default_factory=dict)
    field_map: dict[str, str] = field(default_factory=dict)
    max_distance: float | None = None
    area_per_space: float | None = None
    accept_nearest: bool = False  # categories found by proximity count as certain
