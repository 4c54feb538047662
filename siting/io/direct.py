"""A region of a large output file written around the page cache (Linux O_DIRECT).

Writing a file through the page cache needs a page of memory for every 4 KiB written. On
the VM of docs/benchmarks.md memory the kernel has had free for a moment is handed back to
the host (free page reporting), and the first touch of such a page costs several
microseconds: the 190 MB each process of a 1,000,000-site check in parts writes took 0.3 s
with pages just freed and 0.75-0.9 s with pages handed back, run after run alternating. A
direct write sends the bytes from one reused buffer to the disk instead (2 GB/s here, the
processor free meanwhile), whatever the state of the machine's memory.

`DirectRegion` takes the bytes of one contiguous region of a file, in order, from any
offset: whole pages through the buffer with O_DIRECT, and the region's first and last
partial pages through the page cache (a direct write must start and end on page
boundaries, and a page that two writers share - the boundary between two regions - must
not be written directly by one of them while the other writes into its cache). Where the
file system refuses direct writes (tmpfs, some network file systems) or there is no
O_DIRECT, `open_region` gives a plain writer of the same region.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
from pathlib import Path

CHUNK = 4 << 20  # bytes gathered before a direct write (a multiple of any page size)
# Direct writes start and end on page boundaries: the devices' own alignment (512 or 4096
# bytes) divides a page, and no page is shared with a write through the cache. (st_blksize,
# the preferred size of a write, can be larger than a chunk: not this.)
PAGE = mmap.PAGESIZE


class PlainRegion:
    """The region written through the page cache."""

    def __init__(self, path: Path, start: int) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        self.pos = start

    def write(self, data: bytes | memoryview) -> int:
        view = memoryview(data).cast("B")
        write_at(self.fd, view, self.pos)
        self.pos += len(view)
        return len(view)

    def close(self) -> None:
        self.discard()  # nothing is held here

    def discard(self) -> None:
        """Closed without writing what is held (after a failed write)."""
        os.close(self.fd)


class DirectRegion(PlainRegion):
    """The region's whole pages written with O_DIRECT from an aligned buffer; its first and
    last partial pages through the page cache (see the module's text)."""

    def __init__(self, path: Path, start: int, direct: int) -> None:
        super().__init__(path, start)
        self.direct = direct
        self.head = -start % PAGE  # bytes before the first page boundary: plain
        self.buffer = mmap.mmap(-1, CHUNK)  # page-aligned, reused for every chunk
        self.fill = 0  # bytes in the buffer
        self.at = 0  # where the buffer's first byte goes (a page boundary)
        self.refused = False  # the file system turned a direct write down: plain from then

    def write(self, data: bytes | memoryview) -> int:
        view = memoryview(data).cast("B")
        size = len(view)
        if self.head:
            k = min(self.head, len(view))
            write_at(self.fd, view[:k], self.pos)
            self.pos += k
            self.head -= k
            view = view[k:]
        while view:
            if not self.fill:
                self.at = self.pos
            k = min(len(view), CHUNK - self.fill)
            self.buffer[self.fill : self.fill + k] = view[:k]
            self.fill += k
            self.pos += k
            view = view[k:]
            if self.fill == CHUNK:
                self._flush()
        return size

    def _flush(self) -> None:
        """The buffer's whole pages written directly; the rest kept at its start."""
        whole = self.fill - self.fill % PAGE
        if whole:
            chunk = memoryview(self.buffer)[:whole]
            try:
                if not self.refused:
                    try:
                        write_at(self.direct, chunk, self.at)
                    except OSError as exc:
                        if exc.errno != errno.EINVAL:
                            raise
                        self.refused = True
                if self.refused:  # refused after all: through the cache
                    write_at(self.fd, chunk, self.at)
            finally:
                chunk.release()
            rest = self.fill - whole
            self.buffer[0:rest] = self.buffer[whole : self.fill]
            self.at += whole
            self.fill = rest

    def close(self) -> None:
        try:
            self._flush()
            if self.fill:  # the last partial page
                with memoryview(self.buffer) as view:
                    write_at(self.fd, view[: self.fill], self.at)
                self.fill = 0
        finally:
            self.discard()

    def discard(self) -> None:
        # after a failed write a view of the buffer may live on in the traceback: then the
        # buffer goes when that does (the error is what the caller must see)
        with contextlib.suppress(BufferError):
            self.buffer.close()
        os.close(self.direct)
        super().discard()


def open_region(path: Path, start: int) -> PlainRegion:
    """A writer of `path`'s bytes from `start` on: direct where the system allows it."""
    flag = getattr(os, "O_DIRECT", 0)
    if flag:
        try:
            direct = os.open(path, os.O_WRONLY | os.O_CLOEXEC | flag)
        except OSError:  # a file system without direct writes
            pass
        else:
            return DirectRegion(path, start, direct)
    return PlainRegion(path, start)


def write_at(fd: int, view: memoryview, offset: int) -> None:
    """All of `view` at `offset` (os.pwrite may write less than asked)."""
    while len(view):
        done = os.pwrite(fd, view, offset)
        view, offset = view[done:], offset + done
