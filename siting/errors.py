"""Exceptions that carry a message a user can act on.

One class per kind of unusable input, without any notion of HTTP: the CLI exits 2 on every
`InputError`, and the HTTP layer (`api/problems.py`) maps each kind to a status.
"""


class SitingError(Exception):
    """Base class: the message names the file, row, field or feature and what is wrong."""


class RulePackError(SitingError):
    """A rule pack (or a mapping or alias file) breaks its schema or is inconsistent."""


class InputError(SitingError):
    """An input file or request cannot be used at all (the CLI exits 2, the API answers 4xx).

    Raised as it is for what has no kind of its own (two columns naming one field, an
    `as_of` before the pack's validity, a layer without a CRS, ...)."""

    kind = "input"


class InputNotFound(InputError):
    """A named file (or a layer or sheet in it) does not exist."""

    kind = "not_found"


class InputTooLarge(InputError):
    """Too many records, or a file (an archive member, a workbook, an attribute table) that
    would expand beyond a limit (`siting.io.limits`)."""

    kind = "too_large"


class UnsupportedFormat(InputError):
    """A file type the tool does not read (by its extension)."""

    kind = "unsupported_format"


class BrokenFile(InputError):
    """A file of a supported type that cannot be read: corrupt, truncated, not what its
    extension says, in an unknown text encoding, ..."""

    kind = "broken_file"


class InvalidOption(InputError):
    """An option given with the input is unusable (a CRS, an offset, NAME=VALUE, a format)."""

    kind = "invalid_option"
