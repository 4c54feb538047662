"""The HTML report without a browser: what the page holds, its escaping, its options, the
geometry encoding and the CLI / writer wiring (tests/test_report_browser.py opens it)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import shapely

from siting import check_records
from siting.cli import main
from siting.errors import InvalidOption
from siting.formats import Output, write_answer
from siting.report_html import check_basemap, render_html
from siting.report_html.render import _geojson_texts, strings
from siting.request import CheckOptions

SITES = [
    {"id": "S1", "category": "医院", "parking_spaces": 333, "charging_spaces": 66, "city": "南宁"},
    {"id": "S2", "category": "宾馆", "parking_spaces": 100, "charging_spaces": 20, "city": "柳州"},
    {"id": "S3", "category": "nonsense", "parking_spaces": 10},
]


def _data(text: str) -> dict:
    m = re.search(r'<script type="application/json" id="siting-data">(.*?)</script>', text, re.S)
    return json.loads(m.group(1))


@pytest.fixture(scope="module")
def answer(pack):
    return check_records(SITES, pack, as_of="2024-06-30")


def test_site_list_report_holds_every_part(answer):
    text = render_html(answer, "en")
    for hook in ('id="summary"', 'id="charts"', 'id="sites"', 'id="sites-filter"', "<svg"):
        assert hook in text
    assert '<div id="map"' not in text and "@preserve" not in text  # no map, no map library
    assert 'id="chart-city"' in text  # cities are known
    data = _data(text)
    assert data["columns"]["id"] == ["S1", "S2", "S3"]
    statuses = data["columns"]["status"]
    assert [statuses["labels"][k] for k in statuses["codes"]] == [
        r["status"] for r in answer.results
    ]
    receipt = answer.receipt
    for value in (receipt["decision_id"], receipt["input_sha256"], receipt["as_of"]):
        assert value in text
    assert f'data-total-shortfall="{answer.summary["total_shortfall"]}"' in text
    assert '<link rel="icon" href="data:image/svg+xml;base64,' in text


def test_chinese_labels(answer):
    text = render_html(answer, "zh")
    assert '<html lang="zh-CN">' in text
    assert "充电车位配置合规检查报告" in text and "不达标" in text and "医院" in text
    assert answer.pack.title_zh in text
    assert set(strings()["zh"]) == set(strings()["en"])  # one catalogue, both languages


def test_options_are_checked(answer):
    with pytest.raises(InvalidOption, match="lang"):
        render_html(answer, "fr")
    for bad in ("tiles.example.org/{z}/{x}/{y}.png", "https://t.example.org/tile.png", "x"):
        with pytest.raises(InvalidOption, match="basemap"):
            check_basemap(bad)
    url = "https://{s}.tile.example.org/{z}/{x}/{y}.png"
    assert check_basemap(url) == url


def test_a_basemap_is_the_only_url_and_the_page_allows_only_its_host(answer):
    from siting.report_html.render import _csp_origin

    assert _csp_origin("https://{s}.tile.example.org/{z}/{x}/{y}.png") == (
        "https://*.tile.example.org"
    )
    plain = render_html(answer, "en")
    assert "default-src 'none'" in plain and 'img-src data: "' in plain


def test_text_from_the_input_cannot_break_out(pack):
    evil = "</script><script>alert(1)</script><img src=x onerror=alert(2)>"
    answer = check_records(
        [{"id": evil, "name": evil, "category": evil, "parking_spaces": 1}], pack
    )
    text = render_html(answer, "en")
    assert "<script>alert" not in text and "<img src=x" not in text
    assert _data(text)["columns"]["id"] == [evil]  # the same text, escaped


def test_empty_answer(pack):
    text = render_html(check_records([], pack), "en")
    assert _data(text)["columns"]["id"] == []


def test_geometry_encoding():
    wkts = [
        "POINT (1 2)",
        "MULTIPOINT ((1 2), (3 4))",
        "POLYGON ((0 0, 1 0, 1 1, 0 0), (0.1 0.1, 0.2 0.1, 0.2 0.2, 0.1 0.1))",
        "MULTIPOLYGON (((0 0, 1 0, 1 1, 0 0)), ((-5 -5, -4 -5, -4 -4, -5 -5)))",
        "LINESTRING (1.123456789 2, 3 4)",
        "GEOMETRYCOLLECTION (POINT (1 2), POLYGON ((0 0, 1 0, 1 1, 0 0)))",
        "POINT Z (1 2 3)",
        "POLYGON EMPTY",
    ]
    geoms = np.array([shapely.from_wkt(w) for w in wkts] + [None], dtype=object)
    got = [json.loads(t) for t in _geojson_texts(geoms)]
    assert got == [
        ["Point", [1, 2]],
        ["MultiPoint", [[1, 2], [3, 4]]],
        [
            "Polygon",
            [[[0, 0], [1, 0], [1, 1], [0, 0]], [[0.1, 0.1], [0.2, 0.1], [0.2, 0.2], [0.1, 0.1]]],
        ],
        [
            "MultiPolygon",
            [[[[0, 0], [1, 0], [1, 1], [0, 0]]], [[[-5, -5], [-4, -5], [-4, -4], [-5, -5]]]],
        ],
        ["LineString", [[1.123457, 2], [3, 4]]],
        [
            "GeometryCollection",
            [["Point", [1, 2]], ["Polygon", [[[0, 0], [1, 0], [1, 1], [0, 0]]]]],
        ],
        ["Point", [1, 2]],
        None,
        None,
    ]


def test_writer_and_cli(answer, tmp_path, root, capsys):
    out = write_answer(answer, tmp_path / "r.html", Output(options=CheckOptions(lang="zh")))
    assert "不达标" in out.read_text(encoding="utf-8")
    with pytest.raises(InvalidOption, match=r"\.html"):
        write_answer(answer, tmp_path / "r.txt")
    sample = root / "sample_sites"
    report = tmp_path / "map.html"
    args = [
        "check",
        str(sample / "parking.gpkg"),
        "--context",
        str(sample / "landuse.shp"),
        "--context",
        str(sample / "pois.csv"),
        "--context-offset",
        "pois.csv=gcj02",
        "-o",
        str(report),
    ]
    assert main(args) == 0
    text = report.read_text(encoding="utf-8")
    assert 'id="map"' in text
    geometry = json.loads(re.search(r'id="siting-geometry">(.*?)</script>', text, re.S).group(1))
    assert len(geometry["lots"]) == 39 and all(geometry["lots"])  # every lot, with geometry
    assert [c["name"] for c in _data(text)["map"]["contexts"]] == ["landuse.shp", "pois.csv"]
    assert len(geometry["contexts"][1]) == 12  # the POIs
    capsys.readouterr()
    assert main([*args, "--basemap", "not a url"]) == 2
    assert "basemap" in capsys.readouterr().err


def test_the_report_speaks_the_input_headers_language_unless_told(tmp_path):
    """As CSV, XLSX and the terminal: Chinese headers give a Chinese report by default, English
    headers an English one, and --lang wins over both."""
    zh = tmp_path / "中文.csv"
    zh.write_text("编号,场所类型,停车位数,充电车位数\nH1,医院,100,10\n", encoding="utf-8")
    en = tmp_path / "en.csv"
    en.write_text("id,category,parking_spaces,charging_spaces\nH1,hospital,100,10\n")
    for source, lang, expected in (
        (zh, [], "zh-CN"),
        (en, [], "en"),
        (zh, ["--lang", "en"], "en"),
        (en, ["--lang", "zh"], "zh-CN"),
    ):
        out = tmp_path / f"{source.stem}-{expected}-{len(lang)}.html"
        assert main(["check", str(source), "-o", str(out), "--as-of", "2024-06-30", *lang]) == 0
        text = out.read_text(encoding="utf-8")
        assert f'<html lang="{expected}">' in text, (source.name, lang)
        assert ("充电车位配置合规检查报告" in text) == (expected == "zh-CN")
