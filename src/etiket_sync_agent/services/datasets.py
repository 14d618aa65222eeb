"""Scopes and datasets of the store, as plain data."""

from __future__ import annotations

import contextlib
import hashlib
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from etiket_sync_agent.errors import AmbiguousError, ConfigError, NotFoundError, StoreError
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services.times import iso
from etiket_sync_agent.store.interface import DatasetInfo

#: a dataset uuid prefix must be this long (the listings show 8 characters)
MIN_PREFIX = 4
SHOW_CANDIDATES = 10
#: an ambiguous reference counts its candidates up to this many
MATCH_LIMIT = 100


def list_scopes(rt: Runtime) -> list[dict[str, Any]]:
    return [
        {
            "name": s.name,
            "description": s.description,
            "datasets": s.n_datasets,
            "created": iso(s.created),
        }
        for s in rt.store.list_scopes()
    ]


def create_scope(rt: Runtime, name: str, description: str = "") -> dict[str, Any]:
    if not name.strip() or len(name) > 200 or any(c in name for c in "/\\\0"):
        raise ConfigError(f"invalid scope name {name!r}")
    s = rt.store.create_scope(name.strip(), description)
    return {"name": s.name, "description": s.description, "created": iso(s.created)}


def list_datasets(
    rt: Runtime,
    scope: str | None = None,
    source: str | None = None,
    limit: int | None = None,
    *,
    offset: int = 0,
    text: str | None = None,
    tag: str | None = None,
    attribute: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> list[dict[str, Any]]:
    """Datasets, newest first, filtered in the store: ``text`` in the name (any case),
    ``tag``, ``attribute`` (``name=value``, or a bare ``name``: any value), collected
    from the day ``since`` to the day ``until`` (``YYYY-MM-DD``, UTC days as listed, both
    included), in ``scope``/``source``; ``limit`` rows after skipping ``offset``.

    An unknown ``scope`` or ``source`` is NotFoundError (a source is known while it is
    configured, or while the store holds datasets of it); a malformed filter ConfigError.
    """
    filters: dict[str, Any] = {
        "text": (text or "").strip() or None,
        "tag": (tag or "").strip() or None,
        "attribute": parse_attribute(attribute),
        "since": parse_day(since, "since"),
        "until": parse_day(until, "until"),
    }
    if filters["until"] is not None:
        filters["until"] += timedelta(days=1)  # the whole day `until` is included
    if offset < 0:
        raise ConfigError(f"offset must not be negative, not {offset}")
    found = rt.store.list_datasets(
        scope=scope, source=source, limit=limit, offset=offset, **filters
    )
    rows = [
        {
            "uuid": d.uuid,
            "name": d.name,
            "scope": d.scope,
            "collected": iso(d.collected),
            "source": d.source,
        }
        for d in found
    ]
    if source is not None and not rows and not rt.store.list_datasets(source=source, limit=1):
        _require_configured_source(rt, source)
    return rows


def parse_attribute(text: str | None) -> tuple[str, str | None] | None:
    """``name=value`` as a pair, a bare ``name`` as ``(name, None)``; None when empty."""
    text = (text or "").strip()
    if not text:
        return None
    key, equals, value = text.partition("=")
    if not key.strip():
        raise ConfigError(f"attribute filter {text!r} has no name", hint="write NAME=VALUE")
    return key.strip(), value.strip() if equals else None


def parse_day(text: str | None, what: str) -> datetime | None:
    """``YYYY-MM-DD`` as the start of that UTC day; None when empty."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        day = None
    if day is None:
        raise ConfigError(f"{what} {text!r} is not a date", hint="write YYYY-MM-DD")
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)


def _require_configured_source(rt: Runtime, source: str) -> None:
    """NotFoundError (with a hint) unless ``source`` is configured in this home."""
    if not rt.home.state_db.exists():  # a lab's browser: no agent, no sources here
        raise NotFoundError(
            f"no dataset from source {source!r} in the store",
            hint="list datasets with `etiket-sync datasets list` to see their sources",
        )
    from etiket_sync_agent.state import repository as repo

    repo.get_source(rt.state, source)


def dataset_json(d: DatasetInfo) -> dict[str, Any]:
    return {
        "uuid": d.uuid,
        "alt_uid": d.alt_uid,
        "name": d.name,
        "description": d.description,
        "scope": d.scope,
        "collected": iso(d.collected),
        "tags": list(d.tags),
        "attributes": d.attributes,
        "ranking": d.ranking,
        "creator": d.creator,
        "source": d.source,
        "created": iso(d.created),
        "modified": iso(d.modified),
        "files": [
            {
                "name": f.name,
                "filename": f.filename,
                "type": f.file_type,
                "generator": f.generator,
                "version": f.latest.version,
                "size": f.latest.size,
                "sha256": f.latest.sha256,
                "status": f.latest.status.value,
                "versions": len(f.versions),
            }
            for f in d.files
        ],
    }


def resolve_dataset(rt: Runtime, ref: str) -> str:
    """The uuid of the one dataset ``ref`` names.

    ``ref`` is a dataset uuid or a prefix of one (at least ``MIN_PREFIX`` characters, e.g.
    the 8 that ``items`` shows), an ``alt_uid`` (a QCoDeS GUID), the label of an item
    (a QCoDeS run id) or the start of a dataset's name. NotFoundError if nothing
    matches, AmbiguousError listing the candidates if several datasets do.
    """
    ref = ref.strip()
    try:
        return rt.store.get_dataset(ref).uuid
    except NotFoundError:
        pass
    if not ref:
        raise NotFoundError("no dataset id given")
    exact: dict[str, DatasetInfo] = {}
    for uuid in _uuids_of_labelled_items(rt, ref):
        with contextlib.suppress(NotFoundError):  # an item whose dataset is not stored yet
            exact[uuid] = rt.store.get_dataset(uuid)
    matches: dict[str, DatasetInfo] = {}
    for d in rt.store.match_datasets(ref, min_prefix=MIN_PREFIX, limit=MATCH_LIMIT):
        (exact if d.alt_uid == ref else matches).setdefault(d.uuid, d)
    found = exact or matches
    if len(found) == 1:
        return next(iter(found))
    if not found:
        raise NotFoundError(
            f"no dataset {ref!r}",
            hint="give a dataset id (or its first 8 characters), a run id or the start of a "
            "name, from `etiket-sync datasets list` or `etiket-sync items SOURCE`",
        )
    shown = list(found.values())[:SHOW_CANDIDATES]
    count = f"{len(found)} or more" if len(found) >= MATCH_LIMIT else str(len(found))
    raise AmbiguousError(
        f"{ref!r} matches {count} datasets: "
        + "; ".join(f"{d.uuid[:8]} {d.name!r} ({d.source or d.scope})" for d in shown)
        + (" ..." if len(found) > SHOW_CANDIDATES else ""),
        hint="give more characters of the dataset id",
    )


def _uuids_of_labelled_items(rt: Runtime, label: str) -> set[str]:
    """Dataset uuids of items labelled ``label`` in any source (run ids, core-tools ids);
    none where no agent keeps its state (a lab's browser)."""
    if not rt.home.state_db.exists():
        return set()
    from etiket_sync_agent.state import repository as repo

    out: set[str] = set()
    for src in repo.list_sources(rt.state):
        out.update(i.dataset_uuid for i in repo.find_items(rt.state, src.id, label=label))
    return out


def show_dataset(rt: Runtime, ref: str) -> dict[str, Any]:
    return dataset_json(rt.store.get_dataset(resolve_dataset(rt, ref)))


def export_dataset(rt: Runtime, ref: str, target: Path, *, force: bool = False) -> list[Path]:
    """Write the latest version of every file of the dataset into ``target``.

    Files already there with the same content are left as they are; a different file of
    the same name is only replaced with ``force``. Every check is made before anything is
    written; problems are one-line errors naming the path.
    """
    info = rt.store.get_dataset(resolve_dataset(rt, ref))
    if target.exists() and not target.is_dir():
        raise ConfigError(
            f"cannot export into {target}: it is a file, not a folder",
            hint="give a folder (it is created if needed)",
        )
    clashes = []
    for f in info.files:
        dest = target / f.name
        if dest.is_dir():
            raise ConfigError(
                f"cannot export {f.name}: {dest} is a folder",
                hint="export into another folder",
            )
        if dest.exists() and (not dest.is_file() or _sha256(dest) != f.latest.sha256):
            clashes.append(f.name)
    if clashes and not force:
        raise ConfigError(
            f"{target} already holds other file(s) of the same name: {', '.join(clashes[:5])}"
            + (" ..." if len(clashes) > 5 else ""),
            hint="pass --force to replace them, or export into another folder",
        )
    try:
        target.mkdir(parents=True, exist_ok=True)
        return rt.store.export_dataset(info.uuid, target)
    except OSError as exc:
        where = exc.filename or target
        raise StoreError(
            f"cannot write {where}: {exc.strerror or exc}",
            hint="export into a folder you can write to",
        ) from None


def _sha256(path: Path) -> str | None:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    except OSError:
        return None
    return h.hexdigest()
