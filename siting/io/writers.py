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
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from siting import threads
from siting.check import BatchAnswer
from siting.messages import Lang
from siting.textcols import text_offsets

_T = TypeVar("_T")


class Sink(Protocol):
    """Where CSV text goes: a binary file, or anything with its write method."""

    def write(self, data: bytes | memoryview, /) -> int: ...


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


def summary_rows(answer: BatchAnswer, lang: Lang = "en") -> list[tuple[str, object]]:
    """The summary sheet's rows (label, value), in `lang` (siting.io.workbook)."""
    from siting.io.workbook import summary_items

    return summary_items(answer, lang)


def xml_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Control characters XML cannot hold (a stray \\x01 from a damaged input) replaced by
    U+FFFD in text cells and column names."""
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


def write_xlsx(
    answer: BatchAnswer,
    out: Path,
    lang: Lang = "en",
    progress: Callable[[float], None] | None = None,
) -> None:
    """The workbook for people (siting.io.workbook): results, summary, by category, by city."""
    from siting.io.workbook import write_workbook

    write_workbook(answer, out, lang, progress)


# ----------------------------------------------------------------------------- Arrow tables


def arrow_column(col: pd.Series, chunked: bool = False) -> pa.Array | pa.ChunkedArray:
    """A frame column as an Arrow array: its own Arrow data when pandas keeps it in Arrow (text
    since pandas 3; `chunked`: as the chunks it is kept in, not copied into one), numbers and
    booleans as they are, a column of mixed Python values as text (None for missing)."""
    arrow = getattr(col.array, "_pa_array", None)
    if arrow is not None:
        if isinstance(arrow, pa.ChunkedArray) and not chunked:
            return arrow.combine_chunks()
        return arrow
    try:
        out = pa.array(col, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        out = None
    if out is None or (pa.types.is_null(out.type) and col.notna().any()):
        values = col.to_numpy(dtype=object)
        out = pa.array([None if _missing(v) else str(v) for v in values], pa.string())
    if isinstance(out, pa.ChunkedArray):
        out = out.combine_chunks()
    if pa.types.is_dictionary(out.type):
        out = out.cast(out.type.value_type)
    if not (
        pa.types.is_string(out.type)
        or pa.types.is_large_string(out.type)
        or pa.types.is_integer(out.type)
        or pa.types.is_floating(out.type)
        or pa.types.is_boolean(out.type)
        or pa.types.is_date(out.type)
        or pa.types.is_timestamp(out.type)
        or pa.types.is_null(out.type)
    ):  # lists, structs, times, binary ...: as text
        values = col.to_numpy(dtype=object)
        out = pa.array([None if _missing(v) else str(v) for v in values], pa.string())
    return out


def _missing(v: object) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and v != v)


_FORMULA_BYTE = np.zeros(256, bool)  # per first byte: whether a text may start a formula
_FORMULA_BYTE[[ord(c) for c in FORMULA_STARTS]] = True


def _may_start_like_formulas(values: pa.Array) -> bool:
    """Whether any text of the array starts with a formula character, from the first bytes
    of its texts in Arrow's buffers (no pass over the texts themselves)."""
    if values.null_count == len(values) or not len(values):
        return False
    buffers = values.buffers()
    if buffers[2] is None:
        return False
    offsets = text_offsets(values)
    data = np.frombuffer(buffers[2], dtype=np.uint8)
    starts = offsets[:-1][offsets[1:] > offsets[:-1]]  # texts that are not empty
    return bool(_FORMULA_BYTE[data[starts]].any())


def neutralise_array(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """An Arrow text array as spreadsheets should get it: a text that starts like a formula
    gets a leading ' (a plain number, -3 or +1.5 or 20%, is left as it is). A dictionary
    array: its labels so."""
    if pa.types.is_dictionary(values.type):
        if isinstance(values, pa.ChunkedArray):
            return pa.chunked_array([neutralise_array(c) for c in values.chunks], values.type)
        labels = neutralise_array(values.dictionary)
        if labels is values.dictionary:
            return values
        return pa.DictionaryArray.from_arrays(values.indices, labels)
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return values
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    if not any(_may_start_like_formulas(c) for c in chunks):
        return values
    risky = pc.match_substring_regex(values, "^[=+\\-@\t\r]")
    number = pc.match_substring_regex(values, f"^(?:{PLAIN_NUMBER})$")
    fix = pc.fill_null(pc.and_(risky, pc.invert(number)), False)
    quote, empty = pa.scalar("'", values.type), pa.scalar("", values.type)
    return pc.if_else(fix, pc.binary_join_element_wise(quote, values, empty), values)


def arrow_table(frame: pd.DataFrame) -> pa.Table:
    """A result frame as an Arrow table, column by column (names as text)."""
    arrays = [arrow_column(frame.iloc[:, k], chunked=True) for k in range(frame.shape[1])]
    return pa.Table.from_arrays(arrays, names=[str(c) for c in frame.columns])


def csv_bytes_table(frame: pd.DataFrame) -> pa.Table:
    """The frame as the CSV output writes it: text neutralised, booleans True/False, other
    values as Arrow writes them."""
    table = arrow_table(frame)
    columns = []
    for values in table.columns:
        if pa.types.is_boolean(values.type):
            values = pc.if_else(values, "True", "False")
        elif pa.types.is_null(values.type):
            values = values.cast(pa.string())
        else:
            values = neutralise_array(values)
        columns.append(values)
    return pa.Table.from_arrays(columns, names=table.column_names)


def write_csv(frame: pd.DataFrame, sink: Sink, header: bool = True) -> None:
    """The frame as CSV (UTF-8 with a BOM, so Excel shows Chinese) to a binary stream: the
    header as Python's csv module writes it (quoted only where needed), the rows by Arrow's
    CSV writer (text quoted). Formulas neutralised in names and cells. header=False: the
    rows only (the rest of a file whose header and first rows are written already)."""
    write_csv_table(csv_bytes_table(frame), sink, header)


def csv_header(table: pa.Table) -> bytes:
    """The CSV output's first line: a BOM and the column names (neutralised, quoted only
    where needed)."""
    import csv
    import io

    names = io.StringIO()
    csv.writer(names, lineterminator="\n").writerow(
        [neutralise_text(c) for c in table.column_names]
    )
    return b"\xef\xbb\xbf" + names.getvalue().encode("utf-8")


def write_csv_table(table: pa.Table, sink: Sink, header: bool = True) -> None:
    """`write_csv` of a table `csv_bytes_table` made."""
    import pyarrow.csv as pcsv

    if header:
        sink.write(csv_header(table))
    if not table.num_rows:
        return
    rows = csv_slice_rows(table)
    options = pcsv.WriteOptions(include_header=False, batch_size=min(rows, 65_536))
    if table.num_rows < 2 * rows:  # through a buffer: `sink` needs only a write method
        small = pa.BufferOutputStream()
        pcsv.write_csv(table, small, write_options=options)
        sink.write(memoryview(small.getvalue()))
        return
    # Arrow's CSV writer is one thread: slices of the table are written on every core (Arrow
    # leaves the GIL), and put in the file in order as they come (at most one slice more
    # than there are workers in memory)
    from collections import deque
    from concurrent.futures import Future, ThreadPoolExecutor

    def text(start: int) -> pa.Buffer:
        out = pa.BufferOutputStream()
        pcsv.write_csv(table.slice(start, rows), out, write_options=options)
        return out.getvalue()

    workers = min(4, threads.cores())
    pending: deque[Future[pa.Buffer]] = deque()
    with ThreadPoolExecutor(workers) as pool:
        for start in range(0, table.num_rows, rows):
            pending.append(pool.submit(text, start))
            if len(pending) > workers:
                sink.write(memoryview(pending.popleft().result()))
        while pending:
            sink.write(memoryview(pending.popleft().result()))


def csv_rows_length(table: pa.Table) -> int | None:
    """The bytes `write_csv_table(table, header=False)` writes, worked out from the table
    without writing it: text quoted (a quote inside doubled), integers in decimal, a missing
    value empty, cells joined by a comma, each row ended by a line break, as Arrow's CSV
    writer does. None when a column is of another type (its text is not worked out here).
    A check in parts (siting/parts.py) places its second part by it, and compares it with
    what was written."""
    n = int(table.num_rows)
    total: int = n * table.num_columns  # the commas between cells and the line break after each row
    for column in table.columns:
        for chunk in column.chunks:
            size = _cells_length(chunk)
            if size is None:
                return None
            total += size
    return total


def _cells_length(values: pa.Array) -> int | None:
    """The CSV text of an Arrow array's cells, in bytes (None: a type not worked out)."""
    kind = values.type
    if pa.types.is_dictionary(kind):
        if not (pa.types.is_string(kind.value_type) or pa.types.is_large_string(kind.value_type)):
            return None
        label = np.array(
            [
                0 if v is None else len(v.encode()) + 2 + v.count('"')
                for v in values.dictionary.to_pylist()
            ],
            np.int64,
        )
        index = values.indices
        if index.null_count:
            index = index.filter(index.is_valid())
        return int(label[index.to_numpy()].sum()) if len(label) else 0
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _texts_length(values)
    if pa.types.is_integer(kind) and kind != pa.uint64():
        return _integers_length(values)
    return None


_POWERS = (10 ** np.arange(1, 19, dtype=np.int64)).tolist()  # 10 .. 10**18


def _integers_length(values: pa.Array) -> int:
    """Integers in decimal: their digits and minus signs (a missing one: nothing)."""
    numbers = pc.fill_null(values, 0).to_numpy().astype(np.int64, copy=False)
    # the smallest int64 has no positive twin; its neighbour is as long in decimal
    magnitude = np.abs(np.maximum(numbers, -np.iinfo(np.int64).max))
    total = len(numbers) + int(np.count_nonzero(numbers < 0)) - int(values.null_count)
    top = int(magnitude.max()) if len(magnitude) else 0
    for power in _POWERS:  # one more digit for each power of ten reached
        if power > top:
            break
        total += int(np.count_nonzero(magnitude >= power))
    return total


def _texts_length(values: pa.Array) -> int:
    """Texts quoted: their bytes, two quotes each, and each quote inside once more."""
    present = len(values) - values.null_count
    if not present:
        return 0
    buffers = values.buffers()
    offsets = text_offsets(values)
    first, last = int(offsets[0]), int(offsets[-1])
    size = last - first
    if values.null_count:  # a missing text is written as nothing, whatever bytes it spans
        valid = values.is_valid().to_numpy(zero_copy_only=False)
        size = int(np.diff(offsets)[valid].sum())
    quotes = 0
    if buffers[2] is not None and last > first:
        data = np.frombuffer(buffers[2], dtype=np.uint8)
        for start in range(first, last, 1 << 20):  # in blocks: no array of the data's size
            quotes += int(np.count_nonzero(data[start : min(last, start + (1 << 20))] == 34))
    if quotes and values.null_count:
        quotes = int(pc.sum(pc.count_substring(values, '"')).as_py() or 0)
    return size + 2 * int(present) + quotes


def csv_slice_rows(table: pa.Table) -> int:
    """Rows of a CSV output written by one thread at a time: about CSV_SLICE_BYTES of the
    table's data. Small slices are several times faster than large ones: the text of each
    grows in memory the allocator can reuse, instead of fresh pages (the 1,000,000-site
    output of docs/benchmarks.md, 382 MB: 4.8 s in slices of 131,072 rows, 0.8-1.1 s in
    slices of 4,096)."""
    per_row = table.nbytes / max(table.num_rows, 1)
    return int(min(CSV_SLICE_MAX, max(CSV_SLICE_MIN, CSV_SLICE_BYTES // max(per_row, 1))))


CSV_SLICE_BYTES = 1_500_000
CSV_SLICE_MIN, CSV_SLICE_MAX = 1_024, 131_072
