"""Site lists from files: CSV, Excel (.xlsx) and JSON, into a frame of raw values.

Every record becomes a row: a CSV line with too many fields, a JSON item that is not an object,
an Excel row with a stray cell all stay as rows and come out `invalid`, naming the row. A CSV
quote that is never closed on its line (so that it would swallow the lines after it into one
value) is caught: each of those lines is read as its own row, and the line with the stray
quote comes out `invalid`, naming the line. A file that cannot be read at all raises an
`InputError` kind (`BrokenFile`, `UnsupportedFormat`, `InputNotFound`, `InputTooLarge`) naming
the file and the problem, never a parser's own exception.
"""

from __future__ import annotations

import csv
import io
import json
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from siting.errors import BrokenFile, InputError, InputNotFound, InvalidOption, UnsupportedFormat
from siting.io.encoding import decode, sniff
from siting.io.limits import (
    MAX_JSON_DEPTH,
    ExpansionLimits,
    bracket_depth,
    check_zip_expansion,
    json_too_deep,
)
from siting.records import records_frame

TABULAR = {".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".json"}


@dataclass
class RawTable:
    frame: pd.DataFrame  # raw values, header names as in the file
    row_numbers: np.ndarray  # as the user counts them: CSV/Excel row (header = 1), JSON item
    row_kind: str
    source: str
    errors: dict[int, list[str]] = field(default_factory=dict)
    encoding: str | None = None


def read_sites(
    path: str | Path,
    *,
    sheet: str | None = None,
    data: bytes | None = None,
    name: str | None = None,
    limits: ExpansionLimits | None = None,
) -> RawTable:
    """Read a site list from a path (or from `data` bytes named `name`)."""
    path = Path(path)
    label = name or str(path)
    suffix = Path(label).suffix.lower()
    if suffix not in TABULAR:
        raise UnsupportedFormat(
            f"{label}: unsupported file type {suffix or '(none)'}; "
            "use .csv, .xlsx or .json for site lists, or a map layer (.gpkg, .shp, .zip, .geojson)"
        )
    if data is None:
        data = read_bytes(path, label)
    if suffix in {".csv", ".txt", ".tsv"}:
        return read_csv(data, label)
    if suffix in {".xlsx", ".xlsm"}:
        return read_xlsx(data, label, sheet, limits=limits)
    return read_json(data, label)


def read_bytes(path: Path, label: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputNotFound(f"{label}: file not found") from None
    except IsADirectoryError:
        raise UnsupportedFormat(f"{label}: is a folder, not a file") from None
    except OSError as exc:
        raise BrokenFile(f"{label}: cannot read: {exc.strerror or type(exc).__name__}") from None


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0][:200] if text else "") or type(exc).__name__


# ---------------------------------------------------------------------------------- CSV


def read_csv(data: bytes, label: str) -> RawTable:
    text, enc = decode(data, label)
    if "\r" in text:  # one kind of line end, as the parsers and the line count below see them
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise BrokenFile(f"{label}: the file is empty; expected a header row and site rows")
    sample = text[:65536]
    delimiter = "\t" if sample.count("\t") > sample.count(",") else ","
    skipped = 0  # blank lines before the header (as Excel's first non-empty row)
    while True:
        end = text.find("\n")
        if end < 0 or text[:end].strip(delimiter + " \t"):
            break
        text, skipped = text[end + 1 :], skipped + 1
    spans = None
    try:
        with warnings.catch_warnings():
            # a first row longer than the header would silently become the index: no
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                io.StringIO(text),
                dtype=str,
                keep_default_na=False,
                skip_blank_lines=False,
                sep=delimiter,
                engine="c",
                index_col=False,
            )
        errors: dict[int, list[str]] = {}
    except (pd.errors.ParserError, pd.errors.ParserWarning):
        frame, errors, spans = _read_csv_careful(text, delimiter, label)
    except pd.errors.EmptyDataError:
        raise BrokenFile(f"{label}: no header row found") from None
    except (ValueError, OverflowError, MemoryError) as exc:
        raise BrokenFile(f"{label}: cannot be read as CSV ({_short(exc)})") from None
    frame, errors = _runaway_quotes(frame, errors, spans, text, delimiter, label, skipped)
    _cut_last_row(frame, errors, text, delimiter, skipped)
    _too_deep_cells(frame, errors)
    frame.columns = [str(c).strip() for c in frame.columns]
    unnamed = [c for c in frame.columns if c.startswith("Unnamed:")]
    if unnamed and all(frame[c].eq("").all() for c in unnamed):
        frame = frame.drop(columns=unnamed)
    row_numbers = np.arange(2, len(frame) + 2) + skipped
    # Blank lines are not records (a line whose only values are beyond the header is one).
    blank = (
        frame.eq("").all(axis=1).to_numpy(dtype=bool, copy=True)
        if len(frame.columns)
        else np.zeros(len(frame), bool)
    )
    if errors:
        blank[np.fromiter(errors, dtype=np.int64)] = False
    if blank.any():
        keep = ~blank
        old_to_new = np.cumsum(keep) - 1
        errors = {int(old_to_new[i]): v for i, v in errors.items() if keep[i]}
        frame, row_numbers = frame[keep].reset_index(drop=True), row_numbers[keep]
    return RawTable(frame, row_numbers, "row", label, errors, enc)


def _read_csv_careful(
    text: str, delimiter: str, label: str
) -> tuple[pd.DataFrame, dict[int, list[str]], list[tuple[int, int]]]:
    """Slow path for ragged files: keep every line, flag the ones with extra fields. Also
    returns each record's first and last physical line (0-based; the header's is first)."""
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, len(text) + 1))  # a long value is not an error here
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        header = next(reader)
        spans = [(0, reader.line_num - 1)]
        rows, errors = [], {}
        width = len(header)
        for i, row in enumerate(reader):
            spans.append((spans[-1][1] + 1, reader.line_num - 1))
            if len(row) > width:
                extra = [v for v in row[width:] if v.strip()]
                if extra:
                    errors[i] = [
                        f"has {len(row)} fields but the header has {width}; "
                        f"extra values {extra[:3]} (a comma inside a value needs quotes)"
                    ]
            rows.append((row + [""] * width)[:width])
    except csv.Error as exc:
        line = reader.line_num
        raise BrokenFile(f"{label}: line {line}: cannot be read as CSV ({exc})") from None
    finally:
        csv.field_size_limit(limit)
    if not header or not any(h.strip() for h in header):
        raise BrokenFile(f"{label}: no header row found")
    return pd.DataFrame(rows, columns=header, dtype=str), errors, spans


def _too_deep_cells(frame: pd.DataFrame, errors: dict[int, list[str]]) -> None:
    """A cell of JSON text (a charger schedule) nested deeper than MAX_JSON_DEPTH would make
    the record's parser recurse without end: the cell is emptied and its row is invalid.
    Only cells that start with `[` or `{` are looked at."""
    for k in range(frame.shape[1]):
        col = frame.iloc[:, k]
        try:
            starts = col.str.lstrip().str[:1].isin(("[", "{")).to_numpy(dtype=bool)
        except (AttributeError, TypeError):
            continue
        for i in np.flatnonzero(starts).tolist():
            value = col.iloc[i]
            if len(value) > 2 * MAX_JSON_DEPTH and bracket_depth(value) > MAX_JSON_DEPTH:
                frame.iat[i, k] = ""
                errors.setdefault(i, []).append(
                    f"{frame.columns[k]}: JSON nested deeper than {MAX_JSON_DEPTH} levels; "
                    "the value is not read"
                )


def _cut_last_row(
    frame: pd.DataFrame, errors: dict, text: str, delimiter: str, skipped: int = 0
) -> None:
    """A file that ends without a line break, in a row with fewer fields than the header,
    was most likely cut short: that row's values cannot be trusted (a count cut from 150 to
    15), so it is invalid, saying so."""
    if text.endswith("\n") or not len(frame) or not len(frame.columns):
        return
    tail = text[text.rfind("\n") + 1 :]
    last = frame.iloc[-1]
    if not tail.strip(delimiter + " ") or last.astype(str).str.contains("\n").any():
        return
    fields = len(next(csv.reader([tail], delimiter=delimiter), []))
    if fields < len(frame.columns):
        errors.setdefault(len(frame) - 1, []).append(
            f"line {skipped + text.count(chr(10)) + 1} of the file: the file ends in the middle of "
            f"this row ({fields} of {len(frame.columns)} fields, no line break after it): "
            "is the file cut short? The row is not checked"
        )


def _delimiters(lines: list[str], first: int, last: int, delimiter: str) -> list[int]:
    return [lines[j].count(delimiter) for j in range(first, min(last, len(lines) - 1) + 1)]


def _runaway_quotes(
    frame: pd.DataFrame,
    errors: dict[int, list[str]],
    spans: list[tuple[int, int]] | None,
    text: str,
    delimiter: str,
    label: str,
    skipped: int = 0,
) -> tuple[pd.DataFrame, dict[int, list[str]]]:
    """Find records that run over several lines because a quote was never closed, and read
    each of their lines as a row of its own.

    A value may hold a line break when it is quoted (an address over two lines, as Excel
    writes it). A quote that is opened by mistake looks different: either the record it
    makes has another number of fields than the header (a quote running to the end of the
    file leaves a record of a few fields; one closed by another stray quote, a record of
    many), or the line it is on is a whole record (as many delimiters as a line of the file
    has) and so is a line it runs over. Such a record is split back into its lines; the line
    the quote opens on, and a later line with an odd number of quotes, are `invalid`. The
    check costs nothing for files whose records are one line each (the usual case): the
    number of lines equals the number of records.
    """
    lines_total = text.count("\n") + (0 if text.endswith("\n") else 1)
    header_extra = sum(str(c).count("\n") for c in frame.columns)
    if spans is None and lines_total == 1 + header_extra + len(frame) and not header_extra:
        return frame, errors
    if spans is not None and all(a == b for a, b in spans):
        return frame, errors
    lines = text.split("\n")
    width = len(frame.columns)
    if spans is None:  # records from pandas: where each starts, from the line breaks in it
        extra = np.zeros(len(frame), np.int64)
        for c in frame.columns:
            col = frame[c]
            has = col.str.contains("\n", regex=False).fillna(False).to_numpy(dtype=bool)
            if has.any():
                extra[has] += col[has].str.count("\n").to_numpy(dtype=np.int64)
        before = np.concatenate(([0], np.cumsum(extra)[:-1]))
        first = 1 + header_extra + np.arange(len(frame)) + before
        spans = [(0, header_extra), *zip(first.tolist(), (first + extra).tolist(), strict=True)]
    # the header first: a runaway quote there swallows rows, and there is no row to flag
    h0, h1 = spans[0]
    if h1 > h0:
        ref = lines[h1 + 1].count(delimiter) if h1 + 1 < len(lines) else lines[0].count(delimiter)
        if max(_delimiters(lines, 1, h1, delimiter)) >= max(1, ref):
            raise BrokenFile(
                f'{label}: line {skipped + 1} (the header): a quote (") is opened and not '
                f"closed on the line, so the header runs on to line {skipped + h1 + 1}; close "
                "the quote or remove it"
            )
    if width < 2:
        return frame, errors
    # a whole line's delimiters: the header's, or fewer if the lines of the file have fewer
    typical = sorted(line.count(delimiter) for line in lines[1:2001] if line.strip())
    full = max(1, min(width - 1, typical[len(typical) // 2] if typical else width - 1))
    split: dict[int, tuple[int, int]] = {}
    for r, (a, b) in enumerate(spans[1:]):
        if b <= a:
            continue
        record = io.StringIO("\n".join(lines[a : b + 1]), newline="")
        fields = len(next(csv.reader(record, delimiter=delimiter), []))
        whole_lines = (
            lines[a].count(delimiter) >= full
            and max(_delimiters(lines, a + 1, b, delimiter)) >= full
        )
        if fields != width or whole_lines:
            split[r] = (a, b)
    if not split:
        return frame, errors
    pieces, new_errors, at, shift = [], {}, 0, 0
    old_errors = dict(errors)
    for r, (a, b) in sorted(split.items()):
        pieces.append(frame.iloc[at:r])
        for i in [i for i in old_errors if at <= i < r]:
            new_errors[i + shift] = old_errors.pop(i)
        old_errors.pop(r, None)
        rows = []
        for j in range(a, min(b, len(lines) - 1) + 1):
            line = lines[j]
            odd = line.count('"') % 2 == 1
            quoting = csv.QUOTE_NONE if odd else csv.QUOTE_MINIMAL
            row = next(csv.reader([line], delimiter=delimiter, quoting=quoting), [])
            k = r + shift + len(rows)
            if j == a:
                new_errors[k] = [
                    f'line {skipped + j + 1} of the file: a quote (") is opened and not closed '
                    f"on its line; as written the value runs on to line {skipped + b + 1}, merging "
                    f"{b - a + 1} lines into one. Each line is read as its own row; close "
                    "the quote (or remove it)"
                ]
            elif odd:
                new_errors[k] = [
                    f"line {skipped + j + 1} of the file: this line's quote (\") closes the "
                    f"one left open on line {skipped + a + 1}, merging lines "
                    f"{skipped + a + 1}-{skipped + j + 1} into one value. "
                    "Each line is read as its own row; check the quotes on both lines"
                ]
            elif len(row) > width and any(v.strip() for v in row[width:]):
                new_errors[k] = [
                    f"has {len(row)} fields but the header has {width}; "
                    f"extra values {[v for v in row[width:] if v.strip()][:3]}"
                ]
            rows.append((row + [""] * width)[:width])
        pieces.append(pd.DataFrame(rows, columns=frame.columns, dtype=str))
        shift += len(rows) - 1
        at = r + 1
    pieces.append(frame.iloc[at:])
    for i, v in old_errors.items():
        new_errors[i + shift] = v
    out = pd.concat(pieces, ignore_index=True)
    return out, dict(sorted(new_errors.items()))


# ---------------------------------------------------------------------------------- Excel


def read_xlsx(
    data: bytes, label: str, sheet: str | None = None, limits: ExpansionLimits | None = None
) -> RawTable:
    """The first sheet (or `sheet`); the workbook's expansion is checked before it is parsed."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            check_zip_expansion(zf, label, limits, what=".xlsx workbook")
    except zipfile.BadZipFile:
        what = sniff(data)
        if what is not None and what.startswith("a zip"):
            raise BrokenFile(
                f"{label}: the .xlsx workbook is damaged or cut short (its zip directory "
                "cannot be read)"
            ) from None
        if what is None and data.strip() and b"\x00" not in data[:4096]:
            what = "text (a CSV file named .xlsx?)"
        raise BrokenFile(
            f"{label}: not an .xlsx workbook" + (f": it is {what}" if what else " (not a zip)")
        ) from None
    except (OSError, EOFError, ValueError, RuntimeError, NotImplementedError) as exc:
        raise BrokenFile(f"{label}: not a readable .xlsx workbook ({_short(exc)})") from None
    try:
        return _read_xlsx(data, label, sheet)
    except InputError:
        raise
    except Exception as exc:  # openpyxl, zipfile, zlib and XML parsers raise many types
        raise BrokenFile(f"{label}: not a readable .xlsx workbook ({_short(exc)})") from None


def _read_xlsx(data: bytes, label: str, sheet: str | None) -> RawTable:
    from openpyxl import load_workbook

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # openpyxl warns about styles and extensions
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        if sheet is not None:
            if sheet not in wb.sheetnames:
                raise InvalidOption(
                    f"{label}: no sheet {sheet!r}; sheets: {', '.join(wb.sheetnames)}"
                )
            ws = wb[sheet]
        elif not wb.sheetnames:
            raise BrokenFile(f"{label}: the workbook has no sheet")
        else:
            ws = wb[wb.sheetnames[0]]
        rows = ws.iter_rows(values_only=True)
        header, header_row = None, 0
        for number, row in enumerate(rows, start=1):
            header_row = number
            if row and any(v is not None and str(v).strip() for v in row):
                header = [str(v).strip() if v is not None else "" for v in row]
                break
        if header is None:
            raise BrokenFile(f"{label}: sheet {ws.title!r} is empty")
        while header and header[-1] == "":
            header.pop()
        width = len(header)
        records, numbers, errors = [], [], {}
        for excel_row, row in enumerate(rows, start=header_row + 1):
            row = list(row or ())
            if not any(v is not None and str(v).strip() for v in row):
                continue
            extra = [v for v in row[width:] if v is not None and str(v).strip()]
            if extra:
                errors[len(records)] = [f"values beyond the last header column: {extra[:3]}"]
            records.append((row + [None] * width)[:width])
            numbers.append(excel_row)
    finally:
        wb.close()
    names = [h or f"column_{i + 1}" for i, h in enumerate(header)]
    frame = pd.DataFrame(records, columns=names, dtype=object)
    _too_deep_cells(frame, errors)
    return RawTable(frame, np.array(numbers, dtype=np.int64), "row", label, errors)


# ---------------------------------------------------------------------------------- JSON


def read_json(data: bytes, label: str) -> RawTable:
    text, _ = decode(data, label)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BrokenFile(
            f"{label}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:
        raise BrokenFile(f"{label}: JSON nested too deeply to read") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        if "digits" in str(exc):
            raise BrokenFile(f"{label}: holds a number too long to read (4,300+ digits)") from None
        raise BrokenFile(f"{label}: not usable JSON ({_short(exc)})") from None
    if isinstance(doc, dict) and "sites" in doc:
        doc = doc["sites"]
    if not isinstance(doc, list):
        raise BrokenFile(f'{label}: expected a JSON list of sites or an object with "sites"')
    if json_too_deep(doc):
        raise BrokenFile(f"{label}: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    frame, errors = records_frame(doc)
    return RawTable(frame, np.arange(1, len(doc) + 1), "record", label, errors)
