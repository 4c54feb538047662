"""The CSV output's fast path (siting.io.writers.write_csv: Arrow's writer, in slices on every
core) against a plain reference writer, byte for byte, on tricky values; and the check's
own parts the fast path relies on (headline explanations, category labels, Arrow's pool)."""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siting.io import writers
from siting.io.writers import neutralise_text, write_csv

TRICKY = [
    "plain",
    "",
    'a "quoted" word',
    '"',
    "a,b",
    "line1\nline2",
    "x\r\ny",
    "\rcr",
    "\ttab",
    "=cmd|' /C calc'!A0",
    "=",
    "-",
    "+",
    "@SUM(A1)",
    "-3",
    "+1.5",
    "20%",
    "1,234",
    "-x",
    "'already",
    " lead space",
    "trail ",
    "中文，逗号",
    "广西电动汽车充电基础设施发展规划（2021—2025年） 3(3) 1",
    "emoji 🚗",
    "ü é",
]


def reference_csv(frame: pd.DataFrame) -> bytes:
    """The CSV output written the slow, obvious way: a BOM; the header by Python's csv module;
    then every text quoted (quotes doubled) after formula neutralising, missing values
    empty, numbers as numbers, booleans as the texts True / False."""
    header = io.StringIO()
    names = [neutralise_text(str(c)) for c in frame.columns]
    csv.writer(header, lineterminator="\n").writerow(names)
    lines = []
    for row in frame.itertuples(index=False):
        cells = []
        for v in row:
            if v is None or v is pd.NA or (isinstance(v, float) and v != v):
                cells.append("")
            elif isinstance(v, bool | np.bool_):
                cells.append(f'"{bool(v)}"')
            elif isinstance(v, int | np.integer):
                cells.append(str(int(v)))
            else:
                cells.append('"' + str(neutralise_text(v)).replace('"', '""') + '"')
        lines.append(",".join(cells) + "\n")
    return b"\xef\xbb\xbf" + (header.getvalue() + "".join(lines)).encode("utf-8")


def tricky_frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    text = np.array(TRICKY, dtype=object)[rng.integers(0, len(TRICKY), n)]
    text[rng.random(n) < 0.05] = None
    count = pd.array(rng.integers(-5, 3000, n), dtype="Int64")
    count[rng.random(n) < 0.1] = pd.NA
    low = pd.Series(
        np.array(["pass", "fail", "=x", "需复核"], dtype=object)[rng.integers(0, 4, n)],
        dtype=pd.StringDtype("pyarrow"),
    )
    return pd.DataFrame(
        {
            "id": [f"S{i}" for i in range(n)],
            "row": np.arange(2, n + 2),
            "status": low,
            "note": text,
            "spaces": count,
            "flag": rng.random(n) < 0.5,
            "=odd name": np.roll(text, 1),
            "名称": pd.Series(np.roll(text, 2), dtype=pd.StringDtype("pyarrow")),
        }
    )


@pytest.mark.parametrize("n", [0, 1, 7, 3_000])
def test_csv_fast_path_writes_what_a_plain_writer_writes(n, monkeypatch):
    frame = tricky_frame(n)
    expected = reference_csv(frame)
    whole = io.BytesIO()
    write_csv(frame, whole)
    assert whole.getvalue() == expected
    # in many slices on several threads (as a large output is written): the same bytes
    monkeypatch.setattr(writers, "CSV_SLICE_BYTES", 1)
    monkeypatch.setattr(writers, "CSV_SLICE_MIN", 16)
    sliced = io.BytesIO()
    write_csv(frame, sliced)
    assert sliced.getvalue() == expected


def test_csv_fast_path_reads_back_as_written():
    frame = tricky_frame(500, seed=3)
    sink = io.BytesIO()
    write_csv(frame, sink)
    back = list(csv.reader(io.StringIO(sink.getvalue().decode("utf-8-sig"), newline="")))
    assert back[0] == ["id", "row", "status", "note", "spaces", "flag", "'=odd name", "名称"]
    notes = [r[3] for r in back[1:]]
    want = ["" if pd.isna(v) else str(neutralise_text(v)) for v in frame["note"]]
    assert notes == want


def test_csv_slices_follow_the_width_of_the_rows():
    narrow = pa.table({"a": pa.array(np.arange(100_000))})
    wide = pa.table({"t": pa.array(["x" * 2_000] * 1_000)})
    assert writers.csv_slice_rows(narrow) == writers.CSV_SLICE_MAX
    assert writers.csv_slice_rows(wide) == writers.CSV_SLICE_MIN
    assert writers.csv_slice_rows(pa.table({"a": pa.array([], pa.int64())})) >= 1


def test_large_arrays_pool_is_put_back():
    from siting.memory import large_arrays

    before = pa.default_memory_pool().backend_name
    with large_arrays():
        inside = pa.default_memory_pool().backend_name
        values = pa.array(["a", "b"]).take(pa.array([1, 0, 1]))
    assert pa.default_memory_pool().backend_name == before
    assert values.to_pylist() == ["b", "a", "b"]  # made inside, valid outside
    assert inside in ("jemalloc", before)


def test_flat_table_texts_agree_with_the_results():
    """The flat table writes only the headline evaluations' explanations, and each distinct
    category list once: the same texts as the JSON results (which write every evaluation's)."""
    from siting import load_ruleset
    from siting.check import check_table
    from siting.records import normalise

    pack = load_ruleset()
    rng = np.random.default_rng(5)
    n = 3_000
    cats = ["shopping_mall", "hospital;residential", "住宅小区", "hotel;shopping_mall", "", "nope"]
    parking = rng.integers(0, 3000, n)
    frame = pd.DataFrame(
        {
            "id": [f"S{i}" for i in range(n)],
            "category": rng.choice(cats, n),
            "development": rng.choice(["new", "existing", ""], n),
            "parking_spaces": parking.astype(str),
            "charging_spaces": (parking * rng.uniform(0, 0.3, n)).astype(int).astype(str),
            "a_rating": rng.choice(["", "4", "AAAAA"], n),
            "dedicated_ev_area": rng.choice(["是", "否", ""], n),
        }
    )
    frame.loc[::97, "parking_spaces"] = "-4"  # invalid rows

    def answer():
        return check_table(normalise(frame, pack, source="t.csv"), pack, "2024-06-30")

    flat = answer().frame(keep_input=False)
    results = answer().results
    assert list(flat["explanation"]) == [r["explanation"] for r in results]
    assert list(flat["categories"].fillna("")) == [";".join(r["categories"]) for r in results]
    assert flat["status"].eq("invalid").sum() >= n // 97
    # with every evaluation's text already written (JSON first), the same table
    both = answer()
    _ = both.results
    pd.testing.assert_frame_equal(both.frame(keep_input=False), flat)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_csv_of_dictionary_columns_is_the_csv_of_texts(tmp_path, lang):
    """The CSV writer gets the few-label columns (status, categories, rule, ratio, counted,
    citation) as Arrow dictionaries: the file is byte for byte the one written from the
    same columns as texts, in both languages, with formula-like labels neutralised."""
    from test_parts import write_messy_csv

    from siting import load_ruleset
    from siting.labels import localise_frame
    from siting.run import check_site_list, read_site_list

    pack = load_ruleset()
    src = write_messy_csv(tmp_path / "sites.csv", 3_000, seed=11)
    answer = check_site_list(read_site_list(str(src)), pack, "2024-06-30")
    coded, plain = io.BytesIO(), io.BytesIO()
    coded_frame = answer.frame(coded=True)
    assert str(coded_frame["citation"].dtype).startswith("dictionary")
    write_csv(localise_frame(coded_frame, answer, lang), coded)
    write_csv(localise_frame(answer.frame(), answer, lang), plain)
    assert coded.getvalue() == plain.getvalue()
    # a label that starts like a formula is neutralised in the dictionary too
    risky = pd.DataFrame(
        {"x": writers.neutralise_array(pa.array(["=1+1", "ok", "=1+1"]).dictionary_encode())}
    )
    assert pa.array(risky["x"].astype(str)).to_pylist() == ["'=1+1", "ok", "'=1+1"]


# ------------------------------------------------- the CSV text's length, worked out first

texts = st.lists(
    st.one_of(st.none(), st.sampled_from(TRICKY), st.text(max_size=12)), min_size=0, max_size=40
)
integers = st.lists(
    st.one_of(
        st.none(),
        st.integers(-(2**63), 2**63 - 1),
        st.sampled_from([0, 9, 10, 99, 100, -1, -10, 10**18, -(10**18), 2**63 - 1, -(2**63)]),
    ),
    max_size=40,
)


def written_rows(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    writers.write_csv_table(table, sink, header=False)
    return sink.getvalue()


@settings(max_examples=150, deadline=None)
@given(
    words=texts,
    numbers=integers,
    labels=st.lists(st.sampled_from(TRICKY), min_size=1, max_size=6, unique=True),
    cut=st.integers(0, 5),
    kind=st.sampled_from([pa.int64(), pa.int32(), pa.int8(), pa.uint32()]),
)
def test_the_csv_length_worked_out_is_the_length_written(words, numbers, labels, cut, kind):
    """Texts (quotes, line breaks, Chinese, empty, missing), integers of every size and
    sign (missing too), dictionary columns (a missing index), sliced and chunked columns:
    csv_rows_length is the number of bytes Arrow's writer writes."""
    n = min(len(words), len(numbers))
    words, numbers = words[:n], numbers[:n]
    if kind != pa.int64():
        info = np.iinfo(kind.to_pandas_dtype())
        numbers = [None if v is None else int(np.clip(v, info.min, info.max)) for v in numbers]
    index = [None if k % 5 == 3 else k % len(labels) for k in range(n)]
    table = pa.table(
        {
            "text": pa.array(words, pa.string()),
            "large": pa.array(words, pa.large_string()),
            "count": pa.array(numbers, kind),
            "label": pa.DictionaryArray.from_arrays(pa.array(index, pa.int32()), labels),
        }
    )
    for t in (table, table.slice(min(cut, n)), pa.concat_tables([table, table.slice(cut)])):
        assert writers.csv_rows_length(t) == len(written_rows(t))


def test_a_missing_text_that_spans_bytes_is_counted_as_written():
    """A null slot may span bytes in Arrow's buffers (here made so): the writer writes it as
    nothing, and so does the length."""
    values = pa.array(['a"b', "hidden", "c"])
    buffers = values.buffers()
    validity = pa.py_buffer(np.packbits([1, 0, 1], bitorder="little").tobytes())
    holed = pa.Array.from_buffers(pa.string(), 3, [validity, buffers[1], buffers[2]], 1)
    table = pa.table({"t": holed, "n": pa.array([1, None, -22])})
    assert written_rows(table) == b'"a""b",1\n,\n"c",-22\n'
    assert writers.csv_rows_length(table) == len(written_rows(table))


def test_a_column_whose_text_is_not_worked_out_gives_no_length():
    assert writers.csv_rows_length(pa.table({"x": pa.array([1.5, None])})) is None
    assert writers.csv_rows_length(pa.table({"x": pa.array([True])})) is None
    assert writers.csv_rows_length(pa.table({"x": pa.array([2**64 - 1], pa.uint64())})) is None
    assert writers.csv_rows_length(pa.table({"x": pa.array([], pa.string())})) == 0
