"""Regions of a file written around the page cache (siting/io/direct.py): whatever the
region's start, the sizes of the pieces and the order two writers take turns in, the file
holds exactly the bytes given; where direct writes are refused, the same bytes are written
through the page cache."""

from __future__ import annotations

import errno
import itertools
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siting.io import direct
from siting.io.direct import DirectRegion, PlainRegion, open_region


def pieces_of(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=40, deadline=None)
@given(
    first=st.integers(0, 3 * 4096 + 17),
    second=st.integers(0, 2 * direct.CHUNK // 3),
    cuts=st.lists(st.integers(0, 10**7), max_size=12),
    turns=st.lists(st.booleans(), max_size=40),
    chunk=st.sampled_from([4096, 3 * 4096, direct.CHUNK]),
)
def test_two_regions_written_at_once_hold_every_byte(
    tmp_path_factory, first, second, cuts, turns, chunk
):
    """Two writers (as the two processes of a check in parts) write two regions that meet
    at any offset, page-aligned or not, in pieces of any size, taking turns: the file is the
    two regions' bytes, in order."""
    saved = direct.CHUNK
    direct.CHUNK = chunk
    try:
        path = tmp_path_factory.mktemp("direct") / "out.csv"
        path.write_bytes(b"")
        a, b = os.urandom(first), os.urandom(second)
        writers = [open_region(path, 0), open_region(path, first)]
        queues = [pieces_of(a, cuts), pieces_of(b, cuts[::-1])]
        k = 0
        while any(queues):
            who = turns[k % len(turns)] if turns else k % 2
            if not queues[who]:
                who = 1 - who
            writers[who].write(queues[who].pop(0))
            k += 1
        for w in writers:
            w.close()
        assert writers[0].pos == first and writers[1].pos == first + second
        assert path.read_bytes() == a + b
    finally:
        direct.CHUNK = saved


def direct_region(path, start: int) -> DirectRegion:
    """A direct writer of a new empty file from `start` (the test skipped where the file
    system takes no direct writes)."""
    path.write_bytes(b"")
    region = open_region(path, start)
    if not isinstance(region, DirectRegion):
        region.close()
        pytest.skip("this file system takes no direct writes")
    return region


def test_a_large_region_goes_direct(tmp_path):
    path = tmp_path / "big.bin"
    region = direct_region(path, 0)
    data = os.urandom(3 * direct.CHUNK + 1234)
    region.write(memoryview(data))
    region.close()
    assert not region.refused and path.read_bytes() == data


def test_no_direct_writes_on_this_file_system_gives_a_plain_writer(tmp_path, monkeypatch):
    real_open = os.open

    def no_direct(path, flags, *args):
        if flags & getattr(os, "O_DIRECT", 0):
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", no_direct)
    path = tmp_path / "out.csv"
    path.write_bytes(b"")
    region = open_region(path, 0)
    assert type(region) is PlainRegion
    region.write(b"x" * 10_000)
    region.close()
    assert path.read_bytes() == b"x" * 10_000


def test_a_direct_write_turned_down_is_written_through_the_cache(tmp_path, monkeypatch):
    path = tmp_path / "out.csv"
    region = direct_region(path, 100)
    real_pwrite = os.pwrite

    def refuse(fd, data, offset):
        if fd == region.direct:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", refuse)
    data = os.urandom(2 * direct.CHUNK + 5)
    region.write(data)
    region.close()
    assert region.refused
    assert path.read_bytes() == b"\0" * 100 + data


def test_another_write_error_is_not_hidden(tmp_path, monkeypatch):
    """A full disk is an error, never a file quietly short."""
    path = tmp_path / "out.csv"
    path.write_bytes(b"")
    region = open_region(path, 0)
    real_pwrite = os.pwrite

    def full(fd, data, offset):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwrite", full)
    with pytest.raises(OSError, match="No space"):
        region.write(os.urandom(direct.CHUNK + 1))
    # closed after the failure: the same error, not a BufferError over the buffer still
    # seen by the failed write's traceback (found by an attack)
    if isinstance(region, DirectRegion):  # it holds bytes still: writing them fails again
        with pytest.raises(OSError, match="No space"):
            region.close()
    else:
        region.close()
    monkeypatch.setattr(os, "pwrite", real_pwrite)
