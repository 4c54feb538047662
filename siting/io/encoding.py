"""Text encodings users' files come in: UTF-8 (with or without BOM) or GBK/GB18030 from Excel."""

from __future__ import annotations

UTF8_BOM = b"\xef\xbb\xbf"


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


def decode(data: bytes, source: str) -> tuple[str, str]:
    from siting.errors import InputError

    enc = detect(data)
    try:
        return data.decode(enc), enc
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{source}: cannot read the text: byte {exc.start} is neither UTF-8 nor GBK/GB18030; "
            "save the file as UTF-8 CSV"
        ) from None
