"""A read-only connection to a core-tools database (psycopg 3, imported lazily).

Every query runs in a ``REPEATABLE READ, READ ONLY`` transaction (the session default is
read-only as well), so the agent can never write to the user's database, and one
transaction sees the large objects and their write cursors as one writer commit left
them. Transactions end as soon as the block ends: no snapshot or lock is held between
calls. Connection failures are turned into :class:`CoreToolsConnectionError` with a hint
and never mention the password; after a failed connect the next attempt waits (2 s,
doubling up to 5 min) and meanwhile the same error is raised without contacting the
server.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from .errors import (
    CoreToolsConnectionError,
    CoreToolsPermissionError,
    scrub,
)

logger = logging.getLogger(__name__)

APPLICATION_NAME = "etiket_sync_agent"
BACKOFF_START_S = 2.0
BACKOFF_MAX_S = 300.0


@dataclass(frozen=True)
class ConnectionParams:
    """Where to connect; the password is asked for only when connecting."""

    host: str
    port: int
    dbname: str
    user: str
    password: Callable[[], str | None]
    connect_timeout_s: int = 5

    def where(self) -> str:
        return f"database {self.dbname!r} on {self.host}:{self.port} (user {self.user!r})"


def _connect_hint(text: str, params: ConnectionParams) -> str:
    low = text.lower()
    if "password" in low and ("failed" in low or "no password" in low):
        return "check the password: `etiket-sync sources edit SOURCE --set password=...`"
    if "does not exist" in low and "database" in low:
        return f"check the database name {params.dbname!r} (psql -l lists the databases)"
    if "role" in low and "does not exist" in low:
        return f"check the user name {params.user!r}"
    if "no pg_hba.conf entry" in low:
        return "the server refuses this host/user: ask the database admin to allow it"
    return f"is PostgreSQL running and reachable at {params.host}:{params.port}?"


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    return " / ".join(lines[:2]) if lines else "unknown error"


class Database:
    """One lazily opened read-only connection, reopened after it breaks."""

    def __init__(self, params: ConnectionParams) -> None:
        self.params = params
        self._conn: Any = None
        self._failures = 0
        self._retry_at = 0.0
        self._last_error: CoreToolsConnectionError | None = None

    # -- connecting -------------------------------------------------------------------
    def _open(self) -> Any:
        import psycopg

        now = time.monotonic()
        if self._last_error is not None and now < self._retry_at:
            raise self._last_error
        password = self.params.password()
        try:
            conn = psycopg.connect(
                host=self.params.host,
                port=self.params.port,
                dbname=self.params.dbname,
                user=self.params.user,
                password=password or None,
                connect_timeout=self.params.connect_timeout_s,
                application_name=APPLICATION_NAME,
                options="-c default_transaction_read_only=on",
            )
        except psycopg.Error as exc:
            text = scrub(_first_line(str(exc)), password)
            self._failures += 1
            delay = min(BACKOFF_MAX_S, BACKOFF_START_S * 2 ** (self._failures - 1))
            self._retry_at = time.monotonic() + delay
            err = CoreToolsConnectionError(
                f"cannot connect to {self.params.where()}: {text}",
                hint=_connect_hint(text, self.params),
            )
            self._last_error = err
            raise err from None
        conn.read_only = True
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        self._failures, self._last_error = 0, None
        return conn

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - a broken connection is dropped anyway
                logger.debug("closing a core-tools connection failed", exc_info=True)

    # -- transactions -----------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A cursor in a fresh read-only REPEATABLE READ transaction, ended on exit.

        Raises CoreToolsConnectionError when the server goes away (the connection is
        reopened at the next call) and CoreToolsPermissionError for missing grants.
        """
        import psycopg

        if self._conn is None or self._conn.closed:
            self._conn = self._open()
        conn = self._conn
        try:
            with conn.cursor() as cur:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                yield cur
            conn.rollback()  # read-only: nothing to commit
        except psycopg.errors.InsufficientPrivilege as exc:
            self._end(conn)
            raise CoreToolsPermissionError(
                f"user {self.params.user!r} lacks a permission on {self.params.where()}: "
                f"{scrub(_first_line(exc.diag.message_primary or str(exc)), self._pw())}",
                hint="grant it read access: GRANT SELECT ON ALL TABLES IN SCHEMA public TO "
                f"{self.params.user} (large objects: GRANT SELECT ON LARGE OBJECT <oid> TO "
                f"{self.params.user}, or lo_compat_privileges = on)",
            ) from None
        except psycopg.OperationalError as exc:
            self.close()
            raise CoreToolsConnectionError(
                f"lost the connection to {self.params.where()}: "
                f"{scrub(_first_line(str(exc)), self._pw())}",
                hint=f"is PostgreSQL running and reachable at {self.params.host}:"
                f"{self.params.port}? the item is retried",
            ) from None
        except BaseException:
            self._end(conn)
            raise

    def _end(self, conn: Any) -> None:
        try:
            conn.rollback()
        except Exception:  # noqa: BLE001 - the connection is unusable: reopen next time
            self.close()

    def _pw(self) -> str | None:
        try:
            return self.params.password()
        except Exception:  # noqa: BLE001 - only used to scrub messages
            return None
