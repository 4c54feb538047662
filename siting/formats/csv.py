"""CSV: site lists in (UTF-8, UTF-8 with BOM, GBK, ...; also .txt and .tsv); one row per site
out, UTF-8 with a BOM so that Excel opens it right, formulas neutralised, in the language of
`--lang` (default: Chinese when the input's headers are; siting.labels). Written by Arrow."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

from siting.formats import Format, Output

if TYPE_CHECKING:
    import pandas as pd

    from siting.check import BatchAnswer


def table(answer: BatchAnswer, output: Output) -> pd.DataFrame:
    """The flat result table in the output's language."""
    from siting.check import BatchAnswer
    from siting.labels import localise_frame, resolve_lang

    lang = resolve_lang(output.options.lang, answer)
    # a few labels per column: as dictionary columns, written as text by Arrow's writer
    frame = answer.frame(coded=True) if isinstance(answer, BatchAnswer) else answer.frame()
    return localise_frame(frame, answer, lang)


def render(answer: BatchAnswer, output: Output) -> bytes:
    from siting.io.writers import write_csv

    sink = io.BytesIO()
    write_csv(table(answer, output), sink)
    return sink.getvalue()


def write(answer: BatchAnswer, out: Path, output: Output) -> None:
    from siting.io.writers import write_csv

    with out.open("wb") as sink:
        write_csv(table(answer, output), sink)


FORMAT = Format(
    id="csv",
    title="CSV: a site list in, one row per site out (UTF-8 with BOM)",
    extensions=(".csv", ".txt", ".tsv"),
    media_type="text/csv; charset=utf-8",
    reads="table",
    write=write,
    render=render,
)
