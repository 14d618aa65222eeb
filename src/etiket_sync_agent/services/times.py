"""The one timestamp format of the services' data: ISO 8601 with its UTC offset.

Every time the services return is an aware datetime written by :func:`iso` (UTC, whole
seconds, ``+00:00``), so ``--json`` output has one format and the CLI one thing to parse.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any


def iso(value: datetime | str | None) -> str | None:
    """``value`` as ``YYYY-MM-DDTHH:MM:SS+00:00`` (None stays None).

    A naive datetime is taken as local time (as the store does); a string is parsed
    first (sync records keep ISO strings), and returned unchanged if it is not a time.
    """
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    return value.astimezone(timezone.utc).isoformat(timespec="seconds")


def iso_record(record: dict[str, Any]) -> dict[str, Any]:
    """A sync record (as stored on an item) with its times in the one format."""
    out = dict(record)
    if "started" in out:
        out["started"] = iso(out["started"])
    if isinstance(out.get("tasks"), list):
        out["tasks"] = [
            {**t, "started": iso(t["started"])} if isinstance(t, dict) and "started" in t else t
            for t in out["tasks"]
        ]
    return out
