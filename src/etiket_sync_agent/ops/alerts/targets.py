"""Alert targets (apprise notification URLs) and alert settings, kept in the home.

``<home>/alerts.json`` (mode 0600): the URLs are secrets — tokens, passwords — and are
shown and logged only through :func:`redact_url`. Edits are atomic, so a running agent
(which re-reads the file at every check) never sees half a file.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from etiket_sync_agent.errors import ConfigError, NotFoundError
from etiket_sync_agent.home import Home
from etiket_sync_agent.ops import jsonfile
from etiket_sync_agent.plugins.config import REDACTED, build_config, redact_text

FILE = "alerts.json"


@dataclass
class AlertSettings:
    """When to alert. Times in seconds."""

    #: how often the notifier looks
    check_every_s: float = 60.0
    #: at most one message per this many seconds; what happens meanwhile is grouped
    min_interval_s: float = 300.0
    #: the store unreachable for longer than this
    store_unreachable_after_s: float = 600.0
    #: a dataset waiting (pending) for longer than this
    pending_after_s: float = 3600.0
    #: the disk of the home (or of the spool) with less than this fraction free
    disk_free_below: float = 0.05
    #: local hour (0-23) of a daily digest; -1: no digest
    digest_hour: int = -1


def _path(home: Home) -> Path:
    return home.data_dir / FILE


def _load(home: Home) -> dict[str, Any]:
    data = jsonfile.load(_path(home))
    data.setdefault("targets", [])
    data.setdefault("settings", {})
    return data


def _save(home: Home, data: dict[str, Any]) -> None:
    jsonfile.save(_path(home), data, 0o600)


def redact_url(url: str) -> str:
    """``url`` fit to show: scheme and host, with apprise's own masking of tokens that
    sit in the host (``slack://T...2``), passwords blanked, path and query hidden."""
    try:
        import apprise

        a = apprise.Apprise()
        if a.add(url):
            url = a[0].url(privacy=True)
    except Exception:  # noqa: BLE001 - fall back to our own masking
        pass
    parts = urlsplit(url)
    shown = f"{parts.scheme}://{parts.netloc}" if parts.scheme else url.split("/", 1)[0]
    if parts.path not in ("", "/") or parts.query:
        shown += "/" + REDACTED
    return redact_text(shown)


def urls(home: Home) -> list[str]:
    """The target URLs (secrets: never show them; see :func:`redact_url`)."""
    return [t["url"] for t in _load(home)["targets"]]


def list_targets(home: Home) -> list[dict[str, Any]]:
    """The targets, redacted: ``id``, ``url`` (redacted), ``added``."""
    return [
        {"id": t["id"], "url": redact_url(t["url"]), "added": t.get("added")}
        for t in _load(home)["targets"]
    ]


def add_target(home: Home, url: str) -> dict[str, Any]:
    """Add a notification URL apprise understands; ConfigError otherwise."""
    import apprise

    url = url.strip()
    if not apprise.Apprise().add(url):
        raise ConfigError(
            f"not a notification URL: {redact_url(url)}",
            hint="see https://github.com/caronc/apprise/wiki for URLs "
            "(mailto://, json://, slack://, msteams://, ...)",
        )
    data = _load(home)
    if any(t["url"] == url for t in data["targets"]):
        raise ConfigError("this target is there already", hint="`etiket-sync alerts list`")
    new_id = max((t["id"] for t in data["targets"]), default=0) + 1
    target = {
        "id": new_id,
        "url": url,
        "added": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    data["targets"].append(target)
    _save(home, data)
    return {**target, "url": redact_url(url)}


def remove_target(home: Home, target_id: int) -> dict[str, Any]:
    data = _load(home)
    kept = [t for t in data["targets"] if t["id"] != target_id]
    if len(kept) == len(data["targets"]):
        raise NotFoundError(f"no alert target {target_id}", hint="`etiket-sync alerts list`")
    gone = next(t for t in data["targets"] if t["id"] == target_id)
    data["targets"] = kept
    _save(home, data)
    return {"id": target_id, "url": redact_url(gone["url"])}


def settings(home: Home) -> AlertSettings:
    raw = _load(home)["settings"]
    known = {f.name for f in fields(AlertSettings)}
    return build_config(AlertSettings, {k: v for k, v in raw.items() if k in known})


def set_settings(home: Home, values: dict[str, Any]) -> AlertSettings:
    """Change settings (validated; nothing written on an error)."""
    known = {f.name for f in fields(AlertSettings)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown alert setting {unknown[0]!r}", hint=", ".join(sorted(known)))
    data = _load(home)
    merged = build_config(AlertSettings, {**data["settings"], **values})
    if not 0 <= merged.disk_free_below <= 1:
        raise ConfigError("disk_free_below is a fraction between 0 and 1")
    if not -1 <= merged.digest_hour <= 23:
        raise ConfigError("digest_hour is an hour 0-23, or -1 for no digest")
    data["settings"] = asdict(merged)
    _save(home, data)
    return merged
