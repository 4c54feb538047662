"""The column report: which input column feeds which site-record field, and which are not used.

One place decides the mapping of headers (CSV / Excel columns, JSON keys, layer attributes) to
the site-record fields of SPEC section 3, in this order:

1. an explicit field map (`--field COLUMN=FIELD`), then
2. the field's own name (case, spaces and width ignored), a shapefile's 10-character cut of it
   (`parking_sp`), or a spelling from `rules/shared/aliases.yaml` `fields:` (a unit in
   brackets at the end is ignored: `停车位数（个）`), then
3. a `fallback_fields:` spelling (序号, 类型, 等级, ...), only when no column of 1-2 gives
   the field.

Two columns giving one field at the same level is an error naming both. Every other column is
reported: a pass-through column (`kept_columns:`: names, addresses, remarks, coordinates) as
"kept, not a rule input"; any other as "not used", with the closest field when there is a
plausible one. Everything here works on column names, never on rows.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from siting.aliases import Aliases, load_aliases
from siting.errors import InputError
from siting.fields import ALL_FIELDS
from siting.folding import fold_name
from siting.ruleset import RulePack

How = Literal["field_map", "exact", "shapefile", "alias", "fallback"]
Remedy = Literal["field", "key"]

# A unit or answer format in brackets at the end of a header: 停车位数（个）,
# 是否设置充电专区(是/否).
_UNIT = re.compile(
    r"[(\[【]\s*(个|辆|台|套|处|座|位|根|把|枪|桩|个数|数量|数|级|类|是/否|是或否|有/无|y/n|"
    r"m2|㎡|平方米|kw|千瓦)\s*[)\]】]$",
    re.IGNORECASE,
)

# Hints for headers the alias table does not know, tried in order on the folded header: every
# group of a hint must occur in it (a group is alternatives) and none of its `unless` words.
_HINTS: tuple[tuple[tuple[tuple[str, ...], ...], tuple[str, ...], str], ...] = (
    ((("充电", "charg"), ("清单", "列表", "明细", "list", "schedule")), (), "chargers"),
    ((("快充", "直流", "fast", "dc"),), ("交流", "功率", "kw", "power"), "fast_charging_spaces"),
    ((("预留", "reserv"),), (), "reserved_spaces"),
    ((("专区", "专用", "dedicat"),), (), "dedicated_ev_area"),
    (
        (
            ("充电", "电动", "charg", "ev"),
            ("数", "量", "个", "位", "桩", "枪", "count", "num", "spac"),
        ),
        ("功率", "kw", "power"),
        "charging_spaces",
    ),
    ((("小客车", "小型车", "小汽车", "小车", "small"),), (), "small_car_spaces"),
    ((("车位", "泊位", "停车", "parking", "spaces", "capacity"),), (), "parking_spaces"),
    ((("景区", "a级", "scenic", "rating"),), (), "a_rating"),
    ((("服务区", "service"),), (), "service_area_class"),
    ((("新建", "改建", "既有", "新旧", "建设性质", "develop"),), (), "development"),
    ((("场地", "条件", "限制", "constraint"),), (), "site_constraint"),
    ((("类型", "类别", "分类", "性质", "用途", "categor", "kind", "type"),), (), "category"),
    ((("城市", "地市", "city"),), (), "city"),
    ((("编号", "编码", "代码", "ident"),), (), "id"),
)


@dataclass(frozen=True)
class UsedColumn:
    column: str  # as named in the input
    field: str  # the site-record field it feeds
    how: How  # field_map | exact | shapefile | alias | fallback

    def as_dict(self) -> dict[str, str]:
        return {"column": self.column, "field": self.field, "how": self.how}


@dataclass(frozen=True)
class UnusedColumn:
    column: str
    status: Literal["kept", "not_used"]  # kept: a pass-through column; not_used: not understood
    suggestion: str | None  # the closest field, when there is a plausible one
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "status": self.status,
            "suggestion": self.suggestion,
            "message": self.message,
        }


@dataclass(frozen=True)
class ColumnReport:
    """What was read from which column (SPEC section 3 fields), for one input."""

    source: str
    used: tuple[UsedColumn, ...]
    unused: tuple[UnusedColumn, ...]
    missing: tuple[str, ...]  # fields no column supplied, in ALL_FIELDS order
    unmatched_field_map: tuple[str, ...] = ()  # field-map entries naming no input column
    rename: Mapping[Any, str] = field(default_factory=dict, repr=False, compare=False)
    # Where a spreadsheet's or CSV file's header was found (siting.io.header): its row as the
    # file counts it (1-based, as Excel shows it), the sheet read, and the title rows above
    # the header (a merged title, a 填报单位 line), one text per row. None / () otherwise.
    header_row: int | None = None
    sheet: str | None = None
    title: tuple[str, ...] = ()

    @property
    def mapping(self) -> dict[str, str]:
        """column -> field, for the columns used."""
        return {u.column: u.field for u in self.used}

    @property
    def warnings(self) -> list[str]:
        """One line per column not used (not the kept ones) and per field-map entry that
        named no column."""
        return [u.message for u in self.unused if u.status == "not_used"] + [
            f"field mapping {entry}: the input has no such column"
            for entry in self.unmatched_field_map
        ]

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "source": self.source,
            "used": [u.as_dict() for u in self.used],
            "unused": [u.as_dict() for u in self.unused],
            "missing_fields": list(self.missing),
            "unmatched_field_map": list(self.unmatched_field_map),
        }
        if self.sheet is not None:
            out["sheet"] = self.sheet
        if self.header_row is not None:
            out["header_row"] = self.header_row
            out["title"] = list(self.title)
        return out

    def lines(self) -> list[str]:
        """The short terminal block: the fields read from columns of their own name on one
        line, one line per other field read, then kept columns and the fields no column gave
        (warnings are separate: `warnings`)."""
        out = []
        if self.header_row is not None:
            where = f"sheet {self.sheet!r} " if self.sheet is not None else ""
            line = f"header: {where}row {self.header_row}"
            if self.title:
                line += " (above it, the title: " + " / ".join(self.title) + ")"
            out.append(line)
        exact = [u.field for u in self.used if u.how == "exact" and u.column == u.field]
        if exact:
            out.append("read as named: " + ", ".join(exact))
        for u in self.used:
            if u.how == "exact" and u.column == u.field:
                continue
            how = {"exact": "", "field_map": " (--field)"}.get(u.how, f" ({u.how})")
            out.append(f"{u.field} <- {u.column}{how}")
        kept = [u.column for u in self.unused if u.status == "kept"]
        if kept:
            out.append("kept, not rule inputs: " + ", ".join(kept))
        if self.missing:
            out.append("no column for: " + ", ".join(self.missing))
        return out


def _unit_stripped(key: str) -> str | None:
    stripped = _UNIT.sub("", key)
    return stripped if stripped != key and stripped else None


def _is_shapefile_cut(key: str, target: str) -> bool:
    return 9 <= len(key) <= 10 < len(target) and target.startswith(key)


def _lookup(key: str, aliases: Aliases) -> tuple[str, How] | None:
    """A folded header -> (field, how) from the field names and the alias table."""
    for k in (key, _unit_stripped(key)):
        if k is None:
            continue
        target = aliases.header.get(k)
        if target is not None:
            if k == fold_name(target):
                return target, "exact"
            return target, "shapefile" if _is_shapefile_cut(k, target) else "alias"
        target = aliases.fallback.get(k)
        if target is not None:
            return target, "fallback"
    return None


def _is_kept(key: str, aliases: Aliases) -> bool:
    return key in aliases.kept or _unit_stripped(key) in aliases.kept


def header_kind(header: Any, aliases: Aliases | None = None) -> Literal["field", "kept"] | None:
    """What the alias table makes of a header on its own: "field" when it names a site-record
    field (its own name, a shapefile cut, an alias or a fallback spelling), "kept" for a
    pass-through column (名称, 地址, 备注 ...), None for anything else. Used to find the header
    row of a sheet (siting.io.header)."""
    aliases = aliases or load_aliases()
    key = fold_name(str(header))
    if not key:
        return None
    if _lookup(key, aliases) is not None:
        return "field"
    return "kept" if _is_kept(key, aliases) else None


def guess_field(header: str, aliases: Aliases | None = None) -> str | None:
    """The site-record field a header the alias table does not know most likely means, or None:
    a near spelling (difflib), then keyword hints (充电 + 数/量 -> charging_spaces), then a
    looser spelling match."""
    aliases = aliases or load_aliases()
    key = fold_name(header)
    spellings = {**aliases.fallback, **aliases.header}
    close = difflib.get_close_matches(key, list(spellings), n=1, cutoff=0.85)
    if close:
        return spellings[close[0]]
    for groups, unless, target in _HINTS:
        if all(any(w in key for w in group) for group in groups) and not any(
            w in key for w in unless
        ):
            return target
    close = difflib.get_close_matches(key, list(spellings), n=1, cutoff=0.6)
    return spellings[close[0]] if close else None


def _check_targets(field_map: Mapping[str, str], source: str) -> None:
    for column, target in field_map.items():
        if target not in ALL_FIELDS:
            close = difflib.get_close_matches(str(target), ALL_FIELDS, n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]}?" if close else f"; fields: {', '.join(ALL_FIELDS)}"
            raise InputError(
                f"{source}: field mapping {column}={target} targets {target!r}, "
                f"not a site-record field{hint}"
            )


def column_report(
    columns: Iterable[Any],
    aliases: Aliases | None = None,
    field_map: Mapping[str, str] | None = None,
    source: str = "input",
    *,
    remedy: Remedy = "field",
    also_read: Mapping[str, str] | None = None,
    suggest: bool = True,
) -> ColumnReport:
    """Decide which column feeds which field and report the rest.

    columns: the input's column names (or JSON keys), in input order.
    field_map: explicit COLUMN -> FIELD (matched ignoring case and spaces).
    remedy: how a suggestion is phrased: "field" (`--field COLUMN=FIELD`, for files) or "key"
      (rename the key, for JSON records).
    also_read: folded column name -> what reads it besides the site-record fields (e.g. a
      category mapping reading `amenity`); such columns are reported as kept, not as unused.
    suggest: False skips looking for the closest field of unused columns (renaming only).
    Raises InputError when two columns give one field at the same level, naming both."""
    if not field_map and also_read is None and (aliases is None or aliases is load_aliases()):
        # The common case (JSON records, files without --field): one answer per set of
        # names, worked out once (a service sees the same few key sets again and again).
        try:
            key = (tuple((type(c), c) for c in columns), source, remedy, suggest)
            return _plain_report(key)
        except TypeError:  # unhashable column names: worked out each time
            pass
    return _column_report(columns, aliases, field_map, source, remedy, also_read, suggest)


@lru_cache(maxsize=1024)
def _plain_report(
    key: tuple[tuple[tuple[type[Any], Any], ...], str, Remedy, bool],
) -> ColumnReport:
    names, source, remedy, suggest = key
    return _column_report([c for _, c in names], None, None, source, remedy, None, suggest)


def _column_report(
    columns: Iterable[Any],
    aliases: Aliases | None,
    field_map: Mapping[str, str] | None,
    source: str,
    remedy: Remedy,
    also_read: Mapping[str, str] | None,
    suggest: bool,
) -> ColumnReport:
    aliases = aliases or load_aliases()
    field_map = dict(field_map or {})
    _check_targets(field_map, source)
    wanted = {fold_name(str(k)): (str(k), v) for k, v in field_map.items()}
    names = list(columns)
    matched: list[tuple[Any, str, str, How]] = []  # (column, its text, field, how)
    seen_map: set[str] = set()
    for col in names:
        text = str(col)
        key = fold_name(text)
        if key in wanted:
            seen_map.add(key)
            matched.append((col, text, wanted[key][1], "field_map"))
            continue
        hit = _lookup(key, aliases)
        if hit is not None:
            matched.append((col, text, hit[0], hit[1]))

    # Each field: the columns that claim it, strongest first; fallback spellings yield.
    claims: dict[str, list[tuple[Any, str, How]]] = {}
    for col, text, target, how in matched:
        claims.setdefault(target, []).append((col, text, how))
    used: dict[Any, UsedColumn] = {}
    yielded: dict[Any, tuple[str, str]] = {}  # column -> (field, the column read instead)
    for target, cols in claims.items():
        strong = [c for c in cols if c[2] != "fallback"]
        pick = strong or cols
        if len(pick) > 1:
            raise InputError(
                f"{source}: columns {pick[0][1]!r} and {pick[1][1]!r} both mean {target!r}; "
                "remove or rename one of them"
            )
        col, text, how = pick[0]
        used[col] = UsedColumn(text, target, how)
        for other, _, _ in cols:
            if other is not col:
                yielded[other] = (target, text)

    read_by = {fold_name(k): v for k, v in (also_read or {}).items()}
    unused: list[UnusedColumn] = []
    for col in names:
        if col in used:
            continue
        text = str(col)
        key = fold_name(text)
        if col in yielded:  # a fallback spelling (序号) beside a better-named column
            target, instead = yielded[col]
            message = f"{text}: kept, not a rule input ({target} is read from {instead})"
            unused.append(UnusedColumn(text, "kept", None, message))
            continue
        if key in read_by:
            unused.append(UnusedColumn(text, "kept", None, f"{text}: read by {read_by[key]}"))
            continue
        if _is_kept(key, aliases) or not key:
            unused.append(UnusedColumn(text, "kept", None, f"{text}: kept, not a rule input"))
            continue
        guess = guess_field(text, aliases) if suggest else None
        given = next((u for u in used.values() if u.field == guess), None)
        if guess is not None and given is not None:
            message = f"{text}: not used ({guess} is read from {given.column})"
            guess = None
        elif guess is not None:
            message = f"{text}: not used - did you mean {guess}?"
            if remedy == "field":
                message += f" --field {text}={guess}"
        elif remedy == "field":
            message = (
                f"{text}: not used (not a site-record field; map it with --field {text}=FIELD)"
            )
        else:
            message = f"{text}: not used (not a site-record field)"
        unused.append(UnusedColumn(text, "not_used", guess, message))

    supplied = {u.field for u in used.values()}
    ordered = tuple(used[c] for c in names if c in used)
    return ColumnReport(
        source=source,
        used=ordered,
        unused=tuple(unused),
        missing=tuple(f for f in ALL_FIELDS if f not in supplied),
        unmatched_field_map=tuple(
            f"{column}={target}" for k, (column, target) in wanted.items() if k not in seen_map
        ),
        rename={c: u.field for c, u in used.items()},
    )


def alias_keys(record: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """A JSON site record with every key the alias table knows renamed to its field (as a CSV
    header would be); unknown keys unchanged. Returns (renamed record, field -> key as sent).
    Raises ValueError when two keys mean one field."""
    try:
        report = column_report(record.keys(), source="site record", remedy="key")
    except InputError as exc:
        raise ValueError(str(exc)) from None
    rename = report.rename
    out = {rename.get(k, k): v for k, v in record.items()}
    return out, {f: k for k, f in rename.items() if k != f}


def mapping_columns(pack: RulePack, tags_only: bool = False) -> dict[str, str]:
    """Columns the pack's category mappings and its space estimation read (folded name ->
    what reads it): on a map layer these are inputs too, not unused columns."""
    from siting.geo.mappings import pack_estimation, pack_mappings

    out: dict[str, str] = {}
    for m in pack_mappings(pack):
        if hasattr(m, "columns"):
            keys = list(m.columns(tags_only))
        else:
            keys = [k for rule in m.tags for k in rule.match]
            keys += [] if tags_only else [*m.code_fields, *m.name_fields]
        for k in keys:
            out.setdefault(fold_name(k), f"the category mapping {m.id}")
    for rule in pack_estimation(pack).by_tag:
        for k in rule.match:
            out.setdefault(fold_name(k), "the space estimation (m2 per space)")
    return out


__all__ = [
    "ColumnReport",
    "UnusedColumn",
    "UsedColumn",
    "alias_keys",
    "column_report",
    "guess_field",
    "header_kind",
    "mapping_columns",
]
