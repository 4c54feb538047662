"""Status words, their order (worst last) and their Chinese labels. The one place a status's
rank is decided; `evaluate.py` decides which status each evaluation gets."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cached_property

# Rank order, least severe first: a site's status is the highest rank among its evaluations.
ORDER = (
    "not_applicable",
    "pass",
    "advisory",
    "insufficient_data",
    "needs_review",
    "fail",
    "invalid",
)
RANK = {s: i for i, s in enumerate(ORDER)}
NOT_APPLICABLE, PASS, ADVISORY, INSUFFICIENT, NEEDS_REVIEW, FAIL, INVALID = range(len(ORDER))


class _StatusLabels(Mapping[str, str]):
    """The Chinese label of each status word, read (on first use) from the message catalogue
    `rules/shared/messages.yaml` (`statuses:`), where every word siting writes for people is."""

    @cached_property
    def _labels(self) -> dict[str, str]:
        from siting.messages import load_messages

        return {s: w.zh for s, w in load_messages().statuses.items()}

    def __getitem__(self, status: str) -> str:
        return self._labels[status]

    def __iter__(self) -> Iterator[str]:
        return iter(self._labels)

    def __len__(self) -> int:
        return len(self._labels)


LABEL_ZH: Mapping[str, str] = _StatusLabels()
# Order in which summaries list statuses (as SPEC section 2 lists them).
SUMMARY_ORDER = (
    "pass",
    "fail",
    "advisory",
    "needs_review",
    "not_applicable",
    "insufficient_data",
    "invalid",
)


def label(status: str) -> str:
    return f"{LABEL_ZH[status]} {status}"
