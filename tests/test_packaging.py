"""The wheel holds exactly what the checkout has: the library, the rule packs (as
siting/_rules) and the HTTP package under the name `siting_api` (its source stays in api/), so
no top-level `api` can collide with another project's (docs/architecture.md)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def tracked(*folders: str) -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout to list the tracked files")
    out = subprocess.run(
        ["git", "ls-files", *folders], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return out.stdout.split()


def installed_name(path: str) -> str:
    if path.startswith("api/"):
        return "siting_api/" + path.removeprefix("api/")
    if path.startswith("rules/"):
        return "siting/_rules/" + path.removeprefix("rules/")
    return path


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory) -> set[str]:
    """Build the wheel from a copy of the tracked files (so neither a stale build/ folder nor
    an untracked file of the checkout can reach it, and the checkout is left untouched)."""
    src = tmp_path_factory.mktemp("src")
    for rel in tracked("siting", "api", "rules", "pyproject.toml", "MANIFEST.in", "README.md"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, src / rel)
    out = tmp_path_factory.mktemp("wheel")
    # --no-build-isolation: setuptools and wheel come from the test extra, no download.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(src),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = out.glob("siting-*.whl")
    return {n for n in zipfile.ZipFile(wheel).namelist() if ".dist-info/" not in n}


def test_the_wheel_holds_every_tracked_file_and_nothing_else(wheel_names):
    expected = {installed_name(p) for p in tracked("siting", "api", "rules")}
    assert wheel_names - expected == set(), "files in the wheel that the checkout does not track"
    assert expected - wheel_names == set(), "tracked files the wheel leaves out"


def test_the_http_package_is_installed_as_siting_api_only(wheel_names):
    tops = {n.split("/")[0] for n in wheel_names}
    assert tops == {"siting", "siting_api"}
    assert "siting_api/commands.py" in wheel_names
    assert "siting/_rules/guangxi/guangxi-2021-2025.yaml" in wheel_names


def test_the_installed_http_package_imports_as_siting_api(tmp_path):
    """From outside the checkout (no api/ folder on the path) the HTTP package is
    `siting_api`, and a plain `import api` finds nothing of ours."""
    code = (
        "import importlib.util, siting_api.commands\n"
        "spec = importlib.util.find_spec('api')\n"
        "print(spec is None or 'siting' not in str(spec.origin))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "True"
