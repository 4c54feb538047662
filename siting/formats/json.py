"""JSON: site records in (a list, or {"sites": [...]}); the batch answer of SPEC section 4 out
(with --lang zh given, its explanation and note texts in Chinese; nothing else changes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from siting.formats import Format, Output

if TYPE_CHECKING:
    from siting.check import BatchAnswer


def _document(answer: BatchAnswer, output: Output) -> dict[str, Any]:
    """The answer (SPEC section 4): field names and status words as SPEC has them in every
    language; with --lang zh given, the explanation and note texts in Chinese."""
    doc: dict[str, Any] = answer.as_dict()
    if output.options.lang == "zh":
        from siting.labels import localise_results

        doc = {**doc, "results": localise_results(doc["results"], answer.pack)}
    return doc


def write(answer: BatchAnswer, out: Path, output: Output) -> None:
    with out.open("w", encoding="utf-8") as fh:
        json.dump(_document(answer, output), fh, ensure_ascii=False, indent=1)
        fh.write("\n")


def render(answer: BatchAnswer, output: Output) -> bytes:
    return orjson.dumps(_document(answer, output))


FORMAT = Format(
    id="json",
    title="JSON: site records in, the answer (receipt, summary, results) out",
    extensions=(".json",),
    media_type="application/json",
    reads="table",
    write=write,
    render=render,
)
