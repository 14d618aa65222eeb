"""What a stored sync record may hold: bounded, whatever the dataset's size.

A backend logs a line per file; for a folder of 100,000 files that is 100,000 lines per
attempt. A stored record keeps at most :data:`MAX_LINES` log lines per task (the first
ones, then one line saying how many were left out), :data:`MAX_TASKS` tasks,
:data:`MAX_WARNINGS` warnings, and lines of at most :data:`MAX_LINE` characters.
"""

from __future__ import annotations

from typing import Any

MAX_LINES = 50
MAX_TASKS = 50
MAX_WARNINGS = 20
MAX_LINE = 500
MAX_TEXT = 4000


def _clip(text: Any, n: int = MAX_LINE) -> Any:
    if isinstance(text, str) and len(text) > n:
        return text[: n - 1] + "…"
    return text


def _lines(lines: list[Any], n: int, what: str) -> list[Any]:
    if len(lines) <= n:
        return [_clip(x) for x in lines]
    return [_clip(x) for x in lines[: n - 1]] + [f"... and {len(lines) - n + 1} more {what}"]


def bound_record(record: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``record`` (``SyncRecord.to_dict()``) cut to the bounds above."""
    out = dict(record)
    tasks = list(record.get("tasks") or [])
    kept = [
        {
            **t,
            "logs": _lines(list(t.get("logs") or []), MAX_LINES, "lines"),
            "error": _clip(t.get("error"), MAX_TEXT),
        }
        for t in tasks[: MAX_TASKS - 1 if len(tasks) > MAX_TASKS else MAX_TASKS]
    ]
    if len(tasks) > MAX_TASKS:
        rest = tasks[MAX_TASKS - 1 :]
        failed = [t for t in rest if not t.get("ok", True)]
        kept.append(
            {
                "name": f"... and {len(rest)} more tasks ({len(failed)} failed)",
                "started": rest[0].get("started"),
                "duration_s": round(sum(float(t.get("duration_s") or 0) for t in rest), 6),
                "ok": not failed,
                "error": _clip(failed[0].get("error"), MAX_TEXT) if failed else None,
                "logs": [],
            }
        )
    out["tasks"] = kept
    out["warnings"] = _lines(list(record.get("warnings") or []), MAX_WARNINGS, "warnings")
    out["error"] = _clip(record.get("error"), MAX_TEXT)
    tb = record.get("traceback")
    out["traceback"] = "…" + tb[-MAX_TEXT:] if isinstance(tb, str) and len(tb) > MAX_TEXT else tb
    return out
