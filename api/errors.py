"""The project's own error types: every failure a user can cause ends in one of these."""

from __future__ import annotations


class RcodecError(Exception):
    """A failure to report to the user as one line (the CLI prints it and exits non-zero)."""


class FormatError(RcodecError):
    """A file is malformed, truncated, of the wrong kind, or claims an absurd size."""


class EncodeError(RcodecError):
    """An image cannot be encoded with the options given."""


class BudgetError(RcodecError):
    """A rate or decode-time budget cannot be met."""


def in_file(path: object, error: RcodecError) -> RcodecError:
    """Return an error of the same type whose message names the file it is about."""
    return type(error)(f"{path}: {error}")
