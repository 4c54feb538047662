"""Excel .xlsx / .xlsm: site lists in (title rows, merged cells: siting.io.sheets); a results
sheet and a summary sheet out."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from siting.formats import Format, Output

if TYPE_CHECKING:
    from siting.check import BatchAnswer


def write(answer: BatchAnswer, out: Path, output: Output) -> None:
    from siting.io.writers import write_xlsx

    write_xlsx(answer, out)


FORMAT = Format(
    id="xlsx",
    title="Excel workbook: a site list in, results and summary sheets out",
    extensions=(".xlsx", ".xlsm"),
    media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    reads="table",
    write=write,
)
