"""Site lists from files: CSV, Excel (.xlsx) and JSON, into a frame of raw values.

Every record becomes a row: a CSV line with too many fields, a JSON item that is not an object,
an Excel row with a stray cell all stay as rows and come out `invalid`, naming the row.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from siting.errors import InputError
from siting.io.encoding import decode
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
) -> RawTable:
    """Read a site list from a path (or from `data` bytes named `name`)."""
    path = Path(path)
    label = name or str(path)
    suffix = Path(label).suffix.lower()
    if data is None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise InputError(f"{label}: file not found", status_code=404) from None
        except OSError as exc:
            raise InputError(f"{label}: cannot read: {exc.strerror}") from None
    if suffix in {".csv", ".txt", ".tsv"}:
        return read_csv(data, label)
    if suffix in {".xlsx", ".xlsm"}:
        return read_xlsx(data, label, sheet)
    if suffix == ".json":
        return read_json(data, label)
    raise InputError(
        f"{label}: unsupported file type {suffix or '(none)'}; "
        "use .csv, .xlsx or .json for site lists, or a map layer (.gpkg, .shp, .zip, .geojson)",
        status_code=415,
    )


def read_csv(data: bytes, label: str) -> RawTable:
    text, enc = decode(data, label)
    if not text.strip():
        raise InputError(f"{label}: the file is empty; expected a header row and site rows")
    sample = text[:65536]
    delimiter = "\t" if sample.count("\t") > sample.count(",") else ","
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            sep=delimiter,
            engine="c",
        )
        errors: dict[int, list[str]] = {}
    except pd.errors.ParserError:
        frame, errors = _read_csv_careful(text, delimiter)
    except pd.errors.EmptyDataError:
        raise InputError(f"{label}: no header row found") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    unnamed = [c for c in frame.columns if c.startswith("Unnamed:")]
    if unnamed and all(frame[c].eq("").all() for c in unnamed):
        frame = frame.drop(columns=unnamed)
    row_numbers = np.arange(2, len(frame) + 2)
    # Blank lines are not records.
    blank = (
        frame.eq("").all(axis=1).to_numpy() if len(frame.columns) else np.zeros(len(frame), bool)
    )
    if blank.any():
        keep = ~blank
        old_to_new = np.cumsum(keep) - 1
        errors = {int(old_to_new[i]): v for i, v in errors.items() if keep[i]}
        frame, row_numbers = frame[keep].reset_index(drop=True), row_numbers[keep]
    return RawTable(frame, row_numbers, "row", label, errors, enc)


def _read_csv_careful(text: str, delimiter: str) -> tuple[pd.DataFrame, dict[int, list[str]]]:
    """Slow path for ragged files: keep every line, flag the ones with extra fields."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = next(reader)
    rows, errors = [], {}
    width = len(header)
    for i, row in enumerate(reader):
        if len(row) > width:
            extra = [v for v in row[width:] if v.strip()]
            if extra:
                errors[i] = [
                    f"has {len(row)} fields but the header has {width}; "
                    f"extra values {extra[:3]} (a comma inside a value needs quotes)"
                ]
        rows.append((row + [""] * width)[:width])
    return pd.DataFrame(rows, columns=header, dtype=str), errors


def read_xlsx(data: bytes, label: str, sheet: str | None = None) -> RawTable:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a broken file
        raise InputError(f"{label}: not a readable .xlsx workbook ({exc})") from None
    try:
        if sheet is not None:
            if sheet not in wb.sheetnames:
                raise InputError(f"{label}: no sheet {sheet!r}; sheets: {', '.join(wb.sheetnames)}")
            ws = wb[sheet]
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
            raise InputError(f"{label}: sheet {ws.title!r} is empty")
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
    return RawTable(frame, np.array(numbers, dtype=np.int64), "row", label, errors)


def read_json(data: bytes, label: str) -> RawTable:
    text, _ = decode(data, label)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{label}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    if isinstance(doc, dict) and "sites" in doc:
        doc = doc["sites"]
    if not isinstance(doc, list):
        raise InputError(f'{label}: expected a JSON list of sites or an object with "sites"')
    frame, errors = records_frame(doc)
    return RawTable(frame, np.arange(1, len(doc) + 1), "record", label, errors)
