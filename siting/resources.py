"""Where the bundled data lives: `rules/` in a checkout, `siting/_rules` in an installed wheel.

rules/<jurisdiction>/   its pack(s) `<id>.yaml`, their cases `<id>.tests.yaml`, and
                        `mappings/` (map tags, land-use codes, POI types -> its categories)
rules/shared/           tables no pack's categories appear in: the header and value alias
                        table (aliases.yaml), the area-per-space estimation (estimation.yaml),
                        the message catalogue of the outputs (messages.yaml, --lang zh|en)
rules/schema/           the published JSON Schema of a pack
"""

from __future__ import annotations

from functools import cache
from pathlib import Path


@cache
def rules_dir() -> Path:
    """The folder holding the jurisdiction folders, the shared tables and the schema."""
    installed = Path(__file__).resolve().parent / "_rules"
    if installed.is_dir():
        return installed
    checkout = Path(__file__).resolve().parent.parent / "rules"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        f"no rules folder found (looked in {installed} and {checkout}); reinstall siting"
    )


def shared_dir() -> Path:
    """Tables every jurisdiction uses: they name site-record fields, never a pack's categories."""
    return rules_dir() / "shared"
