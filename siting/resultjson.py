"""The batch answer's results as JSON bytes (SPEC section 4), a window of sites at a time,
built column by column instead of one dict per site.

What many results share (a rule's citation, its counted fields, a status word, a category
list) is serialised once; each evaluation's numbers and explanation once; a site's JSON is
then one join of those pieces. The bytes are those of `orjson.dumps(answer.result(i))` for
every site - with `text` given (e.g. the Chinese message catalogue's `one`), those of
`labels.localise_results` - and tests/test_resultjson.py holds the two equal. Per-site Python
remains only where a site has notes, several categories, is invalid or carries a map
classification.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import orjson

from siting import statuses as st
from siting.check import BatchAnswer, classification_rows
from siting.notes import Note

Text = Callable[[str], str]

_dumps = orjson.dumps
_NULL = b"null"
_INVALID_HEAD = (
    b'"rule_id":null,"basis_spaces":null,"ratio":null,"required_spaces":null,'
    b'"provided_spaces":null,"shortfall":null,"counted":[],"citation":null,"explanation":'
)


def _numbers(values: np.ndarray) -> list[bytes]:
    """An int64 column where -1 means none -> each value as JSON (a number, or null)."""
    if not len(values):
        return []
    parts: list[bytes] = _dumps(values, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].split(b",")
    for k in np.flatnonzero(values < 0).tolist():
        parts[k] = _NULL
    return parts


def _codes(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct keys, each row's index into them)."""
    distinct, inverse = np.unique(keys, return_inverse=True)
    return distinct, inverse.reshape(-1)


class ResultJSON:
    """`chunk(start, stop)`: the JSON of results start..stop-1, comma-separated (without the
    enclosing brackets), as `orjson.dumps([answer.result(i) ...])[1:-1]` gives them."""

    def __init__(self, answer: BatchAnswer, text: Text | None = None) -> None:
        self.answer = answer
        self.text = text
        pack, e = answer.pack, answer.evals
        fields = answer._rule_fields
        # Per rule, index r + 1 (0: an evaluation without a rule).
        rid = [_NULL] + [_dumps(f["rule_id"]) for f in fields]
        strength = [_NULL] + [_dumps(f["strength"]) for f in fields]
        basis_field = [_NULL] + [_dumps(f["basis_field"]) for f in fields]
        tail = [b',"counted":[],"citation":null,"explanation":'] + [
            b',"counted":'
            + _dumps(f["counted"])
            + b',"citation":'
            + _dumps(f["citation"])
            + b',"explanation":'
            for f in fields
        ]
        self._head_pre = [b'"rule_id":' + r + b',"basis_spaces":' for r in rid]
        cats = [_NULL] + [_dumps(c) for c in pack.category_ids]
        self._cat_list = [_dumps([c]) for c in pack.category_ids]
        self._status = [
            b'"status":' + _dumps(s) + b',"status_zh":' + _dumps(st.LABEL_ZH[s]) for s in st.ORDER
        ]
        n_eval = len(e)
        r1 = e.rule + 1
        # Prefix of an evaluation up to its basis_spaces, per (rule, category, status).
        key = (r1 * (len(cats) + 1) + (e.cat + 1)) * len(st.ORDER) + e.status
        distinct, inverse = _codes(key)
        prefixes = []
        for kv in distinct.tolist():
            rest, s = divmod(kv, len(st.ORDER))
            r, c = divmod(rest, len(cats) + 1)
            prefixes.append(
                b'{"rule_id":'
                + rid[r]
                + b',"category":'
                + cats[c]
                + b","
                + self._status[s]
                + b',"strength":'
                + strength[r]
                + b',"basis_field":'
                + basis_field[r]
                + b',"basis_spaces":'
            )
        self._eval_pre = [prefixes[j] for j in inverse.tolist()]
        # The ratio, per (rule, table row).
        trow = np.where(e.rule >= 0, e.table_row + 1, 0)  # 0: the rule's own ratio
        width = int(trow.max(initial=0)) + 1
        distinct, inverse = _codes(r1 * width + trow)
        ratios = []
        for kv in distinct.tolist():
            r, t = divmod(kv, width)
            if r == 0:
                ratio = None
            else:
                f = fields[r - 1]
                ratio = f["table_ratios"][t - 1] if t > 0 else f["ratio"]
            ratios.append(b',"ratio":' + _dumps(ratio) + b',"required_spaces":')
        self._ratio = [ratios[j] for j in inverse.tolist()]
        self._tail = [tail[r] for r in r1.tolist()]
        self._provided = np.where(e.rule >= 0, e.provided, -1)
        self._rule1 = r1.tolist()
        self._eval_has_notes = answer._eval_notes.present(n_eval)
        self._eval_notes_before = np.concatenate(([0], np.cumsum(self._eval_has_notes)))
        self._site_has_notes = answer.table.notes.present(int(answer.table.n))
        self._explained: dict[str, bytes] = {}
        self._notes: dict[tuple[str, str], bytes] = {}

    # ------------------------------------------------------------------ notes
    def _note(self, note: Any) -> bytes:
        """One note as JSON, its message in the output's language (made once per text)."""
        key = (note.level, note.message)
        done = self._notes.get(key)
        if done is None:
            message = self.text(note.message) if self.text is not None else note.message
            done = self._notes[key] = _dumps({"level": note.level, "message": message})
        return done

    def _note_list(self, notes: list[Any], dedupe: bool = False) -> bytes:
        if dedupe:  # a note said twice (by two evaluations, or the site and one) shown once
            notes = list({(n.level, n.message): n for n in notes}.values())
        return b"[" + b",".join(self._note(n) for n in notes) + b"]"

    def _explanation(self, value: Any) -> bytes:
        if self.text is None or not isinstance(value, str):
            return _dumps(value)
        done = self._explained.get(value)
        if done is None:
            done = self._explained[value] = _dumps(self.text(value))
        return done

    # ------------------------------------------------------------------ sites
    def chunk(self, start: int, stop: int) -> bytes:
        a, t, e = self.answer, self.answer.table, self.answer.evals
        stop = min(stop, int(t.n))
        if stop <= start:
            return b""
        s = a.sites
        # The evaluations of these sites (sorted by site): their pieces, column by column.
        k_lo, k_hi = np.searchsorted(e.site, [start, stop]).tolist()
        rng = slice(k_lo, k_hi)
        basis = _numbers(e.basis[rng])
        required = _numbers(e.required[rng])
        provided = _numbers(self._provided[rng])
        shortfall = _numbers(e.shortfall[rng])
        explain = self._explanation
        texts = [explain(x) for x in a._explanations[rng].tolist()]
        ratio, tail = self._ratio, self._tail

        # Each evaluation from basis_spaces to its explanation (shared with the headline).
        mid = [
            b"".join(piece)
            for piece in zip(
                basis,
                ratio[k_lo:k_hi],
                required,
                [b',"provided_spaces":'] * (k_hi - k_lo),
                provided,
                [b',"shortfall":'] * (k_hi - k_lo),
                shortfall,
                tail[k_lo:k_hi],
                texts,
                strict=True,
            )
        ]
        status = s.status[start:stop]
        first, last, primary = s.start[start:stop], s.stop[start:stop], s.primary[start:stop]
        offsets = np.asarray(a._site_columns["pair_offsets"][start : stop + 1], np.int64)
        n_cats = np.diff(offsets)
        before = self._eval_notes_before
        own_notes = self._site_has_notes[start:stop]
        eval_notes = np.zeros(stop - start, dtype=bool)
        valid = status != st.INVALID
        eval_notes[valid] = before[last[valid]] > before[first[valid]]
        # The usual site: valid, one evaluation, one category, no notes, no classification.
        plain = valid & (last - first == 1) & (n_cats == 1) & ~own_notes & ~eval_notes
        if a.classification is not None:
            plain[:] = False
        ids = [_dumps(v) for v in t.id_values[start:stop].tolist()]
        rows = _numbers(np.asarray(t.row_numbers[start:stop], dtype=np.int64))
        pair_cat = t.pair_cat[offsets[0] : offsets[-1]]
        out: list[bytes] = [b""] * (stop - start)
        at = np.flatnonzero(plain)
        if len(at):
            heads = primary[at]
            local = (heads - k_lo).tolist()
            status_at = status[at].tolist()
            cats = pair_cat[offsets[at] - offsets[0]].tolist()
            head_pre, eval_pre, rule1 = self._head_pre, self._eval_pre, self._rule1
            for j, piece in zip(
                at.tolist(),
                zip(
                    [b'{"id":'] * len(at),
                    [ids[j] for j in at.tolist()],
                    [b',"row":'] * len(at),
                    [rows[j] for j in at.tolist()],
                    [b","] * len(at),
                    [self._status[x] for x in status_at],
                    [b',"categories":'] * len(at),
                    [self._cat_list[c] for c in cats],
                    [b","] * len(at),
                    [head_pre[rule1[x]] for x in heads.tolist()],
                    [mid[x] for x in local],
                    [b',"notes":[],"evaluations":['] * len(at),
                    [eval_pre[x] for x in heads.tolist()],
                    [mid[x] for x in local],
                    [b',"notes":[]}]}'] * len(at),
                    strict=True,
                ),
                strict=True,
            ):
                out[j] = b"".join(piece)
        eval_notes_of = a._eval_notes.window(k_lo, k_hi) if before[k_hi] > before[k_lo] else None
        own_notes_of = a.table.notes.window(start, stop) if own_notes.any() else None
        classes = (
            classification_rows(a.classification, start, stop)
            if a.classification is not None
            else None
        )
        for j in np.flatnonzero(~plain).tolist():
            i = start + j
            o0, o1 = int(offsets[j] - offsets[0]), int(offsets[j + 1] - offsets[0])
            site = [b'{"id":', ids[j], b',"row":', rows[j], b",", self._status[int(status[j])]]
            site += [b',"categories":']
            site += [_dumps([a.pack.category_ids[c] for c in pair_cat[o0:o1].tolist()]), b","]
            if status[j] == st.INVALID:
                own = own_notes_of[j] if own_notes_of is not None else []
                site.append(self._invalid(i, own))
            else:
                k0, k1, p = int(first[j]), int(last[j]), int(primary[j])
                site += [self._head_pre[self._rule1[p]], mid[p - k_lo], b',"notes":']
                if own_notes[j] or eval_notes[j]:
                    own = own_notes_of[j] if own_notes_of is not None else []
                    said = [*own]
                    if eval_notes_of is not None:
                        for k in range(k0, k1):
                            said += eval_notes_of[k - k_lo]
                    site.append(self._note_list(said, dedupe=k1 - k0 > 1 or bool(own)))
                else:
                    site.append(b"[]")
                site.append(b',"evaluations":[')
                for k in range(k0, k1):
                    if k > k0:
                        site.append(b",")
                    site += [self._eval_pre[k], mid[k - k_lo], b',"notes":']
                    if eval_notes_of is not None and self._eval_has_notes[k]:
                        site.append(self._note_list(eval_notes_of[k - k_lo]))
                    else:
                        site.append(b"[]")
                    site.append(b"}")
                site.append(b"]")
            if classes is not None:
                site += [b',"classification":', _dumps(classes[j])]
            site.append(b"}")
            out[j] = b"".join(site)
        return b",".join(out)

    def _invalid(self, i: int, own: list[Any]) -> bytes:
        a = self.answer
        notes = [Note("error", p) for p in a.table.errors.get(i, [])] + own
        return (
            _INVALID_HEAD
            + self._explanation(a._invalid_explanation(i))
            + b',"notes":'
            + self._note_list(notes)
            + b',"evaluations":[]'
        )
