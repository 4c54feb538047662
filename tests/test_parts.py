"""A large site list checked in two processes (siting/parts.py) gives, byte for byte, the CSV
file and the printout of the check in one process: on lists as reviewers make them (a
title, blank lines, a totals row, merged cells, values that are not counts, quotes, line
breaks and formulas in names, Chinese headers), in both languages, wherever the list is
cut; when ids repeat it is checked whole; when the second process fails nothing is lost."""

from __future__ import annotations

import csv
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from siting import parts
from siting.cli import main
from siting.formats import Output
from siting.request import CheckOptions
from siting.run import read_site_list

AS_OF = "2024-06-30"

NAMES = [
    "第一人民医院",
    'He said "hi", then left',
    "two\nlines",
    "=SUM(A1:A9)",
    "+86 771",
    "@home",
    "",
    "  padded  ",
    "万象城, 一期",
]
CATEGORIES = [
    "医院",
    "hospital",
    "shopping_mall",
    "5A级旅游景区",
    "新建小区",
    "老旧小区",
    "hospital;residential",
    "停车场",
    "industrial_park",
    "no such place",
    "",
    "highway_service_area",
    "regional_agency",
]
COUNTS = ["0", "12", "333", "１２０", "n/a", "-3", "1.5", "", "2999", "10000000000"]
DEVELOPMENT = ["new", "existing", "新建", "", "maybe"]
CITIES = ["南宁", "liuzhou", "", "Atlantis"]
RATINGS = ["", "3A", "5", "AAAA", "7"]
AREA = ["是", "否", "", "1.0", "perhaps"]


def messy_rows(n: int, seed: int = 0) -> list[list[str]]:
    """n site rows as a reviewer's list has them, every column from a list of awkward values."""
    rng = np.random.default_rng(seed)

    def pick(values: list[str]) -> list[str]:
        return [values[k] for k in rng.integers(0, len(values), n)]

    columns = [
        [f"S{i}" for i in range(n)],
        pick(NAMES),
        pick(CATEGORIES),
        pick(DEVELOPMENT),
        pick(COUNTS),
        pick(COUNTS),
        pick(COUNTS),
        pick(COUNTS),
        pick(RATINGS),
        pick(["1", "2", "3", ""]),
        pick(AREA),
        pick(["", "", "场地受限"]),
        pick(CITIES),
    ]
    return [list(row) for row in zip(*columns, strict=True)]


HEADER_ZH = [
    "编号",
    "项目名称",
    "场所类型",
    "是否新建",
    "停车位数",
    "充电车位数",
    "预留车位数",
    "快充车位数",
    "景区等级",
    "服务区类别",
    "专用充电区",
    "场地条件",
    "所在城市",
]


def write_messy_csv(path: Path, n: int, seed: int = 0) -> Path:
    rows = messy_rows(n, seed)
    rows.insert(n // 3, [""] * len(HEADER_ZH))  # a blank line inside the table
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(["2024年充电设施配建情况表"] + [""] * (len(HEADER_ZH) - 1))  # a title
        w.writerow(HEADER_ZH)
        w.writerows(rows)
        w.writerow(["合计", "", "", "", "999", "", "", "", "", "", "", "", ""])
    return path


def check(tmp_path: Path, src: Path, name: str, in_parts: bool, *args: str) -> tuple[bytes, str]:
    """`siting check src -o name` with or without parts: (the file's bytes, the printout)."""
    import contextlib
    import io

    out = tmp_path / name
    printed = io.StringIO()
    saved = parts.PARTS_MIN_ROWS
    parts.PARTS_MIN_ROWS = 2 if in_parts else 10**12
    try:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            assert main(["check", str(src), "--as-of", AS_OF, "-o", str(out), *args]) == 0
    finally:
        parts.PARTS_MIN_ROWS = saved
    return out.read_bytes(), printed.getvalue().replace(str(out), "OUT")


@pytest.fixture
def split_used(monkeypatch):
    """The outcomes of write_in_parts during a test (None: checked whole)."""
    seen: list[object] = []
    real = parts.write_in_parts

    def spy(*args, **kwargs):
        result = real(*args, **kwargs)
        seen.append(result)
        return result

    monkeypatch.setattr(parts, "write_in_parts", spy)
    return seen


@pytest.mark.parametrize("args", [(), ("--lang", "en"), ("--lang", "zh")])
def test_a_messy_list_in_parts_is_the_list_in_one_process(tmp_path, split_used, args):
    src = write_messy_csv(tmp_path / "sites.csv", 2_000)
    whole, said_whole = check(tmp_path, src, "whole.csv", False, *args)
    assert split_used == []
    split, said_split = check(tmp_path, src, "split.csv", True, *args)
    assert len(split_used) == 1 and isinstance(split_used[0], parts.Outcome)
    assert split == whole
    assert said_split == said_whole
    # the file holds every site, the title and totals rows left out, the blank line skipped
    text = split.decode("utf-8-sig")
    assert len(list(csv.reader(text.splitlines(keepends=True)))) == 1 + 2_000
    assert "2000 sites checked" in said_split


def test_merged_cells_and_an_id_less_sheet_are_checked_whole(tmp_path, split_used):
    """A workbook (merged category cells filled from the top with a note on each row, no id
    column, a title and a totals row, a phone column of numbers, then of text): its columns
    are not all text, so it is checked in one process, to the same file."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["2024年公共建筑充电设施配建情况表"])
    ws.append(["项目名称", "场所类型", "停车位数", "充电桩数量", "联系电话"])
    rng = np.random.default_rng(3)
    for k in range(600):
        phone = 13800000000 + k if k < 300 else f"0771-{k:07d}"
        ws.append(
            [f"项目{k}", "医院" if k % 5 == 0 else None, int(rng.integers(0, 500)), 20, phone]
        )
    for k in range(0, 600, 5):  # each category cell merged over the four rows below it
        ws.merge_cells(f"B{k + 3}:B{k + 7}")
    ws.merge_cells("A1:E1")
    ws.append(["合计", None, 1, 1, None])
    src = tmp_path / "merged.xlsx"
    wb.save(src)
    whole, said_whole = check(tmp_path, src, "whole.csv", False)
    split, said_split = check(tmp_path, src, "split.csv", True)
    assert split_used == []
    assert split == whole and said_split == said_whole
    text = split.decode("utf-8-sig")
    assert "filled from the merged cell" in text and '"13800000000"' in text


@pytest.mark.parametrize(
    "first, rest", [(123, "text"), (True, 1), (1.0, "x"), ("2024-01-01", 5), (10**20, 1)]
)
def test_a_json_list_of_mixed_values_is_checked_whole(tmp_path, split_used, first, rest):
    """A column of one type of value in the first rows and another after (found by an
    attack on the check in parts: each part would write its column its own way)."""
    import json

    records = [
        {
            "id": f"S{k}",
            "category": "regional_agency",
            "parking_spaces": 100,
            "charging_spaces": 10,
            "remark": first if k < 540 else rest,
        }
        for k in range(1_000)
    ]
    src = tmp_path / "sites.json"
    src.write_text(json.dumps(records), "utf-8")
    whole, said_whole = check(tmp_path, src, "whole.csv", False)
    split, said_split = check(tmp_path, src, "split.csv", True)
    assert split_used == []
    assert split == whole and said_split == said_whole


def test_no_partial_file_is_left_and_the_output_is_replaced_whole(tmp_path, split_used):
    src = write_messy_csv(tmp_path / "sites.csv", 800)
    (tmp_path / "split.csv").write_bytes(b"an older answer")
    whole, _ = check(tmp_path, src, "whole.csv", False)
    split, _ = check(tmp_path, src, "split.csv", True)
    assert isinstance(split_used[0], parts.Outcome) and split == whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sites.csv", "split.csv", "whole.csv"]


@pytest.mark.parametrize("share", [0.0001, 0.37, 0.5, 0.9999])
def test_wherever_the_list_is_cut(tmp_path, pack, share):
    src = write_messy_csv(tmp_path / "sites.csv", 1_500, seed=7)
    whole, _ = check(tmp_path, src, "whole.csv", False)
    site_list = read_site_list(str(src))
    out = tmp_path / "split.csv"
    outcome = parts.write_in_parts(
        site_list, pack, AS_OF, out, Output(options=CheckOptions()), share=share
    )
    assert outcome is not None
    assert out.read_bytes() == whole
    from siting.run import check_site_list

    assert outcome.summary == check_site_list(site_list, pack, AS_OF).summary


@pytest.fixture
def children(monkeypatch):
    """The pids of the processes forked during a test."""
    pids: list[int] = []
    real = os.fork

    def fork() -> int:
        pid = real()
        if pid:
            pids.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", fork)
    return pids


def reaped(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def test_repeated_ids_are_checked_whole(tmp_path, pack, split_used, children):
    rows = messy_rows(900, seed=2)
    rows[850][0] = rows[3][0]  # one id twice, in the two parts
    src = tmp_path / "dup.csv"
    with src.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([["id", "name", "category", "development", *HEADER_ZH[4:]], *rows])
    whole, said_whole = check(tmp_path, src, "whole.csv", False, "--lang", "en")
    split, said_split = check(tmp_path, src, "split.csv", True, "--lang", "en")
    assert split_used == [None]  # tried, found the repeated id, checked whole
    assert split == whole and said_split == said_whole
    assert "is not unique; it is also on row 852" in split.decode("utf-8-sig")
    assert len(children) == 1 and reaped(children[0])  # stopped and reaped


def test_a_repeated_id_in_a_list_read_by_arrow_from_its_bytes(tmp_path, split_used, monkeypatch):
    """A large plain UTF-8 list is read by Arrow from its bytes, its ids in chunks (found by
    an attack: a repeated id there crashed the id check, in parts and in one process)."""
    from siting.io import tabular

    monkeypatch.setattr(tabular, "UTF8_DIRECT_MIN", 1)
    monkeypatch.setattr(tabular, "ARROW_BLOCK", 1 << 14)  # chunks, as a file of 4 MB+ has
    lines = ["id,category,parking_spaces,charging_spaces"]
    lines += [f"S{k},hospital,{100 + k % 50},{k % 40}" for k in range(5_000)]
    lines[2_500] = "S17,hospital,100,20"  # S17 again
    src = tmp_path / "dup.csv"
    src.write_text("\n".join(lines) + "\n", "utf-8")
    raw = tabular.read_sites(src)
    assert raw.frame["id"].array._pa_array.num_chunks > 1
    whole, said_whole = check(tmp_path, src, "whole.csv", False)
    split, said_split = check(tmp_path, src, "split.csv", True)
    assert split_used == [None] and split == whole and said_split == said_whole
    text = whole.decode("utf-8-sig")
    assert "is not unique; it is also on row 2501" in text
    assert "is not unique; it is also on row 19" in text


@pytest.mark.parametrize("how", ["raises", "killed", "killed after its length", "killed mid-file"])
def test_a_failed_second_process_loses_nothing(tmp_path, monkeypatch, split_used, children, how):
    """The child fails before it has checked its rows, after it has said their length, or
    halfway through writing them: the parent checks them and the file is the same."""
    src = write_messy_csv(tmp_path / "sites.csv", 1_000, seed=5)
    whole, said_whole = check(tmp_path, src, "whole.csv", False)
    parent = os.getpid()
    real = parts.check_site_list
    real_write = parts.write_csv_table

    def failing(*args, **kwargs):
        if os.getpid() != parent:  # in the forked child only
            if how == "killed":
                os.kill(os.getpid(), signal.SIGKILL)
            raise RuntimeError("boom")
        return real(*args, **kwargs)

    def dying(table, sink, header=True):
        if os.getpid() != parent:
            if how == "killed mid-file":
                sink.write(b"\xef\xbb\xbfid,row,half a line")
                sink.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        return real_write(table, sink, header)

    if how.startswith("killed ") and how != "killed":
        monkeypatch.setattr(parts, "write_csv_table", dying)
    else:
        monkeypatch.setattr(parts, "check_site_list", failing)
    split, said_split = check(tmp_path, src, "split.csv", True)
    assert isinstance(split_used[0], parts.Outcome)
    assert split == whole
    assert "checked on a second core, failed; it was checked again here" in said_split
    assert said_split.splitlines()[0] == said_whole.splitlines()[0]  # the same counts
    assert len(children) == 1 and reaped(children[0])


@pytest.mark.parametrize("error", [+7, -5, -(10**6), None])
def test_a_length_said_wrong_or_not_at_all_still_makes_the_same_file(
    tmp_path, monkeypatch, split_used, error
):
    """The parent writes its rows where the child says its own end; if the child's bytes
    end elsewhere (a length worked out wrong: longer, shorter, or none at all), the parent's
    rows are written again where they belong and the file cut after them."""
    src = write_messy_csv(tmp_path / "sites.csv", 1_200, seed=11)
    whole, said_whole = check(tmp_path, src, "whole.csv", False)
    real = parts._written_length

    def wrong(table):
        length = real(table)
        return None if error is None else max(0, length + error)

    monkeypatch.setattr(parts, "_written_length", wrong)
    split, said_split = check(tmp_path, src, "split.csv", True)
    assert isinstance(split_used[0], parts.Outcome)
    assert split == whole and said_split == said_whole


def test_a_child_slower_than_the_parent_still_makes_the_same_file(
    tmp_path, monkeypatch, split_used
):
    """The parent has made all its rows before the child says its length: they are held,
    then written after the child's."""
    import time

    src = write_messy_csv(tmp_path / "sites.csv", 1_200, seed=12)
    whole, _ = check(tmp_path, src, "whole.csv", False)
    parent = os.getpid()
    real = parts._csv_table
    held_at_most: list[int] = []

    def slow(answer, output):
        if os.getpid() != parent:
            time.sleep(1.5)
        return real(answer, output)

    class Placed(parts._Placed):
        def write(self, data):
            done = super().write(data)
            held_at_most.append(len(self.held))
            return done

        def finish(self):
            super().finish()
            held_at_most.append(len(self.held))

    monkeypatch.setattr(parts, "_csv_table", slow)
    monkeypatch.setattr(parts, "_Placed", Placed)
    split, _ = check(tmp_path, src, "split.csv", True)
    assert split == whole
    assert max(held_at_most) > 0 and held_at_most[-1] == 0  # held, then written


def test_the_pipe_takes_a_line_that_is_not_json_as_a_failure():
    read_end, write_end = os.pipe()
    os.write(write_end, b'{"length": 12}\nnot json\n')
    os.close(write_end)
    pipe = parts._Pipe(read_end)
    assert pipe.length(wait=True) == 12
    assert pipe.report(5) is None
    os.close(read_end)


def test_one_core_or_no_fork_checks_in_one_process(tmp_path, monkeypatch, split_used):
    src = write_messy_csv(tmp_path / "sites.csv", 300)
    monkeypatch.setattr(parts, "cores", lambda: 1)
    assert not parts.usable()

    def no_fork() -> int:
        raise AssertionError("forked on one core")

    monkeypatch.setattr(os, "fork", no_fork)
    whole, _ = check(tmp_path, src, "whole.csv", False)
    split, _ = check(tmp_path, src, "split.csv", True)
    assert split == whole and split_used == []


def test_summaries_add_up():
    a = {"sites": 3, "by_status": {"pass": 1, "fail": 2}, "total_shortfall": 7}
    b = {"sites": 2, "by_status": {"pass": 0, "fail": 2}, "total_shortfall": 5}
    assert parts.add_summaries([a, b]) == {
        "sites": 5,
        "by_status": {"pass": 1, "fail": 4},
        "total_shortfall": 12,
    }


@pytest.mark.parametrize(
    "ids",
    [
        [f"S{k}" for k in range(1_000)],  # numbered: compared as integers
        [f"S{k}" for k in range(1_000)] + ["S7"],
        [f"S{k}" for k in range(1_000)] + [" S7 "],  # the same id once stripped
        [f"S{k:04d}" for k in range(1_000)] + ["S7"],  # S0007 and S7: two ids, one number
        [f"GX-2024-{k:03d}" for k in range(1_000)],
        [f"A{k}" for k in range(500)] + [f"B{k}" for k in range(500)],  # one number, two ids
        [f"项目{k}" for k in range(1_000)] + ["项目999"],
        [str(k) for k in range(1_000)] + [""] * 5,  # blanks are not ids
        [f"S{k}" for k in range(999)] + ["S99999999999999999999999"],  # beyond int64
        [f"S{k * 10**12}" for k in range(1_000)],  # far apart: sorted, not counted
        [f"S{k * 10**12}" for k in range(1_000)] + ["S0"],
        ["x"] * 2 + [f"id {k}" for k in range(1_000)],
    ],
)
def test_repeated_ids_are_found_as_normalise_finds_them(ids):
    import collections

    import pandas as pd

    from siting.records import ids_repeat

    frame = pd.DataFrame({"id": pd.Series(ids, dtype=pd.StringDtype("pyarrow"))})
    stripped = [i.strip() for i in ids if i.strip()]
    expected = max(collections.Counter(stripped).values()) > 1
    assert ids_repeat(frame) is expected


_DYING_PARENT = """
import os, signal, sys, time
import siting.parts as parts
from siting.cli import main

src, out, pid_file, how = sys.argv[1:5]
parts.PARTS_MIN_ROWS = 2
parent = os.getpid()
check = parts.check_site_list
ids_repeat = parts.ids_repeat


def slow(*args, **kwargs):
    if os.getpid() != parent:  # the child: say who it is, then take its time
        with open(pid_file + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.replace(pid_file + ".tmp", pid_file)
        time.sleep(3)
    return check(*args, **kwargs)


def die(*args, **kwargs):  # the parent, once the child runs: ended as a user would end it
    while not os.path.exists(pid_file):
        time.sleep(0.02)
    os.kill(os.getpid(), getattr(signal, how))
    time.sleep(10)
    return ids_repeat(*args, **kwargs)


parts.check_site_list, parts.ids_repeat = slow, die
sys.exit(main(["check", src, "--as-of", "2024-06-30", "-o", out]))
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
@pytest.mark.parametrize("how, code", [("SIGTERM", 128 + 15), ("SIGHUP", 128 + 1), ("SIGKILL", -9)])
def test_a_parent_that_is_ended_takes_the_child_with_it(tmp_path, how, code):
    """Found by an attack: a parent ended by SIGTERM (timeout, a stopped service) or SIGKILL
    left the child running, which then finished a clean-looking file of the first 54 % of
    the rows. Now the child dies with the parent, and the output keeps what it held."""
    import subprocess
    import sys
    import time

    src = write_messy_csv(tmp_path / "sites.csv", 600)
    out = tmp_path / "out.csv"
    out.write_bytes(b"an older answer")
    script = tmp_path / "run.py"
    script.write_text(_DYING_PARENT, "utf-8")
    pid_file = tmp_path / "child.pid"
    log = tmp_path / "run.log"
    with log.open("wb") as sink:  # not a pipe: the run returns when the parent has ended
        done = subprocess.run(
            [sys.executable, str(script), str(src), str(out), str(pid_file), how],
            stdout=sink,
            stderr=sink,
            timeout=60,
        )
    assert done.returncode == code, log.read_text()[-2000:]
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 1.5  # the child sleeps 3 s before its work: not its own end
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)
    time.sleep(0.2)
    assert out.read_bytes() == b"an older answer"
    left = sorted(p.name for p in tmp_path.iterdir())
    if how != "SIGKILL":  # interrupted (a timeout, the terminal closed): the file removed
        assert left == ["child.pid", "out.csv", "run.log", "run.py", "sites.csv"]
    else:  # killed: at most the partial file, under a name of its own
        assert all(
            name.endswith(".partial")
            for name in set(left) - {"child.pid", "out.csv", "run.log", "run.py", "sites.csv"}
        )


@pytest.mark.parametrize("engine", ["memory", "auto", "dask"])
def test_a_csv_list_is_split_whatever_the_engine_option(tmp_path, split_used, engine):
    """--engine is about map layers (and GeoParquet lists); a CSV list runs in memory on
    every engine, and so is checked in parts on every engine."""
    src = write_messy_csv(tmp_path / "sites.csv", 600)
    whole, _ = check(tmp_path, src, "whole.csv", False)
    split, _ = check(tmp_path, src, "split.csv", True, "--engine", engine)
    assert split == whole
    assert len(split_used) == 1 and isinstance(split_used[0], parts.Outcome)


def test_each_part_counts_on_one_core():
    """Inside a part the helper threads (explanations, CSV slices) count on one core."""
    from siting import threads

    outside = threads.cores()
    with threads.alone():
        assert threads.cores() == 1
        with threads.alone():
            assert threads.cores() == 1
        assert threads.cores() == 1
    assert threads.cores() == outside == (os.cpu_count() or 1)


# ------------------------------------------- the output file, as the one-process check has it


def only_outcomes(seen: list[object]) -> list[str]:
    return ["parts" if isinstance(x, parts.Outcome) else "whole" for x in seen]


def test_the_output_keeps_its_mode_and_a_new_one_gets_the_usual_mode(tmp_path, split_used):
    src = write_messy_csv(tmp_path / "sites.csv", 700)
    old = tmp_path / "old.csv"
    old.write_bytes(b"an older answer")
    old.chmod(0o640)
    check(tmp_path, src, "old.csv", True)
    check(tmp_path, src, "new.csv", True)
    assert only_outcomes(split_used) == ["parts", "parts"]
    umask = os.umask(0)
    os.umask(umask)
    assert old.stat().st_mode & 0o7777 == 0o640
    assert (tmp_path / "new.csv").stat().st_mode & 0o7777 == 0o666 & ~umask


@pytest.mark.parametrize("kind", ["hard link", "not writable", "another user's"])
def test_an_output_a_new_file_cannot_stand_in_for_is_written_in_one_process(
    tmp_path, monkeypatch, split_used, kind
):
    """Found by an attack: the file was replaced by a new one, breaking a hard link,
    another user's ownership or a read-only file's refusal. Such outputs are written into,
    as the one-process check writes them."""
    src = write_messy_csv(tmp_path / "sites.csv", 700)
    whole, _ = check(tmp_path, src, "whole.csv", False)
    out = tmp_path / "out.csv"
    out.write_bytes(b"an older answer")
    if kind == "hard link":
        os.link(out, tmp_path / "other name.csv")
    elif kind == "not writable":
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, m: False if Path(p) == out else real(p, m))
    elif os.geteuid() == 0:
        os.chown(out, 65534, 65534)
    else:
        pytest.skip("changing a file's owner needs root")
    written, _ = check(tmp_path, src, "out.csv", True)
    assert only_outcomes(split_used) == ["whole"] and written == whole
    if kind == "hard link":
        assert (tmp_path / "other name.csv").read_bytes() == whole


def test_a_fifo_or_a_device_is_not_replaced(tmp_path):
    fifo = tmp_path / "out.csv"
    os.mkfifo(fifo)
    assert not parts._replaceable(fifo)
    assert not parts._replaceable(Path("/dev/null"))
    assert parts._replaceable(tmp_path / "not there yet.csv")


def test_a_long_output_name_is_checked_in_parts(tmp_path, split_used):
    """Found by an attack: the partial file's name added 15 bytes to the output's, past the
    255-byte limit of a name."""
    src = write_messy_csv(tmp_path / "sites.csv", 700)
    whole, _ = check(tmp_path, src, "whole.csv", False)
    name = "充电桩配建核查结果" * 9 + ".csv"  # 247 bytes
    written, _ = check(tmp_path, src, name, True)
    assert only_outcomes(split_used) == ["parts"] and written == whole


def test_no_room_for_a_new_file_beside_the_output_checks_it_in_one_process(
    tmp_path, monkeypatch, split_used
):
    import tempfile

    src = write_messy_csv(tmp_path / "sites.csv", 700)
    whole, _ = check(tmp_path, src, "whole.csv", False)

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refused)
    written, _ = check(tmp_path, src, "out.csv", True)
    assert only_outcomes(split_used) == ["whole"] and written == whole


def test_ctrl_c_during_the_fork_stops_the_run(tmp_path, monkeypatch, children):
    """Found by an attack: a Ctrl-C that came while os.fork ran its callbacks was swallowed
    ("Exception ignored in ..."), and the run went on to replace the output. Now it is acted
    on once the fork is done: exit 130, the old output kept, nothing left behind."""
    src = write_messy_csv(tmp_path / "sites.csv", 700)
    out = tmp_path / "out.csv"
    out.write_bytes(b"an older answer")
    real = os.fork

    def interrupted_fork() -> int:
        os.kill(os.getpid(), signal.SIGINT)  # arrives as the fork begins
        return real()

    monkeypatch.setattr(os, "fork", interrupted_fork)
    monkeypatch.setattr(parts, "PARTS_MIN_ROWS", 2)
    assert main(["check", str(src), "--as-of", AS_OF, "-o", str(out)]) == 130
    assert out.read_bytes() == b"an older answer"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv", "sites.csv"]
    assert len(children) == 1 and reaped(children[0])
