"""The errors of the core-tools reader, all with a message a user can act on.

None of them ever carries the database password: messages from the server are passed
through :func:`scrub` before they are wrapped, and the original exception is not chained
(a traceback in a sync record shows only our message).
"""

from __future__ import annotations

from etiket_sync_agent.errors import DatasetError, EtiketSyncError


class CoreToolsConnectionError(EtiketSyncError):
    """The database cannot be reached or logged into (server down, wrong password,
    database missing). The source is retried with backoff."""


class NotCoreToolsError(EtiketSyncError):
    """The database is reachable but does not hold core-tools tables."""


class CoreToolsDataError(DatasetError):
    """One measurement cannot be read (missing large object, shape mismatch, ...)."""


class CoreToolsPermissionError(DatasetError):
    """The database user may not read a table or large object; names the grant needed."""


class ScopeMappingMissing(DatasetError):
    """The measurement's scope identifier is not mapped to a store scope (yet)."""


def scrub(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` replaced by ``***``."""
    if secret:
        text = text.replace(secret, "***")
    return text
