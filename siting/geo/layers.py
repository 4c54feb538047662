"""Read a map layer into a GeoDataFrame, the way users' files actually come.

GeoPackage (one layer chosen), shapefile (.shp, or a .zip holding one, also in a sub-folder),
GeoJSON, or CSV with lon/lat or WKT columns. Attribute encodings: the .cpg when present, else
detected (UTF-8 vs GBK/GB18030). CRS: a layer without one is refused unless one is stated.
Z is dropped; invalid geometries are repaired and reported per feature; nothing is dropped.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyogrio
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError

from siting.errors import InputError
from siting.geo.convex import plainly_valid_quadrilaterals, plainly_valid_quadrilaterals_wkb
from siting.geo.offsets import to_wgs84_geometries
from siting.geo.parallel import chunked
from siting.io.encoding import detect
from siting.io.paths import parse_layer_ref

LON_NAMES = ("lon", "lng", "longitude", "long", "经度", "x")
LAT_NAMES = ("lat", "latitude", "纬度", "y")
WKT_NAMES = ("wkt", "geometry", "geom", "the_geom", "几何")


@dataclass
class Layer:
    frame: gpd.GeoDataFrame  # attributes + geometry, in the layer's own (declared) CRS
    source: str  # what messages call it
    feature_ids: np.ndarray  # fid as GDAL reports it, or 1-based position
    notes: dict[int, list[str]] = field(default_factory=dict)  # per-feature repair notes
    encoding: str | None = None
    wkb: pa.Array | None = None  # the geometries as WKB, when they are the file's own


def read_layer(
    ref: str, *, layer: str | None = None, crs: str | None = None, offset: str | None = None
) -> Layer:
    path_text, ref_layer = parse_layer_ref(ref)
    layer = layer or ref_layer
    path = Path(path_text)
    if not path.exists():
        raise InputError(f"{path}: file not found", status_code=404)
    suffix = path.suffix.lower()
    wkb = None
    if suffix in {".csv", ".txt", ".tsv"}:
        gdf, fids, enc = _read_csv_layer(path)
    else:
        source, enc = _gdal_source(path, layer)
        gdf, fids, wkb = _read_gdal(source, path, layer, enc)
    name = f"{path.name}" + (f" layer {layer!r}" if layer else "")
    return finish_layer(gdf, name, fids, crs=crs, offset=offset, encoding=enc, wkb=wkb)


def _gdal_source(path: Path, layer: str | None) -> tuple[str, str | None]:
    suffix = path.suffix.lower()
    if suffix == ".zip":
        with zipfile.ZipFile(path) as zf:
            shps = [
                n
                for n in zf.namelist()
                if n.lower().endswith(".shp") and not n.startswith("__MACOSX")
            ]
            if not shps:
                raise InputError(
                    f"{path}: the zip holds no .shp file (found: {', '.join(zf.namelist()[:8])})",
                    status_code=415,
                )
            if layer:
                chosen = [n for n in shps if Path(n).stem == layer or n == layer]
                if not chosen:
                    raise InputError(
                        f"{path}: no shapefile {layer!r} in the zip; it holds {', '.join(shps)}"
                    )
                shp = chosen[0]
            elif len(shps) > 1:
                raise InputError(
                    f"{path}: the zip holds several shapefiles ({', '.join(shps)}); "
                    "choose one with FILE.zip:NAME"
                )
            else:
                shp = shps[0]
            enc = _shapefile_encoding(lambda ext: _zip_member(zf, shp, ext))
        return f"/vsizip/{path.resolve()}/{shp}", enc
    if suffix == ".shp":

        def sidecar(ext):
            for cand in (path.with_suffix(ext), path.with_suffix(ext.upper())):
                if cand.exists():
                    return cand.read_bytes()
            return None

        return str(path), _shapefile_encoding(sidecar)
    if suffix in {".gpkg", ".geojson", ".json", ".fgb", ".geojsonl"}:
        return str(path), None
    raise InputError(
        f"{path}: unsupported map format {suffix or '(none)'}; use .gpkg, .shp, "
        ".zip (shapefile), .geojson or .csv with lon/lat or WKT",
        status_code=415,
    )


def _zip_member(zf: zipfile.ZipFile, shp: str, ext: str) -> bytes | None:
    stem = shp[:-4]
    for name in (stem + ext, stem + ext.upper()):
        if name in zf.namelist():
            return zf.read(name)
    return None


def _shapefile_encoding(read_sidecar) -> str | None:
    """The .cpg if present; otherwise detect from the .dbf's text bytes."""
    cpg = read_sidecar(".cpg")
    if cpg:
        text = cpg.decode("ascii", "ignore").strip().upper()
        return {
            "UTF8": "UTF-8",
            "UTF-8": "UTF-8",
            "65001": "UTF-8",
            "936": "GBK",
            "GBK": "GBK",
            "GB2312": "GBK",
            "GB18030": "GB18030",
        }.get(text, text or None)
    dbf = read_sidecar(".dbf")
    if not dbf or len(dbf) < 32:
        return None
    header_len = int.from_bytes(dbf[8:10], "little")
    body = dbf[header_len:]
    if all(b < 128 for b in body[:1_000_000]):
        return None  # plain ASCII: any encoding reads it
    enc = detect(body[:4_000_000])
    return {"gb18030": "GB18030", "utf-8": "UTF-8", "utf-8-sig": "UTF-8"}[enc]


def _read_gdal(
    source: str, path: Path, layer: str | None, encoding: str | None
) -> tuple[gpd.GeoDataFrame, np.ndarray, pa.Array | None]:
    try:
        layers = pyogrio.list_layers(source)
    except Exception as exc:
        raise InputError(f"{path}: not a readable map file ({_short(exc)})", 415) from None
    names = [str(n) for n in layers[:, 0]]
    if layer is None and len(names) > 1:
        raise InputError(
            f"{path}: holds {len(names)} layers ({', '.join(names)}); choose one "
            f"with --layer NAME or {path.name}:NAME"
        )
    if layer is not None and layer not in names and len(names) > 1:
        raise InputError(f"{path}: no layer {layer!r}; layers: {', '.join(names)}")
    chosen = layer if layer in names else names[0]
    kwargs = {"layer": chosen, "fid_as_index": True, "on_invalid": "ignore"}
    if encoding:
        kwargs["encoding"] = encoding
    wkb = None
    try:
        gdf, wkb = _read_arrow_keeping_wkb(source, kwargs)
    except Exception:
        try:
            gdf = pyogrio.read_dataframe(source, **kwargs)
        except Exception as exc:
            raise InputError(f"{path}: cannot read layer {chosen!r} ({_short(exc)})") from None
    fids = gdf.index.to_numpy()
    if fids.dtype.kind not in "iu":
        fids = np.arange(1, len(gdf) + 1)
    return gdf.reset_index(drop=True), fids.astype(np.int64), wkb


def _read_arrow_keeping_wkb(source: str, kwargs: dict):
    """Attributes as pyogrio converts them, and geometries from GDAL's Arrow stream, whose
    WKB is kept: GeoPackage output of unchanged lots writes it back as it came."""
    frame = pyogrio.read_dataframe(source, use_arrow=True, read_geometry=False, **kwargs)
    read = {k: v for k, v in kwargs.items() if k in ("layer", "encoding")}
    meta, table = pyogrio.read_arrow(source, columns=[], return_fids=True, **read)
    name = meta.get("geometry_name") or "wkb_geometry"
    same_features = (  # the two reads line up feature for feature (else: one plain read)
        type(frame) is pd.DataFrame
        and name in table.column_names
        and len(table) == len(frame)
        and np.array_equal(table.column(meta["fid_column"]).to_numpy(), frame.index)
    )
    if not same_features:
        return pyogrio.read_dataframe(source, use_arrow=True, **kwargs), None
    wkb = table.column(name).combine_chunks()
    if isinstance(wkb, pa.ExtensionArray):  # geoarrow.wkb: the bytes are its storage
        wkb = wkb.storage
    geoms = shapely.from_wkb(wkb.to_numpy(zero_copy_only=False), on_invalid="ignore")
    return gpd.GeoDataFrame(frame, geometry=geoms, crs=meta["crs"]), wkb


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200]


def _read_csv_layer(path: Path) -> tuple[gpd.GeoDataFrame, np.ndarray, str]:
    from siting.io.tabular import read_csv

    raw = read_csv(path.read_bytes(), str(path))
    frame = raw.frame
    cols = {c.strip().lower(): c for c in frame.columns}
    wkt = next((cols[n] for n in WKT_NAMES if n in cols), None)
    lon = next((cols[n] for n in LON_NAMES if n in cols), None)
    lat = next((cols[n] for n in LAT_NAMES if n in cols), None)
    if wkt is not None:
        text = frame[wkt].replace("", None)
        try:
            geoms = shapely.from_wkt(text.to_numpy(), on_invalid="ignore")
        except Exception as exc:  # pragma: no cover - shapely raises for hard failures only
            raise InputError(f"{path}: column {wkt!r} is not WKT ({_short(exc)})") from None
        frame = frame.drop(columns=[wkt])
    elif lon is not None and lat is not None:
        x = pd.to_numeric(frame[lon], errors="coerce").to_numpy()
        y = pd.to_numeric(frame[lat], errors="coerce").to_numpy()
        geoms = shapely.points(x, y)
        geoms[~(np.isfinite(x) & np.isfinite(y))] = None
        frame = frame.drop(columns=[lon, lat])
    else:
        raise InputError(
            f"{path}: a CSV layer needs lon/lat (经度/纬度) or WKT columns; "
            f"found: {', '.join(frame.columns)}"
        )
    gdf = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms), crs=None)
    return gdf, np.asarray(raw.row_numbers, dtype=np.int64), raw.encoding


def finish_layer(
    gdf: gpd.GeoDataFrame,
    name: str,
    fids: np.ndarray,
    *,
    crs: str | None,
    offset: str | None,
    encoding: str | None = None,
    wkb: pa.Array | None = None,
) -> Layer:
    """Declare/check the CRS, undo web-map offsets, drop Z, repair geometries (reported)."""
    if offset is not None:
        if offset not in {"gcj02", "bd09"}:
            raise InputError(f"{name}: unknown offset {offset!r}; use gcj02 or bd09")
        if gdf.crs is not None and not gdf.crs.is_geographic:
            raise InputError(
                f"{name}: declared {offset} but the layer is in a projected CRS "
                f"({gdf.crs.name}); GCJ-02 / BD-09 are longitude/latitude"
            )
        gdf = gdf.set_crs("EPSG:4326", allow_override=True)
    elif crs is not None:
        try:
            declared = CRS.from_user_input(crs)
        except CRSError:
            raise InputError(f"{name}: {crs!r} is not a CRS (try EPSG:4490 or EPSG:4545)") from None
        gdf = gdf.set_crs(declared, allow_override=True)
    elif gdf.crs is None:
        hint = " For GCJ-02 (Amap/Tencent) or BD-09 (Baidu) coordinates declare the offset instead."
        raise InputError(
            f"{name}: the layer has no CRS (no .prj or CRS definition); state "
            "one, e.g. --crs EPSG:4490 for CGCS2000 longitude/latitude or "
            "--crs EPSG:4545 for Gauss-Kruger CM 108E." + hint
        )
    geoms = gdf.geometry.to_numpy()
    notes: dict[int, list[str]] = {}
    present = ~shapely.is_missing(geoms)
    if shapely.has_z(geoms[present]).any() or _has_m(geoms[present]):
        geoms = shapely.force_2d(geoms)
        wkb = None
    empty = ~present | shapely.is_empty(geoms)
    for i in np.flatnonzero(empty).tolist():
        notes.setdefault(i, []).append(
            "the feature has no geometry; it is checked on its attributes only"
        )
    # four-cornered lots that plainly turn one way are valid; GEOS checks the rest
    if wkb is not None and len(wkb) == len(geoms):  # read straight from the bytes, faster
        plain = plainly_valid_quadrilaterals_wkb(wkb)
    else:
        plain = plainly_valid_quadrilaterals(geoms)
    unsure = np.flatnonzero(~empty & ~plain)
    invalid = np.zeros(len(geoms), bool)
    invalid[unsure] = ~chunked(shapely.is_valid, geoms[unsure])
    if invalid.any():
        idx = np.flatnonzero(invalid)
        reasons = shapely.is_valid_reason(geoms[idx])
        geoms[idx] = shapely.make_valid(geoms[idx])
        for i, why in zip(idx.tolist(), reasons, strict=True):
            notes.setdefault(i, []).append(f"invalid geometry repaired ({why})")
        if wkb is not None:
            wkb = replace_wkb(wkb, idx, geoms[idx])
    if offset is not None:
        geoms = to_wgs84_geometries(geoms, offset)
        wkb = None
    gdf = gdf.set_geometry(gpd.GeoSeries(geoms, crs=gdf.crs, index=gdf.index))
    return Layer(gdf, name, fids, notes, encoding, wkb)


def _has_m(geoms: np.ndarray) -> bool:
    has_m = getattr(shapely, "has_m", None)  # shapely >= 2.1
    return bool(has_m(geoms).any()) if has_m is not None else False


def replace_wkb(wkb: pa.Array, rows: np.ndarray, geoms: np.ndarray) -> pa.Array:
    """wkb with the given rows re-encoded from geoms (2D, little endian)."""
    new = pa.array(shapely.to_wkb(geoms, output_dimension=2, byte_order=1), wkb.type)
    where = np.arange(len(wkb))
    where[rows] = len(wkb) + np.arange(len(rows))
    return pa.concat_arrays([wkb, new]).take(pa.array(where))
