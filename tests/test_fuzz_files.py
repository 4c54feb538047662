"""A fuzz corpus of broken files, made at test time from the bundled samples: every reader
ends in a result per record or an `InputError` (exit 2 / HTTP 4xx), never anything else.

The corpus (over 300 files): truncations at several points, seeded byte flips, shapefiles
missing a sidecar, broken zips (damaged member, bad CRC, nested folders, empty, several
shapefiles, bombs), files under the wrong extension, text in encodings it does not say
(GBK, UTF-16, latin-1), a 2 MB line, JSON nested 10,000 deep, empty files, stray quotes.

Each file goes through `siting.run.check_files` (what the CLI calls) in process, through the
upload endpoint (FastAPI TestClient), and a sample of 20 through the real CLI. A run that
completes gives one result per record read: the GDAL feature count for a map layer, the
number of non-blank lines for a CSV without quotes, the reader's rows otherwise.
"""

from __future__ import annotations

import io
import json
import random
import re
import subprocess
import sys
import warnings
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from siting.errors import InputError
from siting.formats import Output, render, write_answer
from siting.geo.pipeline import LayerOptions
from siting.io.encoding import decode
from siting.io.tabular import read_sites
from siting.run import check_files
from siting_api.app import create_app
from siting_api.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_sites"
AS_OF = "2024-06-30"
LEAKS = ("Traceback", "/work/", "/tmp/", "site-packages", 'File "/')
MAIN_EXTS = (".csv", ".xlsx", ".json", ".gpkg", ".geojson", ".zip", ".txt", ".tsv", ".xlsm")


@dataclass
class Case:
    id: str
    files: dict[str, bytes]  # name -> content, written side by side
    main: str
    contexts: list[str] = field(default_factory=list)
    options: dict = field(default_factory=dict)  # LayerOptions fields
    output_suffix: str | None = None  # ".geojson": read the main file as a map layer


# ------------------------------------------------------------------ the samples


def _zip(members: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _bases() -> dict[str, bytes]:
    import geopandas as gpd
    from openpyxl import Workbook

    sites = (SAMPLES / "sites.csv").read_bytes()
    rows = [r.split(",") for r in sites.decode("utf-8").splitlines()]
    wb = Workbook()
    for r in rows:
        wb.active.append(r)
    xlsx = io.BytesIO()
    wb.save(xlsx)
    header, *body = rows
    records = [dict(zip(header, r, strict=False)) for r in body]
    parking = gpd.read_file(SAMPLES / "parking.gpkg")
    shp = {ext: (SAMPLES / f"landuse.{ext}").read_bytes() for ext in ("shp", "shx", "dbf", "prj")}
    return {
        "sites.csv": sites,
        "pois.csv": (SAMPLES / "pois.csv").read_bytes(),
        "parking.gpkg": (SAMPLES / "parking.gpkg").read_bytes(),
        "sites.xlsx": xlsx.getvalue(),
        "sites.json": json.dumps({"sites": records}, ensure_ascii=False).encode(),
        "parking.geojson": parking.to_crs(4326).to_json(drop_id=True).encode(),
        "landuse.zip": _zip({f"landuse.{e}": d for e, d in shp.items()}),
        **{f"landuse.{e}": d for e, d in shp.items()},
    }


def _single(name: str, data: bytes, case_id: str) -> Case:
    """A one-file case, read the way its kind is read (POIs as a GCJ-02 map layer)."""
    if name.startswith("pois"):
        return Case(
            case_id, {name: data}, name, options={"offset": "gcj02"}, output_suffix=".geojson"
        )
    return Case(case_id, {name: data}, name)


def _shapefile(base: dict[str, bytes], case_id: str, **replace) -> Case:
    files = {f"landuse.{e}": base[f"landuse.{e}"] for e in ("shp", "shx", "dbf", "prj")}
    for ext, data in replace.items():
        if data is None:
            files.pop(f"landuse.{ext}")
        else:
            files[f"landuse.{ext}"] = data
    return Case(case_id, files, "landuse.shp")


def _flip(data: bytes, n: int, seed: int) -> bytes:
    rnd = random.Random(seed * 1000 + n)
    out = bytearray(data)
    for _ in range(n):
        if out:
            out[rnd.randrange(len(out))] = rnd.randrange(256)
    return bytes(out)


def _stored_bad_crc(members: dict[str, bytes], target: str) -> bytes:
    """A zip whose `target` member (stored, not compressed) has one byte changed after its
    CRC was written."""
    raw = bytearray(_zip(members, zipfile.ZIP_STORED))
    data = members[target]
    at = raw.find(data[:64] if len(data) >= 64 else data)
    raw[at + len(data) // 2] ^= 0xFF
    return bytes(raw)


def _deflated_damaged(members: dict[str, bytes], target: str) -> bytes:
    raw = bytearray(_zip(members))
    with zipfile.ZipFile(io.BytesIO(bytes(raw))) as zf:
        info = zf.getinfo(target)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for k in range(start + 5, start + min(info.compress_size, 40)):
        raw[k] = 0xFF
    return bytes(raw)


def _bomb_member(size: int) -> bytes:
    """`size` bytes of spaces, deflated (zipfile compresses them on write)."""
    return b" " * size


def corpus() -> list[Case]:
    base = _bases()
    cases: list[Case] = []
    singles = ["sites.csv", "pois.csv", "parking.gpkg", "sites.xlsx", "sites.json"]
    singles += ["parking.geojson", "landuse.zip"]

    # truncation at several points (0 bytes: the empty file)
    for name in singles:
        data = base[name]
        n = len(data)
        for cut in sorted({0, 1, 9, n // 10, n // 3, n // 2, 2 * n // 3, 9 * n // 10}):
            cases.append(_single(name, data[:cut], f"truncate-{name}-{cut}"))
        cases.append(_single(name, data[: len(data) - 1], f"truncate-{name}-last"))
    for ext in ("shp", "shx", "dbf"):
        data = base[f"landuse.{ext}"]
        for cut in (0, 50, len(data) // 2, len(data) - 1):
            cases.append(_shapefile(base, f"truncate-landuse.{ext}-{cut}", **{ext: data[:cut]}))

    # seeded byte flips
    for name in singles:
        for n in (1, 8, 64):
            for seed in (0, 1, 2, 3):
                cases.append(_single(name, _flip(base[name], n, seed), f"flip-{name}-{n}-{seed}"))
    for ext in ("shp", "shx", "dbf"):
        for n, seed in ((1, 0), (8, 1), (64, 2)):
            data = _flip(base[f"landuse.{ext}"], n, seed)
            cases.append(_shapefile(base, f"flip-landuse.{ext}-{n}-{seed}", **{ext: data}))

    # shapefiles missing a sidecar, or with another one's
    for ext in ("shx", "dbf", "prj"):
        cases.append(_shapefile(base, f"no-{ext}", **{ext: None}))
        members = {f"landuse.{e}": base[f"landuse.{e}"] for e in ("shp", "shx", "dbf", "prj")}
        members.pop(f"landuse.{ext}")
        cases.append(Case(f"zip-no-{ext}", {"landuse.zip": _zip(members)}, "landuse.zip"))
    cases.append(_shapefile(base, "shp-alone", shx=None, dbf=None, prj=None))
    import geopandas as gpd

    other = _write_shapefile(
        gpd.GeoDataFrame(
            {"name": ["a", "b", "c"]}, geometry=gpd.points_from_xy([0, 1, 2], [0, 1, 2]), crs=4545
        )
    )
    cases.append(_shapefile(base, "dbf-of-another", dbf=other["dbf"]))
    cases.append(_shapefile(base, "shx-of-another", shx=other["shx"]))

    # broken zips
    shp_members = {f"landuse.{e}": base[f"landuse.{e}"] for e in ("shp", "shx", "dbf", "prj")}
    for target in ("landuse.dbf", "landuse.shp", "landuse.shx"):
        cases.append(
            Case(f"zip-bad-crc-{target}", {"l.zip": _stored_bad_crc(shp_members, target)}, "l.zip")
        )
        cases.append(
            Case(
                f"zip-damaged-{target}", {"l.zip": _deflated_damaged(shp_members, target)}, "l.zip"
            )
        )
    nested = {f"a/b/c/{k}": v for k, v in shp_members.items()}
    cases.append(Case("zip-nested-dirs", {"n.zip": _zip(nested)}, "n.zip"))
    cases.append(Case("zip-empty", {"e.zip": _zip({})}, "e.zip"))
    cases.append(Case("zip-no-shp", {"c.zip": _zip({"sites.csv": base["sites.csv"]})}, "c.zip"))
    two = {**shp_members, **{f"x/other.{e[-3:]}": v for e, v in shp_members.items()}}
    cases.append(Case("zip-two-shapefiles", {"t.zip": _zip(two)}, "t.zip"))
    mac = {**shp_members, "__MACOSX/._landuse.shp": b"\x00\x05\x16\x07junk"}
    cases.append(Case("zip-macosx", {"m.zip": _zip(mac)}, "m.zip"))
    cases.append(
        Case(
            "zip-traversal",
            {"z.zip": _zip({f"../{k}": v for k, v in shp_members.items()})},
            "z.zip",
        )
    )
    bomb = {**shp_members, "landuse.dbf": base["landuse.dbf"] + _bomb_member(70 << 20)}
    cases.append(Case("zip-dbf-bomb", {"b.zip": _zip(bomb)}, "b.zip"))
    cases.append(
        Case("zip-of-zip", {"zz.zip": _zip({"landuse.zip": base["landuse.zip"]})}, "zz.zip")
    )
    with zipfile.ZipFile(io.BytesIO(base["sites.xlsx"])) as zf:
        xl = {n: zf.read(n) for n in zf.namelist()}
    sheet = next(n for n in xl if n.startswith("xl/worksheets/"))
    for drop in ("xl/workbook.xml", sheet, "[Content_Types].xml", "xl/_rels/workbook.xml.rels"):
        rest = {k: v for k, v in xl.items() if k != drop}
        cases.append(Case(f"xlsx-without-{drop}", {"s.xlsx": _zip(rest)}, "s.xlsx"))
    cut_xml = {**xl, sheet: xl[sheet][: len(xl[sheet]) // 2]}
    cases.append(Case("xlsx-sheet-xml-cut", {"s.xlsx": _zip(cut_xml)}, "s.xlsx"))
    cases.append(Case("xlsx-bad-crc", {"s.xlsx": _stored_bad_crc(xl, sheet)}, "s.xlsx"))
    cases.append(Case("xlsx-damaged", {"s.xlsx": _deflated_damaged(xl, sheet)}, "s.xlsx"))
    big = {**xl, "xl/worksheets/sheet2.xml": _bomb_member(70 << 20)}
    cases.append(Case("xlsx-bomb", {"s.xlsx": _zip(big)}, "s.xlsx"))
    cases.append(Case("xlsx-empty-zip", {"s.xlsx": _zip({})}, "s.xlsx"))

    # the wrong extension
    for name in ("sites.csv", "sites.xlsx", "sites.json", "parking.gpkg", "parking.geojson"):
        for ext in MAIN_EXTS:
            # JSON text read as .txt/.tsv is the .csv case again (and slow: a one-line
            # header of hundreds of columns, each given a did-you-mean)
            same_as_csv = ext in (".txt", ".tsv") and name.endswith("json")
            if Path(name).suffix != ext and not same_as_csv:
                cases.append(Case(f"as{ext}-{name}", {f"f{ext}": base[name]}, f"f{ext}"))
    for name in ("sites.csv", "parking.gpkg", "landuse.zip"):
        shp_case = _shapefile(base, f"as.shp-{name}", shp=base[name])
        cases.append(shp_case)

    # encodings the file does not say
    text = base["sites.csv"].decode("utf-8")
    for enc in ("gbk", "gb18030", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32"):
        cases.append(Case(f"encoding-{enc}", {"s.csv": text.encode(enc)}, "s.csv"))
    latin = text.splitlines()[0] + "\nL1,Café de la Gare,hotel,,100,,20,0,0,,,,,Nanning\n"
    cases.append(Case("encoding-latin-1", {"s.csv": latin.encode("latin-1")}, "s.csv"))
    half = text.splitlines()
    mixed = "\n".join(half[:10]).encode("utf-8") + b"\n" + "\n".join(half[10:]).encode("gbk")
    cases.append(Case("encoding-mixed-utf8-gbk", {"s.csv": mixed}, "s.csv"))
    pois = base["pois.csv"].decode("utf-8-sig")
    for enc in ("gbk", "utf-16"):
        cases.append(_single("pois.csv", pois.encode(enc), f"encoding-pois-{enc}"))
    cases.append(
        Case(
            "encoding-json-utf16",
            {"s.json": base["sites.json"].decode().encode("utf-16")},
            "s.json",
        )
    )
    cases.append(
        Case("encoding-json-gbk", {"s.json": base["sites.json"].decode().encode("gbk")}, "s.json")
    )

    # huge lines
    two_mb = "x" * (2 << 20)
    lines = text.splitlines()
    cases.append(
        Case(
            "huge-value",
            {"s.csv": "\n".join([*lines[:3], lines[3] + two_mb, *lines[4:]]).encode()},
            "s.csv",
        )
    )
    cases.append(
        Case(
            "huge-quoted-value",
            {"s.csv": "\n".join([*lines[:3], f'X1,"{two_mb}",hotel,,10', *lines[3:]]).encode()},
            "s.csv",
        )
    )
    cases.append(
        Case(
            "huge-header",
            {"s.csv": (lines[0] + "," + two_mb + "\n" + "\n".join(lines[1:])).encode()},
            "s.csv",
        )
    )
    cases.append(
        Case(
            "huge-line-of-commas",
            {"s.csv": "\n".join([*lines[:3], "," * 200_000, *lines[3:]]).encode()},
            "s.csv",
        )
    )
    cases.append(
        Case(
            "huge-json-string",
            {"s.json": json.dumps([{"id": "a", "category": two_mb}]).encode()},
            "s.json",
        )
    )
    cases.append(
        _single("pois.csv", (pois + "\n" + "P," + two_mb + ",,108.3,22.8\n").encode(), "huge-pois")
    )

    # deep JSON
    deep = "[" * 10_000 + "]" * 10_000
    cases.append(Case("deep-json-list", {"s.json": deep.encode()}, "s.json"))
    cases.append(
        Case("deep-json-sites", {"s.json": ('{"sites": ' + deep + "}").encode()}, "s.json")
    )
    cases.append(
        Case(
            "deep-json-value",
            {"s.json": ('[{"id": "a", "category": ' + deep + "}]").encode()},
            "s.json",
        )
    )
    cases.append(Case("deep-json-cut", {"s.json": ("[" * 10_000).encode()}, "s.json"))
    parseable = "[" * 500 + "]" * 500
    cases.append(
        Case(
            "deep-json-500",
            {"s.json": ('[{"id": "a", "category": ' + parseable + "}]").encode()},
            "s.json",
        )
    )
    cells = [lines[0] + ",chargers", *(line + "," for line in lines[1:])]
    cells[2] += '"' + "[" * 3000 + "]" * 3000 + '"'
    cases.append(Case("deep-json-cell", {"s.csv": "\n".join(cells).encode()}, "s.csv"))
    cases.append(
        Case(
            "deep-geojson",
            {"d.geojson": ('{"type": "FeatureCollection", "features": ' + deep + "}").encode()},
            "d.geojson",
        )
    )
    cases.append(
        Case(
            "json-5000-digits",
            {"s.json": ('[{"id": "a", "parking_spaces": ' + "9" * 5000 + "}]").encode()},
            "s.json",
        )
    )
    cases.append(
        Case(
            "json-nan",
            {"s.json": b'[{"id": "a", "category": "hotel", "parking_spaces": NaN}]'},
            "s.json",
        )
    )
    cases.append(Case("json-sites-not-list", {"s.json": b'{"sites": 5}'}, "s.json"))
    cases.append(Case("json-scalars", {"s.json": b'[1, "x", null, [], {"id": "b"}]'}, "s.json"))

    # empty and nearly empty files
    for ext in MAIN_EXTS:
        cases.append(Case(f"empty{ext}", {f"e{ext}": b""}, f"e{ext}"))
    cases.append(_shapefile(base, "empty-shapefile", shp=b"", shx=b"", dbf=b""))
    for label, data in (
        ("blank", b"   \n\n  \n"),
        ("bom-only", b"\xef\xbb\xbf"),
        ("header-only", lines[0].encode() + b"\n"),
        ("commas", b",,,\n,,,\n"),
    ):
        cases.append(Case(f"nearly-empty-{label}", {"s.csv": data}, "s.csv"))

    # stray quotes, ragged rows, odd line ends
    def csv_case(label: str, rows: list[str], end: str = "\n") -> None:
        cases.append(Case(f"csv-{label}", {"s.csv": end.join(rows).encode()}, "s.csv"))

    for at in (1, 3, 10, len(lines) - 1):
        csv_case(
            f"open-quote-row-{at}", [*lines[:at], lines[at].replace(",", ',"', 1), *lines[at + 1 :]]
        )
    csv_case(
        "two-stray-quotes",
        [*lines[:3], lines[3].replace(",", ',"', 1), lines[4].replace(",", ',"', 1), *lines[5:]],
    )
    csv_case("quote-in-header", [lines[0].replace(",", ',"', 1), *lines[1:]])
    csv_case("quote-at-line-end", [*lines[:5], lines[5] + ',"', *lines[6:]])
    csv_case("extra-field-first-row", [lines[0], lines[1] + ",extra", *lines[2:]])
    csv_case("extra-fields", [*lines[:4], lines[4] + ",a,b,c", *lines[5:]])
    csv_case("short-rows", [lines[0], *(r.rsplit(",", 5)[0] for r in lines[1:])])
    csv_case("cr-line-ends", lines, "\r")
    csv_case("crlf-line-ends", lines, "\r\n")
    csv_case("nul-byte", [*lines[:3], lines[3].replace(",", ",\x00", 1), *lines[4:]])
    csv_case("tabs", [r.replace(",", "\t") for r in lines])
    csv_case("control-characters", [lines[0], lines[1].replace(",", ",\x01=\x02", 1), *lines[2:]])
    csv_case("wide-header", [",".join(f"c{i}" for i in range(1_000)), *lines[1:]])
    csv_case(
        "legit-multiline",
        [lines[0], 'A1,"a name\non two lines",hotel,,10,,2,0,0,,,,,南宁市', *lines[1:]],
    )

    # map content: impossible coordinates, odd GeoJSON
    gj = json.loads(base["parking.geojson"])
    far = json.loads(json.dumps(gj))
    far["features"][0]["geometry"] = {"type": "Point", "coordinates": [500.0, 22.8]}
    cases.append(Case("geojson-lon-500", {"p.geojson": json.dumps(far).encode()}, "p.geojson"))
    nulls = json.loads(json.dumps(gj))
    for f in nulls["features"][:3]:
        f["geometry"] = None
    cases.append(
        Case("geojson-null-geometries", {"p.geojson": json.dumps(nulls).encode()}, "p.geojson")
    )
    odd = json.loads(json.dumps(gj))
    odd["features"][1]["geometry"] = {"type": "Hexagon", "coordinates": [1, 2]}
    cases.append(
        Case("geojson-unknown-geometry", {"p.geojson": json.dumps(odd).encode()}, "p.geojson")
    )
    cases.append(
        Case(
            "geojson-features-not-list",
            {"p.geojson": b'{"type": "FeatureCollection", "features": 5}'},
            "p.geojson",
        )
    )
    cases.append(Case("geojson-not-geojson", {"p.geojson": b'{"hello": "world"}'}, "p.geojson"))
    cases.append(
        _single(
            "pois.csv",
            (pois + "\nfar,医院,,500,22.8\nbad,医院,,abc,xyz\n").encode(),
            "pois-lon-500",
        )
    )
    cases.append(
        _single(
            "pois.csv",
            "名称,WKT\nA,POINT(108.3 22.8)\nB,POLYGON((1 2, oops\n".encode(),
            "pois-bad-wkt",
        )
    )
    cases.append(
        Case(
            "gpkg-with-contexts",
            {"p.gpkg": _flip(base["parking.gpkg"], 8, 7), "c.zip": base["landuse.zip"]},
            "p.gpkg",
            ["c.zip"],
        )
    )
    return cases


def _write_shapefile(gdf) -> dict[str, bytes]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        gdf.to_file(Path(tmp) / "x.shp")
        return {ext: (Path(tmp) / f"x.{ext}").read_bytes() for ext in ("shp", "shx", "dbf", "prj")}


# ------------------------------------------------------------------ running the corpus


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> list[tuple[Case, Path]]:
    root = tmp_path_factory.mktemp("fuzz")
    out = []
    for k, case in enumerate(corpus()):
        folder = root / f"{k:03d}"
        folder.mkdir()
        for name, data in case.files.items():
            (folder / name).write_bytes(data)
        out.append((case, folder))
    return out


def _expected_records(case: Case, folder: Path) -> int | None:
    """Records in the file by a count independent of the reader: GDAL's feature count for a
    map layer, non-blank lines for a CSV without quotes (where a line is a record)."""
    import pyogrio

    from siting.geo.layers import _gdal_source

    path = folder / case.main
    suffix = path.suffix.lower()
    if suffix in {".csv", ".txt", ".tsv"}:
        try:
            text, _ = decode(path.read_bytes(), "x")
        except InputError:
            return None
        if '"' in text:
            return None
        sample = text[:65536]
        delimiter = "\t" if sample.count("\t") > sample.count(",") else ","
        lines = re.split(r"\r\n|\r|\n", text)
        if not lines[0].replace(delimiter, "").strip():
            return None
        return sum(1 for line in lines[1:] if line.replace(delimiter, ""))
    if case.output_suffix is None and suffix in {".xlsx", ".xlsm", ".json"}:
        return None  # the reader's own rows (checked against the answer by check_files)
    try:
        source, _ = _gdal_source(path, None, verify=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pyogrio.read_info(source, force_feature_count=True)["features"]
    except Exception:
        return None


def _run(case: Case, folder: Path, pack, geometry: list | None = None):
    options = LayerOptions(**case.options) if case.options else None
    try:
        answer, geoms = check_files(
            str(folder / case.main),
            [str(folder / c) for c in case.contexts],
            pack,
            as_of=AS_OF,
            options=options,
            output_suffix=case.output_suffix,
        )
    except InputError as exc:
        return "error", str(exc)
    if geometry is not None:
        geometry.append(geoms)
    return "ok", answer


def test_corpus_is_large_and_varied(cases):
    ids = [c.id for c, _ in cases]
    assert len(ids) >= 300 and len(set(ids)) == len(ids)
    for kind in ("truncate", "flip", "no-", "zip-", "xlsx-", "as.", "encoding", "huge", "deep"):
        assert sum(i.startswith(kind) for i in ids) >= 3, kind


@pytest.fixture(scope="module")
def outcomes(cases, cli_runs, pack, tmp_path_factory) -> dict[str, tuple[str, object]]:
    """Each file through `check_files`, once; the answers written as GeoJSON (a map), and
    as CSV and XLSX (the CSV and encoding cases, and a quarter of the rest): ("ok",
    results), ("error", message) or ("crash", exception). The tests below read it."""
    out = {}
    written = tmp_path_factory.mktemp("fuzz-out")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for case, folder in cases:
            try:
                geometry: list = []
                kind, got = _run(case, folder, pack, geometry)
                if kind == "ok":
                    if case.id.startswith(("csv-", "encoding-")) or int(folder.name) % 4 == 0:
                        render(got, "csv")  # ~25 ms each, and ~50 ms for an XLSX
                        write_answer(got, written / f"{folder.name}.xlsx")
                    if geometry[0] is not None:
                        render(got, "geojson", Output(geometry[0]))
                out[case.id] = (kind, got.results if kind == "ok" else got)
            except Exception as exc:  # the failure these tests exist for
                out[case.id] = ("crash", f"{type(exc).__name__}: {exc}")
    return out


def test_every_file_gives_results_or_an_input_error(cases, outcomes):
    crashes = {k: v for k, (kind, v) in outcomes.items() if kind == "crash"}
    assert not crashes
    for case, folder in cases:
        kind, got = outcomes[case.id]
        if kind == "error":
            assert got and not any(leak in got for leak in ("Traceback", "site-packages")), got
            continue
        expected = _expected_records(case, folder)
        if expected is not None:
            assert len(got) == expected, (case.id, len(got), expected)
        if case.output_suffix is None and Path(case.main).suffix in {".csv", ".xlsx", ".json"}:
            raw = read_sites(folder / case.main)
            assert len(got) == len(raw.frame), case.id
    # both outcomes are exercised, and the known breakages are errors
    kinds = [kind for kind, _ in outcomes.values()]
    assert kinds.count("ok") >= 60 and kinds.count("error") >= 120
    for case_id in (
        "no-shx",
        "shp-alone",
        "zip-bad-crc-landuse.dbf",
        "zip-damaged-landuse.shp",
        "xlsx-bomb",
        "zip-dbf-bomb",
        "deep-json-list",
        "json-5000-digits",
        "as.gpkg-sites.csv",
        "truncate-parking.geojson-9",
        "csv-quote-in-header",
    ):
        assert outcomes[case_id][0] == "error", case_id
    for case_id in ("csv-legit-multiline", "csv-open-quote-row-3", "zip-nested-dirs"):
        assert outcomes[case_id][0] == "ok", case_id
    # a stray quote never merges rows: each line is a row, the bad one invalid
    results = outcomes["csv-open-quote-row-3"][1]
    assert len(results) == 24 and results[2]["status"] == "invalid"
    assert "line 4 of the file: a quote" in results[2]["notes"][0]["message"]
    multi = outcomes["csv-legit-multiline"][1]
    assert len(multi) == 25 and multi[0]["status"] == "pass"
    far = outcomes["geojson-lon-500"][1]
    assert far[0]["status"] == "invalid" and "lon 500" in far[0]["notes"][0]["message"]


def _upload(client: TestClient, case: Case, folder: Path):
    files = [(n, (folder / n).read_bytes()) for n in case.files]
    params = {
        "as_of": AS_OF,
        **({"offset": case.options["offset"]} if "offset" in case.options else {}),
    }
    if case.output_suffix == ".geojson":
        params["format"] = "geojson"
    if case.main.endswith(".shp"):  # a shapefile travels as a zip of its files
        parts = [("file", ("landuse.zip", _zip(dict(files)), "application/zip"))]
    else:
        parts = [
            ("file", (case.main, (folder / case.main).read_bytes(), "application/octet-stream"))
        ]
        parts += [
            ("context", (c, (folder / c).read_bytes(), "application/octet-stream"))
            for c in case.contexts
        ]
    return client.post("/v1/checks/upload", params=params, files=parts)


def test_upload_endpoint_never_fails_or_leaks(cases, outcomes, tmp_path):
    settings = Settings(data_dir=tmp_path / "data", max_upload_bytes=40 << 20)
    app = create_app(settings, executor=ThreadPoolExecutor(2))
    with TestClient(app) as client, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for case, folder in cases:
            r = _upload(client, case, folder)
            assert r.status_code < 500, (case.id, r.status_code, r.text[:300])
            if r.status_code >= 400:
                assert r.headers["content-type"].startswith("application/problem+json"), case.id
                body = r.json()
                assert body["status"] == r.status_code and body["detail"], case.id
                assert not any(leak in r.text for leak in LEAKS), (case.id, r.text[:300])
            elif r.headers["content-type"].startswith("application/json"):
                kind, got = outcomes[case.id]
                if kind == "ok" and not case.main.endswith(".shp"):
                    assert len(r.json()["results"]) == len(got), case.id


@pytest.fixture(scope="module")
def cli_runs(cases, tmp_path_factory):
    """The real CLI, in subprocesses, on 20 files spread over the corpus, writing JSON, CSV
    or XLSX in turn. Started before the in-process runs (the `outcomes` fixture asks for
    this one first) and run one at a time in the background, so that they use the second
    core while this process works on the first; the test below waits for them."""
    step = max(1, len(cases) // 20)
    sample = cases[::step][:20]
    out_dir = tmp_path_factory.mktemp("fuzz-cli")

    def cli(item):
        case, folder = item
        out = out_dir / f"{folder.name}{('.json', '.csv', '.xlsx')[int(folder.name) % 3]}"
        argv = [sys.executable, "-m", "siting.cli", "check", str(folder / case.main)]
        argv += ["--as-of", AS_OF]
        if case.output_suffix:
            out = out.with_suffix(case.output_suffix)
        if case.options.get("offset"):
            argv += ["--offset", case.options["offset"]]
        for c in case.contexts:
            argv += ["--context", str(folder / c)]
        done = subprocess.run([*argv, "-o", str(out)], capture_output=True, text=True, timeout=300)
        return case, done

    pool = ThreadPoolExecutor(1)
    runs = [pool.submit(cli, item) for item in sample]
    yield runs
    pool.shutdown(wait=True, cancel_futures=True)


def test_cli_exit_codes_on_a_sample(cli_runs):
    """Exit 0 or 2, never a traceback; exit 2 with the message."""
    codes = set()
    for run in cli_runs:
        case, done = run.result()
        assert done.returncode in (0, 2), (case.id, done.returncode, done.stderr[-2000:])
        assert "Traceback" not in done.stderr, (case.id, done.stderr[-2000:])
        if done.returncode == 2:
            assert done.stderr.startswith("error: "), (case.id, done.stderr)
        codes.add(done.returncode)
    assert codes == {0, 2}
