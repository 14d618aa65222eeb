"""Where a core-tools source keeps its database password.

In the OS keyring (the ``keyring`` package) when a usable backend exists: the source's
stored config then holds only :data:`KEYRING_MARK`. Otherwise the password stays in the
source's config in the state database, in plain text, and the config field
``login_stored_in`` says so (``etiket-sync sources show`` displays it; the password
itself is always shown as ``***``).
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

SERVICE = "etiket_sync_agent"
KEYRING_MARK = "<in the OS keyring>"
IN_KEYRING = "OS keyring"
IN_STATE_DB = "plain text in the state database (no usable OS keyring)"


def _keyring():  # noqa: ANN202 - keyring is optional and imported lazily
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return None
    try:
        kr = keyring.get_keyring()
    except Exception:  # noqa: BLE001 - a broken keyring set-up counts as none
        return None
    if isinstance(kr, fail.Keyring) or getattr(kr, "priority", 0) <= 0:
        return None
    return kr


def keyring_available() -> bool:
    return _keyring() is not None


def key_for(user: str, host: str, port: int, dbname: str) -> str:
    return f"core_tools:{user}@{host}:{port}/{dbname}"


def store(key: str, password: str) -> bool:
    """Put ``password`` in the keyring under ``key``; False if there is no usable one."""
    kr = _keyring()
    if kr is None:
        return False
    try:
        kr.set_password(SERVICE, key, password)
    except Exception as exc:  # noqa: BLE001 - fall back to the state database
        logger.warning("cannot store a password in the OS keyring (%s)", type(exc).__name__)
        return False
    return True


def fetch(key: str) -> str | None:
    """The password stored under ``key``, or None."""
    kr = _keyring()
    if kr is None:
        return None
    try:
        return kr.get_password(SERVICE, key)
    except Exception:  # noqa: BLE001 - reported by the caller as a missing password
        return None
