"""How names and values that people type are compared: one fold for every lookup.

A category name, a header, a city or a value such as 是 / 4Ａ / 1.0 is looked up by its folded
form, so that case, spaces and full-width forms do not matter. Every table that maps typed
text (the pack's category names and aliases, the alias table's headers and values, the
mappings' names) folds with these two functions, and nothing else folds text.
"""

from __future__ import annotations

import unicodedata


def fold_name(name: object) -> str:
    """Case-, space- and width-insensitive key for names users type (NFKC folds full-width
    letters, digits and brackets: ４Ａ -> 4a, （ -> ()."""
    return "".join(unicodedata.normalize("NFKC", str(name)).split()).casefold()


def fold_value(v: object) -> str:
    """A value as users write it -> a lookup key: folded as a name, booleans as true/false,
    and whole numbers stored as floats (1.0 from a shapefile, whose DBF has no boolean or
    integer-only type) as the integer."""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    text = fold_name(str(v))
    if text.endswith(".0") and text[:-2].lstrip("-").isdigit():
        return text[:-2]
    return text
