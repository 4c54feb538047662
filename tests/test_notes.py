"""siting.notes: reading notes a window of rows at a time gives what row-by-row reading gives."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from siting.notes import NoteReader, Notes

N = 40
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, N - 1), st.sampled_from(["info", "warning"])),
        st.tuples(
            st.just("many"),
            st.lists(st.integers(0, N - 1), max_size=12),
            st.booleans(),  # one message for all rows, or one per row
        ),
    ),
    max_size=12,
)


def build(ops) -> Notes:
    notes = Notes()
    for k, op in enumerate(ops):
        if op[0] == "add":
            notes.add(op[1], op[2], f"note {k} on {op[1]}")
        else:
            rows = np.array(op[1], dtype=np.int64)
            messages = f"bulk {k}" if op[2] else [f"bulk {k} row {r}" for r in op[1]]
            notes.add_many(rows, "info", messages)
    return notes


@settings(max_examples=200, deadline=None)
@given(OPS, st.integers(0, N), st.integers(0, N))
def test_a_window_is_the_rows_one_by_one(ops, a, b):
    notes = build(ops)
    start, stop = min(a, b), max(a, b)
    assert notes.window(start, stop) == [notes.get(i) for i in range(start, stop)]


@settings(max_examples=100, deadline=None)
@given(OPS, st.integers(1, 7))
def test_the_reader_follows_notes_added_while_reading(ops, size):
    notes = build(ops)
    reader = NoteReader(notes, N, size=size)
    assert [reader.get(i) for i in range(N)] == [notes.get(i) for i in range(N)]
    notes.add(3, "error", "added late")  # a note added after reading began is seen
    assert reader.get(3) == notes.get(3) and reader.get(3)[-1].message == "added late"
