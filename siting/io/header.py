"""Which row of a sheet is the header, and which rows are totals.

Site lists made for people rarely start with their header: a merged title row (2024年充电设施
配建情况表), a 填报单位 / 日期 line, sometimes a blank row, then the header. The header is the
row, among the first `SEARCH_ROWS` rows that are not blank, whose cells name known fields best:
each distinct cell text that the alias table (`rules/shared/aliases.yaml`, via
`siting.columns.header_kind`) or the user's `--field` map knows counts 1 when it names a
site-record field and 0.5 when it names a pass-through column (名称, 地址, 备注). A row is a
candidate when one of its cells names a field and at least two are known, or at least half of
its cells are known (a data row holding one value that happens to be a header is not); the
candidate with the highest score wins, the earlier one on a tie. Without any candidate (a file
whose headers the table does not know), the first row that is not blank is the header, as
before. The rows above the header are the title.

A totals row (合计, 小计, 总计, 共计, 累计, Total, Subtotal, Sum, also 青秀区小计 or 合计（12处）)
sums the sites above it; it is not a site. `is_totals_label` recognises the label.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from siting.columns import header_kind
from siting.folding import fold_name

SEARCH_ROWS = 30  # non-blank rows looked at for the header

# On folded text (NFKC, no spaces, lower case): the label, optionally after a place name
# (青秀区小计) and before a colon or a bracket (合计：, 合计（12处）).
_TOTALS = re.compile(
    r"(?:\D{0,12}?(?:小计|合计|总计|共计|累计|总合计)|(?:grand|sub-?)?totals?|sum)(?:[:(\[【].*)?",
    re.DOTALL,
)
# A cheap filter before _TOTALS (on the raw text: full-width letters too).
TOTALS_HINT = "计|total|sum|ｔｏｔａｌ|ｓｕｍ"
_TOTALS_HINT = re.compile(TOTALS_HINT, re.IGNORECASE)


def blank_cell(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and v != v:  # NaN
        return True
    return isinstance(v, str) and not v.strip()


def cell_text(v: Any) -> str:
    """A cell as text for a header or a title: whole numbers without '.0', dates as ISO."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if hasattr(v, "isoformat"):
        return str(v.isoformat())
    return str(v).strip()


def is_totals_label(value: Any) -> bool:
    """合计, 小计, 总计, 共计, 累计, Total, Subtotal, Grand total, Sum (any case, spaces and
    full-width forms ignored), alone or after a place name (青秀区小计) or before a colon or
    bracket (合计：, 合计（12处）)."""
    if not isinstance(value, str) or not _TOTALS_HINT.search(value):  # the usual case
        return False
    return _TOTALS.fullmatch(fold_name(value)) is not None


def row_score(
    cells: Iterable[Any], field_map: Mapping[str, str] | None = None
) -> tuple[float, int, int, int]:
    """(score, cells naming a field, known cells, filled cells) of one row as a header,
    over its distinct texts."""
    wanted = {fold_name(str(k)) for k in field_map or {}}
    texts = {fold_name(cell_text(c)) for c in cells if not blank_cell(c)}
    texts.discard("")
    score, fields, known = 0.0, 0, 0
    for key in texts:
        kind = "field" if key in wanted else header_kind(key)
        if kind is not None:
            known += 1
            fields += kind == "field"
            score += 1.0 if kind == "field" else 0.5
    return score, fields, known, len(texts)


def find_header(
    rows: Sequence[Sequence[Any]],
    field_map: Mapping[str, str] | None = None,
    limit: int = SEARCH_ROWS,
) -> int | None:
    """The index (into `rows`) of the header row, or None when no row looks like one (the
    caller then takes the first row that is not blank)."""
    best, best_score = None, 0.0
    seen = 0
    for i, row in enumerate(rows):
        if all(blank_cell(c) for c in row):
            continue
        seen += 1
        if seen > limit:
            break
        score, fields, known, filled = row_score(row, field_map)
        candidate = fields >= 1 and (known >= 2 or 2 * known >= filled)
        if candidate and score > best_score:
            best, best_score = i, score
    return best


def row_ranges(numbers: Iterable[int]) -> str:
    """[4, 5, 6, 9] -> '4-6, 9' (sorted)."""
    out: list[str] = []
    run: list[int] = []
    for n in sorted(set(numbers)):
        if run and n == run[-1] + 1:
            run.append(n)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [n]
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ", ".join(out)


__all__ = [
    "SEARCH_ROWS",
    "TOTALS_HINT",
    "blank_cell",
    "cell_text",
    "find_header",
    "is_totals_label",
    "row_ranges",
    "row_score",
]
