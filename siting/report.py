"""The readable terminal report: a table of verdicts and a summary (rich), in the language of
`--lang` (default: Chinese when the input's headers are; siting.labels), fitted to the
terminal's width: id, name, category, status, required, provided and shortfall on one line
per site (the site's name from its 项目名称 / 名称 / 单位名称 column when it has one); the row,
rule, explanation and notes with `--verbose`. `siting fields` prints the alias table."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, cast

import pandas as pd
from rich.console import Console, JustifyMethod
from rich.markup import escape
from rich.table import Table

from siting.check import BatchAnswer
from siting.labels import Localiser, resolve_lang, split_columns
from siting.messages import Lang, load_messages

if TYPE_CHECKING:
    from siting.parts import Outcome

WIDE = 140  # terminal columns from which --verbose puts the details in the table
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
    return "" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)


def _display(text: str) -> int:
    """Terminal cells a text takes (a Chinese character takes two)."""
    from rich.cells import cell_len

    return cell_len(text)


def _compact_widths(
    columns: list[tuple[str, str, JustifyMethod]],
    shown: pd.DataFrame,
    texts: pd.DataFrame,
    name: str | None,
    language: Lang,
    console: Console,
) -> dict[str, int]:
    """Column widths that fit the console: ids, statuses and numbers whole; the name, the
    category and the source share what is left (cut with an ellipsis when it is short)."""
    m = load_messages()

    def need(values: Any, header: str, cap: int = 60) -> int:
        return min(max([_display(header), *(_display(_n(v)) for v in values)]), cap)

    fields = {
        "row": shown["row"],
        "id": shown["id"],
        "status": [m.status(str(v), language) for v in shown["status"]],
        "required": shown["required_spaces"],
        "provided": shown["provided_spaces"],
        "shortfall": shown["shortfall"],
        "name": shown[name] if name is not None else [],
        "category": texts[m.column("categories", language)],
        "source": shown["class_source"] if "class_source" in shown.columns else [],
    }
    wanted = {key: need(fields.get(key, []), header) for key, header, _ in columns}
    if "source" in wanted:
        wanted["source"] = max(wanted["source"] + 20, _display(m.terminal["source"](language)))
    flexible = [k for k in ("name", "category", "source") if k in wanted]
    fixed = sum(w for k, w in wanted.items() if k not in flexible)
    room = console.width - fixed - 3 * (len(columns) - 1)
    out = dict(wanted)
    total = sum(wanted[k] for k in flexible)
    if total > room:  # share the room in proportion to what each wants, 4 at least
        for k in flexible:
            out[k] = max(4, room * wanted[k] // max(total, 1))
    return out


def name_column(frame: pd.DataFrame) -> str | None:
    """The input column that names the sites (项目名称, 名称, 单位名称, name ...), if any."""
    from siting.columns import header_kind
    from siting.folding import fold_name

    for column, original in split_columns(frame).inputs:
        key = fold_name(str(original))
        if header_kind(key) == "kept" and ("名称" in key or "name" in key):
            return str(column)
    return None


def print_report(
    answer: BatchAnswer,
    console: Console | None = None,
    limit: int = 100,
    lang: str | None = None,
    verbose: bool = False,
) -> None:
    """The table of verdicts and the summary. `verbose`: each site's rule, explanation and
    notes too: in the table on a wide terminal (WIDE columns or more), else below it."""
    console = console or Console()
    details = verbose and console.width < WIDE
    verbose = verbose and not details
    language: Lang = resolve_lang(lang, answer)
    words = load_messages().terminal
    frame = answer.frame(keep_input=True)
    shown = frame.head(limit)
    local = Localiser(getattr(answer, "pack", None), language)
    texts = local.frame(shown) if language == "zh" else shown
    name = name_column(frame)
    title = answer.pack.title_zh if language == "zh" and answer.pack.title_zh else answer.pack.title
    table = Table(
        title=f"{words['title'](language)} - {title}",
        show_lines=verbose,
        header_style="bold",
        title_justify="left",
        show_edge=verbose,  # compact: no outer frame, every character for the cells
        pad_edge=verbose,
    )
    m = load_messages()
    mapped = "class_source" in frame.columns
    columns: list[tuple[str, str, JustifyMethod]] = []  # key, header, justify
    if verbose:
        columns.append(("row", words["row"](language), "right"))
    columns.append(("id", words["id"](language), "left"))
    if name is not None:
        columns.append(("name", words["name"](language), "left"))
    columns += [
        ("category", words["category"](language), "left"),
        ("status", words["status"](language), "left"),
        ("required", words["required"](language), "right"),
        ("provided", words["provided"](language), "right"),
        ("shortfall", words["shortfall"](language), "right"),
    ]
    if mapped:
        columns.append(("source", words["source"](language), "left"))
    if verbose:
        columns += [
            ("rule", words["rule"](language), "left"),
            ("why", words["why"](language), "left"),
        ]
    widths = {} if verbose else _compact_widths(columns, shown, texts, name, language, console)
    for key, header, justify in columns:
        if verbose:
            table.add_column(header, justify=justify, overflow="fold")
        else:
            table.add_column(
                header, justify=justify, no_wrap=True, overflow="ellipsis", width=widths[key]
            )
    explanation = texts[m.column("explanation", language)]
    notes = texts[m.column("notes", language)]
    categories = texts[m.column("categories", language)]
    for k, rec in enumerate(shown.itertuples(index=False)):
        status = cast(str, rec.status)  # a status code, never missing
        cells = {
            "row": _n(rec.row),
            "id": escape(_n(rec.id)),
            "name": escape(_n(shown[name].iloc[k])) if name is not None else "",
            "category": escape(_n(categories.iloc[k])),
            "status": f"[{STYLE[status]}]{m.status(status, language)}[/]",
            "required": _n(rec.required_spaces),
            "provided": _n(rec.provided_spaces),
            "shortfall": _n(rec.shortfall),
            "rule": escape(_n(rec.rule_id)),
            "why": escape(
                _n(explanation.iloc[k])
                + (f"\n{_n(notes.iloc[k])}" if verbose and _n(notes.iloc[k]) else "")
            ),
        }
        if mapped:
            how = _n(rec.class_source) or words["unclassified"](language)
            where = _n(getattr(rec, "class_context_name", None)) or _n(
                getattr(rec, "class_context_layer", None)
            )
            sure = getattr(rec, "class_confidence", None)
            cells["source"] = escape(
                f"{how} {where}".strip()
                + (words["estimated"](language) if rec.class_spaces_estimated else "")
                # a guessed category is never shown as certain (the notes say why)
                + (words["low_confidence"](language) if sure == "low" else "")
            )
        table.add_row(*(cells[key] for key, _, _ in columns))
    console.print(table)
    if details:  # on a narrow terminal: each site's rule, explanation and notes below
        for k in range(len(shown)):
            lines = [
                f"{_n(shown['id'].iloc[k])}  {_n(shown['rule_id'].iloc[k])}".rstrip(),
                f"  {_n(explanation.iloc[k])}",
            ]
            lines += [f"  {n}" for n in _n(notes.iloc[k]).split(" | ") if n]
            console.print("\n".join(lines), markup=False, highlight=False)
    if len(frame) > limit:
        console.print(words["more_rows"](language, n=f"{len(frame) - limit:,}"))
    elif not (verbose or details):
        console.print(words["verbose_hint"](language), style="dim")
    s, r = answer.summary, answer.receipt
    parts = [f"[{STYLE[k]}]{m.status(k, language)}: {v}[/]" for k, v in s["by_status"].items() if v]
    sep = "，" if language == "zh" else ", "
    console.print(
        f"[bold]{words['summary'](language)}[/]: {words['sites'](language, n=s['sites'])}; "
        + sep.join(parts)
        + "; "
        + words["total_shortfall"](language, n=s["total_shortfall"])
    )
    console.print(
        words["receipt"](
            language,
            ruleset=r["ruleset"]["id"],
            version=r["ruleset"]["version"],
            sha=r["ruleset"]["sha256"][:12],
            as_of=r["as_of"],
            decision=r["decision_id"],
        ),
        highlight=False,
    )
    print_columns(answer, console)
    for w in answer.warnings:
        console.print(f"warning: {w}", style="yellow", markup=False, highlight=False)


def print_outcome(
    answer: BatchAnswer | Outcome,
    console: Console,
    out: object,
    *,
    limit: int,
    lang: str | None,
    verbose: bool,
    wrote: str = "",
) -> None:
    """What `siting check` prints once the check is done: the report table when nothing was
    written (`out` None); else one line of counts naming the file written (`wrote` adds to
    it), the Columns block and the run's warnings."""
    if out is None:
        assert isinstance(answer, BatchAnswer)  # a check in parts always writes a file
        print_report(answer, console, limit=limit, lang=lang, verbose=verbose)
        return
    s = answer.summary
    by = ", ".join(f"{k} {v}" for k, v in s["by_status"].items() if v)
    print(
        f"{s['sites']} sites checked ({by}); total shortfall {s['total_shortfall']}; "
        f"wrote {out}{wrote}"
    )
    print_columns(answer, console)
    for warning in answer.warnings:
        print(f"warning: {warning}", file=sys.stderr)


def print_columns(answer: BatchAnswer | Outcome, console: Console | None = None) -> None:
    """The "Columns" block: which column fed which field, one line per field, the kept
    columns and the fields no column gave; then every column not used, with its suggestion,
    as a warning."""
    report = answer.columns
    if report is None:
        return
    console = console or Console()
    console.print(f"[bold]Columns 列[/] ({escape(report.source)}):", highlight=False)
    for line in report.lines():
        console.print(f"  {line}", markup=False, highlight=False)
    for w in report.warnings:
        console.print(f"warning: {w}", style="yellow", markup=False, highlight=False)


def print_fields(pack: Any, console: Console | None = None, lang: Lang = "zh") -> None:
    """`siting fields`: every header and value form the alias table accepts, per field, and
    the pack's category names."""
    from siting.aliases import alias_spellings
    from siting.template import header_forms, value_forms

    console = console or Console()
    m = load_messages()
    w = m.fields_command
    console.print(f"[bold]{w['title'](lang)}[/]")
    table = Table(
        w["field"](lang),
        w["label"](lang),
        w["headers"](lang),
        w["values"](lang),
        show_lines=True,
    )
    heads = header_forms()
    values = value_forms(None)
    for field, (names, fallback) in heads.items():
        words = m.fields.get(field)
        shown = ", ".join(names)
        if fallback:
            shown += f"; {', '.join(fallback)} ({w['fallback'](lang)})"
        table.add_row(
            field,
            (words.zh if words else "") + (f"\n{words.en}" if words and lang == "en" else ""),
            escape(shown),
            escape("\n".join(values.get(field, []))),
        )
    console.print(table)
    kept = ", ".join(str(x) for x in alias_spellings().kept_columns)
    console.print(f"[bold]{w['kept'](lang)}[/]: {escape(kept)}")
    cats = Table("category", "名称", "aliases", title=w["categories"](lang, pack=pack.id))
    for c in pack.categories:
        cats.add_row(c.id, c.name_zh or "", escape(", ".join(c.aliases)))
    console.print(cats)
