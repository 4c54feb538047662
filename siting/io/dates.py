"""Dates as reviewers write them: 2024-06-30, 2024/6/30, 2024.06.30, 2024年6月30日,
二〇二四年六月三十日, 20240630, full-width digits, and Excel date cells (a date object, or the
serial number a cell holds when it lost its date format).

`parse_date_text` is the one place that reads them: the CLI's `--as-of` goes through it, and
so should every other date a site list or a request carries."""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata

# Text forms, on NFKC-folded text without spaces. One separator throughout (2024-6/30 is not
# a date), an optional time of day after it (as a spreadsheet exports a date cell).
_TIME = re.compile(r"(?:T|\s+)\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?$")
_SEPARATED = re.compile(r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})")
_CHINESE = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})[日号]?")
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")

_DIGITS = {"〇": 0, "零": 0, "○": 0, "Ｏ": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4}
_DIGITS |= {"五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_NUMERALS = re.compile(r"[〇零○一二两三四五六七八九十]+")

# Excel's day 1 is 1900-01-01, counted from 1899-12-30 (Excel's 1900 leap-year quirk);
# serials from 1 to 2958465 (9999-12-31).
_EXCEL_EPOCH = dt.date(1899, 12, 30)
_EXCEL_MAX = 2_958_465

FORMS = "2024-06-30, 2024/6/30, 2024.06.30 or 2024年6月30日"


def _chinese_number(text: str, year: bool) -> str:
    """二〇二四 -> 2024 (a year, digit by digit); 三十 -> 30, 十二 -> 12 (month or day)."""
    if year or "十" not in text:
        return "".join(str(_DIGITS[c]) for c in text if c in _DIGITS)
    tens, _, units = text.partition("十")
    value = (_DIGITS.get(tens, 1) if tens else 1) * 10 + (_DIGITS.get(units, 0) if units else 0)
    return str(value)


def _arabic(text: str) -> str:
    """Chinese numerals in a 年月日 date as digits: 二〇二四年六月三十日 -> 2024年6月30日."""
    if not _NUMERALS.search(text):
        return text
    parts = re.split(r"(年|月)", text)
    out = []
    for k, part in enumerate(parts):
        is_year = k == 0 and len(parts) > 1
        out.append(_NUMERALS.sub(lambda m, y=is_year: _chinese_number(m.group(), y), part))
    return "".join(out)


def excel_serial_date(value: float) -> dt.date:
    """The date of an Excel serial day number (45473 -> 2024-06-30)."""
    if isinstance(value, bool) or not math.isfinite(value) or not 1 <= value <= _EXCEL_MAX:
        raise ValueError(f"{value!r} is not an Excel date serial number")
    return _EXCEL_EPOCH + dt.timedelta(days=int(value))


def parse_date_text(value: object) -> dt.date:
    """A date from what a user wrote or a spreadsheet cell held; ValueError naming the value
    and the accepted forms otherwise.

    Accepts date and datetime objects, Excel serial numbers (int or float, as a date cell
    without its format reads), and text: 2024-06-30, 2024/06/30, 2024/6/30, 2024.06.30,
    2024年6月30日 (also 号 for 日, and Chinese numerals: 二〇二四年六月三十日), 20240630,
    with full-width digits and an optional time of day after it (2024-06-30 00:00:00)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return excel_serial_date(value)
    # NFKC for full-width digits and separators (２０２４／６／３０); not siting.folding's
    # fold, which drops the spaces that part a date from its time of day
    text = unicodedata.normalize("NFKC", str(value)).strip()
    folded = re.sub(r"\s+", "", _arabic(_TIME.sub("", text)))
    for pattern in (_SEPARATED, _CHINESE, _COMPACT):
        m = pattern.fullmatch(folded)
        if m is None:
            continue
        groups = [g for g in m.groups() if g not in {"-", "/", "."}]
        year, month, day = (int(g) for g in groups[:3])
        try:
            return dt.date(year, month, day)
        except ValueError as exc:
            raise ValueError(f"{text!r} is not a date ({exc})") from None
    raise ValueError(f"{text!r} is not a date (write {FORMS})")


__all__ = ["FORMS", "excel_serial_date", "parse_date_text"]
