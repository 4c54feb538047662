"""The rule packs a server offers: the bundled ones and the operator's (`siting serve --rules
DIR`), known by id from start-up on. A request names a pack by id only; no path a request
gives is ever opened."""

from __future__ import annotations

import re
import time
from pathlib import Path

import yaml

from siting.errors import RulePackError
from siting.ruleset import RulePack, bundled_pack_files, load_ruleset

_ABSOLUTE = re.compile(r"(?<![\w.~-])(?:[A-Za-z]:)?[/\\](?:[^\s/\\:'\",;()<>]+[/\\])+")


def strip_paths(text: str) -> str:
    """Absolute paths in a message cut to their file name (`/srv/x/rules/a.yaml:3` ->
    `a.yaml:3`): an answer never shows where the server keeps its files."""
    return _ABSOLUTE.sub("", text)


def operator_pack_files(folder: Path) -> dict[str, Path]:
    """Every rule pack (`kind: rulepack`, or no kind) among `folder/*.yaml` and, laid out as
    the bundled `rules/` (one folder per jurisdiction), `folder/*/*.yaml`, by id, each loaded
    and validated now: a broken pack raises RulePackError naming file:line. Test-case
    (*.tests.yaml), alias and mapping files beside the packs are skipped. A pack's map
    mappings are the `mappings/` folder beside it (docs/rules.md)."""
    folder = Path(folder).expanduser().resolve()
    if not folder.is_dir():
        raise RulePackError(f"{folder}: rules folder not found")
    found: dict[str, Path] = {}
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*/*.yaml")]):
        if path.name.endswith(".tests.yaml"):
            continue
        try:
            head = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise RulePackError(f"{path}: not a readable YAML file: {exc}") from None
        if isinstance(head, dict) and head.get("kind", "rulepack") != "rulepack":
            continue
        pack = load_ruleset(path)
        if pack.id in found:
            raise RulePackError(f"{path}: pack id {pack.id!r} is also in {found[pack.id]}")
        found[pack.id] = path
    return found


RECHECK_SECONDS = 1.0


class Rulesets:
    """Pack ids -> files, fixed at start-up (a pack edited later is reloaded on its next use;
    a new file needs a restart)."""

    def __init__(self, rules_dir: Path | None = None, default: str | None = None):
        self.paths: dict[str, Path] = {
            k: Path(v).resolve() for k, v in bundled_pack_files().items()
        }
        if rules_dir is not None:
            for pack_id, path in operator_pack_files(rules_dir).items():
                if pack_id in self.paths:
                    raise RulePackError(
                        f"{path}: pack id {pack_id!r} is already a bundled pack; give it another id"
                    )
                self.paths[pack_id] = path
        for path in self.paths.values():
            load_ruleset(path)  # every pack valid at start, or no start
        if default is not None and default not in self.paths:
            raise RulePackError(
                f"default ruleset {default!r} (SITING_DEFAULT_RULESET) is not among the "
                f"packs: {', '.join(self.paths)}"
            )
        self.default = default
        self._recent: dict[Path, tuple[float, RulePack]] = {}

    def ids(self) -> list[str]:
        return list(self.paths)

    def unknown(self, ref: str) -> str:
        return f"unknown ruleset {ref!r}; available: {', '.join(self.paths)}"

    def path(self, ref: str | None) -> Path | None:
        """The file of pack `ref` (the default for None); None when there is no such id."""
        return self.paths.get(ref if ref is not None else self.default)

    def load(self, path: Path) -> RulePack:
        """The pack in `path`; its file is looked at again (and the pack reloaded if edited)
        at most once per RECHECK_SECONDS, not on every request."""
        now = time.monotonic()
        hit = self._recent.get(path)
        if hit is not None and now - hit[0] < RECHECK_SECONDS:
            return hit[1]
        pack = load_ruleset(path)
        self._recent[path] = (now, pack)
        return pack
