"""CSV: site lists in (UTF-8, UTF-8 with BOM, GBK, ...; also .txt and .tsv); one row per site
out, UTF-8 with a BOM so that Excel opens it right, formulas neutralised."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from siting.formats import Format, Output

if TYPE_CHECKING:
    from siting.check import BatchAnswer


def render(answer: BatchAnswer, output: Output) -> bytes:
    from siting.io.writers import neutralise

    text: str = neutralise(answer.frame()).to_csv(index=False)
    return text.encode("utf-8-sig")


def write(answer: BatchAnswer, out: Path, output: Output) -> None:
    out.write_bytes(render(answer, output))


FORMAT = Format(
    id="csv",
    title="CSV: a site list in, one row per site out (UTF-8 with BOM)",
    extensions=(".csv", ".txt", ".tsv"),
    media_type="text/csv; charset=utf-8",
    reads="table",
    write=write,
    render=render,
)
