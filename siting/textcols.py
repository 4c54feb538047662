"""Text columns for result tables, built by Arrow (pandas' own text type since pandas 3):
from codes into a few labels, or from Python strings, without pandas guessing types
element by element."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

try:
    TEXT = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas 3's default text dtype
except TypeError:  # pragma: no cover - pandas 2
    TEXT = pd.StringDtype("pyarrow")


def text_labels(
    codes: np.ndarray, labels: Sequence[str], missing: str | None = None, coded: bool = False
) -> pd.Series:
    """A text column from codes into a few labels (code -1: `missing`), built in Arrow.
    coded=True: as an Arrow dictionary column (the codes and the labels, no text per row:
    for writers that take it, such as the CSV writer)."""
    table = pa.array([*labels, missing], pa.string())
    index = np.where(codes < 0, len(labels), codes)
    if coded:
        gone = (codes < 0) if missing is None else None  # missing: a null, not a null label
        array = pa.DictionaryArray.from_arrays(pa.array(index.astype(np.int32), mask=gone), table)
        return pd.Series(pd.arrays.ArrowExtensionArray(array))
    return pd.Series(table.take(pa.array(index)), dtype=TEXT)


def text_column(
    values: pa.Array | pa.ChunkedArray | np.ndarray | Sequence[str | None],
) -> pd.Series:
    """A text column from Python strings (None stays missing) or an Arrow text array."""
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return pd.Series(values.cast(pa.string()), dtype=TEXT)
    return pd.Series(pa.array(values, pa.string(), from_pandas=True), dtype=TEXT)


def text_offsets(values: pa.Array) -> np.ndarray:
    """Where each text of an Arrow string array begins in its data buffer, and where the last
    ends (n + 1 offsets, read in place: string or large_string)."""
    wide = pa.types.is_large_string(values.type)
    offsets: np.ndarray = np.frombuffer(
        values.buffers()[1],
        dtype=np.int64 if wide else np.int32,
        count=len(values) + 1,
        offset=values.offset * (8 if wide else 4),
    )
    return offsets


def text_take(
    values: pd.Series | np.ndarray | Sequence[str | None], index: np.ndarray, hit: np.ndarray
) -> pd.Series:
    """values[index] where hit, else missing: a text column gathered from a small table
    (`values`: Python strings or a text Series)."""
    table = pa.array(values, pa.string(), from_pandas=True)
    return pd.Series(table.take(pa.array(np.where(hit, index, 0), mask=~hit)), dtype=TEXT)


def place_texts(
    n: int,
    parts: Iterable[tuple[npt.ArrayLike, pa.Array | pa.ChunkedArray | Sequence[str | None] | str]],
    base: pa.Array | pa.ChunkedArray | None = None,
) -> pa.Array:
    """A text column of n (Arrow) with each part's texts at its rows: parts are (rows,
    texts) with texts an Arrow array, a list of strings, or one string for all the rows.
    Other rows come from `base` (a text array of n) or are missing. Later parts win."""
    if n <= SMALL_TEXTS:
        return _place_small(n, parts, base)
    pieces = [] if base is None else [base.cast(pa.string())]
    where = np.arange(n) if base is not None else np.full(n, -1, np.int64)
    start = n if base is not None else 0
    for rows, texts in parts:
        rows = np.asarray(rows, np.int64)
        if isinstance(texts, str):
            pieces.append(pa.array([texts], pa.string()))
            where[rows] = start
            start += 1
            continue
        if not isinstance(texts, pa.Array | pa.ChunkedArray):
            texts = pa.array(texts, pa.string(), from_pandas=True)
        pieces.append(texts.cast(pa.string()))
        where[rows] = start + np.arange(len(rows))
        start += len(rows)
    if not pieces:
        return pa.nulls(n, pa.string())
    values = pa.concat_arrays(
        [p.combine_chunks() if isinstance(p, pa.ChunkedArray) else p for p in pieces]
    )
    return values.take(pa.array(where, mask=where < 0))


# Up to this many rows, `place_texts` places the texts in a Python list (Arrow's per-call
# costs are most of the time for the few rows of a single-site check).
SMALL_TEXTS = 64


def _place_small(
    n: int,
    parts: Iterable[tuple[npt.ArrayLike, pa.Array | pa.ChunkedArray | Sequence[str | None] | str]],
    base: pa.Array | pa.ChunkedArray | None,
) -> pa.Array:
    """`place_texts` for a few rows, the same texts at the same rows."""
    out: list[str | None] = [None] * n if base is None else base.cast(pa.string()).to_pylist()
    for rows, texts in parts:
        at = np.asarray(rows, np.int64).tolist()
        if isinstance(texts, str):
            for i in at:
                out[i] = texts
            continue
        if isinstance(texts, pa.Array | pa.ChunkedArray):
            texts = texts.cast(pa.string()).to_pylist()
        if len(texts) < len(at):
            raise ValueError(f"{len(texts)} texts for {len(at)} rows")
        for i, text in zip(at, texts, strict=False):
            out[i] = text
    return pa.array(out, pa.string(), from_pandas=True)
