"""Words for evaluations: the arithmetic written out, and notes from the evaluation flags.

The numbers were computed as columns (evaluate.py); here they are only written into words, one
message per evaluation, with each rule's constant parts prepared once. Notes are written only
for the evaluations that have flags.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import numpy as np
import pandas as pd
import pyarrow as pa

from siting import evaluate as ev_mod
from siting import statuses as st
from siting.distinct import distinct_rows
from siting.evaluate import Evaluations, missing_words
from siting.notes import Notes
from siting.ratio import format_ratio, rounding_symbol
from siting.records import SiteTable
from siting.ruleset import Rule, RulePack
from siting.textcols import place_texts

COUNT_WORD = {
    "charging_spaces": "charging",
    "reserved_spaces": "reserved",
    "fast_charging_spaces": "fast",
}


class _RuleWords:
    """The constant parts of one rule's explanations, worked out once."""

    def __init__(self, rule: Rule, sym: str):
        self.rule, self.sym = rule, sym
        self.ratios = _ratio_list(rule.ratio)
        self.rows: list[tuple[str, int | None, list[str]]] = []
        lower = 0
        for row in rule.table or []:
            span = f"{lower}-{row.up_to}" if row.up_to is not None else f"{lower}+"
            self.rows.append((f"table row {span} spaces: ", row.required, _ratio_list(row.ratio)))
            lower = (row.up_to or 0) + 1
        self.words = [COUNT_WORD[c] for c in rule.counts]

    def chain(self, ratios: list[str], basis: int | str) -> str:
        expr = str(basis)
        for r in ratios:
            expr = f"{self.sym}({r} x {expr})"
        return expr

    def required(self, basis: int, table_row: int, flags: int) -> str:
        rule = self.rule
        if rule.table is not None and table_row >= 0:
            head, fixed, ratios = self.rows[table_row]
            expr = head + (str(fixed) if fixed is not None else self.chain(ratios, basis))
        elif self.ratios:
            expr = self.chain(self.ratios, basis)
        elif rule.minimum is not None:
            return f"at least {rule.minimum}"
        else:
            expr = "0"
        if flags & ev_mod.F_MINIMUM:
            expr = f"minimum {rule.minimum} ({expr})"
        if flags & ev_mod.F_CAPPED:
            expr = f"{expr} capped at {basis} spaces"
        return expr

    def joined(
        self, evals: Evaluations, rows: np.ndarray, table: SiteTable, area: bool
    ) -> pa.Array | list[str]:
        """The common template filled for many rows at once, in Arrow compute (an Arrow text
        array):
        'ceil(20% x 333) = 67 required; 66 provided (charging); short 1'."""
        if len(rows) <= SMALL_ROWS:
            return self.joined_small(evals, rows, table, area)
        import pyarrow as pa
        import pyarrow.compute as pc

        def text(values: np.ndarray) -> pa.Array:
            return pc.cast(pa.array(values), pa.string())

        head, tail = self.chain(self.ratios, "\0").split("\0")
        short = evals.shortfall[rows]
        parts = [
            head,
            text(evals.basis[rows]),
            tail + " = ",
            text(evals.required[rows]),
            " required; ",
            text(evals.provided[rows]),
            " provided (",
        ]
        sites = evals.site[rows]
        for k, (word, field) in enumerate(zip(self.words, self.rule.counts, strict=True)):
            if len(self.words) > 1:
                parts += [(" + " if k else "") + word + " ", text(table.ints[field][sites])]
            else:
                parts.append(word)
        parts += [
            "); ",
            pc.if_else(
                pa.array(short > 0), pc.binary_join_element_wise("short ", text(short), ""), "met"
            ),
        ]
        if area:
            codes = np.array([_area_code(f) for f in range(int(evals.flags[rows].max()) + 1)])
            parts.append(pa.array(AREA_WORDS).take(pa.array(codes[evals.flags[rows]])))
        return pc.binary_join_element_wise(*parts, "")

    def joined_small(
        self, evals: Evaluations, rows: np.ndarray, table: SiteTable, area: bool
    ) -> list[str]:
        """`joined` for a few rows, in Python (Arrow's per-call cost dominates there): the
        same texts (tests/test_engine.py compares them)."""
        head, tail = self.chain(self.ratios, "\0").split("\0")
        sites = evals.site[rows]
        counts = [table.ints[f][sites].tolist() for f in self.rule.counts]
        out = []
        for k, (basis, req, prov, short, flags) in enumerate(
            zip(
                evals.basis[rows].tolist(),
                evals.required[rows].tolist(),
                evals.provided[rows].tolist(),
                evals.shortfall[rows].tolist(),
                evals.flags[rows].tolist(),
                strict=True,
            )
        ):
            if len(self.words) > 1:
                words = "".join(
                    (" + " if j else "") + f"{w} {c[k]}"
                    for j, (w, c) in enumerate(zip(self.words, counts, strict=True))
                )
            else:
                words = self.words[0]
            text = f"{head}{basis}{tail} = {req} required; {prov} provided ({words}); " + (
                f"short {short}" if short > 0 else "met"
            )
            if area:
                text += AREA_WORDS[_area_code(flags)]
            out.append(text)
        return out

    def provided(self, provided: int, counts: tuple[int, ...]) -> str:
        if len(counts) > 1:
            parts = " + ".join(f"{w} {c}" for w, c in zip(self.words, counts, strict=True))
            return f"{provided} provided ({parts})"
        return f"{provided} provided ({self.words[0]})"


def _ratio_list(ratio: Fraction | list[Fraction] | None) -> list[str]:
    if ratio is None:
        return []
    return [format_ratio(r) for r in (ratio if isinstance(ratio, list) else [ratio])]


# Up to this many rows, the common template is filled in Python rather than Arrow.
SMALL_ROWS = 64

# Flags whose explanation needs more than the common template.
SPECIAL = (
    ev_mod.F_BASIS_ZERO
    | ev_mod.F_NO_RATIO
    | ev_mod.F_MINIMUM
    | ev_mod.F_CAPPED
    | ev_mod.F_THRESH_BASIS
    | ev_mod.F_THRESH_COUNT
)


def _area_code(flags: int) -> int:
    return 2 if flags & ev_mod.F_AREA_UNKNOWN else 1 if flags & ev_mod.F_AREA_NO else 0


AREA_WORDS = (
    "; dedicated EV charging area: yes",
    "; dedicated EV charging area: none",
    "; dedicated EV charging area: not stated",
)


def explanations(
    evals: Evaluations,
    table: SiteTable,
    pack: RulePack,
    at: tuple[np.ndarray, int] | None = None,
    more: Sequence[tuple[Sequence[int], Sequence[str]]] = (),
) -> pa.Array:
    """The arithmetic of each evaluation written out, e.g.
    'ceil(20% x 333) = 67 required; 66 provided (charging); short 1', as an Arrow text array.
    The common case is assembled by Arrow; the rest are written per row. `at` = (rows, n):
    the texts placed at those rows of a text array of n (missing elsewhere) and `more`
    (rows, texts) placed after them, in the same pass."""
    parts: list[tuple[np.ndarray, pa.Array | list[str]]] = []
    sym = rounding_symbol(pack.rounding)
    present = set(np.unique(evals.rule).tolist())  # rules with evaluations (few, for a few sites)
    for r_idx, rule in enumerate(pack.rules):
        if r_idx not in present:
            continue
        idx = np.flatnonzero(evals.rule == r_idx)
        words = _RuleWords(rule, sym)
        area = rule.dedicated_area_required
        columns = (
            evals.basis,
            evals.required,
            evals.provided,
            evals.shortfall,
            evals.flags,
            evals.status,
            evals.table_row,
            evals.missing,
        )
        # The common case (a flat ratio, no minimum, not capped) is assembled in Arrow.
        common = np.zeros(len(idx), bool)
        if rule.table is None and words.ratios:
            common = ((evals.flags[idx] & SPECIAL) == 0) & (evals.required[idx] >= 0)
            if common.any():
                parts.append((idx[common], words.joined(evals, idx[common], table, area)))
        rest = idx[~common]
        rows = zip(*(c[rest].tolist() for c in columns), strict=True)
        thresholds = evals.threshold[rest].tolist()
        counts = list(
            zip(*(table.ints[c][evals.site[rest]].tolist() for c in rule.counts), strict=True)
        )
        texts = []
        for k, (basis, req, prov, short, flags, status, trow, miss) in enumerate(rows):
            if flags & ev_mod.F_BASIS_ZERO:
                texts.append(f"{rule.basis} is 0: nothing to require")
            elif status == st.INSUFFICIENT and (req < 0 or flags & ev_mod.F_THRESH_COUNT):
                texts.append(_open_words(rule, words, miss, flags, prov, thresholds[k], table))
            elif flags & ev_mod.F_NO_RATIO:
                texts.append("encouraged, no ratio set; " + words.provided(prov, counts[k]))
            elif req < 0:
                # Settled by something other than the spaces (a dedicated area stated
                # absent) while the spaces themselves cannot be worked out.
                text = "the spaces cannot be worked out: " + missing_words(miss)
                if flags & ev_mod.F_THRESH_BASIS:
                    text += (
                        f"; with {prov} provided they are met if {rule.basis} <= {thresholds[k]}"
                    )
                if area:
                    text += AREA_WORDS[_area_code(flags)]
                texts.append(text)
            else:
                text = (
                    f"{words.required(basis, trow, flags)} = {req} required; "
                    f"{words.provided(prov, counts[k])}; "
                    + (f"short {short}" if short > 0 else "met")
                )
                if area:
                    text += AREA_WORDS[_area_code(flags)]
                texts.append(text)
        parts.append((rest, texts))
    parts.append(_category_rows(evals, table, pack))
    if at is None:
        return place_texts(len(evals), parts)
    at_rows, n = at
    return place_texts(n, [(at_rows[idx], texts) for idx, texts in parts] + list(more))


def _category_rows(
    evals: Evaluations, table: SiteTable, pack: RulePack
) -> tuple[np.ndarray, pa.Array | list[str]]:
    """Explanations of category-level rows (no rule applies, or facts missing): the text
    depends only on the category, status, missing facts and the facts rules test, so it is
    written once per distinct combination of those. Returns (rows, texts)."""
    rows = np.flatnonzero(evals.rule < 0)
    if not len(rows):
        return rows, []
    sites = evals.site[rows]
    keys = [
        evals.cat[rows],
        evals.status[rows].astype(np.int64),
        evals.missing[rows],
        evals.flags[rows].astype(np.int64),
    ]
    for fact in sorted({f for r in pack.rules for f in r.when}):
        values, miss = table.fact(fact)
        if values.dtype == object:
            codes = pd.factorize(values[sites])[0]
        else:
            codes = values[sites].astype(np.int64)
        keys.append(np.where(miss[sites], -1, codes))
    inverse, first = distinct_rows(*keys)
    texts = pa.array(
        [_category_row_text(evals, int(rows[i]), table, pack) for i in first.tolist()],
        pa.string(),
    )
    return rows, texts.take(pa.array(inverse.ravel()))


def _open_words(
    rule: Rule, words: _RuleWords, miss: int, flags: int, prov: int, t: int, table: SiteTable
) -> str:
    """An open verdict in words, with the value that would settle it."""
    head = "cannot be settled: " + missing_words(miss)
    if flags & ev_mod.F_THRESH_BASIS:
        return (
            f"{head}; with {prov} provided it passes if {rule.basis} <= {t} and fails "
            f"above; state {rule.basis} to settle it"
        )
    if flags & ev_mod.F_THRESH_COUNT:
        absent = [n for n in rule.counts if miss & ev_mod.BIT[n]]
        return (
            f"{head}; {t} required ({' + '.join(COUNT_WORD[c] for c in rule.counts)}), "
            f"{prov} provided by the counts given: passes if {' + '.join(absent)} "
            f"{'comes' if len(absent) == 1 else 'come'} to {max(t - prov, 0)} or more "
            f"(read as 0 it would fail, short {max(t - prov, 0)}); "
            + (  # a column the input has (a cell it could not give: OSM's 'yes') or lacks
                f"state {'/'.join(absent)} to settle it"
                if all(n in table.blank_counts for n in absent)
                else f"add the {'/'.join(absent)} column to settle it"
            )
        )
    if flags & ev_mod.F_AREA_UNKNOWN:
        return f"{head}; the spaces are met: passes if dedicated_ev_area is true, fails if false"
    return head


def _category_row_text(evals: Evaluations, k: int, table: SiteTable, pack: RulePack) -> str:
    cat = int(evals.cat[k])
    if cat < 0:
        return "cannot be checked: missing category"
    cat_id = pack.category_ids[cat]
    if evals.flags[k] & ev_mod.F_ALTERNATIVES:
        return (
            f"{cat_id}: the category is uncertain and the verdict depends on it "
            "(see notes: what each category gives); confirm the site kind"
        )
    if evals.flags[k] & ev_mod.F_DEPENDS:
        return (
            f"{cat_id}: cannot be settled: "
            + missing_words(int(evals.missing[k]))
            + " (see notes: what each value gives)"
        )
    if evals.status[k] == st.INSUFFICIENT:
        return f"{cat_id}: cannot be checked: " + missing_words(int(evals.missing[k]))
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


def eval_notes(evals: Evaluations, table: SiteTable, pack: RulePack) -> Notes:
    """Notes per evaluation index, from the evaluation flags (one block of notes per flag,
    written for all flagged evaluations at once)."""
    notes = Notes()
    flags, rule = evals.flags, evals.rule

    def flagged(bit: int, with_rule: bool = False) -> np.ndarray:
        hit = (flags & bit) != 0
        return np.flatnonzero(hit & (rule >= 0) if with_rule else hit)

    k = flagged(ev_mod.F_FALLBACK, with_rule=True)
    # a verdict that held at the bound (open ones, and fails at the least, say so otherwise)
    k = k[(evals.basis[k] >= 0) & ((evals.flags[k] & ev_mod.F_AT_LEAST) == 0)]
    if len(k):
        lead = np.array([f"{r.basis} not given; {r.basis_fallback} (" for r in pack.rules], object)
        tail = np.array(
            [f"), the most {r.basis} can be, used as the basis" for r in pack.rules], object
        )
        basis = evals.basis[k].astype(str).astype(object)
        notes.add_many(k, "warning", lead[rule[k]] + basis + tail[rule[k]])
    k = flagged(ev_mod.F_AT_LEAST, with_rule=True)
    if len(k):
        notes.add_many(
            k,
            "warning",
            [
                f"{missing_words(m).removeprefix('missing ')} not given: fails whatever "
                "it is; the requirement and shortfall shown are the least possible"
                for m in evals.missing[k].tolist()
            ],
        )
    present = set(np.unique(rule).tolist()) if table.blank_counts else set()
    for r_idx, r in enumerate(pack.rules):
        if r_idx not in present:
            continue
        for name in r.counts:
            blank = table.blank_counts.get(name)
            if blank is None:
                continue
            k = np.flatnonzero(rule == r_idx)
            k = k[blank[evals.site[k]]]
            notes.add_many(k, "info", f"{name} blank: read as 0")
    notes.add_many(
        flagged(ev_mod.F_UNCERTAIN),
        "warning",
        "short of the requirement on a category found with low confidence: needs review "
        "until the site kind is confirmed (see classification)",
    )
    notes.add_many(
        flagged(ev_mod.F_FAST_NONE),
        "recommendation",
        "the rule prefers fast charging (宜优先配置快充) and fast_charging_spaces is 0",
    )
    notes.add_many(
        flagged(ev_mod.F_AREA_NO),
        "error",
        "the rule requires a dedicated EV charging area (电动汽车专用充电区域); "
        "dedicated_ev_area is false",
    )
    notes.add_many(
        flagged(ev_mod.F_AREA_UNKNOWN),
        "warning",
        "the rule requires a dedicated EV charging area; state dedicated_ev_area",
    )
    k = flagged(ev_mod.F_REVIEW)
    notes.add_many(
        k,
        "warning",
        [
            "short of the requirement, but the rule applies subject to actual site conditions "
            f"and a site constraint is stated: {table.site_constraint[site]!r}; a reviewer "
            "must decide"
            for site in evals.site[k].tolist()
        ],
    )
    notes.add_many(flagged(ev_mod.F_NO_RATIO), "info", "encouraged by the plan; no ratio is set")
    notes.add_many(
        flagged(ev_mod.F_CAPPED), "info", "the requirement is capped at the number of spaces"
    )
    return notes
