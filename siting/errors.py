"""Exceptions that carry a message a user can act on."""


class SitingError(Exception):
    """Base class: the message names the file, row, field or feature and what is wrong."""


class RulePackError(SitingError):
    """A rule pack (or a mapping or alias file) breaks its schema or is inconsistent."""


class InputError(SitingError):
    """An input file or request cannot be used at all (the CLI exits 2, the API answers 4xx)."""

    def __init__(self, message: str, *, status_code: int = 422):
        super().__init__(message)
        self.status_code = status_code
