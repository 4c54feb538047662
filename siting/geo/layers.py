"""Read a map layer into a GeoDataFrame, the way users' files actually come.

GeoPackage (one layer chosen), shapefile (.shp, or a .zip holding one, also in a sub-folder),
GeoJSON, or CSV with lon/lat or WKT columns. Attribute encodings: the .cpg when present, else
detected (UTF-8 vs GBK/GB18030). CRS: a layer without one is refused unless one is stated.
Z is dropped; invalid geometries are repaired and reported per feature; nothing is dropped.

A file that cannot be read raises an `InputError` kind naming the file and the problem
(`BrokenFile` for a corrupt, truncated or mislabelled file, a shapefile missing its .shx or
.dbf, a damaged zip; `InputTooLarge` for a zip or .dbf that would expand past
`siting.io.limits`), never the parser's own exception. Coordinates a feature cannot have in its
CRS (longitude 500 in EPSG:4326) make it invalid; coordinates outside the CRS's area of use
(an easting far outside its Gauss-Kruger zone) are a warning on it.
"""

from __future__ import annotations

import warnings
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyogrio
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from siting.errors import BrokenFile, InputError, InputNotFound, InvalidOption, UnsupportedFormat
from siting.geo.convex import plainly_valid_quadrilaterals, plainly_valid_quadrilaterals_wkb
from siting.geo.offsets import to_wgs84_geometries
from siting.geo.parallel import chunked
from siting.io.encoding import detect, sniff
from siting.io.limits import (
    ExpansionLimits,
    check_dbf_header,
    check_zip_expansion,
    shx_feature_count,
)
from siting.io.paths import parse_layer_ref

LON_NAMES = ("lon", "lng", "longitude", "long", "经度", "x")
LAT_NAMES = ("lat", "latitude", "纬度", "y")
WKT_NAMES = ("wkt", "geometry", "geom", "the_geom", "几何")


@dataclass
class Layer:
    frame: gpd.GeoDataFrame  # attributes + geometry, in the layer's own (declared) CRS
    source: str  # what messages call it
    feature_ids: np.ndarray  # fid as GDAL reports it, or 1-based position
    notes: dict[int, list[str]] = field(default_factory=dict)  # per-feature warnings
    encoding: str | None = None
    wkb: pa.Array | None = None  # the geometries as WKB, when they are the file's own
    errors: dict[int, list[str]] = field(default_factory=dict)  # per-feature: makes it invalid


def read_layer(
    ref: str,
    *,
    layer: str | None = None,
    crs: str | None = None,
    offset: str | None = None,
    limits: ExpansionLimits | None = None,
) -> Layer:
    path_text, ref_layer = parse_layer_ref(ref)
    layer = layer or ref_layer
    path = Path(path_text)
    if not path.exists():
        raise InputNotFound(f"{path}: file not found")
    if path.is_dir():
        raise UnsupportedFormat(f"{path}: is a folder; name the .shp, .gpkg or .geojson in it")
    suffix = path.suffix.lower()
    wkb: pa.Array | None = None
    errors: dict[int, list[str]] = {}
    try:
        if suffix in {".csv", ".txt", ".tsv"}:
            gdf, fids, enc, errors = _read_csv_layer(path)
        else:
            source, enc = _gdal_source(path, layer, limits)
            gdf, fids, wkb = _read_gdal(source, path, layer, enc)
    except InputError:
        raise
    except Exception as exc:  # anything else from GDAL, zipfile, zlib...: the file is broken
        raise BrokenFile(f"{path}: not a readable map file ({_short(exc, path)})") from None
    name = f"{path.name}" + (f" layer {layer!r}" if layer else "")
    damaged = _repair_utf8(gdf)
    out = finish_layer(gdf, name, fids, crs=crs, offset=offset, encoding=enc, wkb=wkb)
    for i, problems in errors.items():
        out.errors.setdefault(i, []).extend(problems)
    for i, messages in damaged.items():
        out.notes.setdefault(i, []).extend(messages)
    return out


def _repair_utf8(gdf: gpd.GeoDataFrame) -> dict[int, list[str]]:
    """Text columns read through Arrow keep GDAL's bytes, which in a damaged file may not be
    UTF-8 (every later text operation would then fail). Such values are decoded with the bad
    bytes replaced (U+FFFD), in place, and the features get a note; valid columns cost one
    validation pass."""
    notes: dict[int, list[str]] = {}
    for name in gdf.columns:
        col = gdf[name]
        data = getattr(col.array, "_pa_array", None)
        if data is None or data.type not in (pa.string(), pa.large_string()):
            continue
        try:
            data.validate(full=True)
            continue
        except pa.ArrowInvalid:
            pass
        raw = data.cast(pa.large_binary() if pa.types.is_large_string(data.type) else pa.binary())
        values = raw.to_pylist()
        fixed = [None if v is None else v.decode("utf-8", errors="replace") for v in values]
        for i, (v, f) in enumerate(zip(values, fixed, strict=True)):
            if v is not None and f is not None and f.encode("utf-8") != v:
                notes.setdefault(i, []).append(
                    f"attribute {name!r}: its text is not valid UTF-8 (a damaged file?); "
                    "the bad bytes are shown as \ufffd"
                )
        gdf[name] = pd.Series(fixed, index=gdf.index, dtype=col.dtype)
    return notes


ZIP_ERRORS = (  # what zipfile raises for a damaged archive (NotImplementedError: a zip
    # version or compression it does not know; RuntimeError: an encrypted member)
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    OSError,
    ValueError,
    NotImplementedError,
    RuntimeError,
)


def _gdal_source(
    path: Path, layer: str | None, limits: ExpansionLimits | None = None, verify: bool = True
) -> tuple[str, str | None]:
    """What GDAL opens for `path`, and the attribute encoding when it must be told. Checks
    a shapefile's sidecars and a zip's expansion (and, with `verify`, its members' CRCs)."""
    suffix = path.suffix.lower()
    if suffix == ".zip":
        try:
            return _zip_source(path, layer, limits, verify)
        except ZIP_ERRORS as exc:
            raise BrokenFile(f"{path}: a damaged zip file ({_short(exc, path)})") from None
    if suffix == ".shp":

        def sidecar(ext: str, size: int | None = None) -> bytes | None:
            for cand in (path.with_suffix(ext), path.with_suffix(ext.upper())):
                if cand.exists():
                    if size is None:
                        return cand.read_bytes()
                    with cand.open("rb") as f:
                        return f.read(size)
            return None

        def found(ext: str) -> Path | None:
            if ext == ".shp":
                return path
            cands = (path.with_suffix(ext), path.with_suffix(ext.upper()))
            return next((c for c in cands if c.is_file()), None)

        def part_size(ext: str) -> int | None:
            part = found(ext)
            return part.stat().st_size if part else None

        def part_head(ext: str, n: int) -> bytes:
            part = found(ext)
            return part.open("rb").read(n) if part else b""

        _check_sidecars(path, size=part_size, head=part_head, limits=limits)
        return str(path), _shapefile_encoding(sidecar)
    if suffix in {".gpkg", ".geojson", ".json", ".fgb", ".geojsonl"}:
        what = _sniff_file(path)
        if what is not None and not (suffix == ".gpkg" and what.startswith("an SQLite")):
            raise BrokenFile(f"{path}: not a {suffix} file: it is {what}")
        return str(path), None
    raise UnsupportedFormat(
        f"{path}: unsupported map format {suffix or '(none)'}; use .gpkg, .shp, "
        ".zip (shapefile), .geojson or .csv with lon/lat or WKT"
    )


def _sniff_file(path: Path) -> str | None:
    with path.open("rb") as f:
        head = f.read(64)
    return sniff(head)


def _zip_source(
    path: Path, layer: str | None, limits: ExpansionLimits | None, verify: bool
) -> tuple[str, str | None]:
    with zipfile.ZipFile(path) as zf:
        check_zip_expansion(zf, str(path), limits)
        names = zf.namelist()
        shps = [n for n in names if n.lower().endswith(".shp") and not n.startswith("__MACOSX")]
        if not shps:
            found = ", ".join(names[:8]) or "nothing"
            raise UnsupportedFormat(f"{path}: the zip holds no .shp file (found: {found})")
        if layer:
            chosen = [n for n in shps if Path(n).stem == layer or n == layer]
            if not chosen:
                raise InvalidOption(
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
        members = set(names)

        def member(ext: str) -> str | None:
            stem = shp[:-4]
            return next((n for n in (stem + ext, stem + ext.upper()) if n in members), None)

        def header(ext: str, size: int) -> bytes | None:
            name = member(ext)
            if name is None:
                return None
            with zf.open(name) as f:
                return f.read(size)

        def member_size(ext: str) -> int | None:
            name = member(ext)
            return zf.getinfo(name).file_size if name else None

        _check_sidecars(
            Path(shp),
            size=member_size,
            head=lambda ext, n: header(ext, n) or b"",
            limits=limits,
            label=f"{path}: {shp}",
        )
        # every member GDAL will read is read once here: a bad CRC or a damaged stream
        # is found now, as a damaged zip, not halfway through GDAL's read
        for ext in (".shp", ".shx", ".dbf", ".prj", ".cpg") if verify else ():
            name = member(ext)
            if name is not None:
                with zf.open(name) as f:
                    while f.read(1 << 20):
                        pass
        enc = _shapefile_encoding(lambda ext, size=None: _zip_member(zf, member(ext), size))
    return f"/vsizip/{path.resolve()}/{shp}", enc


def _zip_member(zf: zipfile.ZipFile, name: str | None, size: int | None = None) -> bytes | None:
    if name is None:
        return None
    with zf.open(name) as f:
        return f.read() if size is None else f.read(size)


def _check_sidecars(
    shp: Path,
    *,
    size: Callable[[str], int | None],
    head: Callable[[str, int], bytes],
    limits: ExpansionLimits | None,
    label: str | None = None,
) -> None:
    """A shapefile is three files: its .shx (the index) and .dbf (the attributes) must be
    there, whole (as long as their headers say), and agree on the number of features (GDAL
    would otherwise read the shorter one and drop the rest silently, or read a cut file as
    features without geometry); the .dbf's table must fit the limits. `size(ext)` and
    `head(ext, n)` give a part's size (None: missing) and first bytes."""
    label = label or str(shp)
    missing = [ext for ext in (".shx", ".dbf") if size(ext) is None]

    def present(ext: str) -> int:  # the size of a part known to be there
        n = size(ext)
        if n is None:
            raise BrokenFile(f"{label}: the shapefile's {ext} is missing")
        return n

    if missing:
        raise BrokenFile(
            f"{label}: the shapefile's {' and '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} missing; a shapefile is the .shp, .shx "
            "and .dbf (and .prj) side by side, with the same name (upload them in one .zip)"
        )
    for ext in (".shp", ".shx"):  # the main file and the index declare their own length
        header, actual = head(ext, 100), present(ext)
        declared = int.from_bytes(header[24:28], "big") * 2 if len(header) >= 28 else None
        if declared is None or header[:4] != b"\x00\x00\x27\x0a":
            raise BrokenFile(f"{label}: the {ext} is not a shapefile part (its header is wrong)")
        if actual < declared:
            raise BrokenFile(
                f"{label}: the {ext} is cut short ({actual:,} bytes of the {declared:,} its "
                "header declares)"
            )
    check_dbf_header(head(".dbf", 32), label, shx_feature_count(present(".shx")), limits)
    dbf = head(".dbf", 12)
    expected = int.from_bytes(dbf[8:10], "little") + int.from_bytes(dbf[4:8], "little") * (
        int.from_bytes(dbf[10:12], "little")
    )
    dbf_size = present(".dbf")
    if dbf_size < expected:
        raise BrokenFile(
            f"{label}: the .dbf is cut short ({dbf_size:,} bytes of the {expected:,} its "
            "header declares)"
        )


class _ReadSidecar(Protocol):
    """A shapefile part's bytes by extension (all, or the first `size`); None: missing."""

    def __call__(self, ext: str, size: int | None = None, /) -> bytes | None: ...


def _shapefile_encoding(read_sidecar: _ReadSidecar) -> str | None:
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
    dbf = read_sidecar(".dbf", 4_000_000)
    if not dbf or len(dbf) < 32:
        return None
    header_len = int.from_bytes(dbf[8:10], "little")
    body = dbf[header_len:]
    if body[:1_000_000].isascii():
        return None  # plain ASCII: any encoding reads it
    enc = detect(body[:4_000_000])
    return {"gb18030": "GB18030", "utf-8": "UTF-8", "utf-8-sig": "UTF-8"}.get(enc)


def choose_layer(path: Path, names: list[str], layer: str | None) -> str:
    """The layer to read of a file holding `names`: the one asked for, or the only one; a
    file with several and none chosen, or without the one asked for, is refused."""
    if not names:
        raise BrokenFile(f"{path}: holds no layer")
    if layer is None and len(names) > 1:
        raise InputError(
            f"{path}: holds {len(names)} layers ({', '.join(names)}); choose one "
            f"with --layer NAME or {path.name}:NAME"
        )
    if layer is not None and layer not in names and len(names) > 1:
        raise InvalidOption(f"{path}: no layer {layer!r}; layers: {', '.join(names)}")
    return layer if layer is not None and layer in names else names[0]


def _read_gdal(
    source: str, path: Path, layer: str | None, encoding: str | None
) -> tuple[gpd.GeoDataFrame, np.ndarray, pa.Array | None]:
    try:
        layers = pyogrio.list_layers(source)
    except Exception as exc:
        raise BrokenFile(f"{path}: not a readable map file ({_short(exc, path)})") from None
    chosen = choose_layer(path, [str(n) for n in layers[:, 0]], layer)
    kwargs: dict[str, Any] = {"layer": chosen, "fid_as_index": True, "on_invalid": "ignore"}
    if encoding:
        kwargs["encoding"] = encoding
    wkb = None
    try:
        gdf, wkb = _read_arrow_keeping_wkb(source, kwargs)
    except Exception:
        try:
            gdf = pyogrio.read_dataframe(source, **kwargs)
        except Exception as exc:
            raise BrokenFile(
                f"{path}: cannot read layer {chosen!r} ({_short(exc, path)})"
            ) from None
    if path.suffix.lower() in {".gpkg", ".fgb"}:
        # A damaged database page ends GDAL's read early without an exception (it only logs
        # an error): the count the file declares tells.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            declared = pyogrio.read_info(source, layer=chosen).get("features", -1)
        if declared >= 0 and declared != len(gdf):
            raise BrokenFile(
                f"{path}: layer {chosen!r} declares {declared:,} features but "
                f"{len(gdf):,} could be read: the file is damaged (or its feature count is "
                "stale: save it again with QGIS or ogr2ogr)"
            )
    fids = gdf.index.to_numpy()
    if fids.dtype.kind not in "iu":
        fids = np.arange(1, len(gdf) + 1)
    return gdf.reset_index(drop=True), fids.astype(np.int64), wkb


def _read_arrow_keeping_wkb(
    source: str, kwargs: dict[str, Any]
) -> tuple[gpd.GeoDataFrame, pa.Array | None]:
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


GDAL_PLAIN = (  # GDAL's words for common breakages -> the user's
    ("not recognized as being in a supported file format", "not in a format GDAL recognises"),
    ("not recognised as being in a supported file format", "not in a format GDAL recognises"),
    ("malformed", "the database is damaged or cut short"),
    ("disk I/O error", "the database is damaged or cut short"),
    ("file is not a database", "not an SQLite database"),
)


def _short(exc: BaseException, path: Path | None = None) -> str:
    """The first line of a parser's message, with the file's full path (GDAL names it by
    its resolved or /vsizip/ path) replaced by the name the user gave."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else ""
    for pattern, plain in GDAL_PLAIN:
        if pattern in text:
            return plain
    text = text.split("; It might help")[0]
    if path is not None:
        for form in {str(path.resolve()), str(path.absolute()), str(path)}:
            text = text.replace(f"/vsizip/{form}", str(path)).replace(form, str(path))
        for form in {str(path.resolve().parent), str(path.absolute().parent)}:
            if len(form) > 1:
                text = text.replace(form + "/", "")
    return text[:200] or type(exc).__name__


def _read_csv_layer(
    path: Path,
) -> tuple[gpd.GeoDataFrame, np.ndarray, str | None, dict[int, list[str]]]:
    from siting.io.tabular import read_bytes, read_csv

    raw = read_csv(read_bytes(path, str(path)), str(path))
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
            raise BrokenFile(f"{path}: column {wkt!r} is not WKT ({_short(exc, path)})") from None
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
    return gdf, np.asarray(raw.row_numbers, dtype=np.int64), raw.encoding, raw.errors


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
            raise InvalidOption(f"{name}: unknown offset {offset!r}; use gcj02 or bd09")
        if gdf.crs is not None and not gdf.crs.is_geographic:
            raise InvalidOption(
                f"{name}: declared {offset} but the layer is in a projected CRS "
                f"({gdf.crs.name}); GCJ-02 / BD-09 are longitude/latitude"
            )
        gdf = gdf.set_crs("EPSG:4326", allow_override=True)
    elif crs is not None:
        try:
            declared = CRS.from_user_input(crs)
        except CRSError:
            raise InvalidOption(
                f"{name}: {crs!r} is not a CRS (try EPSG:4490 or EPSG:4545)"
            ) from None
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
    errors, drop = coordinate_problems(geoms, gdf.crs, notes, offset)
    if drop.any():  # impossible coordinates: the feature is invalid, its geometry unused
        geoms = geoms.copy()
        geoms[drop] = None
        wkb = None
    present = ~shapely.is_missing(geoms)
    if shapely.has_z(geoms[present]).any() or _has_m(geoms[present]):
        geoms = shapely.force_2d(geoms)
        wkb = None
    empty = ~present | shapely.is_empty(geoms)
    for i in np.flatnonzero(empty & ~drop).tolist():
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
    return Layer(gdf, name, fids, notes, encoding, wkb, errors)


# ------------------------------------------------------------------ coordinates and the CRS


def _num(v: float) -> str:
    return f"{v:.10g}"


def _where(b: np.ndarray, geographic: bool) -> str:
    """'lon 500, lat 22.8' for a point; ranges for a larger feature."""
    x, y = ("lon", "lat") if geographic else ("x", "y")
    if b[0] == b[2] and b[1] == b[3]:
        return f"{x} {_num(b[0])}, {y} {_num(b[1])}"
    return f"{x} {_num(b[0])} to {_num(b[2])}, {y} {_num(b[1])} to {_num(b[3])}"


def _crs_label(crs: CRS) -> str:
    auth = crs.to_authority(min_confidence=70)
    return f"{auth[0]}:{auth[1]} ({crs.name})" if auth else crs.name


def area_box(
    crs: CRS, offset: str | None = None
) -> tuple[tuple[float, float, float, float], Callable[[], str]] | None:
    """(west, south, east, north) of where `crs` is meant to be used, in the CRS's own x/y
    (a projected CRS: its area of use projected, densified), and a function giving the
    area's name (for messages only); None when
    the CRS declares no area (or one across the antimeridian)."""
    name: Callable[[], str]
    if offset is not None:  # GCJ-02 / BD-09 are defined for China only
        area, crs = CRS.from_epsg(4490).area_of_use, CRS.from_epsg(4326)
        name = lambda: "GCJ-02 / BD-09 (China)"  # noqa: E731
    else:
        area = crs.area_of_use
        if area is None:
            auth = crs.to_authority(min_confidence=70)
            if auth is not None:
                try:
                    area = CRS.from_authority(*auth).area_of_use
                except CRSError:
                    area = None
        name = lambda: _crs_label(crs)  # noqa: E731
    if area is None or area.west > area.east:
        return None
    if crs.is_geographic:
        box = (area.west, area.south, area.east, area.north)
    else:
        try:
            to = Transformer.from_crs(crs.geodetic_crs, crs, always_xy=True)
            box = to.transform_bounds(area.west, area.south, area.east, area.north, densify_pts=21)
        except Exception:  # a CRS pyproj cannot project the area into: no check
            return None
        if not np.isfinite(box).all():
            return None
    w, s, e, n = box
    dx, dy = 0.05 * (e - w), 0.05 * (n - s)  # a margin: a lot just over the edge is fine
    return (w - dx, s - dy, e + dx, n + dy), lambda: f"{name()}: {area.name.split('.')[0]}"


def _zone_hint(x: float) -> str:
    """For an 8-digit easting: the zone number in front of it, and the zone's CRS."""
    zone = int(x // 1_000_000) if 1e7 <= x < 1e8 else 0
    if 25 <= zone <= 45:
        epsg, kind = 4513 + zone - 25, "3-degree"
    elif 13 <= zone <= 23:
        epsg, kind = 4491 + zone - 13, "6-degree"
    else:
        return ""
    return (
        f". The easting looks like one with its zone number ({zone}) in front: for "
        f"CGCS2000 {kind} Gauss-Kruger zone {zone} declare --crs EPSG:{epsg}"
    )


PROJECTED_LIMIT = 1e9  # no projection of the Earth, in metres or feet, reaches this far


def coordinate_problems(
    geoms: np.ndarray, crs: CRS | None, notes: dict[int, list[str]], offset: str | None = None
) -> tuple[dict[int, list[str]], np.ndarray]:
    """Per feature, coordinates it cannot have: not numbers; longitude beyond +-180 or
    latitude beyond +-90 in a longitude/latitude CRS; in a projected CRS, beyond 1e9 or
    not mapping back to any longitude/latitude. Each is an error (the feature comes out
    `invalid`) and its geometry is dropped (returned mask), so nothing downstream works
    with it. Coordinates outside the CRS's area of use (pyproj's `area_of_use`, with a 5 %
    margin) are a warning added to `notes`. Worked out on the features' bounds,
    column-wise; messages are made for the flagged features only."""
    errors: dict[int, list[str]] = {}
    drop = np.zeros(len(geoms), bool)
    if crs is None or not len(geoms):
        return errors, drop
    b = shapely.bounds(geoms)  # nan for a missing or empty geometry
    has = ~shapely.is_missing(geoms)
    has[has] = ~shapely.is_empty(geoms[has])
    finite = np.isfinite(b).all(axis=1)
    for i in np.flatnonzero(has & ~finite).tolist():
        errors.setdefault(i, []).append(
            "the geometry's coordinates are not numbers (NaN or infinite); the feature is "
            "not checked: fix its geometry"
        )
    drop |= has & ~finite
    ok = has & finite
    if not ok.any():
        return errors, drop
    geographic = bool(crs.is_geographic)
    label = _crs_label if offset is None else lambda _: "longitude/latitude (GCJ-02 / BD-09)"
    with np.errstate(invalid="ignore"):
        if geographic:
            impossible = ok & (
                (np.abs(b[:, [0, 2]]) > 180).any(axis=1) | (np.abs(b[:, [1, 3]]) > 90).any(axis=1)
            )
            why = "longitude runs -180 to 180 and latitude -90 to 90"
        else:
            impossible = ok & (np.abs(b) > PROJECTED_LIMIT).any(axis=1)
            why = "no place on Earth is that far from the projection's origin"
    ok &= ~impossible
    found = area_box(crs, offset)
    outside = np.zeros(len(geoms), bool)
    if found is not None and ok.any():
        (w, s, e, n), area_name = found
        outside = ok & ((b[:, 0] < w) | (b[:, 1] < s) | (b[:, 2] > e) | (b[:, 3] > n))
        if outside.any() and not geographic:  # do they map back to a longitude/latitude?
            idx = np.flatnonzero(outside)
            back = Transformer.from_crs(crs, crs.geodetic_crs, always_xy=True)
            with np.errstate(all="ignore"):
                lon0, lat0 = back.transform(b[idx, 0], b[idx, 1], errcheck=False)
                lon1, lat1 = back.transform(b[idx, 2], b[idx, 3], errcheck=False)
                lons, lats = np.abs(np.c_[lon0, lon1]), np.abs(np.c_[lat0, lat1])
                nowhere = ~(np.isfinite(lons) & np.isfinite(lats)).all(axis=1)
                nowhere |= (lons > 180).any(axis=1) | (lats > 90).any(axis=1)
            impossible[idx[nowhere]] = True
            outside[idx[nowhere]] = False
    for i in np.flatnonzero(impossible).tolist():
        errors.setdefault(i, []).append(
            f"coordinates {_where(b[i], geographic)} are impossible in {label(crs)}: {why}. "
            "The feature is not checked; fix the coordinates, or declare the layer's real "
            "CRS (--crs, e.g. EPSG:4490 for longitude/latitude, EPSG:4545 for Gauss-Kruger "
            "metres)" + ("" if geographic else _zone_hint(b[i, 0]))
        )
    drop |= impossible
    if outside.any():
        area = area_name()
        for i in np.flatnonzero(outside).tolist():
            notes.setdefault(i, []).append(
                f"coordinates {_where(b[i], geographic)} are outside the area of use of "
                f"{area}; check the layer's CRS (--crs) or the coordinates: context layers "
                "and distances may not match"
            )
    return errors, drop


def _has_m(geoms: np.ndarray) -> bool:
    has_m = getattr(shapely, "has_m", None)  # shapely >= 2.1
    return bool(has_m(geoms).any()) if has_m is not None else False


def replace_wkb(wkb: pa.Array, rows: np.ndarray, geoms: np.ndarray) -> pa.Array:
    """wkb with the given rows re-encoded from geoms (2D, little endian)."""
    new = pa.array(shapely.to_wkb(geoms, output_dimension=2, byte_order=1), wkb.type)
    where = np.arange(len(wkb))
    where[rows] = len(wkb) + np.arange(len(rows))
    return pa.concat_arrays([wkb, new]).take(pa.array(where))
