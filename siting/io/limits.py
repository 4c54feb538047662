"""How far a file may expand when it is read: the limits, in one place.

An .xlsx workbook is a zip of XML; a zipped shapefile is a zip; a .dbf declares its record
count and record length in its header. Each is checked against these limits *before* it is
parsed, from the archive's directory or the header alone, so a small file that would expand
to gigabytes is refused at once (`InputTooLarge`: the CLI exits 2).

The defaults suit a desktop run; a server may pass stricter `ExpansionLimits` (the readers
take a `limits=` argument; `siting.run.check_files` passes it on).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from typing import Any

from siting.errors import BrokenFile, InputTooLarge

MB = 1024 * 1024


@dataclass(frozen=True)
class ExpansionLimits:
    max_expanded_bytes: int = 2048 * MB  # an archive's members together, or a .dbf's table
    max_ratio: float = 100.0  # expanded / compressed, for an archive past `ratio_floor_bytes`
    ratio_floor_bytes: int = 64 * MB  # below this, any ratio is harmless
    max_members: int = 10_000


DEFAULT_LIMITS = ExpansionLimits()

# Site records are shallow (a record, its charger list, a charger): JSON nested deeper than
# this, in a JSON file or as JSON text in a cell, is refused before anything recurses into it.
MAX_JSON_DEPTH = 64


def _size(n: int) -> str:
    return f"{n / MB:,.0f} MB" if n >= MB else f"{n:,} bytes"


def check_zip_expansion(
    zf: zipfile.ZipFile, label: str, limits: ExpansionLimits | None = None, what: str = "zip"
) -> None:
    """Refuse an archive whose members together expand too far, or by too high a ratio
    (a zip bomb), from the sizes its directory declares. `what` names it in messages
    ('.xlsx workbook', 'zip')."""
    lim = limits or DEFAULT_LIMITS
    infos = zf.infolist()
    if len(infos) > lim.max_members:
        raise InputTooLarge(
            f"{label}: the {what} holds {len(infos):,} entries; at most {lim.max_members:,}"
        )
    expanded = sum(i.file_size for i in infos)
    packed = max(1, sum(i.compress_size for i in infos))
    if expanded > lim.max_expanded_bytes:
        raise InputTooLarge(
            f"{label}: the {what} expands to {_size(expanded)} ({_size(packed)} packed); "
            f"at most {_size(lim.max_expanded_bytes)} is read"
        )
    if expanded > lim.ratio_floor_bytes and expanded / packed > lim.max_ratio:
        raise InputTooLarge(
            f"{label}: the {what} expands {expanded / packed:,.0f} times "
            f"({_size(packed)} to {_size(expanded)}); at most {lim.max_ratio:,.0f} times is "
            "read (a guard against zip bombs)"
        )


def check_dbf_header(
    header: bytes, label: str, features: int | None, limits: ExpansionLimits | None = None
) -> None:
    """A shapefile's .dbf, from its first 32 bytes: the table it declares (records x record
    length) must fit the limit, and hold as many records as the .shx indexes features
    (`features`, when known)."""
    lim = limits or DEFAULT_LIMITS
    if len(header) < 12:
        raise BrokenFile(f"{label}: the .dbf is cut short ({len(header)} bytes; a header is 32)")
    records = int.from_bytes(header[4:8], "little")
    header_len = int.from_bytes(header[8:10], "little")
    record_len = int.from_bytes(header[10:12], "little")
    table = header_len + records * record_len
    if features is not None and records != features:
        # GDAL would read the shorter of the two, silently dropping the rest
        raise BrokenFile(
            f"{label}: the .dbf holds {records:,} records but the .shx indexes "
            f"{features:,} features: the files do not belong together, or one is damaged"
        )
    if table > lim.max_expanded_bytes:
        raise InputTooLarge(
            f"{label}: the .dbf declares {records:,} records of {record_len:,} bytes "
            f"({_size(table)}); at most {_size(lim.max_expanded_bytes)} of attributes is read"
        )


def shx_feature_count(shx_size: int) -> int:
    """Features a .shx indexes: a 100-byte header, then 8 bytes per feature."""
    return max(0, (shx_size - 100) // 8)


def json_too_deep(sites: list[Any], limit: int = MAX_JSON_DEPTH) -> bool:
    """True when the parsed site list nests lists / objects more than `limit` levels. Fast
    for a long list of flat records: only the values that are containers are walked."""
    stack = [
        (v, 3) for s in sites if type(s) is dict for v in s.values() if type(v) in (list, dict)
    ]
    stack += [(s, 2) for s in sites if type(s) is list]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if type(item) is dict else item
        stack.extend((c, depth + 1) for c in children if type(c) in (list, dict))
    return False


def bracket_depth(text: str) -> int:
    """How deep `[` and `{` nest in a text (brackets inside JSON strings counted too: an
    upper bound), without parsing it."""
    import numpy as np

    codes = np.frombuffer(text.encode("utf-8", "replace"), np.uint8)
    step = np.zeros(len(codes), np.int32)
    step[(codes == 0x5B) | (codes == 0x7B)] = 1
    step[(codes == 0x5D) | (codes == 0x7D)] = -1
    return int(np.cumsum(step).max(initial=0))
