"""A large site list checked in two parts at once, one on each core, into one CSV file.

Reading, normalising, evaluating and writing a million sites run mostly on one core (numpy,
pandas and Python; Arrow's kernels use more, and threads were measured to save only about a
quarter: docs/benchmarks.md). For a site list of at least PARTS_MIN_ROWS rows checked into a
CSV file, on a machine with two or more cores and `os.fork`, `siting check` instead:

1. reads the list once (siting.run.read_site_list) and makes an empty file beside the
   output, under a name of its own (made with O_EXCL, never through a link) and with the
   output's mode; both processes open that file, whatever its name comes to point at;
2. forks: the child checks the first rows (FIRST_SHARE of them), works out from its result
   table how many bytes the header and its rows take in CSV (siting.io.writers.
   csv_rows_length), says so down a pipe, and writes them at the start of the file; the
   parent makes sure no id occurs twice in the whole list (a repeated id makes both rows
   invalid, naming the other row: a part cannot see that, so such a list is checked
   whole), checks the other rows and writes them into the file right after the child's
   bytes, at once, as the child writes its own (what it makes before the child has said
   its length is held until then). Each process counts on one core (siting.threads) and
   writes its region of the file direct to the disk where the system allows it
   (siting.io.direct: the page cache's fresh memory was the slowest part of the writing);
3. when the child has sent its report - its summary, its warnings and the bytes it wrote -
   the parent makes sure its rows start where the child's end (if the length worked out
   beforehand was not what was written, it writes its rows again where they belong, and
   the child's too if they ran into its own), cuts the file after its last row, puts it in
   the output's place in one step, and adds up the two parts' summaries.

Every row of a list whose ids are distinct gets, in its part, exactly the answer it gets in
the whole list (normalise, evaluate and the result table work row by row; what the whole
adds up - the counts per status and the total shortfall - is added up here), so the file
is byte for byte the one-process file: tests/test_parts.py compares them on awkward lists,
in both languages. Only lists whose columns are all text (CSV files) are split: the CSV
writer writes a spreadsheet's column of numbers unquoted and a column of numbers and words
as quoted text, so two parts of such a column could be written two ways. And only into
an output a new file can stand in for: one not there yet, or a regular file of this user's,
writable, with no other name (a hard-linked, read-only or another user's file, a FIFO or a
device is written into by the one-process check, as before).

If the child fails (an exception, a signal, the system's out-of-memory killer) the parent
checks its rows itself and writes them at the start of the file (and its own rows again
after them, if they do not end where its own begin), with a warning saying so. If
the parent is interrupted (Ctrl-C, SIGTERM, SIGHUP; also during the fork, where a handler's
exception would be swallowed: such a signal is acted on once the fork is done) it stops
the child and removes the partial file; if it is killed outright, the child dies with it
(Linux) and the output keeps what it held before the run. No row is lost, and no partial
file takes the output's name.

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

from siting import threads
from siting.errors import InputError
from siting.io.direct import PlainRegion, open_region
from siting.io.writers import csv_bytes_table, csv_header, csv_rows_length, write_csv_table
from siting.records import ids_repeat
from siting.run import SiteList, check_site_list, engine_of, is_map_job, read_site_list

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import pyarrow as pa

    from siting.check import BatchAnswer
    from siting.columns import ColumnReport
    from siting.formats import Output
    from siting.request import CheckRequest
    from siting.ruleset import RulePack

PARTS_MIN_ROWS = 200_000  # below this, a second process costs more than it saves
# The child's share of the rows (the parent also compares the ids: the two parts then end
# together, docs/benchmarks.md).
FIRST_SHARE = 0.5


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
    None, with nothing written, when its ids repeat or `out` is not a file a new one can
    stand in for (the caller checks it whole). The file is made under a temporary name
    beside `out` and put in its place once whole: a run that is stopped leaves `out` as
    it was."""
    n = site_list.rows
    split = max(1, min(n - 1, int(n * share)))
    target = out.resolve() if out.is_symlink() else out
    if not _replaceable(target):
        return None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out}: cannot write: {exc.strerror or exc}") from None
    # signals handled before the partial file exists: it is never left behind by them
    with _terminate_as_exit():
        return _in_parts(site_list, pack, as_of, (split, n), out, target, output)


def _in_parts(
    site_list: SiteList,
    pack: RulePack,
    as_of: Any,
    rows: tuple[int, int],
    out: Path,
    target: Path,
    output: Output,
) -> Outcome | None:
    split, n = rows
    made: Path | None = None
    child: _Child | None = None
    fds: list[int] = []
    done = False
    try:
        try:
            fd, made = _partial_file(target)
        except PermissionError:  # no new file beside it (the file itself is writable)
            return None
        fds.append(fd)
        # both processes open the file they were given, whatever its name comes to point at
        handle = Path(f"/proc/self/fd/{fd}")
        if not handle.exists():
            handle = made
        read_end, write_end = os.pipe()
        fds += [read_end, write_end]
        for stream in (sys.stdout, sys.stderr):
            stream.flush()  # nothing buffered is written twice
        parent = os.getpid()
        with warnings.catch_warnings(), _HeldSignals() as held:
            # Python 3.12+ warns of a fork while threads run: the child only computes and
            # ends with os._exit (see the module's text)
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
            if pid == 0:  # the child: the first rows, straight into the file
                held.restore()
                os.close(read_end)
                _child(site_list, pack, as_of, (0, split), handle, output, write_end, parent)
            child = _Child(pid)
        os.close(write_end)
        fds.remove(write_end)
        with threads.alone():  # the child has the other core
            outcome = _parent(site_list, pack, as_of, (split, n), handle, output, read_end, child)
        if outcome is not None:
            _put_in_place(made, target)
            done = True
        return outcome
    except OSError as exc:
        raise InputError(f"{out}: cannot write: {exc.strerror or exc}") from None
    finally:
        if child is not None:
            child.stop()  # ended already, or stopped now
        for fd in fds:
            os.close(fd)
        if made is not None and not done:
            with contextlib.suppress(OSError):
                made.unlink()


def _replaceable(target: Path) -> bool:
    """Whether a new file put in `target`'s place is, to anyone who looks, the file written
    into: it is not there yet, or it is a regular file of this user's, writable, with no
    other name (a hard link). Anything else - a FIFO, a device, a read-only file, another
    user's file - is written into by the one-process check, as before."""
    import stat

    try:
        st = target.lstat()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return (
        stat.S_ISREG(st.st_mode)
        and st.st_nlink == 1
        and st.st_uid == os.geteuid()
        and os.access(target, os.W_OK)
    )


def _partial_file(target: Path) -> tuple[int, Path]:
    """A new empty file beside `target` under a name no one else can have taken (made with
    O_EXCL, never through a link), with the mode `target` has or a new file would have."""
    import stat
    import tempfile

    fd, name = tempfile.mkstemp(prefix=".siting-", suffix=".partial", dir=target.parent)
    try:
        try:
            mode = stat.S_IMODE(target.stat().st_mode)
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.fchmod(fd, mode)
    except OSError:
        os.close(fd)
        Path(name).unlink()
        raise
    return fd, Path(name)


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
    """The parent's share of `write_in_parts`: the ids, the last rows, written right after
    the child's, and the file made whole once the child has sent its report (or its rows
    checked here if it failed)."""
    if ids_repeat(site_list.raw.frame, site_list.field_map):
        return None  # the child is stopped; the caller checks the list whole
    second = check_site_list(site_list, pack, as_of, rows, ids_distinct=True)
    table = _csv_table(second, output)
    pipe = _Pipe(read_end)
    warnings_out = list(second.warnings)
    summaries = [second.summary]
    with partial.open("r+b") as file:
        placed = _Placed(partial, pipe)
        try:
            write_csv_table(table, placed, header=False)
            placed.finish()
        except BaseException:
            placed.discard()
            raise
        report = pipe.report(rows[0])
        length = None if report is None else int(report["written"])
        if report is None:
            child.stop()
            warnings_out.append(
                "the first part of the list, checked on a second core, failed; it was "
                "checked again here (nothing is missing from the output)"
            )
        else:
            summaries.append(report["summary"])
            for w in report["warnings"]:
                if w not in warnings_out:
                    warnings_out.append(w)
        if length is None or (placed.start is not None and placed.start < length):
            # the child failed, or its bytes ran on into where these rows were written (its
            # length was worked out short): its rows are checked and written here
            first = check_site_list(site_list, pack, as_of, (0, rows[0]), ids_distinct=True)
            file.seek(0)
            write_csv_table(_csv_table(first, output), file, header=True)
            file.flush()
            length = file.tell()
            if report is None:
                summaries.append(first.summary)
        if not placed.place(length):  # written elsewhere: written again where they belong
            file.seek(length)
            write_csv_table(table, file, header=False)
            file.flush()
        os.ftruncate(file.fileno(), length + placed.size)
    return Outcome(add_summaries(summaries), second.columns, warnings_out)


@contextlib.contextmanager
def _terminate_as_exit() -> Iterator[None]:
    """SIGTERM (a `timeout`, a service stopped) and SIGHUP (the terminal closed) end the
    parent as SystemExit instead of at once, so that the child is stopped and the partial
    file removed (SIGINT is KeyboardInterrupt already; SIGKILL cannot be caught: the child
    then dies with the parent, and only the partial file, under its own name, is left). A
    signal this process ignores (nohup) or has its own handler for is left as it is."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = {}
    for signum in _ENDING:
        if signal.getsignal(signum) == signal.SIG_DFL:
            previous[signum] = signal.signal(signum, stop)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


_ENDING = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class _HeldSignals:
    """Signals that arrive during the fork are noted and acted on after it: a handler that
    raises while os.fork runs its at-fork callbacks (logging's locks) has its exception
    swallowed ("Exception ignored in ..."), and the run would go on as if not interrupted.
    The child puts the handlers back (`restore`) before its work."""

    def __init__(self) -> None:
        self.caught: list[int] = []
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> _HeldSignals:
        import threading

        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, *_ENDING):
                handler = signal.getsignal(signum)
                if callable(handler):
                    self.previous[signum] = signal.signal(signum, self._note)
        return self

    def _note(self, signum: int, frame: object) -> None:
        self.caught.append(signum)

    def restore(self) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        self.previous = {}

    def __exit__(self, *exc: object) -> None:
        handlers = dict(self.previous)
        self.restore()
        for signum in dict.fromkeys(self.caught):  # now raised where it can be acted on
            handlers[signum](signum, None)


def add_summaries(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """The summary of a list from its parts' summaries (sites, count per status, total
    shortfall: all sums), keys in the order of the first."""
    first = summaries[0]
    return {
        "sites": sum(s["sites"] for s in summaries),
        "by_status": {k: sum(s["by_status"][k] for s in summaries) for k in first["by_status"]},
        "total_shortfall": sum(s["total_shortfall"] for s in summaries),
    }


def _csv_table(answer: BatchAnswer, output: Output) -> pa.Table:
    """The answer's rows as the CSV writer writes them (siting.formats.csv)."""
    from siting.formats.csv import table

    return csv_bytes_table(table(answer, output))


def _written_length(table: pa.Table) -> int | None:
    """The bytes `write_csv_table` writes for `table` with its header, or None if not
    worked out."""
    rows = csv_rows_length(table)
    return None if rows is None else rows + len(csv_header(table))


class _Placed:
    """The parent's rows written into the file right after the child's, once the child has
    said how many bytes its rows take (held in memory until then, Arrow's buffers, not
    copied); direct to the disk where the system allows it (siting.io.direct)."""

    def __init__(self, path: Path, pipe: _Pipe) -> None:
        self.path, self.pipe = path, pipe
        self.start: int | None = None  # where these rows begin in the file, once known
        self.size = 0  # the bytes of these rows
        self.held: list[bytes | memoryview] = []
        self.region: PlainRegion | None = None

    def write(self, data: bytes | memoryview) -> int:
        if self.start is None:
            self._begin(self.pipe.length(wait=False))
        if self.region is None:
            self.held.append(data)
        else:
            self.region.write(data)
        self.size += len(data)
        return len(data)

    def finish(self) -> None:
        """Waits for the child's length (if it has not said it yet) and writes what is held;
        if the child failed before saying it, the rows stay held (start None)."""
        if self.start is None:
            self._begin(self.pipe.length(wait=True))
        self._end()

    def place(self, start: int) -> bool:
        """These rows at `start`: what is held written there; False if they were written
        somewhere else already (the caller writes them again)."""
        if self.start is None:
            self._begin(start)
            self._end()
        return self.start == start

    def _begin(self, start: int | None) -> None:
        if start is None:
            return
        self.start = start
        self.region = open_region(self.path, start)
        for piece in self.held:
            self.region.write(piece)
        self.held.clear()

    def _end(self) -> None:
        if self.region is not None:
            region, self.region = self.region, None
            region.close()

    def discard(self) -> None:
        """The file's descriptors closed, nothing more written (a write failed)."""
        if self.region is not None:
            region, self.region = self.region, None
            region.discard()


class _Pipe:
    """The child's two lines, JSON: its length ({"length": bytes or null}), said before it
    writes, and its report ({"summary", "warnings", "written"}), once its rows are in the
    file. A child that ends before a line is whole has failed."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""
        self.lines: list[dict[str, Any] | None] = []  # None: a line that is not JSON
        self.ended = False

    def _read(self, wait: bool) -> None:
        import select

        if self.ended or (not wait and not select.select([self.fd], [], [], 0)[0]):
            return
        chunk = os.read(self.fd, 1 << 16)
        if not chunk:
            self.ended = True
            return
        self.buffer += chunk
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            try:
                self.lines.append(json.loads(line))
            except ValueError:
                self.lines.append(None)

    def _line(self, k: int, wait: bool) -> dict[str, Any] | None:
        while len(self.lines) <= k and not self.ended:
            self._read(wait)
            if not wait:
                break
        return self.lines[k] if len(self.lines) > k else None

    def length(self, wait: bool) -> int | None:
        """The bytes of the child's header and rows, once it has said them (None before,
        or if it failed, or could not work them out)."""
        line = self._line(0, wait)
        value = line.get("length") if isinstance(line, dict) else None
        return value if isinstance(value, int) and value >= 0 else None

    def report(self, rows: int) -> dict[str, Any] | None:
        """The child's report, None if it failed (ended without sending it whole, or with
        another number of sites than it was given)."""
        report = self._line(1, wait=True)
        if not isinstance(report, dict):
            return None
        if report.get("summary", {}).get("sites") != rows:
            return None
        written = report.get("written")
        if not isinstance(written, int) or written < 0:
            return None
        return report


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
        with threads.alone():  # the parent has the other core (siting.threads)
            # the ids are compared by the parent, over the whole list: if one repeats, this
            # process is stopped and the list checked whole
            answer = check_site_list(site_list, pack, as_of, rows, ids_distinct=True)
            table = _csv_table(answer, output)
            # the length first: the parent writes its rows after them while these are written
            _send(report, {"length": _written_length(table)})
            sink = open_region(out, 0)  # the file the parent made, empty
            try:
                write_csv_table(table, sink, header=True)
            finally:
                sink.close()
        # the parent goes on once it has this, while this process is still being taken down
        _send(
            report,
            {"summary": answer.summary, "warnings": answer.warnings, "written": sink.pos},
        )
        code = 0
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _put_in_place(partial: Path, target: Path) -> None:
    """The finished file renamed to the output's name, in one step: a reader of the name
    finds the old file or the new one, whole. Where an output is there already (Linux),
    the two names are exchanged (renameat2 RENAME_EXCHANGE) and the old file removed: ext4
    (auto_da_alloc) starts writing a file to disk when it is renamed over another, in the
    rename itself (0.03-0.2 s for the 381 MB of a 1,000,000-site output here), while an
    exchange leaves that to the system's writeback, as for any file written."""
    import ctypes

    if target.exists() and not target.is_dir():
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            exchanged = (
                libc.renameat2(-100, os.fsencode(partial), -100, os.fsencode(target), 2) == 0
            )  # AT_FDCWD, RENAME_EXCHANGE
        except (OSError, AttributeError):  # no renameat2 (not Linux, or an old C library)
            exchanged = False
        if exchanged:
            with contextlib.suppress(OSError):
                partial.unlink()  # now the old output
            return
    os.replace(partial, target)


def _send(fd: int, message: dict[str, Any]) -> None:
    """One line to the parent (JSON escapes line breaks)."""
    view = memoryview(json.dumps(message).encode() + b"\n")
    while view:
        view = view[os.write(fd, view) :]


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
