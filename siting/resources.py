"""Where the bundled data lives: `rules/` in a checkout, `siting/_rules` in an installed wheel."""

from __future__ import annotations

from functools import cache
from pathlib import Path


@cache
def rules_dir() -> Path:
    """The folder holding rule packs, aliases, mappings and the schema."""
    installed = Path(__file__).resolve().parent / "_rules"
    if installed.is_dir():
        return installed
    checkout = Path(__file__).resolve().parent.parent / "rules"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        f"no rules folder found (looked in {installed} and {checkout}); reinstall siting"
    )
