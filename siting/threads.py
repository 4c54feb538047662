"""How many cores a run's own helper threads may count on.

A check runs a few things beside its main thread where they save time on a machine with
cores to spare: a result table's explanations (siting.check), the slices of a CSV output
(siting.io.writers). In a check in parts (siting.parts) each of the two processes has one
core, the other process the other: there these threads only compete with the main thread
(measured: a 1,000,000-site check 0.1-0.15 s slower with them, docs/benchmarks.md), so
each part runs alone, on the core it has.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

_ALONE = False


def cores() -> int:
    """The cores this process's helper threads may use: 1 inside `alone()`."""
    return 1 if _ALONE else os.cpu_count() or 1


@contextmanager
def alone() -> Iterator[None]:
    """Inside the block, this process counts on one core (it shares the machine with
    another process of the same run)."""
    global _ALONE
    before, _ALONE = _ALONE, True
    try:
        yield
    finally:
        _ALONE = before
