"""Read YAML data files and report schema errors as `file:line: path.inside: reason`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from siting.errors import RulePackError

# A place inside a document: mapping keys and sequence indexes, from the top down.
Loc = tuple[str | int, ...]

_Model = TypeVar("_Model", bound=BaseModel)

# libyaml's parser when PyYAML has it (it does in the wheels on PyPI): rule packs, mappings and
# the message catalogue are read on every run, and the pure-Python parser took most of a
# second for them (more on a busy machine). Same documents, same line numbers.
LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _line_index(
    node: yaml.Node, prefix: Loc = (), out: dict[Loc, int] | None = None
) -> dict[Loc, int]:
    """Map every path inside the document to the 1-based line where its value starts."""
    out = {} if out is None else out
    out[prefix] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            out[(*prefix, key.value)] = key.start_mark.line + 1
            _line_index(value, (*prefix, key.value), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_index(item, (*prefix, i), out)
    return out


def format_path(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


class YamlDocument:
    """A parsed YAML file that remembers where each value came from."""

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RulePackError(f"{self.path}: cannot read: {exc}") from exc
        try:
            loader = LOADER(text)
            try:  # parsed once: the nodes (for line numbers), then the data from them
                node = loader.get_single_node()
                self.data: Any = None if node is None else loader.construct_document(node)
            finally:
                loader.dispose()
        except yaml.YAMLError as exc:
            raise RulePackError(f"{self.path}: not valid YAML: {exc}") from exc
        self.text = text
        self._lines = _line_index(node) if node is not None else {}

    def where(self, loc: Loc) -> str:
        """`file:line: path` for a location inside the document (nearest known parent line)."""
        loc = tuple(loc)
        for cut in range(len(loc), -1, -1):
            line = self._lines.get(loc[:cut])
            if line is not None:
                return f"{self.path}:{line}: {format_path(loc)}"
        return f"{self.path}: {format_path(loc)}"

    def error(self, loc: Loc, reason: str) -> RulePackError:
        return RulePackError(f"{self.where(loc)}: {reason}")

    def parse(self, model: type[_Model]) -> _Model:
        """Validate the document against a pydantic model; every problem is listed."""
        if not isinstance(self.data, dict):
            raise RulePackError(f"{self.path}: expected a mapping at the top level")
        try:
            return model.model_validate(self.data)
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                loc = tuple(p for p in err["loc"] if not _is_union_tag(p))
                problems.append(f"{self.where(loc)}: {err['msg']}")
            raise RulePackError(
                f"{self.path}: {len(problems)} problem(s)\n  " + "\n  ".join(problems)
            ) from None


def _is_union_tag(part: Any) -> bool:
    # pydantic inserts the member type name (e.g. 'str', 'list[...]') into union error locations
    return isinstance(part, str) and (
        part in {"str", "int", "float", "bool"} or "[" in part or part.startswith("function-")
    )
