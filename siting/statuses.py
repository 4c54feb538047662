"""Status words, their order (worst last) and their Chinese labels. The one place a status's
rank is decided; `evaluate.py` decides which status each evaluation gets."""

from __future__ import annotations

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

LABEL_ZH = {
    "pass": "达标",
    "fail": "不达标",
    "advisory": "倡导性要求",
    "needs_review": "需复核",
    "not_applicable": "不适用",
    "insufficient_data": "信息不足",
    "invalid": "数据无效",
}
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
