"""What a failed attempt means: one clear line for the item, and whether to retry.

The worker records every exception a backend raises on the item. Raw Python texts
(``RecursionError: maximum recursion depth exceeded``, ``[Errno 13] Permission denied``)
help nobody, and retrying conditions that cannot change on their own (a name too long
for the file system, a permission, a folder where a file should be) only delays the
"gave up" the user needs to see. So:

* :class:`~etiket_sync_agent.errors.EtiketSyncError`: its own message and hint; a
  ``DatasetError`` says itself whether it is retryable.
* ``OSError``: transient ones (a file briefly locked by the acquisition program, a
  network-share hiccup, a file that vanished mid-sync) are retried with backoff;
  permanent ones (see :data:`PERMANENT_ERRNOS`) are not, and say what to do.
* ``RecursionError``, ``OverflowError``, ``UnicodeError``: data the agent cannot
  represent; not retried.
* ``MemoryError``: retried (memory may be free later).
* Anything else is a bug in a backend: its type and text, retried.

A store that cannot be reached is no failure of the item (see
:func:`store_unreachable_reason` and :mod:`etiket_sync_agent.engine.store_health`): the
worker keeps such an item waiting and counts no attempt.

Every line is passed through :func:`~etiket_sync_agent.plugins.config.redact_text`, so
a connection string or password quoted in an exception never reaches ``status``, the
items listing or the log.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from typing import Any

from etiket_sync_agent.errors import EtiketSyncError, StoreUnreachableError, error_line
from etiket_sync_agent.plugins.config import redact_text, secret_values

#: OSError numbers that no retry can cure: they need the user (or never change)
PERMANENT_ERRNOS: dict[int, str] = {
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENAMETOOLONG: "name too long for the file system",
    errno.EISDIR: "is a folder, not a file",
    errno.ENOTDIR: "a part of the path is not a folder",
    errno.ELOOP: "symlink loop (a link that points back at itself)",
    errno.EROFS: "read-only file system",
    errno.EINVAL: "invalid argument (a name the file system rejects?)",
    errno.ENXIO: "not a regular file (a device, socket or FIFO without a writer)",
}
#: Windows "file in use by another process": PermissionError there, but it passes
_WINDOWS_SHARING = {32, 33}  # ERROR_SHARING_VIOLATION, ERROR_LOCK_VIOLATION
_HINTS = {
    errno.EACCES: "give the agent's user read access, then `etiket-sync retry SOURCE`",
    errno.EPERM: "give the agent's user read access, then `etiket-sync retry SOURCE`",
    errno.ENAMETOOLONG: "shorten the file or folder name",
    errno.ELOOP: "remove or fix the symlink",
}


@dataclass(frozen=True)
class Failure:
    """A failed attempt as the item shows it."""

    message: str  # one line, redacted
    retryable: bool


def describe_failure(exc: BaseException, config: Any = None) -> Failure:
    """Classify ``exc`` raised while synchronizing an item of a source configured with
    ``config`` (whose secret values are blanked in the message)."""
    message, retryable = _classify(exc)
    secrets = secret_values(config) if config is not None else []
    return Failure(redact_text(" ".join(message.split()), secrets), retryable)


def os_error_is_permanent(exc: OSError) -> bool:
    """Whether retrying the operation that raised ``exc`` cannot help."""
    if getattr(exc, "winerror", None) in _WINDOWS_SHARING:
        return False
    return exc.errno in PERMANENT_ERRNOS


def describe_os_error(exc: OSError) -> str:
    """``exc`` as a sentence naming the file and the reason (no ``[Errno N]``)."""
    what = _path_text(exc.filename)
    if exc.filename2 is not None:
        what += f" -> {_path_text(exc.filename2)}"
    reason = PERMANENT_ERRNOS.get(exc.errno or -1) if os_error_is_permanent(exc) else None
    reason = reason or (exc.strerror or str(exc) or type(exc).__name__).rstrip(".").lower()
    line = f"{what}: {reason}" if exc.filename is not None else reason
    hint = _HINTS.get(exc.errno or -1) if os_error_is_permanent(exc) else None
    if hint:
        line += f" (hint: {hint})"
    return line


def _path_text(name: Any) -> str:
    if isinstance(name, bytes):
        return os.fsdecode(name).encode("utf-8", "backslashreplace").decode()
    return str(name).encode("utf-8", "backslashreplace").decode()


def _classify(exc: BaseException) -> tuple[str, bool]:
    if isinstance(exc, EtiketSyncError):
        return error_line(exc), bool(getattr(exc, "retryable", True))
    if isinstance(exc, OSError):
        return describe_os_error(exc), not os_error_is_permanent(exc)
    if isinstance(exc, RecursionError):
        return "the data is nested too deeply to read (more levels than the agent handles)", False
    if isinstance(exc, OverflowError):
        return f"a number in the data is out of range ({exc})", False
    if isinstance(exc, UnicodeError):
        return (
            "a name or text is not valid UTF-8 and cannot be stored"
            f" ({_path_text(getattr(exc, 'reason', exc))})",
            False,
        )
    if isinstance(exc, MemoryError):
        return "not enough memory to read this dataset", True
    return _path_text(error_line(exc)), True


def redacted_record(record: dict[str, Any], config: Any = None) -> dict[str, Any]:
    """Copy of a failed attempt's record (error, task errors, traceback, logs) with the
    secrets of ``config``, URL passwords and secret ``key=value`` pairs blanked."""
    secrets = secret_values(config) if config is not None else []

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return redact_text(value, secrets)
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return walk(record)


# -- an unreachable store ---------------------------------------------------------------

#: HTTP statuses of an S3 server that is down or overloaded (what botocore's own retries
#: did not get through): the store is unavailable, the item is not at fault. A 500 is
#: left out on purpose: an object the server keeps failing on would otherwise wait forever.
_UNAVAILABLE_HTTP = {502, 503, 504}
_UNAVAILABLE_CODES = {"SlowDown", "ServiceUnavailable", "503", "502", "504"}
#: PostgreSQL SQLSTATEs of a server going away or not accepting connections yet
_PG_GONE_STATES = {"57P01", "57P02", "57P03"}


def chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and what caused it (``__cause__``, else ``__context__``), outermost first."""
    out: list[BaseException] = []
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        out.append(cur)
        cur = cur.__cause__ or (None if cur.__suppress_context__ else cur.__context__)
    return out


def find_unreachable(exc: BaseException) -> StoreUnreachableError | None:
    """The :class:`StoreUnreachableError` in ``exc``'s cause chain (a backend may have
    wrapped it in its own error), or None."""
    for e in chain(exc):
        if isinstance(e, StoreUnreachableError):
            return e
    return None


def store_unreachable_reason(exc: BaseException) -> str | None:
    """Why ``exc``, raised by a call into the store, means the store cannot be reached —
    a short phrase — or None when it does not say so by itself.

    Looks along the cause chain (the store wraps driver errors in ``StoreError``):
    botocore/urllib3 connection errors, connect and read timeouts, closed connections,
    HTTP 502/503/504 and ``SlowDown``; psycopg connection failures (no SQLSTATE, class
    ``08``, server shut down) and SQLAlchemy disconnects. Other errors of the store (an
    ``OSError`` of a network path — which may be the source's share, not the store's —,
    a missing content, a full disk, an SQLite file that cannot be opened) need a probe of
    the store to tell
    (:func:`etiket_sync_agent.engine.store_health.StoreHealth.confirm`).
    """
    for e in chain(exc):
        if isinstance(e, StoreUnreachableError):
            return e.message
        reason = _unreachable(e)
        if reason is not None:
            return reason
    return None


def _unreachable(e: BaseException) -> str | None:
    module = type(e).__module__ or ""
    names = {c.__name__ for c in type(e).__mro__}
    if module.startswith(("botocore", "urllib3")):
        if "SSLError" in names:
            return None  # a certificate problem: the user must act
        if names & {
            "ConnectionError",
            "HTTPClientError",
            "NewConnectionError",
            "ProtocolError",
            "MaxRetryError",
            "TimeoutError",
            "ReadTimeoutError",
        }:
            return f"cannot reach the S3 endpoint ({type(e).__name__})"
        if "ClientError" in names:
            response = getattr(e, "response", None) or {}
            code = str((response.get("Error") or {}).get("Code", ""))
            status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
            if status in _UNAVAILABLE_HTTP or code in _UNAVAILABLE_CODES:
                return f"the S3 server is unavailable ({status or ''} {code})".replace("( ", "(")
        return None
    if module.startswith("psycopg"):
        if not names & {"OperationalError", "InterfaceError"}:
            return None
        state = getattr(e, "sqlstate", None)
        if state is None or state.startswith("08") or state in _PG_GONE_STATES:
            return "cannot reach the catalog database"
        return None
    if module.startswith("sqlalchemy"):
        if getattr(e, "connection_invalidated", False):
            return "the connection to the catalog database was lost"
        return None
    return None
