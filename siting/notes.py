"""Notes on rows (sites, or evaluations), kept in the order they were added.

A note is one level (error | warning | info | recommendation) and one message. Most notes
concern a few rows and are added one by one; some concern many rows at once (every lot whose
space count was estimated, every evaluation that prefers fast charging) and are kept as
arrays, so that a million notes cost array operations rather than a million Python objects.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from siting.textcols import place_texts


@dataclass
class Note:
    level: str  # error | warning | info | recommendation
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"level": self.level, "message": self.message}

    @property
    def text(self) -> str:
        return f"{self.level}: {self.message}"


@dataclass
class _Bulk:
    rows: np.ndarray  # int64, sorted, each row once
    level: str
    messages: str | pa.Array  # one message for all rows, or one per row (Arrow text)

    def message(self, j: int) -> str:
        return self.messages if isinstance(self.messages, str) else self.messages[j].as_py()


class Notes:
    """Notes per row. `add` for one note, `add_many` for one level and a message (or one
    message per row) on many rows."""

    def __init__(self) -> None:
        self._blocks: list[dict[int, list[Note]] | _Bulk] = []
        self.version = 0  # changes with every note added (see NoteReader)

    def add(self, i: int, level: str, message: str) -> None:
        self.version += 1
        block = self._blocks[-1] if self._blocks else None
        if not isinstance(block, dict):
            block = defaultdict(list)
            self._blocks.append(block)
        block[int(i)].append(Note(level, message))

    def add_many(
        self, rows: np.ndarray, level: str, messages: str | Sequence[str] | pa.Array
    ) -> None:
        rows = np.asarray(rows, dtype=np.int64)
        if not len(rows):
            return
        self.version += 1
        order = np.argsort(rows, kind="stable")
        rows = rows[order]
        if isinstance(messages, str):
            msgs: str | pa.Array = messages
        else:
            if not isinstance(messages, pa.Array | pa.ChunkedArray):
                messages = pa.array(np.asarray(messages, dtype=object), pa.string())
            msgs = messages.take(pa.array(order))
        if len(rows) > 1 and (rows[1:] == rows[:-1]).any():  # a row twice: one note each
            texts = [msgs] * len(rows) if isinstance(msgs, str) else msgs.to_pylist()
            for i, m in zip(rows.tolist(), texts, strict=True):
                self.add(i, level, m)
            return
        self._blocks.append(_Bulk(rows, level, msgs))

    def extend(self, other: Notes) -> None:
        self._blocks.extend(other._blocks)
        self.version += 1

    def get(self, i: int) -> list[Note]:
        out: list[Note] = []
        for block in self._blocks:
            if isinstance(block, dict):
                out.extend(block.get(i, ()))
            else:
                j = int(np.searchsorted(block.rows, i))
                if j < len(block.rows) and block.rows[j] == i:
                    out.append(Note(block.level, block.message(j)))
        return out

    def window(self, start: int, stop: int) -> list[list[Note]]:
        """`[self.get(i) for i in range(start, stop)]`, with one search per block instead of
        one per row and block."""
        out: list[list[Note]] = [[] for _ in range(stop - start)]
        for block in self._blocks:
            if isinstance(block, dict):
                if len(block) <= stop - start:
                    hits = [(i, ns) for i, ns in block.items() if start <= i < stop]
                    hits.sort(key=lambda hit: hit[0])
                else:
                    hits = [(i, block[i]) for i in range(start, stop) if i in block]
                for i, ns in hits:
                    out[i - start].extend(ns)
            else:
                lo, hi = np.searchsorted(block.rows, [start, stop]).tolist()
                if lo == hi:
                    continue
                rows = block.rows[lo:hi].tolist()
                if isinstance(block.messages, str):
                    texts = [block.messages] * len(rows)
                else:
                    texts = block.messages[lo:hi].to_pylist()
                for i, m in zip(rows, texts, strict=True):
                    out[i - start].append(Note(block.level, m))
        return out

    def present(self, n: int) -> np.ndarray:
        """A bool mask over n rows: true where the row has at least one note."""
        mask = np.zeros(n, dtype=bool)
        for block in self._blocks:
            if isinstance(block, dict):
                rows = [i for i, ns in block.items() if ns and 0 <= i < n]
                mask[np.array(rows, np.int64)] = True
            else:
                mask[block.rows[block.rows < n]] = True
        return mask

    def flat(self, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray, pa.Array]:
        """Every note of the rows where `keep` (a bool mask over the rows) is true, one entry
        each: (rows, order, 'level: message' as Arrow text). Sorting a row's entries by
        `order` lists its notes as `get` does (block by block, in the order added)."""
        rows_out: list[np.ndarray] = []
        order_out: list[np.ndarray] = []
        texts_out: list[pa.Array] = []
        for b, block in enumerate(self._blocks):
            base = b << 20
            if isinstance(block, dict):
                rows, order, texts = [], [], []
                for i, ns in block.items():
                    if i < len(keep) and keep[i]:
                        for j, note in enumerate(ns):
                            rows.append(i)
                            order.append(base + j)
                            texts.append(note.text)
                if rows:
                    rows_out.append(np.array(rows, np.int64))
                    order_out.append(np.array(order, np.int64))
                    texts_out.append(pa.array(texts, pa.string()))
                continue
            inside = block.rows < len(keep)
            hit = np.flatnonzero(inside)[keep[block.rows[inside]]]
            if not len(hit):
                continue
            rows_out.append(block.rows[hit])
            order_out.append(np.full(len(hit), base, np.int64))
            if isinstance(block.messages, str):
                texts_out.append(
                    pa.array([f"{block.level}: {block.messages}"], pa.string()).take(
                        pa.array(np.zeros(len(hit), np.int64))
                    )
                )
            else:
                msgs = block.messages.take(pa.array(hit))
                texts_out.append(pc.binary_join_element_wise(block.level + ": ", msgs, ""))
        if not rows_out:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), pa.array([], pa.string())
        return (
            np.concatenate(rows_out),
            np.concatenate(order_out),
            pa.concat_arrays([_plain_array(t) for t in texts_out]),
        )

    def text_columns(self, n: int) -> list[pa.Array]:
        """Per block, a text column of n (Arrow): 'level: message' (a row's several notes in
        one block joined by ' | ') or missing."""
        cols = []
        for block in self._blocks:
            if isinstance(block, dict):
                rows = [i for i, ns in block.items() if ns]
                texts = [" | ".join(dict.fromkeys(note.text for note in block[i])) for i in rows]
                cols.append(place_texts(n, [(np.array(rows, np.int64), texts)]))
            elif isinstance(block.messages, str):
                cols.append(place_texts(n, [(block.rows, f"{block.level}: {block.messages}")]))
            else:
                texts = pc.binary_join_element_wise(block.level + ": ", block.messages, "")
                cols.append(place_texts(n, [(block.rows, texts)]))
        return cols


def _plain_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    values = values.cast(pa.string())
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


class NoteReader:
    """Reads the notes of rows in order (as a result writer does), a window of rows at a
    time: `get(i)` equals `notes.get(i)`, at a fraction of the cost over many rows."""

    def __init__(self, notes: Notes, n: int, size: int = 4096) -> None:
        self.notes = notes
        self.n = n  # rows there are
        self.size = size
        self._start = self._stop = 0
        self._rows: list[list[Note]] = []
        self._version = -1

    def get(self, i: int) -> list[Note]:
        if self._version != self.notes.version or not self._start <= i < self._stop:
            self._start, self._stop = i, max(i + 1, min(i + self.size, self.n))
            self._rows = self.notes.window(self._start, self._stop)
            self._version = self.notes.version
        return self._rows[i - self._start]


def join_texts(columns: Iterable[pa.Array], n: int) -> pa.Array:
    """Row-wise ' | '.join of the present texts of several text columns ('' for none), by
    Arrow."""
    columns = [c for c in columns if c.null_count < len(c)]  # all-missing ones add nothing
    if not columns:
        return pa.array(np.full(n, "", dtype=object), pa.string())
    # pairwise (null_handling="skip" miscounts rows when a column is all missing, pyarrow 26)
    out = columns[0]
    for col in columns[1:]:
        out = pc.coalesce(pc.binary_join_element_wise(out, col, " | "), out, col)
    return pc.fill_null(out, "")
