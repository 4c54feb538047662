"""The XLSX answer, made for people (docs/input.md, "Output"): a results sheet with a frozen
header, filters, status cells coloured, column widths and number formats, the citation as a
column; a summary sheet (the run's receipt, counts per status, total shortfall, the column
report); a sheet by category (sites per status, shortfall); and a sheet by city when the input
names cities. Words come from the message catalogue in the language of the output
(siting.labels).

The workbook is written by xlsxwriter in constant-memory mode: styles, column widths, the
frozen pane, the filter and the small sheets. The rows of the results sheet, which can be a
million, are written as the sheet's XML by Arrow, column by column, and streamed into the
workbook's zip in blocks (the XML is what xlsxwriter writes for the same cells: inline
strings, numbers, the same style indexes), 20-30 times faster than a cell-by-cell writer.
Text cells are never formulas (and are neutralised against formula injection, as in CSV);
input columns that hold plain numbers (counts read from a CSV file) are written as numbers, so
SUM works.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from siting import statuses as st
from siting.labels import Localiser, split_columns
from siting.messages import Lang, load_messages
from siting.textcols import text_offsets

MAX_ROWS = 1_048_575  # data rows of one sheet (Excel's 1,048,576 rows, less the header)
BLOCK = 32_768  # rows turned into XML at a time
# A text that is a plain number: written as a number cell (a count from a CSV file). No
# leading zeros (an id such as 007 stays text), at most 15 digits (what a double holds).
PLAIN_NUMBER_CELL = r"^-?(0|[1-9][0-9]{0,14})(\.[0-9]{1,15})?$"
STATUS_COLOURS = {  # fill, font
    "pass": ("#C6EFCE", "#006100"),
    "fail": ("#FFC7CE", "#9C0006"),
    "needs_review": ("#FFEB9C", "#9C5700"),
    "advisory": ("#DDEBF7", "#1F4E78"),
    "insufficient_data": ("#E4DFEC", "#5B2C6F"),
    "not_applicable": ("#EDEDED", "#595959"),
    "invalid": ("#F8CBAD", "#833C0B"),
}
# Widths of result columns that hold long texts (characters).
WIDE = {"explanation": 60, "notes": 60, "citation": 50, "evaluations": 40}
_CONTROL = "[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]"


@dataclass
class Column:
    name: str  # as written in the header
    values: pa.Array  # text, integers, floats, booleans
    kind: str  # "text" | "int" | "float" | "bool" | "mixed" (numbers in text) | "date"
    role: str  # the result field it is ("status", "shortfall" ...) or "" for input columns


def write_workbook(
    answer: Any,
    out: Path,
    lang: Lang,
    progress: Callable[[float], None] | None = None,
) -> None:
    """Write `answer` as a workbook for people to `out`."""
    import xlsxwriter

    messages = load_messages()
    frame = answer.frame()
    columns, status = _columns(answer, frame, lang)
    n = len(frame)
    words = messages.summary
    tmp_dir = Path(tempfile.mkdtemp(prefix=".siting-xlsx-", dir=out.parent))
    try:
        staged = tmp_dir / "book.xlsx"
        book = xlsxwriter.Workbook(
            str(staged),
            {
                "constant_memory": True,
                "strings_to_numbers": False,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "nan_inf_to_errors": True,
            },
        )
        styles = _Styles(book)
        parts = max(1, -(-n // MAX_ROWS))
        sheets: list[tuple[int, int, int]] = []
        for k in range(parts):
            name = words["sheet_results"](lang) + (f" {k + 1}" if k else "")
            ws = book.add_worksheet(name)
            rows = min(MAX_ROWS, n - k * MAX_ROWS)
            _results_header(ws, columns, styles, rows)
            sheets.append((len(sheets) + 1, k * MAX_ROWS, k * MAX_ROWS + rows))
        _summary_sheet(book, answer, lang, styles)
        _category_sheet(book, answer, frame, lang, styles)
        _city_sheet(book, answer, frame, lang, styles)
        book.close()
        cell_styles = styles.indexes(columns, status)
        with tempfile.NamedTemporaryFile(dir=out.parent, prefix=f".{out.name}.", delete=False) as f:
            final = Path(f.name)
        try:
            _splice(staged, final, sheets, columns, cell_styles, n, progress)
            umask = os.umask(0)
            os.umask(umask)
            final.chmod(0o666 & ~umask)  # as a file opened for writing gets (not 0600)
            os.replace(final, out)
        finally:
            final.unlink(missing_ok=True)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


# ----------------------------------------------------------------------------- columns


def _columns(answer: Any, frame: pd.DataFrame, lang: Lang) -> tuple[list[Column], np.ndarray]:
    """The results sheet's columns (localised, neutralised, XML-safe), and each row's status
    code (index into statuses.ORDER)."""
    from siting.io.writers import arrow_column, neutralise_array, neutralise_text

    split = split_columns(frame)
    status_words = frame["status"] if "status" in frame.columns else None
    codes = (
        pc.index_in(arrow_column(status_words).cast(pa.string()), pa.array(list(st.ORDER)))
        if status_words is not None
        else pa.nulls(len(frame), pa.int32())
    )
    status = pc.fill_null(codes, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    local = Localiser(getattr(answer, "pack", None), lang).frame(frame)
    # which localised column is which result field (the order is kept, some are left out)
    roles: list[str] = []
    for name in split.result:
        if load_messages().column(name, lang) is not None:
            roles.append(name)
    roles += [""] * len(split.inputs)
    count_columns = _count_columns(answer)
    out = []
    for k, name in enumerate(local.columns):
        role = roles[k] if k < len(roles) else ""
        values = arrow_column(local.iloc[:, k])
        kind = _kind(values)
        if kind == "text":
            values = values.cast(pa.string())
            values = pc.replace_substring_regex(values, _CONTROL, "\ufffd")
            values = neutralise_array(values)
            if not role and _numeric_text(values, str(name) in count_columns):
                kind = "mixed"
        out.append(Column(_xml_safe(str(neutralise_text(str(name)))), values, kind, role))
    return out, status


def _count_columns(answer: Any) -> set[str]:
    """Input columns the column report read as counts (their numbers are numbers)."""
    from siting.fields import INT_FIELDS

    report = getattr(answer, "columns", None)
    if report is None:
        return set()
    return {u.column for u in report.used if u.field in INT_FIELDS}


def _kind(values: pa.Array) -> str:
    t = values.type
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "float"
    if pa.types.is_date(t) or pa.types.is_timestamp(t):
        return "date"
    if pa.types.is_null(t):
        return "text"
    return "text"


def _numeric_text(values: pa.Array, count: bool) -> bool:
    """A text column written with numbers as numbers: every value that is not blank is a
    plain number, or (a count column) some are."""
    present = pc.and_(pc.is_valid(values), pc.not_equal(pc.utf8_trim_whitespace(values), ""))
    present = pc.fill_null(present, False)
    n_present = pc.sum(present).as_py() or 0
    if not n_present:
        return False
    numeric = pc.fill_null(pc.match_substring_regex(values, PLAIN_NUMBER_CELL), False)
    n_numeric = pc.sum(numeric).as_py() or 0
    return n_numeric == n_present or (count and n_numeric > 0)


def _xml_safe(text: str) -> str:
    return re.sub(_CONTROL, "\ufffd", text)


# ----------------------------------------------------------------------------- styles


class _Styles:
    def __init__(self, book: Any) -> None:
        self.book = book
        base = {"font_name": "等线", "font_size": 11, "valign": "top"}
        self.header = book.add_format(
            {**base, "bold": True, "bg_color": "#D9E1F2", "border": 1, "text_wrap": True}
        )
        self.title = book.add_format({**base, "bold": True, "font_size": 12})
        self.text = book.add_format(base)
        self.wrap = book.add_format({**base, "text_wrap": True})
        self.int = book.add_format({**base, "num_format": "#,##0"})
        self.row = book.add_format({**base, "num_format": "0"})
        self.float = book.add_format({**base, "num_format": "General"})
        self.date = book.add_format({**base, "num_format": "yyyy-mm-dd"})
        self.percent = book.add_format({**base, "num_format": "0.0%"})
        self.total = book.add_format({**base, "bold": True, "top": 1, "num_format": "#,##0"})
        self.status = {
            s: book.add_format(
                {**base, "bg_color": fill, "font_color": font, "bold": s in ("fail", "invalid")}
            )
            for s, (fill, font) in STATUS_COLOURS.items()
        }

    def column_format(self, column: Column) -> Any:
        if column.role == "row":
            return self.row
        if column.kind in ("int", "mixed"):
            return self.int
        if column.kind == "float":
            return self.float
        if column.kind == "date":
            return self.date
        return self.text

    def indexes(self, columns: list[Column], status: np.ndarray) -> list[Any]:
        """Per column: the style index of its cells (an int), or per row (an Arrow text
        array of ' s="N"', for the status columns)."""
        out: list[Any] = []
        status_xf = [self.status[s]._get_xf_index() for s in st.ORDER]
        per_status = pa.array([f' s="{x}"' for x in status_xf] + [""], pa.string())
        codes = np.where(status >= 0, status, len(st.ORDER))
        coloured = per_status.take(pa.array(codes))
        for c in columns:
            if c.role in ("status", "status_zh"):
                out.append(coloured)
            else:
                out.append(self.column_format(c)._get_xf_index())
        return out


def _width(column: Column, header: str) -> float:
    """Characters wide (a Chinese character counts two), from the header and the first
    rows."""
    limit = WIDE.get(column.role, 40)
    sample = column.values[:500]
    if column.kind == "text" or column.kind == "mixed":
        texts = [v for v in sample.to_pylist() if v]
    else:
        texts = [str(v) for v in sample.to_pylist() if v is not None]
    longest = max((_display(t) for t in texts), default=0)
    longest = max(min(longest, limit), min(_display(header), 30))
    return float(max(6, min(longest + 2, limit)))


def _display(text: str) -> int:
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text[:200])


def _results_header(ws: Any, columns: list[Column], styles: _Styles, rows: int) -> None:
    for j, c in enumerate(columns):
        ws.set_column(j, j, _width(c, c.name), styles.column_format(c))
    ws.set_row(0, None, styles.header)
    for j, c in enumerate(columns):
        ws.write_string(0, j, c.name, styles.header)
    ws.freeze_panes(1, 2 if len(columns) > 1 else 0)  # the header and the id
    ws.autofilter(0, 0, max(rows, 1), max(len(columns) - 1, 0))


# ----------------------------------------------------------------------------- rows as XML


def _letters(j: int) -> str:
    out = ""
    j += 1
    while j:
        j, r = divmod(j - 1, 26)
        out = chr(65 + r) + out
    return out


def _escape(values: pa.Array) -> pa.Array:
    """&, < and > as XML entities (only in the columns that hold them)."""
    if not pc.any(pc.match_substring_regex(values, "[&<>]")).as_py():
        return values
    for a, b in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        values = pc.replace_substring(values, a, b)
    return values


def _number_text(values: pa.Array, kind: str) -> pa.Array:
    if kind == "bool":
        return pc.if_else(values, "1", "0")
    if kind == "date":
        if pa.types.is_date(values.type):
            days = pc.cast(pc.cast(values, pa.date32()), pa.int32())
            return pc.cast(pc.add(pc.cast(days, pa.int64()), 25569), pa.string())
        ms = pc.cast(pc.cast(values, pa.timestamp("ms")), pa.int64())
        return pc.cast(pc.add(pc.divide(ms, 86_400_000.0), 25569.0), pa.string())
    if kind == "float":
        finite = pc.is_finite(pc.cast(values, pa.float64()))
        return pc.if_else(finite, pc.cast(values, pa.string()), pa.nulls(len(values), pa.string()))
    return pc.cast(values, pa.string())


TEXT_OPEN = ' t="inlineStr"><is><t>'
TEXT_OPEN_SPACED = ' t="inlineStr"><is><t xml:space="preserve">'  # a space at an end is kept
TEXT_CLOSE = "</t></is></c>"


@dataclass
class Cells:
    """A column's cells, made once for all its rows: between `<c r="A2"` + the style and the
    end of the cell, its opening, value and closing (the value null for an empty cell)."""

    opening: Any  # a text, or a text per row
    value: pa.Array
    closing: Any


def _prepare(c: Column) -> Cells:
    values = c.values
    if c.kind in ("text", "mixed"):
        text = pc.if_else(pc.equal(values, ""), pa.nulls(len(values), values.type), values)
        escaped = _escape(text)
        spaced = pc.fill_null(pc.match_substring_regex(text, r"^\s|\s$"), False)
        opening: Any = (
            pc.if_else(spaced, TEXT_OPEN_SPACED, TEXT_OPEN) if pc.any(spaced).as_py() else TEXT_OPEN
        )
        closing: Any = TEXT_CLOSE
        if c.kind == "mixed":
            numeric = pc.fill_null(pc.match_substring_regex(values, PLAIN_NUMBER_CELL), False)
            if isinstance(opening, str):
                opening = pa.array([opening] * len(values), pa.string())
            opening = pc.if_else(numeric, "><v>", opening)
            closing = pc.if_else(numeric, "</v></c>", TEXT_CLOSE)
        return Cells(opening, escaped, closing)
    numbers = _number_text(values, c.kind)
    return Cells(' t="b"><v>' if c.kind == "bool" else "><v>", numbers, "</v></c>")


def _block_xml(
    columns: list[Column],
    cells: list[Cells],
    styles: list[Any],
    start: int,
    stop: int,
    first_row: int,
) -> memoryview:
    """Rows start..stop of the table as <row> elements (sheet rows from first_row on)."""
    size = stop - start
    numbers = np.arange(first_row, first_row + size, dtype=np.int64)
    rows = pc.cast(pa.array(numbers), pa.string())

    def part(x: Any) -> Any:
        return x if isinstance(x, str) else x.slice(start, size)

    parts: list[Any] = [pc.binary_join_element_wise('<row r="', rows, '">', "")]
    for j, cell in enumerate(cells):
        style = styles[j]
        attr = f' s="{style}"' if isinstance(style, int) else style.slice(start, size)
        parts.append(
            pc.binary_join_element_wise(
                f'<c r="{_letters(j)}',
                rows,
                '"',
                attr,
                part(cell.opening),
                part(cell.value),  # null: the whole cell is null, and left out below
                part(cell.closing),
                "",
            )
        )
    parts.append("</row>")
    options = pc.JoinOptions(null_handling="skip")
    joined = pc.binary_join_element_wise(*parts, "", options=options)
    if isinstance(joined, pa.ChunkedArray):
        joined = joined.combine_chunks()
    if not len(joined):
        return memoryview(b"")
    # the rows' texts lie one after the other in the array's data buffer
    offsets = text_offsets(joined)
    data = joined.buffers()[2]
    if data is None:
        return memoryview(b"")
    return memoryview(data)[int(offsets[0]) : int(offsets[-1])]


def _splice(
    staged: Path,
    final: Path,
    sheets: list[tuple[int, int, int]],
    columns: list[Column],
    styles: list[Any],
    n: int,
    progress: Callable[[float], None] | None,
) -> None:
    """Copy the staged workbook to `final`, with the results sheets' rows written in."""
    done = 0
    cells = [_prepare(c) for c in columns]
    with (
        zipfile.ZipFile(staged) as src,
        zipfile.ZipFile(final, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as dst,
    ):
        wanted = {f"xl/worksheets/sheet{k}.xml": (lo, hi) for k, lo, hi in sheets}
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename not in wanted:
                dst.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=1)
                continue
            lo, hi = wanted[info.filename]
            text = data.decode("utf-8")
            cut = text.index("</sheetData>")
            head, tail = text[:cut], text[cut:]
            last = f"{_letters(max(len(columns) - 1, 0))}{hi - lo + 1}"
            head = re.sub(
                r'<dimension ref="[^"]*"/>', f'<dimension ref="A1:{last}"/>', head, count=1
            )
            target = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            target.compress_type = zipfile.ZIP_DEFLATED
            for name in ("compress_level", "_compresslevel"):  # Python 3.13 on; 3.11-3.12
                with contextlib.suppress(AttributeError):
                    setattr(target, name, 1)
            with dst.open(target, "w", force_zip64=True) as sheet:
                sheet.write(head.encode("utf-8"))
                # a block is compressed and written (zlib leaves the GIL) on a second
                # thread while the next one is made by Arrow
                with ThreadPoolExecutor(1) as writer:
                    pending = None
                    for start in range(lo, hi, BLOCK):
                        stop = min(start + BLOCK, hi)
                        xml = _block_xml(columns, cells, styles, start, stop, start - lo + 2)
                        if pending is not None:
                            pending.result()
                        pending = writer.submit(sheet.write, xml)
                        done += stop - start
                        if progress is not None and n:
                            progress(done / n)
                    if pending is not None:
                        pending.result()
                sheet.write(tail.encode("utf-8"))


# ----------------------------------------------------------------------------- the other sheets


def _table(ws: Any, styles: _Styles, top: int, header: list[str], rows: list[list[Any]]) -> int:
    for j, h in enumerate(header):
        ws.write_string(top, j, h, styles.header)
    for i, row in enumerate(rows, start=top + 1):
        for j, v in enumerate(row):
            if v is None:
                continue
            if isinstance(v, bool):
                ws.write_boolean(i, j, v, styles.text)
            elif isinstance(v, int | float | np.integer | np.floating):
                ws.write_number(i, j, float(v), styles.int)
            else:
                ws.write_string(i, j, _xml_safe(str(v)), styles.text)
    return top + 1 + len(rows)


def summary_items(answer: Any, lang: Lang) -> list[tuple[str, Any]]:
    """The summary sheet's rows: (label, value)."""
    w = load_messages().summary
    r, s = answer.receipt, answer.summary
    rows: list[tuple[str, Any]] = [
        (w["ruleset"](lang), f"{r['ruleset']['id']} {r['ruleset']['version']}"),
        (w["ruleset_sha256"](lang), r["ruleset"]["sha256"]),
        (w["engine"](lang), f"siting {r['engine']['version']}"),
        (w["as_of"](lang), r["as_of"]),
        (w["input_sha256"](lang), r["input_sha256"]),
        (w["decision_id"](lang), r["decision_id"]),
        (w["time"](lang), r["time"]),
        (w["sites"](lang), s["sites"]),
    ]
    rows += [(load_messages().status(k, lang), v) for k, v in s["by_status"].items()]
    rows.append((w["total_shortfall"](lang), s["total_shortfall"]))
    rows += [(w["warning"](lang), x) for x in r["warnings"]]
    if r["options"]:
        rows.append((w["options"](lang), json.dumps(r["options"], ensure_ascii=False)))
    columns = r["columns"]
    if columns is not None:
        column = w["column"](lang)
        rows += [(column, f"{u['column']} -> {u['field']} ({u['how']})") for u in columns["used"]]
        rows += [(column, u["message"]) for u in columns["unused"] if u["status"] == "kept"]
        if columns["missing_fields"]:
            rows.append((w["no_column"](lang), ", ".join(columns["missing_fields"])))
    return rows


def _summary_sheet(book: Any, answer: Any, lang: Lang, styles: _Styles) -> None:
    from siting.io.writers import neutralise_text

    w = load_messages().summary
    ws = book.add_worksheet(w["sheet_summary"](lang))
    ws.set_column(0, 0, 28)
    ws.set_column(1, 1, 80)
    header = [w["item"](lang), w["value"](lang)]
    rows = [[neutralise_text(k), neutralise_text(v)] for k, v in summary_items(answer, lang)]
    for j, h in enumerate(header):
        ws.write_string(0, j, h, styles.header)
    statuses = {load_messages().status(k, lang): k for k in st.ORDER}
    for i, (k, v) in enumerate(rows, start=1):
        ws.write_string(
            i, 0, _xml_safe(str(k)), styles.status.get(statuses.get(k, ""), styles.text)
        )
        if isinstance(v, int | float) and not isinstance(v, bool):
            ws.write_number(i, 1, v, styles.int)
        else:
            ws.write_string(i, 1, _xml_safe(str(v)), styles.text)
    ws.freeze_panes(1, 0)


def _site_statuses(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    from siting.io.writers import arrow_column

    codes = pc.index_in(arrow_column(frame["status"]).cast(pa.string()), pa.array(list(st.ORDER)))
    status = pc.fill_null(codes, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    short = pd.to_numeric(frame["shortfall"], errors="coerce").fillna(0).to_numpy(dtype=np.int64)
    counted = np.isin(status, [st.FAIL, st.NEEDS_REVIEW])  # mandatory shortfalls only
    return status, np.where(counted, short, 0)


def _category_sheet(
    book: Any, answer: Any, frame: pd.DataFrame, lang: Lang, styles: _Styles
) -> None:
    m = load_messages()
    w = m.summary
    status, short = _site_statuses(frame)
    local = Localiser(getattr(answer, "pack", None), lang)
    cats = frame["categories"].astype(object).where(frame["categories"].notna(), "")
    codes, labels = pd.factorize(cats.to_numpy(dtype=object), sort=False)
    names = [local.categories_text(str(x)) or w["no_category"](lang) for x in labels]
    # in the pack's order of categories (a site of several: by its first), no category last
    pack = getattr(answer, "pack", None)
    rank = {c: i for i, c in enumerate(pack.category_ids)} if pack is not None else {}

    def place(k: int) -> tuple[bool, int, str]:
        first = str(labels[k]).split(";")[0]
        return (labels[k] == "", rank.get(first, len(rank)), str(labels[k]))

    order = sorted(range(len(names)), key=place)
    shown = [s for s in st.SUMMARY_ORDER]
    header = [w["category"](lang), w["count"](lang)] + [m.status(s, lang) for s in shown]
    header.append(w["total_shortfall"](lang))
    rows = []
    for k in order:
        mine = codes == k
        row: list[Any] = [names[k], int(mine.sum())]
        row += [int((status[mine] == st.RANK[s]).sum()) for s in shown]
        row.append(int(short[mine].sum()))
        rows.append(row)
    total: list[Any] = [w["total"](lang), len(frame)]
    total += [int((status == st.RANK[s]).sum()) for s in shown]
    total.append(int(short.sum()))
    ws = book.add_worksheet(w["sheet_categories"](lang))
    ws.set_column(0, 0, 30)
    ws.set_column(1, len(header) - 1, 12)
    end = _table(ws, styles, 0, header, rows)
    for j, v in enumerate(total):
        if isinstance(v, str):
            ws.write_string(end, j, v, styles.total)
        else:
            ws.write_number(end, j, v, styles.total)
    ws.freeze_panes(1, 1)


def _cities(answer: Any, frame: pd.DataFrame) -> np.ndarray | None:
    """Each site's city (canonical when the engine knows it), or None when no city is
    known."""
    table = getattr(answer, "table", None)
    city = getattr(table, "city", None)
    if city is not None and len(city) == len(frame):
        values = np.asarray(city, dtype=object)
    else:
        report = getattr(answer, "columns", None)
        column = next((u.column for u in getattr(report, "used", ()) if u.field == "city"), None)
        if column is None or column not in frame.columns:
            return None
        values = frame[column].to_numpy(dtype=object)
    present = np.array([v is not None and v == v and str(v).strip() != "" for v in values])
    return values if present.any() else None


def _city_sheet(book: Any, answer: Any, frame: pd.DataFrame, lang: Lang, styles: _Styles) -> None:
    cities = _cities(answer, frame)
    if cities is None:
        return
    w = load_messages().summary
    status, short = _site_statuses(frame)
    keys = np.array(
        [str(v).strip() if v is not None and v == v and str(v).strip() else "" for v in cities],
        dtype=object,
    )
    codes, labels = pd.factorize(keys, sort=True)
    header = [
        w["city"](lang),
        w["count"](lang),
        w["passes"](lang),
        w["fails"](lang),
        w["others"](lang),
        w["total_shortfall"](lang),
    ]
    rows = []
    for k, label in sorted(enumerate(labels), key=lambda kv: (kv[1] == "", kv[1])):
        mine = codes == k
        passes = int((status[mine] == st.PASS).sum())
        fails = int((status[mine] == st.FAIL).sum())
        rows.append(
            [
                label or w["no_city"](lang),
                int(mine.sum()),
                passes,
                fails,
                int(mine.sum()) - passes - fails,
                int(short[mine].sum()),
            ]
        )
    ws = book.add_worksheet(w["sheet_cities"](lang))
    ws.set_column(0, 0, 20)
    ws.set_column(1, len(header) - 1, 12)
    end = _table(ws, styles, 0, header, rows)
    passes, fails = int((status == st.PASS).sum()), int((status == st.FAIL).sum())
    total: list[Any] = [w["total"](lang), len(frame), passes, fails]
    total += [len(frame) - passes - fails, int(short.sum())]
    for j, v in enumerate(total):
        if isinstance(v, str):
            ws.write_string(end, j, v, styles.total)
        else:
            ws.write_number(end, j, v, styles.total)
    ws.freeze_panes(1, 1)


__all__ = ["summary_items", "write_workbook"]
