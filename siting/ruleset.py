"""Rule packs: the typed model of a pack file, loading and validation, and the bundled catalogue.

A pack is YAML (see `docs/rules.md` and `rules/schema/rulepack.schema.json`); this module is
its single source of truth. Loading a pack that breaks the schema raises `RulePackError`
naming the file, the line, the path inside the file and the reason.
"""

from __future__ import annotations

import datetime as dt
import re
from fractions import Fraction
from functools import cache, cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)

from siting.errors import RulePackError
from siting.fields import BASIS_FIELDS, CONDITION_FACTS, COUNTABLE
from siting.folding import fold_name
from siting.hashing import sha256_file
from siting.ratio import format_ratio, parse_ratio
from siting.resources import rules_dir
from siting.yamlfile import LOADER, YamlDocument

Ratio = Annotated[
    Fraction,
    BeforeValidator(lambda v: v if isinstance(v, Fraction) else parse_ratio(v)),
    PlainSerializer(format_ratio, return_type=str),
    WithJsonSchema(
        {
            "description": "An exact ratio: '20%', '1/5' or '0.2' (decimals are read exactly)",
            "anyOf": [
                {
                    "type": "string",
                    "pattern": r"^\s*\d+(\.\d+)?\s*[%％]?\s*$|^\s*\d+\s*/\s*\d+\s*$",
                },
                {"type": "number", "minimum": 0},
            ],
        }
    ),
]
Fact = Literal[tuple(CONDITION_FACTS)]  # type: ignore[valid-type]
Countable = Literal[COUNTABLE]  # type: ignore[valid-type]
BasisField = Literal[BASIS_FIELDS]  # type: ignore[valid-type]
Scalar = str | int | bool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Citation(_Strict):
    """Where a rule comes from: enough for a reviewer to find and quote it."""

    document: str | None = Field(None, description="Defaults to the pack's source title")
    section: str = Field(..., min_length=1, description="Section / clause number in the document")
    clause: str = Field(..., min_length=1, description="The clause in the document's words")
    summary: str | None = Field(None, description="A faithful English summary")


class Condition(_Strict):
    """A test on one fact of the site. All given operators must hold."""

    eq: Scalar | None = None
    in_: list[Scalar] | None = Field(None, alias="in")
    not_in: list[Scalar] | None = None
    ge: int | None = None
    gt: int | None = None
    le: int | None = None
    lt: int | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one_at_least(self) -> Condition:
        if all(getattr(self, f) is None for f in ("eq", "in_", "not_in", "ge", "gt", "le", "lt")):
            raise ValueError("a condition needs at least one of eq, in, not_in, ge, gt, le, lt")
        return self

    def describe(self) -> str:
        parts = []
        if self.eq is not None:
            parts.append(f"= {self.eq}")
        if self.in_ is not None:
            parts.append("in " + ", ".join(map(str, self.in_)))
        if self.not_in is not None:
            parts.append("not in " + ", ".join(map(str, self.not_in)))
        for op, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if getattr(self, op) is not None:
                parts.append(f"{sym} {getattr(self, op)}")
        return " and ".join(parts)


class TableRow(_Strict):
    """One step of a stepped table: for a basis up to `up_to` (inclusive; omit on the last,
    open-ended row), either a fixed `required` count or a `ratio` (a list of ratios is applied
    in turn, rounding at each step, e.g. 33 % of 30 % of the spaces)."""

    up_to: int | None = Field(None, ge=0)
    required: int | None = Field(None, ge=0)
    ratio: Ratio | list[Ratio] | None = None

    @model_validator(mode="after")
    def _one_amount(self) -> TableRow:
        if (self.required is None) == (self.ratio is None):
            raise ValueError("a table row needs exactly one of `required` and `ratio`")
        return self


class Rule(_Strict):
    id: str = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
    title: str
    title_zh: str | None = None
    categories: list[str] = Field(..., min_length=1)
    when: dict[Fact, Condition] = Field(default_factory=dict)  # type: ignore[valid-type]
    strength: Literal["mandatory", "advisory"]
    basis: BasisField = "parking_spaces"
    basis_fallback: BasisField | None = None
    ratio: Ratio | list[Ratio] | None = None
    table: list[TableRow] | None = None
    minimum: int | None = Field(None, ge=0, description="Absolute minimum count")
    counts: list[Countable] = Field(..., min_length=1)
    fast_preferred: bool = False
    dedicated_area_required: bool = False
    site_constraint_review: bool = Field(
        False, description="A stated site_constraint turns a fail into needs_review"
    )
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    citation: Citation

    @model_validator(mode="after")
    def _amounts(self) -> Rule:
        if self.ratio is not None and self.table is not None:
            raise ValueError("give either `ratio` or `table`, not both")
        if self.strength == "mandatory" and not self.has_requirement:
            raise ValueError("a mandatory rule needs a `ratio`, a `table` or a `minimum`")
        if self.table is not None:
            bounds = [row.up_to for row in self.table]
            if any(b is None for b in bounds[:-1]):
                raise ValueError("only the last table row may omit `up_to`")
            known = [b for b in bounds if b is not None]
            if known != sorted(set(known)):
                raise ValueError("table rows must have increasing `up_to`")
        return self

    @property
    def has_requirement(self) -> bool:
        return self.ratio is not None or self.table is not None or self.minimum is not None

    def in_force(self, on: dt.date) -> bool:
        return (self.valid_from is None or self.valid_from <= on) and (
            self.valid_to is None or on <= self.valid_to
        )


class FactAlias(_Strict):
    """A name that means this category *and* carries facts of the site: 新建小区 is a
    residential compound that is new; 5A级旅游景区 a scenic area rated 5. Either a literal
    `name` with its `facts`, or a regular expression `pattern` whose named groups are facts
    (their text is read like a column value: 4A, AAAA, 四A ...). Matched on the folded name
    (case, spaces and full-width forms ignored)."""

    name: str | None = None
    pattern: str | None = None
    facts: dict[Fact, Scalar] = Field(default_factory=dict)  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _one_form(self) -> FactAlias:
        if (self.name is None) == (self.pattern is None):
            raise ValueError("a fact alias needs exactly one of `name` and `pattern`")
        if self.pattern is not None:
            try:
                groups = set(re.compile(self.pattern).groupindex)
            except re.error as exc:
                raise ValueError(f"pattern {self.pattern!r}: {exc}") from None
            unknown = groups - set(CONDITION_FACTS)
            if unknown:
                raise ValueError(f"pattern groups {sorted(unknown)} are not facts a rule may test")
            if not groups and not self.facts:
                raise ValueError("a pattern needs a named group (a fact) or `facts`")
        elif not self.facts:
            raise ValueError("a named fact alias needs `facts` (else list it under aliases)")
        return self


class Category(_Strict):
    id: str = Field(..., pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    name_zh: str
    aliases: list[str] = Field(default_factory=list, description="Other names users write")
    fact_aliases: list[FactAlias] = Field(
        default_factory=list, description="Names that carry facts, e.g. 新建小区 = new"
    )


class Source(_Strict):
    title: str
    title_en: str | None = None
    issuer: str | None = None
    reference: str | None = Field(None, description="Document number, URL or other locator")
    published: dt.date | None = None


class City(_Strict):
    name_zh: str
    pinyin: str
    targets: dict[str, float] = Field(default_factory=dict)


class ChargerCounting(_Strict):
    """How a charger schedule becomes charging spaces."""

    min_power_kw: Ratio = Fraction(11, 5)
    fast_currents: list[Literal["AC", "DC"]] = ["DC"]
    citation: Citation | None = None


class RulePack(_Strict):
    kind: Literal["rulepack"]
    id: str = Field(..., pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    version: str
    title: str
    title_zh: str | None = None
    jurisdiction: str
    source: Source
    valid_from: dt.date
    valid_to: dt.date | None = Field(None, description="Last day in force; omit while in force")
    plan_period_end: dt.date | None = Field(
        None, description="After this date checks still run, with a warning"
    )
    rounding: Literal["ceil", "floor", "half_up"] = "ceil"
    cap_required_at_basis: bool = Field(
        True, description="Never require more spaces than the basis has"
    )
    charger_counting: ChargerCounting = ChargerCounting()
    categories: list[Category] = Field(..., min_length=1)
    rules: list[Rule] = Field(..., min_length=1)
    cities: list[City] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    model_config = ConfigDict(extra="forbid", frozen=False)

    # Set by the loader, not part of the file.
    _path: Path | None = None
    _sha256: str = ""

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def sha256(self) -> str:
        return self._sha256

    @cached_property
    def category_ids(self) -> list[str]:
        return [c.id for c in self.categories]

    @cached_property
    def derived(self) -> dict[Any, Any]:
        """What other modules work out from this pack once and keep as long as it lives
        (siting.scalar: the rules in force on a date; siting.check: the fields every result
        of a rule shares). Keys are tuples that start with the module's name."""
        return {}

    @cached_property
    def rule_category_masks(self) -> list[npt.NDArray[np.bool_]]:
        """Per rule, a boolean table over the category indexes: `mask[cat]` is True for the
        categories the rule applies to (one lookup per site instead of an `isin` per rule and
        check). One slot more than there are categories, so that index -1 (none) is False."""
        index = {c: i for i, c in enumerate(self.category_ids)}
        masks = []
        for rule in self.rules:
            mask = np.zeros(len(self.category_ids) + 1, bool)
            mask[[index[c] for c in rule.categories]] = True
            masks.append(mask)
        return masks

    @cached_property
    def category_by_id(self) -> dict[str, Category]:
        return {c.id: c for c in self.categories}

    @cached_property
    def category_lookup(self) -> dict[str, str]:
        """Every accepted spelling (id, English and Chinese name, aliases) -> category id."""
        table: dict[str, str] = {}
        for c in self.categories:
            for name in (c.id, c.name, c.name_zh, *c.aliases):
                table[fold_name(name)] = c.id
        return table

    @cached_property
    def _fact_names(self) -> dict[str, tuple[str, dict[str, Scalar]]]:
        return {
            fold_name(a.name): (c.id, dict(a.facts))
            for c in self.categories
            for a in c.fact_aliases
            if a.name is not None
        }

    @cached_property
    def _fact_patterns(self) -> list[tuple[re.Pattern[str], str, dict[str, Scalar]]]:
        return [
            (re.compile(a.pattern, re.IGNORECASE), c.id, dict(a.facts))
            for c in self.categories
            for a in c.fact_aliases
            if a.pattern is not None
        ]

    def resolve_category(self, name: str) -> tuple[str, dict[str, Scalar | str]] | None:
        """A category name as users write it -> (category id, facts it carries), or None.
        Facts from a pattern's groups are raw text (4A, AAAA) for the caller to parse."""
        key = fold_name(name)
        hit = self.category_lookup.get(key)
        if hit is not None:
            return hit, {}
        named = self._fact_names.get(key)
        if named is not None:
            return named[0], dict(named[1])
        for pattern, cid, facts in self._fact_patterns:
            m = pattern.fullmatch(key)
            if m:
                carried: dict[str, Scalar | str] = dict(facts)
                carried.update({k: v for k, v in m.groupdict().items() if v is not None})
                return cid, carried
        return None

    @cached_property
    def city_lookup(self) -> dict[str, str]:
        table: dict[str, str] = {}
        for city in self.cities:
            for name in (city.name_zh, city.name_zh.rstrip("市"), city.pinyin):
                table[fold_name(name)] = city.name_zh
        return table

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "title": self.title,
            "title_zh": self.title_zh,
            "jurisdiction": self.jurisdiction,
            "valid_from": self.valid_from.isoformat(),
            "valid_to": self.valid_to.isoformat() if self.valid_to else None,
            "plan_period_end": self.plan_period_end.isoformat() if self.plan_period_end else None,
            "sha256": self.sha256,
            "categories": len(self.categories),
            "rules": len(self.rules),
        }


def _check_consistency(pack: RulePack, doc: YamlDocument) -> None:
    seen: dict[str, int] = {}
    for i, cat in enumerate(pack.categories):
        if cat.id in seen:
            raise doc.error(("categories", i, "id"), f"category {cat.id!r} is defined twice")
        seen[cat.id] = i
    spellings: dict[str, str] = {}
    for i, cat in enumerate(pack.categories):
        names = (cat.id, cat.name, cat.name_zh, *cat.aliases)
        names += tuple(a.name for a in cat.fact_aliases if a.name is not None)
        for name in {fold_name(n) for n in names}:
            other = spellings.setdefault(name, cat.id)
            if other != cat.id:
                raise doc.error(
                    ("categories", i), f"the name {name!r} is used by {other!r} and {cat.id!r}"
                )
    rule_ids: set[str] = set()
    for i, rule in enumerate(pack.rules):
        if rule.id in rule_ids:
            raise doc.error(("rules", i, "id"), f"rule id {rule.id!r} is used twice")
        rule_ids.add(rule.id)
        for j, cat_id in enumerate(rule.categories):
            if cat_id not in seen:
                raise doc.error(
                    ("rules", i, "categories", j),
                    f"unknown category {cat_id!r}; the pack defines: {', '.join(seen)}",
                )
        for fact, cond in rule.when.items():
            kind = CONDITION_FACTS[fact]
            values = [
                v for v in (cond.eq, *(cond.in_ or []), *(cond.not_in or [])) if v is not None
            ]
            for v in values:
                ok = {"text": isinstance(v, str), "bool": isinstance(v, bool)}.get(
                    kind, isinstance(v, int) and not isinstance(v, bool)
                )
                if not ok:
                    raise doc.error(("rules", i, "when", fact), f"{v!r} is not a {kind} value")


_LOADED: dict[Path, tuple[tuple[int, int], RulePack]] = {}


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_mtime_ns, st.st_size


def load_ruleset(ref: str | Path | None = None) -> RulePack:
    """Load a pack by bundled id (e.g. 'guangxi-2021-2025') or by file path. Loaded packs are
    kept, and reloaded when the file changes (a pack is not changed by checking with it)."""
    path = resolve_ruleset(ref).resolve()
    stamp = _stamp(path)
    hit = _LOADED.get(path)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    pack = _load(path)
    _LOADED[path] = (stamp, pack)
    return pack


def _load(path: Path) -> RulePack:
    doc = YamlDocument(path)
    pack: RulePack = doc.parse(RulePack)
    _check_consistency(pack, doc)
    pack._path = path
    pack._sha256 = sha256_file(path)
    return pack


DEFAULT_RULESET = "guangxi-2021-2025"


def bundled_pack_files() -> dict[str, Path]:
    """Bundled packs by id: `rules/<jurisdiction>/*.yaml` whose kind is rulepack (one folder
    per jurisdiction, with its test cases and its `mappings/`; docs/rules.md)."""
    files = sorted(rules_dir().glob("*/*.yaml"))
    return dict(_scan_packs(tuple((p, *_stamp(p)) for p in files)))


@cache
def _scan_packs(files: tuple[tuple[Path, int, int], ...]) -> tuple[tuple[str, Path], ...]:
    import yaml

    found: dict[str, Path] = {}
    for path, *_ in files:
        if path.name.endswith(".tests.yaml"):
            continue
        try:
            head = yaml.load(path.read_text(encoding="utf-8"), Loader=LOADER)
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(head, dict) and head.get("kind") == "rulepack" and "id" in head:
            found[str(head["id"])] = path
    return tuple(found.items())


def resolve_ruleset(ref: str | Path | None) -> Path:
    if ref is None:
        ref = DEFAULT_RULESET
    candidate = Path(ref)
    if candidate.suffix in {".yaml", ".yml"} or candidate.exists():
        if not candidate.is_file():
            raise RulePackError(f"{candidate}: rule pack file not found")
        return candidate
    packs = bundled_pack_files()
    if str(ref) not in packs:
        raise RulePackError(
            f"unknown ruleset {ref!r}; bundled: {', '.join(packs) or 'none'} "
            "(or give the path of a .yaml pack)"
        )
    return packs[str(ref)]


def list_rulesets() -> list[RulePack]:
    return [load_ruleset(path) for path in bundled_pack_files().values()]


def mappings_dir_for(pack: RulePack) -> Path | None:
    """The pack's category mappings: the `mappings/` folder beside the pack file (its
    jurisdiction's folder), or None when there is none (a pack given as a path with no
    `mappings/` beside it, a pack built in memory): map layers are then classified from
    `category` attributes only. A pack never reads another jurisdiction's mappings."""
    if pack.path is None:
        return None
    folder = pack.path.parent / "mappings"
    return folder if folder.is_dir() else None


def cases_file_for(pack: RulePack) -> Path | None:
    """The YAML test cases beside a pack: `<pack file stem>.tests.yaml`."""
    if pack.path is None:
        return None
    candidate = pack.path.with_name(pack.path.stem + ".tests.yaml")
    return candidate if candidate.is_file() else None
