"""JSON: site records in (a list, or {"sites": [...]}); the batch answer of SPEC section 4 out."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from siting.formats import Format, Output

if TYPE_CHECKING:
    from siting.check import BatchAnswer


def write(answer: BatchAnswer, out: Path, output: Output) -> None:
    from siting.io.writers import write_json

    write_json(answer, out)


def render(answer: BatchAnswer, output: Output) -> bytes:
    return orjson.dumps(answer.as_dict())


FORMAT = Format(
    id="json",
    title="JSON: site records in, the answer (receipt, summary, results) out",
    extensions=(".json",),
    media_type="application/json",
    reads="table",
    write=write,
    render=render,
)
