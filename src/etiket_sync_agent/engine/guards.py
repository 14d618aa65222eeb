"""What keeps the loop alive: no source, user action or busy database stops it.

Every step of an iteration (refreshing the sources, discovering one source, working
through its items, recording status) runs under a guard. A failing step becomes an item
or source error and the loop goes on; bookkeeping writes about rows that a user removed
meanwhile (a source deleted while its item failed) are dropped with a debug line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from etiket_sync_agent.errors import DatabaseBusyError

logger = logging.getLogger(__name__)

T = TypeVar("T")

_BUSY_TEXTS = ("database is locked", "database is busy", "database table is locked")


def is_database_busy(exc: BaseException) -> bool:
    """Whether ``exc`` says a database stayed locked by another process (transient)."""
    if isinstance(exc, DatabaseBusyError):
        return True
    from sqlalchemy.exc import OperationalError

    if isinstance(exc, OperationalError):
        text = str(exc.orig if exc.orig is not None else exc).lower()
        return any(t in text for t in _BUSY_TEXTS)
    return False


def is_gone_row(exc: BaseException) -> bool:
    """Whether ``exc`` is a foreign-key failure: the row we write about was removed."""
    from sqlalchemy.exc import IntegrityError

    return isinstance(exc, IntegrityError) and "FOREIGN KEY" in str(exc.orig).upper()


def bookkeeping(what: str, fn: Callable[[], T]) -> T | None:
    """Run a status write; a removed row or a busy database is logged, not raised.

    For writes whose loss costs nothing but a line of history (error log, last error,
    discovery time): the next iteration writes them again if they still matter.
    """
    try:
        return fn()
    except Exception as exc:
        if is_gone_row(exc):
            logger.debug("%s: its source or item was removed meanwhile", what)
        elif is_database_busy(exc):
            logger.warning("%s: the state database is busy; skipped", what)
        else:
            raise
    return None
