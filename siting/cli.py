"""The `siting` command: check site lists and map layers, inspect and test rule packs, serve."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from rich.console import Console

from siting import __version__
from siting.errors import SitingError

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from siting.check import BatchAnswer
    from siting.parts import Outcome
    from siting.request import CheckOptions
    from siting.ruleset import RulePack


def _output_names() -> str:
    from siting.formats import output_names

    return output_names()


def _parser() -> argparse.ArgumentParser:
    from siting.request import add_arguments

    p = argparse.ArgumentParser(
        prog="siting",
        description=(
            "Check parking sites against EV charging space rules (default pack: guangxi-2021-2025)."
        ),
    )
    p.add_argument("--version", action="version", version=f"siting {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser(
        "check", help="check a site list (.csv .xlsx .xls .ods .json) or a map layer"
    )
    c.add_argument("input", help="site list, or parking layer (.gpkg .shp .zip .geojson .csv)")
    c.add_argument(
        "--context",
        action="append",
        default=[],
        metavar="FILE",
        help="context layer giving categories (repeatable); FILE or FILE:layer",
    )
    c.add_argument(
        "-o",
        "--output",
        default=None,
        metavar="OUT",
        help="write results; the format by the extension (siting formats): " + _output_names(),
    )
    add_arguments(c)  # every option of a check, declared once in siting/request.py
    c.add_argument("--limit", type=int, default=100, help="rows shown on the terminal")
    c.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="the terminal table with each site's rule, explanation and notes",
    )
    f = sub.add_parser("formats", help="the file formats read and written (siting.formats)")
    f.add_argument("--json", action="store_true", help="as JSON")
    f.set_defaults(run=_formats)
    # the Excel template and the headers it accepts (siting/template.py)
    t = sub.add_parser("template", help="write the Excel template of a site list (Chinese)")
    t.add_argument("-o", "--output", default="模板.xlsx", metavar="OUT", help="default 模板.xlsx")
    t.add_argument("--ruleset", default=None, metavar="ID|PATH", help="its category names")
    t.set_defaults(run=_template)
    fl = sub.add_parser("fields", help="every accepted header and value form (aliases.yaml)")
    fl.add_argument("--ruleset", default=None, metavar="ID|PATH", help="its category names")
    fl.add_argument("--lang", choices=["en", "zh"], default="zh", help="labels (default zh)")
    fl.set_defaults(run=_fields)

    r = sub.add_parser("rules", help="list, show, validate and test rule packs")
    rs = r.add_subparsers(dest="rules_command", required=True)
    rs.add_parser("list", help="the bundled rule packs")
    sh = rs.add_parser("show", help="a pack's categories and rules")
    sh.add_argument("ruleset", nargs="?", default=None, metavar="ID|PATH")
    va = rs.add_parser(
        "validate", help="check pack files against the schema, and the mappings beside them"
    )
    va.add_argument("paths", nargs="*", metavar="PATH", help="pack files (default: all bundled)")
    te = rs.add_parser("test", help="run a pack's YAML test cases")
    te.add_argument("rulesets", nargs="*", metavar="ID|PATH", help="default: all bundled packs")
    rs.add_parser("schema", help="print the JSON Schema of a rule pack")

    for register in _command_plugins():  # e.g. `serve` and `jobs`, from the HTTP package
        register(sub)
    return p


PLUGIN_GROUP = "siting.commands"


@cache
def _command_plugins() -> list[Callable[[Any], Any]]:
    """Commands other packages add to `siting` (entry points of group `siting.commands`: a
    function that adds its subparsers and sets `run` on them). The HTTP package adds `serve`
    and `jobs` this way, so the library never imports it; without it they are absent.
    Looked up once per process (scanning the installed packages took 0.08 s a call)."""
    from importlib.metadata import entry_points

    out: list[Callable[[Any], Any]] = []
    for ep in sorted(entry_points(group=PLUGIN_GROUP), key=lambda ep: ep.name):
        try:
            out.append(ep.load())
        except ImportError as exc:  # a plugin whose package is broken: say so, go on
            print(f"warning: siting command plugin {ep.name}: {exc}", file=sys.stderr)
    return out


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "check":
            from siting.memory import large_arrays

            with large_arrays():  # Arrow's allocator for large arrays (siting/memory.py)
                return _check(args)
        if args.command == "rules":
            return _rules(args)
        if hasattr(args, "run"):  # a command from a plugin
            return int(args.run(args))
    except SitingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


def _check(args: argparse.Namespace) -> int:
    from siting.formats import Output, output_format, write_answer
    from siting.request import CheckRequest, options_from_args
    from siting.ruleset import load_ruleset
    from siting.run import run_check

    options = options_from_args(args)
    out = Path(args.output) if args.output else None
    fmt = output_format(out) if out is not None else None  # refused before the run
    if options.basemap is not None:
        from siting.report_html import check_basemap

        check_basemap(options.basemap)
    request = CheckRequest(
        input=args.input,
        contexts=args.context,
        options=options,
        format=fmt.id if fmt is not None else None,
    )
    pack = load_ruleset(options.ruleset)
    console = _console()
    if options.engine != "memory":  # --engine dask|auto (siting/scale): run, write, print
        from siting.scale.cli import check_partitioned_cli

        if check_partitioned_cli(request, args, pack, out, console):
            return 0
    # the share of the bar the output takes: a workbook for people is a long write
    w = 0.5 if fmt is not None and fmt.id == "xlsx" else 0.1
    with _progress(args.input) as step:
        if out is not None and fmt is not None and fmt.id == "csv":  # a large list: in parts
            from siting.parts import check_list_to_csv

            outcome = check_list_to_csv(request, pack, out, Output(options=options), step)
            if outcome is not None:
                _print_outcome(outcome, console, out, args, options)
                return 0
        answer, geometry = run_check(
            request, pack, progress=lambda stage, f: step(stage, (1 - w) * f)
        )
        if out is not None:
            step(f"writing {out.name}", 1 - w)
            written = Output(
                geometry,
                tuple(request.contexts),
                options,
                progress=lambda f: step(f"writing {out.name}", 1 - w + w * f),
            )
            write_answer(answer, out, written)
    _print_outcome(answer, console, out, args, options)
    return 0


def _print_outcome(
    answer: BatchAnswer | Outcome,
    console: Console,
    out: Path | None,
    args: argparse.Namespace,
    options: CheckOptions,
) -> None:
    from siting.report import print_outcome

    print_outcome(answer, console, out, limit=args.limit, lang=options.lang, verbose=args.verbose)


def _template(args: argparse.Namespace) -> int:
    """`siting template`: the Excel template (siting/template.py)."""
    from siting.ruleset import load_ruleset
    from siting.template import write_template

    out = Path(args.output)
    write_template(out, load_ruleset(args.ruleset))
    print(f"wrote {out}")
    return 0


def _fields(args: argparse.Namespace) -> int:
    """`siting fields`: every header and value form the alias table accepts."""
    from siting.report import print_fields
    from siting.ruleset import load_ruleset

    print_fields(load_ruleset(args.ruleset), _console(), args.lang)
    return 0


def _formats(args: argparse.Namespace) -> int:
    """`siting formats`: every format of the registry, what it is read as and written from."""
    from rich.table import Table

    from siting.formats import FORMATS

    if args.json:
        import json

        print(json.dumps([f.as_dict() for f in FORMATS.values()], indent=1, ensure_ascii=False))
        return 0
    table = Table("format", "extensions", "read as", "written", "title")
    for f in FORMATS.values():
        written = ""
        if f.writes:
            written = " ".join(f.written_as) + (" (map input)" if f.geometry == "required" else "")
        table.add_row(
            f.id,
            " ".join(f.extensions),
            {"table": "site list", "layer": "map layer"}.get(f.reads or "", "-"),
            written or "-",
            f.title,
        )
    _console().print(table)
    return 0


class _progress:
    """A progress bar on stderr for large inputs, when stderr is a terminal."""

    LARGE = 2_000_000  # bytes of input

    def __init__(self, input_path: str):
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = Console(stderr=True)
        path = Path(input_path)
        large = path.is_file() and path.stat().st_size >= self.LARGE
        self.bar: Progress | None = None
        self.task: TaskID | None = None
        if large and self.console.is_terminal:
            self.bar = Progress(
                TextColumn("{task.description:<28}"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            self.task = self.bar.add_task("starting", total=1.0)

    def __enter__(self) -> Callable[[str, float], None]:
        if self.bar is not None:
            self.bar.__enter__()
        return self.step

    def step(self, stage: str, fraction: float) -> None:
        if self.bar is not None and self.task is not None:
            self.bar.update(self.task, description=stage, completed=fraction)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.bar is not None and self.task is not None:
            self.bar.update(self.task, completed=1.0)
            self.bar.__exit__(exc_type, exc, tb)


def _console() -> Console:
    """The terminal's width on a terminal; wide when piped, so ids are not folded."""
    console = Console()
    return console if console.is_terminal else Console(width=200)


def _rules(args: argparse.Namespace) -> int:
    from siting.ruleset import RulePack, bundled_pack_files, list_rulesets, load_ruleset

    console = _console()
    cmd = args.rules_command
    if cmd == "list":
        for pack in list_rulesets():
            print(
                f"{pack.id}\t{pack.version}\t{len(pack.rules)} rules\tvalid from "
                f"{pack.valid_from}\t{pack.jurisdiction}\t{pack.path}"
            )
        return 0
    if cmd == "show":
        _show_pack(load_ruleset(args.ruleset), console)
        return 0
    if cmd == "schema":
        import json

        print(json.dumps(RulePack.model_json_schema(by_alias=True), indent=2, ensure_ascii=False))
        return 0
    if cmd == "validate":
        paths = args.paths or [str(p) for p in bundled_pack_files().values()]
        bad = 0
        for path in paths:
            try:
                pack = load_ruleset(Path(path))
                from siting.geo.mappings import pack_mappings  # its jurisdiction's mappings

                mappings = pack_mappings(pack)
                print(
                    f"ok  {path}: {pack.id} {pack.version}, {len(pack.rules)} rules, "
                    f"{len(mappings)} mappings"
                )
            except SitingError as exc:
                bad += 1
                print(f"BAD {exc}", file=sys.stderr)
        return 2 if bad else 0
    if cmd == "test":
        from siting.casebook import run_pack_tests

        refs = args.rulesets or list(bundled_pack_files())
        failed = total = 0
        for ref in refs:
            pack = load_ruleset(ref)
            outcomes = run_pack_tests(pack)
            if not outcomes:
                print(f"{pack.id}: no test cases found beside {pack.path}", file=sys.stderr)
                failed += 1
                continue
            failing = [o for o in outcomes if not o.ok]
            total += len(outcomes)
            failed += len(failing)
            print(f"{pack.id}: {len(outcomes) - len(failing)}/{len(outcomes)} cases pass")
            for o in failing:
                print(f"  FAIL {o.name}")
                for p in o.problems:
                    print(f"       {p}")
        print(f"{total - failed} passed, {failed} failed")
        return 1 if failed else 0
    return 2


def _show_pack(pack: RulePack, console: Console) -> None:
    from rich.table import Table

    console.print(f"[bold]{pack.id}[/] {pack.version}: {pack.title}")
    if pack.title_zh:
        console.print(pack.title_zh)
    console.print(
        f"source: {pack.source.title}; valid from {pack.valid_from}"
        + (f"; plan period ends {pack.plan_period_end}" if pack.plan_period_end else "")
        + f"; rounding {pack.rounding}"
    )
    cats = Table("category", "名称", "name", title="categories")
    for c in pack.categories:
        cats.add_row(c.id, c.name_zh, c.name)
    console.print(cats)
    from siting.check import ratio_text

    rules = Table(
        "rule", "categories", "when", "requirement", "counts", "strength", "section", title="rules"
    )
    for r in pack.rules:
        when = "; ".join(f"{k} {c.describe()}" for k, c in r.when.items())
        req = ratio_text(r.ratio) or "-"
        if r.table:
            req = "table: " + ", ".join(
                ("<=" + str(row.up_to) if row.up_to is not None else "more")
                + ": "
                + (
                    str(row.required)
                    if row.required is not None
                    else ratio_text(row.ratio) or "-"  # a row has one or the other
                )
                for row in r.table
            )
        rules.add_row(
            r.id,
            ", ".join(r.categories),
            when,
            req,
            "+".join(r.counts),
            r.strength,
            r.citation.section,
        )
    console.print(rules)


if __name__ == "__main__":
    raise SystemExit(main())
