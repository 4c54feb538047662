"""The partitioned run's answer: receipt and summary as the in-memory run gives them, and
the per-lot results joined from the partitions in input order - streamed to a GeoPackage or
GeoParquet (never held whole), or put together in memory for the other outputs."""

from __future__ import annotations

import datetime as dt
import json
import os
import pickle
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import shapely

from siting.check import BatchAnswer, check_as_of, option_values, parse_as_of
from siting.errors import InputError, InvalidOption
from siting.scale.engine import PartitionSpec, Plan, summary_of

BLOCK_ROWS = 65_536  # rows per block when results are streamed out in input order
STREAMED = {".gpkg", ".parquet", ".geoparquet"}


def is_directory_output(out: Path) -> bool:
    """An existing folder, or a name without an extension: a folder of GeoParquet files
    (as `-o results.parquet/` is)."""
    return out.is_dir() or out.suffix == ""


@dataclass
class PartitionedAnswer:
    """What `BatchAnswer` offers the CLI and the writers (receipt, summary, warnings, column
    report; and, when put together in memory, frame, results and as_dict)."""

    pack: Any
    as_of: dt.date
    input_sha256: str
    summary: dict[str, Any]
    warnings: list[str]
    columns: Any
    options: dict[str, Any]
    created: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    _frame: pd.DataFrame | None = None
    _result_width: int = 0
    _results: list[dict[str, Any]] | None = None
    geometry: Any = None  # siting.geo.output.Geometries, when put together
    partitions: int = 0
    context_read: list[int] = field(default_factory=list)  # features read, per layer
    times: dict[str, float] = field(default_factory=dict)  # seconds per stage
    classification: Any = True  # map results carry class_* columns

    @cached_property
    def _shell(self) -> BatchAnswer:
        return BatchAnswer(
            pack=self.pack,
            table=cast(Any, None),  # the receipt needs none of them
            evals=cast(Any, None),
            sites=cast(Any, None),
            as_of=self.as_of,
            input_sha256=self.input_sha256,
            warnings=self.warnings,
            created=self.created,
            columns=self.columns,
            options=self.options,
        )

    @property
    def decision_id(self) -> str:
        return self._shell.decision_id

    @property
    def receipt(self) -> dict[str, Any]:
        return self._shell.receipt

    @property
    def all_warnings(self) -> list[str]:
        return self._shell.all_warnings

    def _need(self) -> pd.DataFrame:
        if self._frame is None:
            raise InvalidOption("the results were streamed to the output file, not kept in memory")
        return self._frame

    def frame(self, keep_input: bool = True) -> pd.DataFrame:
        frame = self._need()
        return frame if keep_input else frame.iloc[:, : self._result_width]

    @property
    def results(self) -> list[dict[str, Any]]:
        self._need()
        return self._results or []

    def as_dict(self) -> dict[str, Any]:
        return {"receipt": self.receipt, "summary": self.summary, "results": self.results}


def _receipt_parts(
    plan: Plan, facts: dict[str, Any]
) -> tuple[dt.date, list[str], Any, dict[str, Any]]:
    """As classify_and_check and check_table make them, from the layer's columns."""
    from siting.aliases import load_aliases
    from siting.columns import column_report, mapping_columns

    when = parse_as_of(plan.as_of)
    warnings = check_as_of(plan.pack, when)
    schema = facts["schema"]
    names = [n for n in (schema.names if schema is not None else [])]
    meta = schema.pandas_metadata if schema is not None else None
    if meta:  # the pandas column names (Arrow may have made them text)
        names = [c["name"] for c in meta["columns"] if c.get("field_name") in schema.names]
    columns = column_report(
        pd.Index(names, dtype=object),
        load_aliases(),
        plan.options.field_map,
        plan.parking.name,
        also_read=mapping_columns(plan.pack, True),
    )
    return when, warnings, columns, option_values(plan.options)


def answer_of(
    plan: Plan, summaries: list[dict[str, Any]], digest: str, facts: dict[str, Any]
) -> PartitionedAnswer:
    when, warnings, columns, options = _receipt_parts(plan, facts)
    first = next((s["receipt"] for s in summaries if s.get("receipt") is not None), None)
    if first is not None:  # as the in-memory code made them (partition 0's)
        columns, options, warnings = first
    ctx = [0] * len(plan.contexts)
    for s in summaries:
        for i, k in enumerate(s.get("context", [])):
            ctx[i] += k
    return PartitionedAnswer(
        pack=plan.pack,
        as_of=when,
        input_sha256=digest,
        summary=summary_of(summaries),
        warnings=warnings,
        columns=columns,
        options=options,
        partitions=len(summaries),
        context_read=ctx,
        times=dict(facts.get("times", {})),
    )


# ------------------------------------------------------------------ put together in memory


def assemble(plan: Plan, answer: PartitionedAnswer, specs: list[PartitionSpec]) -> None:
    """Every partition's results in input order, in memory (outputs other than GeoPackage
    and GeoParquet, and the terminal table)."""
    import geopandas as gpd

    from siting.geo.output import Geometries

    folder = Path(plan.scratch) / "results"
    blobs = []
    for spec in specs:
        with (folder / f"{spec.index:05d}.pickle").open("rb") as f:
            blobs.append(pickle.load(f))
    if not blobs:
        answer._frame = pd.DataFrame()
        answer._results = []
        return
    rows = np.concatenate([b["rows"] for b in blobs])
    order = np.argsort(rows, kind="stable")
    frame = pd.concat([b["frame"] for b in blobs], ignore_index=True)
    frame = frame.iloc[order].reset_index(drop=True)
    for col in frame.columns:  # a column all missing in one partition may come out object
        first = blobs[0]["frame"][col].dtype
        if frame[col].dtype != first and all(b["frame"][col].dtype == first for b in blobs):
            frame[col] = frame[col].astype(first)
    answer._frame = frame
    answer._result_width = blobs[0]["result_columns"]
    results = [r for b in blobs for r in b["results"]]
    answer._results = [results[i] for i in order]
    wkb = pa.concat_arrays([b["wkb"] for b in blobs]).take(pa.array(order))
    crs = blobs[0]["crs"]
    series = gpd.GeoSeries(shapely.from_wkb(wkb.to_numpy(zero_copy_only=False)), crs=crs)
    file_wkb = None
    if all(b["file_wkb"] is not None for b in blobs):
        file_wkb = pa.concat_arrays([b["file_wkb"].cast(pa.binary()) for b in blobs]).take(
            pa.array(order)
        )
    answer.geometry = Geometries(series, file_wkb)


# ------------------------------------------------------------------ streamed out


def _unified_schema(paths: list[Path]) -> pa.Schema:
    """One schema for all partitions' results: a column that is all missing in a partition
    takes the type it has elsewhere; all missing everywhere: text (as pyogrio does)."""
    schemas = [pa.ipc.open_file(pa.memory_map(str(p))).schema for p in paths]
    fields = []
    for i, f in enumerate(schemas[0]):
        types = [s.field(i).type for s in schemas if not pa.types.is_null(s.field(i).type)]
        kind = types[0] if types else pa.string()
        for t in types[1:]:
            if t != kind:
                kind = (
                    pa.unify_schemas(
                        [pa.schema([(f.name, kind)]), pa.schema([(f.name, t)])],
                        promote_options="permissive",
                    )
                    .field(0)
                    .type
                )
        fields.append(pa.field(f.name, kind))
    return pa.schema(fields)


def _blocks(plan: Plan, specs: list[PartitionSpec], positions: list[np.ndarray]) -> Iterator[Any]:
    """Record batches of every result in input order, BLOCK_ROWS at a time. Each partition's
    staged file is opened (memory-mapped) per block and only the rows of the block are
    touched."""
    folder = Path(plan.scratch) / "results"
    paths = [folder / f"{spec.index:05d}.arrow" for spec in specs]
    schema = _unified_schema(paths)
    n = sum(len(p) for p in positions)
    yield schema
    for a in range(0, n, BLOCK_ROWS):
        b = min(n, a + BLOCK_ROWS)
        parts = []
        for path, rows in zip(paths, positions, strict=True):
            lo, hi = np.searchsorted(rows, [a, b])
            if hi > lo:
                with pa.memory_map(str(path)) as source:
                    table = pa.ipc.open_file(source).read_all().slice(lo, hi - lo)
                    parts.append(table.cast(schema).combine_chunks())
        block = pa.concat_tables(parts)
        order = np.argsort(block.column("__row").to_numpy(), kind="stable")
        block = block.take(pa.array(order))
        yield from block.to_batches()


def stream_out(
    plan: Plan,
    specs: list[PartitionSpec],
    rows: list[np.ndarray],
    out: Path,
    facts: dict[str, Any],
    *,
    folder: bool = False,
) -> Path:
    """Write the results, in input order, to a GeoPackage (layer `results`, the parking
    layer's CRS), a GeoParquet file or a folder of GeoParquet files."""
    gen = _blocks(plan, specs, rows)
    schema = next(gen)
    names = [f.name for f in schema if f.name not in ("__row", "__geometry")]
    out_schema = pa.schema([schema.field(n) for n in names] + [pa.field("geometry", pa.binary())])

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in gen:
            cols = [batch.column(schema.get_field_index(n)) for n in names]
            cols.append(batch.column(schema.get_field_index("__geometry")))
            yield pa.record_batch(cols, schema=out_schema)

    crs = plan.parking_crs
    kinds = facts["kinds"]
    if plan.promote_multi is not None:
        kinds = [plan.promote_multi[1]]
    from siting.geo.output import _TYPE_NAMES

    geometry_type = _TYPE_NAMES.get(kinds[0], "Unknown") if len(kinds) == 1 else "Unknown"
    suffix = out.suffix.lower()
    if suffix == ".gpkg":
        import pyogrio

        reader = pa.RecordBatchReader.from_batches(out_schema, batches())
        _replacing(
            out,
            lambda: pyogrio.write_arrow(
                reader,
                out,
                layer="results",
                driver="GPKG",
                geometry_name="geometry",
                geometry_type=geometry_type,
                crs=crs.to_wkt() if crs is not None else None,
            ),
        )
        return out
    if suffix in (".geojson", ".csv", ".json", ".xlsx", ".html"):
        raise InvalidOption(f"{out}: not a streamed format")
    geo = _geo_metadata(crs, [_TYPE_NAMES.get(k, "Unknown") for k in kinds])
    schema_geo = out_schema.with_metadata({b"geo": json.dumps(geo).encode()})
    import pyarrow.parquet as pq

    if folder or is_directory_output(out):
        out.mkdir(parents=True, exist_ok=True)
        for old in out.glob("part-*.parquet"):
            old.unlink()
        for k, batch in enumerate(_rebatch(batches(), BLOCK_ROWS * 4)):
            pq.write_table(
                pa.Table.from_batches([batch], schema_geo), out / f"part-{k:05d}.parquet"
            )
        return out

    def write() -> None:
        with pq.ParquetWriter(out, schema_geo) as writer:
            for batch in batches():
                writer.write_batch(batch)

    _replacing(out, write)
    return out


def write_geoparquet(answer: Any, geometry: Any, out: Path) -> Path:
    """An in-memory answer as one GeoParquet file: the columns, types and geometry bytes of
    the streamed output (and of the GeoPackage)."""
    import pyarrow.parquet as pq

    from siting.geo.output import _MULTI, _TYPE_NAMES, Geometries, result_layer
    from siting.scale.engine import _attributes

    if not isinstance(geometry, Geometries):
        geometry = Geometries(geometry)
    layer = result_layer(answer, geometry.series)
    table = _attributes(pd.DataFrame(layer.drop(columns=layer.geometry.name)))
    for i, f in enumerate(table.schema):  # all missing: text, as in the GeoPackage
        if pa.types.is_null(f.type):
            table = table.set_column(i, f.with_type(pa.string()), table[i].cast(pa.string()))
    geoms = geometry.series.to_numpy()
    kinds = shapely.get_type_id(geoms)
    present = np.unique(kinds[kinds >= 0]).tolist()
    wkb = geometry.wkb
    if len(present) == 2 and present[0] in _MULTI and _MULTI[present[0]][0] == present[1]:
        single = kinds == present[0]
        geoms = geoms.copy()
        geoms[single] = _MULTI[present[0]][1](np.atleast_2d(geoms[single]), axis=0)
        present, wkb = present[1:], None
    if (
        wkb is None
        or len(wkb) != len(geoms)
        or wkb.null_count != int(shapely.is_missing(geoms).sum())
    ):
        wkb = pa.array(shapely.to_wkb(geoms, output_dimension=2), pa.binary())
    table = table.replace_schema_metadata(None).append_column("geometry", wkb.cast(pa.binary()))
    geo = _geo_metadata(geometry.series.crs, [_TYPE_NAMES.get(k, "Unknown") for k in present])
    table = table.replace_schema_metadata({b"geo": json.dumps(geo).encode()})
    _replacing(out, lambda: pq.write_table(table, out))
    return out


def _rebatch(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    pending: list[pa.RecordBatch] = []
    count = 0
    for b in batches:
        pending.append(b)
        count += len(b)
        if count >= rows:
            yield pa.Table.from_batches(pending).combine_chunks().to_batches()[0]
            pending, count = [], 0
    if pending:
        yield pa.Table.from_batches(pending).combine_chunks().to_batches()[0]


def _geo_metadata(crs: Any, types: list[str]) -> dict[str, Any]:
    column: dict[str, Any] = {"encoding": "WKB", "geometry_types": sorted(set(types) - {"Unknown"})}
    column["crs"] = crs.to_json_dict() if crs is not None else None
    return {"version": "1.0.0", "primary_column": "geometry", "columns": {"geometry": column}}


def _replacing(out: Path, write: Callable[[], Any]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    remover = None
    if out.is_file():
        old = out.with_name(f".{out.name}.replaced-{os.getpid()}")
        out.replace(old)
        remover = threading.Thread(target=old.unlink)
        remover.start()
    try:
        write()
    except OSError as exc:
        raise InputError(f"{out}: cannot write: {exc.strerror or exc}") from None
    finally:
        if remover is not None:
            remover.join()


def cleanup(plan: Plan) -> None:
    shutil.rmtree(plan.scratch, ignore_errors=True)


__all__ = ["PartitionedAnswer", "answer_of", "assemble", "is_directory_output", "stream_out"]
