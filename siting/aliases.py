"""The declarative alias table (`rules/shared/aliases.yaml`): headers and values users write.

One table for every jurisdiction: it maps headers and values to the site-record fields of
SPEC section 3, which no pack changes. The names of a pack's categories (and their aliases)
are in the pack itself."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dc_field
from functools import cache
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from siting.errors import RulePackError
from siting.fields import ALL_FIELDS
from siting.folding import fold_name, fold_value
from siting.resources import shared_dir
from siting.yamlfile import YamlDocument

_V = TypeVar("_V")


class _AliasFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["aliases"]
    fields: dict[str, list[str | int]]
    # Spellings that name a field only when no other column does (序号 beside 编号).
    fallback_fields: dict[str, list[str | int]] = {}
    # Columns kept in the output but read by no rule (names, addresses, remarks, coordinates).
    kept_columns: list[str | int] = []
    values: dict[str, dict[str | int | bool, list[str | int | bool]]]
    # What separates several categories in one cell (SPEC 3).
    category_separators: list[str] = [";"]


@dataclass(frozen=True)
class Aliases:
    header: dict[str, str]  # folded header -> field name
    development: dict[str, str]
    a_rating: dict[str, int]
    service_area_class: dict[str, int]
    boolean: dict[str, bool]
    fallback: dict[str, str] = dc_field(default_factory=dict)  # folded header -> field
    kept: frozenset[str] = frozenset()  # folded headers of pass-through columns
    current: dict[str, str] = dc_field(default_factory=dict)  # folded -> "AC" | "DC"
    # words in a map layer's count column: folded -> "none" (0) | "some" (unknown, not 0)
    count_word: dict[str, str] = dc_field(default_factory=dict)
    category_separators: tuple[str, ...] = (";",)

    def field_for(self, header: str) -> str | None:
        return self.header.get(fold_name(header))


@cache
def load_aliases(path: Path | None = None) -> Aliases:
    doc = YamlDocument(path or shared_dir() / "aliases.yaml")
    data: _AliasFile = doc.parse(_AliasFile)
    # One spelling, one field: a header listed under two fields (or under a field and as a
    # pass-through column) would be read as whichever came last; refused instead.
    header: dict[str, str] = {fold_name(f): f for f in ALL_FIELDS}
    fallback: dict[str, str] = {}
    for section, table in (("fields", header), ("fallback_fields", fallback)):
        for field, names in getattr(data, section).items():
            if field not in ALL_FIELDS:
                raise doc.error((section, field), f"not a site-record field; known: {ALL_FIELDS}")
            for k, name in enumerate(names):
                key = fold_name(str(name))
                other = header.get(key) or fallback.get(key)
                if other is not None and (other != field or section == "fallback_fields"):
                    raise doc.error(
                        (section, field, k),
                        f"{name!r} is already a spelling of {other!r}; a header names one field",
                    )
                table[key] = field
    kept = frozenset(fold_name(str(name)) for name in data.kept_columns)
    for k, name in enumerate(data.kept_columns):
        if fold_name(str(name)) in header:
            raise doc.error(
                ("kept_columns", k),
                f"{name!r} is a spelling of {header[fold_name(str(name))]!r}, not a kept column",
            )

    def value_table(kind: str, convert: Callable[[str | int | bool], _V]) -> dict[str, _V]:
        out: dict[str, _V] = {}
        for canonical, spellings in data.values.get(kind, {}).items():
            value = convert(canonical)
            out[fold_value(canonical)] = value
            for s in spellings:
                out[fold_value(s)] = value
        return out

    try:
        return Aliases(
            header=header,
            development=value_table("development", str),
            a_rating=value_table("a_rating", int),
            service_area_class=value_table("service_area_class", int),
            boolean=value_table("boolean", lambda v: v is True or str(v).lower() == "true"),
            fallback=fallback,
            kept=kept,
            current=value_table("current", str),
            count_word=value_table("count", str),
            category_separators=tuple(data.category_separators),
        )
    except ValueError as exc:
        raise RulePackError(f"{doc.path}: values: {exc}") from exc


@cache
def alias_spellings(path: Path | None = None) -> _AliasFile:
    """The alias table as written (headers and value spellings unfolded), for people: the
    Excel template's guide and `siting fields`."""
    doc = YamlDocument(path or shared_dir() / "aliases.yaml")
    return doc.parse(_AliasFile)
