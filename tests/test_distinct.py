"""siting.distinct: the small-input path gives exactly what the pandas path gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from siting import distinct

VALUES = st.one_of(
    st.integers(-3, 3), st.sampled_from([None, np.nan, pd.NA, "a", "b", 1.0, True, 2.5])
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(VALUES, min_size=0, max_size=30), min_size=1, max_size=4), st.data())
def test_small_and_large_paths_agree(raw, data):
    n = len(raw[0])
    cols = []
    for k, col in enumerate(raw):
        col = (col + [None] * n)[:n]
        if k % 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in col):
            cols.append(np.array(col, dtype=np.int64))
        else:
            arr = np.empty(n, dtype=object)
            arr[:] = col
            cols.append(arr)
    small = distinct.distinct_rows(*cols)
    saved = distinct.SMALL_ROWS
    distinct.SMALL_ROWS = -1  # force the pandas path
    try:
        large = distinct.distinct_rows(*cols)
    finally:
        distinct.SMALL_ROWS = saved
    assert small[0].tolist() == large[0].tolist()
    assert small[1].tolist() == large[1].tolist()


def test_codes_follow_first_appearance():
    codes, first = distinct.distinct_rows(np.array([5, 3, 5, 7, 3]), np.array([1, 1, 1, 2, 1]))
    assert codes.tolist() == [0, 1, 0, 2, 1] and first.tolist() == [0, 1, 3]
