"""Dataset search for the page: the rows of ``datasets list`` narrowed by a name text and
a tag.

``services.datasets.list_datasets`` filters by scope and source only; until it grows
name/tag filters this module narrows its rows with the tags of the same store listing.
The rows keep the ``datasets list --json`` shape exactly.
"""

from __future__ import annotations

from typing import Any

from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services.datasets import list_datasets

#: at most this many rows on one page (the store may hold 100k datasets)
PAGE_LIMIT = 500


def search_datasets(
    rt: Runtime,
    *,
    text: str | None = None,
    tag: str | None = None,
    scope: str | None = None,
    source: str | None = None,
    limit: int = PAGE_LIMIT,
) -> list[dict[str, Any]]:
    """Datasets whose name contains ``text`` (any case) and that carry ``tag``, newest
    first, in ``scope``/``source`` when given. Unknown scope/source: NotFoundError."""
    text = (text or "").strip().lower()
    tag = (tag or "").strip()
    if not text and not tag:
        return list_datasets(rt, scope or None, source or None, limit)
    rows = list_datasets(rt, scope or None, source or None, None)
    tags: dict[str, tuple[str, ...]] = {}
    if tag:
        tags = {
            d.uuid: d.tags
            for d in rt.store.list_datasets(scope=scope or None, source=source or None)
        }
    out = []
    for row in rows:
        if text and text not in (row["name"] or "").lower():
            continue
        if tag and tag not in tags.get(row["uuid"], ()):
            continue
        out.append(row)
        if len(out) >= limit:
            break
    return out
