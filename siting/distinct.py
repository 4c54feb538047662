"""Distinct rows of several columns, numbered by first appearance - the grouping step of the
scenario and explanation code, on whole columns."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

SMALL_ROWS = 256  # up to here a dict beats pandas' per-call set-up (a single check's rows)


def distinct_rows(*columns: np.ndarray) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Rows of several columns -> (code per row, first row of each code), codes numbered by
    first appearance. Hash-based (pandas factorize, one column at a time): a sort of the rows
    as a matrix (np.unique(axis=0)) is many times slower on a million rows. Every missing value
    (None, NaN, NA) is one value, as pandas.factorize counts it."""
    n = len(columns[0]) if columns else 0
    if n <= SMALL_ROWS:
        return _small(columns, n)
    acc = np.zeros(n, np.int64)
    for col in columns:
        code, uniques = pd.factorize(col, use_na_sentinel=False)
        acc = pd.factorize(acc * (len(uniques) + 1) + code)[0]
    _, first = np.unique(acc, return_index=True)
    return acc, first


def _small(columns: tuple[np.ndarray, ...], n: int) -> tuple[np.ndarray, np.ndarray]:
    index: dict[tuple[object, ...], int] = {}
    firsts: list[int] = []
    codes = np.empty(n, np.int64)
    for i, key in enumerate(zip(*(_keys(c) for c in columns), strict=True)):
        code = index.setdefault(key, len(index))
        if code == len(firsts):
            firsts.append(i)
        codes[i] = code
    if not columns:
        codes = np.zeros(0, np.int64)
    return codes, np.array(firsts, np.int64)


def _keys(col: np.ndarray) -> list[object]:
    values: list[object] = np.asarray(col).tolist()
    if col.dtype == object or col.dtype.kind == "f":
        return [None if _missing(v) else v for v in values]
    return values


def _missing(v: object) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and v != v)
