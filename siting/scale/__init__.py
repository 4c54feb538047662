"""Partitioned checks on Dask (`siting check ... --engine dask`): the same answer as the
in-memory engine, for layers that do not fit one machine's memory, on a LocalCluster or an
existing Dask cluster. See docs/scale.md; the method is described in `engine.py`.

Needs the `scale` extra: pip install 'siting[scale]' (dask, distributed, dask-geopandas).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from siting.errors import InvalidOption

if TYPE_CHECKING:
    from siting.request import CheckOptions
    from siting.scale.engine import Settings

ENGINES = ("memory", "dask", "auto")
# --engine auto: the in-memory engine's peak, measured (docs/scale.md), is about
# LOT_MEMORY per parking lot + CONTEXT_MEMORY x the context files' bytes + MEMORY_BASE
# (1M lots x 1M polygons of 129 vertices, a 4.2 GB GeoPackage: 10 GB). dask is chosen when
# that estimate exceeds AUTO_SHARE of the memory available now, or when an input is
# GeoParquet (only dask reads it).
AUTO_SHARE = 0.5
LOT_MEMORY = 2_000
CONTEXT_MEMORY = 2.0
MEMORY_BASE = 512 * 2**20


def parse_size(text: str | int | None) -> int | None:
    """'8GB', '512MiB', '40%' (of the machine's memory), or bytes."""
    if text is None or isinstance(text, int):
        return text
    t = str(text).strip().lower().replace(" ", "")
    try:
        if t.endswith("%"):
            import psutil  # type: ignore[import-untyped,unused-ignore]

            return int(psutil.virtual_memory().total * float(t[:-1]) / 100)
        units = {
            "kib": 2**10,
            "mib": 2**20,
            "gib": 2**30,
            "tib": 2**40,
            "kb": 10**3,
            "mb": 10**6,
            "gb": 10**9,
            "tb": 10**12,
            "k": 10**3,
            "m": 10**6,
            "g": 10**9,
            "b": 1,
        }
        for unit, factor in units.items():
            if t.endswith(unit):
                return int(float(t[: -len(unit)]) * factor)
        return int(float(t))
    except (ValueError, OverflowError):
        raise InvalidOption(
            f"--memory-budget {text!r}: write a size such as 8GB, 512MiB or 40%"
        ) from None


def checked_budget(value: str) -> str:
    """A memory budget as the option and the server's setting validate it (pydantic turns the
    ValueError into the field's error): a size above 0, else the words to write one."""
    try:
        size = parse_size(value)
    except InvalidOption:
        raise ValueError(f"{value!r}: write a size such as 8GB, 512MiB or 40%") from None
    if size is None or size <= 0:
        raise ValueError(f"{value!r}: a memory budget must be more than 0")
    return value


def input_bytes(refs: list[str]) -> int:
    from siting.io.paths import parse_layer_ref

    total = 0
    for ref in refs:
        path = Path(parse_layer_ref(ref)[0])
        if path.is_dir():
            total += sum(p.stat().st_size for p in path.rglob("*.parquet"))
        elif path.suffix.lower() == ".shp":
            total += sum(p.stat().st_size for p in path.parent.glob(path.stem + ".*"))
        elif path.is_file():
            total += path.stat().st_size
    return total


def is_parquet(ref: str) -> bool:
    from siting.io.paths import parse_layer_ref

    path = Path(parse_layer_ref(ref)[0])
    return path.is_dir() or path.suffix.lower() in {".parquet", ".geoparquet"}


def _lot_count(ref: str) -> int:
    """Features of the parking layer (GDAL's count), or a guess from its size."""
    from siting.io.paths import parse_layer_ref

    path, layer = parse_layer_ref(ref)
    try:
        import pyogrio

        return int(pyogrio.read_info(path, layer=layer).get("features", -1))
    except Exception:
        return input_bytes([ref]) // 200


def memory_estimate(input_path: str, contexts: list[str]) -> int:
    """The in-memory engine's peak, estimated from the inputs (bytes)."""
    lots = max(_lot_count(input_path), 0)
    return int(LOT_MEMORY * lots + CONTEXT_MEMORY * input_bytes(contexts) + MEMORY_BASE)


def choose_engine(
    engine: str, input_path: str, contexts: list[str], *, available: int | None = None
) -> str:
    """`memory` or `dask` for a map job. auto: dask when an input is GeoParquet, or when the
    in-memory peak estimated from the inputs (`memory_estimate`) is more than AUTO_SHARE of
    the memory available."""
    if engine not in ENGINES:
        raise InvalidOption(f"--engine {engine!r}: use one of {', '.join(ENGINES)}")
    if engine != "auto":
        return engine
    refs = [input_path, *contexts]
    if any(is_parquet(r) for r in refs):
        return "dask"
    if available is None:
        import psutil  # type: ignore[import-untyped,unused-ignore]

        available = psutil.virtual_memory().available
    return "dask" if memory_estimate(input_path, contexts) > AUTO_SHARE * available else "memory"


def settings_of(options: CheckOptions) -> Settings:
    """The partitioned run's settings from a check's options: its scheduler (an existing
    cluster) and memory budget."""
    from siting.scale.engine import Settings

    return Settings(scheduler=options.scheduler, memory_budget=parse_size(options.memory_budget))


def check_partitioned(
    parking_ref: str,
    context_refs: list[str],
    pack: Any,
    *,
    as_of: Any = None,
    options: Any = None,
    out: str | Path | None = None,
    settings: Any = None,
    progress: Callable[[str, float], None] | None = None,
) -> Any:
    """Classify and check the parking layer on Dask, partition by partition. With `out` a
    .gpkg, .parquet or folder, the results are streamed there in input order (never held
    whole); otherwise (and for other outputs, written here) they are put together in memory.
    Returns a `PartitionedAnswer` (receipt, summary; frame and results when put together)."""
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError:
        raise InvalidOption(
            "--engine dask needs dask and distributed: pip install 'siting[scale]'"
        ) from None
    from siting.scale.answer import (
        STREAMED,
        answer_of,
        assemble,
        cleanup,
        is_directory_output,
        stream_out,
    )
    from siting.scale.engine import run

    step = progress or (lambda stage, fraction: None)
    folder = out is not None and str(out).endswith(("/", os.sep))  # -o results.parquet/
    out = Path(out) if out is not None else None
    if out is not None and out.suffix.lower() == ".html":
        raise InvalidOption(f"{out}: the HTML report needs --engine memory")
    streamed = out is not None and (
        out.suffix.lower() in STREAMED or folder or is_directory_output(out)
    )
    if _empty(parking_ref, options):  # nothing to partition: the in-memory engine answers
        return _in_memory(parking_ref, context_refs, pack, as_of, options, out)
    plan, specs, summaries, digest, facts = run(
        parking_ref,
        context_refs,
        pack,
        as_of=as_of,
        options=options,
        settings=settings,
        output="arrow" if streamed else "assemble",
        progress=step,
    )
    try:
        answer = answer_of(plan, summaries, digest, facts)
        if streamed and out is not None:
            step(f"writing {out.name}", 0.88)
            started = time.perf_counter()
            rows = [s.rows if s.rows is not None else np.zeros(0, np.int64) for s in specs]
            stream_out(plan, specs, rows, out, facts, folder=folder)
            answer.times["output"] = time.perf_counter() - started
        else:
            step("joining partitions", 0.88)
            assemble(plan, answer, specs)
            if out is not None:
                from siting.formats import Output, write_answer

                # duck-typed: what the writers read of a BatchAnswer
                written = Output(answer.geometry, tuple(context_refs))
                write_answer(cast(Any, answer), out, written)
    finally:
        cleanup(plan)
    return answer


def _empty(parking_ref: str, options: Any) -> bool:
    from siting.scale.sources import open_source

    layer = getattr(options, "layer", None)
    return open_source(parking_ref, layer=layer).features == 0


def _in_memory(
    parking_ref: str,
    context_refs: list[str],
    pack: Any,
    as_of: Any,
    options: Any,
    out: Path | None,
) -> Any:
    from siting.formats import Output, write_answer
    from siting.geo.pipeline import check_layers

    answer, geometry = check_layers(parking_ref, context_refs, pack, as_of=as_of, options=options)
    if out is not None:
        write_answer(answer, Path(out), Output(geometry, tuple(context_refs)))
    cast(Any, answer).geometry = geometry  # as a PartitionedAnswer has it
    return answer


__all__ = ["ENGINES", "check_partitioned", "choose_engine", "parse_size", "settings_of"]
