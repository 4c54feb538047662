"""The declarative alias table (`rules/aliases.yaml`): headers and values users write."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from siting.errors import RulePackError
from siting.fields import ALL_FIELDS
from siting.resources import rules_dir
from siting.ruleset import fold_name
from siting.yamlfile import YamlDocument


class _AliasFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["aliases"]
    fields: dict[str, list[str | int]]
    values: dict[str, dict[str | int | bool, list[str | int | bool]]]


@dataclass(frozen=True)
class Aliases:
    header: dict[str, str]  # folded header -> field name
    development: dict[str, str]
    a_rating: dict[str, int]
    service_area_class: dict[str, int]
    boolean: dict[str, bool]

    def field_for(self, header: str) -> str | None:
        return self.header.get(fold_name(header))


def _fold_value(v: object) -> str:
    return fold_name(str(v).lower() if isinstance(v, bool) else str(v))


@cache
def load_aliases(path: Path | None = None) -> Aliases:
    doc = YamlDocument(path or rules_dir() / "aliases.yaml")
    data: _AliasFile = doc.parse(_AliasFile)
    header: dict[str, str] = {}
    for field, names in data.fields.items():
        if field not in ALL_FIELDS:
            raise doc.error(("fields", field), f"not a site-record field; known: {ALL_FIELDS}")
        for name in (field, *names):
            header[fold_name(str(name))] = field
    for field in ALL_FIELDS:
        header.setdefault(fold_name(field), field)

    def table(kind: str, convert) -> dict:
        out = {}
        for canonical, spellings in data.values.get(kind, {}).items():
            value = convert(canonical)
            out[_fold_value(canonical)] = value
            for s in spellings:
                out[_fold_value(s)] = value
        return out

    try:
        return Aliases(
            header=header,
            development=table("development", str),
            a_rating=table("a_rating", int),
            service_area_class=table("service_area_class", int),
            boolean=table("boolean", lambda v: v is True or str(v).lower() == "true"),
        )
    except ValueError as exc:
        raise RulePackError(f"{doc.path}: values: {exc}") from exc


def fold_value(v: object) -> str:
    return _fold_value(v)
