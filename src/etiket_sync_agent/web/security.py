"""Access token (for binds other than loopback) and cross-site request checks.

The token is compared in constant time; it is accepted as the ``etiket_token`` cookie or
as ``Authorization: Bearer``. A POST that changes state must come from the page itself:
its ``Origin`` (or, without one, ``Referer``) must be this server, and it must carry the
per-process CSRF token the page put in a hidden field (or an ``X-CSRF-Token`` header).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from etiket_sync_agent.errors import ConfigError

COOKIE = "etiket_token"
TOKEN_FILE_NAME = "web-token"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def is_local(host: str) -> bool:
    """Whether ``host`` is a loopback address (only this computer can connect)."""
    return host in LOCAL_HOSTS or host.startswith("127.")


def read_token_file(path: Path) -> str:
    """The token in ``path`` (first line, stripped); ConfigError if unreadable or empty."""
    try:
        token = path.read_text(encoding="utf-8").strip().splitlines()
    except OSError as exc:
        raise ConfigError(
            f"cannot read token file {path}: {exc.strerror or exc}",
            hint="give a readable file holding the token on its first line",
        ) from None
    if not token or len(token[0].strip()) < 16:
        raise ConfigError(
            f"token file {path} holds no token of at least 16 characters",
            hint="put a long random token on its first line",
        )
    return token[0].strip()


def home_token(data_dir: Path) -> tuple[str, Path, bool]:
    """The token kept in the home (created with mode 0600 if missing).

    Returns ``(token, path, created)``; ``created`` tells the caller to show it once.
    """
    path = data_dir / TOKEN_FILE_NAME
    if path.exists():
        return read_token_file(path), path, False
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    return token, path, True


def token_matches(expected: str, given: str | None) -> bool:
    return given is not None and secrets.compare_digest(expected.encode(), given.encode())


def bearer(header: str | None) -> str | None:
    if header and header[:7].lower() == "bearer ":
        return header[7:].strip()
    return None


def same_origin(origin: str | None, referer: str | None, scheme: str, host: str | None) -> bool:
    """Whether the request came from a page of this server (``host`` is its Host header).

    Without Origin and Referer the request is refused: a browser sends one of them with
    every form POST, so only a forged or stripped request lacks both.
    """
    claimed = origin if origin and origin != "null" else referer
    if not claimed or not host:
        return False
    parts = urlsplit(claimed)
    return parts.scheme == scheme and parts.netloc.lower() == host.lower()
