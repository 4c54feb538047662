"""Declarative mappings under `rules/mappings/`: tags and land-use codes -> categories, and the
area-per-space figures used to estimate missing counts. Applied to whole columns."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from siting.errors import RulePackError
from siting.resources import rules_dir
from siting.ruleset import RulePack, fold_name
from siting.yamlfile import YamlDocument

Value = str | int | bool


class TagRule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    match: dict[str, Value | list[Value]]
    category: str
    facts: dict[str, Value] = Field(default_factory=dict)


class CategoryMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["category-mapping"]
    id: str
    title: str
    tags: list[TagRule] = Field(default_factory=list)
    code_fields: list[str] = Field(default_factory=list)
    codes: dict[str, str] = Field(default_factory=dict)
    name_fields: list[str] = Field(default_factory=list)
    names: dict[str, str] = Field(default_factory=dict)


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
def load_mappings(folder: Path | None = None) -> tuple[CategoryMapping, ...]:
    folder = folder or rules_dir() / "mappings"
    out = []
    for path in sorted(folder.glob("*.yaml")):
        doc = YamlDocument(path)
        if isinstance(doc.data, dict) and doc.data.get("kind") == "category-mapping":
            out.append(doc.parse(CategoryMapping))
    return tuple(out)


@cache
def load_estimation(path: Path | None = None) -> SpaceEstimation:
    return YamlDocument(path or rules_dir() / "mappings" / "estimation.yaml").parse(SpaceEstimation)


def check_mappings(pack: RulePack, mappings=None) -> None:
    """Every category a mapping names must exist in the pack in use."""
    for m in mappings or load_mappings():
        used = {t.category for t in m.tags} | set(m.codes.values()) | set(m.names.values())
        unknown = used - set(pack.category_ids)
        if unknown:
            raise RulePackError(
                f"mapping {m.id}: categories {sorted(unknown)} are not in ruleset {pack.id}"
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


def match_mask(frame: pd.DataFrame, match: dict) -> np.ndarray:
    mask = np.ones(len(frame), bool)
    for key, want in match.items():
        col = _column(frame, key)
        if col is None:
            return np.zeros(len(frame), bool)
        wants = [
            str(v).lower() if not isinstance(v, bool) else ("yes" if v else "no")
            for v in (want if isinstance(want, list) else [want])
        ]
        mask &= np.isin(_text(col), wants)
    return mask


def categorise(
    frame: pd.DataFrame, pack: RulePack, mappings=None, tags_only: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(category id or None, which mapping gave it) per feature, from tags, names and codes."""
    n = len(frame)
    cats = np.full(n, None, dtype=object)
    via = np.full(n, None, dtype=object)
    unset = np.ones(n, bool)

    def give(hit: np.ndarray, category: str, how: str) -> None:
        hit &= unset
        cats[hit], via[hit] = category, how
        unset[hit] = False

    for m in mappings or load_mappings():
        for rule in m.tags:
            if all(_column(frame, key) is not None for key in rule.match):
                how = f"{m.id}: " + ",".join(f"{k}={v}" for k, v in rule.match.items())
                give(match_mask(frame, rule.match), rule.category, how)
        if tags_only:
            continue
        for field in m.name_fields:
            col = _column(frame, field)
            if col is None:
                continue
            names = col.astype("string").str.strip().fillna("").to_numpy(dtype=object)
            for name, cat in m.names.items():
                give(names == name, cat, f"{m.id}: {field}={name}")
        for field in m.code_fields:
            col = _column(frame, field)
            if col is None:
                continue
            codes = col.astype("string").str.strip().str.upper().fillna("")
            for code in sorted(m.codes, key=len, reverse=True):
                hit = codes.str.startswith(code.upper()).to_numpy(bool)
                give(hit, m.codes[code], f"{m.id}: {field}={code}")
    return cats, via


def area_per_space(frame: pd.DataFrame, default: float | None = None) -> np.ndarray:
    est = load_estimation()
    out = np.full(len(frame), default or est.default_m2_per_space, dtype=float)
    if default is None:
        done = np.zeros(len(frame), bool)
        for rule in est.by_tag:
            hit = ~done & match_mask(frame, rule.match)
            out[hit] = rule.m2_per_space
            done |= hit
    return out
