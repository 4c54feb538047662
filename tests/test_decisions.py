"""Tests that pin each decision of the engine (issue 9): every bound, condition, rounding and
fallback that a small change to siting/evaluate.py, ratio.py or records.py could move.

Written against the survivors of a mutation run (tools/mutation.py, docs/testing.md): each test
asserts exact statuses, numbers and texts, so that a flipped comparison, a bound moved by one, a
dropped condition or a swapped status changes an assertion.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from siting import check_records, check_table, load_ruleset
from siting.ratio import apply_ratio, format_ratio, parse_ratio, rounding_symbol
from siting.records import MAX_COUNT, normalise, records_frame

# every decision pinned here, on the scalar path and on the whole-column path (conftest)
pytestmark = pytest.mark.usefixtures("decision_path")

AS_OF = "2024-06-30"


def results(sites: list[dict], pack, as_of: str = AS_OF) -> list[dict]:
    records = [{"id": f"s{i}", **s} for i, s in enumerate(sites)]
    return check_records(records, pack, as_of=as_of).results


def one(site: dict, pack, as_of: str = AS_OF) -> dict:
    return results([site], pack, as_of)[0]


def brief(r: dict) -> tuple:
    """status, rule, basis, required, provided, shortfall."""
    return (
        r["status"],
        r["rule_id"],
        r["basis_spaces"],
        r["required_spaces"],
        r["provided_spaces"],
        r["shortfall"],
    )


def evals(r: dict) -> list[tuple]:
    return [
        (
            e["rule_id"],
            e["category"],
            e["status"],
            e["basis_spaces"],
            e["required_spaces"],
            e["provided_spaces"],
            e["shortfall"],
        )
        for e in r["evaluations"]
    ]


def notes(r: dict) -> list[tuple[str, str]]:
    return [(n["level"], n["message"]) for n in r["notes"]]


NONE = {"charging_spaces": 0, "reserved_spaces": 0}

# ----------------------------------------------------------------------------- ratio.py


def test_format_ratio_terminating_decimals_and_fractions():
    assert format_ratio(Fraction(1, 500)) == "0.2%"  # a 5 in the denominator
    assert format_ratio(Fraction(1, 400)) == "0.25%"  # two decimals
    assert format_ratio(Fraction(1, 40)) == "2.5%"
    assert format_ratio(Fraction(1, 25)) == "4%"
    assert format_ratio(Fraction(3, 1000)) == "0.3%"
    assert format_ratio(Fraction(1, 3)) == "1/3"
    assert format_ratio(Fraction(1, 6)) == "1/6"  # 2 x 3: halving leaves 3
    assert format_ratio(Fraction(1, 15)) == "1/15"  # 3 x 5: fifths leave 3
    assert format_ratio(Fraction(1)) == "100%"


def test_parse_ratio_numbers_and_refusals():
    assert parse_ratio(1) == Fraction(1) and parse_ratio(2) == Fraction(2)
    assert parse_ratio(0) == Fraction(0)
    with pytest.raises(ValueError) as info:
        parse_ratio(True)
    assert str(info.value) == "a ratio cannot be true/false"
    with pytest.raises(ValueError) as info:
        parse_ratio([1])
    assert str(info.value) == "a ratio must be text like '20%' or '1/5', not list"
    with pytest.raises(ValueError) as info:
        parse_ratio("1/0")
    assert str(info.value) == "'1/0' is not a ratio (write '20%', '1/5' or '0.2')"
    assert parse_ratio(" 15 ％ ") == Fraction(3, 20)


def test_apply_ratio_each_rounding_and_an_unknown_one():
    basis = np.array([0, 1, 2, 3, 4, 5, 14, 18, 99, 100])
    quarter = Fraction(1, 4)
    assert apply_ratio(quarter, basis, "ceil").tolist() == [0, 1, 1, 1, 1, 2, 4, 5, 25, 25]
    assert apply_ratio(quarter, basis, "floor").tolist() == [0, 0, 0, 0, 1, 1, 3, 4, 24, 25]
    # half up: 0.5 -> 1, 0.75 -> 1, 1.25 -> 1, 3.5 -> 4, 4.5 -> 5, 24.75 -> 25
    assert apply_ratio(quarter, basis, "half_up").tolist() == [0, 0, 1, 1, 1, 1, 4, 5, 25, 25]
    # the exactly-at-ratio tie: 20 % of 99 is 19.8, so 20 are needed
    assert apply_ratio(Fraction(1, 5), np.array([99, 100, 101]), "ceil").tolist() == [20, 20, 21]
    with pytest.raises(ValueError) as info:
        apply_ratio(quarter, basis, "banker")
    assert str(info.value) == "unknown rounding 'banker'"


def test_rounding_symbols():
    assert [rounding_symbol(r) for r in ("ceil", "floor", "half_up")] == ["ceil", "floor", "round"]


# ----------------------------------------------------------------------------- a small pack

PACK = """kind: rulepack
id: decisions-test
version: "1"
title: A small pack that pins each kind of rule
jurisdiction: Testland
source: {title: test}
valid_from: 2020-01-01
rounding: ROUNDING
cap_required_at_basis: true
categories:
  - {id: shop, name: Shop, name_zh: 商店}
  - {id: resort, name: Resort, name_zh: 度假村}
  - {id: depot, name: Depot, name_zh: 车场}
  - {id: lot, name: Lot, name_zh: 停车场}
  - {id: garage, name: Garage, name_zh: 车库}
  - {id: office, name: Office, name_zh: 办公}
rules:
  - id: shop-mid
    title: shops of 11 to 100 spaces, 25 %
    categories: [shop]
    when: {parking_spaces: {gt: 10, le: 100}}
    strength: mandatory
    ratio: "25%"
    counts: [charging_spaces]
    citation: {section: "1", clause: c, summary: s}
  - id: shop-big
    title: shops over 100 spaces, 10 % and at least 30
    categories: [shop]
    when: {parking_spaces: {gt: 100}}
    strength: mandatory
    ratio: "10%"
    minimum: 30
    counts: [charging_spaces]
    citation: {section: "2", clause: c, summary: s}
  - id: resort-rated
    title: resorts rated 3 or 4, not existing ones, 20 %
    categories: [resort]
    when: {a_rating: {ge: 3, lt: 5}, development: {not_in: [existing]}}
    strength: mandatory
    ratio: "20%"
    counts: [charging_spaces]
    citation: {section: "3", clause: c, summary: s}
  - id: resort-top
    title: resorts rated 5, 30 %
    categories: [resort]
    when: {a_rating: {eq: 5}}
    strength: mandatory
    ratio: "30%"
    counts: [charging_spaces]
    citation: {section: "4", clause: c, summary: s}
  - id: depot-min
    title: depots, 10 % and at least 2, never more than the spaces
    categories: [depot]
    strength: mandatory
    ratio: "10%"
    minimum: 2
    counts: [charging_spaces, reserved_spaces]
    citation: {section: "5", clause: c, summary: s}
  - id: lot-old
    title: lots until 2022, 10 %
    categories: [lot]
    strength: mandatory
    ratio: "10%"
    counts: [charging_spaces]
    valid_to: 2022-12-31
    citation: {section: "6", clause: c, summary: s}
  - id: lot-new
    title: lots from 2023, 20 %
    categories: [lot]
    strength: mandatory
    ratio: "20%"
    counts: [charging_spaces]
    valid_from: 2023-01-01
    citation: {section: "7", clause: c, summary: s}
  - id: garage-table
    title: garages, a closed table
    categories: [garage]
    strength: mandatory
    table:
      - {up_to: 9, required: 2}
      - {up_to: 50, ratio: "10%"}
      - {up_to: 100, ratio: ["50%", "30%"]}
    counts: [charging_spaces]
    citation: {section: "8", clause: c, summary: s}
  - id: office-advice
    title: offices, 15 % encouraged
    categories: [office]
    strength: advisory
    ratio: "15%"
    counts: [charging_spaces]
    citation: {section: "9", clause: c, summary: s}
"""


def small_pack(tmp_path, rounding: str = "ceil"):
    path = tmp_path / f"decisions-{rounding}.yaml"
    path.write_text(PACK.replace("ROUNDING", rounding), encoding="utf-8")
    return load_ruleset(path)


@pytest.fixture
def tiny(tmp_path):
    return small_pack(tmp_path)


def test_gt_and_le_bounds_on_a_count(tiny):
    shop = {"category": "shop", **NONE}
    r = results(
        [
            {**shop, "parking_spaces": 10},  # not > 10: no rule covers it
            {**shop, "parking_spaces": 11, "charging_spaces": 3},
            {**shop, "parking_spaces": 100, "charging_spaces": 24},  # <= 100: still 25 %
            {**shop, "parking_spaces": 101, "charging_spaces": 29},  # > 100: 10 %, at least 30
        ],
        tiny,
    )
    assert brief(r[0]) == ("not_applicable", None, None, None, None, None)
    assert evals(r[0]) == [(None, "shop", "not_applicable", None, None, None, None)]
    assert r[0]["explanation"] == (
        "shop: not covered; shop-mid applies when parking_spaces > 10 and <= 100 (this site: 10);"
        " shop-big applies when parking_spaces > 100 (this site: 10)"
    )
    assert brief(r[1]) == ("pass", "shop-mid", 11, 3, 3, 0)
    assert brief(r[2]) == ("fail", "shop-mid", 100, 25, 24, 1)
    assert brief(r[3]) == ("fail", "shop-big", 101, 30, 29, 1)


def test_minimum_raises_only_when_above_the_ratio(tiny):
    shop = {"category": "shop", **NONE}
    low, equal, above = results(
        [
            {**shop, "parking_spaces": 101, "charging_spaces": 29},
            {**shop, "parking_spaces": 300, "charging_spaces": 30},
            {**shop, "parking_spaces": 310, "charging_spaces": 31},
        ],
        tiny,
    )
    assert low["explanation"] == (
        "minimum 30 (ceil(10% x 101)) = 30 required; 29 provided (charging); short 1"
    )
    assert brief(equal) == ("pass", "shop-big", 300, 30, 30, 0)
    assert equal["explanation"] == "ceil(10% x 300) = 30 required; 30 provided (charging); met"
    assert brief(above) == ("pass", "shop-big", 310, 31, 31, 0)


def test_a_count_in_when_that_is_missing_is_insufficient(tiny):
    r = one({"category": "shop", "charging_spaces": 5}, tiny)
    assert brief(r) == ("insufficient_data", None, None, None, None, None)
    assert evals(r) == [(None, "shop", "insufficient_data", None, None, None, None)]
    assert r["explanation"] == "shop: cannot be checked: missing parking_spaces"


def test_ge_lt_eq_and_not_in_on_facts(tiny):
    resort = {"category": "resort", "parking_spaces": 100, "charging_spaces": 20}
    r = results(
        [
            {**resort, "a_rating": 2, "development": "new"},  # below ge 3
            {**resort, "a_rating": 3, "development": "new"},  # ge 3
            {**resort, "a_rating": 4, "development": "new"},  # lt 5
            {**resort, "a_rating": 4, "development": "existing"},  # not_in existing
            {**resort, "a_rating": 5, "development": "new"},  # not lt 5; eq 5
        ],
        tiny,
    )
    assert [x["status"] for x in r] == ["not_applicable", "pass", "pass", "not_applicable", "fail"]
    assert brief(r[1]) == ("pass", "resort-rated", 100, 20, 20, 0)
    assert brief(r[2]) == ("pass", "resort-rated", 100, 20, 20, 0)
    assert r[3]["explanation"] == (
        "resort: not covered; resort-rated applies when a_rating >= 3 and < 5 (this site: 4) and "
        "development not in existing (this site: existing); resort-top applies when a_rating = 5 "
        "(this site: 4)"
    )
    assert brief(r[4]) == ("fail", "resort-top", 100, 30, 20, 10)
    assert evals(r[4]) == [("resort-top", "resort", "fail", 100, 30, 20, 10)]


def test_all_operators_of_one_condition_must_hold():
    """A condition with several operators holds where every one holds ("All given operators
    must hold"), on the column path and on the one-site path alike."""
    import numpy as np

    from siting.evaluate import condition_holds
    from siting.ruleset import Condition
    from siting.scalar import _holds

    values = [1, 2, 3, 4]
    cases = [
        (Condition(eq=3, **{"in": [1, 2]}), [False, False, False, False]),
        (Condition(**{"in": [1, 2, 3], "not_in": [2]}), [True, False, True, False]),
        (Condition(eq=2, not_in=[2]), [False, False, False, False]),
        (Condition(**{"in": [2, 3, 4]}, lt=4, ge=3), [False, False, True, False]),
        (Condition(not_in=[1], le=3, gt=1), [False, True, True, False]),
    ]
    for cond, want in cases:
        assert condition_holds(cond, np.array(values, dtype=object)).tolist() == want, cond
        assert [_holds(cond, v) for v in values] == want, cond
    # a list of several kinds of value: each compared as what it is (1 is not "1")
    mixed = [1, "x", "1", 2]
    for cond, want in [
        (Condition(**{"in": [1, "x"]}), [True, True, False, False]),
        (Condition(not_in=[1, "x"]), [False, False, True, True]),
    ]:
        assert condition_holds(cond, np.array(mixed, dtype=object)).tolist() == want, cond
        assert [_holds(cond, v) for v in mixed] == want, cond


def test_several_when_conditions_and_two_missing_facts(tiny):
    resort = {"category": "resort", "parking_spaces": 100, "charging_spaces": 20}
    rated_3, rated_2, unrated = results(
        [{**resort, "a_rating": 3}, {**resort, "a_rating": 2}, resort], tiny
    )
    # development decides it: a new resort is covered, an existing one is not
    assert brief(rated_3) == ("insufficient_data", None, None, None, None, None)
    assert notes(rated_3) == [
        (
            "warning",
            "the verdict depends on facts not given: development new: passes; "
            "development existing: not applicable",
        )
    ]
    assert rated_3["explanation"] == (
        "resort: cannot be settled: missing development (see notes: what each value gives)"
    )
    # a rating of 2 fails `ge 3` whatever development is
    assert brief(rated_2)[0] == "not_applicable"
    assert notes(rated_2) == [
        (
            "info",
            "development not given: every value gives the same verdict (development new or "
            "development existing: not applicable)",
        )
    ]
    # both missing: every combination, in the order of the fact domains
    assert unrated["explanation"] == (
        "resort: cannot be settled: missing a_rating, development (see notes: what each value "
        "gives)"
    )
    assert notes(unrated) == [
        (
            "warning",
            "the verdict depends on facts not given: development new, a_rating 1-2: not "
            "applicable; development new, a_rating 3-4: passes; development new, a_rating 5: "
            "fails, short 10; development existing, a_rating 1-4: not applicable; development "
            "existing, a_rating 5: fails, short 10",
        )
    ]


def test_minimum_and_cap_at_the_basis(tiny):
    depot = {"category": "depot", **NONE}
    r = results(
        [
            {**depot, "parking_spaces": 1},  # 10 % -> 1, minimum 2, capped at 1
            {**depot, "parking_spaces": 2, "charging_spaces": 1},  # minimum 2 = the basis
            {**depot, "parking_spaces": 20, "reserved_spaces": 2},  # 10 % = 2 = minimum
            {**depot, "parking_spaces": 21, "reserved_spaces": 2},
        ],
        tiny,
    )
    assert brief(r[0]) == ("fail", "depot-min", 1, 1, 0, 1)
    assert r[0]["explanation"] == (
        "minimum 2 (ceil(10% x 1)) capped at 1 spaces = 1 required; 0 provided "
        "(charging 0 + reserved 0); short 1"
    )
    assert notes(r[0]) == [("info", "the requirement is capped at the number of spaces")]
    assert brief(r[1]) == ("fail", "depot-min", 2, 2, 1, 1)
    assert r[1]["explanation"] == (
        "minimum 2 (ceil(10% x 2)) = 2 required; 1 provided (charging 1 + reserved 0); short 1"
    )
    assert notes(r[1]) == []
    assert brief(r[2]) == ("pass", "depot-min", 20, 2, 2, 0)
    assert r[2]["explanation"] == (
        "ceil(10% x 20) = 2 required; 2 provided (charging 0 + reserved 2); met"
    )
    assert brief(r[3]) == ("fail", "depot-min", 21, 3, 2, 1)


def test_threshold_with_minimum_and_cap(tiny):
    # no parking count: 1 provided meets the capped requirement only at 1 space
    r = one({"category": "depot", "charging_spaces": 1, "reserved_spaces": 0}, tiny)
    assert brief(r) == ("insufficient_data", "depot-min", None, None, 1, None)
    assert r["explanation"] == (
        "cannot be settled: missing parking_spaces; with 1 provided it passes if "
        "parking_spaces <= 1 and fails above; state parking_spaces to settle it"
    )


@pytest.mark.parametrize(
    "as_of,rule,required,status",
    [
        ("2022-12-31", "lot-old", 10, "pass"),  # last day of lot-old
        ("2023-01-01", "lot-new", 20, "fail"),  # first day of lot-new
    ],
)
def test_per_rule_validity_dates(tiny, as_of, rule, required, status):
    r = one({"category": "lot", "parking_spaces": 100, "charging_spaces": 10}, tiny, as_of)
    assert brief(r) == (status, rule, 100, required, 10, max(0, required - 10))
    assert [e["rule_id"] for e in r["evaluations"]] == [rule]


def test_a_closed_table_each_row_and_beyond(tiny):
    garage = {"category": "garage", "reserved_spaces": 0}
    r = results(
        [
            {**garage, "parking_spaces": 9, "charging_spaces": 2},
            {**garage, "parking_spaces": 10, "charging_spaces": 1},
            {**garage, "parking_spaces": 50, "charging_spaces": 5},
            {**garage, "parking_spaces": 51, "charging_spaces": 8},
            {**garage, "parking_spaces": 100, "charging_spaces": 15},
            {**garage, "parking_spaces": 140, "charging_spaces": 15},  # beyond the table
        ],
        tiny,
    )
    assert [brief(x) for x in r] == [
        ("pass", "garage-table", 9, 2, 2, 0),
        ("pass", "garage-table", 10, 1, 1, 0),
        ("pass", "garage-table", 50, 5, 5, 0),
        ("pass", "garage-table", 51, 8, 8, 0),
        ("pass", "garage-table", 100, 15, 15, 0),
        ("fail", "garage-table", 140, 21, 15, 6),
    ]
    assert [x["ratio"] for x in r] == [None, "10%", "10%", "30% of 50%", "30% of 50%", "30% of 50%"]
    assert r[0]["explanation"] == (
        "table row 0-9 spaces: 2 = 2 required; 2 provided (charging); met"
    )
    assert r[3]["explanation"] == (
        "table row 51-100 spaces: ceil(30% x ceil(50% x 51)) = 8 required; 8 provided "
        "(charging); met"
    )


def test_a_closed_table_ending_in_a_fixed_count(tmp_path):
    text = PACK.replace("ROUNDING", "ceil").replace(
        '{up_to: 100, ratio: ["50%", "30%"]}', "{up_to: 100, required: 7}"
    )
    path = tmp_path / "fixed.yaml"
    path.write_text(text, encoding="utf-8")
    pack = load_ruleset(path)
    r = results(
        [
            {"category": "garage", "parking_spaces": 100, **NONE, "charging_spaces": 7},
            {"category": "garage", "parking_spaces": 500, **NONE, "charging_spaces": 6},
        ],
        pack,
    )
    assert brief(r[0]) == ("pass", "garage-table", 100, 7, 7, 0)
    assert brief(r[1]) == ("fail", "garage-table", 500, 7, 6, 1)


@pytest.mark.parametrize(
    "rounding,shop_14,shop_18,garage_57",
    [
        ("ceil", 4, 5, 9),
        ("floor", 3, 4, 8),  # 3.5 -> 3, 4.5 -> 4; floor(30% x floor(28.5)) = floor(8.4)
        ("half_up", 4, 5, 9),  # 3.5 -> 4, 4.5 -> 5; round(30% x 29) = round(8.7)
    ],
)
def test_rounding_of_a_pack(tmp_path, rounding, shop_14, shop_18, garage_57):
    pack = small_pack(tmp_path, rounding)
    r = results(
        [
            {"category": "shop", "parking_spaces": 14, **NONE},
            {"category": "shop", "parking_spaces": 18, **NONE},
            {"category": "garage", "parking_spaces": 57, **NONE},
        ],
        pack,
    )
    assert [x["required_spaces"] for x in r] == [shop_14, shop_18, garage_57]
    symbol = rounding_symbol(rounding)
    assert r[0]["explanation"].startswith(f"{symbol}(25% x 14) = {shop_14} required")
    assert r[2]["explanation"].startswith(
        f"table row 51-100 spaces: {symbol}(30% x {symbol}(50% x 57)) = {garage_57} required"
    )


def test_advisory_rule_with_a_ratio(tiny):
    met, short = results(
        [
            {"category": "office", "parking_spaces": 100, **NONE, "charging_spaces": 15},
            {"category": "office", "parking_spaces": 100, **NONE, "charging_spaces": 14},
        ],
        tiny,
    )
    assert brief(met) == ("pass", "office-advice", 100, 15, 15, 0)
    assert brief(short) == ("advisory", "office-advice", 100, 15, 14, 1)
    answer = check_records(
        [{"id": "o", "category": "office", "parking_spaces": 100, **NONE}], tiny, as_of=AS_OF
    )
    assert answer.summary["total_shortfall"] == 0  # advice is no obligation


# ----------------------------------------------------------------------------- Guangxi decisions


def test_exactly_at_the_ratio(pack):
    at, below = results(
        [
            {"category": "hospital", "parking_spaces": 99, "charging_spaces": 20},
            {"category": "hospital", "parking_spaces": 99, "charging_spaces": 19},
        ],
        pack,
    )
    assert brief(at) == ("pass", "gx-3.3.1-public", 99, 20, 20, 0)
    assert at["explanation"] == "ceil(20% x 99) = 20 required; 20 provided (charging); met"
    assert notes(at) == []
    assert brief(below) == ("fail", "gx-3.3.1-public", 99, 20, 19, 1)


def test_missing_parking_threshold_exactly_at_the_boundary(pack):
    unknown = one({"category": "hospital", "charging_spaces": 60}, pack)
    assert brief(unknown) == ("insufficient_data", "gx-3.3.1-public", None, None, 60, None)
    assert unknown["explanation"] == (
        "cannot be settled: missing parking_spaces; with 60 provided it passes if parking_spaces "
        "<= 300 and fails above; state parking_spaces to settle it"
    )
    # and the threshold is right on both sides
    at, above = results(
        [
            {"category": "hospital", "parking_spaces": 300, "charging_spaces": 60},
            {"category": "hospital", "parking_spaces": 301, "charging_spaces": 60},
        ],
        pack,
    )
    assert brief(at) == ("pass", "gx-3.3.1-public", 300, 60, 60, 0)
    assert brief(above) == ("fail", "gx-3.3.1-public", 301, 61, 60, 1)


@pytest.mark.parametrize(
    "site,basis,required",
    [
        # the least a total can be: the spaces stated inside it
        ({"charging_spaces": 0, "reserved_spaces": 10}, 10, 2),
        ({"charging_spaces": 0, "reserved_spaces": 0, "small_car_spaces": 50}, 50, 10),
        # nothing stated inside it: at least one space
        ({"charging_spaces": 0, "reserved_spaces": 0}, 1, 1),
    ],
)
def test_a_site_that_fails_at_the_least_possible_basis(pack, site, basis, required):
    r = one({"category": "hotel", **site}, pack)
    assert brief(r) == ("fail", "gx-3.3.1-public", basis, required, 0, required)
    assert notes(r) == [
        (
            "warning",
            "parking_spaces not given: fails whatever it is; the requirement and shortfall shown "
            "are the least possible",
        )
    ]


def test_service_area_with_every_number_given_has_no_notes(pack):
    r = one(
        {
            "category": "highway_service_area",
            "service_area_class": 1,
            "development": "existing",
            "parking_spaces": 60,
            "small_car_spaces": 50,
            "charging_spaces": 10,
            "reserved_spaces": 0,
            "fast_charging_spaces": 1,
        },
        pack,
    )
    assert brief(r) == ("pass", "gx-3.3.1-highway", 50, 10, 10, 0)
    assert r["explanation"] == "ceil(20% x 50) = 10 required; 10 provided (charging); met"
    assert notes(r) == []


def test_small_car_fallback_pass_and_fail(pack):
    area = {
        "category": "highway_service_area",
        "service_area_class": 1,
        "development": "existing",
        "parking_spaces": 100,
        "reserved_spaces": 0,
        "fast_charging_spaces": 1,
    }
    met, short = results([{**area, "charging_spaces": 20}, {**area, "charging_spaces": 19}], pack)
    assert brief(met) == ("pass", "gx-3.3.1-highway", 100, 20, 20, 0)
    assert notes(met) == [
        (
            "warning",
            "small_car_spaces not given; parking_spaces (100), the most small_car_spaces can be, "
            "used as the basis",
        )
    ]
    assert brief(short) == ("insufficient_data", "gx-3.3.1-highway", None, None, 19, None)
    assert short["explanation"] == (
        "cannot be settled: missing small_car_spaces; with 19 provided it passes if "
        "small_car_spaces <= 95 and fails above; state small_car_spaces to settle it"
    )


def test_two_missing_facts_on_a_service_area(pack):
    r = one(
        {
            "category": "highway_service_area",
            "parking_spaces": 50,
            "small_car_spaces": 40,
            **NONE,
        },
        pack,
    )
    assert brief(r) == ("insufficient_data", None, None, None, None, None)
    assert r["explanation"] == (
        "highway_service_area: cannot be settled: missing service_area_class, development "
        "(see notes: what each value gives)"
    )
    assert notes(r) == [
        (
            "warning",
            "the verdict depends on facts not given: development new, service_area_class 1-2: "
            "fails, short 8; development new, service_area_class 3-4: fails, short 1; development "
            "existing, service_area_class 1-2: fails, short 8; development existing, "
            "service_area_class 3-4: advisory (encouraged, not required)",
        )
    ]


def test_missing_class_and_small_car_count(pack):
    r = one(
        {
            "category": "highway_service_area",
            "development": "existing",
            "charging_spaces": 5,
            "reserved_spaces": 0,
            "fast_charging_spaces": 0,
        },
        pack,
    )
    assert brief(r)[0] == "insufficient_data"
    assert notes(r) == [
        (
            "warning",
            "the verdict depends on facts not given: service_area_class 1-2: passes if "
            "small_car_spaces <= 25; service_area_class 3-4: advisory (encouraged, not required)",
        )
    ]


def test_new_service_area_of_unknown_class_with_no_reserved_column(pack):
    # class 1-2 fails the 20 % rule; class 3-4 has only the 4(1) minimum, which reserved
    # spaces (no column: unknown) could meet
    r = one(
        {
            "category": "highway_service_area",
            "development": "new",
            "parking_spaces": 10,
            "small_car_spaces": 10,
            "charging_spaces": 0,
        },
        pack,
    )
    assert brief(r)[0] == "insufficient_data"
    assert notes(r) == [
        (
            "warning",
            "the verdict depends on facts not given: service_area_class 1-2: fails, short 2; "
            "service_area_class 3-4: passes if charging_spaces + reserved_spaces come to 1 or more",
        )
    ]


def test_new_service_area_with_everything_but_the_counts_unknown(pack):
    r = one(
        {
            "category": "highway_service_area",
            "development": "new",
            "service_area_class": 3,
            "charging_spaces": 0,
        },
        pack,
    )
    assert brief(r) == ("insufficient_data", "gx-4.1-highway-new", None, None, 0, None)


def test_the_least_possible_note_names_the_missing_fact(pack):
    r = one(
        {
            "category": "highway_service_area",
            "development": "new",
            "service_area_class": 3,
            **NONE,
        },
        pack,
    )
    assert brief(r)[:2] == ("fail", "gx-4.1-highway-new")
    assert not any(m.startswith("facts not given") for _, m in notes(r))
    # the requirement (at least 1) does not depend on the size: the numbers are exact, and
    # no size is made up
    assert brief(r) == ("fail", "gx-4.1-highway-new", None, 1, 0, 1)
    assert notes(r) == []


def test_unrated_scenic_area_open_on_the_dedicated_area(pack):
    r = one({"category": "scenic_area", "parking_spaces": 100, **NONE, "charging_spaces": 20}, pack)
    assert brief(r) == ("insufficient_data", None, None, None, None, None)
    assert evals(r) == [
        ("gx-3.3.1-scenic-a", "scenic_area", "pass", 100, 10, 20, 0),
        (None, "scenic_area", "insufficient_data", None, None, None, None),
    ]
    assert notes(r) == [
        (
            "warning",
            "the verdict depends on facts not given: a_rating 1-3: passes; a_rating 4-5: passes "
            "if dedicated_ev_area is true, fails if false",
        ),
    ]  # no fast_charging_spaces column: nothing to recommend


def test_unrated_scenic_area_with_a_site_constraint(pack):
    r = one(
        {
            "category": "scenic_area",
            "parking_spaces": 100,
            **NONE,
            "charging_spaces": 15,
            "fast_charging_spaces": 1,
            "dedicated_ev_area": True,
            "site_constraint": "hillside",
        },
        pack,
    )
    assert brief(r)[0] == "insufficient_data"
    assert notes(r) == [
        (
            "warning",
            "the verdict depends on facts not given: a_rating 1-3: passes; a_rating 4-5: needs "
            "review",
        )
    ]


def test_unrated_scenic_area_with_no_spaces(pack):
    r = one({"category": "scenic_area", "parking_spaces": 0, **NONE}, pack)
    assert brief(r) == ("not_applicable", "gx-3.3.1-scenic-a", 0, None, 0, None)
    assert r["explanation"] == "parking_spaces is 0: nothing to require"
    assert notes(r) == [
        (
            "info",
            "a_rating not given: every value gives the same verdict (a_rating 1-5: not applicable)",
        )
    ]


def test_site_constraint_on_a_site_that_does_not_fail(pack):
    site = {
        "category": "scenic_area",
        "a_rating": 4,
        "parking_spaces": 100,
        **NONE,
        "fast_charging_spaces": 0,
        "dedicated_ev_area": True,
        "site_constraint": "steep",
    }
    met, short = results([{**site, "charging_spaces": 20}, {**site, "charging_spaces": 19}], pack)
    assert brief(met) == ("pass", "gx-3.3.1-scenic-a4-5", 100, 20, 20, 0)
    assert [e["status"] for e in met["evaluations"]] == ["pass", "pass"]
    assert brief(short) == ("needs_review", "gx-3.3.1-scenic-a4-5", 100, 20, 19, 1)
    assert [e["status"] for e in short["evaluations"]] == ["pass", "needs_review"]


def test_dedicated_area_false_fails_with_shortfall_zero(pack):
    r = one(
        {
            "category": "scenic_area",
            "a_rating": 5,
            "parking_spaces": 100,
            **NONE,
            "charging_spaces": 20,
            "fast_charging_spaces": 2,
            "dedicated_ev_area": False,
        },
        pack,
    )
    assert brief(r) == ("fail", "gx-3.3.1-scenic-a4-5", 100, 20, 20, 0)


def test_headline_among_several_evaluations(pack):
    # a new residential compound that is also a hotel: fails the 100 %, passes the 20 %
    r = one(
        {
            "category": ["hotel", "residential"],
            "development": "new",
            "parking_spaces": 100,
            "charging_spaces": 30,
            "reserved_spaces": 60,
        },
        pack,
    )
    assert evals(r) == [
        ("gx-3.3.1-public", "hotel", "pass", 100, 20, 30, 0),
        ("gx-3.3.2-residential-new", "residential", "fail", 100, 100, 90, 10),
    ]
    assert brief(r) == ("fail", "gx-3.3.2-residential-new", 100, 100, 90, 10)
    # both pass: the strictest requirement is the headline
    r = one(
        {
            "category": ["hotel", "residential"],
            "development": "new",
            "parking_spaces": 100,
            "charging_spaces": 30,
            "reserved_spaces": 70,
        },
        pack,
    )
    assert brief(r) == ("pass", "gx-3.3.2-residential-new", 100, 100, 100, 0)
    # mandatory before advisory among equal statuses: an existing compound (advisory 10 %,
    # met) that is also a hotel (20 %, met) shows the hotel's mandatory rule, though smaller
    r = one(
        {
            "category": ["residential", "hotel"],
            "development": "existing",
            "parking_spaces": 100,
            "charging_spaces": 20,
            "reserved_spaces": 0,
        },
        pack,
    )
    assert [e["status"] for e in r["evaluations"]] == ["pass", "pass"]
    assert brief(r) == ("pass", "gx-3.3.1-public", 100, 20, 20, 0)


def test_a_site_without_a_category(pack):
    r = one({"parking_spaces": 5, **NONE}, pack)
    assert brief(r) == ("insufficient_data", None, None, None, None, None)
    assert evals(r) == [(None, None, "insufficient_data", None, None, None, None)]
    assert r["explanation"] == "cannot be checked: missing category"


def test_fast_count_from_a_charger_schedule(pack):
    site = {
        "category": "highway_service_area",
        "service_area_class": 1,
        "development": "existing",
        "small_car_spaces": 10,
        "parking_spaces": 10,
        "reserved_spaces": 0,
    }
    dc, ac = results(
        [
            {**site, "chargers": [{"power_kw": 60, "guns": 2, "current": "DC"}]},
            {**site, "chargers": [{"power_kw": 7, "guns": 2, "current": "AC"}]},
        ],
        pack,
    )
    # DC guns are fast: no recommendation; AC guns are not: the recommendation
    assert brief(dc) == ("pass", "gx-3.3.1-highway", 10, 2, 2, 0)
    assert notes(dc) == []
    assert brief(ac) == ("pass", "gx-3.3.1-highway", 10, 2, 2, 0)
    assert notes(ac) == [
        (
            "recommendation",
            "the rule prefers fast charging (宜优先配置快充) and fast_charging_spaces is 0",
        )
    ]


def test_charger_schedule_counts_guns_at_and_above_the_minimum_power(pack):
    r = one(
        {
            "category": "hotel",
            "parking_spaces": 20,
            "reserved_spaces": 0,
            "charging_spaces": 1,
            "fast_charging_spaces": 0,
            "chargers": [
                {"power_kw": 2.2, "guns": 2, "current": "AC"},  # exactly the minimum: counted
                {"power_kw": 2.1, "guns": 3, "current": "交流"},  # below: not counted
                {"power_kw": "120", "guns": 1, "current": "直流"},
                {"power_kw": 1, "guns": 1, "current": "dc"},
                {"power_kw": 7, "current": "ac"},  # guns default to 1
            ],
        },
        pack,
    )
    assert brief(r) == ("pass", "gx-3.3.1-public", 20, 4, 4, 0)
    assert notes(r) == [
        ("info", "charging_spaces 1 replaced by 4 from the charger schedule"),
        ("info", "fast_charging_spaces 0 replaced by 1 from the charger schedule"),
        ("info", "4 gun(s) below 2.2 kW not counted as charging spaces"),
    ]


def test_charger_schedule_problems_are_named_exactly(pack):
    bad = [
        ("not json", ["chargers: not a JSON list of {power_kw, guns, current}"]),
        ({"power_kw": 7}, ["chargers: expected a list of {power_kw, guns, current}"]),
        (["x"], ["chargers[0]: expected an object"]),
        (
            [{"power_kw": 7, "guns": 1, "current": "AC", "phase": 3, "brand": "x"}],
            ["chargers[0]: unknown field(s) brand, phase"],
        ),
        (
            [{"power_kw": -1, "guns": 1, "current": "AC"}],
            ["chargers[0].power_kw: -1 is not a power in kW"],
        ),
        (
            [{"power_kw": True, "guns": 1, "current": "AC"}],
            ["chargers[0].power_kw: true is not a power in kW"],
        ),
        ([{"guns": 1, "current": "AC"}], ["chargers[0].power_kw: null is not a power in kW"]),
        (
            [{"power_kw": 7, "guns": 0, "current": "AC"}],
            ["chargers[0].guns: 0 is not a whole number >= 1"],
        ),
        (
            [{"power_kw": 7, "guns": "two", "current": "AC"}],
            ["chargers[0].guns: 'two' is not a whole number >= 1"],
        ),
        (
            [{"power_kw": 7, "guns": 1}],
            ["chargers[0].current: null is not AC or DC (交流 / 直流)"],
        ),
        (
            [{"power_kw": 7, "guns": 1, "current": "AC"}, {"power_kw": 7, "current": "3ph"}],
            ["chargers[1].current: '3ph' is not AC or DC (交流 / 直流)"],
        ),
    ]
    r = results([{"category": "hotel", "parking_spaces": 20, "chargers": c} for c, _ in bad], pack)
    for (_, want), got in zip(bad, r, strict=True):
        assert got["status"] == "invalid"
        assert [m for _, m in notes(got)] == want


def test_a_zero_power_charger_is_not_counted(pack):
    r = one(
        {
            "category": "hotel",
            "parking_spaces": 20,
            "reserved_spaces": 0,
            "fast_charging_spaces": 0,
            "chargers": [{"power_kw": 0, "guns": 1, "current": "AC"}],
        },
        pack,
    )
    assert brief(r) == ("fail", "gx-3.3.1-public", 20, 4, 0, 4)
    assert ("info", "1 gun(s) below 2.2 kW not counted as charging spaces") in notes(r)


# ----------------------------------------------------------------------------- alternatives


def _table(sites: list[dict], pack, alts=(), uncertain=None):
    records = [{"id": f"s{i}", **s} for i, s in enumerate(sites)]
    frame, errors = records_frame(records)
    table = normalise(frame, pack, preset_errors=errors)
    if alts:
        table.alt_site = np.array([a for a, _ in alts], np.int64)
        table.alt_cat = np.array([pack.category_ids.index(c) for _, c in alts], np.int64)
    if uncertain is not None:
        table.uncertain = np.array(uncertain, bool)
    return table


def test_alternative_categories_and_uncertain_ones(pack):
    sites = [
        {
            "category": "shopping_mall",
            "parking_spaces": 100,
            "charging_spaces": 20,
            "reserved_spaces": 80,
        },
        {
            "category": "shopping_mall",
            "parking_spaces": 100,
            "charging_spaces": 20,
            "reserved_spaces": 0,
        },
        {"category": "hotel", "parking_spaces": 100, "charging_spaces": 10, "reserved_spaces": 0},
        {"category": "hotel", "parking_spaces": 100, "charging_spaces": 25, "reserved_spaces": 0},
        {"category": "hotel", "parking_spaces": 100, "charging_spaces": 10, "reserved_spaces": 0},
    ]
    table = _table(
        sites,
        pack,
        alts=[(0, "residential"), (1, "residential"), (2, "regional_agency")],
        uncertain=[False, False, False, True, True],
    )
    r = check_table(table, pack, AS_OF).results
    # 0: passes as a mall and as a residential compound, new or existing
    assert brief(r[0]) == ("pass", "gx-3.3.2-residential-new", 100, 100, 100, 0)
    assert notes(r[0]) == [
        (
            "info",
            "development not given: every value gives the same verdict (as shopping_mall, "
            "development new or as residential, development new or as shopping_mall, development "
            "existing or as residential, development existing: passes)",
        )
    ]
    # 1: as a new residential compound it fails
    assert brief(r[1]) == ("insufficient_data", None, None, None, None, None)
    assert evals(r[1]) == [(None, "shopping_mall", "insufficient_data", None, None, None, None)]
    assert notes(r[1]) == [
        (
            "warning",
            "the verdict depends on facts not given: as shopping_mall, development new: passes; "
            "as residential, development new: fails, short 80; as shopping_mall, development "
            "existing or as residential, development existing: passes",
        )
    ]
    # 2: only the category is in doubt, and it changes the verdict
    assert brief(r[2]) == ("needs_review", None, None, None, None, None)
    assert evals(r[2]) == [(None, "hotel", "needs_review", None, None, None, None)]
    assert r[2]["explanation"] == (
        "hotel: the category is uncertain and the verdict depends on it (see notes: what each "
        "category gives); confirm the site kind"
    )
    assert notes(r[2]) == [
        (
            "warning",
            "the verdict depends on which category the site is: as hotel: fails, short 10; as "
            "regional_agency: passes",
        )
    ]
    # 3: uncertain, but it passes: the pass stays a pass
    assert brief(r[3]) == ("pass", "gx-3.3.1-public", 100, 20, 25, 0)
    assert notes(r[3]) == []
    # 4: uncertain and short: needs review, with the numbers
    assert brief(r[4]) == ("needs_review", "gx-3.3.1-public", 100, 20, 10, 10)
    assert notes(r[4]) == [
        (
            "warning",
            "short of the requirement on a category found with low confidence: needs review "
            "until the site kind is confirmed (see classification)",
        )
    ]
    # without the alternatives and the doubt, 2 and 4 are plain fails
    plain = check_table(_table(sites, pack), pack, AS_OF).results
    assert [x["status"] for x in plain] == ["pass", "pass", "fail", "pass", "fail"]


def test_an_alternative_that_agrees_is_not_in_doubt(pack):
    table = _table(
        [{"category": "hotel", "parking_spaces": 100, "charging_spaces": 20, "reserved_spaces": 0}],
        pack,
        alts=[(0, "shopping_mall")],
    )
    (r,) = check_table(table, pack, AS_OF).results
    assert brief(r) == ("pass", "gx-3.3.1-public", 100, 20, 20, 0)


def test_an_alternative_whose_rule_tests_a_missing_fact(pack):
    # a hotel that may be a scenic area without a rating: the rating is tried as well
    table = _table(
        [{"category": "hotel", "parking_spaces": 100, "charging_spaces": 5, "reserved_spaces": 0}],
        pack,
        alts=[(0, "scenic_area")],
    )
    (r,) = check_table(table, pack, AS_OF).results
    # every scenario fails; the least shortfall is what is certainly missing (docs/rules.md)
    assert brief(r) == ("fail", "gx-3.3.1-scenic-a", 100, 10, 5, 5)
    assert r["categories"] == ["hotel"]
    assert notes(r) == [
        (
            "info",
            "a_rating not given: every value gives the same verdict (as hotel, a_rating 1: fails, "
            "short 15; as scenic_area, a_rating 1: fails, short 5; as hotel, a_rating 2: fails, "
            "short 15; as scenic_area, a_rating 2: fails, short 5; as hotel, a_rating 3: fails, "
            "short 15; as scenic_area, a_rating 3: fails, short 5; as hotel, a_rating 4 or as "
            "scenic_area, a_rating 4 or as hotel, a_rating 5 or as scenic_area, a_rating 5: "
            "fails, short 15)",
        )
    ]


# ----------------------------------------------------------------------------- records.py


def test_a_rating_bounds(pack):
    scenic = {"category": "scenic_area", "parking_spaces": 10, **NONE, "charging_spaces": 1}
    r = results([{**scenic, "a_rating": v} for v in (0, 1, 5, 6, "AAAAA", "6A")], pack)
    assert [x["status"] for x in r] == ["invalid", "pass", "fail", "invalid", "fail", "invalid"]
    assert notes(r[0]) == [("error", "a_rating: 0 is not an A-rating (1-5, A-AAAAA)")]
    assert notes(r[3]) == [("error", "a_rating: 6 is not an A-rating (1-5, A-AAAAA)")]


def test_counts_negative_and_the_max_count_bound(pack):
    hotel = {"category": "hotel", **NONE}
    r = results(
        [
            {**hotel, "parking_spaces": 10, "charging_spaces": -1},
            {**hotel, "parking_spaces": MAX_COUNT},
            {**hotel, "parking_spaces": MAX_COUNT + 1},
            {**hotel, "parking_spaces": "-1", "reserved_spaces": " "},
            {**hotel, "parking_spaces": 10.0, "charging_spaces": -2.0, "reserved_spaces": 2.5},
            {**hotel, "parking_spaces": str(MAX_COUNT + 1)},
            {**hotel, "parking_spaces": "1,000"},
            {**hotel, "parking_spaces": float("nan"), "charging_spaces": float("inf")},
            {**hotel, "parking_spaces": float("nan"), "charging_spaces": 3},  # NaN: blank
        ],
        pack,
    )
    assert notes(r[0]) == [("error", "charging_spaces: -1 is negative; counts must be 0 or more")]
    assert brief(r[1]) == ("fail", "gx-3.3.1-public", MAX_COUNT, MAX_COUNT // 5, 0, MAX_COUNT // 5)
    assert notes(r[2]) == [
        ("error", "parking_spaces: 1000000001 is too large to be a count (at most 1,000,000,000)")
    ]
    assert notes(r[3]) == [("error", "parking_spaces: -1 is negative; counts must be 0 or more")]
    assert notes(r[4]) == [
        ("error", "charging_spaces: -2 is negative; counts must be 0 or more"),
        ("error", "reserved_spaces: 2.5 is not a whole number"),
    ]
    assert notes(r[5]) == [
        (
            "error",
            "parking_spaces: '1000000001' is too large to be a count (at most 1,000,000,000)",
        )
    ]
    assert brief(r[6]) == ("fail", "gx-3.3.1-public", 1000, 200, 0, 200)
    assert notes(r[7]) == [("error", "charging_spaces: Infinity is not a whole number")]
    assert r[8]["status"] == "insufficient_data" and r[8]["basis_spaces"] is None
    assert "missing parking_spaces" in r[8]["explanation"]


def test_numeric_columns_of_a_frame(pack):
    """A CSV read by pandas gives number columns: converted as arrays, problems in words."""
    frame = pd.DataFrame(
        {
            "id": ["a", "b", "c", "d", "e"],
            "category": ["hotel"] * 5,
            "parking_spaces": [10.0, -3.0, 2.5, float(MAX_COUNT) + 1, float(MAX_COUNT)],
            "charging_spaces": [2, 0, 0, 0, 0],
            "reserved_spaces": [0, 0, 0, 0, 0],
        }
    )
    r = check_table(normalise(frame, pack), pack, AS_OF).results
    assert brief(r[0]) == ("pass", "gx-3.3.1-public", 10, 2, 2, 0)
    assert notes(r[1]) == [("error", "parking_spaces: -3 is negative; counts must be 0 or more")]
    assert notes(r[2]) == [("error", "parking_spaces: 2.5 is not a whole number")]
    assert notes(r[3]) == [
        ("error", "parking_spaces: 1000000001 is too large to be a count (at most 1,000,000,000)")
    ]
    assert brief(r[4])[:4] == ("fail", "gx-3.3.1-public", MAX_COUNT, MAX_COUNT // 5)
    assert r[0]["explanation"] == "ceil(20% x 10) = 2 required; 2 provided (charging); met"


def test_small_car_equal_to_parking_is_fine_one_more_is_not(pack):
    area = {
        "category": "highway_service_area",
        "service_area_class": 1,
        "development": "existing",
        "parking_spaces": 50,
        "charging_spaces": 10,
        "reserved_spaces": 0,
        "fast_charging_spaces": 1,
    }
    equal, more = results(
        [{**area, "small_car_spaces": 50}, {**area, "small_car_spaces": 51}], pack
    )
    assert brief(equal) == ("pass", "gx-3.3.1-highway", 50, 10, 10, 0)
    assert notes(more) == [("error", "small_car_spaces = 51 is more than parking_spaces = 50")]


def test_contradicting_counts_are_named_with_their_sums(pack):
    hotel = {"category": "hotel", "parking_spaces": 10}
    r = results(
        [
            {**hotel, "charging_spaces": 6, "reserved_spaces": 5},
            {**hotel, "charging_spaces": 6, "reserved_spaces": 4},  # = parking: fine
            {**hotel, "charging_spaces": 5, "reserved_spaces": 0, "fast_charging_spaces": 6},
            {**hotel, "charging_spaces": 5, "reserved_spaces": 0, "fast_charging_spaces": 5},
        ],
        pack,
    )
    assert notes(r[0]) == [
        ("error", "charging_spaces + reserved_spaces = 11 is more than parking_spaces = 10")
    ]
    assert brief(r[1]) == ("pass", "gx-3.3.1-public", 10, 2, 6, 0)
    assert notes(r[2]) == [("error", "fast_charging_spaces = 6 is more than charging_spaces = 5")]
    assert brief(r[3]) == ("pass", "gx-3.3.1-public", 10, 2, 5, 0)


def test_a_count_that_is_not_one_is_not_compared_as_zero(pack):
    """An unreadable count is reported once, as what it is; it is held as 0 inside, but the
    contradiction checks between counts never compare that 0 (which would add a second,
    false error: "... is more than parking_spaces = 0")."""
    hotel = {"category": "hotel", "parking_spaces": 10, "reserved_spaces": 0}
    r = results(
        [
            {**hotel, "parking_spaces": "n/a", "charging_spaces": 3},
            {**hotel, "charging_spaces": "lots", "fast_charging_spaces": 2},
            {**hotel, "charging_spaces": 3, "reserved_spaces": "some"},
            {**hotel, "charging_spaces": 2, "fast_charging_spaces": "x"},
            {**hotel, "parking_spaces": "n/a", "charging_spaces": 3, "small_car_spaces": 5},
            {**hotel, "charging_spaces": 3, "small_car_spaces": "?"},
            {**hotel, "parking_spaces": 2, "charging_spaces": 3, "small_car_spaces": 3},
        ],
        pack,
    )
    assert notes(r[0]) == [("error", "parking_spaces: 'n/a' is not a whole number")]
    assert notes(r[1]) == [("error", "charging_spaces: 'lots' is not a whole number")]
    assert notes(r[2]) == [("error", "reserved_spaces: 'some' is not a whole number")]
    assert notes(r[3]) == [("error", "fast_charging_spaces: 'x' is not a whole number")]
    assert notes(r[4]) == [("error", "parking_spaces: 'n/a' is not a whole number")]
    assert notes(r[5]) == [("error", "small_car_spaces: '?' is not a whole number")]
    # readable counts are still compared, every contradiction named
    assert notes(r[6]) == [
        ("error", "charging_spaces + reserved_spaces = 3 is more than parking_spaces = 2"),
        ("error", "small_car_spaces = 3 is more than parking_spaces = 2"),
    ]


def test_values_that_are_not_understood(pack):
    r = one(
        {
            "category": "hotel",
            "parking_spaces": 10,
            **NONE,
            "development": "sideways",
            "dedicated_ev_area": "perhaps",
            "a_rating": "lots",
        },
        pack,
    )
    assert notes(r) == [
        ("error", "a_rating: 'lots' is not a whole number"),  # once, not also as 0
        (
            "error",
            "development: 'sideways' is not understood; expected new or existing (新建 / 既有)",
        ),
        (
            "error",
            "dedicated_ev_area: 'perhaps' is not understood; expected true or false (是 / 否)",
        ),
    ]


def test_an_unreadable_a_rating_is_reported_once(pack):
    r = one({"category": "scenic_area", "parking_spaces": 10, **NONE, "a_rating": "lots"}, pack)
    assert notes(r) == [("error", "a_rating: 'lots' is not a whole number")]


def test_flags_and_development_spellings(pack):
    scenic = {
        "category": "scenic_area",
        "a_rating": 5,
        "parking_spaces": 10,
        **NONE,
        "charging_spaces": 2,
        "fast_charging_spaces": 1,
    }
    r = results([{**scenic, "dedicated_ev_area": v} for v in ("是", "否", 1.0, 0, None)], pack)
    assert [x["status"] for x in r] == ["pass", "fail", "pass", "fail", "insufficient_data"]
    park = {"category": "industrial_park", "parking_spaces": 100, **NONE, "charging_spaces": 15}
    r = results([{**park, "development": v} for v in ("新建", "既有", "NEW", " existing ")], pack)
    assert [x["status"] for x in r] == ["pass", "advisory", "pass", "advisory"]


def test_a_name_that_carries_a_fact_and_a_record_that_contradicts_it(pack):
    r = results(
        [
            {"category": "新建小区", "parking_spaces": 10, **NONE, "charging_spaces": 10},
            {"category": "老旧小区", "development": "新建", "parking_spaces": 10, **NONE},
            {"category": "老旧小区", "development": "既有", "parking_spaces": 10, **NONE},
            {"category": "5A级旅游景区", "a_rating": 4, "parking_spaces": 10, **NONE},
            {"category": "5A级旅游景区", "a_rating": "AAAAA", "parking_spaces": 10, **NONE},
            {"category": "新建小区;老旧小区", "parking_spaces": 10, **NONE},
        ],
        pack,
    )
    assert brief(r[0]) == ("pass", "gx-3.3.2-residential-new", 10, 10, 10, 0)
    assert notes(r[1]) == [
        (
            "error",
            "development: the category name says 'existing' but development is '新建'; "
            "correct one of them",
        )
    ]
    assert r[2]["status"] == "advisory"
    assert notes(r[3]) == [
        ("error", "a_rating: the category name says 5 but a_rating is 4; correct one of them")
    ]
    assert r[4]["status"] == "fail"
    assert notes(r[5]) == [
        (
            "error",
            "category: the names carry contradictory facts: development 'new' and 'existing'",
        )
    ]


def test_unknown_category_message(pack):
    r = one({"category": "hotel;moon base;mars", "parking_spaces": 10, **NONE}, pack)
    (level, message), *_ = notes(r)
    assert level == "error"
    assert message.startswith(
        "category: unknown 'moon base', 'mars'; guangxi-2021-2025 knows regional_agency, "
    )
    assert message.endswith(" (or their Chinese names)")


def test_city_names_and_an_unknown_city(pack):
    hotel = {"category": "hotel", "parking_spaces": 10, **NONE, "charging_spaces": 2}
    frame, errors = records_frame(
        [
            {"id": "a", **hotel, "city": "nanning"},
            {"id": "b", **hotel, "city": "Atlantis"},
            {"id": "c", **hotel, "city": " "},
        ]
    )
    table = normalise(frame, pack, preset_errors=errors)
    assert table.city.tolist() == ["南宁市", "Atlantis", None]
    r = check_table(table, pack, AS_OF).results
    assert notes(r[1]) == [
        (
            "warning",
            "city: 'Atlantis' is not a city of Guangxi Zhuang Autonomous Region, China "
            "(广西壮族自治区)",
        )
    ]
    assert notes(r[0]) == [] and notes(r[2]) == []


def test_site_constraint_text_is_kept_as_written(pack):
    frame, errors = records_frame(
        [
            {"id": "a", "category": "hotel", "site_constraint": "  slope  "},
            {"id": "b", "category": "hotel", "site_constraint": "   "},
        ]
    )
    table = normalise(frame, pack, preset_errors=errors)
    assert table.site_constraint.tolist() == ["  slope  ", None]


def test_normalise_defaults_and_row_numbers(pack):
    frame, errors = records_frame(
        [
            {"id": "a", "category": "hotel", "parking_spaces": 1},
            {"id": "a", "category": "hotel", "parking_spaces": 2},
            {"id": None, "category": "hotel", "parking_spaces": 2},
        ]
    )
    table = normalise(frame, pack, preset_errors=errors)
    assert (table.source, table.row_kind) == ("input", "row")
    assert table.row_numbers.tolist() == [1, 2, 3]
    assert table.where(0) == "input row 1 (id a)" and table.where(2) == "input row 3"
    assert table.errors == {
        0: ["id: 'a' is not unique; it is also on row 2"],
        1: ["id: 'a' is not unique; it is also on row 1"],
        2: ["id: missing; every site needs an id"],
    }
    numbered = normalise(frame, pack, row_numbers=np.array([5, 7, 9]), source="f.csv")
    assert numbered.errors[0] == ["id: 'a' is not unique; it is also on row 7"]
    assert numbered.where(1) == "f.csv row 7 (id a)"


def test_fact_columns_of_the_table(pack):
    frame, errors = records_frame(
        [
            {"id": "a", "category": "scenic_area", "a_rating": 4, "dedicated_ev_area": True},
            {
                "id": "b",
                "category": "scenic_area",
                "dedicated_ev_area": False,
                "development": "new",
            },
            {"id": "c", "category": "scenic_area"},
        ]
    )
    table = normalise(frame, pack, preset_errors=errors)
    values, missing = table.fact("a_rating")
    assert values.tolist() == [4, 0, 0] and missing.tolist() == [False, True, True]
    values, missing = table.fact("dedicated_ev_area")
    assert values.tolist() == [True, False, False] and missing.tolist() == [False, False, True]
    assert table.dedicated.tolist() == [1, 0, -1]
    values, missing = table.fact("development")
    assert values.tolist() == [None, "new", None] and missing.tolist() == [True, False, True]
    assert table.extra_frame().columns.tolist() == [
        "id",
        "category",
        "a_rating",
        "dedicated_ev_area",
        "development",
    ]


def test_records_frame_keeps_non_objects_as_empty_rows():
    frame, errors = records_frame([{"id": "a", "x": 1}, "oops", {"id": "b", "y": [1, 2]}])
    assert frame.shape == (3, 3) and frame.columns.tolist() == ["id", "x", "y"]
    assert frame["id"].tolist() == ["a", None, "b"]
    assert frame.index.tolist() == [0, 1, 2]
    assert errors == {1: ["expected a site object, got str"]}


def test_list_values_in_a_count_are_invalid_not_a_crash(pack):
    r = results(
        [
            {"category": "hotel", "parking_spaces": [1, 2], **NONE},
            {"category": "hotel", "parking_spaces": {"n": 1}, **NONE},
            {"category": "hotel", "parking_spaces": True, **NONE},
        ],
        pack,
    )
    assert [m for x in r for _, m in notes(x)] == [
        "parking_spaces: [1, 2] is not a whole number",
        "parking_spaces: '{\"n\": 1}' is not a whole number",  # shown as its JSON text
        "parking_spaces: true is not a whole number",
    ]


def test_a_long_value_is_shortened_in_messages(pack):
    r = one({"category": "hotel", "parking_spaces": "x" * 80, **NONE}, pack)
    assert notes(r) == [("error", "parking_spaces: '" + "x" * 56 + "... is not a whole number")]


def test_a_large_batch_takes_the_column_paths_with_exact_answers(pack):
    """Past records.SMALL rows, text, blank and duplicate tests run on Arrow and pandas
    columns: each kind of row must get the answer it gets alone."""
    from siting.records import SMALL

    base = {"category": "hotel", "parking_spaces": 10, "charging_spaces": 2, "reserved_spaces": 0}
    recs = [{"id": f"h{i}", **base} for i in range(SMALL + 20)]
    recs[0] = {"id": None, **base}
    recs[1] = {"id": "  ", **base}
    recs[2] = {"id": "dup", **base}
    recs[3] = {"id": "dup", **base}
    recs[4] = {"id": "nocat", "category": None, "parking_spaces": 10}
    recs[5] = {"id": "ch", **base, "chargers": [{"power_kw": 7, "guns": 3, "current": "AC"}]}
    recs[6] = {"id": "chs", **base, "chargers": '[{"power_kw": 60, "guns": 1, "current": "DC"}]'}
    recs[7] = {
        "id": "new",
        "category": "新建小区",
        "parking_spaces": 10,
        **NONE,
        "charging_spaces": 10,
    }
    recs[8] = {"id": "clash", "category": "老旧小区", "development": "新建", "parking_spaces": 10}
    recs[9] = {
        "id": "sc",
        "category": "5A景区",
        "parking_spaces": 10,
        **NONE,
        "charging_spaces": 2,
        "dedicated_ev_area": "是",
        "site_constraint": "  hill ",
    }
    recs[10] = {"id": "p", "category": "hotel", "parking_spaces": "12", "charging_spaces": " "}
    answer = check_records(recs, pack, as_of=AS_OF)
    got = [
        (r["id"], r["status"], r["required_spaces"], r["provided_spaces"], [m for _, m in notes(r)])
        for r in answer.results[:11]
    ]
    assert got == [
        (None, "invalid", None, None, ["id: missing; every site needs an id"]),
        (None, "invalid", None, None, ["id: missing; every site needs an id"]),
        ("dup", "invalid", None, None, ["id: 'dup' is not unique; it is also on record 4"]),
        ("dup", "invalid", None, None, ["id: 'dup' is not unique; it is also on record 3"]),
        ("nocat", "insufficient_data", None, None, []),
        ("ch", "pass", 2, 3, ["charging_spaces 2 replaced by 3 from the charger schedule"]),
        ("chs", "fail", 2, 1, ["charging_spaces 2 replaced by 1 from the charger schedule"]),
        ("new", "pass", 10, 10, []),
        (
            "clash",
            "invalid",
            None,
            None,
            [
                "development: the category name says 'existing' but development is '新建'; "
                "correct one of them"
            ],
        ),
        ("sc", "pass", 2, 2, []),
        ("p", "fail", 3, 0, ["charging_spaces blank: read as 0"]),
    ]
    assert answer.table.site_constraint[9:11].tolist() == ["  hill ", None]
    rest = answer.results[11:]
    assert {brief(r) for r in rest} == {("pass", "gx-3.3.1-public", 10, 2, 2, 0)}
    assert [r["id"] for r in rest] == [f"h{i}" for i in range(11, SMALL + 20)]


def test_missing_basis_and_fallback_are_both_named(pack):
    r = one(
        {
            "category": "highway_service_area",
            "service_area_class": 1,
            "development": "existing",
            "charging_spaces": 5,
            "reserved_spaces": 0,
            "fast_charging_spaces": 1,
        },
        pack,
    )
    assert brief(r) == ("insufficient_data", "gx-3.3.1-highway", None, None, 5, None)
    assert r["explanation"] == (
        "cannot be settled: missing parking_spaces, small_car_spaces; with 5 provided it passes "
        "if small_car_spaces <= 25 and fails above; state small_car_spaces to settle it"
    )


def test_missing_basis_and_absent_count_column_are_both_named(pack):
    r = one({"category": "regional_agency", "charging_spaces": 5}, pack)
    assert brief(r) == ("insufficient_data", "gx-3.3.1-agency", None, None, 5, None)
    assert r["explanation"] == "cannot be settled: missing parking_spaces, reserved_spaces"


def test_a_charger_schedule_supplies_a_count_the_input_has_no_column_for(pack):
    with_chargers, without = results(
        [
            {
                "category": "hotel",
                "reserved_spaces": 0,
                "chargers": [{"power_kw": 7, "guns": 2, "current": "AC"}],
            },
            {"category": "hotel", "parking_spaces": 10, "reserved_spaces": 0},
        ],
        pack,
    )
    assert brief(with_chargers) == ("insufficient_data", "gx-3.3.1-public", None, None, 2, None)
    assert with_chargers["explanation"] == (
        "cannot be settled: missing parking_spaces; with 2 provided it passes if parking_spaces "
        "<= 10 and fails above; state parking_spaces to settle it"
    )
    assert brief(without) == ("insufficient_data", "gx-3.3.1-public", 10, 2, 0, None)
    assert without["explanation"] == (
        "cannot be settled: missing charging_spaces; 2 required (charging), 0 provided by the "
        "counts given: passes if charging_spaces comes to 2 or more (read as 0 it would fail, "
        "short 2); add the charging_spaces column to settle it"
    )


def test_dedicated_area_not_stated(pack):
    site = {
        "category": "scenic_area",
        "a_rating": 4,
        "parking_spaces": 10,
        **NONE,
        "fast_charging_spaces": 0,
    }
    met, short = results(
        [{**site, "charging_spaces": 2}, {**site, "charging_spaces": 1, "site_constraint": "x"}],
        pack,
    )
    assert brief(met) == ("insufficient_data", "gx-3.3.1-scenic-a4-5", 10, 2, 2, 0)
    assert met["explanation"] == (
        "ceil(20% x 10) = 2 required; 2 provided (charging); met; dedicated EV charging area: "
        "not stated"
    )
    assert notes(met) == [
        (
            "recommendation",
            "the rule prefers fast charging (宜优先配置快充) and fast_charging_spaces is 0",
        ),
        ("warning", "the rule requires a dedicated EV charging area; state dedicated_ev_area"),
    ]
    # short as well: it fails whatever the area is; the stated constraint makes it a review
    assert brief(short) == ("needs_review", "gx-3.3.1-scenic-a4-5", 10, 2, 1, 1)
    assert evals(short) == [
        ("gx-3.3.1-scenic-a", "scenic_area", "pass", 10, 1, 1, 0),
        ("gx-3.3.1-scenic-a4-5", "scenic_area", "needs_review", 10, 2, 1, 1),
    ]
    assert notes(short)[2] == (
        "warning",
        "short of the requirement, but the rule applies subject to actual site conditions and a "
        "site constraint is stated: 'x'; a reviewer must decide",
    )


def test_several_sites_with_alternatives_in_one_batch(pack):
    sites = [
        {"category": "hotel", "parking_spaces": 100, "charging_spaces": 10, "reserved_spaces": 0},
        {"parking_spaces": 100, "charging_spaces": 10, "reserved_spaces": 0},
        {
            "category": "scenic_area",
            "parking_spaces": 100,
            "charging_spaces": 5,
            "reserved_spaces": 0,
        },
        {"category": "hotel", "parking_spaces": 100, "charging_spaces": 15, "reserved_spaces": 0},
    ]
    alts = [
        (3, "residential"),
        (0, "regional_agency"),
        (1, "hospital"),
        (0, "shopping_mall"),
        (3, "regional_agency"),
    ]
    r = check_table(_table(sites, pack, alts=alts), pack, AS_OF).results
    assert [x["status"] for x in r] == ["needs_review", "needs_review", "fail", "insufficient_data"]
    # alternatives keep the order they were given in, per site
    assert notes(r[0]) == [
        (
            "warning",
            "the verdict depends on which category the site is: as hotel: fails, short 10; as "
            "regional_agency: passes; as shopping_mall: fails, short 10",
        )
    ]
    # no alternative on site 2: only its missing rating is tried
    assert brief(r[2]) == ("fail", "gx-3.3.1-scenic-a", 100, 10, 5, 5)
    assert notes(r[2]) == [
        (
            "info",
            "a_rating not given: every value gives the same verdict (a_rating 1-3: fails, short 5; "
            "a_rating 4-5: fails, short 15)",
        )
    ]
    assert r[3]["explanation"] == (
        "hotel: cannot be settled: missing development (see notes: what each value gives)"
    )
    assert notes(r[3]) == [
        (
            "warning",
            "the verdict depends on facts not given: as hotel, development new: fails, short 5; "
            "as residential, development new: fails, short 85; as regional_agency, development "
            "new: passes; as hotel, development existing: fails, short 5; as residential, "
            "development existing or as regional_agency, development existing: passes",
        )
    ]
    # a site with no category of its own, only an alternative
    assert evals(r[1]) == [(None, None, "needs_review", None, None, None, None)]
    assert r[1]["explanation"] == "cannot be checked: missing category"


def test_a_site_with_only_an_alternative_category_names_both_options(pack):
    table = _table(
        [{"parking_spaces": 100, "charging_spaces": 10, "reserved_spaces": 0}],
        pack,
        alts=[(0, "hospital")],
    )
    (r,) = check_table(table, pack, AS_OF).results
    assert not any(": : " in m for _, m in notes(r))
    assert r["status"] == "needs_review"
    assert notes(r) == [
        (
            "warning",
            "the verdict depends on which category the site is: with no category: cannot be "
            "checked (missing category); as hospital: fails, short 10",
        )
    ]


def test_value_texts_in_messages(pack):
    hotel = {"category": "hotel", **NONE}
    values = ["x" * 58, "x" * 59, ["十"], {"b": 1, "a": 2}, "-1,000"]
    r = results([{**hotel, "parking_spaces": v} for v in values], pack)
    assert [m for x in r for _, m in notes(x)] == [
        "parking_spaces: '" + "x" * 58 + "' is not a whole number",  # 60 characters: whole
        "parking_spaces: '" + "x" * 56 + "... is not a whole number",  # 61: shortened
        'parking_spaces: ["十"] is not a whole number',
        'parking_spaces: \'{"a": 2, "b": 1}\' is not a whole number',
        "parking_spaces: '-1,000' is negative; counts must be 0 or more",
    ]


def test_counts_with_thousands_separators(pack):
    hotel = {"category": "hotel", **NONE}
    r = results(
        [
            {**hotel, "parking_spaces": "1，000"},  # full-width comma
            {**hotel, "parking_spaces": "0,000"},
            {**hotel, "parking_spaces": "1,000,000,000"},  # MAX_COUNT, written with commas
            {**hotel, "parking_spaces": "1,000,000,001"},
        ],
        pack,
    )
    assert brief(r[0]) == ("fail", "gx-3.3.1-public", 1000, 200, 0, 200)
    assert brief(r[1])[:3] == ("not_applicable", "gx-3.3.1-public", 0)
    assert brief(r[2])[:4] == ("fail", "gx-3.3.1-public", MAX_COUNT, MAX_COUNT // 5)
    assert notes(r[3]) == [
        (
            "error",
            "parking_spaces: '1,000,000,001' is too large to be a count (at most 1,000,000,000)",
        )
    ]


def test_service_area_class_carried_by_a_name(pack):
    area = {
        "parking_spaces": 10,
        "small_car_spaces": 10,
        "charging_spaces": 2,
        "reserved_spaces": 0,
    }
    r = results(
        [
            {"category": "一类服务区", "service_area_class": 2, **area},
            {"category": "一类服务区", "service_area_class": "一类", **area},
        ],
        pack,
    )
    assert notes(r[0]) == [
        (
            "error",
            "service_area_class: the category name says 1 but service_area_class is 2; correct "
            "one of them",
        )
    ]
    assert brief(r[1]) == ("pass", "gx-3.3.1-highway", 10, 2, 2, 0)


def test_names_carrying_several_contradictory_facts(pack):
    r = one({"category": "新建小区;老旧小区;5A景区;4A景区", "parking_spaces": 10, **NONE}, pack)
    assert notes(r) == [
        (
            "error",
            "category: the names carry contradictory facts: development 'new' and 'existing'; "
            "a_rating '5a' and '4a'",
        )
    ]


def test_two_spellings_of_one_carried_rating_agree(pack):
    r = one(
        {
            "category": "5A景区;AAAAA级景区",
            "parking_spaces": 10,
            **NONE,
            "charging_spaces": 2,
            "dedicated_ev_area": True,
        },
        pack,
    )
    assert r["status"] == "pass"


def test_normalise_keeps_the_columns_it_is_given_to_keep(pack):
    frame, errors = records_frame([{"id": "a", "category": "hotel", "parking_spaces": 1}])
    keep = pd.DataFrame({"名称": ["甲"]}, index=[7])
    table = normalise(frame, pack, preset_errors=errors, keep=keep)
    assert table.extra_frame().to_dict("list") == {"名称": ["甲"]}
    assert table.extra_frame().index.tolist() == [0]


def test_headline_prefers_a_mandatory_rule_over_a_larger_advisory_one(tiny):
    both_pass, both_open = results(
        [
            {"category": "office;depot", "parking_spaces": 100, **NONE, "charging_spaces": 15},
            {"category": "shop;office", **NONE, "charging_spaces": 3},
        ],
        tiny,
    )
    assert evals(both_pass) == [
        ("depot-min", "depot", "pass", 100, 10, 15, 0),
        ("office-advice", "office", "pass", 100, 15, 15, 0),
    ]
    assert brief(both_pass) == ("pass", "depot-min", 100, 10, 15, 0)
    # a rule's open verdict heads before a category-level one (no rule, not mandatory)
    assert evals(both_open) == [
        ("office-advice", "office", "insufficient_data", None, None, 3, None),
        (None, "shop", "insufficient_data", None, None, None, None),
    ]
    assert brief(both_open) == ("insufficient_data", "office-advice", None, None, 3, None)
    assert both_open["explanation"] == (
        "cannot be settled: missing parking_spaces; with 3 provided it passes if parking_spaces "
        "<= 20 and fails above; state parking_spaces to settle it"
    )


def test_summary_shortfall_skips_invalid_sites(pack):
    answer = check_records(
        [
            {"id": "a", "category": "hotel", "parking_spaces": -1},
            {"id": "b", "category": "hotel", "parking_spaces": 10, **NONE},
            {"id": "c", "category": "hotel", "parking_spaces": 20, **NONE},
        ],
        pack,
        as_of=AS_OF,
    )
    assert answer.summary["total_shortfall"] == 2 + 4
    assert answer.summary["by_status"]["invalid"] == 1 and answer.summary["by_status"]["fail"] == 2


def test_true_is_not_the_count_one(pack):
    r = results(
        [
            {"category": "hotel", "parking_spaces": 1, **NONE},
            {"category": "hotel", "parking_spaces": True, **NONE},
        ],
        pack,
    )
    assert brief(r[0])[:4] == ("fail", "gx-3.3.1-public", 1, 1)
    assert notes(r[1]) == [("error", "parking_spaces: true is not a whole number")]


def test_true_is_not_the_count_one_in_a_large_batch(pack):
    from siting.records import SMALL

    recs = [{"category": "hotel", "parking_spaces": 1, **NONE} for _ in range(SMALL + 44)]
    recs[5] = {**recs[5], "parking_spaces": True}
    recs[7] = {**recs[7], "parking_spaces": False, "charging_spaces": 0.0}
    recs[9] = {**recs[9], "parking_spaces": 0}
    r = results(recs, pack)
    assert r[5]["status"] == "invalid"
    assert notes(r[5]) == [("error", "parking_spaces: true is not a whole number")]
    assert notes(r[7]) == [("error", "parking_spaces: false is not a whole number")]
    assert brief(r[9]) == ("not_applicable", "gx-3.3.1-public", 0, None, 0, None)
    assert {brief(x) for i, x in enumerate(r) if i not in (5, 7, 9)} == {
        ("fail", "gx-3.3.1-public", 1, 1, 0, 1)
    }
    # the same when true comes first: the records that say 1 are still counts
    r = results([recs[5], *recs[:5], *recs[6:]], pack)
    assert r[0]["status"] == "invalid" and r[1]["status"] == "fail"


def test_a_table_from_columns_and_a_pack_without_cities(tiny):
    columns = {
        "id": np.array(["a", "b"], dtype=object),
        "category": np.array(["office", "office"], dtype=object),
        "parking_spaces": np.array([100, 100], dtype=object),
        "charging_spaces": np.array([15, 0], dtype=object),
        "city": np.array([" Springfield ", None], dtype=object),
    }
    table = normalise(columns, tiny, row_numbers=np.array([1, 2]))
    assert table.city.tolist() == ["Springfield", None]
    assert table.extra_frame().columns.tolist() == list(columns)
    r = check_table(table, tiny, AS_OF).results
    assert [x["status"] for x in r] == ["pass", "advisory"] and notes(r[0]) == []
