"""Input layers read in pieces, never whole: row ranges (GDAL's skip_features / max_features,
GeoParquet row groups) and spatial windows (GDAL's bbox filter on a layer with a spatial
index: GeoPackage, FlatGeobuf, a shapefile with a .qix).

Every piece goes through the same steps as `siting.geo.layers.read_layer` (same reads, text
repair, `finish_layer`: CRS, offsets, Z, repairs, coordinate checks), so a feature read in a
piece is exactly the feature read with the whole layer. CSV layers are read whole (once, by
one task: siting's own CSV reader; they are POI lists). GeoParquet files (and folders of
them) are read with pyarrow, row group by row group; their feature id is the row's position
(0-based, as GDAL's Parquet driver numbers them).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyarrow as pa
import pyogrio
import shapely
from pyproj import CRS, Transformer

from siting.errors import BrokenFile, InputError, InputNotFound, UnsupportedFormat
from siting.geo.layers import (
    Layer,
    _gdal_source,
    _read_csv_layer,
    _repair_utf8,
    _short,
    choose_layer,
    finish_layer,
)
from siting.io.paths import parse_layer_ref

CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
PARQUET_SUFFIXES = {".parquet", ".geoparquet"}
Box = tuple[float, float, float, float]
OFFSET_MARGIN_DEG = 0.05  # GCJ-02 / BD-09 shift positions by up to ~1.2 km (about 0.013 deg)


@dataclass(frozen=True)
class Source:
    """One input layer as the partitioned engine reads it."""

    ref: str  # as the user gave it
    name: str  # what messages call it (as read_layer names it)
    kind: str  # "gdal" | "csv" | "parquet"
    crs: str | None = None  # declared (--crs / --context-crs)
    offset: str | None = None  # declared GCJ-02 / BD-09
    gdal: str | None = None  # what GDAL opens (a path, or /vsizip/...)
    layer: str | None = None  # the GDAL layer read
    encoding: str | None = None
    features: int = -1  # -1: not known before reading (CSV)
    windowed: bool = False  # read by bbox windows (the layer has a fast spatial filter)
    bounds: Box | None = None  # raw extent, native CRS
    native_crs: str | None = None  # the CRS the file's coordinates are in (WKT), if known
    bytes: int = 0  # size on disk
    parquet: tuple[tuple[str, tuple[int, ...]], ...] = ()  # (file, rows per row group)
    geo: str | None = None  # GeoParquet "geo" metadata (JSON)


def open_source(
    ref: str, *, layer: str | None = None, crs: str | None = None, offset: str | None = None
) -> Source:
    """What can be known of a layer without reading its features; the same errors as
    read_layer for a missing, unsupported or unreadable file."""
    path_text, ref_layer = parse_layer_ref(ref)
    layer = layer or ref_layer
    path = Path(path_text)
    if not path.exists():
        raise InputNotFound(f"{path}: file not found")
    name = f"{path.name}" + (f" layer {layer!r}" if layer else "")
    suffix = path.suffix.lower()
    if path.is_dir() or suffix in PARQUET_SUFFIXES:
        return _open_parquet(ref, path, name, crs, offset)
    if suffix in CSV_SUFFIXES:
        return Source(ref, name, "csv", crs, offset, bytes=path.stat().st_size)
    try:
        source, enc = _gdal_source(path, layer)
        names = [str(n) for n in pyogrio.list_layers(source)[:, 0]]
    except InputError:
        raise
    except Exception as exc:
        raise BrokenFile(f"{path}: not a readable map file ({_short(exc, path)})") from None
    chosen = choose_layer(path, names, layer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        info = pyogrio.read_info(
            source, layer=chosen, force_feature_count=True, force_total_bounds=True
        )
    caps = info.get("capabilities") or {}
    bounds = info.get("total_bounds")
    size = path.stat().st_size
    if suffix == ".shp":
        size = sum(p.stat().st_size for p in path.parent.glob(path.stem + ".*"))
    return Source(
        ref,
        name,
        "gdal",
        crs,
        offset,
        gdal=source,
        layer=chosen,
        encoding=enc,
        features=int(info.get("features", -1)),
        windowed=bool(caps.get("fast_spatial_filter")),
        bounds=_box(bounds) if bounds is not None else None,
        native_crs=info.get("crs"),
        bytes=size,
    )


def _box(values: Any) -> Box:
    return (float(values[0]), float(values[1]), float(values[2]), float(values[3]))


def _open_parquet(ref: str, path: Path, name: str, crs: str | None, offset: str | None) -> Source:
    import pyarrow.parquet as pq

    files = [path] if path.is_file() else sorted(path.rglob("*.parquet"))
    if not files:
        raise UnsupportedFormat(
            f"{path}: is a folder without .parquet files; name the .shp, .gpkg or .geojson in it"
        )
    parts, geo, total = [], None, 0
    for f in files:
        try:
            pf = pq.ParquetFile(f)
        except Exception as exc:
            raise BrokenFile(f"{f}: not a readable Parquet file ({_short(exc, f)})") from None
        meta = pf.schema_arrow.metadata or {}
        if geo is None and b"geo" in meta:
            geo = meta[b"geo"].decode()
        md = pf.metadata
        parts.append((str(f), tuple(md.row_group(i).num_rows for i in range(md.num_row_groups))))
        total += f.stat().st_size
    if geo is None:
        raise BrokenFile(f"{path}: a Parquet file without GeoParquet metadata (no 'geo' key)")
    meta = json.loads(geo)
    column = meta["columns"][meta["primary_column"]]
    native = _geoparquet_crs(column)
    bounds = column.get("bbox")
    return Source(
        ref,
        name,
        "parquet",
        crs,
        offset,
        features=sum(sum(rg) for _, rg in parts),
        bounds=_box(bounds) if bounds and len(bounds) == 4 else None,
        native_crs=native.to_wkt() if native is not None else None,
        bytes=total,
        parquet=tuple(parts),
        geo=geo,
    )


def _geoparquet_crs(column: dict[str, Any]) -> CRS | None:
    if "crs" not in column:  # GeoParquet: absent means OGC:CRS84 (longitude/latitude)
        return CRS.from_user_input("OGC:CRS84")
    if column["crs"] is None:
        return None
    return CRS.from_user_input(column["crs"])


# ------------------------------------------------------------------ pieces


@dataclass(frozen=True)
class Piece:
    """Rows of a source: GDAL rows [start, start + count), or Parquet row groups of a file
    (start: the first row's position in the whole layer), or the whole CSV."""

    start: int
    count: int | None
    file: int = 0
    groups: tuple[int, ...] = ()


def pieces(src: Source, rows: int) -> list[Piece]:
    """The source cut into pieces of about `rows` features, in order."""
    if src.kind == "csv":
        return [Piece(0, None)]
    if src.kind == "parquet":
        out, position = [], 0
        for k, (_, groups) in enumerate(src.parquet):
            take: list[int] = []
            first, n = position, 0
            for g, size in enumerate(groups):
                if take and n + size > rows:
                    out.append(Piece(first, n, k, tuple(take)))
                    take, first, n = [], position, 0
                take.append(g)
                n += size
                position += size
            if take:
                out.append(Piece(first, n, k, tuple(take)))
        return out or [Piece(0, 0, 0, ())]
    n = max(src.features, 0)
    if n == 0:
        return [Piece(0, None)]
    return [Piece(a, min(rows, n - a)) for a in range(0, n, rows)]


def read_piece(src: Source, piece: Piece, *, keep_wkb: bool = True) -> tuple[Layer, np.ndarray]:
    """One piece as a finished Layer (as read_layer would give those features), and each
    feature's position in the whole layer (its place in read order)."""
    if src.kind == "csv":
        path = Path(parse_layer_ref(src.ref)[0])
        try:
            gdf, fids, enc, errors = _read_csv_layer(path)
        except InputError:
            raise
        except Exception as exc:
            raise BrokenFile(f"{path}: not a readable map file ({_short(exc, path)})") from None
        layer = _finish(gdf, src, fids, enc, None, errors)
        return layer, np.arange(len(gdf), dtype=np.int64)
    if src.kind == "parquet":
        gdf, wkb = _read_parquet(src, piece)
        fids = np.arange(piece.start, piece.start + len(gdf), dtype=np.int64)
        return _finish(gdf, src, fids, None, wkb if keep_wkb else None), fids.copy()
    kwargs: dict[str, Any] = {"layer": src.layer, "fid_as_index": True, "on_invalid": "ignore"}
    if src.encoding:
        kwargs["encoding"] = src.encoding
    if piece.count is not None:
        kwargs.update(skip_features=piece.start, max_features=piece.count)
    path = Path(parse_layer_ref(src.ref)[0])
    wkb = None
    assert src.gdal is not None
    try:
        if keep_wkb:
            gdf, wkb = _arrow_keeping_wkb(src.gdal, kwargs)
        else:
            gdf = pyogrio.read_dataframe(src.gdal, use_arrow=True, **kwargs)
    except Exception:
        try:
            gdf = pyogrio.read_dataframe(src.gdal, **kwargs)
        except Exception as exc:
            raise BrokenFile(
                f"{path}: cannot read layer {src.layer!r} ({_short(exc, path)})"
            ) from None
    fids = gdf.index.to_numpy()
    if fids.dtype.kind not in "iu":
        fids = np.arange(piece.start + 1, piece.start + len(gdf) + 1)
    gdf = gdf.reset_index(drop=True)
    layer = _finish(gdf, src, fids.astype(np.int64), src.encoding, wkb)
    return layer, np.arange(piece.start, piece.start + len(gdf), dtype=np.int64)


def read_window(src: Source, boxes: list[Box]) -> Layer:
    """The features of a windowed source whose boxes meet any of `boxes` (in the file's own
    coordinates), each once, in the layer's read order (fid order)."""
    frames, fids = [], []
    kwargs: dict[str, Any] = {"layer": src.layer, "fid_as_index": True, "on_invalid": "ignore"}
    if src.encoding:
        kwargs["encoding"] = src.encoding
    path = Path(parse_layer_ref(src.ref)[0])
    for box in boxes:
        try:
            gdf = pyogrio.read_dataframe(src.gdal, use_arrow=True, bbox=tuple(box), **kwargs)
        except Exception as exc:
            raise BrokenFile(
                f"{path}: cannot read layer {src.layer!r} ({_short(exc, path)})"
            ) from None
        frames.append(gdf)
        fids.append(gdf.index.to_numpy().astype(np.int64))
    if len(frames) == 1:
        gdf, fid = frames[0], fids[0]
    else:
        import pandas as pd

        gdf = pd.concat(frames)
        fid = np.concatenate(fids)
    _, first = np.unique(fid, return_index=True)  # sorted by fid, each once
    if len(first) != len(fid) or (len(fid) > 1 and (np.diff(fid) < 0).any()):
        gdf, fid = gdf.iloc[first], fid[first]
    gdf = gdf.reset_index(drop=True)
    return _finish(gdf, src, fid, src.encoding, None)


def _finish(
    gdf: gpd.GeoDataFrame,
    src: Source,
    fids: np.ndarray,
    enc: str | None,
    wkb: pa.Array | None,
    errors: dict[int, list[str]] | None = None,
) -> Layer:
    damaged = _repair_utf8(gdf)
    out = finish_layer(gdf, src.name, fids, crs=src.crs, offset=src.offset, encoding=enc, wkb=wkb)
    for i, problems in (errors or {}).items():
        out.errors.setdefault(i, []).extend(problems)
    for i, messages in damaged.items():
        out.notes.setdefault(i, []).extend(messages)
    return out


def _arrow_keeping_wkb(
    source: str, kwargs: dict[str, Any]
) -> tuple[gpd.GeoDataFrame, pa.Array | None]:
    """siting.geo.layers._read_arrow_keeping_wkb for a range of rows: attributes as pyogrio
    converts them, geometries from GDAL's Arrow stream with their WKB kept."""
    import pandas as pd

    frame = pyogrio.read_dataframe(source, use_arrow=True, read_geometry=False, **kwargs)
    read = {
        k: v
        for k, v in kwargs.items()
        if k in ("layer", "encoding", "skip_features", "max_features")
    }
    meta, table = pyogrio.read_arrow(source, columns=[], return_fids=True, **read)
    name = meta.get("geometry_name") or "wkb_geometry"
    same_features = (
        type(frame) is pd.DataFrame
        and name in table.column_names
        and len(table) == len(frame)
        and np.array_equal(table.column(meta["fid_column"]).to_numpy(), frame.index)
    )
    if not same_features:
        return pyogrio.read_dataframe(source, use_arrow=True, **kwargs), None
    wkb = table.column(name).combine_chunks()
    if isinstance(wkb, pa.ExtensionArray):
        wkb = wkb.storage
    geoms = shapely.from_wkb(wkb.to_numpy(zero_copy_only=False), on_invalid="ignore")
    return gpd.GeoDataFrame(frame, geometry=geoms, crs=meta["crs"]), wkb


def _read_parquet(src: Source, piece: Piece) -> tuple[gpd.GeoDataFrame, pa.Array | None]:
    import pyarrow.parquet as pq

    meta = json.loads(src.geo or "{}")
    geom = meta["primary_column"]
    column = meta["columns"][geom]
    covering = column.get("covering", {}).get("bbox", {})
    skip = {geom, *(v[0] for v in covering.values() if isinstance(v, list) and v)}
    path, _ = src.parquet[piece.file]
    pf = pq.ParquetFile(path)
    if piece.groups:
        table = pf.read_row_groups(list(piece.groups))
    else:
        table = pf.schema_arrow.empty_table()
    attrs = table.drop_columns([c for c in table.column_names if c in skip])
    frame = attrs.to_pandas()
    crs = _geoparquet_crs(column)
    encoding = str(column.get("encoding", "WKB")).upper()
    wkb = None
    if encoding == "WKB":
        wkb = table.column(geom).combine_chunks()
        if isinstance(wkb, pa.ExtensionArray):
            wkb = wkb.storage
        geoms = shapely.from_wkb(wkb.to_numpy(zero_copy_only=False), on_invalid="ignore")
    else:  # GeoArrow native encodings
        from geopandas.io.arrow import _arrow_to_geopandas

        geoms = _arrow_to_geopandas(table.select([geom]), meta).geometry.to_numpy()
    return gpd.GeoDataFrame(frame, geometry=geoms, crs=crs), wkb


# ------------------------------------------------------------------ windows across CRSs


def grow(box: Box, distance: float) -> Box:
    return (box[0] - distance, box[1] - distance, box[2] + distance, box[3] + distance)


def transform_box(box: Box, src: CRS, dst: CRS) -> Box:
    """A box in `src` as a box in `dst` that holds all of it (edges densified, then a margin
    for the curvature between the densified points)."""
    if src == dst:
        return _box(box)
    t = Transformer.from_crs(src, dst, always_xy=True)
    x0, y0, x1, y1 = t.transform_bounds(box[0], box[1], box[2], box[3], densify_pts=51)
    pad = 1e-6 * max(x1 - x0, y1 - y0) + (1e-7 if dst.is_geographic else 1e-3)
    return (x0 - pad, y0 - pad, x1 + pad, y1 + pad)


def native_window(src: Source, box: Box, metric: CRS) -> Box:
    """A window in the metric CRS as a window in the source's own coordinates. A layer with
    a declared offset is in GCJ-02 / BD-09, shifted from WGS84 by up to a kilometre or so:
    its window is the WGS84 one with a margin beyond that."""
    if src.offset is not None:
        b = transform_box(box, metric, CRS.from_epsg(4326))
        return grow(b, OFFSET_MARGIN_DEG)
    native = CRS.from_user_input(src.crs) if src.crs else None
    if native is None and src.native_crs:
        native = CRS.from_user_input(src.native_crs)
    if native is None:
        raise InputError(f"{src.name}: the layer has no CRS; state one with --context-crs")
    return transform_box(box, metric, native)


__all__ = [
    "Piece",
    "Source",
    "grow",
    "native_window",
    "open_source",
    "pieces",
    "read_piece",
    "read_window",
    "transform_box",
]
