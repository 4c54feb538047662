"""One entry point for "check these files": a site list, or a parking layer with context
layers. Used by the CLI and the HTTP API alike."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from siting.check import check_table, option_values
from siting.columns import column_report
from siting.errors import InputError, InputTooLarge, InvalidOption
from siting.hashing import sha256_bytes
from siting.io.paths import parse_layer_ref
from siting.records import normalise
from siting.request import CheckRequest, parse_pairs
from siting.ruleset import RulePack

if TYPE_CHECKING:
    import datetime as dt

    from siting.check import BatchAnswer
    from siting.columns import ColumnReport
    from siting.geo.options import LayerOptions
    from siting.geo.output import Geometries
    from siting.io.limits import ExpansionLimits
    from siting.io.tabular import RawTable

__all__ = [
    "SiteList",
    "check_files",
    "check_site_list",
    "engine_of",
    "is_map_job",
    "parse_pairs",
    "read_site_list",
    "run_check",
]


def is_map_job(input_path: str, contexts: list[str], output_suffix: str | None = None) -> bool:
    """A map check (classify lots from layers) rather than a site list: the input is a map
    layer, there are context layers, or the output needs geometry (siting.formats)."""
    from siting.formats import input_extensions, needs_geometry

    suffix = Path(parse_layer_ref(input_path)[0]).suffix.lower()
    return (
        suffix in input_extensions("layer")
        or bool(contexts)
        or needs_geometry("out" + (output_suffix or ""))
    )


def context_refs(request: CheckRequest) -> list[str]:
    """The request's context layers as FILE or FILE:layer (a layer named by
    `options.context_layer` for the file's path or name)."""
    layers = request.options.context_layer
    out = []
    for ref in request.contexts:
        path, layer = parse_layer_ref(ref)
        layer = layer or layers.get(ref) or layers.get(path) or layers.get(Path(path).name)
        out.append(f"{path}:{layer}" if layer else ref)
    return out


def engine_of(request: CheckRequest, output_suffix: str | None = None) -> str:
    """The engine a request runs on, `memory` or `dask` (`options.engine`, docs/scale.md):
    only a map check (map layers, or a GeoParquet input) is ever partitioned, a site list
    always runs in memory; `auto` is `siting.scale.choose_engine` (dask when an input is
    GeoParquet or the in-memory peak estimated from the inputs is over half the memory
    available), except that the HTML report, which needs every lot in memory, is made by
    the in-memory engine. The engine never changes a verdict."""
    engine = request.options.engine
    if engine == "memory":
        return "memory"
    from siting.scale import choose_engine, is_parquet

    if not (
        is_map_job(request.input, request.contexts, output_suffix) or is_parquet(request.input)
    ):
        return "memory"
    if engine == "auto" and output_suffix == ".html":
        return "memory"
    return choose_engine(engine, request.input, context_refs(request))


def run_check(
    request: CheckRequest,
    pack: RulePack | None = None,
    *,
    progress: Callable[[str, float], None] | None = None,
    limits: ExpansionLimits | None = None,
) -> tuple[BatchAnswer, Any]:
    """Run one CheckRequest: (answer, the lots' geometry or None). The CLI, the HTTP routes
    and the job runner all come here; `pack` overrides `request.options.ruleset` (a server
    that has loaded its packs passes the one a request named). The engine is the request's
    (`engine_of`): with dask the answer is a `siting.scale.answer.PartitionedAnswer` put
    together in memory, which the writers take as a BatchAnswer (all but the HTML report)."""
    from siting.formats import FORMATS
    from siting.ruleset import load_ruleset

    opts = request.options
    pack = pack if pack is not None else load_ruleset(opts.ruleset)
    fmt = FORMATS.get(request.format) if request.format else None
    suffix = fmt.extensions[0] if fmt is not None else None
    if engine_of(request, suffix) == "dask":
        return _check_partitioned(request, pack, suffix, progress, limits)
    return check_files(
        request.input,
        context_refs(request),
        pack,
        as_of=opts.as_of,
        options=opts.layer_options(),
        sheet=opts.sheet,
        header_row=opts.header_row,
        output_suffix=suffix,
        max_records=request.max_records,
        name=request.name,
        progress=progress,
        limits=limits,
    )


def _check_partitioned(
    request: CheckRequest,
    pack: RulePack,
    output_suffix: str | None,
    progress: Callable[[str, float], None] | None,
    limits: ExpansionLimits | None,
) -> tuple[Any, Any]:
    """A map check on Dask (siting.scale), its results put together in memory: (answer,
    the lots' geometry)."""
    from siting.scale import check_partitioned, settings_of

    opts = request.options
    if opts.header_row is not None:
        raise InvalidOption(
            "--header-row applies to site lists (CSV and spreadsheets), not to map layers"
        )
    if output_suffix == ".html":
        raise InvalidOption("the HTML report needs --engine memory (engine=memory)")
    contexts = context_refs(request)
    settings = settings_of(opts)  # a budget that is no size: refused before any reading
    if request.max_records is not None or limits is not None:
        _check_feature_count([request.input, *contexts], request.max_records, limits)
    answer = check_partitioned(
        request.input,
        contexts,
        pack,
        as_of=opts.as_of,
        options=opts.layer_options(),
        settings=settings,
        progress=progress,
    )
    return answer, answer.geometry


def check_files(
    input_path: str,
    contexts: list[str],
    pack: RulePack,
    *,
    as_of: str | dt.date | None = None,
    options: LayerOptions | None = None,
    sheet: str | None = None,
    header_row: int | None = None,
    output_suffix: str | None = None,
    max_records: int | None = None,
    name: str | None = None,
    progress: Callable[[str, float], None] | None = None,
    limits: ExpansionLimits | None = None,
) -> tuple[BatchAnswer, Geometries | None]:
    """Returns (answer, geometry or None). `options` is a `siting.geo.pipeline.LayerOptions`;
    `progress(stage, fraction)`, if given, is told how far the work is; `limits` (a
    `siting.io.limits.ExpansionLimits`) bounds how far an .xlsx workbook, a zip or a .dbf
    may expand (default `siting.io.limits.DEFAULT_LIMITS`). `sheet` and `header_row` (1-based,
    as Excel counts rows) choose where a site list's table is; by default the first sheet that
    is not empty, and the header found below any title (siting.io.header).

    Raises an `InputError` kind for unusable input (never a parser's own exception)."""
    step = progress or (lambda stage, fraction: None)
    if is_map_job(input_path, contexts, output_suffix):
        if header_row is not None:
            raise InvalidOption(
                "--header-row applies to site lists (CSV and spreadsheets), not to map layers"
            )
        from siting.geo.pipeline import LayerOptions, check_layers

        if max_records is not None or limits is not None:
            _check_feature_count([input_path, *contexts], max_records, limits)
        return check_layers(
            input_path,
            contexts,
            pack,
            as_of=as_of,
            options=options or LayerOptions(),
            progress=step,
        )
    site_list = read_site_list(
        input_path,
        sheet=sheet,
        header_row=header_row,
        name=name,
        limits=limits,
        max_records=max_records,
        options=options,
        progress=step,
    )
    step("checking", 0.4)
    return check_site_list(site_list, pack, as_of), None


@dataclass(frozen=True)
class SiteList:
    """A site list as read, before it is checked: the raw table, the column report for the
    receipt, the input's sha256 and the run's options (for the decision id)."""

    raw: RawTable
    columns: ColumnReport
    input_sha256: str
    options: dict[str, Any]
    field_map: dict[str, str] | None = None

    @property
    def rows(self) -> int:
        return len(self.raw.frame)


HASH_ASIDE = 1 << 22  # bytes: files larger than this are hashed on a second core


def read_site_list(
    input_path: str,
    *,
    sheet: str | None = None,
    header_row: int | None = None,
    name: str | None = None,
    limits: ExpansionLimits | None = None,
    max_records: int | None = None,
    options: LayerOptions | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> SiteList:
    """Read a site list (CSV, spreadsheet, JSON) for `check_site_list`. `options` (the
    run's LayerOptions) give the columns named with --field and, with `sheet` and
    `header_row`, the options the receipt and decision id record. Raises an `InputError`
    kind for unusable input."""
    from siting.io.tabular import read_bytes, read_sites

    field_map = getattr(options, "field_map", None) or None
    step = progress or (lambda stage, fraction: None)
    path = Path(input_path)
    step("reading", 0.05)
    data = read_bytes(path, name or str(path))
    with ThreadPoolExecutor(1) as side:
        # the receipt's hash of a large file on a second core while the file is read
        # (hashlib leaves the GIL); a small one here
        digest = side.submit(sha256_bytes, data) if len(data) > HASH_ASIDE else None
        raw = read_sites(
            path,
            sheet=sheet,
            data=data,
            name=name,
            limits=limits,
            header_row=header_row,
            field_map=field_map,
        )
        input_sha256 = digest.result() if digest is not None else sha256_bytes(data)
    if max_records is not None and len(raw.frame) > max_records:
        raise InputTooLarge(
            f"{raw.source}: {len(raw.frame):,} rows; at most {max_records:,} per "
            "request (submit a job for more)"
        )
    own = raw.keep if raw.keep is not None else raw.frame  # the file's own columns
    columns = column_report(own.columns, field_map=field_map, source=raw.source)
    if raw.header_row is not None:  # where the table was found: in the receipt's columns
        columns = replace(
            columns, header_row=raw.header_row, sheet=raw.sheet, title=tuple(raw.title)
        )
    recorded = option_values(options, sheet=sheet, header_row=header_row)
    return SiteList(raw, columns, input_sha256, recorded, field_map)


def check_site_list(
    site_list: SiteList,
    pack: RulePack,
    as_of: str | dt.date | None = None,
    rows: tuple[int, int] | None = None,
    ids_distinct: bool = False,
) -> BatchAnswer:
    """Check a site list read by `read_site_list`: all of it, or only its rows
    [start, stop) (`rows`; siting.parts checks a large list in parts this way, each part
    exactly as its rows are in the whole list's answer when the list's ids are distinct:
    `ids_distinct`, the caller makes sure of that, and the ids are not compared here)."""
    raw = site_list.raw
    start, stop = rows if rows is not None else (0, len(raw.frame))
    whole = start == 0 and stop == len(raw.frame)

    def part(d: dict[int, list[str]]) -> dict[int, list[str]]:
        return d if whole else {i - start: v for i, v in d.items() if start <= i < stop}

    keep = raw.keep
    table = normalise(
        raw.frame if whole else raw.frame.iloc[start:stop],
        pack,
        source=raw.source,
        row_kind=raw.row_kind,
        row_numbers=raw.row_numbers[start:stop],
        preset_errors=part(raw.errors),
        field_map=site_list.field_map,
        keep=keep if whole or keep is None else keep.iloc[start:stop],
        ids_distinct=ids_distinct,
    )
    for i, messages in part(raw.row_notes).items():  # e.g. a cell filled from a merged cell
        for message in messages:
            table.notes.add(i, "info", message)
    answer = check_table(
        table,
        pack,
        as_of,
        input_sha256=site_list.input_sha256,
        columns=site_list.columns,
        options=site_list.options,
    )
    answer.warnings[:0] = raw.notes  # how the file was read, before the run's own warnings
    return answer


def _check_feature_count(
    refs: list[str], limit: int | None, limits: ExpansionLimits | None = None
) -> None:
    """Before the layers are read: each within `limits` (zip and .dbf expansion) and of at
    most `limit` features."""
    import pyogrio

    from siting.geo.layers import _gdal_source

    for ref in refs:
        path, layer = parse_layer_ref(ref)
        if Path(path).suffix.lower() in {".csv", ".txt", ".tsv"}:
            continue
        try:
            source, _ = _gdal_source(Path(path), layer, limits, verify=False)
            if limit is None:
                continue
            with warnings.catch_warnings():  # several layers: the reader says which
                warnings.simplefilter("ignore")
                info = pyogrio.read_info(source, layer=layer)
        except InputError:
            raise
        except Exception:
            continue  # the reader will report it properly
        if limit is not None and info.get("features", 0) > limit:
            raise InputTooLarge(
                f"{Path(path).name}: {info['features']:,} features; at most "
                f"{limit:,} per request (submit a job for more)"
            )
