"""A large site list checked in two parts at once, one on each core, into one CSV file.

Reading, normalising, evaluating and writing a million sites run mostly on one core (numpy,
pandas and Python; Arrow's kernels use more, and threads were measured to save only about a
quarter: docs/benchmarks.md). For a site list of at least PARTS_MIN_ROWS rows checked into a
CSV file, on a machine with two or more cores and `os.fork`, `siting check` instead:

1. reads the list once (siting.run.read_site_list);
2. forks: the child checks the first rows (FIRST_SHARE of them) and writes the header and
   their rows into a file beside the output, under a temporary name; the parent makes sure
   no id occurs twice in the whole list (a repeated id makes both rows invalid, naming the
   other row: a part cannot see that, so such a list is checked whole), then checks the
   other rows and holds their CSV text in memory;
3. when the child has sent its report, the parent appends its text to the file, renames
   it to the output's name, and adds up the two parts' summaries.

Every row of a list whose ids are distinct gets, in its part, exactly the answer it gets in
the whole list (normalise, evaluate and the result table work row by row; what the whole
adds up - the counts per status and the total shortfall - is added up here), so the file
is byte for byte the one-process file: tests/test_parts.py compares them on awkward lists,
in both languages. Only lists whose columns are all text (CSV files) are split: the CSV
writer writes a spreadsheet's column of numbers unquoted and a column of numbers and words
as quoted text, so two parts of such a column could be written two ways.

If the child fails (an exception, a signal, the system's out-of-memory killer) the parent
checks its rows itself and rewrites the file from the start, with a warning saying so. If
the parent is interrupted (Ctrl-C, SIGTERM) it stops the child and removes the partial
file; if it is killed outright, the child dies with it (Linux) and the output keeps what
it held before the run. No row is lost, and no partial file takes the output's name.

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
from siting.run import SiteList, check_site_list, engine_of, is_map_job, read_site_list

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

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
    is not a site list checked in memory (a map check, or a list `--engine dask|auto` sends
    to Dask): the caller runs it as any other."""
    from siting.formats import write_answer

    opts = request.options
    if is_map_job(request.input, list(request.contexts), ".csv"):
        return None
    if engine_of(request, ".csv") != "memory":  # --engine dask|auto on a GeoParquet list
        return None
    step = progress or (lambda stage, fraction: None)
    site_list = read_site_list(
        request.input,
        sheet=opts.sheet,
        header_row=opts.header_row,
        name=request.name,
        max_records=request.max_records,
        options=opts.layer_options(),
        progress=step,
    )
    if site_list.rows >= PARTS_MIN_ROWS and usable() and all_text(site_list):
        step("checking in 2 parts", 0.4)
        outcome = write_in_parts(site_list, pack, opts.as_of, out, output)
        if outcome is not None:
            return outcome
    step("checking", 0.4)
    answer = check_site_list(site_list, pack, opts.as_of)
    step(f"writing {out.name}", 0.9)
    write_answer(answer, out, output)
    return answer


def all_text(site_list: SiteList) -> bool:
    """Whether every column of the list is text (as a CSV file's are). The CSV writer
    writes a column of numbers unquoted and one of mixed values as quoted text: a
    spreadsheet's or JSON list's column of numbers in one part and words in the other would
    be written two ways, so such lists are checked whole."""
    from siting.textcols import TEXT

    raw = site_list.raw
    frames = [raw.frame] if raw.keep is None else [raw.frame, raw.keep]
    return all(dtype == TEXT for frame in frames for dtype in frame.dtypes)


def write_in_parts(
    site_list: SiteList,
    pack: RulePack,
    as_of: Any,
    out: Path,
    output: Output,
    share: float = FIRST_SHARE,
) -> Outcome | None:
    """Check `site_list` in two processes into the CSV file `out` (see the module's text);
    None, with nothing written, when its ids repeat (the caller checks it whole). The file
    is made under a temporary name beside `out` and renamed to it once whole: a run that
    is stopped leaves `out` as it was."""
    n = site_list.rows
    split = max(1, min(n - 1, int(n * share)))
    target = out.resolve() if out.is_symlink() else out
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out}: cannot write: {exc.strerror or exc}") from None
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    read_end, write_end = os.pipe()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # nothing buffered is written twice
    with warnings.catch_warnings():
        # Python 3.12+ warns of a fork while threads run: the child only computes and ends
        # with os._exit (see the module's text)
        warnings.simplefilter("ignore", DeprecationWarning)
        parent = os.getpid()
        pid = os.fork()
    if pid == 0:  # the child: the first rows, straight into the file
        os.close(read_end)
        _child(site_list, pack, as_of, (0, split), partial, output, write_end, parent)
    child = _Child(pid)
    os.close(write_end)
    done = False
    try:
        with _terminate_as_exit():
            outcome = _parent(site_list, pack, as_of, (split, n), partial, output, read_end, child)
            if outcome is not None:
                os.replace(partial, target)
                done = True
    except OSError as exc:
        raise InputError(f"{out}: cannot write: {exc.strerror or exc}") from None
    finally:
        child.stop()  # ended already, or stopped now
        os.close(read_end)
        if not done:
            with contextlib.suppress(OSError):
                partial.unlink()
    return outcome


def _parent(
    site_list: SiteList,
    pack: RulePack,
    as_of: Any,
    rows: tuple[int, int],
    partial: Path,
    output: Output,
    read_end: int,
    child: _Child,
) -> Outcome | None:
    """The parent's share of `write_in_parts`: the ids, the last rows, and the file put
    together once the child has sent its report (or its rows checked here if it failed)."""
    if ids_repeat(site_list.raw.frame, site_list.field_map):
        return None  # the child is stopped; the caller checks the list whole
    second = check_site_list(site_list, pack, as_of, rows, ids_distinct=True)
    held = _Held()
    _write(second, output, held, header=False)
    report = _report(read_end, rows[0])
    warnings_out = list(second.warnings)
    summaries = [second.summary]
    if report is None:  # the child failed: its rows are checked here, the file rewritten
        child.stop()
        first = check_site_list(site_list, pack, as_of, (0, rows[0]), ids_distinct=True)
        with partial.open("wb") as sink:
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
    with partial.open("ab") as sink:
        for piece in held.pieces:
            sink.write(piece)
    return Outcome(add_summaries(summaries), second.columns, warnings_out)


@contextlib.contextmanager
def _terminate_as_exit() -> Iterator[None]:
    """SIGTERM (a `timeout`, a service stopped) ends the parent as SystemExit instead of at
    once, so that the child is stopped and the partial file removed (SIGINT is
    KeyboardInterrupt already; SIGKILL cannot be caught: the child then dies with the
    parent, and only the partial file, under its own name, is left)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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
    parent: int,
) -> NoReturn:
    """The forked child: check `rows`, write the file's header and their rows, send the
    summary and warnings down the pipe, and end the process (never returns). It dies with
    the parent, however the parent ends."""
    code = 1
    try:
        _die_with_parent(parent)
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


def _die_with_parent(parent: int) -> None:
    """Linux: SIGKILL to this process when its parent ends (prctl PR_SET_PDEATHSIG), and
    an end now if the parent has ended already. Elsewhere the parent's SIGINT and SIGTERM
    handling stops the child."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:
        os._exit(1)


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
