"""The one exception tree of the agent.

Everything a user can cause derives from :class:`EtiketSyncError` and carries a ``hint``
telling them what to do next. The CLI turns these into one red line and an exit code
(see ``cli/app.py``); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


def error_line(exc: BaseException) -> str:
    """One line describing ``exc`` for status displays (with the hint, if any), with
    passwords in URLs and connection strings blanked (errors quote them)."""
    from etiket_sync_agent.plugins.config import redact_text  # it imports this module

    if isinstance(exc, EtiketSyncError):
        return redact_text(exc.message + (f" (hint: {exc.hint})" if exc.hint else ""))
    return redact_text(f"{type(exc).__name__}: {exc}")


class EtiketSyncError(Exception):
    """A problem the user can act on."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class ConfigError(EtiketSyncError):
    """A source configuration (or CLI argument) is invalid. Nothing was written."""

    exit_code = 2


class NotFoundError(EtiketSyncError):
    """A named source, item, dataset, scope or plugin does not exist."""

    exit_code = 3


class AmbiguousError(NotFoundError):
    """A short id, label or name prefix matches several items or datasets."""


class PluginError(EtiketSyncError):
    """A plugin is not installed or failed to load."""

    exit_code = 3


class AlreadyRunningError(EtiketSyncError):
    """Another agent process holds the single-instance lock."""

    exit_code = 4


class StateDBError(EtiketSyncError):
    """The state database cannot be used (e.g. it is newer than this code)."""

    exit_code = 5


class DatabaseBusyError(EtiketSyncError):
    """A database (state DB or store catalog) stayed locked by another process beyond the
    busy timeout. Transient: the engine records it on the item or source and retries."""

    retryable = True


class StoreError(EtiketSyncError):
    """The dataset store rejected an operation."""


class StoreUnreachableError(StoreError):
    """The dataset store (its catalog database, its bucket or its folder) cannot be
    reached. Not the item's fault: the engine counts no attempt, keeps the item waiting
    and resumes it when the store answers again (see ``engine/store_health.py``)."""

    retryable = True


class DatasetError(EtiketSyncError):
    """One dataset cannot be synchronized; recorded on its item, the loop goes on.

    ``retryable`` tells the scheduler whether another attempt can help (a locked
    database, a file still being written) or not (malformed metadata).
    """

    def __init__(self, message: str, hint: str | None = None, retryable: bool = True) -> None:
        super().__init__(message, hint)
        self.retryable = retryable
