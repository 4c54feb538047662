"""Excel .xlsx / .xlsm: site lists in (title rows, merged cells: siting.io.sheets); out, a
workbook for people (siting.io.workbook): results (frozen header, filters, coloured statuses),
summary, by category and by city, in the language of `--lang` (default: Chinese when the
input's headers are)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from siting.formats import Format, Output

if TYPE_CHECKING:
    from siting.check import BatchAnswer


def write(answer: BatchAnswer, out: Path, output: Output) -> None:
    from siting.io.writers import write_xlsx
    from siting.labels import resolve_lang

    write_xlsx(answer, out, resolve_lang(output.options.lang, answer), output.progress)


FORMAT = Format(
    id="xlsx",
    title="Excel workbook: a site list in; results, summary, by category and by city out",
    extensions=(".xlsx", ".xlsm"),
    media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    reads="table",
    write=write,
)
