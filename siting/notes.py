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
    messages: np.ndarray  # object: one message per row


class Notes:
    """Notes per row. `add` for one note, `add_many` for one level and a message (or one
    message per row) on many rows."""

    def __init__(self) -> None:
        self._blocks: list[dict[int, list[Note]] | _Bulk] = []

    def add(self, i: int, level: str, message: str) -> None:
        if not self._blocks or not isinstance(self._blocks[-1], dict):
            self._blocks.append(defaultdict(list))
        self._blocks[-1][int(i)].append(Note(level, message))

    def add_many(self, rows: np.ndarray, level: str, messages: str | Sequence[str]) -> None:
        rows = np.asarray(rows, dtype=np.int64)
        if not len(rows):
            return
        if isinstance(messages, str):
            msgs = np.full(len(rows), messages, dtype=object)
        else:
            msgs = np.asarray(messages, dtype=object)
        order = np.argsort(rows, kind="stable")
        rows, msgs = rows[order], msgs[order]
        if len(rows) > 1 and (rows[1:] == rows[:-1]).any():  # a row twice: one note each
            for i, m in zip(rows.tolist(), msgs.tolist(), strict=True):
                self.add(i, level, m)
            return
        self._blocks.append(_Bulk(rows, level, msgs))

    def extend(self, other: Notes) -> None:
        self._blocks.extend(other._blocks)

    def get(self, i: int) -> list[Note]:
        out: list[Note] = []
        for block in self._blocks:
            if isinstance(block, dict):
                out.extend(block.get(i, ()))
            else:
                j = int(np.searchsorted(block.rows, i))
                if j < len(block.rows) and block.rows[j] == i:
                    out.append(Note(block.level, block.messages[j]))
        return out

    def text_columns(self, n: int) -> list[np.ndarray]:
        """Per block, an object array of n: 'level: message' (a row's several notes in one
        block joined by ' | ') or None."""
        cols = []
        for block in self._blocks:
            col = np.full(n, None, dtype=object)
            if isinstance(block, dict):
                for i, ns in block.items():
                    if ns:
                        col[i] = " | ".join(dict.fromkeys(note.text for note in ns))
            else:
                col[block.rows] = (block.level + ": ") + block.messages
            cols.append(col)
        return cols


def join_texts(columns: Iterable[np.ndarray], n: int) -> np.ndarray:
    """Row-wise ' | '.join of the non-None texts of several object columns ('' for none),
    as whole-column operations."""
    out = np.full(n, "", dtype=object)
    started = np.zeros(n, bool)
    for col in columns:
        has = col != None  # noqa: E711
        more = has & started
        out[more] = out[more] + " | " + col[more]
        first = has & ~started
        out[first] = col[first]
        started |= has
    return out
