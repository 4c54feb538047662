"""JSON: site records in (a list, or {"sites": [...]}); the batch answer of SPEC section 4 out
(with --lang zh given, its explanation and note texts in Chinese; nothing else changes)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from siting.formats import Format, Output

if TYPE_CHECKING:
    from siting.check import BatchAnswer


def _document(answer: BatchAnswer, zh: bool) -> dict[str, Any]:
    """The answer (SPEC section 4): field names and status words as SPEC has them in every
    language; with --lang zh given, the explanation and note texts in Chinese."""
    doc: dict[str, Any] = answer.as_dict()
    if zh:
        from siting.labels import localise_results

        doc = {**doc, "results": localise_results(doc["results"], answer.pack)}
    return doc


def write(answer: BatchAnswer, out: Path, output: Output) -> None:
    with out.open("w", encoding="utf-8") as fh:
        json.dump(_document(answer, output.options.lang == "zh"), fh, ensure_ascii=False, indent=1)
        fh.write("\n")


def render(answer: BatchAnswer, output: Output) -> bytes:
    """The compact answer: the bytes of orjson.dumps(_document(...)), its results written
    column-wise (siting/resultjson.py) instead of as one dict per site."""
    return b"".join(answer_json(answer, output.options.lang == "zh"))


def answer_json(answer: BatchAnswer, zh: bool = False, chunk: int = 2000) -> Iterator[bytes]:
    """The compact answer, a few thousand results at a time (for writing it out in parts)."""
    from siting.check import BatchAnswer
    from siting.resultjson import ResultJSON

    if not isinstance(answer, BatchAnswer):  # a Dask run's answer: it holds result dicts
        yield orjson.dumps(_document(answer, zh))
        return
    text = None
    if zh:
        from siting.labels import texts_for

        text = texts_for(answer.pack).one
    results = ResultJSON(answer, text)
    yield b'{"receipt":' + orjson.dumps(answer.receipt)
    yield b',"summary":' + orjson.dumps(answer.summary) + b',"results":['
    n = int(answer.table.n)
    for start in range(0, n, chunk):
        yield (b"," if start else b"") + results.chunk(start, start + chunk)
    yield b"]}"


FORMAT = Format(
    id="json",
    title="JSON: site records in, the answer (receipt, summary, results) out",
    extensions=(".json",),
    media_type="application/json",
    reads="table",
    write=write,
    render=render,
)
