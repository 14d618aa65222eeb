"""Where an item's synchronization stands (the ``items.status`` column)."""

from __future__ import annotations

import enum


class ItemStatus(str, enum.Enum):
    """``pending``: to be synchronized; ``live``: being measured, synchronized again and
    again until it ends; ``synchronized``: done (until it changes); ``failed``: the last
    attempt failed (retried at ``next_retry``, or never once attempts are used up);
    ``waiting``: not attempted until something outside the item changes — what, says
    ``items.waiting_for`` (:class:`WaitReason`)."""

    PENDING = "pending"
    LIVE = "live"
    SYNCHRONIZED = "synchronized"
    FAILED = "failed"
    WAITING = "waiting"


class WaitReason(str, enum.Enum):
    """What a ``waiting`` item waits for (the ``items.waiting_for`` column).

    ``scope_mapping``: its scope identifier has no scope mapping and its backend creates
    no scope for it (``creates_scopes_for_unmapped``): a mapping puts it back to
    ``pending``. ``store``: the dataset store was unreachable when it was synchronized
    (no attempt counted; its converted files may be kept in the spool): the loop puts it
    back to ``pending`` as soon as the store answers again. A live item that met an
    unreachable store keeps the status ``live`` with ``waiting_for = store``.
    """

    SCOPE_MAPPING = "scope_mapping"
    STORE = "store"
