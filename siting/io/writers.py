"""Writing a batch answer as tables: the JSON document (SPEC section 4), the XLSX workbook
(results and summary sheets), and the spreadsheet safety both share. Which writer a file gets
is decided by the format registry (`siting.formats`, one module per format); map formats
(.geojson, .gpkg) are written by `siting.geo.output`, the report by `siting.report_html`.

Spreadsheet outputs (CSV and XLSX) are neutralised against formula injection (OWASP "CSV
Injection"): a text cell, or a column name, that starts with `=`, `+`, `-`, `@`, a tab or a
carriage return gets a leading `'`, so Excel and LibreOffice show it as text instead of
running it. Numbers stay numbers (a negative count is still a number), and so does text that
is a plain number (`-3`, `+1.5`); in XLSX every text cell is written as text, never a formula.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import pandas as pd

from siting import statuses as st
from siting.check import BatchAnswer

if TYPE_CHECKING:

    pass

_T = TypeVar("_T")


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = r"[+-]?(?:\d[\d,]*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?%?"


def neutralise_text(value: _T) -> _T | str:
    """One value: a text starting like a formula gets a leading ' (numbers unchanged)."""
    import re

    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value if not re.fullmatch(PLAIN_NUMBER, value) else value
    return value


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as spreadsheets should get it: text cells (and column names) that a
    spreadsheet would read as a formula get a leading '. Column-wise: only text columns are
    looked at, and only their risky cells are changed."""
    out = None
    for k in range(frame.shape[1]):
        col = frame.iloc[:, k]
        if col.dtype.kind != "O" and not isinstance(col.dtype, pd.StringDtype):
            continue  # numbers, booleans, dates: never formulas
        try:
            first = col.str[:1]
        except AttributeError:  # no text in the column at all
            continue
        risky = first.isin(FORMULA_STARTS).to_numpy(dtype=bool)
        if not risky.any():
            continue
        cells = col[risky]
        number = cells.str.fullmatch(PLAIN_NUMBER).fillna(False).to_numpy(dtype=bool)
        if number.all():
            continue
        if out is None:
            out = frame.copy()
        fixed = col.copy() if col.dtype.kind == "O" else col.astype(object)
        idx = np.flatnonzero(risky)[~number]
        fixed.iloc[idx] = "'" + cells[~number]
        out.isetitem(k, fixed)  # type: ignore[arg-type]  # pandas-stubs: a Series is accepted
    names = [neutralise_text(c) if isinstance(c, str) else c for c in frame.columns]
    if names != list(frame.columns):
        out = (frame.copy() if out is None else out).set_axis(names, axis=1)
    return frame if out is None else out


def write_json(answer: BatchAnswer, out: Path) -> None:
    with out.open("w", encoding="utf-8") as fh:
        json.dump(answer.as_dict(), fh, ensure_ascii=False, indent=1)
        fh.write("\n")


def summary_rows(answer: BatchAnswer) -> list[tuple[str, object]]:
    r, s = answer.receipt, answer.summary
    rows: list[tuple[str, object]] = [
        ("ruleset 规则集", f"{r['ruleset']['id']} {r['ruleset']['version']}"),
        ("ruleset sha256", r["ruleset"]["sha256"]),
        ("engine 引擎", f"siting {r['engine']['version']}"),
        ("as of 检查日期", r["as_of"]),
        ("input sha256", r["input_sha256"]),
        ("decision id 决定编号", r["decision_id"]),
        ("time 时间", r["time"]),
        ("sites 场所数", s["sites"]),
    ]
    rows += [(st.label(k), v) for k, v in s["by_status"].items()]
    rows.append(("total shortfall 总缺口车位", s["total_shortfall"]))
    rows += [("warning 提示", w) for w in r["warnings"]]
    if r["options"]:
        rows.append(("options 选项", json.dumps(r["options"], ensure_ascii=False)))
    columns = r["columns"]
    if columns is not None:  # the column report (siting.columns)
        rows += [
            ("column 列", f"{u['column']} -> {u['field']} ({u['how']})") for u in columns["used"]
        ]
        rows += [("column 列", u["message"]) for u in columns["unused"] if u["status"] == "kept"]
        if columns["missing_fields"]:
            rows.append(("no column for 无此列", ", ".join(columns["missing_fields"])))
    return rows


def xml_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Control characters XML cannot hold (a stray \\x01 from a damaged input) replaced by
    U+FFFD in text cells and column names: openpyxl refuses a workbook with them."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    out = None
    for k in range(frame.shape[1]):
        col = frame.iloc[:, k]
        if col.dtype.kind != "O" and not isinstance(col.dtype, pd.StringDtype):
            continue
        try:
            bad = col.str.contains(ILLEGAL_CHARACTERS_RE).fillna(False).to_numpy(dtype=bool)
        except (AttributeError, TypeError):
            continue
        if bad.any():
            out = frame.copy() if out is None else out
            fixed = col.copy() if col.dtype.kind == "O" else col.astype(object)
            fixed.iloc[np.flatnonzero(bad)] = col[bad].str.replace(
                ILLEGAL_CHARACTERS_RE, "\ufffd", regex=True
            )
            out.isetitem(k, fixed)  # type: ignore[arg-type]  # pandas-stubs: a Series is accepted
    names = [
        ILLEGAL_CHARACTERS_RE.sub("\ufffd", c) if isinstance(c, str) else c for c in frame.columns
    ]
    if names != list(frame.columns):
        out = (frame.copy() if out is None else out).set_axis(names, axis=1)
    return frame if out is None else out


def write_xlsx(answer: BatchAnswer, out: Path) -> None:
    frame = xml_safe(neutralise(answer.frame()))
    summary = pd.DataFrame(summary_rows(answer), columns=["item 项目", "value 值"])
    summary = xml_safe(neutralise(summary))
    with pd.ExcelWriter(out, engine="openpyxl") as xl:
        frame.to_excel(xl, sheet_name="results", index=False)
        summary.to_excel(xl, sheet_name="summary", index=False)
        ws = xl.sheets["results"]
        ws.freeze_panes = "B2"
        for col, width in zip(
            "ABCDEFGHIJKLMNOP",
            (14, 6, 16, 10, 22, 26, 8, 8, 10, 10, 10, 30, 30, 60, 60, 40),
            strict=False,
        ):
            ws.column_dimensions[col].width = width
        xl.sheets["summary"].column_dimensions["A"].width = 28
        xl.sheets["summary"].column_dimensions["B"].width = 70
