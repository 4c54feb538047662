"""The JSON answer written column-wise (siting/resultjson.py) is, byte for byte, the answer
made of one dict per site (`BatchAnswer.result`) serialised by orjson - in English and in
Chinese, for site lists and map layers, for every kind of site (invalid, several
categories, several evaluations, notes, odd ids) and however the results are cut into
chunks."""

from __future__ import annotations

import random
from pathlib import Path

import orjson
import pytest

from siting.check import check_records
from siting.formats import render
from siting.formats.json import answer_json
from siting.labels import localise_results
from siting.request import CheckOptions, CheckRequest
from siting.resultjson import ResultJSON
from siting.run import run_check

SAMPLE = Path(__file__).resolve().parents[1] / "sample_sites"

CATEGORIES = [
    "regional_agency",
    "state_owned_enterprise",
    "highway_service_area",
    "shopping_mall",
    "医院",
    "宾馆",
    "transport_hub",
    "public_parking",
    "scenic_area",
    "industrial_park",
    "住宅小区",
    "hospital;residential",
    "hotel;shopping_mall;public_parking",
    "商务楼宇",
    "no such place",
    "",
]


def _records(n: int, seed: int) -> list[object]:
    rng = random.Random(seed)
    out: list[object] = []
    for i in range(n):
        spaces = rng.choice([None, 0, 1, 7, 99, 100, 131, 2500, -3, "n/a", "１２０"])
        site: dict[str, object] = {
            "id": rng.choice(
                [f"S{i}", f'q"uote\\{i}', f"换行\n{i}", f"\x01ctl{i}", f"=cmd{i}", f"编号{i}"]
            ),
            "category": rng.choice(CATEGORIES),
        }
        if spaces is not None:
            site["parking_spaces"] = spaces
        for field in ("charging_spaces", "reserved_spaces", "small_car_spaces"):
            if rng.random() < 0.7:
                site[field] = rng.choice([0, 1, 5, 20, 30, 200, 600, "", "有"])
        for field, values in (
            ("development", ["new", "existing", "新建", "", None]),
            ("a_rating", [1, 3, 4, 5, "4A", "AAAAA", ""]),
            ("service_area_class", [1, 2, 3, ""]),
            ("dedicated_ev_area", ["是", "否", 1.0, ""]),
            ("site_constraint", ["场地受限", ""]),
        ):
            if rng.random() < 0.4:
                site[field] = rng.choice(values)
        if rng.random() < 0.05:
            site["unknown column"] = "x"
        out.append(site)
    if n:
        out.append("not a record")
        out.append({})
    return out


def _dict_bytes(answer, zh: bool = False) -> bytes:
    results = answer.results
    if zh:
        results = localise_results(results, answer.pack)
    return orjson.dumps(results)[1:-1]


def _column_bytes(answer, chunk: int, zh: bool = False) -> bytes:
    from siting.labels import texts_for

    writer = ResultJSON(answer, texts_for(answer.pack).one if zh else None)
    n = int(answer.table.n)
    return b",".join(
        part for part in (writer.chunk(s, s + chunk) for s in range(0, n, chunk)) if part
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("chunk", [1, 7, 5000])
def test_site_records_same_bytes(pack, seed, chunk):
    answer = check_records(_records(400, seed), pack, as_of="2024-06-30")
    statuses = {r["status"] for r in answer.results}
    # the records reach every kind of result this writer treats apart
    assert {"invalid", "fail", "pass", "insufficient_data"} <= statuses
    assert any(len(r["categories"]) > 1 for r in answer.results)
    assert any(len(r["evaluations"]) > 1 for r in answer.results)
    assert any(r["notes"] for r in answer.results)
    assert _column_bytes(answer, chunk) == _dict_bytes(answer)


@pytest.mark.parametrize("seed", [4, 5])
def test_site_records_same_bytes_in_chinese(pack, seed):
    answer = check_records(_records(300, seed), pack, as_of="2024-06-30")
    got = _column_bytes(answer, 64, zh=True)
    assert got == _dict_bytes(answer, zh=True)
    assert got != _dict_bytes(answer)  # the texts did change language
    assert "不达标".encode() in got


def test_the_sample_site_list_and_map_layers(pack, tmp_path):
    """The sample's site list, and its map layers (results carrying a classification)."""
    sites = CheckRequest(input=str(SAMPLE / "sites.csv"), options=CheckOptions())
    answer, _ = run_check(sites, pack)
    assert _column_bytes(answer, 5) == _dict_bytes(answer)
    lots = CheckRequest(
        input=str(SAMPLE / "parking.gpkg"),
        contexts=[str(SAMPLE / "landuse.shp"), str(SAMPLE / "pois.csv")],
        options=CheckOptions(context_offset={"pois.csv": "gcj02"}),
    )
    answer, _ = run_check(lots, pack)
    assert answer.classification is not None
    got = _column_bytes(answer, 8)
    assert got == _dict_bytes(answer)
    assert b'"classification":{' in got
    assert _column_bytes(answer, 8, zh=True) == _dict_bytes(answer, zh=True)


def test_the_whole_answer_is_orjson_of_the_dicts(pack):
    answer = check_records(_records(50, 9), pack, as_of="2024-06-30")
    whole = render(answer, "json")[0]
    assert whole == orjson.dumps(answer.as_dict())
    assert b"".join(answer_json(answer, chunk=3)) == whole
    empty = check_records([], pack, as_of="2024-06-30")
    assert render(empty, "json")[0] == orjson.dumps(empty.as_dict())
    assert orjson.loads(render(empty, "json")[0])["results"] == []
