"""A large site list checked in two parts at once, one on each core, into one CSV file.

Reading, normalising, evaluating and writing a million sites run mostly on one core (numpy,
pandas and Python; Arrow's kernels use more, and threads were measured to save only about a
quarter: docs/benchmarks.md). For a site list of at least PARTS_MIN_ROWS rows checked into a
CSV file, on a machine with two or more cores and `os.fork`, `siting check` instead:

1. reads the list once (siting.run.read_site_list);
2. forks: the child checks the first rows (FIRST_SHARE of them) and writes the header and
   their rows into the output file; the parent makes sure no id occurs twice in the whole
   list (a repeated id makes both rows invalid, naming the other row: a part cannot see
   that, so such a list is checked whole), then checks the other rows and holds their CSV
   text in memory;
3. when the child has finished, the parent appends its text to the file, and the two
   parts' summaries are added up.

Every row of a list whose ids are distinct gets, in its part, exactly the answer it gets in
the whole list (normalise, evaluate and the result table work row by row; what the whole
adds up - the counts per status and the total shortfall - is added up here), so the file
is byte for byte the one-process file: tests/test_parts.py compares them on awkward lists,
in both languages.

If the child fails (an exception, a signal, the system's out-of-memory killer) the parent
checks its rows itself and rewrites the file from the start, with a warning saying so; if
the parent is interrupted, the child is stopped. No row is lost either way.

The child is a fork of a process that has threads (Arrow's and jemalloc's pools, a progress
bar's refresh): it only computes with numpy, pandas and Arrow, which reset their pools after
a fork, writes its file and ends with os._exit, never returning into the caller's code.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from siting.errors import InputError
from siting.records import ids_repeat
from siting.run import SiteList, check_site_list, is_map_job, read_site_list

if TYPE_CHECKING:
    from collections.abc import Callable

    from siting.check import BatchAnswer
    from siting.columns import ColumnReport
    from siting.formats import Output
    from siting.request import CheckRequest
    from siting.ruleset import RulePack

PARTS_MIN_ROWS = 200_000  # below this, a second process costs more than it saves
# The child's share of the rows: the parent also checks the ids and appends its text.
FIRST_SHARE = 0.54


@dataclass(frozen=True)
class Outcome:
    """What a check written in parts tells its caller (the CLI prints it as it prints a
    BatchAnswer's): the whole list's summary, its column report and the run's warnings."""

    summary: dict[str, Any]
    columns: ColumnReport | None
    warnings: list[str] = field(default_factory=list)


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def usable() -> bool:
    """Whether this machine can check in parts: os.fork and two cores or more."""
    return hasattr(os, "fork") and cores() >= 2


def check_list_to_csv(
    request: CheckRequest,
    pack: RulePack,
    out: Path,
    output: Output,
    progress: Callable[[str, float], None] | None = None,
) -> BatchAnswer | Outcome | None:
    """`siting check LIST -o OUT.csv`, in parts when the list is large (see the module's
    text): the answer (or, in parts, the Outcome) once OUT is written. None when the request
    is not a site list checked in memory (a map check, or `--engine dask|auto`): the caller
    runs it as any other."""
    from siting.formats import write_answer

    opts = request.options
    if opts.engine != "memory" or is_map_job(request.input, list(request.contexts), ".csv"):
        return None
    step = progress or (lambda stage, fraction: None)
    options = opts.layer_options()
    site_list = read_site_list(
        request.input,
        sheet=opts.sheet,
        header_row=opts.header_row,
        field_map=options.field_map or None,
        name=request.name,
        max_records=request.max_records,
        options=_option_values(options, opts.sheet, opts.header_row),
        progress=step,
    )
    if site_list.rows >= PARTS_MIN_ROWS and usable():
        step("checking in 2 parts", 0.4)
        outcome = write_in_parts(site_list, pack, opts.as_of, out, output)
        if outcome is not None:
            return outcome
    step("checking", 0.4)
    answer = check_site_list(site_list, pack, opts.as_of)
    step(f"writing {out.name}", 0.9)
    write_answer(answer, out, output)
    return answer


def _option_values(options: Any, sheet: str | None, header_row: int | None) -> dict[str, Any]:
    from siting.check import option_values

    return option_values(options, sheet=sheet, header_row=header_row)


def write_in_parts(
    site_list: SiteList,
    pack: RulePack,
    as_of: Any,
    out: Path,
    output: Output,
    share: float = FIRST_SHARE,
) -> Outcome | None:
    """Check `site_list` in two processes into the CSV file `out` (see the module's text);
    None, with nothing written, when its ids repeat (the caller checks it whole)."""
    n = site_list.rows
    split = max(1, min(n - 1, int(n * share)))
    read_end, write_end = os.pipe()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # nothing buffered is written twice
    with warnings.catch_warnings():
        # Python 3.12+ warns of a fork while threads run: the child only computes and ends
        # with os._exit (see the module's text)
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: the first rows, straight into the file
        os.close(read_end)
        _child(site_list, pack, as_of, (0, split), out, output, write_end)
    child = _Child(pid)
    os.close(write_end)
    finished = False
    try:
        if ids_repeat(site_list.raw.frame, site_list.field_map):
            return None  # the child is stopped below; the caller checks the list whole
        second = check_site_list(site_list, pack, as_of, (split, n), ids_distinct=True)
        held = _Held()
        _write(second, output, held, header=False)
        report = _report(read_end, split)
        finished = True
    finally:
        if not finished:
            child.stop()
        os.close(read_end)
    warnings_out = list(second.warnings)
    summaries = [second.summary]
    try:
        if report is None:  # the child failed: its rows are checked here, the file rewritten
            child.stop()
            first = check_site_list(site_list, pack, as_of, (0, split), ids_distinct=True)
            with out.open("wb") as sink:
                _write(first, output, sink, header=True)
            summaries.append(first.summary)
            warnings_out.append(
                "the first part of the list, checked on a second core, failed; it was "
                "checked again here (nothing is missing from the output)"
            )
        else:
            summaries.append(report["summary"])
            for w in report["warnings"]:
                if w not in warnings_out:
                    warnings_out.append(w)
        with out.open("ab") as sink:
            for piece in held.pieces:
                sink.write(piece)
    except OSError as exc:
        raise InputError(f"{out}: cannot write: {exc.strerror or exc}") from None
    finally:
        child.stop()  # it has sent its report: it is ending, or has ended, of itself
    return Outcome(add_summaries(summaries), second.columns, warnings_out)


def add_summaries(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """The summary of a list from its parts' summaries (sites, count per status, total
    shortfall: all sums), keys in the order of the first."""
    first = summaries[0]
    return {
        "sites": sum(s["sites"] for s in summaries),
        "by_status": {k: sum(s["by_status"][k] for s in summaries) for k in first["by_status"]},
        "total_shortfall": sum(s["total_shortfall"] for s in summaries),
    }


def _write(answer: BatchAnswer, output: Output, sink: Any, header: bool) -> None:
    from siting.formats.csv import table
    from siting.io.writers import write_csv

    write_csv(table(answer, output), sink, header=header)


class _Held:
    """A sink that keeps what is written to it (Arrow's buffers, not copied) for later."""

    def __init__(self) -> None:
        self.pieces: list[bytes | memoryview] = []

    def write(self, data: bytes | memoryview) -> int:
        self.pieces.append(data)
        return len(data)


def _child(
    site_list: SiteList,
    pack: RulePack,
    as_of: Any,
    rows: tuple[int, int],
    out: Path,
    output: Output,
    report: int,
) -> NoReturn:
    """The forked child: check `rows`, write the file's header and their rows, send the
    summary and warnings down the pipe, and end the process (never returns)."""
    code = 1
    try:
        warnings.simplefilter("ignore")  # the parent says what is to be said
        # the ids are compared by the parent, over the whole list: if one repeats, this
        # process is stopped and the list checked whole
        answer = check_site_list(site_list, pack, as_of, rows, ids_distinct=True)
        with out.open("wb") as sink:
            _write(answer, output, sink, header=True)
        # one line (JSON escapes line breaks): the parent goes on once it has it, while
        # this process is still being taken down
        data = json.dumps({"summary": answer.summary, "warnings": answer.warnings}).encode()
        view = memoryview(data + b"\n")
        while view:
            view = view[os.write(report, view) :]
        code = 0
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _report(read_end: int, rows: int) -> dict[str, Any] | None:
    """The child's summary and warnings, a line it sends once its rows are in the file;
    None if it ended without sending it whole (it failed)."""
    chunks = []
    while chunk := os.read(read_end, 1 << 16):
        chunks.append(chunk)
        if chunk.endswith(b"\n"):
            break
    data = b"".join(chunks)
    if not data.endswith(b"\n"):
        return None
    try:
        report: dict[str, Any] = json.loads(data)
    except ValueError:
        return None
    if report.get("summary", {}).get("sites") != rows:
        return None
    return report


class _Child:
    """The forked child, stopped and reaped once (never signalled after: its pid may then
    be another process's)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.reaped = pid, False

    def stop(self) -> None:
        if self.reaped:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
        self.reaped = True
