import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def pack():
    from siting import load_ruleset

    return load_ruleset("guangxi-2021-2025")


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


def check_one(site: dict, pack, as_of="2024-06-30") -> dict:
    from siting import check_records

    return check_records([site], pack, as_of=as_of).results[0]
