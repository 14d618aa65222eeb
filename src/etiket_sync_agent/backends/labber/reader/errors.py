"""Errors of the Labber reader."""

from __future__ import annotations

HINT = "only Labber logs (*.hdf5 written by Labber) are synchronized; fix or move the file"


class LabberReadError(Exception):
    """A Labber file cannot be read. ``retryable``: another attempt may work (the file
    was changing while it was read); otherwise the file itself is the problem."""

    def __init__(self, message: str, *, retryable: bool = False, hint: str | None = HINT) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.hint = hint


class NotALabberLog(LabberReadError):
    """The file is not a Labber log (another format, empty, damaged or a look-alike)."""


class LabberFormatError(LabberReadError):
    """A Labber log whose structure does not add up (e.g. columns without names)."""
