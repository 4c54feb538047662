"""Arrow's memory allocator for a large check run.

A check of a big site list builds many large Arrow arrays once (texts of a million rows,
taken, cast and joined; CSV slices), each growing its buffer as it is filled. With pyarrow's
default allocator (mimalloc since Arrow 15) that was slow on the 2-core VM of
docs/benchmarks.md (issue 12): a take of a million citations (83 MB) cost 0.38 s the first
two times in a process and 0.01 s the third (memory it could reuse), and 0.08 s every time
with jemalloc; over a whole `siting check` of 1,000,000 sites jemalloc saved 1.5-2 s of CPU
(of 7.7-9.9 s). `large_arrays()` makes jemalloc Arrow's default for the length of a run when
this pyarrow has it (Linux wheels do), and puts the previous default back after, with what
the run freed given back to the system. Buffers remember the pool they came from, so arrays
made inside and used outside stay valid.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa


@contextmanager
def large_arrays() -> Iterator[None]:
    """Arrow's jemalloc pool as the default inside the block (unchanged without it)."""
    try:
        pool = pa.jemalloc_memory_pool()
    except (NotImplementedError, pa.ArrowNotImplementedError):
        yield
        return
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pool)
    try:
        yield
    finally:
        pa.set_memory_pool(previous)
        pool.release_unused()  # what the run freed goes back to the system
