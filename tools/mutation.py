#!/usr/bin/env python3
"""Mutation testing of the decision code (issue 9), with mutmut 3. Not run in CI.

    pip install -e '.[test,mutation]'
    python tools/mutation.py                      # the modules of [tool.mutmut] only_mutate
    python tools/mutation.py siting/ratio.py      # only these files
    python tools/mutation.py --survivors          # also print the diff of every survivor

The working tree (tracked files and untracked ones git does not ignore, as they are now) is
copied to a scratch folder (default /tmp/siting-mutation/main, `../shared` linked beside it so
the plan-text test runs) and mutmut runs there: it writes `mutants/` and its caches in the copy,
never in the checkout, and the run sees one consistent snapshot while others edit the tree.
mutmut's settings (which files, which tests) are `[tool.mutmut]` in pyproject.toml. A file
listed in `[tool.mutmut.siting_tests_by_file]` (not a mutmut setting: mutmut ignores it) is
run in a mutmut run of its own, in a copy of its own (`main-<name>`), against the tests listed
there instead of `pytest_add_cli_args_test_selection` (the map-layer tests reach the record
code too, and would make every records.py mutant run them).

At the end it prints, per file, the mutants made, killed (a test failed; a timeout counts as
killed: the mutant made the code hang), survived, and the score killed / total, and the same
less the mutants docs/testing.md lists as equivalent (a change no input can observe). The
exit code is 0 when every file reaches --target (default 90 %) after equivalents, else 1.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "testing.md"


def copy_tree(dest: Path) -> None:
    """Tracked and untracked-but-not-ignored files of the checkout, as they are on disk."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for raw in listed:
        if not raw:
            continue
        rel = Path(raw.decode())
        src = REPO / rel
        if not src.is_file():  # deleted in the work tree, not yet committed
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
    shared = REPO.parent / "shared"
    if shared.is_dir():
        link = dest.parent / "shared"
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(shared)


def set_only_mutate(pyproject: Path, modules: list[str]) -> None:
    text = pyproject.read_text(encoding="utf-8")
    line = "only_mutate = " + json.dumps(modules)
    new, count = re.subn(r"(?m)^only_mutate = \[[^\]]*\]", line, text)
    if count != 1:
        sys.exit(f"{pyproject}: [tool.mutmut] has no one-line only_mutate = [...] to replace")
    pyproject.write_text(new, encoding="utf-8")


def set_test_selection(pyproject: Path, tests: list[str]) -> None:
    text = pyproject.read_text(encoding="utf-8")
    line = "pytest_add_cli_args_test_selection = " + json.dumps(tests)
    pattern = r"(?ms)^pytest_add_cli_args_test_selection = \[.*?\]"
    new, count = re.subn(pattern, lambda _: line, text)
    if count != 1:
        sys.exit(f"{pyproject}: [tool.mutmut] has no pytest_add_cli_args_test_selection to replace")
    pyproject.write_text(new, encoding="utf-8")


def mutmut_settings(pyproject: Path) -> dict:
    import tomllib

    return tomllib.loads(pyproject.read_text(encoding="utf-8"))["tool"]["mutmut"]


def configured_modules(pyproject: Path) -> list[str]:
    return mutmut_settings(pyproject)["only_mutate"]


def groups(modules: list[str], pyproject: Path) -> list[tuple[str, list[str], list[str] | None]]:
    """(copy folder name, modules, tests or None for the configured selection) per mutmut run:
    the files with tests of their own in [tool.mutmut.siting_tests_by_file] each in a run of
    their own, the rest together."""
    by_file = mutmut_settings(pyproject).get("siting_tests_by_file", {})
    shared = [m for m in modules if m not in by_file]
    out: list[tuple[str, list[str], list[str] | None]] = []
    if shared:
        out.append(("main", shared, None))
    for m in modules:
        if m in by_file:
            out.append((f"main-{Path(m).stem}", [m], list(by_file[m])))
    return out


# ----------------------------------------------------------------------------- equivalents


def equivalents() -> list[tuple[str, str, str]]:
    """(file, function, the mutated line) of each row of the table under '### Equivalent
    mutants' in docs/testing.md. A survivor whose diff adds that line in that function is
    counted as equivalent."""
    if not DOC.exists():
        return []
    rows = []
    in_table = False
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("### "):
            in_table = line.strip() == "### Equivalent mutants"
            continue
        if not in_table or not line.startswith("| `"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if len(cells) < 3:
            continue
        file, func, mutant = (c.strip("`").replace("\\|", "|") for c in cells[:3])
        rows.append((file, func, mutant))
    return rows


def _squash(code: str) -> str:
    return re.sub(r"\s+", "", code)


def diff_lines(diff: str) -> list[str]:
    return [
        line[1:].strip()
        for line in diff.splitlines()
        if line.startswith("+") and not line.startswith("+++")
    ]


def is_equivalent(file: str, func: str, diff: str, table, used: set[int] | None = None) -> bool:
    """Whether the survivor's diff adds a line the table lists for that function (the row's
    index goes into `used`)."""
    added = {_squash(a) for a in diff_lines(diff)}
    for k, (f, fn, m) in enumerate(table):
        if m.strip() and f == file and fn == func and _squash(m) in added:
            if used is not None:
                used.add(k)
            return True
    return False


# ----------------------------------------------------------------------------- report


def function_of(key: str) -> str:
    """'siting.records.x__parse_int__mutmut_3' -> '_parse_int';
    'siting.records.xǁSiteTableǁfact__mutmut_2' -> 'SiteTable.fact'."""
    mangled = key.rpartition(".")[2].partition("__mutmut_")[0]
    if "ǁ" in mangled:
        _, cls, meth = mangled.split("ǁ")[:3]
        return f"{cls}.{meth}"
    return mangled.removeprefix("x_")


def collect(copy: Path, modules: list[str]) -> dict[str, dict[str, int | None]]:
    out = {}
    for module in modules:
        meta = copy / "mutants" / (module + ".meta")
        if not meta.exists():
            out[module] = {}
            continue
        out[module] = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
    return out


def report(
    runs: list[tuple[Path, list[str]]], show: bool, target: float, seconds: float, workdir: Path
) -> int:
    """runs: (copy, modules) of each mutmut run."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant
    from mutmut.stats import status_by_exit_code

    table = equivalents()
    used: set[int] = set()
    survivors_file = workdir / "survivors.txt"
    lines_out: list[str] = []
    ok = True
    head = (
        f"{'file':32} {'mutants':>7} {'killed':>7} {'survived':>8} {'other':>5}  score   after eq."
    )
    print(head)
    results = []
    for copy, modules in runs:
        results += [(copy, module, codes) for module, codes in collect(copy, modules).items()]
    for copy, module, codes in results:
        os.chdir(copy)  # mutmut reads the mutants of the run from mutants/ here
        counts = Counter()
        eq = 0
        for key, code in sorted(codes.items(), key=lambda kv: _natural(kv[0])):
            status = status_by_exit_code[code]
            kind = "killed" if status in ("killed", "timeout") else status
            if kind != "killed":
                diff = get_diff_for_mutant(key, path=module)
                if kind == "survived" and is_equivalent(
                    module, function_of(key), diff, table, used
                ):
                    eq += 1
                    kind = "equivalent"
                if show or kind != "equivalent":
                    lines_out.append(f"# {key}: {kind}\n{diff}\n")
            counts[kind] += 1
        total = sum(counts.values())
        killed = counts["killed"]
        other = total - killed - counts["survived"] - counts["equivalent"]
        score = killed / total if total else 0.0
        adjusted = killed / (total - eq) if total - eq else 0.0
        ok &= adjusted >= target
        print(
            f"{module:32} {total:7} {killed:7} {counts['survived'] + eq:8} {other:5}"
            f"  {score:6.1%}  {adjusted:6.1%} ({eq} equivalent)"
        )
    survivors_file.write_text("\n".join(lines_out), encoding="utf-8")
    reported = {module for _, module, codes in results if codes}
    stale = [row for k, row in enumerate(table) if row[0] in reported and k not in used]
    if stale:
        print(f"{len(stale)} row(s) of the equivalents table matched no survivor (stale?):")
        for file, func, mutant in stale:
            print(f"  {file} {func}: {mutant}")
    print(f"wall time {seconds / 60:.1f} min on {os.cpu_count()} cores")
    print(f"survivors (not listed as equivalent) and other unkilled mutants: {survivors_file}")
    if show:
        print("\n".join(lines_out))
    return 0 if ok else 1


def _natural(key: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", key)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("modules", nargs="*", help="files to mutate (default: [tool.mutmut])")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/siting-mutation"))
    ap.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--survivors", action="store_true", help="print every survivor's diff")
    ap.add_argument("--target", type=float, default=0.90)
    ap.add_argument("--report-only", action="store_true", help="report the last run again")
    args = ap.parse_args(argv)

    pyproject = REPO / "pyproject.toml"
    modules = args.modules or configured_modules(pyproject)
    started = time.monotonic()
    runs = []
    for name, group, tests in groups(modules, pyproject):
        copy = args.workdir / name
        runs.append((copy, group))
        if args.report_only:
            continue
        copy_tree(copy)
        if group != configured_modules(pyproject):
            set_only_mutate(copy / "pyproject.toml", group)
        if tests is not None:
            set_test_selection(copy / "pyproject.toml", tests)
        log = args.workdir / f"mutmut-{name}.log"
        print(f"mutmut run in {copy} (log: {log}) ...", flush=True)
        with log.open("w") as out:
            run = subprocess.run(
                [sys.executable, "-m", "mutmut", "run", "--max-children", str(args.max_children)],
                cwd=copy,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        if run.returncode != 0:
            print(log.read_text(errors="replace")[-3000:])
            sys.exit(f"mutmut run failed (exit {run.returncode})")
    seconds = time.monotonic() - started
    return report(runs, args.survivors, args.target, seconds, args.workdir)


if __name__ == "__main__":
    sys.exit(main())
