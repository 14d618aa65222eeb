"""Where an item's synchronization stands (the ``items.status`` column)."""

from __future__ import annotations

import enum


class ItemStatus(str, enum.Enum):
    """``pending``: to be synchronized; ``live``: being measured, synchronized again and
    again until it ends; ``synchronized``: done (until it changes); ``failed``: the last
    attempt failed (retried at ``next_retry``, or never once attempts are used up);
    ``waiting``: its scope identifier has no scope mapping and its backend creates no
    scope for it (``creates_scopes_for_unmapped``): not attempted until a mapping puts it
    back to ``pending``."""

    PENDING = "pending"
    LIVE = "live"
    SYNCHRONIZED = "synchronized"
    FAILED = "failed"
    WAITING = "waiting"
