"""More tests that pin decisions of siting/evaluate.py and siting/records.py (issue 9), written
against the survivors of a mutation run (tools/mutation.py, docs/testing.md)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from siting import check_records, check_table, load_ruleset
from siting.records import SMALL, normalise, records_frame

# every decision pinned here, on the scalar path and on the whole-column path (conftest)
pytestmark = pytest.mark.usefixtures("decision_path")

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


# ----------------------------------------------------------------------------- evaluate.py

EVAL_PACK = """kind: rulepack
id: eval-test
version: "1"
title: A pack that pins evaluation paths
jurisdiction: Testland
source: {title: test}
valid_from: 2020-01-01
cap_required_at_basis: true
categories:
  - {id: garage, name: Garage, name_zh: 车库}
  - {id: shop, name: Shop, name_zh: 商店}
  - {id: kiosk, name: Kiosk, name_zh: 报亭}
  - {id: plaza, name: Plaza, name_zh: 广场}
  - {id: square, name: Square, name_zh: 街心}
  - {id: court, name: Court, name_zh: 球场}
  - {id: museum, name: Museum, name_zh: 博物馆}
  - {id: stall, name: Stall, name_zh: 摊位}
  - {id: yard, name: Yard, name_zh: 堆场}
  - {id: pier, name: Pier, name_zh: 码头}
rules:
  - id: garage-table
    title: garages, a closed table
    categories: [garage]
    strength: mandatory
    table:
      - {up_to: 9, required: 2}
      - {up_to: 50, ratio: "10%"}
      - {up_to: 100, ratio: ["50%", "30%"]}
    counts: [charging_spaces]
    citation: {section: "0", clause: c, summary: s}
  - id: shop-big
    title: shops over 100 spaces, 10 % and at least 30
    categories: [shop]
    when: {parking_spaces: {gt: 100}}
    strength: mandatory
    ratio: "10%"
    minimum: 30
    counts: [charging_spaces]
    citation: {section: "0", clause: c, summary: s}
  - id: pier-min
    title: piers, one space built or reserved, whatever their size
    categories: [pier]
    strength: mandatory
    basis: small_car_spaces
    basis_fallback: parking_spaces
    minimum: 1
    counts: [charging_spaces, reserved_spaces]
    citation: {section: "0", clause: c, summary: s}
  - id: kiosk-half
    title: kiosks, half of the spaces, reserved ones listed first
    categories: [kiosk]
    strength: mandatory
    ratio: "50%"
    counts: [reserved_spaces, charging_spaces]
    citation: {section: "1", clause: c, summary: s}
  - id: plaza-area
    title: plazas, 10 % of small-car spaces, in a dedicated area
    categories: [plaza]
    strength: mandatory
    basis: small_car_spaces
    basis_fallback: parking_spaces
    ratio: "10%"
    dedicated_area_required: true
    counts: [charging_spaces]
    citation: {section: "2", clause: c, summary: s}
  - id: square-advice
    title: squares, charging encouraged (no ratio)
    categories: [square]
    strength: advisory
    basis: small_car_spaces
    basis_fallback: parking_spaces
    counts: [charging_spaces]
    citation: {section: "3", clause: c, summary: s}
  - id: court-advice
    title: courts, 15 % encouraged
    categories: [court]
    strength: advisory
    ratio: "15%"
    counts: [charging_spaces]
    citation: {section: "4", clause: c, summary: s}
  - id: museum-old
    title: top-rated museums until 2021, 30 %
    categories: [museum]
    when: {a_rating: {eq: 5}}
    valid_to: 2021-12-31
    strength: mandatory
    ratio: "30%"
    counts: [charging_spaces]
    citation: {section: "5", clause: c, summary: s}
  - id: museum-now
    title: museums, 10 %
    categories: [museum]
    strength: mandatory
    ratio: "10%"
    counts: [charging_spaces]
    citation: {section: "6", clause: c, summary: s}
  - id: stall-big
    title: big new stalls, 10 %
    categories: [stall]
    when: {parking_spaces: {gt: 10}, development: {eq: new}}
    strength: mandatory
    ratio: "10%"
    counts: [charging_spaces]
    citation: {section: "7", clause: c, summary: s}
  - id: yard-big
    title: big yards, 10 %
    categories: [yard]
    when: {parking_spaces: {gt: 10}}
    strength: mandatory
    ratio: "10%"
    counts: [charging_spaces]
    citation: {section: "8", clause: c, summary: s}
  - id: yard-new
    title: new yards, 5 %
    categories: [yard]
    when: {development: {eq: new}}
    strength: mandatory
    ratio: "5%"
    counts: [charging_spaces]
    citation: {section: "9", clause: c, summary: s}
"""


@pytest.fixture
def ev_pack(tmp_path):
    path = tmp_path / "eval.yaml"
    path.write_text(EVAL_PACK, encoding="utf-8")
    return load_ruleset(path)


def evals(r: dict) -> list[tuple]:
    keys = ("rule_id", "category", "status", "basis_spaces", "required_spaces")
    return [(*(e[k] for k in keys), e["provided_spaces"], e["shortfall"]) for e in r["evaluations"]]


def with_alternatives(sites: list[dict], pack, alts=(), uncertain=None) -> list[dict]:
    """Sites whose category is in doubt, as map classification leaves them (SiteTable)."""
    frame, errors = records_frame([{"id": f"s{i}", **s} for i, s in enumerate(sites)])
    table = normalise(frame, pack, preset_errors=errors)
    if alts:
        table.alt_site = np.array([a for a, _ in alts], np.int64)
        table.alt_cat = np.array([pack.category_ids.index(c) for _, c in alts], np.int64)
    if uncertain is not None:
        table.uncertain = np.array(uncertain, bool)
    return check_table(table, pack, AS_OF).results


def test_counts_listed_with_an_absent_column_first(ev_pack):
    # no count column at all; the charger schedule gives the charging count: the reserved
    # spaces are unknown, so the verdict stays open, however the counts are listed
    r, other = results(
        [
            {"category": "kiosk", "parking_spaces": 10,
             "chargers": [{"power_kw": 7, "guns": 2, "current": "AC"}]},
            {"category": "kiosk", "parking_spaces": 10},  # no schedule: the charging count too
        ],
        ev_pack,
    )  # fmt: skip
    assert brief(other) == ("insufficient_data", "kiosk-half", 10, 5, 0, None)
    assert brief(r) == ("insufficient_data", "kiosk-half", 10, 5, 2, None)
    assert r["explanation"] == (
        "cannot be settled: missing reserved_spaces; 5 required (reserved + charging), 2 "
        "provided by the counts given: passes if reserved_spaces comes to 3 or more (read as 0 "
        "it would fail, short 3); add the reserved_spaces column to settle it"
    )


def test_a_fallback_basis_with_a_dedicated_area_or_without_a_ratio(ev_pack):
    r = results(
        [
            {"category": "plaza", "parking_spaces": 50, "charging_spaces": 5,
             "dedicated_ev_area": False},
            {"category": "square", "parking_spaces": 50, "charging_spaces": 5},
        ],
        ev_pack,
    )  # fmt: skip
    fallback = (
        "warning",
        "small_car_spaces not given; parking_spaces (50), the most small_car_spaces can be, "
        "used as the basis",
    )
    assert brief(r[0]) == ("fail", "plaza-area", 50, 5, 5, 0)
    assert notes(r[0]) == [
        fallback,
        (
            "error",
            "the rule requires a dedicated EV charging area (电动汽车专用充电区域); "
            "dedicated_ev_area is false",
        ),
    ]
    assert brief(r[1]) == ("advisory", "square-advice", 50, None, 5, None)
    assert r[1]["explanation"] == "encouraged, no ratio set; 5 provided (charging)"
    assert notes(r[1]) == [fallback, ("info", "encouraged by the plan; no ratio is set")]


def test_rules_out_of_force_test_no_fact(ev_pack):
    # museum-old tested a_rating until 2021: in 2024 the rating is not asked for
    r = one({"category": "museum", "parking_spaces": 100, "charging_spaces": 10}, ev_pack)
    assert brief(r) == ("pass", "museum-now", 100, 10, 10, 0) and notes(r) == []
    # nor when the site is evaluated once per category it may be
    r = with_alternatives(
        [
            {
                "category": "museum",
                "parking_spaces": 100,
                "charging_spaces": 10,
                "reserved_spaces": 0,
            }
        ],
        ev_pack,
        alts=[(0, "kiosk")],
    )[0]
    assert r["status"] == "needs_review"
    assert notes(r) == [
        (
            "warning",
            "the verdict depends on which category the site is: as museum: passes; as kiosk: "
            "fails, short 40",
        )
    ]


def test_a_rule_with_a_count_and_a_fact_in_when(ev_pack):
    r = results(
        [
            # parking unknown, development new: whether stall-big applies is open
            {"category": "stall", "development": "new", "charging_spaces": 1},
            # yard-big open on the parking count, yard-new does not apply
            {"category": "yard", "development": "existing", "charging_spaces": 1},
            {"category": "stall", "development": "existing", "charging_spaces": 1},
        ],
        ev_pack,
    )
    assert brief(r[0]) == ("insufficient_data", None, None, None, None, None)
    assert r[0]["explanation"] == "stall: cannot be checked: missing parking_spaces"
    assert brief(r[1]) == ("insufficient_data", None, None, None, None, None)
    assert r[1]["explanation"] == "yard: cannot be checked: missing parking_spaces"
    assert r[2]["status"] == "not_applicable"


def test_an_advisory_rule_heads_a_site_before_an_open_category(ev_pack):
    # both open: the court's encouraged 15 % is the headline, not the stall's missing count
    r = one({"category": "court;stall", "development": "new", "charging_spaces": 1}, ev_pack)
    assert brief(r) == ("insufficient_data", "court-advice", None, None, 1, None)
    assert evals(r) == [
        ("court-advice", "court", "insufficient_data", None, None, 1, None),
        (None, "stall", "insufficient_data", None, None, None, None),
    ]


GALLERY_PACK = """kind: rulepack
id: gallery-test
version: "1"
title: A pack whose rules test a rating only
jurisdiction: Testland
source: {title: test}
valid_from: 2020-01-01
categories:
  - {id: gallery, name: Gallery, name_zh: 画廊}
rules:
  - id: gallery-rated
    title: galleries rated 4 or 5, 20 %
    categories: [gallery]
    when: {a_rating: {ge: 4}}
    strength: mandatory
    ratio: "20%"
    counts: [charging_spaces]
    citation: {section: "1", clause: c, summary: s}
"""


def test_a_missing_rating_in_a_pack_that_tests_no_development(tmp_path):
    path = tmp_path / "gallery.yaml"
    path.write_text(GALLERY_PACK, encoding="utf-8")
    r = one({"category": "gallery", "parking_spaces": 100, "charging_spaces": 10},
            load_ruleset(path))  # fmt: skip
    assert r["explanation"] == (
        "gallery: cannot be settled: missing a_rating (see notes: what each value gives)"
    )
    assert notes(r) == [
        (
            "warning",
            "the verdict depends on facts not given: a_rating 1-3: not applicable; a_rating "
            "4-5: fails, short 10",
        )
    ]


def test_a_site_without_a_category_has_no_numbers_in_the_result_table(pack):
    answer = check_records(
        [{"id": "a", "parking_spaces": 10, **NONE}, {"id": "b", "category": "hotel",
          "parking_spaces": 10, **NONE}],
        pack,
        as_of=AS_OF,
    )  # fmt: skip
    frame = answer.frame()
    cols = ["status", "rule_id", "required_spaces", "provided_spaces", "shortfall"]
    got = [[None if pd.isna(v) else v for v in row] for row in frame[cols].to_numpy().tolist()]
    assert got == [
        ["insufficient_data", None, None, None, None],
        ["fail", "gx-3.3.1-public", 2, 0, 2],
    ]


def test_an_open_verdict_names_only_the_facts_it_waits_for(pack):
    # a new service area needs at least 1 space whatever its size: only the charging count,
    # whose column the input lacks, keeps the verdict open (not the size)
    r = one(
        {"category": "highway_service_area", "development": "new", "service_area_class": 3,
         "reserved_spaces": 0},
        pack,
    )  # fmt: skip
    assert brief(r) == ("insufficient_data", "gx-4.1-highway-new", None, None, 0, None)
    assert r["explanation"] == "cannot be settled: missing charging_spaces"


def test_an_open_verdict_does_not_wait_for_a_size_that_changes_nothing(ev_pack):
    # at least 1 space at any size: neither the small-car count nor its fallback is asked for
    r = one({"category": "pier", "reserved_spaces": 0}, ev_pack)
    assert brief(r) == ("insufficient_data", "pier-min", None, None, 0, None)
    assert r["explanation"] == "cannot be settled: missing charging_spaces"


def test_a_stepped_table_at_the_least_possible_basis(ev_pack):
    # garages: 2 spaces up to 9, then ratios; the size is unknown: the least it can be is 1,
    # where the first row's 2 is capped at 1
    r = one({"category": "garage", "charging_spaces": 0}, ev_pack)
    assert brief(r) == ("fail", "garage-table", 1, 1, 0, 1)
    assert r["explanation"] == (
        "table row 0-9 spaces: 2 capped at 1 spaces = 1 required; 0 provided (charging); short 1"
    )
    assert notes(r) == [
        (
            "warning",
            "parking_spaces not given: fails whatever it is; the requirement and shortfall "
            "shown are the least possible",
        ),
        ("info", "the requirement is capped at the number of spaces"),
    ]


def test_a_minimum_adds_no_other_note(ev_pack):
    r = results(
        [
            {"category": "shop", "parking_spaces": 101, "charging_spaces": 29},  # raised
            {"category": "shop", "parking_spaces": 310, "charging_spaces": 31},  # not raised
        ],
        ev_pack,
    )
    assert brief(r[0]) == ("fail", "shop-big", 101, 30, 29, 1) and notes(r[0]) == []
    assert brief(r[1]) == ("pass", "shop-big", 310, 31, 31, 0) and notes(r[1]) == []


def test_a_dedicated_area_stated_absent_is_not_asked_for_again(pack):
    r = one(
        {"category": "scenic_area", "a_rating": 4, "parking_spaces": 100, "charging_spaces": 30,
         "reserved_spaces": 0, "fast_charging_spaces": 1, "dedicated_ev_area": False},
        pack,
    )  # fmt: skip
    assert brief(r) == ("fail", "gx-3.3.1-scenic-a4-5", 100, 20, 30, 0)
    assert notes(r) == [
        (
            "error",
            "the rule requires a dedicated EV charging area (电动汽车专用充电区域); "
            "dedicated_ev_area is false",
        )
    ]


def test_settled_sites_beside_open_ones_get_no_fallback_note(pack):
    r = results(
        [
            {"category": "hotel", "charging_spaces": 5, "reserved_spaces": 0},  # open on size
            {"category": "hotel", "parking_spaces": 100, "charging_spaces": 20,
             "reserved_spaces": 0},
        ],
        pack,
    )  # fmt: skip
    assert r[0]["status"] == "insufficient_data"
    assert brief(r[1]) == ("pass", "gx-3.3.1-public", 100, 20, 20, 0) and notes(r[1]) == []
    # no charging column: one site open on the count, one met by its reserved space
    new_area = {"category": "highway_service_area", "development": "new",
                "service_area_class": 3, "parking_spaces": 10}  # fmt: skip
    r = results([{**new_area, "reserved_spaces": 0}, {**new_area, "reserved_spaces": 1}], pack)
    assert r[0]["status"] == "insufficient_data"
    assert brief(r[1]) == ("pass", "gx-4.1-highway-new", 10, 1, 1, 0) and notes(r[1]) == []


def test_fast_charging_recommendation_bounds(pack):
    area = {"category": "highway_service_area", "service_area_class": 1,
            "development": "existing", "reserved_spaces": 0}  # fmt: skip
    r = results(
        [
            {**area, "small_car_spaces": 1, "parking_spaces": 1, "charging_spaces": 1,
             "fast_charging_spaces": 0},
            {**area, "charging_spaces": 1, "fast_charging_spaces": 0},  # size unknown
        ],
        pack,
    )  # fmt: skip
    recommend = (
        "recommendation",
        "the rule prefers fast charging (宜优先配置快充) and fast_charging_spaces is 0",
    )
    assert brief(r[0]) == ("pass", "gx-3.3.1-highway", 1, 1, 1, 0)
    assert notes(r[0]) == [recommend]
    assert r[1]["status"] == "insufficient_data" and recommend not in notes(r[1])
    # no fast_charging_spaces column: a charger schedule with DC guns has fast ones
    r = results(
        [
            {**area, "small_car_spaces": 10, "parking_spaces": 10,
             "chargers": [{"power_kw": 60, "guns": 2, "current": "DC"}]},
            {**area, "small_car_spaces": 10, "parking_spaces": 10, "charging_spaces": 2},
        ],
        pack,
    )  # fmt: skip
    assert brief(r[0]) == ("pass", "gx-3.3.1-highway", 10, 2, 2, 0) and notes(r[0]) == []
    # no schedule and no column: the fast count is unknown, nothing to recommend
    assert brief(r[1]) == ("pass", "gx-3.3.1-highway", 10, 2, 2, 0) and notes(r[1]) == []


def test_alternatives_keep_their_order_in_a_long_list(pack):
    n = 20
    sites = [{"category": "hotel", "parking_spaces": 100, **NONE} for _ in range(n)]
    alts = [(i, "government_agency") for i in range(n)] + [(i, "regional_agency") for i in range(n)]
    r = with_alternatives(sites, pack, alts=alts)
    want = (
        "the verdict depends on which category the site is: as hotel: fails, short 20; as "
        "government_agency: advisory (encouraged, not required); as regional_agency: fails, "
        "short 10"
    )
    assert [notes(x) for x in r] == [[("warning", want)]] * n


def test_alternatives_on_one_site_and_a_missing_fact_on_the_next(pack):
    r = with_alternatives(
        [
            {"category": "hotel", "parking_spaces": 100, "charging_spaces": 20,
             "reserved_spaces": 0},
            {"category": "industrial_park", "parking_spaces": 100, "charging_spaces": 10,
             "reserved_spaces": 0},
        ],
        pack,
        alts=[(0, "hospital")],
    )  # fmt: skip
    assert brief(r[0]) == ("pass", "gx-3.3.1-public", 100, 20, 20, 0) and notes(r[0]) == []
    assert notes(r[1]) == [
        (
            "warning",
            "the verdict depends on facts not given: development new: fails, short 5; "
            "development existing: advisory (encouraged, not required)",
        )
    ]


def test_a_site_of_two_categories_with_a_missing_fact(pack):
    r = results(
        [
            {"category": "residential", "development": "existing", "parking_spaces": 10, **NONE},
            {"category": "hotel;industrial_park", "parking_spaces": 100, "charging_spaces": 20,
             "reserved_spaces": 0},
        ],
        pack,
    )  # fmt: skip
    assert evals(r[1]) == [
        ("gx-3.3.1-public", "hotel", "pass", 100, 20, 20, 0),
        (None, "industrial_park", "insufficient_data", None, None, None, None),
    ]
    assert notes(r[1]) == [
        (
            "warning",
            "the verdict depends on facts not given: development new: passes; development "
            "existing: advisory (encouraged, not required)",
        )
    ]


def test_a_verdict_that_holds_for_every_rating_shows_the_evaluations_all_share(pack):
    r = one(
        {"category": "scenic_area", "parking_spaces": 100, "charging_spaces": 25,
         "reserved_spaces": 0, "fast_charging_spaces": 1, "dedicated_ev_area": True},
        pack,
    )  # fmt: skip
    assert brief(r) == ("pass", "gx-3.3.1-scenic-a", 100, 10, 25, 0)
    assert evals(r) == [("gx-3.3.1-scenic-a", "scenic_area", "pass", 100, 10, 25, 0)]
    assert notes(r) == [
        ("info", "a_rating not given: every value gives the same verdict (a_rating 1-5: passes)")
    ]


def test_an_alternative_that_agrees_adds_no_note(pack):
    r = with_alternatives(
        [{"category": "hotel", "parking_spaces": 100, "charging_spaces": 20,
          "reserved_spaces": 0}],
        pack,
        alts=[(0, "hospital")],
    )[0]  # fmt: skip
    assert brief(r) == ("pass", "gx-3.3.1-public", 100, 20, 20, 0) and notes(r) == []


def test_an_uncertain_fail_keeps_its_other_notes(pack):
    r = with_alternatives(
        [{"category": "highway_service_area", "service_area_class": 1,
          "development": "existing", "small_car_spaces": 10, "parking_spaces": 10,
          "charging_spaces": 0, "reserved_spaces": 0, "fast_charging_spaces": 0}],
        pack,
        uncertain=[True],
    )[0]  # fmt: skip
    assert brief(r) == ("needs_review", "gx-3.3.1-highway", 10, 2, 0, 2)
    assert notes(r) == [
        (
            "warning",
            "short of the requirement on a category found with low confidence: needs review "
            "until the site kind is confirmed (see classification)",
        ),
        (
            "recommendation",
            "the rule prefers fast charging (宜优先配置快充) and fast_charging_spaces is 0",
        ),
    ]


def test_a_missing_size_beside_a_missing_dedicated_area_is_explained_without_numbers(pack):
    """A 4A scenic area that states no dedicated EV area fails whatever its size; with the
    size unknown the explanation must not show a requirement worked out from -1 spaces, nor
    say the spaces are met (the bug noted in docs/testing.md)."""
    site = {
        "id": "s1",
        "category": "scenic_area",
        "a_rating": 4,
        "charging_spaces": 5,
        "dedicated_ev_area": False,
    }
    r = one(site, pack)
    assert (r["status"], r["required_spaces"], r["shortfall"]) == ("fail", None, None)
    assert r["explanation"] == (
        "the spaces cannot be worked out: missing parking_spaces; dedicated EV charging area: none"
    )
    assert "-1" not in r["explanation"] and "met" not in r["explanation"]
    # the same site with its size: the spaces are worked out and met, the area still fails
    sized = one({**site, "parking_spaces": 20}, pack)
    assert sized["status"] == "fail"
    assert sized["explanation"].startswith("ceil(20% x 20) = 4 required; 5 provided")


def test_many_distinct_count_texts_read_as_one_by_one():
    """records._counts reads thousands of distinct plain-digit texts with Arrow at once: the
    same numbers and the same reasons as `_count` value by value, for every awkward form."""
    from siting import records

    odd = [
        "",
        "  ",
        " 12 ",
        "0012",
        "１２０",
        "-3",
        "1.5",
        "2.0",
        "1e3",
        "n/a",
        "999999999",
        "1000000000",
        "10000000000",
        "0",
        "٣",
        "+5",
        "12 个",
        "三十",
    ]
    uniques = [str(k) for k in range(3_000)] + odd
    for table in (None, {"a": 1, "aaaa": 4}):
        assert records._counts(uniques, table) == [records._count(u, table) for u in uniques]
    mixed = [*range(300), "7", True, 2.5]  # not all text: value by value
    assert records._counts(mixed, None) == [records._count(u, None) for u in mixed]
