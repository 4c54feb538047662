"""A check run: records in, one result per record out, with a receipt and a summary.

normalise (records.py) -> evaluate (evaluate.py) -> summarise -> results / frame
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from fractions import Fraction
from functools import cached_property
from typing import Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from siting import __version__, threads
from siting import statuses as st
from siting.columns import ColumnReport, column_report
from siting.errors import InputError
from siting.evaluate import Evaluations, SiteSummary, evaluate, summarise
from siting.explain import eval_notes, explanations
from siting.fields import ZERO_DEFAULT_FIELDS
from siting.folding import fold_name
from siting.hashing import decision_uuid, sha256_records
from siting.notes import NoteReader, Notes
from siting.ratio import format_ratio
from siting.records import SiteTable, normalise, records_columns
from siting.ruleset import Rule, RulePack, load_ruleset
from siting.textcols import place_texts, text_column, text_labels


def parse_as_of(value: str | dt.date | None) -> dt.date:
    if value is None:
        return dt.date.today()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    from siting.io.dates import parse_date_text  # 2024-06-30, 2024/6/30, 2024年6月30日 ...

    try:
        return parse_date_text(str(value))  # text only: a bare number is no as_of
    except ValueError as exc:
        raise InputError(f"as_of: {exc}") from None


def check_as_of(pack: RulePack, as_of: dt.date) -> list[str]:
    """Refuse dates outside the pack's validity; return warnings for the plan period."""
    if as_of < pack.valid_from:
        raise InputError(
            f"as_of {as_of.isoformat()} is before ruleset {pack.id} came into force "
            f"({pack.valid_from.isoformat()}); choose a date on or after it, or another ruleset"
        )
    if pack.valid_to is not None and as_of > pack.valid_to:
        raise InputError(
            f"as_of {as_of.isoformat()} is after ruleset {pack.id} ceased to apply "
            f"({pack.valid_to.isoformat()}); use the ruleset that superseded it"
        )
    warnings = []
    if pack.plan_period_end is not None and as_of > pack.plan_period_end:
        warnings.append(
            f"the plan period of {pack.id} ended on {pack.plan_period_end.isoformat()}; "
            f"checked as of {as_of.isoformat()} because the pack stays in force until "
            "superseded (规划期已结束)"
        )
    return warnings


def _citation(pack: RulePack, rule: Rule) -> dict[str, Any]:
    c = rule.citation
    return {
        "document": c.document or pack.source.title,
        "section": c.section,
        "clause": c.clause,
        "summary": c.summary,
    }


def ratio_text(ratio: Fraction | list[Fraction] | None) -> str | None:
    """'20%', or for a chain of ratios '33% of 30%'."""
    if ratio is None:
        return None
    if isinstance(ratio, list):
        return " of ".join(format_ratio(r) for r in reversed(ratio))
    return format_ratio(ratio)


@dataclass
class BatchAnswer:
    pack: RulePack
    table: SiteTable
    evals: Evaluations
    sites: SiteSummary
    as_of: dt.date
    input_sha256: str
    warnings: list[str] = field(default_factory=list)
    classification: pd.DataFrame | None = None  # one row per site, for map features
    created: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    # Which input column fed which field (siting.columns); None when the caller gave none.
    columns: ColumnReport | None = None
    # Every option of the run that can change a verdict (field map, sheet, layer options...),
    # as plain JSON values (see `option_values`): part of the decision id and the receipt.
    options: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ derived texts
    @cached_property
    def _explanation_texts(self) -> pa.Array:
        return explanations(self.evals, self.table, self.pack)

    @cached_property
    def _explanations(self) -> np.ndarray:  # as Python strings, for JSON results
        texts: np.ndarray = self._explanation_texts.to_numpy(zero_copy_only=False)
        return texts

    @cached_property
    def _eval_notes(self) -> Notes:
        return eval_notes(self.evals, self.table, self.pack)

    @cached_property
    def _eval_note_reader(self) -> NoteReader:
        return NoteReader(self._eval_notes, len(self.evals.rule))

    @cached_property
    def _site_note_reader(self) -> NoteReader:
        return NoteReader(self.table.notes, int(self.table.n))

    @cached_property
    def decision_id(self) -> str:
        """Same pack, engine, date, input, options and column mapping -> same decision id;
        a change to any of them (a different max distance, field map, sheet ...) -> another."""
        return decision_uuid(
            {
                "ruleset": self.pack.sha256,
                "engine": __version__,
                "as_of": self.as_of.isoformat(),
                "input": self.input_sha256,
                "options": self.options,
                "columns": self.columns.mapping if self.columns is not None else None,
            }
        )

    @property
    def all_warnings(self) -> list[str]:
        """The run's warnings, then one per input column not used (with its suggestion)."""
        return [*self.warnings, *(self.columns.warnings if self.columns is not None else [])]

    @property
    def receipt(self) -> dict[str, Any]:
        return {
            "ruleset": {
                "id": self.pack.id,
                "version": self.pack.version,
                "sha256": self.pack.sha256,
            },
            "engine": {"name": "siting", "version": __version__},
            "as_of": self.as_of.isoformat(),
            "input_sha256": self.input_sha256,
            "decision_id": self.decision_id,
            "time": self.created.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "warnings": self.all_warnings,
            "options": dict(self.options),
            "columns": self.columns.as_dict() if self.columns is not None else None,
        }

    @cached_property
    def summary(self) -> dict[str, Any]:
        counts = np.bincount(self.sites.status, minlength=len(st.ORDER))
        prim = self.sites.primary
        prim = prim[prim >= 0]
        mandatory = np.array([r.strength == "mandatory" for r in self.pack.rules] + [False])
        prim = prim[mandatory[self.evals.rule[prim]]]
        short = self.evals.shortfall[prim]
        return {
            "sites": int(self.table.n),
            "by_status": {s: int(counts[st.RANK[s]]) for s in st.SUMMARY_ORDER},
            "total_shortfall": int(short[short > 0].sum()),
        }

    # ------------------------------------------------------------------ per-site results
    @cached_property
    def _rule_fields(self) -> list[dict[str, Any]]:
        """Per rule, the fields every evaluation of it shares (worked out once per pack; read
        only: a result gets its own copy of the citation)."""
        fields: list[dict[str, Any]] | None = self.pack.derived.get(("check", "rule_fields"))
        if fields is None:
            fields = self.pack.derived[("check", "rule_fields")] = [
                {
                    "rule_id": rule.id,
                    "strength": rule.strength,
                    "basis_field": rule.basis,
                    "ratio": ratio_text(rule.ratio),
                    "counted": list(rule.counts),
                    "citation": _citation(self.pack, rule),
                    "table_ratios": [ratio_text(row.ratio) for row in rule.table or []],
                }
                for rule in self.pack.rules
            ]
        return fields

    @cached_property
    def _columns(self) -> dict[str, list[Any]]:
        """The evaluation columns as Python lists, for building many result dicts."""
        e = self.evals
        return {
            name: getattr(e, name).tolist()
            for name in (
                "rule",
                "cat",
                "status",
                "basis",
                "required",
                "provided",
                "shortfall",
                "table_row",
            )
        }

    def _evaluation(self, k: int) -> dict[str, Any]:
        # Called once per evaluation of every result (100,000s for a large answer): plain
        # list lookups, no helper calls; -1 in a count column means "none" (JSON null).
        c = self._columns
        status = st.ORDER[c["status"][k]]
        r, cat = c["rule"][k], c["cat"][k]
        basis, required, short = c["basis"][k], c["required"][k], c["shortfall"][k]
        notes = self._eval_note_reader.get(k)
        out: dict[str, Any] = {
            "rule_id": None,
            "category": self.pack.category_ids[cat] if cat >= 0 else None,
            "status": status,
            "status_zh": st.LABEL_ZH[status],
            "strength": None,
            "basis_field": None,
            "basis_spaces": basis if basis >= 0 else None,
            "ratio": None,
            "required_spaces": required if required >= 0 else None,
            "provided_spaces": None,
            "shortfall": short if short >= 0 else None,
            "counted": [],
            "citation": None,
            "explanation": self._explanations[k],
            "notes": [n.as_dict() for n in notes] if notes else [],
        }
        if r >= 0:
            fields = self._rule_fields[r]
            trow = c["table_row"][k]
            provided = c["provided"][k]
            out["rule_id"] = fields["rule_id"]
            out["strength"] = fields["strength"]
            out["basis_field"] = fields["basis_field"]
            out["ratio"] = fields["table_ratios"][trow] if trow >= 0 else fields["ratio"]
            out["provided_spaces"] = provided if provided >= 0 else None
            out["counted"] = list(fields["counted"])
            out["citation"] = dict(fields["citation"])
        return out

    @cached_property
    def _site_columns(self) -> dict[str, list[Any]]:
        """The per-site columns as Python lists, for building many result dicts."""
        t, s = self.table, self.sites
        return {
            "status": s.status.tolist(),
            "start": s.start.tolist(),
            "stop": s.stop.tolist(),
            "primary": s.primary.tolist(),
            "row": np.asarray(t.row_numbers).tolist(),
            "pair_cat": np.asarray(t.pair_cat).tolist(),
            "pair_offsets": t._pair_offsets,
        }

    def result(self, i: int) -> dict[str, Any]:
        t = self.table
        c = self._site_columns
        status = st.ORDER[c["status"][i]]
        ids = self.pack.category_ids
        cats = [ids[k] for k in c["pair_cat"][c["pair_offsets"][i] : c["pair_offsets"][i + 1]]]
        base: dict[str, Any] = {
            "id": t.id_values[i],
            "row": c["row"][i],
            "status": status,
            "status_zh": st.LABEL_ZH[status],
            "categories": cats,
        }
        site_notes = [n.as_dict() for n in self._site_note_reader.get(i)]
        if status == "invalid":
            problems = t.errors.get(i, [])
            base.update(
                {
                    "rule_id": None,
                    "basis_spaces": None,
                    "ratio": None,
                    "required_spaces": None,
                    "provided_spaces": None,
                    "shortfall": None,
                    "counted": [],
                    "citation": None,
                    "explanation": self._invalid_explanation(i),
                    "notes": [{"level": "error", "message": p} for p in problems] + site_notes,
                    "evaluations": [],
                }
            )
        else:
            start, stop = c["start"][i], c["stop"][i]
            evals = [self._evaluation(k) for k in range(start, stop)]
            head = evals[c["primary"][i] - start]
            for key in HEADLINE:
                base[key] = head[key]
            notes = site_notes + [n for e in evals for n in e["notes"]]
            base["notes"] = _dedupe(notes) if len(evals) > 1 or site_notes else notes
            base["evaluations"] = evals
        if self.classification is not None:
            base["classification"] = classification_rows(self.classification, i, i + 1)[0]
        return base

    @cached_property
    def results(self) -> list[dict[str, Any]]:
        return [self.result(i) for i in range(self.table.n)]

    def as_dict(self) -> dict[str, Any]:
        return {"receipt": self.receipt, "summary": self.summary, "results": self.results}

    # ------------------------------------------------------------------ flat table
    def frame(self, keep_input: bool = True, coded: bool = False) -> pd.DataFrame:
        """One row per site, result fields as columns (for CSV, Excel and map layers).
        coded=True: the columns of a few labels each (status, status_zh, categories,
        rule_id, ratio, counted, citation) as Arrow dictionary columns, for the CSV writer
        (the same file; no text per row made before the writer's own)."""
        t, e, s = self.table, self.evals, self.sites
        prim = s.primary
        has = prim >= 0
        pk = np.where(has, prim, 0)
        rule_idx = np.where(has, e.rule[pk] if len(e) else -1, -1)
        rules = self.pack.rules

        def numeric(col: np.ndarray) -> pd.Series:
            vals = np.where(has, col[pk] if len(e) else -1, -1)
            return pd.Series(vals, dtype="Int64").mask(vals < 0)

        fields = self._rule_fields
        # ratio: the rule's, or for a table rule the ratio of the table row used
        ratio_labels = [f["ratio"] for f in fields]
        table_start = []
        for f in fields:
            table_start.append(len(ratio_labels))
            ratio_labels += f["table_ratios"]
        ratio_code = rule_idx.copy()
        if len(e):
            tabled = has & (e.table_row[pk] >= 0)
            starts = np.array([*table_start, 0], np.int64)
            ratio_code[tabled] = starts[rule_idx[tabled]] + e.table_row[pk[tabled]]
        citations = [f["citation"] for f in fields]
        multi = np.flatnonzero(s.stop - s.start > 1)
        # the explanations (Arrow, mostly free of the GIL) are written on a second core while
        # the other columns are made, if there is one (siting.threads)
        side = ThreadPoolExecutor(1) if len(e) > 50_000 and threads.cores() > 1 else None
        explained = side.submit(self._headline_explanations, has, pk) if side else None
        try:
            # one label per site with several evaluations ('' for the rest)
            evaluations = place_texts(t.n, [(multi, self._evaluation_labels(multi))])
            columns = {
                "id": text_column(t.id_values if t.id_text is None else t.id_text),
                "row": t.row_numbers,
                "status": text_labels(s.status, st.ORDER, coded=coded),
                "status_zh": text_labels(s.status, [st.LABEL_ZH[x] for x in st.ORDER], coded=coded),
                "categories": self._category_labels(coded),
                "rule_id": text_labels(rule_idx, [r.id for r in rules], coded=coded),
                "basis_spaces": numeric(e.basis),
                "ratio": text_labels(ratio_code, ratio_labels, coded=coded),
                "required_spaces": numeric(e.required),
                "provided_spaces": numeric(e.provided),
                "shortfall": numeric(e.shortfall),
                "counted": text_labels(
                    rule_idx, ["+".join(r.counts) for r in rules], "", coded=coded
                ),
                "citation": text_labels(
                    rule_idx, [f"{c['document']} {c['section']}" for c in citations], coded=coded
                ),
                "notes": text_column(self._notes_text(multi)),
                "evaluations": text_column(pc.fill_null(evaluations, "")),
            }
            columns["explanation"] = text_column(
                explained.result() if explained else self._headline_explanations(has, pk)
            )
        finally:
            if side is not None:
                side.shutdown()
        out = pd.DataFrame(columns, columns=RESULT_COLUMNS)
        if self.classification is not None:
            for col in self.classification.columns:
                out[f"class_{col}"] = self.classification[col].array
        extra = t.extra_frame() if keep_input else None
        if extra is not None:
            extra = extra.reset_index(drop=True)
            extra.columns = [f"input_{c}" if c in out.columns else c for c in extra.columns]
            out = pd.concat([out, extra], axis=1)
        return out

    def _headline_explanations(self, has: np.ndarray, pk: np.ndarray) -> pa.Array:
        """Per site, the explanation of its headline evaluation (`pk` where `has`), or of its
        invalid input; missing for the rest. Only the headline evaluations are written out,
        unless every evaluation's text is there already (JSON results)."""
        t = self.table
        sites = np.flatnonzero(has)
        invalid = list(t.errors)
        more = [(invalid, [self._invalid_explanation(i) for i in invalid])]
        if len(sites) and "_explanation_texts" not in self.__dict__:
            k = pk[sites]
            if len(k) < 2 or (k[1:] > k[:-1]).all():  # in order (as evaluate gives them)
                keep = np.zeros(len(self.evals), bool)
                keep[k] = True
                k = keep  # a mask takes faster than indexes
            return explanations(self.evals.take(k), t, self.pack, at=(sites, t.n), more=more)
        texts = self._explanation_texts.take(pa.array(pk[sites])) if len(sites) else []
        return place_texts(t.n, [(sites, texts), *more])

    def _evaluation_labels(self, multi: np.ndarray) -> pa.Array:
        """Per site of `multi`, its evaluations as 'rule=status required/provided; ...' (a
        category for an evaluation without a rule), by Arrow."""
        e, s, pack = self.evals, self.sites, self.pack
        lengths = (s.stop[multi] - s.start[multi]).astype(np.int64)
        offsets = np.concatenate(([0], np.cumsum(lengths)))
        k = np.repeat(s.start[multi] - offsets[:-1], lengths) + np.arange(offsets[-1])
        rule, cat = e.rule[k], e.cat[k]
        n_rules, n_cats = len(pack.rules), len(pack.category_ids)
        who = np.where(rule >= 0, rule, np.where(cat >= 0, n_rules + cat, n_rules + n_cats))
        who_labels = [r.id for r in pack.rules] + list(pack.category_ids) + ["category"]
        status = pa.array(list(st.ORDER), pa.string()).take(pa.array(e.status[k].astype(np.int64)))
        req, prov = e.required[k], e.provided[k]
        numbers = pc.binary_join_element_wise(
            pc.cast(pa.array(req), pa.string()), pc.cast(pa.array(prov), pa.string()), "/"
        )
        numbers = pc.if_else(pa.array(req >= 0), pc.binary_join_element_wise(" ", numbers, ""), "")
        texts = pc.binary_join_element_wise(
            pa.array(who_labels, pa.string()).take(pa.array(who)), "=", status, numbers, ""
        )
        lists = pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), texts)
        return pc.binary_join(lists, "; ")

    def _notes_text(self, multi: np.ndarray) -> pa.Array:
        """Per site, its notes as one text: its problems, the site's own, then its
        evaluations' notes, each once, joined by ' | ' (as its JSON result lists them). By
        Arrow, from the notes' own blocks (`_multi_notes` for every site)."""
        return self._multi_notes(np.arange(self.table.n, dtype=np.int64))

    def _multi_notes(self, multi: np.ndarray) -> pa.Array:
        """The notes text of each site in `multi` (sorted site indexes): its problems, its own
        notes, then each evaluation's notes in order, each note once, by Arrow: every note is
        one entry (site, place, text); repeats of a (site, text) keep their first place;
        sorted by site and place and joined per site."""
        t, s, e = self.table, self.sites, self.evals
        keep_site = np.zeros(t.n, bool)
        keep_site[multi] = True
        sites, places, texts = [], [], []
        errors = [
            (i, j, "error: " + p)
            for i, problems in t.errors.items()
            if keep_site[i]
            for j, p in enumerate(problems)
        ]
        if errors:
            sites.append(np.array([x[0] for x in errors], np.int64))
            places.append(np.array([x[1] for x in errors], np.int64))
            texts.append(pa.array([x[2] for x in errors], pa.string()))
        rows, order, text = t.notes.flat(keep_site)
        sites.append(rows)
        places.append((1 << 50) + order)
        texts.append(text)
        rows, order, text = self._eval_notes.flat(keep_site[e.site])
        site = e.site[rows] if len(rows) else rows
        sites.append(site)
        places.append((2 << 50) + ((rows - s.start[site]) << 36) + order)
        texts.append(text)
        site = np.concatenate(sites)
        order = np.lexsort((np.concatenate(places), site))  # by site, then place
        site = site[order]
        text = pa.concat_arrays(texts).take(pa.array(order))
        # a note repeated within a site is kept once, at its first place (only sites with
        # several notes can repeat one)
        several = np.bincount(site, minlength=t.n)[site] > 1
        if several.any():
            at = np.flatnonzero(several)
            sub = pa.table({"at": at, "site": site[at], "text": text.take(pa.array(at))})
            first = sub.group_by(["site", "text"], use_threads=False).aggregate([("at", "min")])
            keep = ~several
            keep[first["at_min"].to_numpy()] = True
            if not keep.all():
                site, text = site[keep], text.filter(pa.array(keep))
        # one list of texts per site of `multi` (entries are of those sites only, sorted by
        # site: a site's list ends where the next one's starts; no notes: an empty list, '')
        offsets = np.append(np.searchsorted(site, multi), len(site)).astype(np.int32)
        lists = pa.ListArray.from_arrays(pa.array(offsets), text)
        return pc.binary_join(lists, " | ")

    def _invalid_explanation(self, i: int) -> str:
        t = self.table
        return f"invalid input at {t.where(i)}: " + "; ".join(t.errors.get(i, []))

    def _cat(self, k: int) -> str:
        c = int(self.evals.cat[k])
        return self.pack.category_ids[c] if c >= 0 else "category"

    def _category_labels(self, coded: bool = False) -> pd.Series:
        """Each site's categories as text ('' for none, ';' between several)."""
        t = self.table
        labels = list(self.pack.category_ids)
        codes = np.full(t.n, -1, np.int64)
        counts = np.bincount(t.pair_site, minlength=t.n)
        several = counts[t.pair_site] > 1
        codes[t.pair_site[~several]] = t.pair_cat[~several]
        sites = np.flatnonzero(counts > 1)
        if len(sites):  # each distinct combination joined once (pairs are sorted by site)
            offsets = np.concatenate(([0], np.cumsum(counts[sites]))).astype(np.int32)
            names = pa.array(labels, pa.string()).take(pa.array(t.pair_cat[several]))
            lists = pa.ListArray.from_arrays(pa.array(offsets), names)
            joined = pc.binary_join(lists, ";").dictionary_encode()
            codes[sites] = len(labels) + joined.indices.to_numpy(zero_copy_only=False)
            labels += joined.dictionary.to_pylist()
        return text_labels(codes, labels, "", coded=coded)


# The flat result table's columns (CSV, Excel, map layers), in order.
RESULT_COLUMNS = (
    "id",
    "row",
    "status",
    "status_zh",
    "categories",
    "rule_id",
    "basis_spaces",
    "ratio",
    "required_spaces",
    "provided_spaces",
    "shortfall",
    "counted",
    "citation",
    "explanation",
    "notes",
    "evaluations",
)

# The fields a site's result takes from its headline evaluation.
HEADLINE = RESULT_COLUMNS[RESULT_COLUMNS.index("rule_id") : RESULT_COLUMNS.index("explanation") + 1]


def _plain(v: Any) -> Any:
    """numpy / pandas scalars -> JSON-ready Python values (NaN and NA -> None)."""
    if v is None or (not isinstance(v, str | bool) and pd.isna(v)):
        return None
    if isinstance(v, np.generic):
        return v.item()
    return v


def classification_rows(frame: pd.DataFrame, start: int, stop: int) -> list[dict[str, Any]]:
    """Rows start..stop-1 of a map classification frame as JSON-ready dicts (the
    `classification` of those sites' results)."""
    return [
        {str(k): _plain(v) for k, v in row.items()}
        for row in frame.iloc[start:stop].to_dict("records")
    ]


def _dedupe(notes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[tuple[Any, Any]] = set()
    out: list[dict[str, Any]] = []
    for n in notes:
        key = (n["level"], n["message"])
        if key not in seen:
            seen.add(key)
            out.append(n)
    return out


def option_values(options: Any = None, **more: Any) -> dict[str, Any]:
    """The options of a run as plain JSON values, for the decision id and the receipt: every
    field of a dataclass (e.g. LayerOptions) that differs from its default, then `more`; None
    and empty values are left out. Generic, so an option added later is covered without
    touching this, and leaves the ids of runs that do not use it unchanged."""
    out: dict[str, Any] = {}
    if is_dataclass(options):
        for f in fields(options):
            value = getattr(options, f.name)
            if f.default is not MISSING:
                default = f.default
            elif f.default_factory is not MISSING:
                default = f.default_factory()
            else:
                default = MISSING
            if value != default:
                out[f.name] = value
    elif isinstance(options, dict):
        out.update(options)
    out.update(more)
    return {
        k: _json_value(v) for k, v in sorted(out.items()) if v is not None and v != {} and v != []
    }


def _json_value(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _json_value(x) for k, x in sorted(v.items(), key=lambda kv: str(kv[0]))}
    if isinstance(v, list | tuple):
        return [_json_value(x) for x in v]
    if isinstance(v, str | int | float | bool) or v is None:
        return v
    return str(v)


def sha256_of_records(records: Any) -> str:
    return sha256_records(records)


def check_table(
    table: SiteTable,
    pack: RulePack,
    as_of: str | dt.date | None = None,
    input_sha256: str = "",
    classification: pd.DataFrame | None = None,
    *,
    columns: ColumnReport | None = None,
    options: dict[str, Any] | None = None,
) -> BatchAnswer:
    """Evaluate a table. `columns` (the column report) and `options` (see `option_values`)
    go into the receipt and the decision id."""
    when = parse_as_of(as_of)
    warnings = check_as_of(pack, when)
    evals = evaluate(table, pack, when)
    table.notes.extend(evals.site_notes)  # what each value of a missing fact would give
    sites = summarise(evals, table, pack)
    return BatchAnswer(
        pack=pack,
        table=table,
        evals=evals,
        sites=sites,
        as_of=when,
        input_sha256=input_sha256,
        warnings=warnings,
        classification=classification,
        columns=columns,
        options=dict(options or {}),
    )


def check_records(
    records: list[Any],
    pack: RulePack | str | None = None,
    as_of: str | dt.date | None = None,
    source: str = "request",
) -> BatchAnswer:
    """Check JSON-like site records (dicts with the SPEC section 3 fields, or keys the alias
    table knows: 编号, 场所类型, 停车位数 ...). Keys it does not know are reported, with the
    closest field, in the answer's column report."""
    pack = pack if isinstance(pack, RulePack) else load_ruleset(pack)
    frame, errors = records_columns(records)
    columns = column_report(frame, source=source, remedy="key")
    table = normalise(
        frame,
        pack,
        source=source,
        row_kind="record",
        row_numbers=np.arange(1, len(records) + 1),
        preset_errors=errors,
    )
    return check_table(table, pack, as_of, input_sha256=sha256_of_records(records), columns=columns)


@dataclass(frozen=True)
class Alone:
    """One record's answer, exactly as `check_records([record])` gives it: its result, the
    run's warnings and the column report, or the InputError the one-record check raises."""

    result: dict[str, Any] | None
    warnings: list[str]
    columns: dict[str, Any] | None
    error: InputError | None = None


def _id_key(value: Any) -> str:
    """A key at least as coarse as the id comparison of records.normalise: two records whose
    ids could be found equal there always get the same key here."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return fold_name(value)


def check_alone(
    records: list[Any],
    pack: RulePack | str | None = None,
    as_of: str | dt.date | None = None,
    source: str = "request",
) -> list[Alone]:
    """Check several records at once, each with exactly the answer it gets alone.

    The batch engine costs about the same for 1 record as for 30, so a server that receives
    many single-site requests at once (POST /v1/check) checks them together. What a batch
    shares is undone: records go to the same pass only when they state the same count fields
    (a count key one record lacks is unknown to it, where in a batch it would be a blank cell
    of a column the input has) and have ids that cannot be taken for duplicates; each record
    has the column report and warnings of its own keys; every record is row 1; and a pass
    refused as a whole (two keys meaning one field, a bad as_of) is redone record by record.
    That each answer equals the one-record check is proven by tests/test_alone.py."""
    pack = pack if isinstance(pack, RulePack) else load_ruleset(pack)
    with suppress(InputError):  # read once (a date it cannot read: each pass refuses it)
        as_of = parse_as_of(as_of)
    reports = [_report_of(rec, source) for rec in records]
    chunks: dict[frozenset[str] | None, list[tuple[list[int], set[str]]]] = {}
    for i, rec in enumerate(records):
        ident = _id_key(rec.get("id")) if isinstance(rec, dict) else ""
        report = reports[i]
        counts = (
            frozenset(f for f in ZERO_DEFAULT_FIELDS if f in report.mapping.values())
            if isinstance(report, ColumnReport)
            else None  # refused alone: whichever pass it joins is redone one by one
        )
        passes = chunks.setdefault(counts, [])
        for chunk, ids in passes:  # the first pass without this id
            if len(chunk) < ALONE_MAX and ident not in ids:
                chunk.append(i)
                ids.add(ident)
                break
        else:
            passes.append(([i], {ident}))
    out: list[Alone | None] = [None] * len(records)
    for chunk, _ in [c for passes in chunks.values() for c in passes]:
        try:
            answers = _check_together(
                [records[j] for j in chunk], [reports[j] for j in chunk], pack, as_of, source
            )
        except InputError as exc:  # refused as a whole: find out whose it is, one by one
            if len(chunk) == 1:
                answers = [Alone(None, [], None, exc)]
            else:
                answers = [check_alone([records[j]], pack, as_of, source)[0] for j in chunk]
        for j, answer in zip(chunk, answers, strict=True):
            out[j] = answer
    return out  # type: ignore[return-value]


def _report_of(record: Any, source: str) -> ColumnReport | InputError:
    """The column report of one record's keys, or why they are refused."""
    keys = list(map(str, record)) if isinstance(record, dict) else []
    try:
        return column_report(keys, source=source, remedy="key")
    except InputError as exc:
        return exc


def _check_together(
    part: list[Any],
    reports: list[ColumnReport | InputError],
    pack: RulePack,
    as_of: str | dt.date | None,
    source: str,
) -> list[Alone]:
    frame, errors = records_columns(part)
    column_report(frame, source=source, remedy="key")  # two keys meaning one field: refused
    for report in reports:
        if isinstance(report, InputError):
            raise report
    table = normalise(
        frame,
        pack,
        source=source,
        row_kind="record",
        row_numbers=np.ones(len(part), dtype=np.int64),
        preset_errors=errors,
    )
    answer = check_table(table, pack, as_of)
    return [
        Alone(answer.result(k), [*answer.warnings, *r.warnings], r.as_dict())
        for k, r in enumerate(cast(list[ColumnReport], reports))
    ]


ALONE_MAX = 64  # records per group: well inside records.SMALL, where every path is per value


def _id_key_of(record: Any) -> str:
    return _id_key(record.get("id")) if isinstance(record, dict) else ""
