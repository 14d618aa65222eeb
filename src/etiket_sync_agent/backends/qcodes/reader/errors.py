"""Errors raised by the QCoDeS database reader.

They join the agent's one exception tree through :class:`DatasetError`, so the engine
records them on the item (or the source, for :func:`validate_database`) and decides from
``retryable`` whether another attempt can help.
"""

from __future__ import annotations

from etiket_sync_agent.errors import DatasetError


class QCoDeSFormatError(DatasetError):
    """The file is not a (readable) QCoDeS database, or one run in it is malformed.

    Not retryable: reading the same bytes again gives the same answer.
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint, retryable=False)


class QCoDeSRunNotFoundError(QCoDeSFormatError):
    """The requested run id or GUID does not exist in the database."""


class QCoDeSDatabaseBusy(DatasetError):
    """The database is locked by a writer for longer than we are willing to wait.

    Retryable: the writer will release its lock; try again later.
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(
            message,
            hint or "the acquisition software is writing; the agent retries later",
            retryable=True,
        )


class QCoDeSRunTooLarge(QCoDeSFormatError):
    """A run holds more array or text data than the memory limit allows to convert.

    Numeric runs over the limit are streamed as flat columns instead; only runs whose
    values must be decoded row by row (arrays, complex numbers, text) end here.
    """
