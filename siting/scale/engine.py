"""Partitioned checks on Dask: the parking layer cut into spatially compact partitions, each
classified and checked by the in-memory code against only the context features that can
matter to it, so that every lot gets exactly the in-memory engine's answer.

How (each step a set of Dask tasks, or the driver between them):

1. **Parking pieces** (tasks): the parking layer is read in row ranges (`sources.py`), each
   piece exactly as `read_layer` reads the whole layer; each lot gets its Hilbert distance
   (the curve dask-geopandas' spatial_shuffle uses, level 16, over the layer's extent, from
   the lot's box centre: `hilbert.py`);
   the piece is staged in the scratch folder as an Arrow file sorted by (distance, position)
   and its distances, boxes and ids go back to the driver.
2. **Partitions** (driver): the lots in Hilbert order cut into partitions of equal counts
   (`LOTS_PER_PARTITION`, fewer where the context is dense or the memory budget small).
   Lots sharing an id (normally none) are put in one partition, so that the id check sees
   them together as it does in memory. A partition's **window** is the box of its lots in
   the metric CRS the in-memory run would use (the same one: decided from the whole layer),
   grown by the nearest-search distance (`--max-distance`, default 50 m) and 1 m more: every
   context feature that overlaps, contains or lies within that distance of one of its lots
   meets the window.
3. **Context** : a layer with a spatial index (GeoPackage, FlatGeobuf) is read by each
   partition through its window (GDAL's bbox filter); any other layer (shapefile without a
   .qix, CSV, GeoParquet) is read once in row ranges by staging tasks that route each
   feature to the partitions whose windows it meets. Either way a partition sees a
   superset of the features that can matter to its lots, in the layer's order, so overlaps,
   ties (won by the smaller, then the earlier feature), containment and nearest matches -
   across the partition's edge too - come out as in memory.
4. **Check** (tasks): `siting.geo.pipeline.classify_and_check`, the in-memory code itself,
   on the partition's lots and context, in the whole layer's metric CRS. Each partition
   checks that its lots' boxes, grown by the distance, lie inside its windows (else it
   fails loudly rather than answer differently). Results are staged per partition.
5. **Output** (driver): results joined in the input's order - one per lot, none lost or
   twice (a partition whose worker died is computed again by Dask and its staged file
   replaced whole) - and streamed to a GeoPackage or GeoParquet, or put together in memory
   for the other outputs. The summary is the sum of the partitions'; the receipt is the
   in-memory run's (same input hash, options, column report, decision id).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from pyproj import CRS

from siting.errors import BrokenFile, InputError
from siting.geo.layers import Layer
from siting.geo.pipeline import DEFAULT_MAX_DISTANCE, LayerOptions, metric_crs
from siting.ruleset import RulePack
from siting.scale import parse_size
from siting.scale.sources import (
    Box,
    Piece,
    Source,
    grow,
    native_window,
    open_source,
    pieces,
    read_piece,
    read_window,
    transform_box,
)

LOTS_PER_PARTITION = 25_000  # at most, by default
CONTEXT_BYTES_PER_PARTITION = 96 * 2**20  # context file bytes a partition reads, about
LOT_BYTES = 4_000  # memory per lot while it is checked (measured ~2.5 kB, with margin)
CONTEXT_MEMORY_FACTOR = 3  # memory per byte of context file while a partition is checked
ROWS_PER_PIECE = 100_000  # parking rows per staging task
CONTEXT_PIECE_BYTES = 64 * 2**20  # context file bytes per routing task
HILBERT_LEVEL = 16
NO_KEY = np.uint64(2**32)  # lots without geometry: after every Hilbert distance
ROW_BITS = 31  # (distance << 31) | position: positions below 2**31
WINDOW_PAD = 1.0  # metres added to every window beyond the search distance
WINDOW_RUNS = 4  # boxes per partition (its lots in Hilbert order, cut in runs)
WINDOW_MIN_LOTS = 500  # lots per run at least
INTERNAL = ("__geom", "__fid", "__row", "__notes", "__errors")

log = logging.getLogger(__name__)


# ------------------------------------------------------------------ what tasks are given


@dataclass
class Plan:
    """Everything a task needs (pickled to the workers)."""

    scratch: str
    parking: Source
    contexts: list[Source]
    pack: RulePack
    options: LayerOptions
    as_of: Any
    max_distance: float
    extent: tuple[float, float, float, float] | None = None  # Hilbert extent
    metric: CRS | None = None  # set after the parking pieces
    parking_crs: CRS | None = None
    promote_multi: tuple[int, int] | None = None  # (single, multi) type ids, GeoPackage
    output: str = "assemble"  # "assemble" (in memory) | "arrow" (streamed to a file)
    own_wkb: list[bool] = field(default_factory=list)  # per parking piece: the file's bytes


@dataclass
class PartitionSpec:
    index: int
    pieces: list[tuple[int, int, int]]  # (parking piece, start, stop) in its sorted file
    exclude: dict[int, np.ndarray] = field(default_factory=dict)  # piece -> local rows out
    extra: dict[int, np.ndarray] = field(default_factory=dict)  # piece -> local rows in
    windows: list[tuple[float, float, float, float]] = field(default_factory=list)  # metric
    rows: np.ndarray | None = None  # the lots' positions in the layer, sorted


# ------------------------------------------------------------------ 1. parking pieces


def _write_ipc(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    os.replace(tmp, path)  # whole or not at all: a task run again replaces it


def _read_ipc(path: Path) -> pa.Table:
    return pa.ipc.open_file(pa.memory_map(str(path))).read_all()


def _attributes(frame: pd.DataFrame) -> pa.Table:
    """A pandas frame as Arrow, with pandas metadata so it comes back with its dtypes; a
    column Arrow cannot type (mixed objects) goes as text."""
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        fixed = frame.copy()
        for name in fixed.columns:
            try:
                pa.array(fixed[name], from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                fixed[name] = fixed[name].map(lambda v: v if v is None or pd.isna(v) else str(v))
        return pa.Table.from_pandas(fixed, preserve_index=False)


def _lists(n: int, per_row: dict[int, list[str]]) -> pa.Array:
    values: list[list[str] | None] = [None] * n
    for i, items in per_row.items():
        values[i] = list(items)
    return pa.array(values, pa.list_(pa.string()))


def _hilbert(bounds: np.ndarray, extent: Any) -> np.ndarray:
    from siting.scale.hilbert import hilbert_distance

    return hilbert_distance(bounds, np.asarray(extent, float), HILBERT_LEVEL).astype(np.uint64)


def _is_metric(crs: Any) -> bool:
    return bool(
        crs is not None and crs.is_projected and crs.axis_info[0].unit_name in ("metre", "meter")
    )


def _id_texts(layer: Layer, options: LayerOptions) -> np.ndarray:
    """Each lot's id as the id check compares it (pipeline: the own id, else the feature
    id; records.normalise: text, stripped, blank -> None)."""
    from siting.aliases import load_aliases
    from siting.records import _text_values, blank, rename_columns

    original = pd.DataFrame(layer.frame.drop(columns=layer.frame.geometry.name))
    frame = rename_columns(original, load_aliases(), options.field_map, layer.source)
    n = len(frame)
    if "id" in frame.columns:
        col = frame["id"]
        no_id = blank(col)
    else:
        col, no_id = None, np.ones(n, bool)
    if col is None or no_id.any():  # no id column: every lot's id is its feature id
        ids = col.to_numpy(dtype=object, copy=True) if col is not None else np.full(n, None, object)
        fids = pc.cast(pa.array(layer.feature_ids[no_id]), pa.string())
        ids[no_id] = fids.to_numpy(zero_copy_only=False)
        col = pd.Series(ids, dtype=object)
    texts: np.ndarray = _text_values(col, strip=True)[0]
    return texts


def stage_parking(plan: Plan, k: int, piece: Piece) -> dict[str, Any]:
    """Read one piece of the parking layer, key its lots on the Hilbert curve, stage it."""
    layer, position = read_piece(plan.parking, piece, keep_wkb=True)
    frame = layer.frame
    n = len(frame)
    geoms = frame.geometry.to_numpy()
    missing = shapely.is_missing(geoms)
    present = ~missing
    present[present] = ~shapely.is_empty(geoms[present])
    bounds = np.full((n, 4), np.nan)
    if present.any():
        bounds[present] = shapely.bounds(geoms[present])
    extent = plan.extent
    if extent is None or not np.isfinite(extent).all():
        extent = (
            tuple(np.nanmin(bounds[:, :2], axis=0)) + tuple(np.nanmax(bounds[:, 2:], axis=0))
            if present.any()
            else (0.0, 0.0, 1.0, 1.0)
        )
    keys = np.full(n, NO_KEY, np.uint64)
    if present.any():
        keys[present] = _hilbert(bounds[present], extent)
    combined = (keys << np.uint64(ROW_BITS)) | position.astype(np.uint64)
    order = np.argsort(combined, kind="stable")
    lon_lat = None
    if not _is_metric(frame.crs) and present.any():  # metric_crs needs the whole layer's
        lon_lat = frame.geometry[present].to_crs(4326).total_bounds  # extent in lon/lat
    kinds = shapely.get_type_id(geoms)
    ids = _id_texts(layer, plan.options)
    attrs = _attributes(pd.DataFrame(frame.drop(columns=frame.geometry.name)))
    # the lots' geometries as WKB: the file's own bytes when finish_layer kept them (they
    # are then the finished geometries: repairs written in), else encoded afresh
    own = layer.wkb is not None and len(layer.wkb) == n
    wkb = (
        layer.wkb.cast(pa.binary())
        if own and layer.wkb is not None
        else pa.array(shapely.to_wkb(geoms), pa.binary())
    )
    table = (
        attrs.append_column("__geom", wkb)
        .append_column("__fid", pa.array(layer.feature_ids, pa.int64()))
        .append_column("__row", pa.array(position, pa.int64()))
        .append_column("__notes", _lists(n, layer.notes))
        .append_column("__errors", _lists(n, layer.errors))
    ).take(pa.array(order))
    _write_ipc(table, Path(plan.scratch) / "parking" / f"{k:05d}.arrow")
    return {
        "n": n,
        "combined": combined[order],
        "bounds": bounds[order],
        "ids": pa.array(ids[order], pa.string(), from_pandas=True),
        "lon_lat": lon_lat,
        "kinds": np.unique(kinds[kinds >= 0]),
        "crs": frame.crs,
        "own_wkb": own,
        "schema": attrs.schema,
    }


# ------------------------------------------------------------------ 3. routed context


def route_context(
    plan: Plan,
    layer_index: int,
    k: int,
    piece: Piece,
    windows: list[Box],
    owners: list[int],
) -> dict[str, Any]:
    """Read one piece of a context layer without a spatial index and hand each feature to
    the partitions whose windows it meets (staged per partition)."""
    src = plan.contexts[layer_index]
    layer, position = read_piece(src, piece, keep_wkb=False)
    frame = layer.frame
    geoms = frame.geometry.to_numpy()
    metric = frame.geometry.to_crs(plan.metric).to_numpy() if len(frame) else geoms
    present = ~shapely.is_missing(metric)
    present[present] = ~shapely.is_empty(metric[present])
    idx = np.flatnonzero(present)
    attrs = _attributes(pd.DataFrame(frame.drop(columns=frame.geometry.name)))
    sent = 0
    if len(idx):
        b = shapely.bounds(metric[idx])
        tree = shapely.STRtree(shapely.box(*np.asarray(windows, float).T))
        feat, win = tree.query(shapely.box(b[:, 0], b[:, 1], b[:, 2], b[:, 3]))
        part = np.asarray(owners)[win]
        pairs = np.unique(np.column_stack([part, idx[feat]]), axis=0)
        table = (
            attrs.append_column("__geom", pa.array(shapely.to_wkb(geoms), pa.binary()))
            .append_column("__fid", pa.array(layer.feature_ids, pa.int64()))
            .append_column("__row", pa.array(position, pa.int64()))
        )
        if len(pairs):
            starts = np.flatnonzero(np.r_[True, pairs[1:, 0] != pairs[:-1, 0]])
            for a, b_ in zip(starts, [*starts[1:], len(pairs)], strict=True):
                p = int(pairs[a, 0])
                rows = pairs[a:b_, 1]
                out = Path(plan.scratch) / f"context{layer_index}" / f"{p:05d}" / f"{k:05d}.arrow"
                _write_ipc(table.take(pa.array(rows)), out)
                sent += len(rows)
    return {"crs": frame.crs, "schema": attrs.schema, "n": len(frame), "sent": sent}


def _routed_layer(plan: Plan, layer_index: int, p: int, staged: list[dict[str, Any]]) -> Layer:
    import geopandas as gpd

    src = plan.contexts[layer_index]
    folder = Path(plan.scratch) / f"context{layer_index}" / f"{p:05d}"
    files = sorted(folder.glob("*.arrow")) if folder.is_dir() else []
    schema = staged[0]["schema"]
    crs = next((s["crs"] for s in staged if s["crs"] is not None), None)
    if files:
        table = pa.concat_tables([_read_ipc(f) for f in files])
        table = table.take(pc.sort_indices(table.column("__row")))
    else:
        table = schema.empty_table()
        table = (
            table.append_column("__geom", pa.array([], pa.binary()))
            .append_column("__fid", pa.array([], pa.int64()))
            .append_column("__row", pa.array([], pa.int64()))
        )
    geoms = shapely.from_wkb(table.column("__geom").to_numpy(zero_copy_only=False))
    fids = table.column("__fid").to_numpy()
    attrs = table.drop_columns(["__geom", "__fid", "__row"]).to_pandas()
    gdf = gpd.GeoDataFrame(attrs, geometry=gpd.GeoSeries(geoms, crs=crs), crs=crs)
    return Layer(gdf, src.name, fids.astype(np.int64))


# ------------------------------------------------------------------ 4. a partition


def _partition_lots(plan: Plan, spec: PartitionSpec) -> tuple[Layer, np.ndarray, np.ndarray]:
    """The partition's lots as a Layer in input order; their positions; moved-in mask."""
    import geopandas as gpd

    parts, moved = [], []
    folder = Path(plan.scratch) / "parking"
    used = sorted({k for k, _, _ in spec.pieces} | set(spec.extra))
    bounds = {k: (a, b) for k, a, b in spec.pieces}
    for k in used:
        table = _read_ipc(folder / f"{k:05d}.arrow")
        rows = np.arange(*bounds[k]) if k in bounds else np.array([], np.int64)
        if k in spec.exclude:
            rows = np.setdiff1d(rows, spec.exclude[k], assume_unique=True)
        extra = spec.extra.get(k, np.array([], np.int64))
        take = np.concatenate([rows, extra]).astype(np.int64)
        parts.append(table.take(pa.array(take)))
        moved.append(np.r_[np.zeros(len(rows), bool), np.ones(len(extra), bool)])
    table = pa.concat_tables(parts)
    moved_in = np.concatenate(moved)
    order = np.argsort(table.column("__row").to_numpy(), kind="stable")
    table = table.take(pa.array(order))
    moved_in = moved_in[order]
    wkb = table.column("__geom").combine_chunks()
    geoms = shapely.from_wkb(wkb.to_numpy(zero_copy_only=False))
    keep_wkb = all(plan.own_wkb[k] for k in used)  # the file's own bytes, all of them
    notes = {
        i: v for i, v in enumerate(table.column("__notes").to_pylist()) if v
    }  # few rows have any
    errors = {i: v for i, v in enumerate(table.column("__errors").to_pylist()) if v}
    attrs = table.drop_columns(list(INTERNAL)).to_pandas()
    gdf = gpd.GeoDataFrame(
        attrs, geometry=gpd.GeoSeries(geoms, crs=plan.parking_crs), crs=plan.parking_crs
    )
    layer = Layer(
        gdf,
        plan.parking.name,
        table.column("__fid").to_numpy().astype(np.int64),
        notes,
        plan.parking.encoding,
        wkb if keep_wkb and plan.promote_multi is None else None,
        errors,
    )
    return layer, table.column("__row").to_numpy(), moved_in


def _inside_windows(lots: np.ndarray, windows: list[Box], distance: float) -> bool:
    present = ~shapely.is_missing(lots)
    present[present] = ~shapely.is_empty(lots[present])
    if not present.any():
        return True
    b = shapely.bounds(lots[present])
    need = np.column_stack(
        [b[:, 0] - distance, b[:, 1] - distance, b[:, 2] + distance, b[:, 3] + distance]
    )
    ok = np.zeros(len(need), bool)
    for w in windows:
        inside = (need[:, 0] >= w[0]) & (need[:, 1] >= w[1])
        inside &= (need[:, 2] <= w[2]) & (need[:, 3] <= w[3])
        ok |= inside
    return bool(ok.all())


def check_partition(
    plan: Plan, spec: PartitionSpec, routed: list[list[dict[str, Any]]]
) -> dict[str, Any]:
    """Classify and check one partition with the in-memory code; stage its results."""
    from siting.geo.pipeline import classify_and_check

    started = time.perf_counter()

    parking, rows, _ = _partition_lots(plan, spec)
    lots = parking.frame.geometry.to_crs(plan.metric).to_numpy()
    if not _inside_windows(lots, spec.windows, plan.max_distance):
        raise RuntimeError(
            f"partition {spec.index}: a lot lies outside the partition's context window "
            "(internal error; use --engine memory)"
        )
    contexts = []
    for i, src in enumerate(plan.contexts):
        if src.windowed:
            assert plan.metric is not None
            boxes = [native_window(src, w, plan.metric) for w in spec.windows]
            contexts.append(read_window(src, boxes))
        else:
            contexts.append(_routed_layer(plan, i, spec.index, routed[i]))
    answer, geometry = classify_and_check(
        parking, contexts, plan.pack, as_of=plan.as_of, options=plan.options, metric=plan.metric
    )
    out = Path(plan.scratch) / "results" / f"{spec.index:05d}"
    if plan.output == "arrow":
        _stage_arrow(plan, answer, geometry, rows, out.with_suffix(".arrow"))
    else:
        _stage_objects(answer, geometry, rows, out.with_suffix(".pickle"))
    s = answer.summary
    return {
        "index": spec.index,
        "n": s["sites"],
        "by_status": s["by_status"],
        "total_shortfall": s["total_shortfall"],
        "context": [len(c.frame) for c in contexts],
        "seconds": time.perf_counter() - started,
        # what the receipt takes from the run (the same in every partition): one copy
        "receipt": (answer.columns, answer.options, answer.warnings) if spec.index == 0 else None,
    }


def _output_wkb(plan: Plan, geometry: Any) -> pa.Array:
    """The lots' geometries as siting.geo.output.write_geopackage writes them: singles made
    multis where the whole layer mixes the two; the file's own bytes where unchanged."""
    geoms = geometry.series.to_numpy()
    wkb = geometry.wkb
    if plan.promote_multi is not None:
        from siting.geo.output import _MULTI

        single = shapely.get_type_id(geoms) == plan.promote_multi[0]
        geoms = geoms.copy()
        geoms[single] = _MULTI[plan.promote_multi[0]][1](np.atleast_2d(geoms[single]), axis=0)
        wkb = None
    if wkb is not None and (
        len(wkb) != len(geoms) or wkb.null_count != int(shapely.is_missing(geoms).sum())
    ):
        wkb = None
    if wkb is None:
        wkb = pa.array(shapely.to_wkb(geoms, output_dimension=2), pa.binary())
    return wkb


def _stage_arrow(plan: Plan, answer: Any, geometry: Any, rows: np.ndarray, path: Path) -> None:
    from siting.geo.output import result_layer

    layer = result_layer(answer, geometry.series)
    attrs = pd.DataFrame(layer.drop(columns=layer.geometry.name))
    table = _attributes(attrs)
    table = table.append_column("__row", pa.array(rows, pa.int64())).append_column(
        "__geometry", _output_wkb(plan, geometry).cast(pa.binary())
    )
    _write_ipc(table, path)


def _stage_objects(answer: Any, geometry: Any, rows: np.ndarray, path: Path) -> None:
    import pickle

    frame = answer.frame(keep_input=True)
    width = len(frame.columns) - (
        len(answer.table.extra_frame().columns) if answer.table.extra is not None else 0
    )
    blob = {
        "rows": rows,
        "frame": frame,
        "result_columns": width,
        "results": answer.results,
        "wkb": pa.array(shapely.to_wkb(geometry.series.to_numpy()), pa.binary()),
        "file_wkb": geometry.wkb,
        "crs": geometry.series.crs,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    with tmp.open("wb") as f:
        pickle.dump(blob, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)


# ------------------------------------------------------------------ the driver


@dataclass
class Settings:
    """How the run is sized and where it runs."""

    scheduler: str | None = None  # tcp://HOST:8786: an existing cluster
    memory_budget: int | None = None  # bytes for the whole run (default: a fraction of RAM)
    workers: int | None = None  # local worker processes (default: the machine's cores)
    partition_size: int | None = None  # lots per partition (default: sized by the data)
    scratch: str | None = None  # staging folder (shared by all workers on a cluster)
    client: Any = None  # an open distributed.Client to use


MEMORY_FRACTION = 0.5  # default budget: half the machine's memory


def default_budget() -> int:
    import psutil  # type: ignore[import-untyped,unused-ignore]

    return int(psutil.virtual_memory().total * MEMORY_FRACTION)


@contextlib.contextmanager
def dask_client(settings: Settings) -> Iterator[Any]:
    """A distributed Client: the given one, one connected to `scheduler`, or a LocalCluster
    sized to the machine (one single-threaded worker process per core, the memory budget
    shared among them)."""
    if settings.client is not None:
        yield settings.client
        return
    import distributed

    dist: Any = distributed  # untyped
    if settings.scheduler:
        try:
            client = dist.Client(settings.scheduler, timeout="20s")
        except OSError as exc:
            raise InputError(f"--scheduler {settings.scheduler}: cannot connect ({exc})") from None
        try:
            yield client
        finally:
            client.close()
        return
    workers = settings.workers or max(1, min(os.cpu_count() or 1, 8))
    budget = settings.memory_budget or default_budget()
    with (
        dist.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            memory_limit=max(budget // workers, 256 * 2**20),
            dashboard_address=None,
            host="127.0.0.1",
            silence_logs=logging.ERROR,
        ) as cluster,
        dist.Client(cluster) as client,
    ):
        yield client


def _files_sha256(sources: list[Source]) -> str:
    """The same digest as siting.geo.pipeline._files_sha256 (a GeoParquet folder: its files
    in name order)."""
    from siting.io.paths import parse_layer_ref

    h = hashlib.sha256()
    for src in sources:
        path = Path(parse_layer_ref(src.ref)[0])
        if path.is_dir():
            parts = [Path(f) for f, _ in src.parquet]
        elif path.suffix == ".shp":
            parts = sorted(path.parent.glob(path.stem + ".*"))
        else:
            parts = [path]
        for part in parts:
            with part.open("rb") as f:
                h.update(hashlib.file_digest(f, "sha256").digest())
    return h.hexdigest()


def _partition_count(
    n: int, contexts: list[Source], settings: Settings, workers: int, budget: int
) -> int:
    if settings.partition_size:
        return max(1, -(-n // settings.partition_size))
    ctx_bytes = sum(s.bytes for s in contexts)
    per_worker = budget / max(workers, 1)
    count = max(
        -(-n // LOTS_PER_PARTITION),
        int(np.ceil(ctx_bytes / CONTEXT_BYTES_PER_PARTITION)),
        # what one partition holds (its lots, its share of the context) within half of a
        # worker's share of the budget
        int(np.ceil((n * LOT_BYTES + ctx_bytes * CONTEXT_MEMORY_FACTOR) / (per_worker / 2))),
    )
    if n >= 2_000 * workers:  # enough to keep every worker busy
        count = max(count, 2 * workers)
    return max(1, min(count, n))


def _union(bounds: np.ndarray) -> tuple[float, float, float, float] | None:
    ok = np.isfinite(bounds).all(axis=1)
    if not ok.any():
        return None
    b = bounds[ok]
    return (b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max())


def run(
    parking_ref: str,
    context_refs: list[str],
    pack: RulePack,
    *,
    as_of: Any = None,
    options: LayerOptions | None = None,
    settings: Settings | None = None,
    output: str = "assemble",
    progress: Callable[[str, float], None] | None = None,
) -> tuple[Plan, list[PartitionSpec], list[dict[str, Any]], str, dict[str, Any]]:
    """The partitioned run up to staged results. Returns (plan, specs, summaries, digest,
    first-piece facts) for siting.scale.answer to put together or stream out."""
    from siting.check import check_as_of, parse_as_of
    from siting.geo.mappings import check_mappings
    from siting.geo.pipeline import _for_file

    opts = options or LayerOptions()
    settings = settings or Settings()
    step = progress or (lambda stage, fraction: None)
    check_mappings(pack)
    check_as_of(pack, parse_as_of(as_of))  # a date the pack refuses: before any work
    max_d = DEFAULT_MAX_DISTANCE if opts.max_distance is None else opts.max_distance
    step("opening layers", 0.01)
    parking = open_source(parking_ref, layer=opts.layer, crs=opts.crs, offset=opts.offset)
    contexts = [
        open_source(
            ref, crs=_for_file(opts.context_crs, ref), offset=_for_file(opts.context_offset, ref)
        )
        for ref in context_refs
    ]
    scratch = Path(
        tempfile.mkdtemp(
            prefix="siting-scale-", dir=settings.scratch or os.environ.get("SITING_SCRATCH")
        )
    )
    hasher = ThreadPoolExecutor(1)
    digest = hasher.submit(_files_sha256, [parking, *contexts])
    plan = Plan(
        scratch=str(scratch),
        parking=parking,
        contexts=contexts,
        pack=pack,
        options=opts,
        as_of=as_of,
        max_distance=float(max_d),
        extent=parking.bounds,
        output=output,
    )
    try:
        started = time.perf_counter()
        with dask_client(settings) as client:
            workers = max(1, len(client.scheduler_info(n_workers=-1).get("workers", {})))
            t0 = time.perf_counter()
            staged = _stage_parking(client, plan, step)
            t1 = time.perf_counter()
            specs, facts = _plan_partitions(plan, staged, settings, workers)
            t2 = time.perf_counter()
            routed = _route_contexts(client, plan, specs)
            summaries = _check_partitions(client, plan, specs, routed, step)
            t3 = time.perf_counter()
            facts["times"] = {
                "cluster start": t0 - started,
                "parking pieces": t1 - t0,
                "planning": t2 - t1,
                "partitions": t3 - t2,
                "partition tasks (sum)": sum(s["seconds"] for s in summaries),
                "workers": workers,
            }
            log.info("partitioned run: %s", facts["times"])
        return plan, specs, summaries, digest.result(), facts
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    finally:
        hasher.shutdown(wait=False, cancel_futures=True)


def _gather(
    client: Any,
    futures: list[Any],
    step: Callable[[str, float], None] | None = None,
    stage: str = "",
    start: float = 0.0,
    span: float = 0.0,
) -> list[Any]:
    from distributed import as_completed

    done = 0
    out = {}
    index = {f.key: i for i, f in enumerate(futures)}
    try:
        for future in cast(Any, as_completed)(futures):
            out[index[future.key]] = future.result()
            done += 1
            if step is not None:
                step(f"{stage} {done}/{len(futures)}", start + span * done / len(futures))
    except BaseException:
        client.cancel(futures)
        raise
    return [out[i] for i in range(len(futures))]


def _stage_parking(
    client: Any, plan: Plan, step: Callable[[str, float], None]
) -> list[dict[str, Any]]:
    cuts = pieces(plan.parking, ROWS_PER_PIECE)
    futures = [
        client.submit(stage_parking, plan, k, piece, pure=False) for k, piece in enumerate(cuts)
    ]
    staged = _gather(client, futures, step, "reading parking pieces", 0.02, 0.18)
    if plan.parking.kind == "gdal" and plan.parking.features >= 0:
        got = sum(s["n"] for s in staged)
        if got != plan.parking.features and Path(plan.parking.ref).suffix.lower() in {
            ".gpkg",
            ".fgb",
        }:
            raise BrokenFile(
                f"{plan.parking.ref}: layer {plan.parking.layer!r} declares "
                f"{plan.parking.features:,} features but {got:,} could be read: the file is "
                "damaged (or its feature count is stale: save it again with QGIS or ogr2ogr)"
            )
    return staged


def _plan_partitions(
    plan: Plan, staged: list[dict[str, Any]], settings: Settings, workers: int
) -> tuple[list[PartitionSpec], dict[str, Any]]:
    """Cut the lots into partitions, fix the metric CRS and each partition's windows."""
    import geopandas as gpd

    from siting.records import _duplicated

    n = sum(s["n"] for s in staged)
    crs = next((s["crs"] for s in staged if s["crs"] is not None), None)
    plan.parking_crs = crs
    plan.own_wkb = [s["own_wkb"] for s in staged]
    # the metric CRS the in-memory run decides from the whole layer
    boxes = [s["lon_lat"] for s in staged if s["lon_lat"] is not None]
    if _is_metric(crs) or not boxes:
        probe = gpd.GeoDataFrame(geometry=[], crs=crs)
        plan.metric = metric_crs(probe) if not boxes else crs
    else:
        b = np.array(boxes)
        lon_lat = (b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max())
        plan.metric = metric_crs(gpd.GeoDataFrame(geometry=[shapely.box(*lon_lat)], crs=4326))
    # GeoPackage wants one geometry type: a layer mixing singles and multis gets multis
    from siting.geo.output import _MULTI

    kinds = np.unique(np.concatenate([s["kinds"] for s in staged])).tolist() if staged else []
    if len(kinds) == 2 and kinds[0] in _MULTI and _MULTI[kinds[0]][0] == kinds[1]:
        plan.promote_multi = (kinds[0], kinds[1])
    facts = {"n": n, "kinds": kinds, "schema": staged[0]["schema"] if staged else None}
    budget = settings.memory_budget or default_budget()
    count = _partition_count(n, plan.contexts, settings, workers, budget) if n else 0
    # cut points in Hilbert order
    combined = [s["combined"] for s in staged]
    specs = [PartitionSpec(p, []) for p in range(count)]
    if not count:
        return specs, facts
    everything = np.sort(np.concatenate(combined))
    cuts = everything[(np.arange(1, count) * n) // count]
    del everything
    offsets = np.cumsum([0] + [s["n"] for s in staged])
    part_of = np.empty(n, np.int32)  # by (piece, sorted place)
    for k, c in enumerate(combined):
        edges = np.r_[0, np.searchsorted(c, cuts), len(c)]
        for p in range(count):
            lo, hi = int(edges[p]), int(edges[p + 1])
            if hi > lo:
                specs[p].pieces.append((k, lo, hi))
                part_of[offsets[k] + lo : offsets[k] + hi] = p
    # lots sharing an id: all in the partition of the first of them (input order)
    ids = pa.chunked_array([s["ids"] for s in staged], pa.string()).combine_chunks()
    dup = _duplicated(None, ids) if n else np.zeros(0, bool)
    moved_in: dict[int, list[int]] = {}
    position = (np.concatenate(combined) & np.uint64(2**ROW_BITS - 1)).astype(np.int64)
    if dup.any():
        where = np.flatnonzero(dup)
        codes = pc.dictionary_encode(ids.take(pa.array(where))).indices.to_numpy()
        first: dict[int, int] = {}
        out_of: dict[int, dict[int, list[int]]] = {}  # partition -> piece -> local rows
        into: dict[int, dict[int, list[int]]] = {}
        members = sorted(
            zip(where.tolist(), codes.tolist(), strict=True), key=lambda t: position[t[0]]
        )
        for g, code in members:
            target = first.setdefault(code, int(part_of[g]))
            if part_of[g] != target:
                k = int(np.searchsorted(offsets, g, side="right") - 1)
                local = g - offsets[k]
                out_of.setdefault(int(part_of[g]), {}).setdefault(k, []).append(int(local))
                into.setdefault(target, {}).setdefault(k, []).append(int(local))
                moved_in.setdefault(target, []).append(g)
        for spec in specs:
            rows_out = out_of.get(spec.index, {}).items()
            rows_in = into.get(spec.index, {}).items()
            spec.exclude = {k: np.array(sorted(v), np.int64) for k, v in rows_out}
            spec.extra = {k: np.array(sorted(v), np.int64) for k, v in rows_in}
    # windows, in the metric CRS, grown by the search distance: the partition's lots in
    # Hilbert order cut into a few runs, a box per run (tighter than one box round a curve
    # segment), and a box per lot moved in
    bounds = np.concatenate([s["bounds"] for s in staged])
    combined_all = np.concatenate(combined)
    reach = plan.max_distance + WINDOW_PAD
    for spec in specs:
        sel = []
        for k, lo, hi in spec.pieces:
            idx = np.arange(offsets[k] + lo, offsets[k] + hi)
            if k in spec.exclude:
                idx = np.setdiff1d(idx, offsets[k] + spec.exclude[k], assume_unique=True)
            sel.append(idx)
        home = np.concatenate(sel) if sel else np.zeros(0, np.int64)
        home = home[np.argsort(combined_all[home], kind="stable")]
        runs = max(1, min(WINDOW_RUNS, len(home) // WINDOW_MIN_LOTS))
        boxes = []
        for run_ in np.array_split(home, runs):
            box = _union(bounds[run_])
            if box is not None:
                boxes.append(box)
        for g in moved_in.get(spec.index, []):
            if np.isfinite(bounds[g]).all():
                boxes.append(tuple(bounds[g]))
        assert crs is not None and plan.metric is not None
        spec.windows = [grow(transform_box(b, crs, plan.metric), reach) for b in boxes]
        mine = [position[home]]
        for k, local in spec.extra.items():
            mine.append(position[offsets[k] + local])
        spec.rows = np.sort(np.concatenate(mine))
    return specs, facts


def _route_contexts(client: Any, plan: Plan, specs: list[PartitionSpec]) -> list[list[Any]]:
    """Routing tasks for the context layers without a spatial index (futures per layer)."""
    windows: list[Box] = []
    owners: list[int] = []
    for spec in specs:
        for w in spec.windows:
            windows.append(w)
            owners.append(spec.index)
    routed: list[list[Any]] = []
    for i, src in enumerate(plan.contexts):
        if src.windowed:
            routed.append([])
            continue
        if not windows:  # no lot has a geometry: nothing to route
            routed.append([client.submit(_empty_route, plan, i, pure=False)])
            continue
        per_feature = src.bytes / src.features if src.features > 0 else 1_000
        rows = max(1_000, int(CONTEXT_PIECE_BYTES / max(per_feature, 1)))
        routed.append(
            [
                client.submit(route_context, plan, i, k, piece, windows, owners, pure=False)
                for k, piece in enumerate(pieces(src, rows))
            ]
        )
    return routed


def _empty_route(plan: Plan, layer_index: int) -> dict[str, Any]:
    src = plan.contexts[layer_index]
    layer, _ = read_piece(src, pieces(src, 1)[0], keep_wkb=False)
    attrs = _attributes(pd.DataFrame(layer.frame.drop(columns=layer.frame.geometry.name)))
    return {"crs": layer.frame.crs, "schema": attrs.schema, "n": len(layer.frame), "sent": 0}


def _check_partitions(
    client: Any,
    plan: Plan,
    specs: list[PartitionSpec],
    routed: list[list[Any]],
    step: Callable[[str, float], None],
) -> list[dict[str, Any]]:
    futures = [client.submit(check_partition, plan, spec, routed, pure=False) for spec in specs]
    return _gather(client, futures, step, "checking partitions", 0.2, 0.65)


def summary_of(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    from siting import statuses as st

    by = {s: 0 for s in st.SUMMARY_ORDER}
    for s in summaries:
        for k, v in s["by_status"].items():
            by[k] += v
    return {
        "sites": sum(s["n"] for s in summaries),
        "by_status": by,
        "total_shortfall": sum(s["total_shortfall"] for s in summaries),
    }


__all__ = ["Plan", "Settings", "dask_client", "parse_size", "run", "summary_of"]
