"""Declarative mappings: tags, type paths, land-use codes and names -> categories, name
patterns that refine a category (government land named 自治区… is region level), and the
area-per-space figures used to estimate missing counts. Applied to whole columns: every
distinct value of a column is looked up once.

Mappings belong to a jurisdiction: a pack reads only the `mappings/` folder beside its file
(`rules/guangxi/mappings/` for the Guangxi pack, `rules/calgreen/mappings/` for CALGreen), so
every category a mapping gives is one of the pack's own; a mapping naming a category the pack
lacks is refused, naming the file and line (`pack_mappings`). A pack with no `mappings/` beside
it has none: its map layers are classified from `category` attributes alone. The estimation
of spaces from area names no category and is shared (`rules/shared/estimation.yaml`), unless
the pack's `mappings/` holds an `estimation.yaml` of its own (`pack_estimation`).

A mapping file (kind `category-mapping`) may hold, each optional:

- `tags`: OSM-style rules `{match: {key: value | [values]}, category, facts?, broad?}`, the
  first matching rule wins; the value `"*"` matches any value but `no` (OSM `shop=*`);
- `paths`: type paths in a text column (Amap `医疗保健服务;综合医院;三级甲等医院`, Baidu
  `医疗;综合医院`): `fields`, level `separators`, the `alternatives` separator (a POI with
  several types), and `match: {path prefix: entry}`; the entry with the most levels matching
  the start of the value wins (an entry of `null` says "no category" for that branch);
- `codes` in `code_fields` (longest prefix wins; `code_width` zero-pads numeric codes) and
  exact `names` in `name_fields`;
- `promote`: `{from, to, name_fields, patterns, unless?}`: a feature of category `from` whose
  name matches a pattern (and no `unless` pattern) is `to` instead.

An entry is a category id, `null`, or `{category, broad: true}`. A broad entry marks a zone
(OSM landuse=commercial, GB 50137 B / B1, GB/T 21010 05 商服用地): the category it gives is a
guess of low confidence, and a specific feature covering the lot wins over it
(docs/classification.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from functools import cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from siting.errors import RulePackError
from siting.folding import fold_name
from siting.resources import shared_dir
from siting.ruleset import RulePack, mappings_dir_for
from siting.yamlfile import Loc, YamlDocument

Value = str | int | bool


class Target(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: str | None
    broad: bool = False


Entry = str | Target | None


def _target(entry: Entry) -> tuple[str | None, bool]:
    if isinstance(entry, Target):
        return entry.category, entry.broad
    return entry, False


class TagRule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    match: dict[str, Value | list[Value]]
    category: str
    facts: dict[str, Value] = Field(default_factory=dict)
    broad: bool = False


class PathMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fields: list[str] = Field(default_factory=list)
    level_fields: list[str] = Field(default_factory=list)  # one column per level (大类, 中类, 小类)
    separators: list[str] = Field(default_factory=lambda: [";"], min_length=1)
    alternatives: str | None = "|"
    match: dict[str, Entry]
    _table: dict[tuple[str, ...], Entry] = PrivateAttr(default_factory=dict)
    _deepest: int = PrivateAttr(0)

    def model_post_init(self, context: Any) -> None:
        self._table = {_levels(key, self.separators): entry for key, entry in self.match.items()}
        self._deepest = max((len(k) for k in self._table), default=0)


class Promotion(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: str = Field(..., alias="from")
    to: str
    name_fields: list[str] = Field(..., min_length=1)
    patterns: list[str] = Field(..., min_length=1)
    unless: list[str] = Field(default_factory=list)


class CategoryMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["category-mapping"]
    id: str
    title: str
    tags: list[TagRule] = Field(default_factory=list)
    paths: PathMapping | None = None
    code_fields: list[str] = Field(default_factory=list)
    code_width: int | None = Field(None, ge=1)
    code_mixed: list[str] = Field(default_factory=list)
    codes: dict[str, Entry] = Field(default_factory=dict)
    name_fields: list[str] = Field(default_factory=list)
    names: dict[str, Entry] = Field(default_factory=dict)
    promote: list[Promotion] = Field(default_factory=list)
    _codes: list[tuple[str, Entry]] = PrivateAttr(default_factory=list)
    _where: dict[str, str] = PrivateAttr(default_factory=dict)  # category -> first file:line
    _path: Path | None = PrivateAttr(None)

    @property
    def path(self) -> Path | None:
        """The file the mapping was read from."""
        return self._path

    def model_post_init(self, context: Any) -> None:
        self._codes = sorted(
            ((c.strip().upper(), e) for c, e in self.codes.items()), key=lambda ce: -len(ce[0])
        )

    def categories(self) -> set[str]:
        """Every category id the mapping names."""
        return {c for c, _ in self.category_places()}

    def category_places(self) -> list[tuple[str, Loc]]:
        """(category id, where in the file) for every category the mapping names."""
        out: list[tuple[str, Loc]] = [
            (t.category, ("tags", i, "category")) for i, t in enumerate(self.tags)
        ]
        tables = [("codes", self.codes), ("names", self.names)]
        if self.paths is not None:
            tables.insert(0, ("paths.match", self.paths.match))
        for where, table in tables:
            for key, entry in table.items():
                category = _target(entry)[0]
                if category is not None:
                    out.append((category, (*where.split("."), key)))
        for i, p in enumerate(self.promote):
            out += [(p.from_, ("promote", i, "from")), (p.to, ("promote", i, "to"))]
        return out

    def columns(self, tags_only: bool = False) -> list[str]:
        """The columns the mapping reads."""
        keys = [k for rule in self.tags for k in rule.match]
        if not tags_only:
            keys += [*self.code_fields, *self.name_fields]
            if self.paths is not None:
                keys += [*self.paths.fields, *self.paths.level_fields]
            keys += [f for p in self.promote for f in p.name_fields]
        return keys


class AreaRule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    match: dict[str, Value | list[Value]]
    m2_per_space: float = Field(..., gt=0)


class SpaceEstimation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["space-estimation"]
    default_m2_per_space: float = Field(..., gt=0)
    by_tag: list[AreaRule] = Field(default_factory=list)


@cache
def load_mappings(folder: Path) -> tuple[CategoryMapping, ...]:
    """The category mappings (`kind: category-mapping`) among `folder/*.yaml`, in file name
    order; other kinds (a jurisdiction's own `estimation.yaml`) are skipped."""
    out = []
    for path in sorted(Path(folder).glob("*.yaml")):
        doc = YamlDocument(path)
        if isinstance(doc.data, dict) and doc.data.get("kind") == "category-mapping":
            mapping = doc.parse(CategoryMapping)
            mapping._path = doc.path
            for category, loc in mapping.category_places():
                mapping._where.setdefault(category, doc.where(loc))
            for i, p in enumerate(mapping.promote):
                for key in ("patterns", "unless"):
                    for j, pattern in enumerate(getattr(p, key)):
                        try:
                            re.compile(pattern)
                        except re.error as exc:
                            raise doc.error(
                                ("promote", i, key, j), f"not a regular expression: {exc}"
                            ) from None
            out.append(mapping)
    return tuple(out)


@cache
def load_estimation(path: Path | None = None) -> SpaceEstimation:
    """The area-per-space figures: `path`, else the shared `rules/shared/estimation.yaml`."""
    return YamlDocument(path or shared_dir() / "estimation.yaml").parse(SpaceEstimation)


def pack_mappings(pack: RulePack) -> tuple[CategoryMapping, ...]:
    """The mappings of the pack's jurisdiction (`mappings/` beside the pack file; none when
    there is no such folder), each checked against the pack's categories."""
    folder = mappings_dir_for(pack)
    if folder is None:
        return ()
    mappings = load_mappings(folder.resolve())
    check_mappings(pack, mappings)
    return mappings


def pack_estimation(pack: RulePack) -> SpaceEstimation:
    """The pack's own `mappings/estimation.yaml` when its jurisdiction has one, else the
    shared figures."""
    folder = mappings_dir_for(pack)
    own = folder / "estimation.yaml" if folder is not None else None
    return load_estimation(own.resolve() if own is not None and own.is_file() else None)


def check_mappings(pack: RulePack, mappings: Sequence[CategoryMapping] | None = None) -> None:
    """Every category a mapping names must exist in the pack in use: a jurisdiction's
    mappings speak its own categories. The error names the file and the line."""
    known = set(pack.category_ids)
    for m in pack_mappings(pack) if mappings is None else mappings:
        unknown = m.categories() - known
        if unknown:
            first = next(c for c, _ in m.category_places() if c in unknown)
            where = m._where.get(first) or str(m.path or m.id)
            raise RulePackError(
                f"{where}: mapping {m.id}: categories {sorted(unknown)} are not in ruleset "
                f"{pack.id}; the mappings beside a pack name its own categories: "
                f"{', '.join(pack.category_ids)}"
            )


def _column(frame: pd.DataFrame, name: str) -> pd.Series | None:
    """A column by name, matched ignoring case (shapefiles upper-case names)."""
    if name in frame.columns:
        return frame[name]
    folded = {fold_name(str(c)): c for c in frame.columns}
    col = folded.get(fold_name(name))
    return frame[col] if col is not None else None


def _text(series: pd.Series) -> np.ndarray:
    return series.astype("string").str.strip().str.lower().fillna("").to_numpy(dtype=object)


def _distinct(series: pd.Series) -> tuple[np.ndarray, list[str]]:
    """(code per row, -1 for blank; the distinct stripped texts): a column looked up once
    per distinct value."""
    text = series.astype("string").str.strip()
    codes, uniques = pd.factorize(text.mask(text == ""))
    return np.asarray(codes), [str(u) for u in uniques]


def _code_texts(series: pd.Series, width: int | None) -> pd.Series:
    """Codes as upper-case text. A code stored as a number (a shapefile or spreadsheet turns
    090101 into 90101 or 90101.0) is written as an integer and zero-padded to `width`."""
    if series.dtype.kind in "iuf":
        num = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        whole = np.isfinite(num) & (num == np.floor(num))
        out = np.full(len(num), None, dtype=object)
        out[whole] = num[whole].astype(np.int64).astype(str)
        series = pd.Series(out, index=series.index, dtype=object)
    text = series.astype("string").str.strip().str.upper()
    if width:
        digits = text.str.fullmatch(r"\d+").fillna(False).astype(bool)
        text = text.where(~digits, text.str.zfill(width))
    return text


ANY = "*"  # a tag rule value: any value of the key but `no` (OSM `shop=*`)


def _shown(want: Value | list[Value]) -> str:
    """A tag rule's value as written in OSM: yes/no, several joined by |."""
    values = want if isinstance(want, list) else [want]
    return "|".join(("yes" if v else "no") if isinstance(v, bool) else str(v) for v in values)


def match_mask(frame: pd.DataFrame, match: dict[str, Value | list[Value]]) -> np.ndarray:
    mask = np.ones(len(frame), bool)
    for key, want in match.items():
        col = _column(frame, key)
        if col is None:
            return np.zeros(len(frame), bool)
        wants = [
            str(v).lower() if not isinstance(v, bool) else ("yes" if v else "no")
            for v in (want if isinstance(want, list) else [want])
        ]
        text = _text(col)
        if ANY in wants:
            mask &= (text != "") & (text != "no")
        else:
            mask &= np.isin(text, wants)
    return mask


def _levels(text: str, separators: list[str]) -> tuple[str, ...]:
    for sep in separators[1:]:
        text = text.replace(sep, separators[0])
    return tuple(p.strip() for p in text.split(separators[0]) if p.strip())


def path_lookup(paths: PathMapping, value: str) -> tuple[str | None, bool, str | None]:
    """(category, broad, the matched path) of one type path: per alternative (`|`), the entry
    with the most levels equal to the start of the path; the first alternative that gives a
    category counts. (None, False, None) when nothing matches."""
    table, deepest = paths._table, paths._deepest
    alternatives = value.split(paths.alternatives) if paths.alternatives else [value]
    for alt in alternatives:
        levels = _levels(alt, paths.separators)
        for k in range(min(len(levels), deepest), 0, -1):
            key = levels[:k]
            if key in table:
                category, broad = _target(table[key])
                if category is not None:
                    return category, broad, paths.separators[0].join(key)
                break  # an explicit null: this alternative has no category
    return None, False, None


def _code_lookup(
    codes: list[tuple[str, Entry]], value: str, mixed: Sequence[str] = ()
) -> tuple[str | None, bool, str | None]:
    """Longest code prefix. A value holding several codes (mixed use: "B1/R2") is matched on
    its first and counts as broad."""
    several = [sep for sep in mixed if sep in value]
    if several:
        for sep in several[1:]:
            value = value.replace(sep, several[0])
        first = next((p.strip() for p in value.split(several[0]) if p.strip()), "")
        category, _, code = _code_lookup(codes, first)
        return category, category is not None, code
    for code, entry in codes:  # longest first
        if value.startswith(code):
            category, broad = _target(entry)
            return category, broad, code
    return None, False, None


def _path_columns(frame: pd.DataFrame, paths: PathMapping) -> Iterator[tuple[str, pd.Series]]:
    """(name, column) of each path column present: the `fields`, then the `level_fields`
    joined into one path (大类;中类;小类) when the first of them is there."""
    for field in paths.fields:
        col = _column(frame, field)
        if col is not None:
            yield field, col
    levels = [_column(frame, f) for f in paths.level_fields]
    if levels and levels[0] is not None:
        parts = [c.astype("string").str.strip().fillna("") for c in levels if c is not None]
        joined = parts[0]
        for part in parts[1:]:
            joined = joined.str.cat(part, sep=paths.separators[0])
        yield (
            "+".join(f for f, c in zip(paths.level_fields, levels, strict=True) if c is not None),
            joined,
        )


def _matched_by(mapping_id: str, field: str) -> Callable[[str | None], str]:
    """How a match through a column is reported: `mapping: field=what matched`."""
    return lambda key: f"{mapping_id}: {field}={key}"


def categorise(
    frame: pd.DataFrame,
    pack: RulePack,
    mappings: Sequence[CategoryMapping] | None = None,
    tags_only: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(category id or None, which mapping gave it, whether the entry is a broad zone) per
    feature, from tags, type paths, codes and names (`promote` is applied by the caller, once
    the categories from every source are known)."""
    n = len(frame)
    cats = np.full(n, None, dtype=object)
    via = np.full(n, None, dtype=object)
    broad = np.zeros(n, bool)
    unset = np.ones(n, bool)
    mappings = pack_mappings(pack) if mappings is None else mappings

    def give(hit: np.ndarray, category: str, how: str, wide: bool) -> None:
        hit &= unset
        cats[hit], via[hit], broad[hit] = category, how, wide
        unset[hit] = False

    def give_distinct(
        codes: np.ndarray,
        found: list[tuple[str | None, bool, str | None]],
        how: Callable[[str | None], str],
    ) -> None:
        """Per distinct value: (category, broad, what matched) -> rows."""
        if not found:
            return
        cat_of = np.array([f[0] for f in found] + [None], dtype=object)
        broad_of = np.array([f[1] for f in found] + [False], bool)
        via_of = np.array([how(f[2]) if f[0] else None for f in found] + [None], dtype=object)
        codes = np.where(codes < 0, len(found), codes)
        hit = cat_of[codes] != None  # noqa: E711
        hit &= unset
        cats[hit], via[hit], broad[hit] = (
            cat_of[codes][hit],
            via_of[codes][hit],
            broad_of[codes][hit],
        )
        unset[hit] = False

    for m in mappings:
        for rule in m.tags:
            if all(_column(frame, key) is not None for key in rule.match):
                how = f"{m.id}: " + ",".join(f"{k}={_shown(v)}" for k, v in rule.match.items())
                give(match_mask(frame, rule.match), rule.category, how, rule.broad)
        if tags_only:
            continue
        if m.paths is not None:
            for field, path_col in _path_columns(frame, m.paths):
                codes, values = _distinct(path_col)
                found = [path_lookup(m.paths, v) for v in values]
                give_distinct(codes, found, _matched_by(m.id, field))
        for field in m.code_fields:
            col = _column(frame, field)
            if col is None:
                continue
            codes, values = _distinct(_code_texts(col, m.code_width))
            found = [_code_lookup(m._codes, v, m.code_mixed) for v in values]
            give_distinct(codes, found, _matched_by(m.id, field))
        for field in m.name_fields:
            col = _column(frame, field)
            if col is None:
                continue
            codes, values = _distinct(col)
            found = [
                (*_target(m.names[v]), v) if v in m.names else (None, False, None) for v in values
            ]
            give_distinct(codes, found, _matched_by(m.id, field))
    return cats, via, broad


def promote(
    frame: pd.DataFrame,
    cats: np.ndarray,
    via: np.ndarray,
    broad: np.ndarray | None = None,
    *,
    mappings: tuple[CategoryMapping, ...],
) -> np.ndarray:
    """The mappings' name promotions, in place: a feature of category `from` whose name (in
    one of `name_fields`) matches one of the patterns and none of `unless` becomes `to`; its
    `via` says so. Names are tested once per distinct name. Returns the promoted rows."""
    done = np.zeros(len(cats), bool)
    for m in mappings:
        for p in m.promote:
            candidates = np.flatnonzero(cats == p.from_)
            if not len(candidates):
                continue
            hit = np.zeros(len(cats), bool)
            named = np.full(len(cats), None, dtype=object)
            for field in p.name_fields:
                col = _column(frame, field)
                if col is None:
                    continue
                rows = candidates[~hit[candidates]]
                codes, values = _distinct(col.iloc[rows])
                yes = np.array(
                    [
                        any(re.search(pat, v) for pat in p.patterns)
                        and not any(re.search(pat, v) for pat in p.unless)
                        for v in values
                    ]
                    + [False],
                    bool,
                )[np.where(codes < 0, len(values), codes)]
                named[rows[yes]] = np.array(values, dtype=object)[codes[yes]]
                hit[rows[yes]] = True
            if hit.any():
                cats[hit] = p.to
                if broad is not None:
                    broad[hit] = False
                via[hit] = np.array(
                    [
                        f"{v}; name {name} ({m.id}: {p.from_} -> {p.to})"
                        for v, name in zip(via[hit], named[hit], strict=True)
                    ],
                    dtype=object,
                )
                done |= hit
    return done


def area_per_space(
    frame: pd.DataFrame, default: float | None = None, estimation: SpaceEstimation | None = None
) -> np.ndarray:
    """m2 per space per feature: `default` (--area-per-space) for all, else the estimation's
    figure by tag (the shared one unless given)."""
    est = estimation or load_estimation()
    out = np.full(len(frame), default or est.default_m2_per_space, dtype=float)
    if default is None:
        done = np.zeros(len(frame), bool)
        for rule in est.by_tag:
            hit = ~done & match_mask(frame, rule.match)
            out[hit] = rule.m2_per_space
            done |= hit
    return out
