"""The evaluation engine: arithmetic, statuses, categories, multi-category, chargers, dates."""

import json
import math
from fractions import Fraction

import numpy as np
import pytest
from conftest import check_one
from hypothesis import given, settings
from hypothesis import strategies as st

from siting import check_records, load_ruleset
from siting.errors import InputError
from siting.ratio import apply_ratio, format_ratio, parse_ratio

# every decision pinned here, on the scalar path and on the whole-column path (conftest)
pytestmark = pytest.mark.usefixtures("decision_path")


# ---------------------------------------------------------------- exact arithmetic
def test_float_trap_55_percent_of_100_is_55():
    # 0.55 * 100 in binary floating point is 55.00000000000001 and would round up to 56; the
    # engine reads every spelling of 55 % as the exact fraction 11/20, a float (as YAML gives
    # it) by the decimal its author wrote, not by its binary value
    spellings = ["55%", "55％", "0.55", 0.55, "11/20"]
    assert {parse_ratio(s) for s in spellings} == {Fraction(11, 20)}
    assert parse_ratio(0.55) != Fraction(0.55)  # not the binary double's value
    assert format_ratio(parse_ratio(0.55)) == "55%"
    basis = np.array([0, 1, 20, 100, 101, 10**9, 10**12])
    exact = [math.ceil(Fraction(11, 20) * b) for b in basis.tolist()]
    assert exact == [0, 1, 11, 55, 56, 550_000_000, 550_000_000_000]
    for s in spellings:
        got = apply_ratio(parse_ratio(s), basis)
        assert got.tolist() == exact and got.dtype == np.int64
    # floor and half-up are exact too: 55 % of 100 is 55 whichever way it is rounded
    for rounding in ("ceil", "floor", "half_up"):
        assert apply_ratio(parse_ratio(0.55), np.array([100]), rounding)[0] == 55
    assert apply_ratio(parse_ratio(0.55), np.array([101]), "floor")[0] == 55
    assert apply_ratio(parse_ratio(0.55), np.array([101]), "half_up")[0] == 56  # 55.55


def test_float_trap_through_a_pack(tmp_path, root):
    text = (root / "rules/guangxi/guangxi-2021-2025.yaml").read_text(encoding="utf-8")
    path = tmp_path / "p.yaml"
    path.write_text(text.replace('ratio: "15%"', "ratio: 0.55"), encoding="utf-8")
    r = check_one(
        {
            "id": "x",
            "category": "industrial_park",
            "development": "new",
            "parking_spaces": 100,
            "charging_spaces": 55,
        },
        load_ruleset(path),
    )
    assert (r["required_spaces"], r["status"], r["ratio"]) == (55, "pass", "55%")


@given(num=st.integers(0, 1000), den=st.integers(1, 1000), basis=st.integers(0, 10**9))
@settings(max_examples=300, deadline=None)
def test_ceil_is_exact(num, den, basis):
    got = apply_ratio(Fraction(num, den), np.array([basis]))[0]
    assert got == math.ceil(Fraction(num, den) * basis)


@pytest.mark.parametrize(
    "text,value",
    [
        ("20%", Fraction(1, 5)),
        ("1/3", Fraction(1, 3)),
        ("0.15", Fraction(3, 20)),
        ("12.5%", Fraction(1, 8)),
        ("100％", Fraction(1)),
    ],
)
def test_parse_ratio(text, value):
    assert parse_ratio(text) == value


def test_format_ratio():
    assert format_ratio(Fraction(1, 5)) == "20%"
    assert format_ratio(Fraction(1, 8)) == "12.5%"
    assert format_ratio(Fraction(1, 3)) == "1/3"


@pytest.mark.parametrize("basis", [1, 9, 10, 11, 99, 100, 101, 333, 999, 1001])
def test_boundaries_of_20_percent(pack, basis):
    need = math.ceil(Fraction(basis, 5))
    at = check_one(
        {"id": "a", "category": "hospital", "parking_spaces": basis, "charging_spaces": need}, pack
    )
    below = check_one(
        {"id": "b", "category": "hospital", "parking_spaces": basis, "charging_spaces": need - 1},
        pack,
    )
    assert (at["status"], at["required_spaces"], at["shortfall"]) == ("pass", need, 0)
    assert (below["status"], below["shortfall"]) == ("fail", 1)


# ---------------------------------------------------------------- every category, every status
CATEGORY_RATIO = {
    "regional_agency": 10,
    "state_owned_enterprise": 10,
    "urban_complex": 20,
    "shopping_mall": 20,
    "supermarket": 20,
    "cultural_sports_venue": 20,
    "hospital": 20,
    "hotel": 20,
    "transport_hub": 20,
    "park_and_ride": 20,
    "public_parking": 20,
}


@pytest.mark.parametrize("category,pct", sorted(CATEGORY_RATIO.items()))
def test_each_flat_category(pack, category, pct):
    # reserved_spaces stated (0): agencies and SOEs count charging + reserved, and an absent
    # count column is unknown, not 0
    r = check_one(
        {
            "id": "s",
            "category": category,
            "parking_spaces": 1000,
            "charging_spaces": pct * 10 - 1,
            "reserved_spaces": 0,
        },
        pack,
    )
    assert r["required_spaces"] == pct * 10
    assert r["status"] == "fail" and r["shortfall"] == 1
    assert r["citation"]["section"].startswith("3(3) 1")
    assert r["citation"]["document"].startswith("广西电动汽车充电基础设施发展规划")


@pytest.mark.parametrize(
    "site,status,required",
    [
        (
            {"category": "highway_service_area", "service_area_class": 2, "small_car_spaces": 100},
            "fail",
            20,
        ),
        ({"category": "scenic_area", "a_rating": 2, "parking_spaces": 100}, "fail", 10),
        ({"category": "scenic_area", "a_rating": 5, "parking_spaces": 100}, "fail", 20),
        ({"category": "industrial_park", "development": "new", "parking_spaces": 100}, "fail", 15),
        (
            {"category": "industrial_park", "development": "existing", "parking_spaces": 100},
            "advisory",
            None,
        ),
        ({"category": "residential", "development": "new", "parking_spaces": 100}, "fail", 100),
        (
            {"category": "residential", "development": "existing", "parking_spaces": 100},
            "advisory",
            10,
        ),
        # 4(1): a new service area of any class builds or reserves at least one space
        (
            {
                "category": "highway_service_area",
                "service_area_class": 3,
                "development": "new",
                "parking_spaces": 50,
            },
            "fail",
            1,
        ),
        # 4(1): an existing service area outside classes 1/2 is encouraged, no ratio
        (
            {
                "category": "highway_service_area",
                "service_area_class": 3,
                "development": "existing",
                "parking_spaces": 50,
            },
            "advisory",
            None,
        ),
        # 党政机关 below region level: advisory, never the region-level 10 % rule
        ({"category": "government_agency", "parking_spaces": 100}, "advisory", None),
        ({"category": "党政机关", "parking_spaces": 100}, "advisory", None),
    ],
)
def test_conditional_categories(pack, site, status, required):
    # no chargers, said explicitly: an absent count column is unknown, not 0
    r = check_one({"id": "s", "charging_spaces": 0, "reserved_spaces": 0, **site}, pack)
    assert (r["status"], r["required_spaces"]) == (status, required)


def test_every_status_is_reachable(pack):
    sites = [
        {"id": "pass", "category": "hotel", "parking_spaces": 10, "charging_spaces": 2},
        {"id": "fail", "category": "hotel", "parking_spaces": 10, "charging_spaces": 1},
        {
            "id": "advisory",
            "category": "residential",
            "development": "existing",
            "parking_spaces": 10,
            "charging_spaces": 0,
        },
        {
            # meets the 10 % floor of every A-level site (1 of 10), not the AAAA 20 % (2):
            # the stated constraint softens only the 20 % rule
            "id": "needs_review",
            "category": "scenic_area",
            "a_rating": 4,
            "parking_spaces": 10,
            "charging_spaces": 1,
            "dedicated_ev_area": True,
            "site_constraint": "slope",
        },
        {"id": "not_applicable", "category": "hotel", "parking_spaces": 0, "charging_spaces": 0},
        # no parking count: 2 chargers pass at up to 10 spaces, fail above
        {"id": "insufficient_data", "category": "hotel", "charging_spaces": 2},
        {"id": "invalid", "category": "hotel", "parking_spaces": -1, "charging_spaces": 0},
    ]
    answer = check_records(sites, pack, as_of="2024-01-01")
    assert [r["status"] for r in answer.results] == [s["id"] for s in sites]
    assert all(v == 1 for v in answer.summary["by_status"].values())
    assert [r["status_zh"] for r in answer.results][:2] == ["达标", "不达标"]
    assert "passes if parking_spaces <= 10" in answer.results[5]["explanation"]


def test_insufficient_names_what_is_missing(pack):
    # 5 of 50 meets the 10 % of A-level sites, not the 20 % of AAAA/AAAAA ones
    r = check_one(
        {"id": "s", "category": "scenic_area", "parking_spaces": 50, "charging_spaces": 5}, pack
    )
    assert r["status"] == "insufficient_data" and "a_rating" in r["explanation"]
    assert r["explanation"].startswith("scenic_area: cannot be settled: missing a_rating")
    messages = [n["message"] for n in r["notes"]]
    assert any(
        m.startswith("the verdict depends on facts not given: a_rating 1-3: passes; a_rating 4-5")
        for m in messages
    )
    r = check_one({"id": "s", "category": "hotel", "charging_spaces": 60}, pack)
    assert r["status"] == "insufficient_data" and "parking_spaces" in r["explanation"]
    assert "passes if parking_spaces <= 300" in r["explanation"]
    r = check_one({"id": "s", "parking_spaces": 5, "charging_spaces": 0}, pack)
    assert r["status"] == "insufficient_data" and "category" in r["explanation"]


def test_missing_fact_that_does_not_change_the_verdict_is_not_needed(pack):
    # no chargers at a scenic site: below the 10 % floor whatever its A-rating
    r = check_one(
        {"id": "s", "category": "scenic_area", "parking_spaces": 50, "charging_spaces": 0}, pack
    )
    assert (r["status"], r["rule_id"], r["required_spaces"], r["shortfall"]) == (
        "fail",
        "gx-3.3.1-scenic-a",
        5,
        5,
    )
    assert any(
        n["message"].startswith("a_rating not given: every value gives the same verdict")
        for n in r["notes"]
    )
    # no parking count and no chargers: fails at any size; the least requirement is shown
    r = check_one({"id": "s", "category": "hotel", "charging_spaces": 0}, pack)
    assert r["status"] == "fail" and r["shortfall"] >= 1
    assert any("parking_spaces not given: fails whatever it is" in n["message"] for n in r["notes"])


def test_absent_count_column_is_unknown_not_zero(pack):
    """A count the input has no column for is unknown: a verdict stands only if it holds
    whatever the count is; a blank cell in a present column is 0, with a note."""
    agency = {"category": "regional_agency", "parking_spaces": 100}
    # the known counts already meet 10 %: the pass stands
    r = check_one({"id": "a", **agency, "charging_spaces": 10}, pack)
    assert (r["status"], r["required_spaces"], r["shortfall"]) == ("pass", 10, 0)
    # they do not: reserved spaces could make it up
    r = check_one({"id": "a", **agency, "charging_spaces": 5}, pack)
    assert r["status"] == "insufficient_data"
    assert "cannot be settled: missing reserved_spaces" in r["explanation"]
    assert "passes if reserved_spaces comes to 5 or more" in r["explanation"]
    # stated 0: a plain fail
    r = check_one({"id": "a", **agency, "charging_spaces": 5, "reserved_spaces": 0}, pack)
    assert (r["status"], r["shortfall"]) == ("fail", 5)
    # no charging column at all
    r = check_one({"id": "h", "category": "hospital", "parking_spaces": 100}, pack)
    assert r["status"] == "insufficient_data"
    assert "missing charging_spaces" in r["explanation"]
    # a column one record has is present for the batch: another record's blank is 0
    answer = check_records(
        [
            {"id": "h1", "category": "hospital", "parking_spaces": 100, "charging_spaces": 20},
            {"id": "h2", "category": "hospital", "parking_spaces": 100},
        ],
        pack,
        as_of="2024-06-30",
    )
    blank = answer.results[1]
    assert (blank["status"], blank["shortfall"]) == ("fail", 20)
    assert {"level": "info", "message": "charging_spaces blank: read as 0"} in blank["notes"]


def test_invalid_names_every_problem(pack):
    r = check_one(
        {
            "id": "s",
            "category": ["hotel", "moon base"],
            "parking_spaces": "ten",
            "small_car_spaces": 3,
            "charging_spaces": 1.5,
            "a_rating": 9,
            "development": "sideways",
            "dedicated_ev_area": "perhaps",
        },
        pack,
    )
    assert r["status"] == "invalid"
    text = " ".join(n["message"] for n in r["notes"])
    for needle in (
        "parking_spaces: 'ten' is not a whole number",
        "charging_spaces: 1.5 is not a whole number",
        "a_rating: 9 is not an A-rating",
        "development: 'sideways' is not understood",
        "dedicated_ev_area: 'perhaps' is not understood",
        "unknown 'moon base'",
    ):
        assert needle in text
    assert "record 1 (id s)" in r["explanation"]


def test_contradictions_are_invalid(pack):
    r = check_one(
        {
            "id": "s",
            "category": "highway_service_area",
            "service_area_class": 1,
            "parking_spaces": 10,
            "small_car_spaces": 11,
        },
        pack,
    )
    assert r["status"] == "invalid"
    assert "small_car_spaces = 11 is more than parking_spaces = 10" in r["explanation"]


def test_duplicate_ids_are_invalid_and_rows_kept(pack):
    answer = check_records(
        [
            {"id": "a", "category": "hotel", "parking_spaces": 5, "charging_spaces": 0},
            {"id": "b", "category": "hotel", "parking_spaces": 5, "charging_spaces": 0},
            {"id": "a", "category": "hotel", "parking_spaces": 5, "charging_spaces": 0},
        ],
        pack,
        as_of="2024-01-01",
    )
    assert [r["status"] for r in answer.results] == ["invalid", "fail", "invalid"]
    assert "also on record 3" in answer.results[0]["explanation"]


def test_duplicate_ids_in_a_large_batch(pack):
    """Past 256 records ids are compared by Arrow; the same sites must be found."""
    ids = [f"s{i}" for i in range(400)]
    ids[10] = ids[300] = ids[399] = "twice"
    ids[20] = "  "  # blank: missing, not a duplicate
    records = [{"id": i, "category": "hotel", "parking_spaces": 5} for i in ids]
    answer = check_records(records, pack, as_of="2024-01-01")
    invalid = [i for i, r in enumerate(answer.results) if r["status"] == "invalid"]
    assert invalid == [10, 20, 300, 399]
    assert "also on record 301, 400" in answer.results[10]["explanation"]
    assert "missing" in answer.results[20]["explanation"]
    assert answer.frame()["id"].iloc[[10, 21]].tolist() == ["twice", "s21"]


def test_one_result_per_record_in_order(pack):
    records = [{"id": f"s{i}", "category": "hotel", "parking_spaces": i} for i in range(50)]
    records.insert(7, "not an object")
    records.insert(20, {"category": "hotel"})
    answer = check_records(records, pack, as_of="2024-01-01")
    assert len(answer.results) == len(records)
    assert [r["row"] for r in answer.results] == list(range(1, len(records) + 1))
    assert answer.results[7]["status"] == "invalid"
    assert answer.results[20]["status"] == "invalid" and answer.results[20]["id"] is None


# ---------------------------------------------------------------- multi-category
def test_multi_category_list_and_semicolons_agree(pack):
    a = check_one(
        {
            "id": "m",
            "category": ["hotel", "residential"],
            "development": "new",
            "parking_spaces": 50,
            "charging_spaces": 10,
            "reserved_spaces": 40,
        },
        pack,
    )
    b = check_one(
        {
            "id": "m",
            "category": "宾馆；住宅小区",
            "development": "新建",
            "parking_spaces": 50,
            "charging_spaces": 10,
            "reserved_spaces": 40,
        },
        pack,
    )
    assert a["categories"] == b["categories"] == ["hotel", "residential"]
    assert a["status"] == b["status"] == "pass"
    assert [e["rule_id"] for e in a["evaluations"]] == [
        "gx-3.3.1-public",
        "gx-3.3.2-residential-new",
    ]
    assert a["rule_id"] == "gx-3.3.2-residential-new" and a["required_spaces"] == 50


def test_multi_category_worst_status_wins(pack):
    r = check_one(
        {
            "id": "m",
            "category": "hospital;scenic_area",
            "parking_spaces": 100,
            "charging_spaces": 20,
        },
        pack,
    )
    # hospital passes, the scenic area lacks its rating (20 of 100 meets the 10 % floor of
    # every A-level site; an AAAA/AAAAA one also needs a dedicated area, not stated)
    assert r["status"] == "insufficient_data"
    assert {e["status"] for e in r["evaluations"]} == {"pass", "insufficient_data"}
    # the headline comes from the evaluations with the worst status: the open scenic one,
    # not the hospital's pass
    assert r["rule_id"] != "gx-3.3.1-public" and r["shortfall"] is None
    assert "scenic_area" in r["explanation"] and "a_rating" in r["explanation"]


def test_headline_comes_from_the_worst_status(pack):
    """The headline numbers come from the evaluations with the site's status, even when a
    passing rule has a larger requirement; among those, mandatory first, then the largest."""
    r = check_one(
        {
            "id": "m",
            "category": ["hotel", "residential"],
            "development": "new",
            "parking_spaces": 100,
            "charging_spaces": 10,
            "reserved_spaces": 90,
        },
        pack,
    )
    assert [(e["rule_id"], e["status"], e["required_spaces"]) for e in r["evaluations"]] == [
        ("gx-3.3.1-public", "fail", 20),
        ("gx-3.3.2-residential-new", "pass", 100),
    ]
    assert (r["status"], r["rule_id"], r["required_spaces"], r["shortfall"]) == (
        "fail",
        "gx-3.3.1-public",
        20,
        10,
    )
    # both fail: the larger requirement
    r = check_one(
        {
            "id": "m",
            "category": "scenic_area",
            "a_rating": 5,
            "parking_spaces": 100,
            "charging_spaces": 5,
            "dedicated_ev_area": True,
        },
        pack,
    )
    assert [e["status"] for e in r["evaluations"]] == ["fail", "fail"]
    assert (r["rule_id"], r["required_spaces"], r["shortfall"]) == ("gx-3.3.1-scenic-a4-5", 20, 15)


def test_same_rule_through_two_categories_is_evaluated_once(pack):
    r = check_one(
        {
            "id": "m",
            "category": "shopping_mall;supermarket",
            "parking_spaces": 100,
            "charging_spaces": 20,
        },
        pack,
    )
    assert len(r["evaluations"]) == 1 and r["categories"] == ["shopping_mall", "supermarket"]


# ---------------------------------------------------------------- chargers
def test_charger_schedule_replaces_counts(pack):
    r = check_one(
        {
            "id": "c",
            "category": "highway_service_area",
            "service_area_class": 1,
            "small_car_spaces": 50,
            "charging_spaces": 3,
            "fast_charging_spaces": 0,
            "chargers": [
                {"power_kw": 60, "guns": 2, "current": "DC"},
                {"power_kw": 2.2, "guns": 8, "current": "AC"},
                {"power_kw": 1.5, "guns": 1, "current": "AC"},
            ],
        },
        pack,
    )
    assert r["provided_spaces"] == 10 and r["status"] == "pass"
    messages = [n["message"] for n in r["notes"]]
    assert any("charging_spaces 3 replaced by 10" in m for m in messages)
    assert not any("prefers fast charging" in m for m in messages)  # 2 DC guns are fast


def test_fast_charging_note_only_when_the_fast_count_is_known(pack):
    site = {
        "id": "h",
        "category": "highway_service_area",
        "service_area_class": 1,
        "development": "existing",
        "parking_spaces": 60,
        "small_car_spaces": 50,
        "charging_spaces": 10,
    }
    known = check_one({**site, "fast_charging_spaces": 0}, pack)
    assert known["status"] == "pass"
    assert {
        "level": "recommendation",
        "message": "the rule prefers fast charging (宜优先配置快充) and fast_charging_spaces is 0",
    } in known["notes"]
    unknown = check_one(site, pack)  # no fast_charging_spaces column: nothing to say
    assert unknown["status"] == "pass"
    assert not any("prefers fast charging" in n["message"] for n in unknown["notes"])


def test_bad_charger_schedule_is_invalid(pack):
    r = check_one(
        {
            "id": "c",
            "category": "hotel",
            "parking_spaces": 50,
            "chargers": [
                {"power_kw": "lots", "guns": 1, "current": "AC"},
                {"power_kw": 7, "guns": 0, "current": "AC"},
                {"power_kw": 7, "guns": 1, "current": "three-phase"},
            ],
        },
        pack,
    )
    assert r["status"] == "invalid"
    text = r["explanation"]
    assert "chargers[0].power_kw" in text and "chargers[1].guns" in text
    assert "chargers[2].current" in text


# ---------------------------------------------------------------- as_of and receipt
def test_as_of_before_validity_is_refused(pack):
    with pytest.raises(InputError, match="before ruleset guangxi-2021-2025 came into force"):
        check_records(
            [{"id": "a", "category": "hotel", "parking_spaces": 1}], pack, as_of="2020-06-01"
        )


def test_after_plan_period_warns(pack):
    site = {"id": "a", "category": "hotel", "parking_spaces": 1, "charging_spaces": 0}
    answer = check_records([site], pack, as_of="2026-01-01")
    assert answer.results[0]["status"] == "fail"
    assert any("plan period" in w for w in answer.receipt["warnings"])
    inside = check_records([site], pack, as_of="2025-12-31")
    assert inside.receipt["warnings"] == []


def test_bad_as_of_is_refused(pack):
    with pytest.raises(InputError, match="not a date"):
        check_records([], pack, as_of="yesterday")


def test_receipt_is_reproducible(pack):
    sites = [{"id": "a", "category": "hotel", "parking_spaces": 10}]
    a = check_records(sites, pack, as_of="2024-01-01").receipt
    b = check_records(sites, pack, as_of="2024-01-01").receipt
    c = check_records(sites, pack, as_of="2024-01-02").receipt
    assert a["decision_id"] == b["decision_id"] != c["decision_id"]
    assert a["ruleset"]["sha256"] == pack.sha256 and len(pack.sha256) == 64
    assert a["input_sha256"] == b["input_sha256"]
    assert a["engine"]["name"] == "siting"


def test_summary_total_shortfall_counts_mandatory_only(pack):
    answer = check_records(
        [
            {"id": "a", "category": "hotel", "parking_spaces": 100, "charging_spaces": 15},
            {
                "id": "b",
                "category": "residential",
                "development": "existing",
                "parking_spaces": 100,
            },
        ],
        pack,
        as_of="2024-01-01",
    )
    assert answer.summary["total_shortfall"] == 5


def test_batch_of_only_non_objects_keeps_every_row(pack):
    # found by schemathesis: a frame with no columns used to lose its rows
    answer = check_records([[None, None], "x", 3], pack, as_of="2024-01-01")
    assert [r["status"] for r in answer.results] == ["invalid"] * 3
    assert "expected a site object, got list" in answer.results[0]["explanation"]


def test_absurd_counts_are_invalid_not_a_crash(pack):
    # found by schemathesis: 2**63 overflowed int64
    r = check_one(
        {"id": "a", "category": "hotel", "parking_spaces": 2**63, "charging_spaces": 10**10}, pack
    )
    assert r["status"] == "invalid"
    assert "parking_spaces: 9223372036854775808 is too large to be a count" in r["explanation"]
    assert "charging_spaces: 10000000000 is too large" in r["explanation"]


def _joined(notes: list[dict]) -> str:
    return " | ".join(dict.fromkeys(f"{n['level']}: {n['message']}" for n in notes))


def test_flat_table_notes_line_up_with_their_sites(pack):
    """The notes column of the flat table (CSV, Excel, maps) says, for every site, what its
    JSON result says - whichever rows have notes and however many blocks they come from."""
    # every count stated (an absent count column is unknown; a blank cell in a present one
    # is 0 with a note), so that a plain site has no note at all
    base = {
        "category": "hospital",
        "parking_spaces": 100,
        "charging_spaces": 20,
        "reserved_spaces": 0,
        "fast_charging_spaces": 0,
    }
    no_charging = {k: v for k, v in base.items() if k != "charging_spaces"}
    records = [
        {"id": "a", **base},  # no note
        {"id": "b", **base, "city": "Atlantis"},  # a city warning
        {"id": "c", **base},
        {"id": "d", **base, "category": "hospital;regional_agency"},
        {"id": "e", **base, "parking_spaces": -1},  # invalid: an error note
        {"id": "f", **base, "city": "Atlantis", "dedicated_ev_area": "maybe"},
        {"id": "g", **no_charging},  # a blank cell: read as 0, an info note
    ] * 3
    for k, r in enumerate(records):
        records[k] = {**r, "id": f"{r['id']}{k}"}
    answer = check_records(records, pack, as_of="2024-06-30")
    flat = answer.frame()["notes"].fillna("").tolist()
    assert [_joined(r["notes"]) for r in answer.results] == flat
    assert flat[0] == "" and "Atlantis" in flat[1] and flat[2] == flat[0]
    assert flat[4].startswith("error: ")
    assert flat[6] == "info: charging_spaces blank: read as 0"
    # the evaluations column lists every evaluation of a site that has several, only those
    evaluations = answer.frame()["evaluations"].fillna("").tolist()
    for result, text in zip(answer.results, evaluations, strict=True):
        listed = [] if not text else [part.split("=")[0] for part in text.split("; ")]
        several = result["evaluations"] if len(result["evaluations"]) > 1 else []
        assert listed == [e["rule_id"] or e["category"] for e in several]
    assert evaluations[3].count("=") == 2


def test_notes_blocks_keep_rows_and_order():
    from siting.notes import Notes, join_texts

    notes = Notes()
    notes.add(4, "info", "first")
    notes.add_many(np.array([4, 1]), "warning", np.array(["w4", "w1"], dtype=object))
    notes.add_many(np.array([2, 4]), "info", "same for both")
    notes.add(4, "error", "last")
    assert [n.text for n in notes.get(4)] == [
        "info: first",
        "warning: w4",
        "info: same for both",
        "error: last",
    ]
    assert notes.get(0) == [] and [n.text for n in notes.get(2)] == ["info: same for both"]
    assert join_texts(notes.text_columns(6), 6).tolist() == [
        "",
        "warning: w1",
        "info: same for both",
        "",
        "info: first | warning: w4 | info: same for both | error: last",
        "",
    ]


def test_large_inputs_take_the_column_paths_and_agree_with_small_ones(pack):
    """Inputs above records.SMALL rows go through Arrow/pandas column paths; the answers must
    be those of the per-value paths small inputs take."""
    from siting.records import SMALL

    kinds = [
        {"id": " padded ", "category": "医院", "parking_spaces": "1,200", "charging_spaces": 240},
        {"id": "", "category": "hotel", "parking_spaces": 10},
        {"id": 7, "category": "scenic_area", "a_rating": "5A", "parking_spaces": 10.0},
        {"id": "x", "category": "shopping_mall;hotel", "parking_spaces": -3},
        {"id": "y", "category": "unknown thing", "parking_spaces": "lots"},
        {"id": "z", "category": "highway_service_area", "dedicated_ev_area": "是"},
    ]
    records = [
        {**kinds[k % len(kinds)], "id": f"{kinds[k % len(kinds)]['id']}{k}" if k % 6 != 1 else ""}
        for k in range(SMALL + 60)
    ]
    big = check_records(records, pack, as_of="2024-06-30")
    small = [
        r
        for part in range(0, len(records), 100)
        for r in check_records(records[part : part + 100], pack, as_of="2024-06-30").results
    ]
    strip = lambda r: {k: v for k, v in r.items() if k not in ("row", "explanation")}  # noqa: E731
    assert [strip(r) for r in big.results] == [strip(r) for r in small]
    flat = big.frame()
    assert flat["id"].iloc[0] == "padded 0" and flat["status"].iloc[1] == "invalid"


def test_text_columns_in_several_arrow_chunks(pack):
    """pandas keeps a large CSV's text column as several Arrow chunks; ids must survive."""
    import pandas as pd
    import pyarrow as pa

    from siting.check import check_table
    from siting.records import normalise

    ids = [f" S{k} " for k in range(600)]
    chunks = pa.chunked_array(
        [pa.array(ids[:300], pa.large_string()), pa.array(ids[300:], pa.large_string())]
    )
    frame = pd.DataFrame(
        {
            "id": pd.Series(pd.arrays.ArrowStringArray(chunks)),
            "category": "hotel",
            "parking_spaces": "10",
        }
    )
    flat = check_table(normalise(frame, pack), pack, "2024-06-30").frame()
    assert flat["id"].tolist() == [i.strip() for i in ids]
    assert (flat["required_spaces"] == 2).all()


# --- one record (the HTTP service's /v1/check) takes small-input paths: same results as a batch

_CATS = [
    "hospital",
    "hotel",
    "shopping_mall",
    "public_parking",
    "regional_agency",
    "residential",
    "scenic_area",
    "highway_service_area",
    "industrial_park",
    "医院",
    "住宅小区",
    "超市",
    "no such kind",
    ["hospital", "hotel"],
    None,
]
_COUNT = st.one_of(
    st.none(), st.integers(-5, 3000), st.sampled_from(["", " 12 ", "1.5", "abc", 7.0])
)
_RECORD = st.fixed_dictionaries(
    {"category": st.sampled_from(_CATS)},
    optional={
        "development": st.sampled_from(["new", "existing", "新建", "既有", "maybe"]),
        "parking_spaces": _COUNT,
        "small_car_spaces": _COUNT,
        "charging_spaces": _COUNT,
        "reserved_spaces": _COUNT,
        "fast_charging_spaces": _COUNT,
        "a_rating": st.sampled_from([1, 3, 5, "4A", "AAAAA", 9, "x"]),
        "service_area_class": st.sampled_from([1, 2, 3, "x"]),
        "dedicated_ev_area": st.sampled_from([True, False, "是", "否"]),
        "site_constraint": st.sampled_from(["no room for cables", ""]),
        "充电枪数": st.integers(0, 50),
    },
)


def test_a_large_table_with_a_few_open_facts_evaluates_their_scenarios_site_by_site(
    pack, monkeypatch, decision_path
):
    """In a table of 300 sites, the 3 that lack a fact a rule tests make a scenario table of
    a few rows, which siting/scalar.py evaluates (evaluate._evaluate_sites): each site's
    result is the one it gets alone."""
    from siting import scalar

    calls = []
    real = scalar.evaluate_sites
    monkeypatch.setattr(
        scalar, "evaluate_sites", lambda *a: calls.append(a[0].n) or real(*a), raising=True
    )
    plain = {"category": "hotel", "parking_spaces": 100, "charging_spaces": 20}
    open_ = [
        {"category": "residential", "parking_spaces": 50, "charging_spaces": 10},
        {"category": "scenic_area", "parking_spaces": 80, "charging_spaces": 12},
        {"category": "highway_service_area", "parking_spaces": 90, "charging_spaces": 30},
    ]
    records = [{**plain, "id": f"P{i}"} for i in range(297)] + [
        {**r, "id": f"O{k}"} for k, r in enumerate(open_)
    ]
    batch = check_records(records, pack, as_of="2024-06-30")
    if decision_path == "scalar":
        assert calls and max(calls) <= scalar.SCALAR_SITES  # the scenarios, site by site
    else:
        assert calls == []  # the small-table path is off: every table by whole columns
    for k, r in enumerate(open_):
        alone = check_records([{**r, "id": f"O{k}"}], pack, as_of="2024-06-30").results[0]
        got = dict(batch.results[297 + k])
        assert got.pop("row") == 298 + k
        alone.pop("row")
        assert got == alone
    assert [batch.results[297 + k]["status"] for k in range(3)] == [
        "insufficient_data",
        "insufficient_data",
        "insufficient_data",
    ]


@settings(max_examples=60, deadline=None)
@given(record=_RECORD)
def test_one_record_alone_equals_the_same_record_in_a_large_batch(pack, record):
    """check_records([r]) uses the small-input paths (plain Python, cached column reports,
    explanations without Arrow); in a batch of 300 with the same keys it takes the array paths.
    Its result must be the same, field for field (only the row number differs)."""
    record = {"id": "R1", **record}
    alone = check_records([record], pack, as_of="2024-06-30")
    others = [{**record, "id": f"F{i}"} for i in range(299)]  # same keys: same columns
    batch = check_records([*others, record], pack, as_of="2024-06-30")
    one, same = dict(alone.results[0]), dict(batch.results[-1])
    assert (one.pop("row"), same.pop("row")) == (1, 300)
    # an invalid record's explanation says where it is: record 1 alone, record 300 here
    same = json.loads(json.dumps(same).replace("request record 300 ", "request record 1 "))
    assert one == same
    again = check_records([record], pack, as_of="2024-06-30")  # cached column report
    assert again.results[0] == alone.results[0]
    assert again.columns == alone.columns


@pytest.mark.parametrize("seed", range(6))
def test_the_headline_by_packed_keys_is_the_headline_by_sorting(seed):
    """evaluate.summarise packs each evaluation's order of preference (status, mandatory,
    required, place) into one number and takes the largest per site; sorting by the keys
    gives the same worst status and headline, ties and unknown requirements included."""
    from siting import evaluate as ev
    from siting.statuses import ORDER

    rng = np.random.default_rng(seed)
    n = 400
    site = np.sort(rng.integers(0, n, 3_000))  # some sites have none, some many
    m = len(site)
    evals = ev._empty(m)
    evals.site = site
    evals.status = rng.integers(0, len(ORDER), m).astype(np.int8)
    evals.required = rng.choice([-1, 0, 1, 5, 5, 30, 2**31, 2**32 - 3], m).astype(np.int64)
    is_mand = rng.random(m) < 0.5
    start = np.searchsorted(site, np.arange(n), side="left")
    stop = np.searchsorted(site, np.arange(n), side="right")
    has = stop > start
    packed = ev._headlines_by_key(evals, is_mand, start, stop, has, n)
    assert packed is not None
    sorted_ = ev._headlines_sorted(evals, is_mand, has, n)
    assert np.array_equal(packed[0], sorted_[0]) and np.array_equal(packed[1], sorted_[1])
    # what does not fit the packing is sorted
    evals.required[0] = 2**32 - 2
    assert ev._headlines_by_key(evals, is_mand, start, stop, has, n) is None
    evals.required[0] = 1
    evals.site = site[::-1].copy()
    assert ev._headlines_by_key(evals, is_mand, start, stop, has, n) is None
