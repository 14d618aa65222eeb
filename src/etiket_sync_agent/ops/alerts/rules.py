"""Which problems a snapshot shows, and which earlier problems have recovered.

:func:`evaluate` compares the conditions true now with those already reported (kept in
the notifier's state) and returns only the changes: a problem is reported once when it
starts and once when it recovers, never at every check. Failed items are grouped per
source: 500 items giving up in one check make one event.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from etiket_sync_agent.ops.alerts.targets import AlertSettings
from etiket_sync_agent.plugins.config import redact_text

#: loop states that are a problem (``stopped`` is a clean stop, ``never_run`` nothing)
LOOP_PROBLEMS = ("stale", "gone", "crashed")
EXAMPLES = 5


@dataclass(frozen=True)
class Event:
    kind: str  # "problem" | "recovered"
    key: str
    text: str

    def as_json(self) -> dict[str, str]:
        return asdict(self)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{int(seconds)} s"
    if seconds < 7200:
        return f"{int(seconds // 60)} min"
    return f"{seconds / 3600:.1f} h"


def _failed_text(source: str, items: list[dict[str, Any]], more: bool) -> str:
    n = len(items)
    head = f"{n} {'more ' if more else ''}item{'s' if n != 1 else ''} of source {source} " + (
        "failed for good (no retry left)"
    )
    examples = [
        f"  {i['name'] or i['identifier']}: {redact_text(i['error'] or 'no error recorded')}"
        for i in items[:EXAMPLES]
    ]
    if n > EXAMPLES:
        examples.append(f"  ... and {n - EXAMPLES} more (`etiket-sync items {source} --failed`)")
    return "\n".join([head, *examples])


def conditions(
    snap: dict[str, Any], settings: AlertSettings, state: dict[str, Any], now: datetime
) -> dict[str, str]:
    """The problems true now: key -> text. Updates ``state["down_since"]`` (when the
    store was first seen unreachable)."""
    out: dict[str, str] = {}
    loop = snap["loop"]
    if loop["state"] in LOOP_PROBLEMS:
        text = f"the sync loop is {loop['state_text']}"
        if loop.get("message"):
            text += f": {loop['message']}"
        out["loop"] = redact_text(text)
    for s in snap["sources"]:
        name = s["name"]
        if s["status"] == "error":
            out[f"source:{name}"] = redact_text(f"source {name} is in error: {s['last_error']}")
        if s["oldest_pending"] is not None:
            waited = (now - s["oldest_pending"]).total_seconds()
            if waited > settings.pending_after_s:
                out[f"pending:{name}"] = (
                    f"source {name}: a dataset has waited {_duration(waited)} to be synchronized"
                )
    store = snap.get("store") or {"up": True}
    if store.get("up"):  # a reading taken now wins over the loop's last observation
        state.pop("down_since", None)
    else:
        # the loop knows since when its items wait for the store; else: first seen here
        seen = store.get("unreachable_since") or state.get("down_since") or now.isoformat()
        state["down_since"] = seen
        since = datetime.fromisoformat(seen)
        down = (now - since).total_seconds()
        if down >= settings.store_unreachable_after_s:
            out["store"] = redact_text(
                f"the dataset store has been unreachable for {_duration(down)}: "
                f"{store.get('error')}"
            )
    disk, spool = snap["disk"], snap.get("spool_disk")
    if _nearly_full(disk, settings):
        both = spool is not None and spool["same_as_home"]
        out["disk"] = (
            f"the disk of the agent's home{' and spool' if both else ''} ({snap['home']}) "
            f"is nearly full: {_free(disk)}"
        )
    if spool is not None and not spool["same_as_home"] and _nearly_full(spool, settings):
        out["spool_disk"] = (
            f"the disk of the spool ({spool['path']}), where converted files wait for the "
            f"store, is nearly full: {_free(spool)}"
        )
    return out


def _nearly_full(disk: dict[str, Any], settings: AlertSettings) -> bool:
    return bool(disk["total"]) and disk["free"] / disk["total"] < settings.disk_free_below


def _free(disk: dict[str, Any]) -> str:
    def size(n: int) -> str:
        return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"

    return f"{size(disk['free'])} free of {size(disk['total'])}"


def evaluate(
    snap: dict[str, Any],
    failed: list[dict[str, Any]],
    settings: AlertSettings,
    state: dict[str, Any],
    now: datetime,
) -> list[Event]:
    """The problems that started and the ones that recovered since the last call.

    ``failed``: the items failed for good (``snapshot.failed_for_good``). ``state`` is the
    notifier's memory (a JSON-able dict), updated in place.
    """
    active: dict[str, str] = state.setdefault("active", {})
    events: list[Event] = []
    now_true = conditions(snap, settings, state, now)

    # failed items: grouped per source, new ones only
    known: dict[str, list[int]] = state.setdefault("failed_ids", {})
    by_source: dict[str, list[dict[str, Any]]] = {}
    for item in failed:
        by_source.setdefault(item["source"], []).append(item)
    for source, items in by_source.items():
        key = f"failed:{source}"
        seen = set(known.get(source, []))
        new = [i for i in items if i["id"] not in seen]
        if new:
            events.append(Event("problem", key, _failed_text(source, new, more=key in active)))
        now_true[key] = f"items of source {source} failed for good"
        known[source] = [i["id"] for i in items]
    for source in list(known):
        if source not in by_source:
            del known[source]

    for key, text in now_true.items():
        if key not in active:
            if not key.startswith("failed:"):
                events.append(Event("problem", key, text))
            active[key] = text
    for key in list(active):
        if key not in now_true:
            text = active.pop(key)
            if key.startswith("failed:"):
                text = f"no items of source {key.split(':', 1)[1]} are failed any more"
            events.append(Event("recovered", key, f"recovered: {text}"))
    return events
