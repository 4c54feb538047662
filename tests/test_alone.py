"""`siting.check.check_alone`: records checked together, each with exactly the answer it gets
alone. POST /v1/check relies on it to check the requests that arrive at once in one pass of the
batch engine, so a record's verdict must never depend on the records it happens to share a pass
with: not on their keys, their ids, their values or their number. The reference is the
one-record check by the batch engine's whole-column paths, while the passes take the
small-input paths (siting/scalar.py and the like): each answer is also proven equal to the
batch engine's."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siting import check_records, load_ruleset, records, scalar, textcols
from siting.check import ALONE_MAX, check_alone
from siting.errors import InputError
from siting.fields import COUNT_FIELDS

PACK = load_ruleset("guangxi-2021-2025")
AS_OF = "2024-06-30"

CATEGORIES = [
    "hospital",
    "医院",
    "hotel",
    "shopping_mall",
    "public_parking",
    "regional_agency",
    "党政机关",
    "residential",
    "新建小区",
    "scenic_area",
    "5A级旅游景区",
    "highway_service_area",
    "industrial_park",
    "展馆",
    "no such place",
    None,
    "",
]
COUNT = st.one_of(
    st.integers(min_value=0, max_value=3000),
    st.sampled_from([None, -1, "12", "1,200", "abc", 12.5, 3.0, True]),
)
FACTS = {
    "development": st.sampled_from(["new", "existing", "新建", "既有", None, "maybe"]),
    "a_rating": st.sampled_from([1, 2, 3, 4, 5, "4A", "AAAAA", 0, 6, None, "lots"]),
    "service_area_class": st.sampled_from([1, 2, 3, "一类", None, 7]),
    "dedicated_ev_area": st.sampled_from([True, False, 1.0, "是", "否", None]),
    "site_constraint": st.sampled_from(["场地受限", None, ""]),
    "city": st.sampled_from(["南宁市", "柳州", None]),
}
COUNTS = list(COUNT_FIELDS)
OPTIONAL = [*COUNTS, *FACTS, "充电桩数量", "编号", "停车位数", "场所类型", "chargers"]
CHARGERS = st.sampled_from(
    [
        None,
        [{"power_kw": 60, "guns": 2, "current": "DC"}],
        [{"power_kw": 7, "guns": 1, "current": "交流"}, {"power_kw": 120, "guns": 2}],
        "not a schedule",
        [],
    ]
)


def value(key: str):
    if key in FACTS:
        return FACTS[key]
    if key == "chargers":
        return CHARGERS
    if key in ("category", "场所类型"):
        return st.sampled_from(CATEGORIES)
    if key == "id":
        return st.sampled_from(["S1", "S2", " S1", "s1", "１", 1, 1.0, None, ""])
    return COUNT


@st.composite
def batches(draw):
    """Requests as they might arrive at once: a few key sets, values good and bad."""
    key_sets = draw(
        st.lists(
            st.lists(st.sampled_from(OPTIONAL), unique=True, max_size=6),
            min_size=1,
            max_size=3,
        )
    )
    out = []
    for _ in range(draw(st.integers(min_value=1, max_value=12))):
        extra = draw(st.sampled_from(key_sets))
        keys = ["id", "category", *extra]
        if draw(st.booleans()):
            keys = keys[::-1]  # the same keys in another order
        out.append({k: draw(value(k)) for k in keys})
    return out


def alone(record) -> tuple:
    """The one-record check by the batch engine's whole-column paths (the small-input paths
    off: siting.scalar, records.ABSENT_AS_NONES, textcols.SMALL_TEXTS)."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(scalar, "SCALAR_SITES", -1)
        m.setattr(records, "ABSENT_AS_NONES", -1)
        m.setattr(textcols, "SMALL_TEXTS", -1)
        try:
            answer = check_records([record], PACK, as_of=AS_OF)
        except InputError as exc:
            return None, [], None, str(exc)
        return answer.results[0], answer.all_warnings, answer.columns.as_dict(), None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches())
def test_each_record_gets_the_answer_it_gets_alone(records):
    together = check_alone(records, PACK, as_of=AS_OF)
    assert len(together) == len(records)
    for record, got in zip(records, together, strict=True):
        result, warnings, columns, error = alone(record)
        assert got.result == result, record
        assert got.warnings == warnings
        assert got.columns == columns
        assert (str(got.error) if got.error else None) == error


def test_the_same_id_twice_is_not_a_duplicate():
    """Two clients may both call their site "1": together, neither is `invalid`."""
    records = [
        {"id": "1", "category": "hospital", "parking_spaces": 100, "charging_spaces": 20},
        {"id": 1, "category": "hospital", "parking_spaces": 100, "charging_spaces": 10},
        {"id": " 1", "category": "hospital", "parking_spaces": 100, "charging_spaces": 30},
    ]
    got = [a.result for a in check_alone(records, PACK, as_of=AS_OF)]
    assert [(r["status"], r["shortfall"]) for r in got] == [("pass", 0), ("fail", 10), ("pass", 0)]
    assert all(r["row"] == 1 for r in got)


def test_a_key_another_record_has_is_not_a_blank_cell():
    """Without charging_spaces the hospital's verdict is open; beside a record that has the key
    it must not become 'blank: read as 0' and a fail."""
    records = [
        {"id": "a", "category": "hospital", "parking_spaces": 100, "charging_spaces": 20},
        {"id": "b", "category": "hospital", "parking_spaces": 100},
    ]
    answers = check_alone(records, PACK, as_of=AS_OF)
    assert [a.result["status"] for a in answers] == ["pass", "insufficient_data"]
    # its words too: the column is one to add, not a cell to fill in (explain.py reads that
    # from the table's columns, so the two records never share a pass)
    assert answers[1].result == alone(records[1])[0]
    assert answers[1].result["explanation"].endswith("add the charging_spaces column to settle it")
    together = check_records(records, PACK, as_of=AS_OF).results
    assert together[1]["status"] == "fail"  # the batch reading: one column, a blank cell


@pytest.mark.parametrize("n", [1, ALONE_MAX, ALONE_MAX + 1, 3 * ALONE_MAX])
def test_many_records_one_answer_each_in_order(n):
    records = [
        {"id": f"S{i}", "category": "hotel", "parking_spaces": 100, "charging_spaces": i % 40}
        for i in range(n)
    ]
    got = check_alone(records, PACK, as_of=AS_OF)
    assert [a.result["id"] for a in got] == [f"S{i}" for i in range(n)]
    assert [a.result["shortfall"] for a in got] == [max(0, 20 - i % 40) for i in range(n)]


def test_a_record_that_is_not_an_object_is_invalid_alone():
    got = check_alone([["not", "a", "site"], {"id": "x", "category": "hotel"}], PACK, AS_OF)
    assert got[0].result["status"] == "invalid"
    assert got[0].result == check_records([["not", "a", "site"]], PACK, AS_OF).results[0]
    assert got[1].result["status"] == "insufficient_data"
