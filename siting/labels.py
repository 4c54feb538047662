"""Answers in the reader's language (`--lang zh|en`), from the message catalogue
(`rules/shared/messages.yaml`, siting.messages) and the pack's own Chinese names.

- `resolve_lang`: the language of an output: the one given, else Chinese when most of the
  input's column names are Chinese (the column report knows them), else English. Map layers
  and JSON follow only a language given explicitly (`explicit_only`).
- `localise_frame`: the flat result table in that language: result column names, status
  labels, category names, what a rule counts, the citation with the plan's own clause, and the
  explanation, notes and evaluations texts (`Texts`). The input's own columns come back as they
  were (named as in the file; a name a result column already has gets `原表_` / `input_` in
  front). English is the table as `BatchAnswer.frame()` makes it.
- `Texts`: English texts in Chinese by the catalogue's `texts_zh` rules, then field names,
  category ids and status words. Many texts differ only in their numbers, so each text's
  digits are set aside, every distinct remaining template is translated once (in Python), and
  the numbers are put back by Arrow: a million explanations cost a few array passes, not a
  million regular-expression runs. A translation that would lose or add a number is not used
  (that text is translated whole instead).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, cached_property, lru_cache
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from siting import statuses as st
from siting.messages import Lang, Messages, load_messages
from siting.ruleset import RulePack
from siting.textcols import TEXT

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_DIGITS = re.compile(r"[0-9]+")


def is_chinese(text: str) -> bool:
    return bool(_CJK.search(text))


def input_lang(answer: Any) -> Lang:
    """'zh' when at least half of the input's column names (the column report's) hold
    Chinese characters, else 'en'."""
    report = getattr(answer, "columns", None)
    if report is None:
        return "en"
    names = [u.column for u in report.used] + [u.column for u in report.unused]
    if not names:
        return "en"
    chinese = sum(1 for n in names if is_chinese(str(n)))
    return "zh" if 2 * chinese >= len(names) else "en"


def resolve_lang(lang: str | None, answer: Any = None, *, explicit_only: bool = False) -> Lang:
    """The language of an output: `lang` when given; otherwise English for outputs that
    follow only an explicit --lang (JSON texts, map layers), else the input's language."""
    if lang in ("en", "zh"):
        return "zh" if lang == "zh" else "en"
    if explicit_only or answer is None:
        return "en"
    return input_lang(answer)


# ----------------------------------------------------------------------------- texts


class Texts:
    """Translates English result texts into Chinese (see the module's docstring)."""

    def __init__(self, pack: RulePack | None, messages: Messages | None = None) -> None:
        self.messages = messages or load_messages()

        def compiled(pairs: Iterable[tuple[str, str]]) -> list[tuple[re.Pattern[str], str]]:
            return [(re.compile(p, re.ASCII), r) for p, r in pairs]

        rules = compiled(self.messages.texts_zh)
        # then the words the rules leave: field names, category ids (not inside a rule id such
        # as gx-3.3.2-residential-new), status words
        words = {name: w.zh for name, w in self.messages.fields.items()}
        if pack is not None:
            words.update({c.id: c.name_zh for c in pack.categories if c.name_zh})
        for name in sorted(words, key=len, reverse=True):
            rules.append((re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])"), words[name]))
        for s in sorted(st.ORDER, key=len, reverse=True):
            rules.append((re.compile(rf"=\b{s}\b"), "=" + st.LABEL_ZH[s]))
        rules += compiled(self.messages.texts_zh_after)
        self.rules = rules
        self.one = lru_cache(maxsize=1 << 16)(self._one)

    def _one(self, text: str) -> str:
        """One English text in Chinese."""
        for pattern, replacement in self.rules:
            text = pattern.sub(replacement, text)
        return text

    def template(self, template: str) -> list[str] | None:
        """A template (digits as 0) translated and cut at its numbers; None when the
        translation does not keep the numbers, one for one."""
        out = self.one(template)
        pieces = _DIGITS.split(out)
        return pieces if len(pieces) == len(_DIGITS.split(template)) else None

    def array(self, values: pa.Array | pa.ChunkedArray) -> pa.Array:
        """Every text of an Arrow text array translated (nulls stay null)."""
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        values = values.cast(pa.string())
        if len(values) == 0:
            return values
        if len(values) <= 64:  # a few texts: one by one
            return pa.array(
                [None if v is None else self.one(v) for v in values.to_pylist()], pa.string()
            )
        templates = pc.replace_substring_regex(values, "[0-9]+", "0").dictionary_encode()
        distinct = templates.dictionary.to_pylist()
        translated = [self.template(t) for t in distinct]
        codes = pc.fill_null(templates.indices, -1).to_numpy(zero_copy_only=False)
        codes = codes.astype(np.int64)
        whole = np.array([p is None for p in translated] + [False])[codes]
        out = self._with_numbers(values, codes, translated)
        if whole.any():  # templates whose translation moved numbers: text by text
            rows = np.flatnonzero(whole)
            texts = [self.one(v) for v in values.take(pa.array(rows)).to_pylist()]
            from siting.textcols import place_texts

            out = place_texts(len(values), [(rows, texts)], base=out)
        return out

    def _with_numbers(
        self, values: pa.Array, codes: np.ndarray, translated: list[list[str] | None]
    ) -> pa.Array:
        """Each row's translated template pieces with its own numbers put back between them:
        piece 0, number 0, piece 1, ..., piece k (a null row: null)."""
        n = len(values)
        pieces = [p if p is not None else [""] for p in translated]
        k_of = np.array([len(p) - 1 for p in pieces] + [0], np.int64)  # numbers per template
        piece_start = np.concatenate(([0], np.cumsum([len(p) for p in pieces]))).astype(np.int64)
        flat_pieces = pa.array([x for p in pieces for x in p] + [""], pa.string())
        valid = codes >= 0
        k = np.where(valid, k_of[codes], 0)
        # the row's digit runs: the text split at non-digits, without the empty first part
        # of a text that starts with a non-digit
        parts = pc.split_pattern_regex(values, "[^0-9]+")
        offsets = parts.offsets.to_numpy().astype(np.int64)
        first = pc.utf8_slice_codeunits(values, 0, 1)
        lead = pc.fill_null(pc.match_substring_regex(first, "^[^0-9]"), False)
        num_start = offsets[:-1] - offsets[0] + lead.to_numpy(zero_copy_only=False)
        numbers = parts.flatten().cast(pa.string())
        width = np.where(valid, 2 * k + 1, 1)
        row_start = np.concatenate(([0], np.cumsum(width))).astype(np.int64)
        total = int(row_start[-1])
        row = np.repeat(np.arange(n, dtype=np.int64), width)
        j = np.arange(total, dtype=np.int64) - row_start[:-1][row]
        is_number = (j % 2 == 1) & valid[row]
        piece_index = np.where(
            valid[row], piece_start[np.maximum(codes, 0)][row] + j // 2, len(flat_pieces) - 1
        )
        index = np.where(is_number, len(flat_pieces) + num_start[row] + j // 2, piece_index)
        pool = pa.concat_arrays([flat_pieces, numbers])
        items = pool.take(pa.array(index))
        if total < 2**31:
            lists = pa.ListArray.from_arrays(pa.array(row_start.astype(np.int32)), items)
        else:  # pragma: no cover - over 2 billion pieces
            lists = pa.LargeListArray.from_arrays(pa.array(row_start), items)
        joined = pc.binary_join(lists, "")
        return pc.if_else(pa.array(valid), joined, pa.nulls(n, pa.string()))


@cache
def texts_for(pack: RulePack | None) -> Texts:
    return Texts(pack)


# ----------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class Split:
    """A result frame's columns: the result's (SPEC names) and the input's (as named there)."""

    result: list[str]
    inputs: list[tuple[str, str]]  # (name in the frame, name in the input file)


def split_columns(frame: pd.DataFrame) -> Split:
    from siting.check import RESULT_COLUMNS

    messages = load_messages()
    names = [str(c) for c in frame.columns]
    width = len(RESULT_COLUMNS) if names[: len(RESULT_COLUMNS)] == list(RESULT_COLUMNS) else 0
    while (
        width < len(names)
        and names[width].startswith("class_")
        and (names[width] in messages.columns)
    ):
        width += 1
    prefix = "input_"
    inputs = []
    for c in frame.columns[width:]:
        name = str(c)
        original = name[len(prefix) :] if name.startswith(prefix) else name
        inputs.append((c, original if original in names[:width] else name))
    return Split(list(frame.columns[:width]), inputs)


class Localiser:
    """The flat result table of an answer in one language."""

    def __init__(self, pack: RulePack | None, lang: Lang) -> None:
        self.pack, self.lang = pack, lang
        self.messages = load_messages()

    @cached_property
    def texts(self) -> Texts:
        return texts_for(self.pack)

    def category_name(self, cat_id: str) -> str:
        if self.lang != "zh" or self.pack is None:
            return cat_id
        for c in self.pack.categories:
            if c.id == cat_id:
                return c.name_zh or cat_id
        return cat_id

    def categories_text(self, text: str) -> str:
        """'hospital;hotel' -> '医院；宾馆'."""
        if not text:
            return text
        sep = self.messages.category_separator(self.lang)
        return sep.join(self.category_name(c) for c in text.split(";"))

    def counted_text(self, text: str) -> str:
        sep = self.messages.counted_separator(self.lang)
        return sep.join(self.messages.field_label(f, self.lang) for f in text.split("+") if f)

    def citation_text(self, rule_id: str) -> str | None:
        """The citation of a rule in Chinese: the document, its section and the plan's own
        clause."""
        if self.pack is None:
            return None
        for r in self.pack.rules:
            if r.id == rule_id:
                c = r.citation
                document = c.document or self.pack.source.title
                section = self.texts.one(c.section) if c.section else ""
                head = f"{document} {section}".strip()
                return f"{head}：{c.clause}" if c.clause else head
        return None

    def frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The frame (as `BatchAnswer.frame()` makes it) in this language."""
        if self.lang == "en":
            return frame
        split = split_columns(frame)
        data: dict[str, Any] = {}
        for name in split.result:
            label = self.messages.column(name, "zh")
            if label is None:
                continue
            if name == "citation" and "rule_id" in frame.columns:
                data[label] = _map_distinct(frame["rule_id"], self.citation_text)
            else:
                data[label] = self._values(name, frame[name])
        taken = set(data)
        prefix = self.messages.input_prefix("zh")
        for name, original in split.inputs:
            label = original if original not in taken else prefix + original
            data[label] = frame[name]
        out = pd.DataFrame(data)
        out.index = frame.index
        return out

    def _values(self, name: str, col: pd.Series) -> pd.Series:
        if name == "status":
            labels = dict(zip(st.ORDER, [st.LABEL_ZH[s] for s in st.ORDER], strict=True))
            return _map_distinct(col, labels.get)
        if name in ("categories", "class_context_category"):
            return _map_distinct(col, self.categories_text)
        if name == "counted":
            return _map_distinct(col, self.counted_text)
        if name in ("explanation", "notes", "evaluations", "ratio", "class_confidence_reason"):
            return _text_series(self.texts.array(_arrow(col)))
        return col


def localise_frame(frame: pd.DataFrame, answer: Any, lang: Lang) -> pd.DataFrame:
    """`answer`'s flat result table `frame` in `lang` (see Localiser)."""
    return Localiser(getattr(answer, "pack", None), lang).frame(frame)


class _LocalisedAnswer:
    """An answer whose `frame()` is in another language (for writers that take an answer,
    such as the map layers'); everything else is the answer's own."""

    def __init__(self, answer: Any, lang: Lang) -> None:
        self._answer, self._lang = answer, lang

    def frame(self, keep_input: bool = True) -> pd.DataFrame:
        return localise_frame(self._answer.frame(keep_input), self._answer, self._lang)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._answer, name)


def localised_answer(answer: Any, lang: str | None) -> Any:
    """`answer` with its flat table in `lang` when a language is given (map layers change
    their field names only then), else `answer` itself."""
    if lang not in ("en", "zh") or lang == "en":
        return answer
    return _LocalisedAnswer(answer, "zh")


def localise_results(results: list[dict[str, Any]], pack: RulePack | None) -> list[dict[str, Any]]:
    """JSON results with their explanation and note texts in Chinese (every key and status
    word unchanged)."""
    one = texts_for(pack).one

    def notes(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**n, "message": one(n["message"])} for n in items]

    def result(r: dict[str, Any]) -> dict[str, Any]:
        out = dict(r)
        if isinstance(out.get("explanation"), str):
            out["explanation"] = one(out["explanation"])
        if out.get("notes"):
            out["notes"] = notes(out["notes"])
        if out.get("evaluations"):
            out["evaluations"] = [result(e) for e in out["evaluations"]]
        return out

    return [result(r) for r in results]


# ----------------------------------------------------------------------------- helpers


def _arrow(col: pd.Series) -> pa.Array:
    array = col.array
    arrow = getattr(array, "_pa_array", None)
    if arrow is not None:
        arrow = arrow.combine_chunks() if isinstance(arrow, pa.ChunkedArray) else arrow
        return arrow.cast(pa.string()) if pa.types.is_dictionary(arrow.type) else arrow
    values = col.to_numpy(dtype=object)
    return pa.array([None if _missing(v) else str(v) for v in values], pa.string())


def _missing(v: Any) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and v != v)


def _text_series(values: pa.Array) -> pd.Series:
    return pd.Series(values, dtype=TEXT)


def _map_distinct(col: pd.Series, func: Any) -> pd.Series:
    """A text column with `func` applied to each distinct value once (missing stays missing).
    A dictionary column stays one, its labels mapped."""
    arrow = getattr(col.array, "_pa_array", None)
    if arrow is not None and pa.types.is_dictionary(arrow.type):
        array = arrow.combine_chunks() if isinstance(arrow, pa.ChunkedArray) else arrow
        labels = pa.array([func(v) for v in array.dictionary.to_pylist()], pa.string())
        mapped = pa.DictionaryArray.from_arrays(array.indices, labels)
        return pd.Series(pd.arrays.ArrowExtensionArray(mapped), index=col.index)
    encoded = _arrow(col).dictionary_encode()
    distinct = encoded.dictionary.to_pylist()
    mapped = pa.array([func(v) for v in distinct], pa.string())
    out = _text_series(mapped.take(encoded.indices))
    out.index = col.index
    return out


__all__ = [
    "Localiser",
    "Texts",
    "input_lang",
    "is_chinese",
    "localise_frame",
    "localise_results",
    "localised_answer",
    "resolve_lang",
    "split_columns",
    "texts_for",
]
