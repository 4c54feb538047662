"""Words for evaluations: the arithmetic written out, and notes from the evaluation flags.

Explanations are built per rule as whole string columns; notes only for the rows that have
flags (they are messages, so a loop over flagged rows is fine).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from siting import evaluate as ev_mod
from siting import statuses as st
from siting.evaluate import Evaluations
from siting.ratio import format_ratio, rounding_symbol
from siting.records import Note, SiteTable
from siting.ruleset import Rule, RulePack

COUNT_WORD = {
    "charging_spaces": "charging",
    "reserved_spaces": "reserved",
    "fast_charging_spaces": "fast",
}


def _s(values: np.ndarray) -> pd.Series:
    return pd.Series(values, dtype="int64").astype(str)


def _ratio_expr(ratio, basis_txt: pd.Series, sym: str) -> pd.Series:
    expr = basis_txt
    for r in ratio if isinstance(ratio, list) else [ratio]:
        expr = sym + "(" + format_ratio(r) + " x " + expr + ")"
    return expr


def _required_expr(rule: Rule, ev: Evaluations, sym: str) -> pd.Series:
    basis_txt = _s(ev.basis)
    if rule.ratio is not None:
        expr = _ratio_expr(rule.ratio, basis_txt, sym)
    elif rule.table is not None:
        expr = pd.Series([""] * len(ev), dtype=object)
        lower = 0
        for k, row in enumerate(rule.table):
            sel = ev.table_row == k
            span = f"{lower}-{row.up_to}" if row.up_to is not None else f"{lower}+"
            if sel.any():
                if row.required is not None:
                    expr[sel] = f"table row {span} spaces: {row.required}"
                else:
                    expr[sel] = f"table row {span} spaces: " + _ratio_expr(
                        row.ratio, basis_txt[sel], sym
                    )
            lower = (row.up_to or 0) + 1
    else:
        expr = pd.Series(["0"] * len(ev), dtype=object)
    if rule.minimum is not None:
        raised = (ev.flags & ev_mod.F_MINIMUM) != 0
        expr = expr.where(~raised, "minimum " + str(rule.minimum) + " (" + expr + ")")
    capped = (ev.flags & ev_mod.F_CAPPED) != 0
    return expr.where(~capped, expr + " capped at " + basis_txt + " spaces")


def _provided_expr(rule: Rule, ev: Evaluations, table: SiteTable) -> pd.Series:
    text = _s(ev.provided) + " provided"
    if len(rule.counts) > 1:
        parts = [COUNT_WORD[c] + " " + _s(table.ints[c][ev.site]) for c in rule.counts]
        joined = parts[0]
        for p in parts[1:]:
            joined = joined + " + " + p
        text = text + " (" + joined + ")"
    else:
        text = text + " (" + COUNT_WORD[rule.counts[0]] + ")"
    return text


def explanations(evals: Evaluations, table: SiteTable, pack: RulePack) -> np.ndarray:
    out = np.empty(len(evals), dtype=object)
    sym = rounding_symbol(pack.rounding)
    for r_idx, rule in enumerate(pack.rules):
        idx = np.flatnonzero(evals.rule == r_idx)
        if not len(idx):
            continue
        ev = evals.take(idx)
        text = pd.Series([""] * len(idx), dtype=object)
        status = ev.status
        scored = ev.required >= 0
        if scored.any():
            req = (
                _required_expr(rule, ev, sym)
                + " = "
                + _s(ev.required)
                + " required; "
                + _provided_expr(rule, ev, table)
                + "; "
            )
            short = np.where(ev.shortfall > 0, "short " + _s(ev.shortfall), "met")
            req = req + pd.Series(short, dtype=object)
            if rule.dedicated_area_required:
                area = np.select(
                    [(ev.flags & ev_mod.F_AREA_NO) != 0, (ev.flags & ev_mod.F_AREA_UNKNOWN) != 0],
                    [
                        "; dedicated EV charging area: none",
                        "; dedicated EV charging area: not stated",
                    ],
                    "; dedicated EV charging area: yes",
                )
                req = req + pd.Series(area, dtype=object)
            text[scored] = req[scored]
        no_ratio = (ev.flags & ev_mod.F_NO_RATIO) != 0
        if no_ratio.any():
            text[no_ratio] = ("encouraged, no ratio set; " + _provided_expr(rule, ev, table))[
                no_ratio
            ]
        zero = (ev.flags & ev_mod.F_BASIS_ZERO) != 0
        text[zero] = f"{rule.basis} is 0: nothing to require"
        insufficient = status == st.INSUFFICIENT
        if insufficient.any():
            text[insufficient & (ev.required < 0)] = (
                "cannot be checked: "
                + pd.Series(_missing_text(ev.missing), dtype=object)[
                    insufficient & (ev.required < 0)
                ]
            )
        out[idx] = text.to_numpy(dtype=object)
    # category-level rows
    for k in np.flatnonzero(evals.rule < 0).tolist():
        out[k] = _category_row_text(evals, k, table, pack)
    return out


def _missing_text(bits: np.ndarray) -> list[str]:
    words = []
    for b in bits.tolist():
        names = [n for n in ev_mod.MISSING_FACTS if b & ev_mod.BIT[n]]
        words.append(("missing " + ", ".join(names)) if names else "missing facts")
    return words


def _category_row_text(evals: Evaluations, k: int, table: SiteTable, pack: RulePack) -> str:
    cat = int(evals.cat[k])
    if cat < 0:
        return "cannot be checked: missing category"
    cat_id = pack.category_ids[cat]
    if evals.status[k] == st.INSUFFICIENT:
        return f"{cat_id}: cannot be checked: " + _missing_text(evals.missing[k : k + 1])[0]
    site = int(evals.site[k])
    rules = [r for r in pack.rules if cat_id in r.categories]
    if not rules:
        return f"{cat_id}: the pack has no rule for this category"
    reasons = []
    for r in rules:
        conds = []
        for fact, cond in r.when.items():
            values, miss = table.fact(fact)
            value = "missing" if miss[site] else values[site]
            conds.append(f"{fact} {cond.describe()} (this site: {value})")
        if r.valid_from or r.valid_to:
            conds.append(f"in force {r.valid_from or '...'} to {r.valid_to or '...'}")
        reasons.append(f"{r.id} applies when " + " and ".join(conds) if conds else r.id)
    return f"{cat_id}: not covered; " + "; ".join(reasons)


def eval_notes(evals: Evaluations, table: SiteTable, pack: RulePack) -> dict[int, list[Note]]:
    """Notes per evaluation index, for the flagged ones."""
    notes: dict[int, list[Note]] = {}
    flagged = np.flatnonzero(evals.flags != 0)
    for k in flagged.tolist():
        f = int(evals.flags[k])
        rule = pack.rules[evals.rule[k]] if evals.rule[k] >= 0 else None
        site = int(evals.site[k])
        out: list[Note] = []
        if f & ev_mod.F_FALLBACK and rule is not None:
            out.append(
                Note(
                    "warning",
                    (
                        f"{rule.basis} missing; {rule.basis_fallback} "
                        f"({evals.basis[k]}) used as the basis"
                    ),
                )
            )
        if f & ev_mod.F_FAST_NONE:
            out.append(
                Note(
                    "recommendation",
                    "the rule prefers fast charging (宜优先配置快充) and fast_charging_spaces is 0",
                )
            )
        if f & ev_mod.F_AREA_NO:
            out.append(
                Note(
                    "error",
                    "the rule requires a dedicated EV charging area "
                    "(电动汽车专用充电区域); dedicated_ev_area is false",
                )
            )
        if f & ev_mod.F_AREA_UNKNOWN:
            out.append(
                Note(
                    "warning",
                    "the rule requires a dedicated EV charging area; state dedicated_ev_area",
                )
            )
        if f & ev_mod.F_REVIEW:
            out.append(
                Note(
                    "warning",
                    (
                        "short of the requirement, but the rule applies subject to actual "
                        "site conditions and a site constraint is stated: "
                        f"{table.site_constraint[site]!r}; a reviewer must decide"
                    ),
                )
            )
        if f & ev_mod.F_NO_RATIO:
            out.append(Note("info", "encouraged by the plan; no ratio is set"))
        if f & ev_mod.F_CAPPED:
            out.append(Note("info", "the requirement is capped at the number of spaces"))
        if out:
            notes[k] = out
    return notes
