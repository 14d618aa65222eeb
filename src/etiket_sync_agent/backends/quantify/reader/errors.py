"""Errors raised by the Quantify reader (they join the agent's tree via DatasetError)."""

from __future__ import annotations

from etiket_sync_agent.errors import DatasetError


class QuantifyFormatError(DatasetError):
    """A file is not a readable Quantify/NetCDF dataset. Not retryable: the same bytes
    give the same answer (a rewritten file gets a new fingerprint and a new attempt)."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint, retryable=False)


class FileBusyError(DatasetError):
    """A file kept changing while it was copied (the writer rewrites it). Retryable."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(
            message, hint or "the measurement is writing it; the agent retries", retryable=True
        )


class FileVanishedError(DatasetError):
    """A file disappeared while it was being read. Retryable (it may come back)."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(
            message, hint or "the file was moved or deleted while syncing", retryable=True
        )
