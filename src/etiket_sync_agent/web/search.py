"""Dataset search for the page: the rows of ``datasets list`` narrowed by a name text, a
tag, an attribute and a collection date range.

``services.datasets.list_datasets`` filters by scope and source only; until it grows
these filters this module narrows its rows with the tags and attributes of the same store
listing. The rows keep the ``datasets list --json`` shape exactly.
"""

from __future__ import annotations

import re
from typing import Any

from etiket_sync_agent.errors import ConfigError
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services.datasets import list_datasets

#: at most this many rows on one page (the store may hold 100k datasets)
PAGE_LIMIT = 500
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_attribute(text: str | None) -> tuple[str, str] | None:
    """``key=value`` (or a bare ``key``: any value) as a pair; None when empty."""
    text = (text or "").strip()
    if not text:
        return None
    key, _, value = text.partition("=")
    if not key.strip():
        raise ConfigError(f"attribute filter {text!r} has no name", hint="write name=value")
    return key.strip(), value.strip()


def _date(text: str | None, what: str) -> str | None:
    text = (text or "").strip()
    if text and not _DATE.match(text):
        raise ConfigError(f"{what} {text!r} is not a date", hint="write YYYY-MM-DD")
    return text or None


def search_datasets(
    rt: Runtime,
    *,
    text: str | None = None,
    tag: str | None = None,
    attribute: str | None = None,
    since: str | None = None,
    until: str | None = None,
    scope: str | None = None,
    source: str | None = None,
    limit: int = PAGE_LIMIT,
) -> list[dict[str, Any]]:
    """Datasets whose name contains ``text`` (any case), that carry ``tag`` and the
    ``attribute`` (``name=value``; a bare name: any value), collected between the dates
    ``since`` and ``until`` (``YYYY-MM-DD``, both included), newest first, in
    ``scope``/``source`` when given. Unknown scope/source: NotFoundError; a malformed
    filter: ConfigError."""
    text = (text or "").strip().lower()
    tag = (tag or "").strip()
    attr = parse_attribute(attribute)
    since, until = _date(since, "since"), _date(until, "until")
    if not (text or tag or attr or since or until):
        return list_datasets(rt, scope or None, source or None, limit)
    rows = list_datasets(rt, scope or None, source or None, None)
    infos = {}
    if tag or attr:
        infos = {
            d.uuid: d for d in rt.store.list_datasets(scope=scope or None, source=source or None)
        }
    out = []
    for row in rows:
        day = (row["collected"] or "")[:10]
        info = infos.get(row["uuid"])
        if text and text not in (row["name"] or "").lower():
            continue
        if (since and (not day or day < since)) or (until and (not day or day > until)):
            continue
        if tag and (info is None or tag not in info.tags):
            continue
        if attr and (info is None or not _has_attribute(info.attributes, *attr)):
            continue
        out.append(row)
        if len(out) >= limit:
            break
    return out


def _has_attribute(attributes: dict[str, Any], key: str, value: str) -> bool:
    if key not in attributes:
        return False
    return not value or str(attributes[key]) == value
