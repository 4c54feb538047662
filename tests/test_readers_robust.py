"""Broken files, one kind at a time: each reader ends in an `InputError` kind naming the file
and the problem (exit 2, a 4xx over HTTP), a CSV never loses a row, archives are checked
before they are expanded, impossible coordinates are reported per feature, and spreadsheet
outputs never carry a live formula."""

from __future__ import annotations

import csv
import io
import json
import pickle
import re
import shutil
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook

from siting import check_records
from siting.cli import main
from siting.errors import (
    BrokenFile,
    InputError,
    InputNotFound,
    InputTooLarge,
    InvalidOption,
    UnsupportedFormat,
)
from siting.formats import render, write_answer
from siting.geo.layers import read_layer
from siting.io.limits import ExpansionLimits
from siting.io.tabular import read_sites
from siting.io.writers import neutralise
from siting.run import check_files
from siting_api.app import create_app
from siting_api.problems import input_status
from siting_api.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_sites"
AS_OF = "2024-06-30"
HEADER = "id,category,parking_spaces,charging_spaces,reserved_spaces"


def _ten_rows() -> list[str]:
    return [HEADER] + [f"S{i},hotel,{10 * i},{2 * i},0" for i in range(1, 11)]


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _shapefile(folder: Path, name: str = "landuse") -> Path:
    for ext in ("shp", "shx", "dbf", "prj"):
        shutil.copy(SAMPLES / f"landuse.{ext}", folder / f"{name}.{ext}")
    return folder / f"{name}.shp"


# ------------------------------------------------------------------ error kinds


def test_error_kinds_carry_no_http_and_the_api_maps_them():
    for path in (ROOT / "siting").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "status_code" not in text, path
        assert not re.search(r"\b(HTTP \d{3}|404|413|415|422)\b", text), path
    assert [
        input_status(k("x"))
        for k in (InputNotFound, InputTooLarge, UnsupportedFormat, BrokenFile, InvalidOption)
    ] == [404, 413, 415, 422, 422]
    assert input_status(InputError("x")) == 422
    for kind in (InputNotFound, InputTooLarge, UnsupportedFormat, BrokenFile, InvalidOption):
        assert issubclass(kind, InputError)
        again = pickle.loads(pickle.dumps(kind("f.csv: broken")))  # crosses the process pool
        assert type(again) is kind and str(again) == "f.csv: broken"


def test_cli_exits_2_for_every_kind(tmp_path, capsys):
    bad_gpkg = tmp_path / "lots.gpkg"
    bad_gpkg.write_bytes(b"this is not sqlite" * 20)
    cases = {
        str(tmp_path / "missing.csv"): "missing.csv: file not found",
        str(bad_gpkg): "lots.gpkg: not a readable map file",
        str(_write(tmp_path / "x.docx", "x")): "unsupported file type .docx",
    }
    for arg, message in cases.items():
        assert main(["check", arg]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and "Traceback" not in err


# ------------------------------------------------------------------ map readers


def test_geopackage_that_is_not_sqlite(tmp_path):
    path = tmp_path / "lots.gpkg"
    path.write_bytes(b"\x00\x01garbage" * 100)
    with pytest.raises(BrokenFile, match=r"lots.gpkg: not a readable map file"):
        read_layer(str(path))
    path.write_bytes((SAMPLES / "sites.csv").read_bytes())
    with pytest.raises(BrokenFile, match=r"lots.gpkg: not a readable map file"):
        read_layer(str(path))
    path.write_bytes((SAMPLES / "parking.gpkg").read_bytes()[:40_000])
    with pytest.raises(BrokenFile, match=r"lots.gpkg: .*damaged or cut short"):
        read_layer(str(path))


def test_shapefile_missing_or_mismatched_parts(tmp_path):
    shp = _shapefile(tmp_path)
    (tmp_path / "landuse.shx").unlink()
    with pytest.raises(BrokenFile, match=r"landuse.shp: the shapefile's .shx is missing"):
        read_layer(str(shp))
    shp = _shapefile(tmp_path)
    (tmp_path / "landuse.dbf").unlink()
    with pytest.raises(BrokenFile, match=r"\.dbf is missing"):
        read_layer(str(shp))
    # a .dbf of another shapefile: GDAL would read the shorter and drop the rest, silently
    shp = _shapefile(tmp_path)
    other = gpd.GeoDataFrame({"a": [1, 2]}, geometry=gpd.points_from_xy([0, 1], [0, 1]), crs=4490)
    other.to_file(tmp_path / "other.shp")
    shutil.copy(tmp_path / "other.dbf", tmp_path / "landuse.dbf")
    with pytest.raises(BrokenFile, match=r"\.dbf holds 2 records but the \.shx indexes 25"):
        read_layer(str(shp))
    # a .shp cut short
    shp = _shapefile(tmp_path)
    data = (SAMPLES / "landuse.shp").read_bytes()
    shp.write_bytes(data[: len(data) // 2])
    with pytest.raises(BrokenFile, match=r"the \.shp is cut short"):
        read_layer(str(shp))


def test_truncated_geojson_is_a_broken_file_not_a_type_error(tmp_path):
    lots = gpd.read_file(SAMPLES / "parking.gpkg").to_crs(4326)
    text = lots.to_json(drop_id=True)
    path = _write(tmp_path / "lots.geojson", text[: len(text) // 2])
    with pytest.raises(BrokenFile, match=r"lots.geojson: not a readable map file"):
        read_layer(str(path))


def _zip(members: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _landuse_members() -> dict[str, bytes]:
    return {
        f"landuse.{e}": (SAMPLES / f"landuse.{e}").read_bytes()
        for e in ("shp", "shx", "dbf", "prj")
    }


def test_damaged_zip_members(tmp_path):
    members = _landuse_members()
    # bad CRC: a stored member changed after its checksum was written
    raw = bytearray(_zip(members, zipfile.ZIP_STORED))
    dbf = members["landuse.dbf"]
    raw[raw.find(dbf[:64]) + len(dbf) // 2] ^= 0xFF
    path = tmp_path / "crc.zip"
    path.write_bytes(bytes(raw))
    with pytest.raises(
        BrokenFile, match=r"crc.zip: a damaged zip file \(Bad CRC-32 for file 'landuse.dbf'\)"
    ):
        read_layer(str(path))
    # a damaged deflate stream (zlib.error)
    raw = bytearray(_zip(members))
    with zipfile.ZipFile(io.BytesIO(bytes(raw))) as zf:
        info = zf.getinfo("landuse.shp")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    raw[start + 5 : start + 40] = b"\xff" * 35
    path.write_bytes(bytes(raw))
    with pytest.raises(BrokenFile, match=r"crc.zip: a damaged zip file"):
        read_layer(str(path))
    # cut short: no zip directory
    whole = _zip(members)
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(BrokenFile, match="damaged zip"):
        read_layer(str(path))
    # nested folders are fine
    path.write_bytes(_zip({f"a/b/{k}": v for k, v in members.items()}))
    assert len(read_layer(str(path)).frame) == 25


# ------------------------------------------------------------------ CSV: no lost row


def test_unclosed_quote_on_row_3_of_10_keeps_every_row(tmp_path, capsys):
    lines = _ten_rows()
    lines[3] = lines[3].replace(",", ',"', 1)  # S3,"hotel,30,6,0 - the quote never closes
    path = _write(tmp_path / "sites.csv", "\n".join(lines) + "\n")
    raw = read_sites(path)
    assert len(raw.frame) == 10 and list(raw.frame["id"]) == [f"S{i}" for i in range(1, 11)]
    assert list(raw.errors) == [2]
    assert 'line 4 of the file: a quote (") is opened and not closed' in raw.errors[2][0]
    assert "runs on to line 11" in raw.errors[2][0]
    out = tmp_path / "out.json"
    assert main(["check", str(path), "--as-of", AS_OF, "-o", str(out)]) == 0
    results = json.loads(out.read_text(encoding="utf-8"))["results"]
    assert len(results) == 10 and [r["id"] for r in results][3:] == [f"S{i}" for i in range(4, 11)]
    assert results[2]["status"] == "invalid"
    assert all(r["status"] != "invalid" for k, r in enumerate(results) if k != 2)


def test_stray_quotes_that_close_each_other(tmp_path):
    lines = _ten_rows()
    lines[3] = lines[3].replace(",", ',"', 1)
    lines[4] = lines[4].replace(",", ',"', 1)  # closes the one on line 4
    raw = read_sites(_write(tmp_path / "s.csv", "\n".join(lines)))
    assert len(raw.frame) == 10 and sorted(raw.errors) == [2, 3]
    assert "closes the one left open on line 4" in raw.errors[3][0]


def test_a_quote_at_the_end_of_a_line_and_a_quote_in_the_header(tmp_path):
    lines = _ten_rows()
    lines[6] += ',"note'
    raw = read_sites(_write(tmp_path / "s.csv", "\n".join(lines)))
    assert len(raw.frame) == 10 and list(raw.errors) == [5]
    lines = _ten_rows()
    lines[0] = lines[0].replace(",", ',"', 1)
    with pytest.raises(BrokenFile, match=r"s.csv: line 1 \(the header\): a quote"):
        read_sites(_write(tmp_path / "s.csv", "\n".join(lines)))


def test_a_stray_quote_closed_inside_a_later_value(tmp_path):
    """The record it makes has more fields than the header: each line is a row again, and
    a line broken in two by a stray line break stays two rows, not a merged one."""
    lines = _ten_rows()
    lines[3] = lines[3].replace(",", ',"', 1)  # S3,"hotel,...
    lines[6] = lines[6].replace("hotel", 'ho"tel')  # S6,ho"tel,...: closes the S3 quote
    lines[5:6] = ["S5,hotel", "50,10,0"]  # a line break inside S5
    raw = read_sites(_write(tmp_path / "s.csv", "\n".join(lines)))
    assert len(raw.frame) == 11 and sorted(raw.errors) == [2, 6]
    assert "line 4 of the file: a quote" in raw.errors[2][0]
    assert "closes the one left open on line 4" in raw.errors[6][0]


def test_blank_lines_before_the_header(tmp_path):
    lines = _ten_rows()
    lines[3] = lines[3].replace(",", ',"', 1)
    raw = read_sites(_write(tmp_path / "s.csv", "\n,,\n" + "\n".join(lines)))
    assert list(raw.frame.columns) == HEADER.split(",") and len(raw.frame) == 10
    assert list(raw.row_numbers[:3]) == [4, 5, 6]  # the file's own line numbers
    assert "line 6 of the file: a quote" in raw.errors[2][0]


def test_quoted_values_over_several_lines_are_still_one_value(tmp_path):
    lines = _ten_rows()
    lines[0] += ",remark"
    lines[1:] = [line + "," for line in lines[1:]]
    lines[2] += '"first line\nsecond line, with a comma"'
    lines[5] += '"a\nb\nc"'
    raw = read_sites(_write(tmp_path / "s.csv", "\n".join(lines) + "\n"))
    assert len(raw.frame) == 10 and not raw.errors
    assert raw.frame["remark"][1] == "first line\nsecond line, with a comma"


def test_a_first_row_longer_than_the_header_is_not_shifted(tmp_path):
    lines = _ten_rows()
    lines[1] += ",extra"  # pandas would make the first column the index and shift the rest
    raw = read_sites(_write(tmp_path / "s.csv", "\n".join(lines)))
    assert list(raw.frame["id"][:2]) == ["S1", "S2"] and raw.frame["parking_spaces"][0] == "10"
    assert list(raw.errors) == [0] and "extra values ['extra']" in raw.errors[0][0]


def test_a_file_cut_in_its_last_row(tmp_path):
    text = "\n".join(_ten_rows())
    raw = read_sites(_write(tmp_path / "s.csv", text[: text.rfind(",") - 3]))
    assert len(raw.frame) == 10 and list(raw.errors) == [9]
    assert "cut short" in raw.errors[9][0]
    assert not read_sites(_write(tmp_path / "s.csv", text)).errors  # no final newline: fine


def test_text_encodings(tmp_path):
    text = "\n".join(_ten_rows()).replace("hotel", "宾馆")
    excel_unicode = text.replace(",", "\t").encode("utf-16")  # Excel's "Unicode Text"
    raw = read_sites(_bytes(tmp_path / "u.txt", excel_unicode))
    assert len(raw.frame) == 10 and raw.frame["category"][0] == "宾馆" and raw.encoding == "utf-16"
    data = bytearray(text.encode("utf-8"))
    data[text.encode("utf-8").find("宾".encode()) + 1] = 0x41  # one damaged byte
    with pytest.raises(BrokenFile, match=r"line 2, byte \d+ is not valid UTF-8 though the rest is"):
        read_sites(_bytes(tmp_path / "d.csv", bytes(data)))
    with pytest.raises(BrokenFile, match="not a text file: a NUL byte at line 1"):
        read_sites(_bytes(tmp_path / "n.csv", b"id,\x00category\nA,hotel\n"))
    with pytest.raises(BrokenFile, match="not a text file: it is an SQLite database"):
        read_sites(_bytes(tmp_path / "g.csv", (SAMPLES / "parking.gpkg").read_bytes()))


def _bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_json_too_deep_or_too_long(tmp_path):
    with pytest.raises(BrokenFile, match="nested too deeply"):
        read_sites(_write(tmp_path / "d.json", "[" * 10_000 + "]" * 10_000))
    deep = "[" * 500 + "]" * 500  # parses, but nothing may recurse into it
    with pytest.raises(BrokenFile, match="nested deeper than 64 levels"):
        read_sites(_write(tmp_path / "d.json", '[{"id": "a", "category": ' + deep + "}]"))
    # JSON text in a cell (a charger schedule): the row is invalid, the others are checked
    lines = _ten_rows()
    lines[0] += ",chargers"
    lines[1:] = [line + "," for line in lines[1:]]
    lines[2] += '"' + "[" * 3000 + "]" * 3000 + '"'
    out = tmp_path / "o.json"
    assert main(["check", str(_write(tmp_path / "c.csv", "\n".join(lines))), "-o", str(out)]) == 0
    results = json.loads(out.read_text(encoding="utf-8"))["results"]
    assert len(results) == 10 and results[1]["status"] == "invalid"
    assert "chargers: JSON nested deeper than 64 levels" in results[1]["notes"][0]["message"]
    with pytest.raises(BrokenFile, match="a number too long"):
        read_sites(
            _write(tmp_path / "n.json", '[{"id": "a", "parking_spaces": ' + "9" * 5000 + "}]")
        )


# ------------------------------------------------------------------ expansion before parsing


def _workbook(rows: list[list]) -> bytes:
    wb = Workbook()
    for row in rows:
        wb.active.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_an_xlsx_that_expands_to_400_mb_is_refused_before_parsing(tmp_path):
    small = _workbook([["id", "category", "parking_spaces"], ["A", "hotel", 10]])
    with zipfile.ZipFile(io.BytesIO(small)) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    sheet = members["xl/worksheets/sheet1.xml"]
    head, tail = sheet.split(b"<sheetData>")
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out:
        for name, data in members.items():
            if name != "xl/worksheets/sheet1.xml":
                out.writestr(name, data)
        with out.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as f:
            f.write(head + b"<sheetData>")
            spaces = b" " * (1 << 20)
            for _ in range(400):  # 400 MB of whitespace: valid XML, and ~0.4 MB packed
                f.write(spaces)
            f.write(tail)
    assert path.stat().st_size < 1_000_000
    with pytest.raises(InputTooLarge, match=r"bomb.xlsx: the .xlsx workbook expands [\d,]+ times"):
        read_sites(path)
    # the limit is one place, and a caller may pass its own
    plain = _bytes(tmp_path / "plain.xlsx", small)
    assert len(read_sites(plain).frame) == 1
    with pytest.raises(InputTooLarge, match="at most 1,000 bytes is read"):
        read_sites(plain, limits=ExpansionLimits(max_expanded_bytes=1000))
    with pytest.raises(InputTooLarge):
        check_files(str(plain), [], _pack(), limits=ExpansionLimits(max_expanded_bytes=1000))


def _pack():
    from siting import load_ruleset

    return load_ruleset("guangxi-2021-2025")


def test_dbf_expansion_is_checked_before_parsing(tmp_path):
    shp = _shapefile(tmp_path)
    tight = ExpansionLimits(max_expanded_bytes=5_000)
    with pytest.raises(InputTooLarge, match=r"landuse.shp: the .dbf declares 25 records of"):
        read_layer(str(shp), limits=tight)
    with pytest.raises(InputTooLarge, match=r"the \.dbf declares"):
        check_files(str(shp), [], _pack(), limits=tight)
    # a zipped shapefile whose .dbf holds 70 MB of padding: refused from the zip directory
    members = _landuse_members()
    members["landuse.dbf"] += b" " * (70 << 20)
    path = _bytes(tmp_path / "big.zip", _zip(members))
    with pytest.raises(InputTooLarge, match=r"big.zip: the zip expands [\d,]+ times"):
        read_layer(str(path))


# ------------------------------------------------------------------ coordinates


def _lots(tmp_path: Path, xy: list[tuple[float, float]], crs: str, name: str) -> Path:
    gdf = gpd.GeoDataFrame(
        {
            "id": [f"L{i}" for i in range(len(xy))],
            "category": "hotel",
            "parking_spaces": 10,
            "charging_spaces": 2,
            "reserved_spaces": 0,
        },
        geometry=[shapely.Point(x, y) for x, y in xy],
        crs=crs,
    )
    path = tmp_path / f"{name}.gpkg"
    gdf.to_file(path)
    return path


def test_impossible_longitude_makes_the_feature_invalid(tmp_path):
    path = _lots(tmp_path, [(108.3, 22.8), (500.0, 22.8), (108.4, -95.0)], "EPSG:4490", "geo")
    answer, _ = check_files(str(path), [], _pack(), as_of=AS_OF)
    statuses = [r["status"] for r in answer.results]
    assert len(statuses) == 3 and statuses[0] == "pass" and statuses[1:] == ["invalid", "invalid"]
    message = answer.results[1]["notes"][0]["message"]
    assert "coordinates lon 500, lat 22.8 are impossible in EPSG:4490" in message
    assert "lat -95" in answer.results[2]["notes"][0]["message"]


def test_coordinates_outside_the_crs_area_of_use_are_a_warning(tmp_path):
    # Gauss-Kruger CM 108E: Nanning is near easting 500 km; 36,500 km is another zone's
    # prefixed easting, 2,900 km is far outside the zone, 1e12 is nowhere
    xy = [(533_000.0, 2_524_000.0), (36_533_000.0, 2_524_000.0), (2_900_000.0, 2_524_000.0)]
    xy.append((1e12, 2_524_000.0))
    path = _lots(tmp_path, xy, "EPSG:4545", "gk")
    layer = read_layer(str(path))
    assert 0 not in layer.notes and 0 not in layer.errors
    assert (
        2 in layer.notes
        and "x 2900000, y 2524000 are outside the area of use of EPSG:4545" in layer.notes[2][0]
    )
    assert sorted(layer.errors) == [1, 3]
    assert "zone number (36) in front" in layer.errors[1][0] and "EPSG:4524" in layer.errors[1][0]
    assert "impossible" in layer.errors[3][0] and layer.frame.geometry[3] is None
    answer, _ = check_files(str(path), [], _pack(), as_of=AS_OF)
    assert answer.results[0]["status"] == "pass"
    assert answer.results[3]["status"] == "invalid"
    notes = [n["message"] for n in answer.results[2]["notes"]]
    assert any("outside the area of use" in m for m in notes)


def test_gcj02_points_outside_china_are_a_warning(tmp_path):
    path = _write(
        tmp_path / "pois.csv",
        "id,category,parking_spaces,charging_spaces,reserved_spaces,lon,lat\n"
        "P1,hotel,10,2,0,108.3,22.8\nP2,hotel,10,2,0,2.35,48.85\n",
    )
    layer = read_layer(str(path), offset="gcj02")
    assert list(layer.notes) == [1] and "GCJ-02 / BD-09 (China)" in layer.notes[1][0]


# ------------------------------------------------------------------ formula neutralisation


RISKY = ["=1+1", "@SUM(A1:A2)", "+86 771 1234567", "-1+2", "=cmd|' /C calc'!A0"]


def _risky_answer():
    sites = [
        {
            "id": v,
            "category": "hotel",
            "parking_spaces": 10,
            "charging_spaces": 2,
            "note": v,
            "tabbed": "\t" + v,
            "score": -5,
        }
        for v in RISKY
    ]
    sites.append(
        {
            "id": "-3",
            "category": "hotel",
            "parking_spaces": 10,
            "charging_spaces": 2,
            "note": "-3",
            "score": -5,
        }
    )
    sites.append(
        {
            "id": "ok",
            "category": "hotel",
            "parking_spaces": 10,
            "charging_spaces": 2,
            "note": "plain",
            "=bad column": "x",
        }
    )
    return check_records(sites, _pack(), as_of=AS_OF)


def test_csv_output_neutralises_formulas(tmp_path):
    answer = _risky_answer()
    out = write_answer(answer, tmp_path / "r.csv")
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert [r["id"] for r in rows][: len(RISKY)] == ["'" + v for v in RISKY]
    assert [r["note"] for r in rows][: len(RISKY)] == ["'" + v for v in RISKY]
    assert [r["tabbed"] for r in rows][: len(RISKY)] == ["'\t" + v for v in RISKY]
    assert rows[len(RISKY)]["id"] == "-3" and rows[len(RISKY)]["note"] == "-3"  # a number
    assert rows[0]["score"] in ("-5", "-5.0") and rows[0]["parking_spaces"] == "10"
    assert "'=bad column" in rows[0]
    data, _ = render(answer, "csv")  # the API's CSV
    assert data.decode("utf-8-sig") == out.read_text(encoding="utf-8-sig").replace("\r\n", "\n")


def test_xlsx_output_has_no_formula_and_keeps_numbers(tmp_path):
    out = write_answer(_risky_answer(), tmp_path / "r.xlsx")
    wb = load_workbook(out)
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
    ws = wb["results"]
    header = [c.value for c in ws[1]]
    ids = [ws.cell(row=r, column=header.index("id") + 1).value for r in range(2, ws.max_row + 1)]
    assert ids[: len(RISKY)] == ["'" + v for v in RISKY] and ids[len(RISKY)] == "-3"
    score = ws.cell(row=2, column=header.index("score") + 1)
    assert score.value == -5 and score.data_type == "n"
    spaces = ws.cell(row=2, column=header.index("parking_spaces") + 1)
    assert spaces.value == 10 and spaces.data_type == "n"
    assert "'=bad column" in header


def test_xlsx_output_takes_control_characters(tmp_path, capsys):
    path = tmp_path / "c.csv"
    path.write_bytes(b"id,category,parking_spaces,name\nA\x01,hotel,10,x\x02y\n")
    out = tmp_path / "c.xlsx"
    assert main(["check", str(path), "--as-of", AS_OF, "-o", str(out)]) == 0
    ws = load_workbook(out)["results"]
    values = [c.value for c in ws[2]]
    assert "A\ufffd" in values and "x\ufffdy" in values


def test_neutralise_is_column_wise_and_leaves_numbers():
    import pandas as pd

    frame = pd.DataFrame(
        {"a": ["=x", "y", None, 3], "n": [-1, 2, 3, 4], "s": ["-1.5", "+2", "-", "@"]}
    )
    out = neutralise(frame)
    assert list(out["a"]) == ["'=x", "y", None, 3]
    assert list(out["n"]) == [-1, 2, 3, 4] and out["n"].dtype == np.int64
    assert list(out["s"]) == ["-1.5", "+2", "'-", "'@"]
    assert list(frame["a"]) == ["=x", "y", None, 3]  # the input is not changed


# ------------------------------------------------------------------ over HTTP


def test_upload_statuses_by_kind(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", max_upload_bytes=20_000_000)
    with TestClient(create_app(settings, executor=ThreadPoolExecutor(1))) as client:

        def post(name: str, data: bytes, **params):
            return client.post("/v1/checks/upload", params=params, files={"file": (name, data)})

        r = post("lots.gpkg", b"not sqlite at all" * 50)
        assert r.status_code == 422 and "lots.gpkg: not a readable map file" in r.json()["detail"]
        bomb = _zip({"xl/worksheets/sheet1.xml": b" " * (70 << 20)})
        r = post("big.xlsx", bomb)
        assert r.status_code == 413 and "expands" in r.json()["detail"]
        r = post("s.csv", "\n".join(_ten_rows()).replace(",", ',"', 1).encode())
        assert r.status_code == 422 and "line 1 (the header)" in r.json()["detail"]
        lines = _ten_rows()
        lines[3] = lines[3].replace(",", ',"', 1)
        r = post("s.csv", "\n".join(lines).encode(), as_of=AS_OF)
        assert r.status_code == 200 and len(r.json()["results"]) == 10
        for body in (r.text for r in [post("lots.gpkg", b"x" * 100)]):
            assert "/tmp/" not in body and "Traceback" not in body


def test_a_place_fact_column_that_is_entirely_empty(tmp_path):
    """A parking layer with an a_rating column of NULLs only (a .dbf cut short reads so)."""
    lots = gpd.read_file(SAMPLES / "parking.gpkg")
    lots["a_rating"] = None
    lots["a_rating"] = lots["a_rating"].astype(object)
    path = tmp_path / "lots.gpkg"
    lots.to_file(path)
    answer, _ = check_files(str(path), [str(SAMPLES / "landuse.shp")], _pack(), as_of=AS_OF)
    assert len(answer.results) == len(lots)


# --- a large UTF-8 CSV read from its bytes (siting.io.tabular._read_utf8_direct) ----------

_DIRECT_HEADER = "id,category,parking_spaces,charging_spaces,note"


def _direct_rows(n: int = 3_000) -> list[str]:
    return [f"S{k},hospital,{100 + k},{k % 40},备注{k}" for k in range(n)]


def _direct_variants() -> dict[str, tuple[bytes, bool]]:
    """name -> (file bytes, whether the bytes path may read it): files as people make them,
    regular and not."""
    rows, head = _direct_rows(), _DIRECT_HEADER
    plain = "\n".join([head, *rows]) + "\n"
    quoted = [f'S{k},"hospital","a, b ""c""",{k},x' for k in range(3_000)]
    out = {
        "plain": (plain.encode(), True),
        "bom": (b"\xef\xbb\xbf" + plain.encode(), True),
        "quotes and commas": (("\n".join([head, *quoted]) + "\n").encode(), True),
        "tabs": (plain.replace(",", "\t").encode(), True),
        "json cells": (
            ("\n".join([head, *rows, 'S9999,hospital,1,1,"' + "[" * 300 + '"']) + "\n").encode(),
            True,
        ),
        "totals row": (("\n".join([head, *rows, "合计,,9,9,"]) + "\n").encode(), True),
        "unnamed empty column": (
            ("\n".join([head + ",", *(r + "," for r in rows)]) + "\n").encode(),
            False,  # a blank header name: pandas reads it
        ),
        "a line break in a value": (
            (
                "\n".join([head, *rows[:5], 'S8888,hospital,1,1,"two\nlines"', *rows[5:]]) + "\n"
            ).encode(),
            False,
        ),
        "runaway quote": (
            ("\n".join([head, *rows[:9], 'S7777,"hospital,1,1,x', *rows[9:]]) + "\n").encode(),
            False,
        ),
        "crlf": (plain.replace("\n", "\r\n").encode(), False),
        "title": (("2024年配建表,,,,\n" + plain).encode(), False),
        "blank line above": (("\n" + plain).encode(), False),
        "blank line inside": (plain.replace(rows[50] + "\n", rows[50] + "\n\n").encode(), True),
        "blank lines at the end": ((plain + "\n\n").encode(), True),
        "quoted, blank line at the end": (("\n".join([head, *quoted]) + "\n\n").encode(), True),
        "no line break at the end": (plain.rstrip("\n").encode(), False),
        "cut in the last row": ((plain + "S9,hosp").encode(), False),
        "ragged row": (plain.replace(rows[70], rows[70] + ",extra").encode(), False),
        "gbk": (plain.encode("gb18030"), False),
        "a bad byte": (plain.encode().replace("备注77".encode(), b"\xff\xfe77"), False),
    }
    return out


@pytest.mark.parametrize("name", list(_direct_variants()))
def test_large_utf8_csv_read_from_its_bytes_as_from_its_text(name, monkeypatch):
    from siting.io import tabular
    from siting.io.tabular import read_csv

    data, direct = _direct_variants()[name]
    assert len(data) > tabular.ARROW_CSV_MIN

    def read(min_size: int):
        monkeypatch.setattr(tabular, "UTF8_DIRECT_MIN", min_size)
        used = []
        real = tabular._read_utf8_direct

        def spy(*args):
            result = real(*args)
            used.append(result is not None)
            return result

        monkeypatch.setattr(tabular, "_read_utf8_direct", spy)
        try:
            return read_csv(data, "sites.csv", find=True), used
        except InputError as exc:
            return f"{type(exc).__name__}: {exc}", used
        finally:
            monkeypatch.setattr(tabular, "_read_utf8_direct", real)

    by_bytes, used = read(1)
    by_text, _ = read(1 << 40)
    assert used == [direct]
    if isinstance(by_text, str):
        assert by_bytes == by_text
        return
    assert by_bytes.frame.equals(by_text.frame)
    assert list(by_bytes.frame.columns) == list(by_text.frame.columns)
    assert list(by_bytes.frame.dtypes) == list(by_text.frame.dtypes)
    assert np.array_equal(by_bytes.row_numbers, by_text.row_numbers)
    for attr in ("errors", "encoding", "header_row", "title", "notes", "blank_rows", "row_kind"):
        assert getattr(by_bytes, attr) == getattr(by_text, attr), attr


HEAD = "id,category,parking_spaces,charging_spaces,name\n"


@pytest.mark.parametrize("direct", [False, True])
@pytest.mark.parametrize(
    "ending, flagged",
    [
        ('B,hospital,100,20,"y\n', True),  # the quote runs to the end, line break and all
        ('B,hospital,100,20,"y', True),  # ... with no line break after it
        ('B,hospital,100,20,"a""b\n', True),  # a doubled quote inside does not close it
        ('B,hospital,100,20,"y\n"\n', False),  # closed: a value that ends with a line break
        ('B,hospital,100,20,"y"\n', False),
        ('B,hospital,100,20,5" pipe\n', False),  # a quote inside a value is a character
    ],
)
def test_a_quote_left_open_at_the_end_of_the_file_is_named(
    tmp_path, monkeypatch, direct, ending, flagged
):
    """A quote opened in the last field of the last row and never closed used to be
    read as the rest of the file (a line break in the value), the row checked as if
    whole: now the row is invalid, naming the line, by both CSV readers."""
    from siting.io import tabular

    if direct:  # a large plain UTF-8 file is read by Arrow from its bytes
        monkeypatch.setattr(tabular, "UTF8_DIRECT_MIN", 1)
    rows = "".join(f"A{k},hospital,100,20,x\n" for k in range(4_000))  # 100 KB: Arrow reads it
    path = _write(tmp_path / "s.csv", HEAD + rows + ending)
    raw = read_sites(path)
    assert len(raw.frame) == 4_001  # no row lost either way
    said = raw.errors.get(4_000, [])
    if flagged:
        assert (
            said and f'line {4_002} of the file: a quote (") is opened and never closed' in said[0]
        )
    else:
        assert not said and 4_000 not in raw.errors
    assert not any(k < 4_000 for k in raw.errors)
