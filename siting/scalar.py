"""The engine's small-input path: `evaluate.evaluate` one site at a time in plain Python, for
tables of a few sites (POST /v1/check checks one to a few dozen records per pass).

evaluate.py decides every status on whole columns: for a few sites its cost is a few hundred
numpy calls per pass, whatever the number of rows. Here the same decisions are taken on Python
numbers, step for step as the column version takes them (the docstrings name the column
functions each one mirrors), and the result is the same `Evaluations`: the same rows in the
same order, the same site notes. tests/test_scalar.py holds the two paths to each other on
generated tables of every pack the tests know.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left
from collections import Counter
from fractions import Fraction
from itertools import pairwise, product
from typing import Any

import numpy as np

from siting import evaluate as ev
from siting import statuses as st
from siting.fields import CONDITION_FACTS, FACT_DOMAINS
from siting.notes import Notes
from siting.ratio import rounded_quotient
from siting.records import SiteTable
from siting.ruleset import Condition, Rule, RulePack

INT64_MAX = int(np.iinfo(np.int64).max)

# Up to this many sites, `evaluate.evaluate` (and `_evaluate_sites`) take this path.
SCALAR_SITES = 128

# evaluate.COLUMNS with their dtypes (evaluate imports this module: nothing of it is read here
# at import time)
_DTYPES = {
    "site": np.int64,
    "rule": np.int64,
    "cat": np.int64,
    "status": np.int8,
    "basis": np.int64,
    "required": np.int64,
    "provided": np.int64,
    "shortfall": np.int64,
    "flags": np.int32,
    "missing": np.int32,
    "table_row": np.int64,
    "threshold": np.int64,
}


def _holds(cond: Condition, v: object) -> bool:
    """`evaluate.condition_holds` for one value (== for eq / in / not_in, as numpy compares)."""
    if cond.eq is not None and v != cond.eq:
        return False
    if cond.in_ is not None and not any(v == x for x in cond.in_):
        return False
    if cond.not_in is not None and any(v == x for x in cond.not_in):
        return False
    if cond.ge is not None and not v >= cond.ge:  # type: ignore[operator]
        return False
    if cond.gt is not None and not v > cond.gt:  # type: ignore[operator]
        return False
    if cond.le is not None and not v <= cond.le:  # type: ignore[operator]
        return False
    return not (cond.lt is not None and not v < cond.lt)  # type: ignore[operator]


def _apply_ratio(ratio: Fraction, basis: int, rounding: str) -> int:
    """`ratio.apply_ratio` for one value."""
    return int(rounded_quotient(ratio.numerator * basis, ratio.denominator, rounding))


def _ratio_chain(ratio: Fraction | list[Fraction], basis: int, rounding: str) -> int:
    for r in ratio if isinstance(ratio, list) else [ratio]:
        basis = _apply_ratio(r, basis, rounding)
    return basis


def required_one(rule: Rule, basis: int, rounding: str, cap: bool) -> tuple[int, int, int]:
    """`evaluate.required_for` for one basis: (required, table_row, flags)."""
    flags = 0
    table_row = -1
    if rule.table is not None:
        bounds = [r.up_to if r.up_to is not None else INT64_MAX for r in rule.table]
        # searchsorted side=left; a basis beyond a closed table takes its last row
        table_row = min(bisect_left(bounds, basis), len(rule.table) - 1)
        row = rule.table[table_row]
        if row.required is not None:
            required = row.required
        else:
            required = _ratio_chain(row.ratio, basis, rounding)  # type: ignore[arg-type]
    elif rule.ratio is not None:
        required = _ratio_chain(rule.ratio, basis, rounding)
    else:
        required = 0
    if rule.minimum is not None and required < rule.minimum and basis > 0:
        required = rule.minimum
        flags |= ev.F_MINIMUM
    if cap and required > basis:
        required = basis
        flags |= ev.F_CAPPED
    return required, table_row, flags


def _largest_basis_met(rule: Rule, pack: RulePack, lo: int, hi: int, provided: int) -> int:
    """`evaluate._largest_basis_met` for one site: the same bisection."""

    def met(b: int) -> bool:
        return required_one(rule, b, pack.rounding, pack.cap_required_at_basis)[0] <= provided

    good, bad = lo, hi
    ok_lo = met(lo)
    while bad - good > 1:
        mid = (good + bad) // 2
        if met(mid):
            good = mid
        else:
            bad = mid
    if met(hi):
        good = hi
    return good if ok_lo else -1


Row = tuple[int, ...]  # one evaluation: the 12 columns, in evaluate.COLUMNS order


class _Site:
    """One site's facts as Python values (a scenario: with some facts given a value)."""

    __slots__ = ("dedicated", "development", "ints", "missing", "stated", "unknown")

    def __init__(
        self,
        ints: dict[str, int],
        missing: dict[str, bool],
        unknown: dict[str, bool],
        development: object,
        dedicated: int,
        stated: bool,
    ) -> None:
        self.ints = ints
        self.missing = missing
        self.unknown = unknown  # count fields whose column the input lacks
        self.development = development
        self.dedicated = dedicated
        self.stated = stated  # a site constraint is stated

    def fact(self, name: str) -> tuple[object, bool]:
        """`SiteTable.fact` for this site: (value, missing)."""
        kind = CONDITION_FACTS[name]
        if kind == "int":
            return self.ints[name], self.missing[name]
        if kind == "bool":
            return self.dedicated == 1, self.dedicated < 0
        v = self.development
        return v, v is None or (isinstance(v, float) and v != v)  # pd.isna of an object

    def given(self, values: dict[str, object]) -> _Site:
        """A scenario: this site with the facts of `values` given (None: left as it is)."""
        ints, missing, development = self.ints, self.missing, self.development
        for f, v in values.items():
            if v is None:
                continue
            if f == "development":
                development = v
            else:
                if ints is self.ints:
                    ints, missing = dict(ints), dict(missing)
                ints[f] = int(v)  # type: ignore[call-overload]
                missing[f] = False
        return _Site(ints, missing, self.unknown, development, self.dedicated, self.stated)


def _sites(table: SiteTable) -> list[_Site]:
    """Every site of the table as a `_Site`."""
    n = table.n
    ints = {k: v.tolist() for k, v in table.ints.items()}
    missing = {k: v.tolist() for k, v in table.missing.items()}
    unknown = {k: v.tolist() for k, v in table.unknown_count.items()}
    development = table.development.tolist()
    dedicated = table.dedicated.tolist()
    stated = [v is not None for v in table.site_constraint]
    return [
        _Site(
            {k: v[i] for k, v in ints.items()},
            {k: v[i] for k, v in missing.items()},
            {k: v[i] for k, v in unknown.items()},
            development[i],
            dedicated[i],
            stated[i],
        )
        for i in range(n)
    ]


class _Plan:
    """What a pass needs of a pack on a date, worked out once per pack and date."""

    __slots__ = ("by_cat", "rules", "tested")

    def __init__(self, pack: RulePack, as_of: dt.date) -> None:
        # (index, rule, category mask as a list, [(bit, fact, condition)]) of the rules in force
        self.rules = [
            (
                r_idx,
                rule,
                mask.tolist(),
                [(ev.BIT.get(f, 0), f, cond) for f, cond in rule.when.items()],
            )
            for r_idx, (rule, mask) in enumerate(
                zip(pack.rules, pack.rule_category_masks, strict=True)
            )
            if rule.in_force(as_of)
        ]
        n_cats = len(pack.category_ids) + 1  # one more: index -1, no category
        # per category, the rules in force that apply to it (positions in `rules`)
        self.by_cat = [[j for j, r in enumerate(self.rules) if r[2][c]] for c in range(n_cats)]
        # per enumerable fact, the categories one of the rules tests it on
        self.tested: dict[str, list[bool]] = {}
        for fact in FACT_DOMAINS:
            tests = [mask for _, rule, mask, _ in self.rules if fact in rule.when]
            if tests:
                self.tested[fact] = [any(m[c] for m in tests) for c in range(n_cats)]


def _plan(pack: RulePack, as_of: dt.date) -> _Plan:
    key = ("scalar", as_of)
    plan = pack.derived.get(key)
    if plan is None:
        if sum(1 for k in pack.derived if k[0] == "scalar") >= 32:  # many dates: start again
            for k in [k for k in pack.derived if k[0] == "scalar"]:
                pack.derived.pop(k, None)
        plan = pack.derived[key] = _Plan(pack, as_of)
    return plan


def _applies(site: _Site, when: list[tuple[int, str, Condition]]) -> tuple[bool, bool, int]:
    """(true, unknown, missing bits) of a rule's conditions on a site, as `_evaluate_columns`
    decides them: false when a stated fact fails; unknown when one is missing and none fails."""
    false = unknown = False
    bits = 0
    for bit, fact, cond in when:
        value, miss = site.fact(fact)
        if miss:
            unknown = True
            bits |= bit
        elif not _holds(cond, value):
            false = True
    if false:
        return False, False, 0
    return not unknown, unknown, bits


def _site_rows(site: _Site, s: int, cats: list[int], pack: RulePack, plan: _Plan) -> list[Row]:
    """The evaluations of one site with categories `cats` (its pairs, in order), as
    `_evaluate_columns` gives them once sorted by rule (category-level rows last: facts
    missing, then not covered, in the order of the categories; no category: one row)."""
    if not cats:
        return [(s, -1, -1, st.INSUFFICIENT, -1, -1, -1, -1, 0, ev.BIT["category"], -1, -1)]
    n = len(cats)
    any_true = [False] * n
    any_unknown = [False] * n
    unknown_bits = [0] * n
    rows: list[Row] = []
    # the rules of the site's categories, in pack order
    todo = plan.by_cat[cats[0]] if n == 1 else sorted({j for c in cats for j in plan.by_cat[c]})
    for j in todo:
        r_idx, rule, mask, when = plan.rules[j]
        covered = [0] if n == 1 else [k for k, c in enumerate(cats) if mask[c]]
        true, unknown, bits = _applies(site, when)  # the facts are the site's, whatever the pair
        if unknown:
            for k in covered:
                any_unknown[k] = True
                unknown_bits[k] |= bits
        elif true:
            for k in covered:
                any_true[k] = True
            rows.append((s, *_evaluate_one(site, pack, r_idx, rule, cats[covered[0]])))
    for k, c in enumerate(cats):
        if any_unknown[k] and not any_true[k]:
            rows.append((s, -1, c, st.INSUFFICIENT, -1, -1, -1, -1, 0, unknown_bits[k], -1, -1))
    for k, c in enumerate(cats):
        if not any_true[k] and not any_unknown[k]:
            rows.append((s, -1, c, st.NOT_APPLICABLE, -1, -1, -1, -1, ev.F_NOT_COVERED, 0, -1, -1))
    return rows


def evaluate_sites(
    table: SiteTable, pack: RulePack, as_of: dt.date, sites_mask: np.ndarray
) -> ev.Evaluations:
    """`evaluate._evaluate_columns`, site by site: the same rows in the same order (rules in
    pack order, each over its sites; then the category-level rows)."""
    keep = sites_mask.tolist()
    pairs = [
        (s, c)
        for s, c in zip(table.pair_site.tolist(), table.pair_cat.tolist(), strict=True)
        if keep[s]
    ]
    sites = _sites(table)
    n_pairs = len(pairs)
    any_true = [False] * n_pairs
    any_unknown = [False] * n_pairs
    unknown_bits = [0] * n_pairs
    rows: list[Row] = []
    present = {c for _, c in pairs}
    for r_idx, rule, mask, when in _plan(pack, as_of).rules:
        if not any(mask[c] for c in present):
            continue
        hits: dict[int, int] = {}  # site -> the category of its first pair that applies
        for k, (s, c) in enumerate(pairs):
            if not mask[c]:
                continue
            true, unknown, bits = _applies(sites[s], when)
            if unknown:
                any_unknown[k] = True
                unknown_bits[k] |= bits
            elif true:
                any_true[k] = True
                hits.setdefault(s, c)
        for s in sorted(hits):  # np.unique: by site
            rows.append((s, *_evaluate_one(sites[s], pack, r_idx, rule, hits[s])))
    for k, (s, c) in enumerate(pairs):
        if any_unknown[k] and not any_true[k]:
            rows.append((s, -1, c, st.INSUFFICIENT, -1, -1, -1, -1, 0, unknown_bits[k], -1, -1))
    for k, (s, c) in enumerate(pairs):
        if not any_true[k] and not any_unknown[k]:
            rows.append((s, -1, c, st.NOT_APPLICABLE, -1, -1, -1, -1, ev.F_NOT_COVERED, 0, -1, -1))
    has_cat = set(table.pair_site.tolist())
    for s, kept in enumerate(keep):
        if kept and s not in has_cat:
            rows.append((s, -1, -1, st.INSUFFICIENT, -1, -1, -1, -1, 0, ev.BIT["category"], -1, -1))
    return from_rows(rows)


def from_rows(rows: list[Row], notes: Notes | None = None) -> ev.Evaluations:
    """Evaluations from rows of the 12 columns (in `evaluate.COLUMNS` order)."""
    if not rows:
        out = ev._empty(0)
    else:
        columns = zip(_DTYPES.items(), zip(*rows, strict=True), strict=True)
        cols: dict[str, Any] = {name: np.array(col, dtype) for (name, dtype), col in columns}
        out = ev.Evaluations(**cols)
    if notes is not None:
        out.site_notes = notes
    return out


# ----------------------------------------------------------------------------- evaluate


def _rule_key(row: Row) -> int:
    return row[1] if row[1] >= 0 else INT64_MAX


def evaluate(table: SiteTable, pack: RulePack, as_of: dt.date) -> ev.Evaluations:
    """`evaluate.evaluate` site by site: every applicable rule over every valid site; sites
    missing a fact a rule of their categories tests, or with alternative categories, once per
    scenario (`_scenarios`)."""
    n = table.n
    valid = [True] * n
    for i in table.errors:
        valid[i] = False
    own: list[list[int]] = [[] for _ in range(n)]
    for s, c in zip(table.pair_site.tolist(), table.pair_cat.tolist(), strict=True):
        own[s].append(c)
    alts: list[list[int]] = [[] for _ in range(n)]
    if table.alt_site is not None and len(table.alt_site):
        for s, c in zip(table.alt_site.tolist(), table.alt_cat.tolist(), strict=True):  # type: ignore[union-attr]
            alts[s].append(c)  # a stable sort by site
    sites = _sites(table)
    plan = _plan(pack, as_of)
    # `_facts_to_enumerate`: per fact, the valid sites that lack it while a rule of one of
    # their categories (or alternatives) tests it
    need: dict[str, list[bool]] = {}
    for fact, tested in plan.tested.items():
        mask = [
            valid[s]
            and sites[s].fact(fact)[1]
            and (any(tested[c] for c in own[s]) or any(tested[c] for c in alts[s]))
            for s in range(n)
        ]
        if any(mask):
            need[fact] = mask
    facts = list(need)  # in FACT_DOMAINS order
    rows: list[Row] = []
    expanded: list[int] = []
    for s in range(n):
        if not valid[s]:
            continue
        if alts[s] or any(need[f][s] for f in facts):
            expanded.append(s)
        else:
            rows += _site_rows(sites[s], s, own[s], pack, plan)
    notes = Notes()
    if expanded:
        rows += _scenarios(sites, own, alts, expanded, need, facts, pack, plan, notes)
    if table.uncertain is not None:
        doubt = table.uncertain.tolist()
        rows = [
            (*r[:3], st.NEEDS_REVIEW, *r[4:8], r[8] | ev.F_UNCERTAIN, *r[9:])
            if doubt[r[0]] and r[3] == st.FAIL
            else r
            for r in rows
        ]
    # by site, then pack order of the rules; category-level rows after the rules (stable)
    rows.sort(key=lambda r: (r[0], _rule_key(r)))
    return from_rows(rows, notes)


def _summary(rows: list[Row], pack: RulePack) -> tuple[int, Row]:
    """`evaluate.summarise` of one site: (worst status, headline row): the rows that decide the
    status, then mandatory first, then the largest requirement, then order."""
    status = max(r[3] for r in rows)
    best = min(
        range(len(rows)),
        key=lambda k: (
            -rows[k][3],
            not (rows[k][1] >= 0 and pack.rules[rows[k][1]].strength == "mandatory"),
            -rows[k][5],
            k,
        ),
    )
    return status, rows[best]


def _scenarios(
    sites: list[_Site],
    own: list[list[int]],
    alts: list[list[int]],
    expanded: list[int],
    need: dict[str, list[bool]],
    facts: list[str],
    pack: RulePack,
    plan: _Plan,
    notes: Notes,
) -> list[Row]:
    """`evaluate._evaluate_scenarios`, site by site: each site evaluated once per combination
    of the values its missing facts can take, and per category it may be. Where every scenario
    gives one status it stands, shown by the evaluations every scenario has alike (or by the
    standing scenario); where they differ, one category-level row, and a note of what each
    scenario gives. Notes go to `notes`, as the column version adds them."""
    out: list[Row] = []
    holds_at, holds_text, open_at, open_text = [], [], [], []
    for s in expanded:
        domains = [FACT_DOMAINS[f] if need[f][s] else (None,) for f in facts]
        word_own = own[s][0] if own[s] else ev.NO_OWN_CATEGORY
        scen: list[tuple[int, dict[str, object], int, list[Row]]] = []  # option, values, word
        for combo in product(*domains):
            values: dict[str, object] = dict(zip(facts, combo, strict=True))
            site = sites[s].given(values)
            for option in range(len(alts[s]) + 1):
                cats = own[s] if option == 0 else [alts[s][option - 1]]
                word = (alts[s][option - 1] if option else word_own) if alts[s] else -1
                scen.append((option, values, word, _site_rows(site, s, cats, pack, plan)))
        summaries = [_summary(r, pack) for *_, r in scen]
        statuses = [status for status, _ in summaries]
        lo, hi = min(statuses), max(statuses)
        agree = lo == hi
        if agree:  # the standing scenario: least shortfall, then strictest, then first
            standing = min(
                range(len(scen)),
                key=lambda j: (max(summaries[j][1][7], 0), -summaries[j][1][5], j),
            )
        else:
            standing = 0  # the site's own categories
        # an evaluation is stable when every scenario has it with the same status
        counts = Counter((_rule_or_cat(r), r[3]) for *_, rs in scen for r in rs)
        size = len(scen)
        standing_rows = scen[standing][3]
        kept = [r for r in standing_rows if counts[(_rule_or_cat(r), r[3])] == size]
        if agree and not any(r[3] == lo for r in kept):
            kept = standing_rows  # no stable evaluation carries the verdict
        out += kept
        # the words: what each scenario is, and what it gives
        words = []
        outcomes = []
        for (_, values, word, _), (status, head) in zip(scen, summaries, strict=True):
            parts = []
            if word >= 0:
                parts.append("as " + pack.category_ids[word])
            elif word == ev.NO_OWN_CATEGORY:
                parts.append("with no category")
            parts += [f"{f} {values[f]}" for f in facts if values[f] is not None]
            words.append(", ".join(parts))
            outcomes.append(_outcome(status, head, pack))
        text = ev._join_outcomes(words, outcomes)
        fact_names = 0
        for f in facts:
            if need[f][s]:
                fact_names |= ev.BIT[f]
        if agree:
            if fact_names and lo != st.INSUFFICIENT:
                holds_at.append(s)
                holds_text.append(
                    ev.missing_words(fact_names).removeprefix("missing ")
                    + " not given: every value gives the same verdict ("
                    + text
                    + ")"
                )
            continue
        # the category an open verdict is about: the first of the site's own categories
        # whose evaluations differ between scenarios
        cat = next(
            (
                r[2]
                for option, _, _, rs in scen
                if option == 0
                for r in rs
                if counts[(_rule_or_cat(r), r[3])] != size
            ),
            -1,
        )
        if cat < 0:
            cat = own[s][0] if own[s] else -1
        if fact_names:
            status, flags = st.INSUFFICIENT, ev.F_DEPENDS
            lead = "the verdict depends on facts not given: "
        else:
            status, flags = st.NEEDS_REVIEW, ev.F_ALTERNATIVES
            lead = "the verdict depends on which category the site is: "
        out.append((s, -1, cat, status, -1, -1, -1, -1, flags, fact_names, -1, -1))
        open_at.append(s)
        open_text.append(lead + text)
    if holds_at:
        notes.add_many(np.array(holds_at, np.int64), "info", np.array(holds_text, object))
    if open_at:
        notes.add_many(np.array(open_at, np.int64), "warning", np.array(open_text, object))
    return out


def _rule_or_cat(row: Row) -> int:
    """An evaluation's key among a site's scenarios: its rule, or -2 - its category."""
    return row[1] if row[1] >= 0 else -2 - row[2]


def _outcome(status: int, head: Row, pack: RulePack) -> str:
    """`evaluate._outcome_words` of one scenario, from its status and headline row."""
    rule, flags, thresh, miss = head[1], head[8], head[11], head[9]
    if status == st.FAIL:
        return f"fails, short {head[7]}"
    if status == st.PASS:
        return "passes"
    if status == st.NEEDS_REVIEW:
        return "needs review"
    if status == st.ADVISORY:
        return "advisory (encouraged, not required)"
    if status == st.NOT_APPLICABLE:
        return "not applicable"
    if status != st.INSUFFICIENT:  # invalid: never a scenario's status
        return f"cannot be checked ({ev.missing_words(0)})"
    if flags & ev.F_THRESH_BASIS:
        return f"passes if {pack.rules[rule].basis} <= {thresh}"
    if flags & ev.F_THRESH_COUNT:
        return f"passes if {' + '.join(pack.rules[rule].counts)} come to {thresh} or more"
    if flags & ev.F_AREA_UNKNOWN:
        return "passes if dedicated_ev_area is true, fails if false"
    return f"cannot be checked ({ev.missing_words(miss)})"


# ----------------------------------------------------------------------------- one rule


def _evaluate_one(site: _Site, pack: RulePack, r_idx: int, rule: Rule, cat: int) -> Row:
    """`evaluate._evaluate_rule` for one site: its row of the 12 columns, without the site."""
    flags = 0
    miss_bits = 0
    ints, missing = site.ints, site.missing
    # --- the basis: known, or an interval [lo, hi]
    basis = ints[rule.basis]
    b_missing = missing[rule.basis]
    hi = ev.UNBOUNDED if b_missing else basis
    if b_missing:
        miss_bits |= ev.BIT[rule.basis]
    fallback = rule.basis_fallback
    if fallback:
        fb_missing = missing[fallback]
        if b_missing and not fb_missing:
            hi = ints[fallback]
            flags |= ev.F_FALLBACK
        if b_missing and fb_missing:
            miss_bits |= ev.BIT[fallback]
    # an unknown basis is at least 1, and a total count at least the spaces stated inside it
    least = 1
    if rule.basis == "parking_spaces":
        inside = ints["charging_spaces"] + ints["reserved_spaces"]
        small = 0 if missing["small_car_spaces"] else ints["small_car_spaces"]
        least = max(least, max(inside, small))
    lo = min(least, hi) if b_missing else basis

    # --- what is provided: known, or at least the known counts when a column is absent
    p_lo = 0
    p_unknown = False
    for name in rule.counts:
        p_lo += ints[name]
        if site.unknown.get(name):
            p_unknown = True
            miss_bits |= ev.BIT[name]
    p_hi = ev.UNBOUNDED if p_unknown else p_lo
    rounding, cap = pack.rounding, pack.cap_required_at_basis
    req_hi, row_hi, rf_hi = required_one(rule, hi, rounding, cap)
    if b_missing:
        req_lo, row_lo, rf_lo = required_one(rule, lo, rounding, cap)
    else:
        req_lo, row_lo, rf_lo = req_hi, row_hi, rf_hi

    area = site.dedicated if rule.dedicated_area_required else None
    stated = site.stated if rule.site_constraint_review else None
    mandatory = rule.strength == "mandatory"
    has_requirement = rule.has_requirement

    def verdict(count_met: bool) -> int:
        if not has_requirement:
            return st.ADVISORY
        met = count_met and area == 1 if area is not None else count_met
        if mandatory:
            status = st.PASS if met else st.FAIL
            if area is not None and count_met and area < 0:
                status = st.INSUFFICIENT
            if stated and status == st.FAIL:
                status = st.NEEDS_REVIEW
            return status
        return st.PASS if met else st.ADVISORY

    if b_missing and req_lo == req_hi:  # a missing basis that does not change the requirement
        miss_bits &= ~(ev.BIT[rule.basis] | (ev.BIT[fallback] if fallback else 0))
    met_worst = p_lo >= req_hi
    met_best = p_hi >= req_lo
    s_worst = verdict(met_worst)
    certain = s_worst == verdict(met_best)
    status = s_worst if certain else st.INSUFFICIENT
    unknown_any = b_missing or p_unknown
    exact = not p_unknown and req_lo == req_hi
    at_best = certain and not met_best and unknown_any and not exact
    shown_basis = lo if at_best else (-1 if hi >= ev.UNBOUNDED else hi)
    required = req_lo if at_best else req_hi
    provided = p_hi if at_best else p_lo
    table_row = row_lo if at_best else row_hi
    req_flags = rf_lo if at_best else rf_hi
    numbers = not unknown_any or (certain and (met_worst or exact)) or at_best
    out_missing = 0
    out_required = out_shortfall = out_row = threshold = -1
    if area is not None:
        if area == 0:
            flags |= ev.F_AREA_NO
        if area < 0:
            flags |= ev.F_AREA_UNKNOWN
            if status == st.INSUFFICIENT and met_worst:
                out_missing |= ev.BIT["dedicated_ev_area"]
    if stated and status == st.NEEDS_REVIEW:
        flags |= ev.F_REVIEW
    if has_requirement:
        if numbers:
            flags |= req_flags
            out_required = required
            out_shortfall = max(0, required - provided)
            out_row = table_row
    else:
        flags |= ev.F_NO_RATIO
    if certain and unknown_any:
        flags |= ev.F_HOLDS_ANY
    if at_best:
        flags |= ev.F_AT_LEAST
    if unknown_any:
        out_missing |= miss_bits

    # --- open verdicts: the value that settles them
    only_count = False
    if not certain:
        if b_missing and not p_unknown:
            threshold = _largest_basis_met(rule, pack, lo, hi, p_lo)
            flags |= ev.F_THRESH_BASIS
        elif not b_missing and p_unknown:
            only_count = True
            threshold = out_required = req_hi  # known; only what is provided is not
            flags |= ev.F_THRESH_COUNT

    if (
        rule.fast_preferred
        and 0 < hi < ev.UNBOUNDED
        and ints["fast_charging_spaces"] == 0
        and not site.unknown.get("fast_charging_spaces")
    ):
        flags |= ev.F_FAST_NONE
    out_basis = shown_basis if numbers else -1
    if hi == 0:
        status = st.NOT_APPLICABLE
        flags = ev.F_BASIS_ZERO
        out_required = out_shortfall = -1
        out_missing = 0
        out_basis = 0
    if only_count:
        out_basis = basis
    return (
        r_idx,
        cat,
        status,
        out_basis,
        out_required,
        provided,
        out_shortfall,
        flags,
        out_missing,
        out_row,
        threshold,
    )


# ----------------------------------------------------------------------------- summarise


def summarise(evals: ev.Evaluations, table: SiteTable, pack: RulePack) -> ev.SiteSummary | None:
    """`evaluate.summarise`, site by site: each site's worst status and headline evaluation
    (the ones that decide the status, then mandatory first, then the largest requirement,
    then order) and its rows. None when the evaluations are not in site order (the column
    version then decides)."""
    n = table.n
    site = evals.site.tolist()
    if site and (site[0] < 0 or site[-1] >= n or any(a > b for a, b in pairwise(site))):
        return None
    status, required, rule = evals.status.tolist(), evals.required.tolist(), evals.rule.tolist()
    mandatory = [r.strength == "mandatory" for r in pack.rules]
    worst = [st.INVALID] * n
    primary = [-1] * n
    start = [0] * n
    stop = [0] * n
    k, m = 0, len(site)
    for s in range(n):
        while k < m and site[k] < s:  # a site below 0: no site's
            k += 1
        start[s] = k
        best: tuple[int, bool, int, int] | None = None
        while k < m and site[k] == s:
            key = (-status[k], not (rule[k] >= 0 and mandatory[rule[k]]), -required[k], k)
            if best is None or key < best:
                best = key
            k += 1
        stop[s] = k
        if best is not None:
            worst[s] = -best[0]  # the headline has the worst status
            primary[s] = best[3]
    return ev.SiteSummary(
        status=np.array(worst, np.int8),
        primary=np.array(primary, np.int64),
        start=np.array(start, np.int64),
        stop=np.array(stop, np.int64),
    )
