"""`siting.scalar`: the engine's small-input path (a few sites, one at a time in plain Python)
must take every decision exactly as the whole-column path of siting/evaluate.py takes it: the
same `Evaluations`, row for row, column for column, dtype for dtype.

Generated site tables (through `normalise`, as every input arrives) over every pack the tests
know - the shipped packs and the decision packs of tests/test_decisions*.py, whose rules have
stepped tables, chained ratios, minimums, caps, fallback bases, dedicated areas, validity dates
and every kind of condition - with counts around the packs' bounds, missing facts, absent
count columns, alternative categories and low-confidence categories."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siting import evaluate as ev
from siting import load_ruleset, scalar
from siting.evaluate import COLUMNS, Evaluations
from siting.fields import COUNT_FIELDS
from siting.records import normalise, records_columns
from tests.test_decisions import PACK as DECISIONS_PACK
from tests.test_decisions_more import EVAL_PACK


@pytest.fixture(scope="module")
def packs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("packs")
    out = [load_ruleset("guangxi-2021-2025"), load_ruleset("calgreen-2022-tier1-nonresidential")]
    for rounding in ("ceil", "floor", "half_up"):
        path = folder / f"decisions-{rounding}.yaml"
        path.write_text(DECISIONS_PACK.replace("ROUNDING", rounding), encoding="utf-8")
        out.append(load_ruleset(path))
    path = folder / "eval.yaml"
    path.write_text(EVAL_PACK, encoding="utf-8")
    out.append(load_ruleset(path))
    path = folder / "facts.yaml"
    path.write_text(FACTS_PACK, encoding="utf-8")
    out.append(load_ruleset(path))
    return out


# Conditions no shipped pack has: on the dedicated area, `le` / `lt` bounds, `in` of texts; a
# site-constraint review on a rule whose facts may be missing.
FACTS_PACK = """kind: rulepack
id: facts-test
version: "1"
title: conditions on every kind of fact
jurisdiction: Testland
source: {title: test}
valid_from: 2020-01-01
categories:
  - {id: depot, name: Depot, name_zh: 车场}
  - {id: mall, name: Mall, name_zh: 商场}
  - {id: camp, name: Camp, name_zh: 营地}
rules:
  - id: depot-area
    title: depots with a dedicated area, 20 %
    categories: [depot]
    when: {dedicated_ev_area: {eq: true}, small_car_spaces: {lt: 50}}
    strength: mandatory
    ratio: "20%"
    counts: [charging_spaces]
    citation: {section: "1", clause: c, summary: s}
  - id: depot-plain
    title: depots without one, 10 %
    categories: [depot]
    when: {dedicated_ev_area: {not_in: [true]}, parking_spaces: {le: 100}}
    strength: mandatory
    ratio: "10%"
    counts: [charging_spaces, reserved_spaces]
    citation: {section: "2", clause: c, summary: s}
  - id: mall-class
    title: malls of service class 1-2, new or existing, 15 %, reviewed on site
    categories: [mall]
    when: {service_area_class: {in: [1, 2]}, development: {in: [new, existing]}}
    strength: mandatory
    ratio: "15%"
    site_constraint_review: true
    fast_preferred: true
    counts: [charging_spaces]
    citation: {section: "3", clause: c, summary: s}
  - id: camp-rated
    title: camps rated 2 or more, 25 %
    categories: [camp]
    when: {a_rating: {ge: 2}}
    strength: mandatory
    ratio: "25%"
    site_constraint_review: true
    counts: [charging_spaces]
    citation: {section: "4", clause: c, summary: s}
"""


# around the bounds of the packs' tables and conditions, and a few others
NUMBER = st.sampled_from([0, 1, 2, 3, 5, 9, 10, 11, 12, 20, 25, 26, 29, 30, 50, 51, 99, 100, 101])
COUNT = st.one_of(NUMBER, st.integers(0, 400), st.sampled_from([None, "", -1, "x"]))
FACTS = {
    "development": st.sampled_from(["new", "existing", "新建", None, "maybe"]),
    "a_rating": st.sampled_from([1, 2, 3, 4, 5, "4A", None, 9]),
    "service_area_class": st.sampled_from([1, 2, 3, 4, None]),
    "dedicated_ev_area": st.sampled_from([True, False, None, "是"]),
    "site_constraint": st.sampled_from(["场地受限", None]),
}
COUNTS = list(COUNT_FIELDS)
DATES = [dt.date(2021, 6, 30), dt.date(2022, 12, 31), dt.date(2023, 1, 1), dt.date(2024, 6, 30)]


@st.composite
def cases(draw, n_packs: int):
    k = draw(st.integers(0, n_packs - 1))
    keys = draw(st.lists(st.sampled_from([*COUNTS, *FACTS]), unique=True, max_size=9))
    # a few category codes per table, so that sites of one category meet their rules' corners
    codes = draw(st.lists(st.one_of(st.integers(-2, 40), st.just(-2)), min_size=1, max_size=3))
    n = draw(st.integers(1, 14))
    sites = []
    for i in range(n):
        site = {"id": f"s{i}", "category": draw(st.sampled_from(codes))}  # resolved later
        for key in keys:
            if draw(st.integers(0, 5)) == 0:
                continue  # this record lacks the key (a blank cell of a present column)
            site[key] = draw(FACTS[key]) if key in FACTS else draw(COUNT)
        sites.append(site)
    alts = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, 40)), max_size=4))
    uncertain = draw(st.one_of(st.none(), st.lists(st.booleans(), min_size=n, max_size=n)))
    return k, sites, alts, uncertain, draw(st.sampled_from(DATES))


def table_of(pack, sites, alts, uncertain):
    ids = pack.category_ids
    records = []
    for site in sites:
        code = site["category"]
        cat = None if code == -2 else "no such place" if code == -1 else ids[code % len(ids)]
        if code > 30 and len(ids) > 1:  # two categories
            cat = f"{ids[code % len(ids)]};{ids[(code + 1) % len(ids)]}"
        records.append({**site, "category": cat})
    frame, errors = records_columns(records)
    table = normalise(frame, pack, source="request", row_kind="record", preset_errors=errors)
    if alts:
        table.alt_site = np.array([s for s, _ in alts], np.int64)
        table.alt_cat = np.array([c % len(ids) for _, c in alts], np.int64)
    if uncertain is not None:
        table.uncertain = np.array(uncertain, bool)
    return table


def assert_same(got: Evaluations, want: Evaluations, sites: int = 0) -> None:
    for name in COLUMNS:
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype, name
        assert a.tolist() == b.tolist(), name
    for i in range(sites):
        assert got.site_notes.get(i) == want.site_notes.get(i), i


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_scalar_path_decides_as_the_columns_do(packs, data):
    k, sites, alts, uncertain, as_of = data.draw(cases(len(packs)))
    pack = packs[k]
    table = table_of(pack, sites, alts, uncertain)
    valid = ~table.invalid
    # one step: every valid site, and a part of them
    part = valid & np.array(data.draw(st.lists(st.booleans(), min_size=table.n, max_size=table.n)))
    for mask in (valid, part):
        assert_same(
            scalar.evaluate_sites(table, pack, as_of, mask),
            ev._evaluate_columns(table, pack, as_of, mask),
        )
    # the whole evaluation (scenarios of missing facts and alternative categories included)
    fast = ev.evaluate(table, pack, as_of)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(scalar, "SCALAR_SITES", -1)  # every table by whole columns
        slow = ev.evaluate(table, pack, as_of)
        whole = ev.summarise(slow, table, pack)
    assert_same(fast, slow, table.n)
    # each site's status and headline
    summary = ev.summarise(fast, table, pack)
    for name in ("status", "primary", "start", "stop"):
        a, b = getattr(summary, name), getattr(whole, name)
        assert (a.dtype, a.tolist()) == (b.dtype, b.tolist()), name


def test_large_tables_take_the_column_path(packs, monkeypatch):
    pack = packs[0]
    sites = [{"id": f"s{i}", "category": 1, "parking_spaces": 10} for i in range(3)]
    table = table_of(pack, sites, [], None)
    calls = []
    monkeypatch.setattr(scalar, "evaluate", lambda *a: calls.append("evaluate"))
    monkeypatch.setattr(scalar, "evaluate_sites", lambda *a: calls.append("sites"))
    monkeypatch.setattr(scalar, "SCALAR_SITES", 2)
    assert len(ev.evaluate(table, pack, dt.date(2024, 6, 30))) == 3  # 3 sites: by columns
    assert calls == []
    monkeypatch.setattr(scalar, "SCALAR_SITES", 3)
    assert ev.evaluate(table, pack, dt.date(2024, 6, 30)) is None  # the (stubbed) scalar path
    assert ev._evaluate_sites(table, pack, dt.date(2024, 6, 30), ~table.invalid) is None
    assert calls == ["evaluate", "sites"]


def test_evaluations_out_of_site_order_are_summarised_by_columns(packs):
    table = table_of(packs[0], [{"id": "a", "category": 1}, {"id": "b", "category": 2}], [], None)
    evals = ev.evaluate(table, packs[0], dt.date(2024, 6, 30))
    assert scalar.summarise(evals, table, packs[0]) is not None
    backwards = evals.take(np.arange(len(evals))[::-1])
    assert scalar.summarise(backwards, table, packs[0]) is None
    got = ev.summarise(backwards, table, packs[0])  # by columns, as with the path off
    with pytest.MonkeyPatch.context() as m:
        m.setattr(scalar, "SCALAR_SITES", -1)
        assert got.status.tolist() == ev.summarise(backwards, table, packs[0]).status.tolist()


def test_one_site_rule_by_rule():
    """The scalar helpers on their own: ratios, tables, minimum, cap, bisection."""
    pack = load_ruleset("calgreen-2022-tier1-nonresidential")
    capable, evcs = pack.rules
    for basis in [0, 1, 9, 10, 25, 26, 200, 201, 1000, ev.UNBOUNDED]:
        want = [
            c.tolist()[0] for c in ev.required_for(capable, np.array([basis]), "ceil", cap=True)
        ]
        assert list(scalar.required_one(capable, basis, "ceil", True)) == want
        want = [c.tolist()[0] for c in ev.required_for(evcs, np.array([basis]), "floor", False)]
        assert list(scalar.required_one(evcs, basis, "floor", False)) == want
    with pytest.raises(ValueError, match="unknown rounding"):
        scalar.required_one(evcs, 500, "banker", False)


BASE = {"parking_spaces": 200, "small_car_spaces": 150, "reserved_spaces": 0}
# (pack index, site, alternative categories): corners the generated tables seldom reach
CORNERS = [
    (0, {**BASE, "category": "highway_service_area", "service_area_class": 1,
         "development": "new", "charging_spaces": 10, "fast_charging_spaces": 0}, []),
    (0, {**BASE, "category": "scenic_area", "a_rating": 5, "charging_spaces": 10,
         "fast_charging_spaces": 0, "dedicated_ev_area": False, "site_constraint": "场地受限"}, []),
    (0, {**BASE, "category": "scenic_area", "a_rating": 4, "charging_spaces": 50,
         "fast_charging_spaces": 0, "dedicated_ev_area": None}, []),
    (0, {**BASE, "category": "scenic_area", "a_rating": 5, "charging_spaces": 10,
         "fast_charging_spaces": 1, "dedicated_ev_area": True}, []),
    (0, {"category": "highway_service_area", "service_area_class": 2, "development": "existing",
         "parking_spaces": 300, "charging_spaces": 30, "fast_charging_spaces": 0}, []),
    (0, {**BASE, "charging_spaces": 15}, ["hospital", "regional_agency"]),  # no category
    (0, {**BASE, "category": "hospital", "charging_spaces": 25}, ["regional_agency", "hotel"]),
    (0, {**BASE, "category": "scenic_area", "charging_spaces": 25, "dedicated_ev_area": True,
         "site_constraint": "场地受限"}, []),  # a_rating missing: review in some scenarios
    (0, {**BASE, "category": "residential", "charging_spaces": 25, "fast_charging_spaces": 0}, []),
    (0, {**BASE, "category": "residential", "charging_spaces": 200}, []),  # every value passes
    (0, {"category": "hotel", "parking_spaces": 0, "small_car_spaces": 0, "charging_spaces": 0,
         "reserved_spaces": 0}, []),  # nothing to require
    (0, {**BASE, "category": "scenic_area", "charging_spaces": 50}, []),  # area not stated
    (6, {**BASE, "category": "depot", "small_car_spaces": 40, "dedicated_ev_area": True,
         "charging_spaces": 5}, []),
    (6, {**BASE, "category": "depot", "parking_spaces": 120, "small_car_spaces": 90,
         "charging_spaces": 5}, []),
    (6, {**BASE, "category": "depot", "parking_spaces": 80, "small_car_spaces": 60,
         "dedicated_ev_area": "否",
         "charging_spaces": 5}, []),
    (6, {**BASE, "category": "mall", "service_area_class": 1, "development": "new",
         "charging_spaces": 5, "fast_charging_spaces": 0, "site_constraint": "场地受限"}, []),
    (6, {**BASE, "category": "mall", "charging_spaces": 40, "site_constraint": "场地受限"},
     ["camp"]),
    (6, {**BASE, "category": "camp", "charging_spaces": 5, "site_constraint": "场地受限"}, []),
]  # fmt: skip


def test_corners_the_generated_tables_seldom_reach(packs):
    """Fast charging preferred and none given, a site constraint under review (also in some
    scenarios only), a dedicated area stated absent or in a rule's conditions, a site with no
    category but alternatives: both paths, site by site and each pack's sites together."""
    by_pack: dict[int, list] = {}
    for k, site, alts in CORNERS:
        by_pack.setdefault(k, []).append((site, alts))
    seen = 0
    for k, cases in by_pack.items():
        pack = packs[k]
        ids = pack.category_ids
        together = ([s for s, _ in cases], [(i, c) for i, (_, a) in enumerate(cases) for c in a])
        for sites, alts in [together, *(([s], [(0, c) for c in a]) for s, a in cases)]:
            records = [{"id": f"s{i}", **s} for i, s in enumerate(sites)]
            frame, errors = records_columns(records)
            table = normalise(frame, pack, row_kind="record", preset_errors=errors)
            assert not table.errors
            if alts:
                table.alt_site = np.array([i for i, _ in alts], np.int64)
                table.alt_cat = np.array([ids.index(c) for _, c in alts], np.int64)
            mask = ~table.invalid
            as_of = dt.date(2024, 6, 30)
            got = scalar.evaluate_sites(table, pack, as_of, mask)
            assert_same(got, ev._evaluate_columns(table, pack, as_of, mask))
            fast = ev.evaluate(table, pack, as_of)
            with pytest.MonkeyPatch.context() as m:
                m.setattr(scalar, "SCALAR_SITES", -1)
                assert_same(fast, ev.evaluate(table, pack, as_of), table.n)
            seen |= np.bitwise_or.reduce(fast.flags) if len(fast) else 0
    for flag in (
        ev.F_FAST_NONE,
        ev.F_REVIEW,
        ev.F_AREA_NO,
        ev.F_AREA_UNKNOWN,
        ev.F_BASIS_ZERO,
        ev.F_DEPENDS,
        ev.F_ALTERNATIVES,
    ):
        assert seen & flag


def same_table(a, b) -> None:
    for name in ("n", "row_kind", "source", "errors"):
        assert getattr(a, name) == getattr(b, name), name
    for name in ("row_numbers", "development", "dedicated", "site_constraint", "city"):
        assert np.asarray(getattr(a, name)).tolist() == np.asarray(getattr(b, name)).tolist()
    assert a.id_values.tolist() == b.id_values.tolist()
    assert a.pair_site.tolist() == b.pair_site.tolist()
    assert a.pair_cat.tolist() == b.pair_cat.tolist()
    for name in ("ints", "missing", "unknown_count", "blank_counts"):
        x, y = getattr(a, name), getattr(b, name)
        assert {k: v.tolist() for k, v in x.items()} == {k: v.tolist() for k, v in y.items()}
    assert [a.notes.get(i) for i in range(a.n)] == [b.notes.get(i) for i in range(b.n)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_absent_columns_as_nones_read_as_the_categorical(packs, data):
    """records.normalise reads a column the input lacks as Nones for a few rows (cheap to
    make) and as an empty categorical for many (free to pass over): the same table."""
    from siting import records

    k, sites, _, _, _ = data.draw(cases(len(packs)))
    pack = packs[k]
    names = [*pack.category_ids, "新建小区", "5A级旅游景区", "既有住宅小区"]  # some carry facts
    for site in sites:
        site["category"] = names[site["category"] % len(names)]
        if data.draw(st.booleans()):
            site["chargers"] = [{"power_kw": 60, "guns": 2, "current": "DC"}]
    frame, errors = data.draw(st.sampled_from([records_columns, records.records_frame]))(sites)
    tables = []
    for limit in (records.ABSENT_AS_NONES, -1):
        with pytest.MonkeyPatch.context() as m:
            m.setattr(records, "ABSENT_AS_NONES", limit)
            tables.append(normalise(frame, pack, preset_errors=errors))
    same_table(*tables)
