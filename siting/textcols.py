"""Text columns for result tables, built by Arrow (pandas' own text type since pandas 3):
from codes into a few labels, or from Python strings, without pandas guessing types
element by element."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

try:
    TEXT = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas 3's default text dtype
except TypeError:  # pragma: no cover - pandas 2
    TEXT = pd.StringDtype("pyarrow")


def text_labels(codes: np.ndarray, labels: list, missing: str | None = None) -> pd.Series:
    """A text column from codes into a few labels (code -1: `missing`), built in Arrow."""
    table = pa.array([*labels, missing], pa.string())
    return pd.Series(table.take(pa.array(np.where(codes < 0, len(labels), codes))), dtype=TEXT)


def text_column(values) -> pd.Series:
    """A text column from Python strings (None stays missing) or an Arrow text array."""
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return pd.Series(values.cast(pa.string()), dtype=TEXT)
    return pd.Series(pa.array(values, pa.string(), from_pandas=True), dtype=TEXT)


def text_take(values, index: np.ndarray, hit: np.ndarray) -> pd.Series:
    """values[index] where hit, else missing: a text column gathered from a small table
    (`values`: Python strings or a text Series)."""
    table = pa.array(values, pa.string(), from_pandas=True)
    return pd.Series(table.take(pa.array(np.where(hit, index, 0), mask=~hit)), dtype=TEXT)
