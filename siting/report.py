"""The readable terminal report: a table of verdicts and a summary (rich)."""

from __future__ import annotations

from typing import Any, cast

import pandas as pd
from rich.console import Console, JustifyMethod
from rich.table import Table

from siting import statuses as st
from siting.check import BatchAnswer

STYLE = {
    "pass": "green",
    "fail": "bold red",
    "needs_review": "yellow",
    "advisory": "cyan",
    "not_applicable": "dim",
    "insufficient_data": "magenta",
    "invalid": "bold magenta",
}


def _n(v: Any) -> str:
    # v: a cell of the result frame (pandas-stubs types `pd.isna` for fewer scalars than
    # `itertuples` yields)
    return "" if pd.isna(v) else str(v)


def print_report(answer: BatchAnswer, console: Console | None = None, limit: int = 100) -> None:
    console = console or Console()
    frame = answer.frame(keep_input=False)
    table = Table(
        title=f"Charger siting check - {answer.pack.title_zh or answer.pack.title}",
        show_lines=False,
        header_style="bold",
    )
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("row", "right"),
        ("id", "left"),
        ("category 类别", "left"),
        ("status 结论", "left"),
        ("required 应配", "right"),
        ("provided 已配", "right"),
        ("short 缺口", "right"),
        ("rule 条款", "left"),
        ("why 说明", "left"),
    )
    for name, just in columns:
        table.add_column(name, justify=just, overflow="fold")
    mapped = "class_source" in frame.columns
    if mapped:
        table.add_column("from 来源", overflow="fold")
    shown = frame.head(limit)
    for rec in shown.itertuples(index=False):
        status = cast(str, rec.status)  # a status code, never missing
        cells = [
            _n(rec.row),
            _n(rec.id),
            _n(rec.categories),
            f"[{STYLE[status]}]{st.label(status)}[/]",
            _n(rec.required_spaces),
            _n(rec.provided_spaces),
            _n(rec.shortfall),
            _n(rec.rule_id),
            _n(rec.explanation),
        ]
        if mapped:
            how = _n(rec.class_source) or "unclassified"
            where = _n(rec.class_context_name) or _n(rec.class_context_layer)
            sure = getattr(rec, "class_confidence", None)
            cells.append(
                f"{how} {where}".strip()
                + (" (est.)" if rec.class_spaces_estimated else "")
                # a guessed category is never shown as certain (the notes say why)
                + (" (low confidence 低置信度)" if sure == "low" else "")
            )
        table.add_row(*cells)
    console.print(table)
    if len(frame) > limit:
        console.print(
            f"... {len(frame) - limit} more rows not shown; write them all with "
            "-o results.csv (or .xlsx, .json)"
        )
    s, r = answer.summary, answer.receipt
    parts = [f"[{STYLE[k]}]{st.label(k)}: {v}[/]" for k, v in s["by_status"].items() if v]
    console.print(
        f"[bold]Summary 汇总[/]: {s['sites']} sites; "
        + ", ".join(parts)
        + f"; total shortfall 总缺口 {s['total_shortfall']} spaces"
    )
    console.print(
        f"ruleset {r['ruleset']['id']} {r['ruleset']['version']} "
        f"(sha256 {r['ruleset']['sha256'][:12]}), as of {r['as_of']}, "
        f"decision {r['decision_id']}"
    )
    print_columns(answer, console)
    for w in answer.warnings:
        console.print(f"[yellow]warning: {w}[/]")


def print_columns(answer: BatchAnswer, console: Console | None = None) -> None:
    """The "Columns" block: which column fed which field, one line per field, the kept
    columns and the fields no column gave; then every column not used, with its suggestion,
    as a warning."""
    report = answer.columns
    if report is None:
        return
    console = console or Console()
    console.print(f"[bold]Columns 列[/] ({report.source}):", highlight=False)
    for line in report.lines():
        console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
    for w in report.warnings:
        console.print(
            f"warning: {w}", style="yellow", markup=False, highlight=False, soft_wrap=True
        )
