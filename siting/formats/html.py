"""The HTML report (siting.report_html): one self-contained file, offline, with a map for
map input; `lang` and `basemap` from the options, the context layers drawn under the lots."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from siting.formats import Format, Output

if TYPE_CHECKING:
    from siting.check import BatchAnswer
    from siting.report_html import ContextLayer


def _contexts(output: Output) -> list[ContextLayer] | None:
    from siting.report_html import read_contexts

    if output.geometry is None or not output.contexts:
        return None
    return read_contexts(list(output.contexts), output.options.layer_options())


def render(answer: BatchAnswer, output: Output) -> bytes:
    from siting.labels import resolve_lang
    from siting.report_html import render_html

    text = render_html(
        answer,
        resolve_lang(output.options.lang, answer),  # given, else the input headers' language
        output.options.basemap,
        geometry=output.geometry,
        contexts=_contexts(output),
    )
    return text.encode("utf-8")


def write(answer: BatchAnswer, out: Path, output: Output) -> None:
    out.write_bytes(render(answer, output))


FORMAT = Format(
    id="html",
    title="HTML report: summary, charts, the sites, and a map for map input (offline)",
    extensions=(".html", ".htm"),
    media_type="text/html; charset=utf-8",
    write=write,
    render=render,
    geometry="optional",
    out_extensions=(".html", ".htm"),
)
