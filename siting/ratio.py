"""Exact ratios and rounding: the law's percentages as integers and fractions, never floats."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np


def parse_ratio(value: object) -> Fraction:
    """'20%', '1/5', '0.2', 0.2 or 1 -> an exact Fraction in [0, 1]... or above for 'per space'."""
    if isinstance(value, bool):
        raise ValueError("a ratio cannot be true/false")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        # YAML gives floats for 0.55; their shortest repr is the decimal the author wrote.
        return Fraction(repr(value))
    if not isinstance(value, str):
        raise ValueError(f"a ratio must be text like '20%' or '1/5', not {type(value).__name__}")
    text = value.strip().replace("％", "%")
    try:
        if text.endswith("%"):
            return Fraction(text[:-1].strip()) / 100
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"{value!r} is not a ratio (write '20%', '1/5' or '0.2')") from None


def format_ratio(ratio: Fraction) -> str:
    """20% when the percentage is a terminating decimal, otherwise the fraction (1/3)."""
    pct = ratio * 100
    den = pct.denominator
    while den % 2 == 0:
        den //= 2
    while den % 5 == 0:
        den //= 5
    if den != 1:
        return f"{ratio.numerator}/{ratio.denominator}"
    if pct.denominator == 1:
        return f"{pct.numerator}%"
    digits = 0
    while (pct * 10**digits).denominator != 1:
        digits += 1
    return f"{float(pct):.{digits}f}%"


def apply_ratio(ratio: Fraction, basis: np.ndarray, rounding: str = "ceil") -> np.ndarray:
    """ratio x basis rounded as the pack states, in exact integer arithmetic on int64 arrays."""
    num = np.int64(ratio.numerator) * basis.astype(np.int64)
    required: np.ndarray = rounded_quotient(num, np.int64(ratio.denominator), rounding)
    return required


def rounded_quotient(num: Any, den: Any, rounding: str) -> Any:
    """num / den rounded as the pack states, in integer arithmetic: the same expressions
    serve int64 arrays (`apply_ratio`) and Python ints (siting/scalar.py, one site)."""
    if rounding == "ceil":
        return -((-num) // den)
    if rounding == "floor":
        return num // den
    if rounding == "half_up":
        return (2 * num + den) // (2 * den)
    raise ValueError(f"unknown rounding {rounding!r}")


def rounding_symbol(rounding: str) -> str:
    return {"ceil": "ceil", "floor": "floor", "half_up": "round"}[rounding]
