"""The engine: every applicable rule of a pack over every site, as whole columns.

`evaluate(table, pack, as_of)` returns `Evaluations`: one row per (site, rule) evaluated, plus
one row per (site, category) that no rule covers (`not_applicable`) or that lacks a fact a rule
depends on (`insufficient_data`), plus one row per site without any category. Statuses are
decided here and only here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from siting import statuses as st
from siting.ratio import apply_ratio
from siting.records import SiteTable
from siting.ruleset import Condition, Rule, RulePack

# Facts whose absence can make an evaluation insufficient_data, as bits.
MISSING_FACTS = (
    "category",
    "parking_spaces",
    "small_car_spaces",
    "a_rating",
    "service_area_class",
    "development",
    "dedicated_ev_area",
)
BIT = {name: 1 << i for i, name in enumerate(MISSING_FACTS)}

# Flags that explain an evaluation (notes are written from them).
F_FALLBACK = 1  # basis_fallback used
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

    def __len__(self) -> int:
        return len(self.site)

    def take(self, idx: np.ndarray) -> Evaluations:
        return Evaluations(**{k: v[idx] for k, v in self.__dict__.items()})

    @staticmethod
    def concat(parts: list[Evaluations]) -> Evaluations:
        if not parts:
            return _empty(0)
        return Evaluations(
            **{k: np.concatenate([getattr(p, k) for p in parts]) for k in parts[0].__dict__}
        )


def _empty(n: int, **values) -> Evaluations:
    cols = {
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


def required_for(rule: Rule, basis: np.ndarray, rounding: str, cap: bool):
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
    row = rule.table[-1]
    if row.required is not None:
        return row.required
    return int(_ratio_chain(row.ratio, np.array([basis]), rounding)[0])


def _ratio_chain(ratio, basis: np.ndarray, rounding: str) -> np.ndarray:
    values = basis.astype(np.int64)
    for r in ratio if isinstance(ratio, list) else [ratio]:
        values = apply_ratio(r, values, rounding)
    return values


def evaluate(table: SiteTable, pack: RulePack, as_of: dt.date) -> Evaluations:
    valid = ~table.invalid
    keep = valid[table.pair_site]
    pair_site, pair_cat = table.pair_site[keep], table.pair_cat[keep]
    n_pairs = len(pair_site)
    any_true = np.zeros(n_pairs, bool)
    any_unknown = np.zeros(n_pairs, bool)
    unknown_bits = np.zeros(n_pairs, np.int32)
    parts: list[Evaluations] = []

    present = set(np.unique(pair_cat).tolist())
    for r_idx, rule in enumerate(pack.rules):
        codes = [pack.category_ids.index(c) for c in rule.categories]
        if present.isdisjoint(codes):
            continue
        sel = np.flatnonzero(np.isin(pair_cat, codes))
        if not len(sel) or not rule.in_force(as_of):
            continue
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

    # Categories with a fact missing that a rule depends on.
    unk = np.flatnonzero(any_unknown)
    if len(unk):
        parts.append(_empty(len(unk), status=st.INSUFFICIENT))
        parts[-1].site[:], parts[-1].cat[:] = pair_site[unk], pair_cat[unk]
        parts[-1].missing[:] = unknown_bits[unk]
    # Categories that no rule covers with these facts.
    na = np.flatnonzero(~any_true & ~any_unknown)
    if len(na):
        parts.append(_empty(len(na), status=st.NOT_APPLICABLE, flags=F_NOT_COVERED))
        parts[-1].site[:], parts[-1].cat[:] = pair_site[na], pair_cat[na]
    # Valid sites without any category.
    has_cat = np.zeros(table.n, bool)
    has_cat[table.pair_site] = True
    bare = np.flatnonzero(valid & ~has_cat)
    if len(bare):
        parts.append(_empty(len(bare), status=st.INSUFFICIENT, missing=BIT["category"]))
        parts[-1].site[:] = bare

    evals = parts[0] if len(parts) == 1 else Evaluations.concat(parts)
    # By site, then pack order of the rules; category-level rows (rule -1) after the rules.
    rule_key = np.where(evals.rule < 0, np.iinfo(np.int64).max, evals.rule)
    return evals.take(np.lexsort((rule_key, evals.site)))


def _evaluate_rule(
    table: SiteTable, pack: RulePack, r_idx: int, rule: Rule, sites: np.ndarray, cats: np.ndarray
) -> Evaluations:
    n = len(sites)
    ev = _empty(n, rule=r_idx)
    ev.site[:], ev.cat[:] = sites, cats
    basis = table.ints[rule.basis][sites].copy()
    basis_missing = table.missing[rule.basis][sites].copy()
    flags = np.zeros(n, np.int32)
    if rule.basis_fallback:
        fb_missing = table.missing[rule.basis_fallback][sites]
        use_fb = basis_missing & ~fb_missing
        basis = np.where(use_fb, table.ints[rule.basis_fallback][sites], basis)
        flags |= np.where(use_fb, F_FALLBACK, 0).astype(np.int32)
        basis_missing = basis_missing & fb_missing
    provided = np.zeros(n, np.int64)
    for name in rule.counts:
        provided += table.ints[name][sites]

    required, table_row, req_flags = required_for(
        rule, basis, pack.rounding, pack.cap_required_at_basis
    )
    status = np.full(n, st.PASS, np.int8)
    if rule.has_requirement:
        met = provided >= required
        if rule.dedicated_area_required:
            area = table.dedicated[sites]
            flags |= np.where(area == 0, F_AREA_NO, 0).astype(np.int32)
            flags |= np.where(area < 0, F_AREA_UNKNOWN, 0).astype(np.int32)
            count_met = met
            met = met & (area == 1)
        else:
            count_met = met
        if rule.strength == "mandatory":
            status[~met] = st.FAIL
            if rule.dedicated_area_required:
                # Counts met, area not stated: the fact is missing rather than the site failing.
                unknown_area = count_met & (table.dedicated[sites] < 0)
                status[unknown_area] = st.INSUFFICIENT
                ev.missing[:] |= np.where(unknown_area, BIT["dedicated_ev_area"], 0).astype(
                    np.int32
                )
            if rule.site_constraint_review:
                stated = np.array([v is not None for v in table.site_constraint[sites]], bool)
                review = (status == st.FAIL) & stated
                status[review] = st.NEEDS_REVIEW
                flags |= np.where(review, F_REVIEW, 0).astype(np.int32)
        else:
            status[~met] = st.ADVISORY
        ev.required[:] = required
        ev.shortfall[:] = np.maximum(0, required - provided)
        flags |= req_flags
        ev.table_row[:] = table_row
    else:
        status[:] = st.ADVISORY
        flags |= F_NO_RATIO
    if rule.fast_preferred:
        none_fast = table.ints["fast_charging_spaces"][sites] == 0
        flags |= np.where(none_fast & (basis > 0) & ~basis_missing, F_FAST_NONE, 0).astype(np.int32)
    zero = (basis == 0) & ~basis_missing
    status[zero] = st.NOT_APPLICABLE
    flags |= np.where(zero, F_BASIS_ZERO, 0).astype(np.int32)
    status[basis_missing] = st.INSUFFICIENT
    missing_basis_bits = BIT[rule.basis] | (BIT[rule.basis_fallback] if rule.basis_fallback else 0)
    ev.missing[:] |= np.where(basis_missing, missing_basis_bits, 0).astype(np.int32)
    blank_numbers = basis_missing | zero
    ev.required[blank_numbers] = -1
    ev.shortfall[blank_numbers] = -1
    ev.basis[:] = np.where(basis_missing, -1, basis)
    ev.provided[:] = provided
    ev.status[:] = status
    ev.flags[:] = flags
    return ev


@dataclass
class SiteSummary:
    """Per-site roll-up: worst status, and which evaluation gives the headline numbers."""

    status: np.ndarray  # int8 rank per site
    primary: np.ndarray  # int64 index into evaluations, -1 for invalid sites
    start: np.ndarray  # int64 first evaluation of each site
    stop: np.ndarray  # int64 one past the last


def summarise(evals: Evaluations, table: SiteTable, pack: RulePack) -> SiteSummary:
    n = table.n
    status = np.full(n, st.INVALID, np.int8)
    primary = np.full(n, -1, np.int64)
    start = np.searchsorted(evals.site, np.arange(n), side="left")
    stop = np.searchsorted(evals.site, np.arange(n), side="right")
    if len(evals):
        worst = np.zeros(n, np.int8)
        np.maximum.at(worst, evals.site, evals.status)
        has = stop > start
        status[has] = worst[has]
        mandatory = np.array([r.strength == "mandatory" for r in pack.rules] + [False])
        is_mand = mandatory[evals.rule]  # rule -1 picks the trailing False
        # headline: mandatory first, then the largest requirement, then pack order
        order = np.lexsort((np.arange(len(evals)), -evals.required, ~is_mand, evals.site))
        first = np.ones(len(order), bool)
        first[1:] = evals.site[order][1:] != evals.site[order][:-1]
        primary[evals.site[order][first]] = order[first]
    return SiteSummary(status=status, primary=primary, start=start, stop=stop)
