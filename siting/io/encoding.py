"""Text encodings users' files come in: UTF-8 (with or without BOM), GBK/GB18030 from Excel,
and UTF-16 (Excel's "Unicode Text"). A file that is none of these, or not text at all, is a
`BrokenFile` naming the line and byte."""

from __future__ import annotations

from siting.errors import BrokenFile

UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
UTF32_BOMS = (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")

# What a file really is when it starts like this (for "not what its extension says").
MAGIC = (
    (b"PK\x03\x04", "a zip archive (an .xlsx workbook or a zipped shapefile?)"),
    (b"PK\x05\x06", "an empty zip archive"),
    (b"SQLite format 3\x00", "an SQLite database (a GeoPackage?)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel .xls workbook (name it .xls)"),
    (b"%PDF", "a PDF document"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"\x00\x00\x27\x0a", "a shapefile .shp geometry file"),
)


def sniff(data: bytes) -> str | None:
    """What a file is by its first bytes ('a zip archive ...'), or None for anything else."""
    for magic, what in MAGIC:
        if data.startswith(magic):
            return what
    return None


def detect(data: bytes) -> str:
    """'utf-8-sig', 'utf-8' or 'gb18030' (a superset of GBK and GB2312).

    UTF-8 is strict enough that Chinese GBK text practically never decodes as UTF-8, so a
    strict UTF-8 attempt first and GB18030 second tells them apart.
    """
    if data.startswith(UTF8_BOM):
        return "utf-8-sig"
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        # a multi-byte character cut at the end of a sample is still UTF-8
        if exc.start >= len(data) - 3 and exc.reason == "unexpected end of data":
            return "utf-8"
    try:
        data.decode("gb18030")
        return "gb18030"
    except UnicodeDecodeError:
        return "utf-8"  # decode with replacement later; the reader reports it


def _where(data: bytes, pos: int) -> str:
    line = data.count(b"\n", 0, pos) + 1
    return f"line {line}, byte {pos:,}"


def _utf16_without_bom(sample: bytes) -> str | None:
    """'utf-16-le' / 'utf-16-be' when every other byte is NUL, as in UTF-16 text of mostly
    ASCII characters (digits, commas, Latin headers)."""
    even, odd = sample[0::2], sample[1::2]
    if len(sample) >= 4:
        if odd.count(0) > 0.3 * len(odd) and even.count(0) < 0.05 * len(even):
            return "utf-16-le"
        if even.count(0) > 0.3 * len(even) and odd.count(0) < 0.05 * len(odd):
            return "utf-16-be"
    return None


def _looks_like_damaged_utf8(data: bytes) -> bool:
    """Mostly valid UTF-8 with a few bad bytes (a damaged UTF-8 file), rather than GBK: GBK
    text read as UTF-8 gives about ten bad characters for each one that happens to be a
    valid sequence; a damaged UTF-8 file, a few bad ones among many good."""
    sample = data[: 1 << 20].decode("utf-8", errors="replace")
    bad = sample.count("\ufffd")
    good_extra = len(sample.encode("utf-8")) - len(sample) - 2 * bad  # 2 per CJK character
    return good_extra >= 6 * max(bad, 1)


def decode(data: bytes, source: str) -> tuple[str, str]:
    """The file's text and its encoding; `BrokenFile` when it is not text in an encoding
    the tool reads (naming the line and byte)."""
    what = sniff(data)
    if what is not None:
        raise BrokenFile(f"{source}: not a text file: it is {what}")
    # UTF-32 before UTF-16: FF FE 00 00 starts both
    for boms, enc in ((UTF32_BOMS, "utf-32"), (UTF16_BOMS, "utf-16")):
        if data.startswith(boms):
            try:
                return data.decode(enc), enc
            except UnicodeDecodeError as exc:
                name = enc.upper()
                raise BrokenFile(
                    f"{source}: starts as {name} text but {_where(data, exc.start)} is not {name}"
                ) from None
    head = data[:65536]
    if b"\x00" in head:
        wide = _utf16_without_bom(head)
        if wide is not None:
            try:
                return data.decode(wide), wide
            except UnicodeDecodeError:
                pass
        raise BrokenFile(
            f"{source}: not a text file: a NUL byte at {_where(data, data.index(0))}; "
            "save the file as UTF-8 CSV"
        )
    bom = data.startswith(UTF8_BOM)
    try:
        if bom:
            return str(memoryview(data)[3:], "utf-8"), "utf-8-sig"
        return str(data, "utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        at = exc.start + (3 if bom else 0)
        if exc.reason == "unexpected end of data" and at >= len(data) - 3:
            problem = "the file ends inside a character (is it cut short?)"
        elif bom or _looks_like_damaged_utf8(data):
            problem = f"{_where(data, at)} is not valid UTF-8 though the rest is"
        else:
            problem = None
        if problem:
            raise BrokenFile(f"{source}: cannot read the text: {problem}") from None
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        raise BrokenFile(
            f"{source}: cannot read the text: {_where(data, exc.start)} is neither UTF-8 nor "
            "GBK/GB18030; save the file as UTF-8 CSV"
        ) from None
