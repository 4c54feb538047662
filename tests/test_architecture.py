"""The layers of docs/architecture.md hold: the library (siting/) knows nothing of HTTP, and
its CLI runs a check without loading the web stack."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = sorted((ROOT / "siting").rglob("*.py"))


def test_the_library_never_imports_the_http_package():
    imports = re.compile(r"^\s*(from\s+(api|siting_api)\b|import\s+(api|siting_api)\b)", re.M)
    web = re.compile(r"^\s*(from|import)\s+(fastapi|starlette|uvicorn|httpx)\b", re.M)
    for path in LIBRARY:
        text = path.read_text(encoding="utf-8")
        assert not imports.search(text), f"{path.relative_to(ROOT)} imports the HTTP package"
        assert not web.search(text), f"{path.relative_to(ROOT)} imports a web framework"


def test_the_library_speaks_of_error_kinds_not_http_statuses():
    status = re.compile(
        r"status_code|HTTPException|(HTTP|status)\W{0,3}[45]\d\d\b"
        r"|\b[45]\d\d\W{0,3}(Not Found|Unprocessable|Too Large|Unsupported|Bad Request)"
    )
    for path in LIBRARY:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            assert not status.search(line), f"{path.relative_to(ROOT)}:{n}: {line.strip()}"


def modules_after_a_check(tmp_path: Path, output: str, which: str) -> str:
    """`siting check` of the sample list to `output` in a fresh interpreter: its exit code
    and the loaded modules that `which` (an expression in m, a module name) picks."""
    code = (
        "import sys\n"
        "from siting.cli import main\n"
        f"rc = main(['check', {str(ROOT / 'sample_sites/sites.csv')!r}, '-o', "
        f"{str(tmp_path / output)!r}])\n"
        f"print(rc, sorted(m for m in sys.modules if {which}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True
    ).stdout
    return out.strip().splitlines()[-1]


def test_a_check_from_the_cli_loads_no_web_stack(tmp_path):
    web = (
        "m.split('.')[0] in ('fastapi', 'starlette', 'uvicorn') "
        "or m in ('api.app', 'siting_api.app')"
    )
    assert modules_after_a_check(tmp_path, "out.json", web) == "0 []"


def test_a_site_list_check_loads_no_map_libraries(tmp_path):
    """A list checked into CSV needs none of geopandas, pyproj or pyogrio (0.13 s to load):
    the map options it takes live apart from the map code (siting/geo/options.py)."""
    maps = (
        "m.split('.')[0] in ('geopandas', 'pyproj', 'pyogrio') "
        "or m.startswith('siting.geo.pipeline')"
    )
    assert modules_after_a_check(tmp_path, "out.csv", maps) == "0 []"


def test_serve_and_jobs_come_from_the_http_package_plugin():
    from importlib.metadata import entry_points

    names = {ep.value for ep in entry_points(group="siting.commands")}
    assert names == {"siting_api.commands:register"}
    help_text = subprocess.run(
        [sys.executable, "-m", "siting.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "serve" in help_text and "jobs" in help_text
