"""More tests that pin decisions of siting/evaluate.py and siting/records.py (issue 9), written
against the survivors of a mutation run (tools/mutation.py, docs/testing.md)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from siting import check_records, check_table, load_ruleset
from siting.records import SMALL, normalise, records_frame

AS_OF = "2024-06-30"
NONE = {"charging_spaces": 0, "reserved_spaces": 0}


def results(sites: list[dict], pack) -> list[dict]:
    records = [{"id": f"s{i}", **s} for i, s in enumerate(sites)]
    return check_records(records, pack, as_of=AS_OF).results


def one(site: dict, pack) -> dict:
    return results([site], pack)[0]


def from_frame(sites: list[dict], pack, **kw) -> list[dict]:
    """Sites as a pandas DataFrame of raw values (as a CSV or Excel reader gives them)."""
    frame, errors = records_frame([{"id": f"s{i}", **s} for i, s in enumerate(sites)])
    return check_table(normalise(frame, pack, preset_errors=errors, **kw), pack, AS_OF).results


def brief(r: dict) -> tuple:
    """status, rule, basis, required, provided, shortfall."""
    keys = ("status", "rule_id", "basis_spaces", "required_spaces", "provided_spaces")
    return (*(r[k] for k in keys), r["shortfall"])


def notes(r: dict) -> list[tuple[str, str]]:
    return [(n["level"], n["message"]) for n in r["notes"]]


# ----------------------------------------------------------------------------- records.py


def test_charger_schedules_in_a_table_column(pack):
    hotel = {"category": "hotel", "parking_spaces": 20, "reserved_spaces": 0}
    r = from_frame(
        [
            {**hotel, "chargers": "not json"},
            {
                **hotel,
                "charging_spaces": 0,
                "fast_charging_spaces": 0,
                "chargers": [
                    {"power_kw": 2, "guns": 2, "current": "AC"},  # below 2.2 kW, first
                    {"power_kw": 60, "guns": 2, "current": "DC"},
                    {"power_kw": np.float64(120.0), "guns": 1, "current": "直流"},
                    {"power_kw": 7, "guns": 1, "current": "AC"},
                ],
            },
        ],
        pack,
    )
    assert notes(r[0]) == [("error", "chargers: not a JSON list of {power_kw, guns, current}")]
    # every gun counted after the one below the minimum; both DC chargers are fast
    assert brief(r[1]) == ("pass", "gx-3.3.1-public", 20, 4, 4, 0)
    assert notes(r[1]) == [
        ("info", "charging_spaces 0 replaced by 4 from the charger schedule"),
        ("info", "fast_charging_spaces 0 replaced by 3 from the charger schedule"),
        ("info", "2 gun(s) below 2.2 kW not counted as charging spaces"),
    ]


def test_every_problem_of_a_charger_schedule_is_named(pack):
    r = results(
        [
            {
                "category": "hotel",
                "parking_spaces": 20,
                "chargers": [
                    "x",
                    {"power_kw": 7, "guns": 1, "current": "3ph"},
                    {"power_kw": "lots", "guns": 1, "current": "AC"},
                    {"power_kw": 7, "guns": 0, "current": "AC"},
                ],
            }
        ],
        pack,
    )
    assert r[0]["status"] == "invalid"
    assert [m for _, m in notes(r[0])] == [
        "chargers[0]: expected an object",
        "chargers[1].current: '3ph' is not AC or DC (交流 / 直流)",
        "chargers[2].power_kw: 'lots' is not a power in kW",
        "chargers[3].guns: 0 is not a whole number >= 1",
    ]


def test_values_that_json_cannot_write_are_shown_as_text(pack):
    hotel = {"category": "hotel", **NONE}
    r = results(
        [
            {**hotel, "parking_spaces": dt.date(2024, 1, 1)},  # a date cell in a count column
            {**hotel, "parking_spaces": {"数": 1}},
            {**hotel, "parking_spaces": ["十", "五"]},
        ],
        pack,
    )
    assert [m for x in r for _, m in notes(x)] == [
        'parking_spaces: "2024-01-01" is not a whole number',
        "parking_spaces: '{\"数\": 1}' is not a whole number",
        'parking_spaces: ["十", "五"] is not a whole number',
    ]


def test_whole_float_ids_are_written_as_whole_numbers(pack):
    answer = check_records(
        [{"id": 7.0, "category": "hotel", "parking_spaces": 10, **NONE}], pack, as_of=AS_OF
    )
    assert answer.results[0]["id"] == "7"


def test_names_that_carry_facts_in_a_table(pack):
    r = from_frame(
        [
            {"category": "5A级旅游景区", "parking_spaces": 100, "charging_spaces": 20,
             "reserved_spaces": 0, "fast_charging_spaces": 1, "dedicated_ev_area": "是"},
            {"category": "新建小区", "parking_spaces": 10, "charging_spaces": 10,
             "reserved_spaces": 0},
            # a blank stated rating is no rating: the name's stands
            {"category": "4A景区", "a_rating": " ", "parking_spaces": 100,
             "charging_spaces": 10, "reserved_spaces": 0, "dedicated_ev_area": "是"},
        ],
        pack,
    )  # fmt: skip
    assert brief(r[0]) == ("pass", "gx-3.3.1-scenic-a4-5", 100, 20, 20, 0)
    assert brief(r[1]) == ("pass", "gx-3.3.2-residential-new", 10, 10, 10, 0)
    assert brief(r[2]) == ("fail", "gx-3.3.1-scenic-a4-5", 100, 20, 10, 10)
    assert [notes(x) for x in r[:2]] == [[], []]


def test_a_stated_fact_against_the_one_a_name_carries(pack):
    area = {
        "category": "一类服务区",
        "development": "existing",
        "small_car_spaces": 10,
        "parking_spaces": 10,
        **NONE,
    }
    r = results(
        [
            # not a number: said once, and no contradiction with the name's 5
            {"category": "5A景区", "a_rating": "lots", "parking_spaces": 10, **NONE},
            {**area, "service_area_class": "二类"},  # spelled as the alias table has it
            {**area, "service_area_class": "一类"},
        ],
        pack,
    )
    assert notes(r[0]) == [("error", "a_rating: 'lots' is not a whole number")]
    assert notes(r[1]) == [
        (
            "error",
            "service_area_class: the category name says 1 but service_area_class is '二类'; "
            "correct one of them",
        )
    ]
    assert brief(r[2]) == ("fail", "gx-3.3.1-highway", 10, 2, 0, 2) and notes(r[2]) == []


AREA_PACK = """kind: rulepack
id: area-test
version: "1"
title: A pack whose names carry a dedicated area
jurisdiction: Testland
source: {title: test}
valid_from: 2020-01-01
categories:
  - id: park
    name: Park
    name_zh: 公园
    fact_aliases:
      - {name: 专区公园, facts: {dedicated_ev_area: true}}
rules:
  - id: park-area
    title: parks, 10 % in a dedicated area
    categories: [park]
    strength: mandatory
    ratio: "10%"
    dedicated_area_required: true
    counts: [charging_spaces]
    citation: {section: "1", clause: c, summary: s}
"""


def test_a_name_that_carries_a_dedicated_area(tmp_path):
    path = tmp_path / "area.yaml"
    path.write_text(AREA_PACK, encoding="utf-8")
    area_pack = load_ruleset(path)
    park = {"category": "专区公园", "parking_spaces": 10, "charging_spaces": 1}
    r = results([park, {**park, "dedicated_ev_area": "否"}, {**park, "dedicated_ev_area": "是"}],
                area_pack)  # fmt: skip
    assert brief(r[0]) == ("pass", "park-area", 10, 1, 1, 0)
    assert notes(r[1]) == [
        (
            "error",
            "dedicated_ev_area: the category name says True but dedicated_ev_area is '否'; "
            "correct one of them",
        )
    ]
    assert brief(r[2]) == ("pass", "park-area", 10, 1, 1, 0)


def test_columns_given_as_arrays(pack):
    """normalise() of plain columns (no DataFrame, no row numbers): numbers as numpy arrays."""
    columns = {
        "id": np.array(["a", "b"], dtype=object),
        "category": np.array(["5A景区", "hotel"], dtype=object),
        "a_rating": np.array([5, 4]),
        "parking_spaces": np.array([100, 100]),
        "charging_spaces": np.array([20, 20]),
        "dedicated_ev_area": np.array([True, True]),
    }
    table = normalise(columns, pack, source="sites.parquet")
    assert table.row_numbers.tolist() == [1, 2]
    r = check_table(table, pack, AS_OF).results
    assert [x["rule_id"] for x in r] == ["gx-3.3.1-scenic-a4-5", "gx-3.3.1-public"]


def test_several_categories_per_site_in_the_result_table(pack):
    answer = check_records(
        [
            {"id": "a", "category": "hotel;hospital", "parking_spaces": 10, **NONE},
            {"id": "b", "category": "shopping_mall", "parking_spaces": 10, **NONE},
            {"id": "c", "category": "supermarket;hotel", "parking_spaces": 10, **NONE},
        ],
        pack,
        as_of=AS_OF,
    )
    assert answer.frame()["categories"].tolist() == [
        "hotel;hospital",
        "shopping_mall",
        "supermarket;hotel",
    ]


# ----------------------------------------------------------------------------- large batches


def big(n: int = SMALL + 44) -> int:
    return n


def test_large_text_columns_with_nan_as_pandas_reads_blank_cells(pack):
    n = big()
    scenic = {"category": "scenic_area", "a_rating": 4, "parking_spaces": 100,
              "charging_spaces": 10, "reserved_spaces": 0, "dedicated_ev_area": True}  # fmt: skip
    frame = pd.DataFrame([{"id": f"s{i}", **scenic} for i in range(n)])
    # text and NaN (an object column), and all NaN (a float column, as an empty column reads)
    mixed = np.full(n, np.nan, dtype=object)
    mixed[3] = "hillside"
    columns = {k: frame[k].to_numpy(dtype=object) for k in frame}
    for constraint in (mixed, np.full(n, np.nan)):
        frame["site_constraint"] = constraint  # pandas makes text and NaN a str column
        r = check_table(normalise(frame, pack), pack, AS_OF).results
        # plain columns: an object array of text and NaN
        plain = check_table(
            normalise({**columns, "site_constraint": constraint}, pack), pack, AS_OF
        ).results
        assert [x["status"] for x in plain] == [x["status"] for x in r]
        statuses = [x["status"] for x in r]
        want = ["needs_review" if constraint[i] == "hillside" else "fail" for i in range(n)]
        assert statuses == want
        assert brief(r[0]) == ("fail", "gx-3.3.1-scenic-a4-5", 100, 20, 10, 10)


def test_large_batches_keep_booleans_apart_from_floats(pack):
    n = big()
    recs = [{"category": "hotel", "parking_spaces": 1.0, **NONE} for _ in range(n)]
    recs[4] = {**recs[4], "parking_spaces": True}
    r = results(recs, pack)
    assert notes(r[4]) == [("error", "parking_spaces: true is not a whole number")]
    assert {brief(x) for i, x in enumerate(r) if i != 4} == {
        ("fail", "gx-3.3.1-public", 1, 1, 0, 1)
    }


def test_large_batches_with_numeric_ids(pack):
    n = big()
    recs = [{"id": i, "category": "hotel", "parking_spaces": 10, **NONE} for i in range(n)]
    recs[8] = {**recs[8], "id": None}
    recs[9] = {**recs[9], "id": 10}  # the same as record 10
    r = check_records(recs, pack, as_of=AS_OF).results
    assert notes(r[8]) == [("error", "id: missing; every site needs an id")]
    assert notes(r[9]) == [("error", "id: '10' is not unique; it is also on record 11")]
    assert notes(r[10]) == [("error", "id: '10' is not unique; it is also on record 10")]
    assert sum(x["status"] == "invalid" for x in r) == 3


def test_a_large_batch_that_repeats_one_id(pack):
    n = big()
    recs = [{"id": "x", "category": "hotel", "parking_spaces": 10, **NONE} for _ in range(n)]
    recs[0] = {**recs[0], "id": None}
    r = check_records(recs, pack, as_of=AS_OF).results
    assert notes(r[0]) == [("error", "id: missing; every site needs an id")]
    assert all(x["status"] == "invalid" for x in r)
    assert notes(r[1])[0][1].startswith("id: 'x' is not unique; it is also on record 3, 4, 5")


def test_large_batches_read_blank_stated_facts_as_blank(pack):
    n = big()
    recs = [
        {"category": "4A景区", "a_rating": " ", "parking_spaces": 100, "charging_spaces": 20,
         "reserved_spaces": 0, "dedicated_ev_area": "是", "fast_charging_spaces": 1}
        for _ in range(n)
    ]  # fmt: skip
    r = results(recs, pack)
    assert {brief(x) for x in r} == {("pass", "gx-3.3.1-scenic-a4-5", 100, 20, 20, 0)}


def test_two_columns_for_one_field_name_the_file(pack):
    from siting.errors import InputError

    frame = pd.DataFrame({"id": ["a"], "车位数": [1], "泊位": [2]})
    with pytest.raises(InputError) as info:
        normalise(frame, pack, source="sites.csv")
    assert str(info.value) == (
        "sites.csv: columns '车位数' and '泊位' both mean 'parking_spaces'; "
        "remove or rename one of them"
    )
    with pytest.raises(InputError, match=r"^input: columns '车位数' and '泊位'"):
        normalise(frame, pack)


def test_headers_come_from_the_alias_table_given(pack, tmp_path, root):
    from siting.aliases import load_aliases

    text = (root / "rules" / "shared" / "aliases.yaml").read_text(encoding="utf-8")
    path = tmp_path / "aliases.yaml"
    path.write_text(
        text.replace("  parking_spaces: [", "  parking_spaces: [泊位合计, ", 1), "utf-8"
    )
    frame = pd.DataFrame({"id": ["a"], "category": ["hotel"], "泊位合计": [10], **{
        k: [v] for k, v in NONE.items()}})  # fmt: skip
    mine = check_table(normalise(frame, pack, aliases=load_aliases(path)), pack, AS_OF).results
    assert brief(mine[0]) == ("fail", "gx-3.3.1-public", 10, 2, 0, 2)
    usual = check_table(normalise(frame, pack), pack, AS_OF).results  # 泊位合计: not known
    assert brief(usual[0]) == ("fail", "gx-3.3.1-public", 1, 1, 0, 1)  # the least possible


def test_a_table_with_a_column_named_index(pack):
    # as pandas writes a CSV with its row index: the column is not a field, and not in the way
    frame = pd.DataFrame(
        {"index": [0, 1], "id": ["a", "b"], "category": ["hotel", "hotel"],
         "parking_spaces": [10, 10], "charging_spaces": [2, 0], "reserved_spaces": [0, 0]},
        index=[5, 9],
    )  # fmt: skip
    r = check_table(normalise(frame, pack), pack, AS_OF).results
    assert [brief(x) for x in r] == [
        ("pass", "gx-3.3.1-public", 10, 2, 2, 0),
        ("fail", "gx-3.3.1-public", 10, 2, 0, 2),
    ]


def test_true_or_false_in_a_count_column_of_flags(pack):
    # a TRUE / FALSE spreadsheet column under a count header: not a count
    frame = pd.DataFrame(
        {"id": ["a", "b"], "category": ["hotel", "hotel"], "parking_spaces": [10, 10],
         "charging_spaces": [2, 2], "reserved_spaces": [True, False]}
    )  # fmt: skip
    r = check_table(normalise(frame, pack), pack, AS_OF).results
    assert [notes(x) for x in r] == [
        [("error", "reserved_spaces: true is not a whole number")],
        [("error", "reserved_spaces: false is not a whole number")],
    ]


def test_a_blank_cell_of_a_date_column_is_blank_in_any_batch(pack):
    # a count column read as dates (cells formatted as dates): a date is not a count, a blank
    # cell (NaT) is blank, in a small batch as in a large one
    for n in (2, big()):
        frame = pd.DataFrame(
            {
                "id": [f"s{i}" for i in range(n)],
                "category": ["hotel"] * n,
                "parking_spaces": [10] * n,
                "charging_spaces": [2] * n,
                "reserved_spaces": pd.to_datetime(["2024-01-01"] + [None] * (n - 1)),
            }
        )
        r = check_table(normalise(frame, pack), pack, AS_OF).results
        assert notes(r[0]) == [
            ("error", 'reserved_spaces: "2024-01-01 00:00:00" is not a whole number')
        ]
        assert brief(r[1]) == ("pass", "gx-3.3.1-public", 10, 2, 2, 0) and notes(r[1]) == []
