"""The engine: every applicable rule of a pack over every site, as whole columns.

`evaluate(table, pack, as_of)` returns `Evaluations`: one row per (site, rule) evaluated, plus
one row per (site, category) that no rule covers (`not_applicable`) or that lacks a fact a rule
depends on (`insufficient_data`), plus one row per site without any category. Statuses are
decided here and only here (siting/scalar.py takes the same decisions site by site for tables of
a few sites; tests/test_scalar.py holds the two to each other).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from siting import scalar
from siting import statuses as st
from siting.distinct import distinct_rows
from siting.fields import FACT_DOMAINS
from siting.notes import Notes
from siting.ratio import apply_ratio
from siting.records import SiteTable
from siting.ruleset import Condition, Ratio, Rule, RulePack, TableRow

# Facts whose absence can make an evaluation insufficient_data, as bits.
MISSING_FACTS = (
    "category",
    "parking_spaces",
    "small_car_spaces",
    "a_rating",
    "service_area_class",
    "development",
    "dedicated_ev_area",
    "charging_spaces",
    "reserved_spaces",
    "fast_charging_spaces",
)
BIT = {name: 1 << i for i, name in enumerate(MISSING_FACTS)}

# Flags that explain an evaluation (notes are written from them).
F_FALLBACK = 1  # basis missing; bounded above by basis_fallback
F_FAST_NONE = 2  # fast preferred, none provided
F_AREA_NO = 4  # dedicated area required and stated absent
F_AREA_UNKNOWN = 8  # dedicated area required, not stated
F_REVIEW = 16  # fail turned to needs_review by a site constraint
F_NO_RATIO = 32  # advisory rule without a ratio
F_BASIS_ZERO = 64
F_NOT_COVERED = 128  # no rule of the pack covers this category with these facts
F_CAPPED = 256  # required capped at the basis
F_NOT_IN_FORCE = 512
F_MINIMUM = 1024  # the absolute minimum raised the requirement
F_UNCERTAIN = 2048  # a fail on a low-confidence category, turned to needs_review
F_HOLDS_ANY = 4096  # a number was missing, but every value it can take gives this status
F_AT_LEAST = 8192  # a fail on unknown numbers: required / shortfall are the least possible
F_THRESH_BASIS = 16384  # insufficient: passes if the basis is at most `threshold`
F_THRESH_COUNT = 32768  # insufficient: passes if the counted spaces reach `threshold`
F_DEPENDS = 65536  # category-level: the verdict depends on a missing fact (see site notes)
F_ALTERNATIVES = 131072  # category-level: the verdict depends on which category the site is

# An unknown number with no upper bound is evaluated at this value (above any real count).
UNBOUNDED = 4 * 10**9
# In scenario words: option 0 of a site that has alternatives but no category of its own.
NO_OWN_CATEGORY = -2


@dataclass
class Evaluations:
    site: np.ndarray  # int64
    rule: np.ndarray  # int64, index into pack.rules, -1 for category-level rows
    cat: np.ndarray  # int64, index into pack.categories, -1 when the site has none
    status: np.ndarray  # int8 rank (statuses.ORDER)
    basis: np.ndarray  # int64, -1 when none
    required: np.ndarray  # int64, -1 when none
    provided: np.ndarray  # int64, -1 when none
    shortfall: np.ndarray  # int64, -1 when none
    flags: np.ndarray  # int32
    missing: np.ndarray  # int32 bits of MISSING_FACTS
    table_row: np.ndarray  # int64, the table row used, -1 otherwise
    threshold: np.ndarray  # int64, with F_THRESH_*: the value that settles it, -1 otherwise
    # Site-level notes written while evaluating (sound verdicts), for check.py to show.
    site_notes: Notes = field(default_factory=Notes)

    def __len__(self) -> int:
        return len(self.site)

    def take(self, idx: np.ndarray) -> Evaluations:
        cols = {k: getattr(self, k)[idx] for k in COLUMNS}
        return Evaluations(**cols, site_notes=self.site_notes)

    @staticmethod
    def concat(parts: list[Evaluations]) -> Evaluations:
        if not parts:
            return _empty(0)
        notes = Notes()
        for p in parts:
            notes.extend(p.site_notes)
        cols = {k: np.concatenate([getattr(p, k) for p in parts]) for k in COLUMNS}
        return Evaluations(**cols, site_notes=notes)


COLUMNS = tuple(k for k in Evaluations.__dataclass_fields__ if k != "site_notes")


def _empty(n: int, **values: npt.ArrayLike) -> Evaluations:
    cols: dict[str, Any] = {  # ndarrays; Any so that Evaluations(**cols) type-checks
        "site": np.zeros(n, np.int64),
        "rule": np.full(n, -1, np.int64),
        "cat": np.full(n, -1, np.int64),
        "status": np.zeros(n, np.int8),
        "basis": np.full(n, -1, np.int64),
        "required": np.full(n, -1, np.int64),
        "provided": np.full(n, -1, np.int64),
        "shortfall": np.full(n, -1, np.int64),
        "flags": np.zeros(n, np.int32),
        "missing": np.zeros(n, np.int32),
        "table_row": np.full(n, -1, np.int64),
        "threshold": np.full(n, -1, np.int64),
    }
    for k, v in values.items():
        cols[k] = np.broadcast_to(np.asarray(v, dtype=cols[k].dtype), (n,)).copy()
    return Evaluations(**cols)


def condition_holds(cond: Condition, values: np.ndarray) -> np.ndarray:
    ok = np.ones(len(values), dtype=bool)
    if cond.eq is not None:
        ok &= values == cond.eq
    if cond.in_ is not None:
        ok &= np.isin(values, np.array(cond.in_, dtype=object))
    if cond.not_in is not None:
        ok &= ~np.isin(values, np.array(cond.not_in, dtype=object))
    for op, fn in (
        ("ge", np.greater_equal),
        ("gt", np.greater),
        ("le", np.less_equal),
        ("lt", np.less),
    ):
        bound = getattr(cond, op)
        if bound is not None:
            ok &= fn(values, bound)
    return ok


def required_for(
    rule: Rule, basis: np.ndarray, rounding: str, cap: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(required, table_row, flags) for a rule over a basis column; exact integer arithmetic."""
    n = len(basis)
    flags = np.zeros(n, np.int32)
    table_row = np.full(n, -1, np.int64)
    if rule.table is not None:
        bounds = np.array(
            [r.up_to if r.up_to is not None else np.iinfo(np.int64).max for r in rule.table],
            dtype=np.int64,
        )
        table_row = np.searchsorted(bounds, basis, side="left").astype(np.int64)
        beyond = table_row >= len(rule.table)  # a closed table that the basis outgrows
        table_row = np.minimum(table_row, len(rule.table) - 1)
        required = np.zeros(n, np.int64)
        for k, row in enumerate(rule.table):
            sel = table_row == k
            if not sel.any():
                continue
            required[sel] = (
                row.required
                if row.required is not None
                else _ratio_chain(row.ratio, basis[sel], rounding)
            )
        required[beyond] = np.array(
            [_table_last(rule, b, rounding) for b in basis[beyond]], dtype=np.int64
        )
    elif rule.ratio is not None:
        required = _ratio_chain(rule.ratio, basis, rounding)
    else:
        required = np.zeros(n, np.int64)
    if rule.minimum is not None:
        raised = (required < rule.minimum) & (basis > 0)
        required = np.where(raised, rule.minimum, required)
        flags |= np.where(raised, F_MINIMUM, 0).astype(np.int32)
    if cap:
        capped = required > basis
        required = np.where(capped, basis, required)
        flags |= np.where(capped, F_CAPPED, 0).astype(np.int32)
    return required, table_row, flags


def _table_last(rule: Rule, basis: int, rounding: str) -> int:
    row = cast("list[TableRow]", rule.table)[-1]  # called for table rules only
    if row.required is not None:
        return row.required
    return int(_ratio_chain(row.ratio, np.array([basis]), rounding)[0])


def _ratio_chain(ratio: Ratio | list[Ratio] | None, basis: np.ndarray, rounding: str) -> np.ndarray:
    values = basis.astype(np.int64)
    # never None here: a rule or table row without `required` has a ratio
    for r in cast("list[Ratio]", ratio if isinstance(ratio, list) else [ratio]):
        values = apply_ratio(r, values, rounding)
    return values


def evaluate(table: SiteTable, pack: RulePack, as_of: dt.date) -> Evaluations:
    """Every applicable rule over every valid site. Sites missing a fact that a rule of their
    categories tests, or with alternative categories, are evaluated once per possible value
    (sound verdicts: the verdict stands only when every value gives it)."""
    if table.n <= scalar.SCALAR_SITES:  # a few sites: one at a time, the same decisions
        return scalar.evaluate(table, pack, as_of)
    valid = ~table.invalid
    need = _facts_to_enumerate(table, pack, as_of, valid)
    expand = np.zeros(table.n, bool)
    for mask in need.values():
        expand |= mask
    has_alt = np.zeros(table.n, bool)
    if table.alt_site is not None and len(table.alt_site):
        has_alt[table.alt_site] = True
        expand |= has_alt & valid
    evals = _evaluate_sites(table, pack, as_of, valid & ~expand)
    if expand.any():
        scenarios = _evaluate_scenarios(table, pack, as_of, np.flatnonzero(expand), need)
        evals = Evaluations.concat([evals, scenarios])
    if table.uncertain is not None:
        doubt = table.uncertain[evals.site] & (evals.status == st.FAIL)
        evals.status[doubt] = st.NEEDS_REVIEW
        evals.flags[doubt] |= F_UNCERTAIN
    # By site, then pack order of the rules; category-level rows (rule -1) after the rules.
    rule_key = np.where(evals.rule < 0, np.iinfo(np.int64).max, evals.rule)
    return evals.take(np.lexsort((rule_key, evals.site)))


def _facts_to_enumerate(
    table: SiteTable, pack: RulePack, as_of: dt.date, valid: np.ndarray
) -> dict[str, np.ndarray]:
    """Per enumerable fact, the valid sites that lack it while a rule of one of their
    categories (in force) tests it."""
    need: dict[str, np.ndarray] = {}
    masks = pack.rule_category_masks
    for fact in FACT_DOMAINS:
        tests = [
            masks[r]
            for r, rule in enumerate(pack.rules)
            if fact in rule.when and rule.in_force(as_of)
        ]
        if not tests:
            continue
        tested_cat = np.logical_or.reduce(tests)
        _, miss = table.fact(fact)
        tested = np.zeros(table.n, bool)
        tested[table.pair_site[tested_cat[table.pair_cat]]] = True
        if table.alt_site is not None and len(table.alt_site):
            tested[table.alt_site[tested_cat[table.alt_cat]]] = True
        mask = tested & miss & valid
        if mask.any():
            need[fact] = mask
    return need


def _evaluate_sites(
    table: SiteTable, pack: RulePack, as_of: dt.date, sites_mask: np.ndarray
) -> Evaluations:
    if table.n <= scalar.SCALAR_SITES:  # a few sites: one at a time, the same decisions
        return scalar.evaluate_sites(table, pack, as_of, sites_mask)
    return _evaluate_columns(table, pack, as_of, sites_mask)


def _evaluate_columns(
    table: SiteTable, pack: RulePack, as_of: dt.date, sites_mask: np.ndarray
) -> Evaluations:
    keep = sites_mask[table.pair_site]
    pair_site, pair_cat = table.pair_site[keep], table.pair_cat[keep]
    n_pairs = len(pair_site)
    any_true = np.zeros(n_pairs, bool)
    any_unknown = np.zeros(n_pairs, bool)
    unknown_bits = np.zeros(n_pairs, np.int32)
    parts: list[Evaluations] = []

    present = np.zeros(len(pack.category_ids) + 1, bool)
    present[pair_cat] = True
    for r_idx, (rule, mask) in enumerate(zip(pack.rules, pack.rule_category_masks, strict=True)):
        if not (mask & present).any() or not rule.in_force(as_of):
            continue
        sel = np.flatnonzero(mask[pair_cat])
        sites = pair_site[sel]
        definitely_false = np.zeros(len(sel), bool)
        unknown = np.zeros(len(sel), bool)
        bits = np.zeros(len(sel), np.int32)
        for fact, cond in rule.when.items():
            values, miss = table.fact(fact)
            values, miss = values[sites], miss[sites]
            holds = condition_holds(cond, values)
            definitely_false |= ~holds & ~miss
            unknown |= miss
            bits |= np.where(miss, BIT.get(fact, 0), 0).astype(np.int32)
        unknown &= ~definitely_false
        true = ~definitely_false & ~unknown
        any_true[sel] |= true
        any_unknown[sel] |= unknown
        unknown_bits[sel] |= np.where(unknown, bits, 0).astype(np.int32)
        # One evaluation per (site, rule), even when two of the site's categories lead to it.
        hit_sites, first = np.unique(sites[true], return_index=True)
        if len(hit_sites):
            parts.append(
                _evaluate_rule(table, pack, r_idx, rule, hit_sites, pair_cat[sel][true][first])
            )

    # Categories with a fact missing that a rule depends on (a count fact in `when`: the
    # enumerable ones never get here).
    unk = np.flatnonzero(any_unknown & ~any_true)
    if len(unk):
        parts.append(_empty(len(unk), status=st.INSUFFICIENT))
        parts[-1].site[:], parts[-1].cat[:] = pair_site[unk], pair_cat[unk]
        parts[-1].missing[:] = unknown_bits[unk]
    # Categories that no rule covers with these facts.
    na = np.flatnonzero(~any_true & ~any_unknown)
    if len(na):
        parts.append(_empty(len(na), status=st.NOT_APPLICABLE, flags=F_NOT_COVERED))
        parts[-1].site[:], parts[-1].cat[:] = pair_site[na], pair_cat[na]
    # Sites without any category.
    has_cat = np.zeros(table.n, bool)
    has_cat[table.pair_site] = True
    bare = np.flatnonzero(sites_mask & ~has_cat)
    if len(bare):
        parts.append(_empty(len(bare), status=st.INSUFFICIENT, missing=BIT["category"]))
        parts[-1].site[:] = bare
    return Evaluations.concat(parts) if len(parts) != 1 else parts[0]


def _evaluate_rule(
    table: SiteTable, pack: RulePack, r_idx: int, rule: Rule, sites: np.ndarray, cats: np.ndarray
) -> Evaluations:
    """One rule over the sites it applies to. A missing basis or an absent count column is an
    interval, not a guess: the rule is evaluated at the end least favourable to the site and
    at the end most favourable; equal statuses stand (F_HOLDS_ANY), others are
    insufficient_data with the value that would settle it (F_THRESH_*)."""
    n = len(sites)
    ev = _empty(n, rule=r_idx)
    ev.site[:], ev.cat[:] = sites, cats
    flags = np.zeros(n, np.int32)
    miss_bits = np.zeros(n, np.int32)

    # --- the basis: known, or an interval [lo, hi]
    basis = table.ints[rule.basis][sites]
    b_missing = table.missing[rule.basis][sites]
    hi = np.where(b_missing, UNBOUNDED, basis)
    miss_bits |= np.where(b_missing, BIT[rule.basis], 0).astype(np.int32)
    if rule.basis_fallback:
        fb_missing = table.missing[rule.basis_fallback][sites]
        bounded = b_missing & ~fb_missing
        hi = np.where(bounded, table.ints[rule.basis_fallback][sites], hi)
        flags |= np.where(bounded, F_FALLBACK, 0).astype(np.int32)
        miss_bits |= np.where(b_missing & fb_missing, BIT[rule.basis_fallback], 0).astype(np.int32)
    # An unknown basis is at least 1 (a site being checked has spaces), and a total count at
    # least the spaces stated inside it.
    least = np.ones(n, np.int64)
    if rule.basis == "parking_spaces":
        inside = table.ints["charging_spaces"][sites] + table.ints["reserved_spaces"][sites]
        small = np.where(
            table.missing["small_car_spaces"][sites], 0, table.ints["small_car_spaces"][sites]
        )
        least = np.maximum(least, np.maximum(inside, small))
    lo = np.where(b_missing, np.minimum(least, hi), basis)

    # --- what is provided: known, or at least the known counts when a column is absent
    p_lo = np.zeros(n, np.int64)
    p_unknown = np.zeros(n, bool)
    for name in rule.counts:
        p_lo += table.ints[name][sites]
        unknown = table.unknown_count.get(name)
        if unknown is not None:
            p_unknown |= unknown[sites]
            miss_bits |= np.where(unknown[sites], BIT[name], 0).astype(np.int32)
    p_hi = np.where(p_unknown, UNBOUNDED, p_lo)

    req_hi, row_hi, rf_hi = required_for(rule, hi, pack.rounding, pack.cap_required_at_basis)
    if b_missing.any():
        req_lo, row_lo, rf_lo = required_for(rule, lo, pack.rounding, pack.cap_required_at_basis)
    else:
        req_lo, row_lo, rf_lo = req_hi, row_hi, rf_hi

    area = table.dedicated[sites] if rule.dedicated_area_required else None
    stated = None
    if rule.site_constraint_review:
        stated = np.array([v is not None for v in table.site_constraint[sites]], bool)

    def verdict(count_met: np.ndarray) -> np.ndarray:
        status = np.full(n, st.PASS, np.int8)
        if not rule.has_requirement:
            status[:] = st.ADVISORY
            return status
        met = count_met & (area == 1) if area is not None else count_met
        if rule.strength == "mandatory":
            status[~met] = st.FAIL
            if area is not None:  # counts met, area not stated: a fact is missing
                status[count_met & (area < 0)] = st.INSUFFICIENT
            if stated is not None:
                status[(status == st.FAIL) & stated] = st.NEEDS_REVIEW
        else:
            status[~met] = st.ADVISORY
        return status

    # a missing basis matters only where the requirement changes over its interval
    basis_bits = BIT[rule.basis] | (BIT[rule.basis_fallback] if rule.basis_fallback else 0)
    miss_bits &= ~np.where(b_missing & (req_lo == req_hi), basis_bits, 0).astype(np.int32)
    met_worst = p_lo >= req_hi  # the most the basis can be, the least provided
    met_best = p_hi >= req_lo  # the least the basis can be, the most provided
    s_worst, s_best = verdict(met_worst), verdict(met_best)
    certain = s_worst == s_best
    status = np.where(certain, s_worst, st.INSUFFICIENT).astype(np.int8)
    unknown_any = b_missing | p_unknown
    # A missing basis that does not change the requirement (a minimum of 1 at any size),
    # with the provided counts known: the numbers are exact at either end.
    exact = ~p_unknown & (req_lo == req_hi)
    # Numbers shown: a pass at the worst end proves it; a fail at the best end is the least
    # shortfall there can be; otherwise (open verdicts) there are no numbers to show.
    at_best = certain & ~met_best & unknown_any & ~exact
    shown_basis = np.where(at_best, lo, np.where(hi >= UNBOUNDED, -1, hi))
    required = np.where(at_best, req_lo, req_hi)
    provided = np.where(at_best, p_hi, p_lo)
    table_row = np.where(at_best, row_lo, row_hi)
    req_flags = np.where(at_best, rf_lo, rf_hi)
    numbers = ~unknown_any | (certain & (met_worst | exact)) | at_best
    if area is not None:
        flags |= np.where(area == 0, F_AREA_NO, 0).astype(np.int32)
        flags |= np.where(area < 0, F_AREA_UNKNOWN, 0).astype(np.int32)
        ev.missing[:] |= np.where(
            (status == st.INSUFFICIENT) & (area < 0) & met_worst, BIT["dedicated_ev_area"], 0
        ).astype(np.int32)
    if stated is not None:
        flags |= np.where((status == st.NEEDS_REVIEW) & stated, F_REVIEW, 0).astype(np.int32)
    if rule.has_requirement:
        flags |= np.where(numbers, req_flags, 0).astype(np.int32)
        ev.required[:] = np.where(numbers, required, -1)
        ev.shortfall[:] = np.where(numbers, np.maximum(0, required - provided), -1)
        ev.table_row[:] = np.where(numbers, table_row, -1)
    else:
        flags |= F_NO_RATIO
    flags |= np.where(certain & unknown_any, F_HOLDS_ANY, 0).astype(np.int32)
    flags |= np.where(at_best, F_AT_LEAST, 0).astype(np.int32)
    ev.missing[:] |= np.where(unknown_any, miss_bits, 0).astype(np.int32)

    # --- open verdicts: the value that settles them
    open_ = ~certain
    only_basis = open_ & b_missing & ~p_unknown
    if only_basis.any():
        ev.threshold[only_basis] = _largest_basis_met(
            rule, pack, lo[only_basis], hi[only_basis], p_lo[only_basis]
        )
        flags |= np.where(only_basis, F_THRESH_BASIS, 0).astype(np.int32)
    only_count = open_ & ~b_missing & p_unknown
    if only_count.any():
        ev.threshold[only_count] = req_hi[only_count]
        ev.required[only_count] = req_hi[only_count]  # known; only what is provided is not
        flags |= np.where(only_count, F_THRESH_COUNT, 0).astype(np.int32)

    if rule.fast_preferred:
        fast_unknown = table.unknown_count.get("fast_charging_spaces")
        none_fast = table.ints["fast_charging_spaces"][sites] == 0
        if fast_unknown is not None:
            none_fast &= ~fast_unknown[sites]
        flags |= np.where(none_fast & (hi > 0) & (hi < UNBOUNDED), F_FAST_NONE, 0).astype(np.int32)
    zero = hi == 0
    status[zero] = st.NOT_APPLICABLE
    flags = np.where(zero, F_BASIS_ZERO, flags).astype(np.int32)
    ev.required[zero] = -1
    ev.shortfall[zero] = -1
    ev.missing[zero] = 0
    ev.basis[:] = np.where(numbers | zero, shown_basis, -1)
    ev.basis[zero] = 0
    ev.basis[only_count] = basis[only_count]
    ev.provided[:] = provided
    ev.status[:] = status
    ev.flags[:] = flags
    return ev


def _largest_basis_met(
    rule: Rule, pack: RulePack, lo: np.ndarray, hi: np.ndarray, provided: np.ndarray
) -> np.ndarray:
    """Per site, the largest basis in [lo, hi] whose requirement `provided` meets (the
    requirement grows with the basis, so a bisection finds it, on whole columns). -1 when
    even lo is not met."""

    def met(b: np.ndarray) -> np.ndarray:
        return required_for(rule, b, pack.rounding, pack.cap_required_at_basis)[0] <= provided

    good = lo.copy()
    ok_lo = met(lo)
    bad = hi.copy()
    while True:
        gap = bad - good > 1
        if not gap.any():
            break
        mid = (good + bad) // 2
        ok = met(mid)
        good = np.where(gap & ok, mid, good)
        bad = np.where(gap & ~ok, mid, bad)
    good = np.where(met(hi), hi, good)
    return np.where(ok_lo, good, -1)


# ----------------------------------------------------------------------------- scenarios


def _evaluate_scenarios(
    table: SiteTable,
    pack: RulePack,
    as_of: dt.date,
    sites: np.ndarray,
    need: dict[str, np.ndarray],
) -> Evaluations:
    """Sound verdicts for sites with missing facts or alternative categories: each site is
    evaluated as a scenario per combination of the values its missing facts can take (and
    per category it may be). Where all scenarios give one status it stands, shown by the
    evaluations every scenario has alike (or, when none carries that status, by the scenario
    with the least shortfall of a fail / the strictest requirement of a pass); where they
    differ, one category-level row says so and a site note lists what each gives."""
    facts = [f for f in FACT_DOMAINS if f in need]
    # Scenario rows, grouped by site: the product of the domains of each site's missing facts
    rows = sites
    # per fact, the value each scenario row takes: its index in FACT_DOMAINS[f], or -1 where
    # the site's own value stands
    values: dict[str, np.ndarray] = {}
    for f in facts:
        mask = need[f][rows]
        reps = np.where(mask, len(FACT_DOMAINS[f]), 1)
        new_rows = np.repeat(rows, reps)
        # position within each repeat block -> the value taken
        offsets = np.arange(len(new_rows)) - np.repeat(np.cumsum(reps) - reps, reps)
        for g in values:
            values[g] = np.repeat(values[g], reps)
        values[f] = np.where(np.repeat(mask, reps), offsets, -1)
        rows = new_rows
    # Category options: the site's own categories (option 0), then each alternative.
    own_pair_site, own_pair_cat = table.pair_site, table.pair_cat
    option = np.zeros(len(rows), np.int64)
    alt_cat = np.full(len(rows), -1, np.int64)
    if table.alt_site is not None and len(table.alt_site):
        order = np.argsort(table.alt_site, kind="stable")
        # alt_cat is set whenever alt_site is
        a_site, a_cat = table.alt_site[order], cast(np.ndarray, table.alt_cat)[order]
        n_alt = np.bincount(a_site, minlength=table.n)[rows]
        reps = n_alt + 1
        idx = np.repeat(np.arange(len(rows)), reps)
        option = np.arange(len(idx)) - np.repeat(np.cumsum(reps) - reps, reps)
        rows = rows[idx]
        values = {f: v[idx] for f, v in values.items()}
        first_alt = np.searchsorted(a_site, rows)
        has = option > 0
        alt_cat = np.full(len(rows), -1, np.int64)
        alt_cat[has] = a_cat[first_alt[has] + option[has] - 1]
    m = len(rows)
    # The scenario table: rows of the original, facts and categories overridden.
    counts = np.bincount(own_pair_site, minlength=table.n)
    starts = np.cumsum(counts) - counts  # pairs are in site order: each site's first pair
    own = option == 0
    lengths = np.where(own, counts[rows], 1)
    pair_site = np.repeat(np.arange(m), lengths)
    within = np.arange(len(pair_site)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    src = np.repeat(starts[rows], lengths) + within
    pair_cat = np.repeat(alt_cat, lengths)
    from_own = np.repeat(own, lengths)
    pair_cat[from_own] = own_pair_cat[src[from_own]]
    scen = _scenario_table(table, rows, values, pair_site, pair_cat)
    sev = _evaluate_sites(scen, pack, as_of, np.ones(m, bool))
    sev = sev.take(np.lexsort((np.where(sev.rule < 0, np.iinfo(np.int64).max, sev.rule), sev.site)))
    summary = summarise(sev, scen, pack)
    s_status = summary.status
    prim = summary.primary
    # every scenario has an evaluation (a rule's or a category-level one): prim >= 0
    s_short, s_req = sev.shortfall[prim], sev.required[prim]

    # Per original site (scenario rows are grouped by site, in site order)
    group_start = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    site_of_group = rows[group_start]
    lo_status = np.minimum.reduceat(s_status, group_start)
    hi_status = np.maximum.reduceat(s_status, group_start)
    agree = lo_status == hi_status
    group = np.repeat(np.arange(len(group_start)), np.diff(np.r_[group_start, m]))
    # the standing scenario of each agreeing site: least shortfall, then strictest
    order = np.lexsort((np.arange(m), -s_req, np.maximum(s_short, 0), group))
    first = order[np.r_[True, group[order][1:] != group[order][:-1]]]
    standing = np.full(len(group_start), -1, np.int64)
    standing[group[first]] = first
    standing[~agree] = group_start[~agree]  # the first scenario: the site's own categories
    # An evaluation is stable when every scenario of the site has it with the same status
    # (a rule that does not depend on the missing fact): only stable evaluations are shown
    # as such; the rest is what the note and the category-level row are about.
    sg = group[sev.site]
    rule_key = np.where(sev.rule >= 0, sev.rule, -2 - sev.cat)
    key, _ = distinct_rows(sg, rule_key, sev.status)
    size = np.bincount(group, minlength=len(group_start))
    stable = np.bincount(key)[key] == size[sg]
    from_standing = sev.site == standing[sg]
    keep = from_standing & stable
    # an agreeing site whose verdict no stable evaluation carries shows its standing scenario
    carried = np.zeros(len(group_start), bool)
    carried[sg[keep & (sev.status == lo_status[sg])]] = True
    keep |= from_standing & agree[sg] & ~carried[sg]
    kept = sev.take(np.flatnonzero(keep))
    kept.site = rows[kept.site]
    parts = [kept]
    # the category an open verdict is about: the first of the site's own categories whose
    # evaluations differ between scenarios
    unstable = ~stable & (option[sev.site] == 0)
    g_unst, at = np.unique(sg[unstable], return_index=True)
    open_cat = np.full(len(group_start), -1, np.int64)
    open_cat[g_unst] = sev.cat[np.flatnonzero(unstable)[at]]
    # Messages: scenario words and outcome words are written once per distinct value, and a
    # site's text once per distinct sequence of (words, outcome) among its scenarios.
    # each site's first own category (-1 for none), used to name scenarios and open rows
    first_own = np.full(table.n, -1, np.int64)
    has_own = counts > 0
    first_own[has_own] = own_pair_cat[starts[has_own]]
    # the words of a scenario name its category when the site has alternatives; a site
    # without a category of its own has its option 0 named as such
    own_word = np.where(has_own[rows], first_own[rows], NO_OWN_CATEGORY)
    word_cat = np.where(option > 0, alt_cat, own_word)
    if table.alt_site is not None and len(table.alt_site):
        with_alt = np.zeros(table.n, bool)
        with_alt[table.alt_site] = True
        word_cat = np.where(with_alt[rows], word_cat, -1)
    else:
        word_cat[:] = -1
    word_code, word_text = _scenario_words(values, facts, word_cat, pack)
    out_code, out_text = _outcome_words(s_status, s_short, sev, prim, pack)
    pair_code = word_code * len(out_text) + out_code
    ends = np.r_[group_start[1:], m]
    site_text = _group_texts(pair_code, group_start, ends, word_text, out_text)

    notes = Notes()
    # agreeing sites with missing facts: say the verdict holds for every value
    fact_names = np.zeros(len(group_start), np.int32)
    for f in facts:
        fact_names |= np.where(need[f][site_of_group], BIT[f], 0).astype(np.int32)
    holds = agree & (fact_names != 0) & (lo_status != st.INSUFFICIENT)
    if holds.any():
        names, first = distinct_rows(fact_names[holds])
        heads = np.array(
            [
                missing_words(int(b)).removeprefix("missing ")
                + " not given: every value gives the same verdict ("
                for b in fact_names[holds][first].tolist()
            ],
            dtype=object,
        )
        notes.add_many(site_of_group[holds], "info", heads[names] + site_text[holds] + ")")
    # disagreeing sites: one row, insufficient_data (a fact is missing) or needs_review
    # (only the category is in doubt), and a note with what each scenario gives
    dis = np.flatnonzero(~agree)
    if len(dis):
        ev = _empty(len(dis))
        ev.site[:] = site_of_group[dis]
        ev.cat[:] = open_cat[dis]
        ev.cat[:] = np.where(ev.cat < 0, first_own[ev.site], ev.cat)
        miss = fact_names[dis]
        ev.missing[:] = miss
        ev.status[:] = np.where(miss != 0, st.INSUFFICIENT, st.NEEDS_REVIEW)
        ev.flags[:] = np.where(miss != 0, F_DEPENDS, F_ALTERNATIVES)
        parts.append(ev)
        lead = (
            "the verdict depends on which category the site is",
            "the verdict depends on facts not given",
        )
        leads = np.array([f"{lead[0]}: ", f"{lead[1]}: "], dtype=object)
        msgs = leads[(miss != 0).astype(np.int64)] + site_text[dis]
        notes.add_many(site_of_group[dis], "warning", msgs)
    out = Evaluations.concat(parts)
    out.site_notes = notes
    return out


def _scenario_table(
    table: SiteTable,
    rows: np.ndarray,
    values: dict[str, np.ndarray],
    pair_site: np.ndarray,
    pair_cat: np.ndarray,
) -> SiteTable:
    ints = {k: v[rows].copy() for k, v in table.ints.items()}
    missing = {k: v[rows].copy() for k, v in table.missing.items()}
    development = table.development[rows].copy()
    for f, code in values.items():
        given = code >= 0
        if f == "development":
            development[given] = np.array(FACT_DOMAINS[f], dtype=object)[code[given]]
        else:
            ints[f][given] = np.array(FACT_DOMAINS[f], np.int64)[code[given]]
            missing[f][given] = False
    return SiteTable(
        n=len(rows),
        ids=np.full(len(rows), None, dtype=object),
        row_numbers=table.row_numbers[rows],
        row_kind=table.row_kind,
        source=table.source,
        ints=ints,
        missing=missing,
        development=development,
        dedicated=table.dedicated[rows],
        site_constraint=table.site_constraint[rows],
        city=table.city[rows],
        pair_site=pair_site,
        pair_cat=pair_cat,
        unknown_count={k: v[rows] for k, v in table.unknown_count.items()},
        blank_counts={k: v[rows] for k, v in table.blank_counts.items()},
    )


def _group_texts(
    pair_code: np.ndarray,
    group_start: np.ndarray,
    ends: np.ndarray,
    word_text: list[str],
    out_text: list[str],
) -> np.ndarray:
    """Per site (group of scenario rows), the text of what each scenario gives, written once
    per distinct sequence: sites with the same number of scenarios are compared as rows of a
    matrix of their (words, outcome) codes."""
    lengths = ends - group_start
    out = np.empty(len(group_start), dtype=object)
    w = len(out_text)
    for length in np.unique(lengths).tolist():
        sel = np.flatnonzero(lengths == length)
        matrix = pair_code[group_start[sel][:, None] + np.arange(length)]
        codes, first = distinct_rows(*matrix.T)
        texts = []
        for row in matrix[first].tolist():
            texts.append(
                _join_outcomes([word_text[c // w] for c in row], [out_text[c % w] for c in row])
            )
        out[sel] = np.array(texts, dtype=object)[codes]
    return out


def _scenario_words(
    values: dict[str, np.ndarray], facts: list[str], alt_cat: np.ndarray, pack: RulePack
) -> tuple[npt.NDArray[np.int64], list[str]]:
    """(code per scenario, text per code): 'as hospital, a_rating 4', one text per distinct
    combination."""
    code, first = distinct_rows(alt_cat, *(values[f] for f in facts))
    texts = []
    for j in first.tolist():
        parts = []
        if alt_cat[j] >= 0:
            parts.append("as " + pack.category_ids[int(alt_cat[j])])
        elif alt_cat[j] == NO_OWN_CATEGORY:
            parts.append("with no category")
        parts += [f"{f} {FACT_DOMAINS[f][values[f][j]]}" for f in facts if values[f][j] >= 0]
        texts.append(", ".join(parts))
    return code, texts


def _outcome_words(
    status: np.ndarray, shortfall: np.ndarray, sev: Evaluations, prim: np.ndarray, pack: RulePack
) -> tuple[npt.NDArray[np.int64], list[str]]:
    """(code per scenario, text per code): 'fails, short 3', 'passes if small_car_spaces
    <= 150', one text per distinct outcome."""
    # every scenario has an evaluation (a rule's or a category-level one): prim >= 0
    rule, flags, thresh, miss = (c[prim] for c in (sev.rule, sev.flags, sev.threshold, sev.missing))
    kind = np.select(
        [
            (flags & F_THRESH_BASIS) != 0,
            (flags & F_THRESH_COUNT) != 0,
            (flags & F_AREA_UNKNOWN) != 0,
        ],
        [1, 2, 3],
        0,
    )
    open_ = status == st.INSUFFICIENT
    cols = [
        status.astype(np.int64),
        np.where(status == st.FAIL, shortfall, -1),
        np.where(open_, rule, -1),
        np.where(open_, kind, 0),
        np.where(open_, thresh, -1),
        np.where(open_ & (kind == 0), miss, 0),
    ]
    code, first = distinct_rows(*cols)
    texts = []
    for s, short, r, kd, t, m in zip(*(c[first].tolist() for c in cols), strict=True):
        if s == st.FAIL:
            texts.append(f"fails, short {short}")
        elif s == st.PASS:
            texts.append("passes")
        elif s == st.NEEDS_REVIEW:
            texts.append("needs review")
        elif s == st.ADVISORY:
            texts.append("advisory (encouraged, not required)")
        elif s == st.NOT_APPLICABLE:
            texts.append("not applicable")
        elif kd == 1:
            texts.append(f"passes if {pack.rules[r].basis} <= {t}")
        elif kd == 2:
            texts.append(f"passes if {' + '.join(pack.rules[r].counts)} come to {t} or more")
        elif kd == 3:
            texts.append("passes if dedicated_ev_area is true, fails if false")
        else:
            texts.append(f"cannot be checked ({missing_words(m)})")
    return code, texts


def missing_words(bits: int) -> str:
    """'missing a_rating, development' for MISSING_FACTS bits."""
    names = [n for n in MISSING_FACTS if bits & BIT[n]]
    return ("missing " + ", ".join(names)) if names else "missing facts"


def _join_outcomes(words: list[str], outcomes: list[str]) -> str:
    """'a_rating 1: passes; a_rating 2: passes; ...' with runs of equal outcomes merged:
    'a_rating 1-3: passes; a_rating 4-5: fails, short 10'."""
    merged: list[tuple[list[str], str]] = []
    for w, o in zip(words, outcomes, strict=True):
        if merged and merged[-1][1] == o:
            merged[-1][0].append(w)
        else:
            merged.append(([w], o))
    parts = []
    for ws, o in merged:
        parts.append(f"{_span(tuple(ws))}: {o}")
    return "; ".join(parts)


@lru_cache(maxsize=4096)  # the same runs of words recur in many sites' texts
def _span(words: tuple[str, ...]) -> str:
    """'a_rating 1' .. 'a_rating 3' -> 'a_rating 1-3' when only the last number runs."""
    if len(words) == 1:
        return words[0]
    heads = {w.rsplit(" ", 1)[0] for w in words}
    tails = [w.rsplit(" ", 1)[-1] for w in words]
    if len(heads) == 1 and all(t.isdigit() for t in tails):
        return f"{heads.pop()} {tails[0]}-{tails[-1]}"
    return " or ".join(words)


@dataclass
class SiteSummary:
    """Per-site roll-up: worst status, and which evaluation gives the headline numbers."""

    status: np.ndarray  # int8 rank per site
    primary: np.ndarray  # int64 index into evaluations, -1 for invalid sites
    start: np.ndarray  # int64 first evaluation of each site
    stop: np.ndarray  # int64 one past the last


# The headline key of `_headlines_by_key`, bit by bit from the top: status (worst first),
# mandatory, required spaces (+1, so that -1, unknown, is 0), and the place in the site
# (first first, stored as LOCAL_MAX minus it).
_LOCAL_BITS, _REQUIRED_BITS = 20, 32
_LOCAL_MAX = (1 << _LOCAL_BITS) - 1
_MAND_SHIFT = _LOCAL_BITS + _REQUIRED_BITS
_STATUS_SHIFT = _MAND_SHIFT + 1


def _headlines_by_key(
    evals: Evaluations,
    is_mand: np.ndarray,
    start: np.ndarray,
    stop: np.ndarray,
    has: np.ndarray,
    n: int,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Per site with evaluations, (worst status, headline evaluation): each evaluation's
    order of preference packed into one int64, and the largest per site taken over the
    site's run of evaluations (one pass, where sorting by five keys took most of the
    roll-up). None when the evaluations do not fit the packing (not in site order, a
    required count over 2**32 - 2, a site with over 2**20 evaluations): the caller sorts."""
    site, req = evals.site, evals.required
    if (
        site[0] < 0
        or site[-1] >= n
        or (np.diff(site) < 0).any()
        or req.min() < -1
        or req.max() >= (1 << _REQUIRED_BITS) - 2
        or (stop - start).max() > _LOCAL_MAX
    ):
        return None
    first = start[has]
    local = np.arange(len(evals), dtype=np.int64) - start[site]
    key = (
        (evals.status.astype(np.int64) << _STATUS_SHIFT)
        | (is_mand.astype(np.int64) << _MAND_SHIFT)
        | ((req.astype(np.int64) + 1) << _LOCAL_BITS)
        | (_LOCAL_MAX - local)
    )
    best = np.maximum.reduceat(key, first)
    worst = (best >> _STATUS_SHIFT).astype(np.int8)
    return worst, first + (_LOCAL_MAX - (best & _LOCAL_MAX))


def _headlines_sorted(
    evals: Evaluations, is_mand: np.ndarray, has: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """`_headlines_by_key` by sorting: for any evaluations (tests/test_engine.py holds the
    two to the same answer)."""
    worst = np.zeros(n, np.int8)
    np.maximum.at(worst, evals.site, evals.status)
    # headline: the evaluations that decide the status, then mandatory first, then the
    # largest requirement, then pack order (SPEC 2)
    order = np.lexsort(
        (np.arange(len(evals)), -evals.required, ~is_mand, -evals.status, evals.site)
    )
    first = np.ones(len(order), bool)
    first[1:] = evals.site[order][1:] != evals.site[order][:-1]
    primary = np.full(n, -1, np.int64)
    primary[evals.site[order][first]] = order[first]
    return worst[has], primary[has]


def summarise(evals: Evaluations, table: SiteTable, pack: RulePack) -> SiteSummary:
    if table.n <= scalar.SCALAR_SITES:  # a few sites: one at a time
        summary = scalar.summarise(evals, table, pack)
        if summary is not None:
            return summary
    n = table.n
    status = np.full(n, st.INVALID, np.int8)
    primary = np.full(n, -1, np.int64)
    # evaluations are in site order: each site's run ends where the counts so far do
    stop = np.cumsum(np.bincount(evals.site, minlength=n)).astype(np.int64)
    start = np.empty(n, np.int64)
    start[:1] = 0
    start[1:] = stop[:-1]
    if len(evals):
        has = stop > start
        mandatory = np.array([r.strength == "mandatory" for r in pack.rules] + [False])
        is_mand = mandatory[evals.rule]  # rule -1 picks the trailing False
        found = _headlines_by_key(evals, is_mand, start, stop, has, n)
        if found is None:
            found = _headlines_sorted(evals, is_mand, has, n)
        status[has], primary[has] = found
    return SiteSummary(status=status, primary=primary, start=start, stop=stop)
