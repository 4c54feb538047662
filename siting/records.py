"""Site records -> typed columns (`SiteTable`), naming every problem of every bad row.

Whatever the source (JSON objects, CSV or Excel rows, map-feature attributes), records arrive
here as a pandas DataFrame of raw values. Columns are converted whole; Python loops run only
over the rows that have a problem (to write their messages) and over nested charger lists.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast, overload

import numpy as np
import pandas as pd

from siting.aliases import Aliases, load_aliases
from siting.columns import column_report
from siting.fields import (
    BOOL_FIELDS,
    CONDITION_FACTS,
    COUNT_FIELDS,
    DEVELOPMENT_VALUES,
    ZERO_DEFAULT_FIELDS,
)
from siting.folding import fold_name, fold_value
from siting.notes import Notes
from siting.ruleset import RulePack, Scalar

if TYPE_CHECKING:
    import pyarrow as pa

T = TypeVar("T")

MAX_COUNT = 10**9  # no parking lot has more spaces; keeps int64 arithmetic far from overflow


@dataclass
class SiteTable:
    """One row per input record, in input order; facts as numpy columns."""

    n: int
    ids: np.ndarray | None  # object: str or None; None when id_text holds them (see id_values)
    row_numbers: np.ndarray  # int64, as the user counts them (CSV/Excel row, record, feature)
    row_kind: str  # "row" | "record" | "feature"
    source: str  # file name or "request"
    ints: dict[str, np.ndarray]  # field -> int64 values (0 where missing)
    missing: dict[str, np.ndarray]  # field -> bool
    development: np.ndarray  # object: 'new' | 'existing' | None
    dedicated: np.ndarray  # int8: 1 true, 0 false, -1 missing
    site_constraint: np.ndarray  # object: str or None
    city: np.ndarray  # object: canonical name, raw text, or None
    pair_site: np.ndarray  # int64: (site, category) pairs
    pair_cat: np.ndarray  # int64: index into pack.categories
    errors: dict[int, list[str]] = field(default_factory=dict)
    notes: Notes = field(default_factory=Notes)
    extra: Columns | None = None  # the input's columns as named there, kept for output
    id_text: Any = None  # ids as an Arrow string array, when normalise made one
    # Set by whoever found the categories (map classification), read by evaluate.py:
    # uncertain: bool per site, the category is a low-confidence guess: a fail on it becomes
    #   needs_review (the caller adds a note saying why, naming the alternatives);
    # alt_site / alt_cat: (site, category index) pairs, other categories the site may be
    #   (e.g. an overlap tie): the site is evaluated as each; when the verdicts differ it is
    #   needs_review, naming what each category gives.
    # Count fields (charging_spaces, reserved_spaces, ...) whose column the input does not
    # have at all: unknown, not 0, per site (a charger schedule can supply charging counts).
    unknown_count: dict[str, np.ndarray] = field(default_factory=dict)
    # Count fields whose cell was blank in a present column: read as 0 (a note says so where
    # a rule counts the field).
    blank_counts: dict[str, np.ndarray] = field(default_factory=dict)
    uncertain: np.ndarray | None = None
    alt_site: np.ndarray | None = None
    alt_cat: np.ndarray | None = None

    def extra_frame(self) -> pd.DataFrame | None:
        if self.extra is None or isinstance(self.extra, pd.DataFrame):
            return self.extra
        return pd.DataFrame(self.extra)

    @property
    def invalid(self) -> np.ndarray:
        mask = np.zeros(self.n, dtype=bool)
        if self.errors:
            mask[np.fromiter(self.errors, dtype=np.int64)] = True
        return mask

    @cached_property
    def id_values(self) -> np.ndarray:
        """The ids as an object array of str or None (made from id_text on first use)."""
        if self.ids is not None:
            return self.ids
        return cast(np.ndarray, self.id_text.to_numpy(zero_copy_only=False))

    def where(self, i: int) -> str:
        if self.ids is None and "id_values" not in self.__dict__:  # one id, not a million
            ident = self.id_text[i].as_py()
        else:
            ident = self.id_values[i]
        label = f"{self.source} {self.row_kind} {self.row_numbers[i]}"
        return f"{label} (id {ident})" if ident is not None else label

    def fact(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(values, missing) of a fact a rule may test."""
        kind = CONDITION_FACTS[name]
        if kind == "int":
            return self.ints[name], self.missing[name]
        if kind == "bool":
            return self.dedicated == 1, self.dedicated < 0
        return self.development, self._development_missing

    @cached_property
    def _development_missing(self) -> np.ndarray:
        return pd.isna(self.development)

    @cached_property
    def _pair_offsets(self) -> list[int]:
        return cast(list[int], np.searchsorted(self.pair_site, np.arange(self.n + 1)).tolist())

    def category_codes(self, i: int) -> np.ndarray:
        """The category indexes of site i (pairs are sorted by site)."""
        return self.pair_cat[self._pair_offsets[i] : self._pair_offsets[i + 1]]


# ----------------------------------------------------------------------------- helpers


SMALL = 256  # below this many values, plain Python beats pandas' per-call overhead


def _is_na(v: object) -> bool:
    """None, NA, NaT (a blank cell of a date column) or NaN: what pandas takes as missing."""
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v))


def blank(values: pd.Series | np.ndarray) -> np.ndarray:
    """True where a raw value is absent: None, NaN, or only whitespace."""
    if isinstance(values, pd.Series) and (
        values.dtype.kind in "biufcmM" or isinstance(values.dtype, pd.BooleanDtype)
    ):
        return values.isna().to_numpy(dtype=bool)
    text = _arrow_text(values)
    if text is not None:
        import pyarrow.compute as pc

        stripped = pc.utf8_trim_whitespace(text)
        return cast(
            np.ndarray, pc.fill_null(pc.equal(stripped, ""), True).to_numpy(zero_copy_only=False)
        )
    # Mixed columns: test each distinct value once.
    codes, uniques = _factorize(values)
    empty = np.array([isinstance(u, str) and not u.strip() for u in uniques] + [True], bool)
    return cast(np.ndarray, empty[codes])


def _map_uniques(
    values: pd.Series | np.ndarray, func: Callable[[Any], T]
) -> tuple[np.ndarray, list[T]]:
    """Apply `func` to each distinct raw value once; return (codes, results per unique).
    Code -1 marks an absent value (None / NaN)."""
    codes, uniques = _factorize(values)
    return codes, [func(u) for u in uniques]


def _factorize(values: pd.Series | np.ndarray) -> tuple[np.ndarray, list[Any]]:
    if isinstance(values, pd.Series) and values.dtype == _NO_CATEGORIES:
        return np.full(len(values), -1, np.int64), []  # an absent column: every value missing
    if len(values) <= SMALL:
        arr = values.to_numpy(dtype=object) if isinstance(values, pd.Series) else values
        found: list[int] = []
        seen: dict[tuple[type, object], int] = {}
        uniques: list[Any] = []
        for v in arr:
            if v is None:  # a blank, or a column the input lacks
                found.append(-1)
                continue
            kind = type(v)
            if kind is str or kind is int:  # most JSON values: never missing, hashable as is
                key = (kind, v)
            elif _is_na(v):
                found.append(-1)
                continue
            else:
                key = (kind, _hashable(v))  # keeps True apart from 1
            code = seen.get(key)
            if code is None:
                code = seen[key] = len(uniques)
                uniques.append(key[1])
            found.append(code)
        return np.array(found, np.int64), uniques
    if isinstance(values, pd.Series | np.ndarray) and values.dtype != object:  # one type
        codes, distinct = pd.factorize(values, use_na_sentinel=True)
        return codes, list(distinct)
    arr = _objects(values)
    # pandas hashes True as 1 and False as 0 (equal in Python): booleans among other values
    # are factorized on their own, so that `true` is never read as the count 1.
    if pd.api.types.infer_dtype(arr, skipna=True) not in ("mixed", "mixed-integer"):
        return _factorize_objects(arr)
    is_bool = _IS_BOOL(arr).astype(bool)
    codes = np.empty(len(arr), np.int64)
    codes[~is_bool], uniques = _factorize_objects(arr[~is_bool])
    bool_codes, bool_uniques = _factorize_objects(arr[is_bool])
    codes[is_bool] = bool_codes + len(uniques)  # booleans are never missing
    return codes, uniques + bool_uniques


_IS_BOOL = np.frompyfunc(lambda v: isinstance(v, bool | np.bool_), 1, 1)


def _factorize_objects(arr: np.ndarray) -> tuple[np.ndarray, list[Any]]:
    uniques: np.ndarray | pd.Index[Any]
    try:
        codes, uniques = pd.factorize(arr, use_na_sentinel=True)
    except TypeError:  # lists or dicts from JSON
        codes, uniques = pd.factorize(pd.Series(arr, dtype=object).map(_hashable))
    return codes, list(uniques)


def _as_float(v: object) -> float:
    """A raw value as a float for the whole-number test; NaN when it is not a plain number."""
    if isinstance(v, bool):
        return math.nan
    if isinstance(v, int | float | np.integer | np.floating):
        try:
            return float(v)
        except OverflowError:
            return math.inf
    if isinstance(v, str):
        try:
            return float(v.strip())
        except ValueError:
            return math.nan
    return math.nan


def _arrow_text(values: pd.Series | np.ndarray) -> pa.Array | None:
    """Large all-text columns as an Arrow string array (None / NaN -> null); else None.
    Arrow strips and compares text in C, where a Python loop over a million distinct ids
    takes seconds."""
    if len(values) <= SMALL:
        return None
    import pyarrow as pa

    if isinstance(values, pd.Series):
        if pd.api.types.is_string_dtype(values.dtype) and values.dtype != object:
            return pa.array(values.array)
        values = values.to_numpy(dtype=object)
    if values.dtype != object or pd.api.types.infer_dtype(values, skipna=True) != "string":
        return None
    return pa.array(values, pa.string(), from_pandas=True)


def _text_column(values: pd.Series | np.ndarray, strip: bool) -> np.ndarray:
    """Raw values -> str or None (blank), converting each distinct value once."""
    return _text_values(values, strip)[0]


@overload
def _text_values(
    values: pd.Series | np.ndarray, strip: bool, objects: Literal[True] = True
) -> tuple[np.ndarray, pa.Array | None]: ...
@overload
def _text_values(
    values: pd.Series | np.ndarray, strip: bool, objects: bool
) -> tuple[np.ndarray | None, pa.Array | None]: ...
def _text_values(
    values: pd.Series | np.ndarray, strip: bool, objects: bool = True
) -> tuple[np.ndarray | None, pa.Array | None]:
    """(str-or-None object array, the same as an Arrow array when Arrow made it, else None).
    objects=False: when Arrow made it, no object array (None in its place)."""
    text = _arrow_text(values)
    if text is not None:
        import pyarrow.compute as pc

        stripped = pc.utf8_trim_whitespace(text)
        kept = stripped if strip else text
        out = pc.if_else(pc.equal(stripped, ""), None, kept)
        return (out.to_numpy(zero_copy_only=False) if objects else None), out
    return _text_by_value(values, strip), None


def _text_by_value(values: pd.Series | np.ndarray, strip: bool) -> np.ndarray:
    codes, uniques = _factorize(values)

    def text(u: Any) -> str | None:
        if isinstance(u, float) and u.is_integer():
            u = int(u)
        t = str(u).strip() if strip else str(u)
        return t if t.strip() else None

    return cast(np.ndarray, np.array([text(u) for u in uniques] + [None], dtype=object)[codes])


def _duplicated(ids: np.ndarray | None, text: pa.Array | None = None) -> np.ndarray:
    """True for ids that occur more than once (object array, or `text`: the Arrow array)."""
    if text is None and len(cast(np.ndarray, ids)) <= SMALL:
        from collections import Counter

        values = cast(np.ndarray, ids)  # given whenever `text` is not
        counts = Counter(v for v in values if v is not None)
        return np.array([v is not None and counts[v] > 1 for v in values], bool)
    import pyarrow as pa
    import pyarrow.compute as pc

    if text is None:
        text = pa.array(ids, pa.string(), from_pandas=True)
    if _distinct_numbers(text.drop_null()):  # S1, S2 ...: compared as integers
        return np.zeros(len(text), bool)
    distinct = len(pc.unique(text)) - (text.null_count > 0)  # unique: ~2x count_distinct
    if distinct == len(text) - text.null_count:
        return np.zeros(len(text), bool)  # the usual case, found without a hash table in Python
    if isinstance(text, pa.ChunkedArray):  # a large file read by Arrow comes in chunks
        text = text.combine_chunks()
    codes = pc.fill_null(pc.dictionary_encode(text).indices, 0).to_numpy(zero_copy_only=False)
    present = np.asarray(text.is_valid())
    per_code = np.bincount(codes[present])
    return present & (per_code[np.where(present, codes, 0)] > 1)


def ids_repeat(frame: pd.DataFrame, field_map: dict[str, str] | None = None) -> bool:
    """Whether any id of a raw site table occurs more than once, compared as `normalise`
    compares them (stripped text). A table whose ids are distinct can be checked in parts,
    each part giving its rows the answer they get in the whole (siting/parts.py)."""
    frame = rename_columns(frame, load_aliases(), field_map)
    if "id" not in frame:
        return False
    ids, text = _text_values(frame["id"], strip=True, objects=False)
    return bool(_duplicated(ids, text).any())


def _distinct_numbers(text: pa.Array | pa.ChunkedArray) -> bool:
    """True when the texts, with the first one's leading non-digits cut off each (S1, S2 ...;
    0001, 0002 ...; GX-2024-001 ...), read as integers, and no integer comes twice: then no
    text comes twice either (equal texts give equal integers), found by comparing integers,
    several times cheaper than hashing the texts. False says nothing: compare the texts."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(text) < SMALL:
        return False
    first = text[0].as_py()
    prefix = first.rstrip("0123456789")
    if len(prefix) == len(first):
        return False
    rest = pc.utf8_slice_codeunits(text, len(prefix))  # code points, as Python counts
    try:
        numbers = np.asarray(pc.cast(rest, pa.int64()).to_numpy(zero_copy_only=False))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False  # not all numbers
    low, high = int(numbers.min()), int(numbers.max())
    if high - low < 8 * len(numbers):  # numbered about in turn: counted, not sorted
        return bool(np.bincount(numbers - low).max() == 1)
    return bool(len(np.unique(numbers)) == len(numbers))


def _hashable(v: object) -> object:
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    if isinstance(v, dict):
        return json.dumps(v, sort_keys=True, ensure_ascii=False)
    return v


def _show(v: object) -> str:
    if isinstance(v, tuple):
        v = list(v)
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    text = repr(v) if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _parse_int(v: object) -> int | str:
    """A whole number >= 0, or the reason it is not one."""
    if isinstance(v, bool):
        return f"{_show(v)} is not a whole number"
    if isinstance(v, int | np.integer):
        n = int(v)
    else:
        if isinstance(v, float | np.floating):
            if not math.isfinite(v):
                return f"{_show(v)} is not a whole number"
            number = Fraction(repr(float(v)))
        else:
            text = str(v).strip().replace(",", "").replace("，", "")
            try:
                number = Fraction(text)
            except (ValueError, ZeroDivisionError):
                return f"{_show(v)} is not a whole number"
        if number.denominator != 1:
            return f"{_show(v)} is not a whole number"
        n = int(number)
    if n < 0:
        return f"{_show(v)} is negative; counts must be 0 or more"
    if n > MAX_COUNT:
        return f"{_show(v)} is too large to be a count (at most {MAX_COUNT:,})"
    return n


# ----------------------------------------------------------------------------- normalise


Columns = pd.DataFrame | dict[str, np.ndarray]


@overload
def rename_columns(
    frame: pd.DataFrame,
    aliases: Aliases,
    mapping: dict[str, str] | None = None,
    source: str = "input",
) -> pd.DataFrame: ...
@overload
def rename_columns(
    frame: dict[str, np.ndarray],
    aliases: Aliases,
    mapping: dict[str, str] | None = None,
    source: str = "input",
) -> dict[str, np.ndarray]: ...
def rename_columns(
    frame: Columns,
    aliases: Aliases,
    mapping: dict[str, str] | None = None,
    source: str = "input",
) -> Columns:
    """Rename headers to site-record field names, as `siting.columns.column_report` decides
    (explicit mapping first, then names and aliases, then fallback spellings). Two columns
    meaning the same field is an error naming both."""
    columns = list(frame.columns if isinstance(frame, pd.DataFrame) else frame)
    renamed = column_report(columns, aliases, mapping, source, suggest=False).rename
    if isinstance(frame, dict):
        return {renamed.get(k, k): v for k, v in frame.items()}
    return frame.rename(columns=dict(renamed))


# The dtype of an absent column (made once: building it is most of the cost for a few rows).
_NO_CATEGORIES = pd.CategoricalDtype(categories=pd.Index([], dtype=object))
ABSENT_AS_NONES = 64  # up to this many rows, an absent column is an array of Nones


def normalise(
    frame: Columns,
    pack: RulePack,
    *,
    source: str = "input",
    row_kind: str = "row",
    row_numbers: np.ndarray | None = None,
    preset_errors: dict[int, list[str]] | None = None,
    field_map: dict[str, str] | None = None,
    aliases: Aliases | None = None,
    keep: pd.DataFrame | None = None,
    ids_distinct: bool = False,
) -> SiteTable:
    """Raw records -> SiteTable. `keep` is the frame whose columns are passed through to the
    output (default: the input's columns as they were named in the file). `ids_distinct`:
    the caller checks that no id occurs twice (in a larger list these rows are part of:
    siting/parts.py), so they are not compared here."""
    aliases = aliases or load_aliases()
    original = keep if keep is not None else frame
    if isinstance(original, pd.DataFrame):
        original = original.reset_index(drop=True)
    frame = rename_columns(frame, aliases, field_map, source)
    if isinstance(frame, pd.DataFrame):
        frame = frame.reset_index(drop=True)
        n = len(frame)
    else:
        n = len(row_numbers) if row_numbers is not None else len(next(iter(frame.values()), []))
    errors: dict[int, list[str]] = defaultdict(list)
    for i, problems in (preset_errors or {}).items():
        errors[i].extend(problems)
    notes = Notes()

    # An absent column is all missing; as a categorical, every pass over it is free (for a
    # few rows, Nones: read value by value as cheaply, without making a Series)
    absent_column: pd.Series | np.ndarray = (
        np.full(n, None, dtype=object)
        if n <= ABSENT_AS_NONES
        else pd.Series(
            pd.Categorical.from_codes(np.full(n, -1), dtype=_NO_CATEGORIES, validate=False)
        )
    )

    def col(name: str) -> pd.Series | np.ndarray:
        return frame.get(name, absent_column)

    def flag(mask: np.ndarray, message: str | Callable[[int], str]) -> None:
        for i in np.flatnonzero(mask).tolist():
            errors[i].append(message(i) if callable(message) else message)

    # --- id
    ids, id_text = _text_values(col("id"), strip=True, objects=False)
    # id_text is the Arrow array whenever ids is None
    id_blank = (
        pd.isna(ids) if ids is not None else ~np.asarray(cast("pa.Array", id_text).is_valid())
    )
    flag(id_blank, "id: missing; every site needs an id")
    dup = np.zeros(n, bool) if ids_distinct else _duplicated(ids, id_text)
    if dup.any():
        if ids is None:
            ids = cast("pa.Array", id_text).to_numpy(zero_copy_only=False)
        positions: dict[str, list[int]] = defaultdict(list)
        for i in np.flatnonzero(dup).tolist():
            positions[ids[i]].append(i)
        numbers = row_numbers if row_numbers is not None else np.arange(1, n + 1)
        for ident, rows in positions.items():
            for i in rows:
                others = ", ".join(str(numbers[j]) for j in rows if j != i)
                errors[i].append(f"id: {ident!r} is not unique; it is also on {row_kind} {others}")

    # --- categories -> (site, category) pairs, and the facts names carry (新建小区: new)
    pair_site, pair_cat, carried = _categories(col("category"), pack, errors)
    stated_raw = {f: col(f) for f in carried}
    for f, values in carried.items():
        given = np.array([v is not None for v in values], bool)
        merged = np.where(blank(stated_raw[f]) & given, values, _objects(stated_raw[f]))
        frame = _with_column(frame, f, merged)

    # --- whole-number fields
    ints: dict[str, np.ndarray] = {}
    missing: dict[str, np.ndarray] = {}
    unreadable: dict[str, np.ndarray] = {}
    for name in COUNT_FIELDS:
        ints[name], missing[name], unreadable[name] = _int_column(col(name), name, errors, None)
    for name, table in (
        ("a_rating", aliases.a_rating),
        ("service_area_class", aliases.service_area_class),
    ):
        ints[name], missing[name], unreadable[name] = _int_column(col(name), name, errors, table)
    # a rating out of 1-5 (one that is not a whole number is reported as such, once)
    rating = ints["a_rating"]
    bad_rating = ~missing["a_rating"] & ~unreadable["a_rating"] & ((rating < 1) | (rating > 5))
    flag(bad_rating, lambda i: f"a_rating: {ints['a_rating'][i]} is not an A-rating (1-5, A-AAAAA)")

    # --- charger schedules replace charging / fast counts
    _apply_chargers(col("chargers"), pack, ints, missing, errors, notes)
    # Counts that default to 0: a blank cell in a present column is 0, and says so; a column
    # the input does not have at all is unknown (evaluate.py keeps verdicts that rest on it
    # open), never silently 0.
    unknown_count: dict[str, np.ndarray] = {}
    blank_counts: dict[str, np.ndarray] = {}
    for name in ZERO_DEFAULT_FIELDS:
        if name in frame:
            blank_counts[name] = missing[name].copy()  # notes where a rule counts it
        elif missing[name].any():
            unknown_count[name] = missing[name].copy()

    # --- development
    dev_codes, dev_vals = _map_uniques(
        col("development"),
        lambda v: _lookup(v, aliases.development, "development", "new or existing (新建 / 既有)"),
    )
    development = _gather(dev_codes, dev_vals, errors, value_ok=lambda v: v in DEVELOPMENT_VALUES)

    # --- dedicated_ev_area
    (bool_field,) = BOOL_FIELDS
    codes, vals = _map_uniques(
        col(bool_field),
        lambda v: _lookup(v, aliases.boolean, bool_field, "true or false (是 / 否)"),
    )
    _gather(codes, vals, errors, value_ok=lambda v: isinstance(v, bool))  # records problems
    is_true = np.array([v is True for v in vals] + [False])[codes]
    is_false = np.array([v is False for v in vals] + [False])[codes]
    dedicated = np.where(is_true, 1, np.where(is_false, 0, -1)).astype(np.int8)

    # --- a fact a category name carries must agree with the one stated
    for f, values in carried.items():
        _check_carried(f, values, stated_raw[f], aliases, errors)

    # --- free text
    site_constraint = _text_column(col("site_constraint"), strip=False)
    city_codes, city_vals = _map_uniques(col("city"), lambda v: _city(v, pack))
    city = np.empty(n, dtype=object)
    for i, (canonical, note) in enumerate(city_vals):
        rows = city_codes == i
        city[rows] = canonical
        if note:
            notes.add_many(np.flatnonzero(rows), "warning", note)

    # --- contradictions between counts (between values as given: a value that is not a
    # count, already reported, is not compared as the 0 it is held as)
    p, pm = ints["parking_spaces"], missing["parking_spaces"] | unreadable["parking_spaces"]
    ch, rs, fa = ints["charging_spaces"], ints["reserved_spaces"], ints["fast_charging_spaces"]
    bad_ch, bad_rs = unreadable["charging_spaces"], unreadable["reserved_spaces"]
    flag(
        ~pm & ~bad_ch & ~bad_rs & (ch + rs > p),
        lambda i: (
            f"charging_spaces + reserved_spaces = {ch[i] + rs[i]} is more than "
            f"parking_spaces = {p[i]}"
        ),
    )
    flag(
        ~unreadable["fast_charging_spaces"] & ~bad_ch & (fa > ch),
        lambda i: f"fast_charging_spaces = {fa[i]} is more than charging_spaces = {ch[i]}",
    )
    sm, smm = ints["small_car_spaces"], missing["small_car_spaces"] | unreadable["small_car_spaces"]
    flag(
        ~pm & ~smm & (sm > p),
        lambda i: f"small_car_spaces = {sm[i]} is more than parking_spaces = {p[i]}",
    )

    return SiteTable(
        n=n,
        ids=ids,
        row_numbers=row_numbers if row_numbers is not None else np.arange(1, n + 1),
        row_kind=row_kind,
        source=source,
        ints=ints,
        missing=missing,
        development=development,
        dedicated=dedicated,
        site_constraint=site_constraint,
        city=city,
        pair_site=pair_site,
        pair_cat=pair_cat,
        errors={i: v for i, v in sorted(errors.items()) if v},
        notes=notes,
        id_text=id_text,
        unknown_count=unknown_count,
        blank_counts=blank_counts,
        extra=original if len(original) and len(getattr(original, "columns", original)) else None,
    )


def _int_column(
    values: pd.Series | np.ndarray,
    name: str,
    errors: dict[int, list[str]],
    table: dict[str, int] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A whole-number column: int64 values (0 where blank or unreadable), the blank mask and
    the mask of values that are not counts (each reported in `errors`). Number columns are
    converted as arrays; others value by value, each distinct value once."""
    n = len(values)
    out = np.zeros(n, dtype=np.int64)
    if isinstance(values, pd.Series) and values.dtype.kind in "iuf":
        absent = values.isna().to_numpy(dtype=bool)
        num = values.to_numpy(dtype="float64", na_value=np.nan)
        whole = np.isfinite(num) & (np.floor(num) == num) & (np.abs(num) <= MAX_COUNT)
        good = whole & (num >= 0)
        out[good] = num[good].astype(np.int64)
        unreadable = ~good & ~absent
        bad = np.flatnonzero(unreadable)
        if len(bad):  # negative, fractional or huge: said in words, per distinct value
            codes, results = _map_uniques(num[bad], lambda v: _count(v, table))
            for k, result in enumerate(results):
                for i in bad[codes == k].tolist():
                    errors[i].append(f"{name}: {result}")
        return out, absent, unreadable
    codes, uniques = _factorize(values)
    results = _counts(uniques, table)
    absent = np.array([r is None for r in results] + [True], bool)[codes]
    number = np.array([r if isinstance(r, int) else 0 for r in results] + [0], np.int64)
    out[:] = number[codes]
    unreadable = np.array([isinstance(r, str) for r in results] + [False], bool)[codes]
    for k, result in enumerate(results):
        if isinstance(result, str):
            for i in np.flatnonzero(codes == k).tolist():
                errors[i].append(f"{name}: {result}")
    return out, absent, unreadable


def _counts(uniques: list[Any], table: dict[str, int] | None) -> list[int | str | None]:
    """`_count` of each distinct value. Many distinct texts of plain digits (a count column
    of a large list: thousands of values, 0 to 999,999,999) are read by Arrow at once; every
    other value, one by one."""
    if len(uniques) < SMALL:
        return [_count(u, table) for u in uniques]
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        text = pa.array(uniques, pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # not all text
        return [_count(u, table) for u in uniques]
    digits = pc.fill_null(pc.match_substring_regex(text, "^[0-9]{1,9}$"), False)
    plain = np.asarray(digits.to_numpy(zero_copy_only=False), dtype=bool)
    out: list[int | str | None] = [None] * len(uniques)
    numbers = pc.cast(text.filter(digits), pa.int64()).to_pylist()
    for k, number in zip(np.flatnonzero(plain).tolist(), numbers, strict=True):
        out[k] = number
    for k in np.flatnonzero(~plain).tolist():
        out[k] = _count(uniques[k], table)
    return out


def _count(v: object, table: dict[str, int] | None) -> int | str | None:
    """One raw value as a count: an int >= 0, the reason it is not one, or None if blank."""
    if type(v) is int and -MAX_COUNT <= v <= MAX_COUNT:  # a JSON count: the same, sooner
        return v if v >= 0 else f"{v} is negative; counts must be 0 or more"
    if _absent(v):
        return None
    num = _as_float(v)
    if math.isfinite(num) and num == math.floor(num) and abs(num) <= MAX_COUNT:
        if num < 0:
            return f"{int(num)} is negative; counts must be 0 or more"
        return int(num)
    if table is not None:
        hit = table.get(fold_value(v))
        if hit is not None:
            return hit
    return _parse_int(v)


def _absent(v: object) -> bool:
    """None, NaN, NA or only whitespace."""
    return _is_na(v) or not str(v).strip()


def _lookup(v: object, table: dict[str, T], name: str, expected: str) -> T | str | None:
    if _absent(v):
        return None
    hit = table.get(fold_value(v))
    if hit is None:
        return f"{name}: {_show(v)} is not understood; expected {expected}"
    return hit


def _gather(
    codes: np.ndarray,
    vals: list[Any],
    errors: dict[int, list[str]],
    value_ok: Callable[[Any], bool],
) -> np.ndarray:
    out = np.full(len(codes), None, dtype=object)
    for k, v in enumerate(vals):
        rows = codes == k
        if v is None:
            continue
        if value_ok(v):
            out[rows] = v
        else:
            for i in np.flatnonzero(rows).tolist():
                errors[i].append(v)
    return out


def _city(v: object, pack: RulePack) -> tuple[str | None, str | None]:
    if _absent(v):
        return None, None
    if not pack.cities:
        return str(v).strip(), None
    hit = pack.city_lookup.get(fold_name(str(v)))
    if hit:
        return hit, None
    return str(v).strip(), f"city: {_show(v)} is not a city of {pack.jurisdiction}"


# Separators between several categories in one cell (SPEC 3), from the alias table's list.
@cache
def _separators() -> re.Pattern[str]:
    seps = load_aliases().category_separators
    return re.compile("|".join(re.escape(s) for s in seps))


def _split_categories(v: object) -> list[str] | None:
    if _is_na(v):
        return None
    items = list(v) if isinstance(v, tuple | list) else [v]
    split = _separators()
    names: list[str] = []
    for item in items:
        for part in split.split(str(item)):
            if part.strip():
                names.append(part.strip())
    return names or None


def _objects(values: pd.Series | np.ndarray) -> np.ndarray:
    if isinstance(values, pd.Series):
        return values.to_numpy(dtype=object)
    return np.asarray(values, dtype=object)


def _with_column(frame: Columns, name: str, values: np.ndarray) -> Columns:
    if isinstance(frame, dict):
        return {**frame, name: values}
    frame = frame.copy(deep=False)
    frame[name] = pd.Series(values, index=frame.index, dtype=object)
    return frame


def _carried_value(fact: str, v: object, aliases: Aliases) -> str | bool | int | None:
    """A fact value as a category name carries it, parsed like a column value."""
    if v is None:
        return None
    if fact == "development":
        return aliases.development.get(fold_value(v))
    if fact == "dedicated_ev_area":
        return aliases.boolean.get(fold_value(v))
    table = {"a_rating": aliases.a_rating, "service_area_class": aliases.service_area_class}
    result = _count(v, table.get(fact))
    return result if isinstance(result, int) else None


def _check_carried(
    fact: str,
    values: np.ndarray,
    stated: pd.Series | np.ndarray,
    aliases: Aliases,
    errors: dict[int, list[str]],
) -> None:
    """Rows where a category name carries a fact and the record states another value."""
    both = ~blank(stated) & np.array([v is not None for v in values], bool)
    raw = _objects(stated)
    for i in np.flatnonzero(both).tolist():
        said = _carried_value(fact, raw[i], aliases)
        carried = _carried_value(fact, values[i], aliases)
        if said is not None and carried is not None and said != carried:
            errors[i].append(
                f"{fact}: the category name says {carried!r} but {fact} is {_show(raw[i])}; "
                "correct one of them"
            )


def _categories(
    series: pd.Series | np.ndarray, pack: RulePack, errors: dict[int, list[str]]
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """(pair_site, pair_cat, carried): carried maps a fact to an object array of the values
    category names carry (None where none)."""

    aliases = load_aliases()

    def parse(v: object) -> tuple[list[int], str | None, dict[str, Scalar]]:
        names = _split_categories(v)
        if names is None:
            return [], None, {}
        cats: list[int] = []
        unknown = []
        facts: dict[str, Scalar] = {}
        clash = []
        for name in names:
            hit = pack.resolve_category(name)
            if hit is None:
                unknown.append(name)
                continue
            cid, carried = hit
            for f, value in carried.items():
                # compared as values: 5A and AAAAA agree
                if f in facts and _carried_value(f, facts[f], aliases) != _carried_value(
                    f, value, aliases
                ):
                    clash.append(f"{f} {facts[f]!r} and {value!r}")
                facts.setdefault(f, value)
            if (code := pack.category_ids.index(cid)) not in cats:
                cats.append(code)
        if unknown:
            return (
                [],
                (
                    f"category: unknown {', '.join(map(repr, unknown))}; "
                    f"{pack.id} knows {', '.join(pack.category_ids)} (or their Chinese names)"
                ),
                {},
            )
        if clash:
            return [], f"category: the names carry contradictory facts: {'; '.join(clash)}", {}
        return cats, None, facts

    codes, parsed = _map_uniques(series, parse)
    n = len(series)
    counts_per_unique = np.array([len(c) for c, _, _ in parsed] + [0], dtype=np.int64)
    lengths = counts_per_unique[codes]  # code -1 (missing) picks the trailing 0
    flat = np.array([c for cats, _, _ in parsed for c in cats], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts_per_unique[:-1])])
    pair_site = np.repeat(np.arange(n, dtype=np.int64), lengths)
    within = np.arange(len(pair_site)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    pair_cat = flat[offsets[codes[pair_site]] + within] if len(pair_site) else flat[:0]
    for k, (_, problem, _) in enumerate(parsed):
        if problem:
            for i in np.flatnonzero(codes == k).tolist():
                errors[i].append(problem)
    carried = {}
    for f in sorted({f for _, _, facts in parsed for f in facts}):
        per_unique = np.array([facts.get(f) for _, _, facts in parsed] + [None], dtype=object)
        carried[f] = per_unique[codes]
    return pair_site, pair_cat, carried


def _apply_chargers(
    series: pd.Series | np.ndarray,
    pack: RulePack,
    ints: dict[str, np.ndarray],
    missing: dict[str, np.ndarray],
    errors: dict[int, list[str]],
    notes: Notes,
) -> None:
    """Each gun of at least the pack's minimum power is one charging space; DC guns are fast."""
    given = np.flatnonzero(~blank(series))
    if isinstance(series, pd.Series):
        series = series.to_numpy(dtype=object)
    if not len(given):
        return
    rule = pack.charger_counting
    min_kw = rule.min_power_kw
    currents = load_aliases().current  # AC / DC, 交流 / 直流, lower case
    for i in given.tolist():
        raw = series[i]
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except json.JSONDecodeError:
                errors[i].append("chargers: not a JSON list of {power_kw, guns, current}")
                continue
        if not isinstance(raw, list):
            errors[i].append("chargers: expected a list of {power_kw, guns, current}")
            continue
        charging = fast = below = 0
        problems = []
        for k, ch in enumerate(raw):
            if not isinstance(ch, dict):
                problems.append(f"chargers[{k}]: expected an object")
                continue
            unknown = set(ch) - {"power_kw", "guns", "current"}
            if unknown:
                problems.append(f"chargers[{k}]: unknown field(s) {', '.join(sorted(unknown))}")
            power, guns, current = ch.get("power_kw"), ch.get("guns", 1), ch.get("current")
            try:
                if isinstance(power, bool) or power is None:
                    raise ValueError
                kw = Fraction(str(power))  # a float's str is its shortest exact decimal
                if kw < 0:
                    raise ValueError
            except (ValueError, ZeroDivisionError):
                problems.append(f"chargers[{k}].power_kw: {_show(power)} is not a power in kW")
                continue
            g = _parse_int(guns)
            if isinstance(g, str) or g < 1:
                problems.append(f"chargers[{k}].guns: {_show(guns)} is not a whole number >= 1")
                continue
            cur = currents.get(fold_value(current), "") if current is not None else ""
            if cur not in {"AC", "DC"}:
                problems.append(
                    f"chargers[{k}].current: {_show(current)} is not AC or DC (交流 / 直流)"
                )
                continue
            if kw < min_kw:
                below += g
                continue
            charging += g
            if cur in rule.fast_currents:
                fast += g
        if problems:
            errors[i].extend(problems)
            continue
        for name, value in (("charging_spaces", charging), ("fast_charging_spaces", fast)):
            if not missing[name][i] and ints[name][i] != value:
                message = f"{name} {ints[name][i]} replaced by {value} from the charger schedule"
                notes.add(i, "info", message)
            ints[name][i] = value
            missing[name][i] = False
        if below:
            message = f"{below} gun(s) below {float(min_kw):g} kW not counted as charging spaces"
            notes.add(i, "info", message)


def records_columns(records: list[Any]) -> tuple[dict[str, np.ndarray], dict[int, list[str]]]:
    """JSON objects -> raw columns (object arrays), one row per record; an item that is not
    an object becomes an empty row with its problem, so it comes out `invalid`, not lost."""
    errors: dict[int, list[str]] = {}
    keys: dict[str, None] = {}
    for i, rec in enumerate(records):
        if isinstance(rec, dict):
            keys.update(dict.fromkeys(map(str, rec)))
        else:
            errors[i] = [f"expected a site object, got {type(rec).__name__}"]
    rows = [rec if isinstance(rec, dict) else {} for rec in records]
    columns = {}
    for key in keys:
        col = np.empty(len(rows), dtype=object)
        col[:] = [rec.get(key) for rec in rows]
        columns[key] = col
    return columns, errors


def records_frame(records: list[Any]) -> tuple[pd.DataFrame, dict[int, list[str]]]:
    """As `records_columns`, as a DataFrame."""
    columns, errors = records_columns(records)
    frame = pd.DataFrame(columns, index=pd.RangeIndex(len(records)), dtype=object)
    return frame, errors
