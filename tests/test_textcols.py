"""Text columns assembled by Arrow: placed at rows, and joined row by row."""

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from siting import textcols
from siting.notes import Notes, join_texts
from siting.textcols import place_texts


def test_place_texts_puts_each_part_at_its_rows():
    out = place_texts(5, [([3, 0], ["d", "a"]), ([4], "e"), ([1], pa.array(["b"]))])
    assert out.to_pylist() == ["a", "b", None, "d", "e"]
    patched = place_texts(5, [([2], ["C"])], base=out)
    assert patched.to_pylist() == ["a", "b", "C", "d", "e"]
    assert place_texts(3, []).to_pylist() == [None, None, None]


text = st.one_of(st.none(), st.sampled_from(["a", "b c", "医院", ""]))


@st.composite
def placements(draw):
    n = draw(st.integers(0, 12))
    rows = st.lists(st.integers(0, n - 1), max_size=n) if n else st.just([])
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        at = draw(rows)
        kind = draw(st.sampled_from(["list", "arrow", "one", "numpy"]))
        texts = draw(st.lists(text, min_size=len(at), max_size=len(at)))
        if kind == "arrow":
            parts.append((at, pa.array(texts, pa.string())))
        elif kind == "one":
            parts.append((np.array(at, np.int64), draw(st.sampled_from(["x", "医院"]))))
        elif kind == "numpy":
            parts.append((at, np.array(texts, dtype=object)))
        else:
            parts.append((at, texts))
    base = draw(st.one_of(st.none(), st.lists(text, min_size=n, max_size=n)))
    return n, parts, None if base is None else pa.array(base, pa.string())


@settings(max_examples=300, deadline=None)
@given(placements())
def test_place_texts_small_path_equals_arrow_path(case):
    """A few rows are placed in a Python list: the same texts at the same rows as Arrow's."""
    n, parts, base = case
    small = place_texts(n, parts, base)
    old = textcols.SMALL_TEXTS
    textcols.SMALL_TEXTS = -1
    try:
        whole = place_texts(n, parts, base)
    finally:
        textcols.SMALL_TEXTS = old
    assert small.type == whole.type == pa.string()
    assert small.to_pylist() == whole.to_pylist()


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 12).flatmap(lambda n: st.lists(st.lists(text, min_size=n, max_size=n))))
def test_join_texts_is_a_row_wise_join_of_the_present_texts(columns):
    n = len(columns[0]) if columns else 0
    joined = join_texts([pa.array(c, pa.string()) for c in columns], n).to_pylist()
    expected = [" | ".join(c[i] for c in columns if c[i] is not None) for i in range(n)]
    assert joined == expected  # also with all-missing columns (a pyarrow 26 pitfall)


def test_note_blocks_become_text_columns():
    notes = Notes()
    notes.add(2, "error", "bad")
    notes.add(2, "error", "bad")  # repeated within a block: once
    notes.add_many(np.array([3, 1]), "warning", "same for all")
    notes.add_many(np.array([4, 0]), "info", pa.array(["four", "zero"]))
    cols = [c.to_pylist() for c in notes.text_columns(5)]
    assert cols == [
        [None, None, "error: bad", None, None],
        [None, "warning: same for all", None, "warning: same for all", None],
        ["info: zero", None, None, None, "info: four"],
    ]
    assert [n.text for n in notes.get(4)] == ["info: four"]
    assert [n.text for n in notes.get(3)] == ["warning: same for all"]
