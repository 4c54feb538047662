"""The formats `siting` reads and writes: one module per format in this package, each with a
`FORMAT` (its id, extensions, media type, whether it is read as a site list or a map layer,
whether its output carries geometry, and its writer). The CLI's `-o FILE`, the HTTP
`?format=`, the upload checks and `siting formats` all come from here: adding a format is one
new module in this folder (found when the package is imported) and nothing else.

The way Datasette registers output renderers, and geopandas keeps one module per format under
`geopandas/io/`.
"""

from __future__ import annotations

import importlib
import pkgutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from siting.errors import InputError, InvalidOption
from siting.request import CheckOptions

if TYPE_CHECKING:
    from siting.check import BatchAnswer

Reads = Literal["table", "layer"]
Geometry = Literal["none", "optional", "required"]


@dataclass(frozen=True)
class Output:
    """What a writer gets besides the answer: the lots' geometry (map input only), the
    context layers of the run, the options (language, base map, how layers are read), and
    where a long write says how far it is (a fraction, 0-1; the XLSX writer uses it)."""

    geometry: Any = None
    contexts: tuple[str, ...] = ()
    options: CheckOptions = field(default_factory=CheckOptions)
    progress: Callable[[float], None] | None = None


Writer = Callable[["BatchAnswer", Path, Output], None]
Renderer = Callable[["BatchAnswer", Output], bytes]


@dataclass(frozen=True)
class Format:
    id: str  # as `?format=` names it
    title: str
    extensions: tuple[str, ...]  # the first is the one an output file gets
    media_type: str
    reads: Reads | None = None  # read as a site list ("table") or a map layer ("layer")
    write: Writer | None = None
    render: Renderer | None = None  # bytes without a file (default: written to a temp file)
    geometry: Geometry = "none"  # "required": its output needs map input
    out_extensions: tuple[str, ...] = ()  # what an output file may end with (default: the first)

    @property
    def writes(self) -> bool:
        return self.write is not None

    @property
    def written_as(self) -> tuple[str, ...]:
        return self.out_extensions or self.extensions[:1]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "extensions": list(self.extensions),
            "media_type": self.media_type,
            "reads": self.reads,
            "writes": self.writes,
            "geometry": self.geometry,
        }


def _discover() -> dict[str, Format]:
    found: dict[str, Format] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        fmt = getattr(module, "FORMAT", None)
        if isinstance(fmt, Format):
            if fmt.id in found:
                raise RuntimeError(f"format id {fmt.id!r} is declared twice")
            found[fmt.id] = fmt
    return found


FORMATS: dict[str, Format] = _discover()


def by_extension(path: str | Path) -> Format | None:
    suffix = Path(path).suffix.lower()
    return next((f for f in FORMATS.values() if suffix in f.extensions), None)


def input_extensions(reads: Reads | None = None) -> frozenset[str]:
    """Extensions read as site lists ("table"), map layers ("layer"), or either (None)."""
    return frozenset(
        ext
        for f in FORMATS.values()
        if f.reads is not None and (reads is None or f.reads == reads)
        for ext in f.extensions
    )


def output_formats() -> list[Format]:
    return [f for f in FORMATS.values() if f.writes]


def output_names() -> str:
    """'.json, .csv, ... or .html' for messages."""
    exts = [f.extensions[0] for f in output_formats()]
    return ", ".join(exts[:-1]) + " or " + exts[-1]


def needs_geometry(out: str | Path | None) -> bool:
    """True when an output file of this name can only be written from map input."""
    suffix = Path(out).suffix.lower() if out is not None else ""
    fmt = next((f for f in output_formats() if suffix in f.written_as), None)
    return fmt is not None and fmt.geometry == "required"


def output_format(out: str | Path) -> Format:
    """The format an output file's extension names; InvalidOption otherwise."""
    suffix = Path(out).suffix.lower()
    fmt = next((f for f in output_formats() if suffix in f.written_as), None)
    if fmt is None:
        suffix = Path(out).suffix.lower() or "(none)"
        raise InvalidOption(f"{out}: unknown output format {suffix}; use {output_names()}")
    return fmt


def _usable(fmt: Format, output: Output, what: str) -> None:
    if fmt.geometry == "required" and output.geometry is None:
        tables = ", ".join(f.id for f in output_formats() if f.geometry == "none")
        raise InvalidOption(
            f"{what}: {fmt.id} output needs map input (a layer with geometry); "
            f"use {tables} for a site list"
        )


def write_answer(answer: BatchAnswer, out: str | Path, output: Output | None = None) -> Path:
    """Write `answer` to `out` in the format its extension names."""
    out = Path(out)
    output = output or Output()
    fmt = output_format(out)
    _usable(fmt, output, str(out))
    assert fmt.write is not None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fmt.write(answer, out, output)
    except OSError as exc:
        raise InputError(f"{out}: cannot write: {exc.strerror or exc}") from None
    return out


def render(answer: BatchAnswer, fmt_id: str, output: Output | None = None) -> tuple[bytes, str]:
    """The answer as bytes in format `fmt_id`, with its media type."""
    output = output or Output()
    fmt = FORMATS.get(fmt_id)
    if fmt is None or not fmt.writes:
        names = ", ".join(f.id for f in output_formats())
        raise InvalidOption(f"unknown format {fmt_id!r}; use {names}")
    _usable(fmt, output, f"format={fmt_id}")
    if fmt.render is not None:
        return fmt.render(answer, output), fmt.media_type
    assert fmt.write is not None
    with tempfile.TemporaryDirectory(prefix="siting-render-") as tmp:
        path = Path(tmp) / f"answer{fmt.extensions[0]}"
        fmt.write(answer, path, output)
        return path.read_bytes(), fmt.media_type
