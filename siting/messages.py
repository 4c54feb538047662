"""The message catalogue (`rules/shared/messages.yaml`): every fixed word siting writes for
people, in English and Chinese. Checked when it loads (a missing status, a Chinese template
header the alias table does not read as its field, a text rule that is not a valid regular
expression are refused with the file and the place).

`siting.labels` applies it to answers; `siting.statuses` takes its status labels from it."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from siting.resources import shared_dir
from siting.yamlfile import YamlDocument

Lang = Literal["en", "zh"]
LANGS: tuple[Lang, ...] = ("en", "zh")


class Words(BaseModel):
    """One message in both languages."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    en: str
    zh: str

    def __call__(self, lang: Lang, **values: Any) -> str:
        text = self.zh if lang == "zh" else self.en
        return text.format(**values) if values else text


class ColumnWords(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    en: str
    zh: str | None  # None: the column is left out of tables in this language


class FieldWords(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    zh: str
    en: str


class Template(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    sheet: Words
    lists_sheet: Words
    guide_sheet: Words
    name_header: str
    columns: list[str]
    lists: dict[str, list[str]]
    example: dict[str, str | int]
    guide_columns: dict[Lang, list[str]]
    guide_note: Words
    invalid_value: Words


class _MessageFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["messages"]
    statuses: dict[str, Words]
    fields: dict[str, FieldWords]
    columns: dict[str, ColumnWords]
    input_prefix: Words
    category_separator: Words
    counted_separator: Words
    terminal: dict[str, Words]
    summary: dict[str, Words]
    template: Template
    fields_command: dict[str, Words]
    texts_zh: list[tuple[str, str]]
    texts_zh_after: list[tuple[str, str]] = []


class Messages:
    """The loaded catalogue. `terminal`, `summary` and `fields_command` are dicts of Words:
    `messages.summary["sites"]("zh")`."""

    def __init__(self, data: _MessageFile, path: Path) -> None:
        self.path = path
        self.statuses = data.statuses
        self.fields = data.fields
        self.columns = data.columns
        self.input_prefix = data.input_prefix
        self.category_separator = data.category_separator
        self.counted_separator = data.counted_separator
        self.terminal = data.terminal
        self.summary = data.summary
        self.template = data.template
        self.fields_command = data.fields_command
        self.texts_zh = data.texts_zh
        self.texts_zh_after = data.texts_zh_after

    def status(self, status: str, lang: Lang) -> str:
        return self.statuses[status](lang)

    def column(self, name: str, lang: Lang) -> str | None:
        """A result column's name in `lang` (None: left out); unknown names unchanged."""
        words = self.columns.get(name)
        if words is None:
            return name
        return words.zh if lang == "zh" else words.en

    def field_label(self, name: str, lang: Lang) -> str:
        words = self.fields.get(name)
        return name if words is None or lang == "en" else words.zh


class _Lazy:
    """The YAML document with line numbers, read only when a problem is to be named."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def doc(self) -> YamlDocument:
        return YamlDocument(self.path)

    def error(self, loc: tuple[str | int, ...], reason: str) -> Exception:
        return self.doc.error(loc, reason)


def _quick_parse(path: Path) -> _MessageFile | None:
    """The catalogue by libyaml (C) when it parses and validates; None otherwise."""
    import yaml
    from pydantic import ValidationError

    try:
        text = path.read_text(encoding="utf-8")
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        return _MessageFile.model_validate(yaml.load(text, Loader=loader))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValidationError):
        return None


@cache
def load_messages(path: Path | None = None) -> Messages:
    from siting.errors import RulePackError
    from siting.fields import ALL_FIELDS
    from siting.statuses import ORDER

    path = path or shared_dir() / "messages.yaml"
    data = _quick_parse(path)
    doc = _Lazy(path)
    if data is None:  # not valid: the reader that names the line of each problem
        data = doc.doc.parse(_MessageFile)
    missing = [s for s in ORDER if s not in data.statuses]
    if missing or set(data.statuses) - set(ORDER):
        raise doc.error(("statuses",), f"one label per status word {list(ORDER)}")
    for name in data.fields:
        if name not in ALL_FIELDS:
            raise doc.error(("fields", name), f"not a site-record field; known: {ALL_FIELDS}")
    for section in ("texts_zh", "texts_zh_after"):
        for k, (pattern, _) in enumerate(getattr(data, section)):
            try:
                re.compile(pattern, re.ASCII)
            except re.error as exc:
                raise doc.error((section, k), f"not a regular expression: {exc}") from None
    for k, name in enumerate(data.template.columns):
        if name != "name" and name not in data.fields:
            raise doc.error(("template", "columns", k), f"{name!r}: not a field of `fields:`")
    try:
        return Messages(data, path)
    except ValueError as exc:  # pragma: no cover - the model is validated above
        raise RulePackError(f"{doc.path}: {exc}") from exc


__all__ = ["LANGS", "Lang", "Messages", "Words", "load_messages"]
