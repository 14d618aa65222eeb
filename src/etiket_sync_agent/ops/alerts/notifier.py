"""Send alerts: grouped, rate-limited, to every target, never in the way of syncing.

A :class:`Notifier` check reads a snapshot, asks :mod:`.rules` what changed, queues the
events, and sends the queue as ONE message when the last message is at least
``min_interval_s`` old (what happens meanwhile waits and goes out together). Each target
is sent to on its own: a failing or slow one is logged (redacted) and the others still
get the message. Its memory (active problems, queue, last send) is
``<home>/alerts-state.json``, so a restart neither repeats nor forgets alerts.

``etiket-sync run`` runs a notifier in a background thread (:func:`start_notifier`); it
sees a loop whose heartbeat stopped while the process lives, and as it starts it tells
how long the previous agent was down if that one was killed or crashed unseen
(:meth:`Notifier.note_start`: a service manager restarting a killed agent makes that
message). ``etiket-sync alerts watch`` (``--once`` from cron or a timer) runs one in its
own process — the way to be told at once when the agent process dies and stays dead.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from etiket_sync_agent.errors import error_line
from etiket_sync_agent.ops.alerts import rules, targets
from etiket_sync_agent.ops.snapshot import failed_for_good, snapshot
from etiket_sync_agent.plugins.config import redact_text
from etiket_sync_agent.runtime import Runtime

logger = logging.getLogger(__name__)

STATE_FILE = "alerts-state.json"
#: the agent's notifier waits this long at most for its loop to start before checking
START_GRACE_S = 60.0
LOCK_FILE = "alerts.lock"


def _quiet_apprise() -> None:
    # apprise logs failures with the target's URL in them: keep them out of any output
    log = logging.getLogger("apprise")
    log.propagate = False
    if not log.handlers:
        log.addHandler(logging.NullHandler())


def send(urls: list[str], title: str, body: str, problem: bool) -> list[dict[str, Any]]:
    """Send one message to each URL; per target ``{"url": redacted, "ok": bool,
    "error"?}``. Never raises."""
    import apprise

    _quiet_apprise()
    kind = apprise.NotifyType.FAILURE if problem else apprise.NotifyType.SUCCESS
    results = []
    for url in urls:
        shown = targets.redact_url(url)
        try:
            a = apprise.Apprise()
            if not a.add(url):
                results.append({"url": shown, "ok": False, "error": "not a valid URL"})
                continue
            ok = bool(a.notify(body=body, title=title, notify_type=kind))
            results.append({"url": shown, "ok": ok} | ({} if ok else {"error": "not delivered"}))
        except Exception as exc:  # noqa: BLE001 - a target never breaks the notifier
            results.append(
                {"url": shown, "ok": False, "error": redact_text(error_line(exc), [url])}
            )
    return results


def _log_failures(results: list[dict[str, Any]]) -> None:
    for r in results:
        if not r["ok"]:
            logger.warning("alert target %s failed: %s", r["url"], r["error"])


def _host() -> str:
    return socket.gethostname()


class Notifier:
    """Checks and sends for one home."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.lock = threading.Lock()

    @property
    def state_path(self) -> Path:
        return self.rt.home.data_dir / STATE_FILE

    def _load(self) -> dict[str, Any]:
        try:
            return json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def _save(self, state: dict[str, Any]) -> None:
        tmp = self.state_path.with_name(STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(state, indent=1), encoding="utf-8")
        os.replace(tmp, self.state_path)

    def check(self, now: datetime | None = None, *, force: bool = False) -> list[dict[str, Any]]:
        """Look once; send what is due. Returns the messages sent (title, body, results).

        ``force`` sends the queue regardless of the rate limit (the agent stopping)."""
        from etiket_sync_agent.locking import FileLock

        # one check at a time per home, across processes (the agent's own notifier and
        # `alerts watch`): they share the alert state, so nothing is told twice
        with self.lock, FileLock(self.rt.home.data_dir / LOCK_FILE):
            return self._check(now or datetime.now(timezone.utc), force)

    def _check(self, now: datetime, force: bool) -> list[dict[str, Any]]:
        urls = targets.urls(self.rt.home)
        if not urls:
            return []
        settings = targets.settings(self.rt.home)
        snap = snapshot(self.rt)
        state = self._load()
        events = rules.evaluate(snap, failed_for_good(self.rt), settings, state, now)
        queue: list[dict[str, str]] = state.setdefault("queue", [])
        queue.extend(e.as_json() for e in events)
        sent = []
        last = state.get("last_sent")
        due = last is None or (now - datetime.fromisoformat(last)).total_seconds() >= (
            settings.min_interval_s
        )
        if queue and (due or force):
            message = self._message(queue)
            results = send(urls, *message)
            _log_failures(results)
            if any(r["ok"] for r in results):
                state["queue"] = []
                state["last_sent"] = now.isoformat()
            sent.append({"title": message[0], "body": message[1], "results": results})
        digest = self._digest(snap, settings, state, now)
        if digest is not None:
            results = send(urls, *digest)
            _log_failures(results)
            sent.append({"title": digest[0], "body": digest[1], "results": results})
        self._save(state)
        return sent

    def note_start(self, loop: dict[str, Any], now: datetime | None = None) -> bool:
        """Called as an agent starts, with the loop state it found (``loop_state``): when
        the previous agent was killed or crashed and no check has reported it yet (no
        watcher ran meanwhile), queue "the agent was down from X to Y". True if queued."""
        from etiket_sync_agent.locking import FileLock

        if loop["state"] not in ("gone", "crashed") or not targets.urls(self.rt.home):
            return False
        now = now or datetime.now(timezone.utc)
        with self.lock, FileLock(self.rt.home.data_dir / LOCK_FILE):
            state = self._load()
            if "loop" in state.get("active", {}):
                return False  # reported already: its recovery follows at the next check
            last = loop["last_heartbeat"] or loop["started"] or "an unknown time"
            why = f": {loop['message']}" if loop.get("message") else ""
            text = (
                f"the agent was down from {last} (its last heartbeat; {loop['state_text']}"
                f"{why}) to {now.isoformat(timespec='seconds')}, when it started again"
            )
            event = rules.Event("recovered", "loop", "recovered: " + redact_text(text))
            state.setdefault("queue", []).append(event.as_json())
            self._save(state)
        return True

    def _message(self, queue: list[dict[str, str]]) -> tuple[str, str, bool]:
        problems = [e for e in queue if e["kind"] == "problem"]
        recovered = [e for e in queue if e["kind"] == "recovered"]
        parts = []
        if problems:
            parts.append(f"{len(problems)} problem{'s' if len(problems) != 1 else ''}")
        if recovered:
            parts.append(f"{len(recovered)} recovered")
        title = f"etiket-sync on {_host()}: " + ", ".join(parts)
        lines = [
            ("PROBLEM: " if e["kind"] == "problem" else "RECOVERED: ")
            + e["text"].removeprefix("recovered: ")
            for e in queue
        ]
        lines.append(f"Details: `etiket-sync status` (home {self.rt.home.data_dir}).")
        return title, "\n".join(lines), bool(problems)

    def _digest(
        self, snap: dict[str, Any], settings: targets.AlertSettings, state: dict[str, Any],
        now: datetime,
    ) -> tuple[str, str, bool] | None:  # fmt: skip
        if settings.digest_hour < 0:
            return None
        local = now.astimezone()
        today = local.date().isoformat()
        if local.hour < settings.digest_hour or state.get("digest_date") == today:
            return None
        state["digest_date"] = today
        lines = [f"Agent: {snap['loop']['state_text']}."]
        for s in snap["sources"]:
            c = s["items"]
            lines.append(
                f"{s['name']} ({s['status']}): {c['synchronized']} synchronized, "
                f"{c['pending']} pending, {c['live']} live, {c['failed']} failed"
            )
        active = state.get("active", {})
        lines.append("Open problems: " + ("; ".join(active.values()) if active else "none") + ".")
        return (
            f"etiket-sync on {_host()}: daily digest",
            redact_text("\n".join(lines)),
            bool(active),
        )


def send_test(rt: Runtime) -> list[dict[str, Any]]:
    """A test message to every target; per target whether it arrived."""
    urls = targets.urls(rt.home)
    if not urls:
        from etiket_sync_agent.errors import NotFoundError

        raise NotFoundError("no alert targets", hint="add one with `etiket-sync alerts add URL`")
    return send(
        urls,
        f"etiket-sync on {_host()}: test",
        f"A test alert from the agent of {rt.home.data_dir}. Alerts reach you here.",
        problem=False,
    )


class NotifierThread:
    """A :class:`Notifier` checking every ``check_every_s`` in a daemon thread."""

    def __init__(self, rt: Runtime, every_s: float | None = None) -> None:
        self.notifier = Notifier(rt)
        self.every_s = every_s
        #: check as soon as the thread starts (e.g. to tell that the agent was down)
        self.check_at_once = False
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="alerts", daemon=True)

    def _interval(self) -> float:
        if self.every_s is not None:
            return self.every_s
        try:
            return targets.settings(self.notifier.rt.home).check_every_s
        except Exception:  # noqa: BLE001
            return targets.AlertSettings().check_every_s

    def _run(self) -> None:
        self._wait_for_loop()
        if self.check_at_once:
            self._safe_check(force=False)
        while not self._stop.wait(self._interval()):
            self._safe_check(force=False)

    def _wait_for_loop(self) -> None:
        """Until this process's loop says it runs, ``START_GRACE_S`` at most: a check
        before would see the state the previous agent left (e.g. "process gone")."""
        from etiket_sync_agent.services.status import loop_state

        deadline = time.monotonic() + START_GRACE_S
        while time.monotonic() < deadline and not self._stop.is_set():
            try:
                loop = loop_state(self.notifier.rt)
                if loop["state"] == "running" and loop["pid"] == os.getpid():
                    return
            except Exception:  # noqa: BLE001 - e.g. a busy state DB: look again
                pass
            self._stop.wait(0.2)

    def _safe_check(self, force: bool) -> None:
        try:
            self.notifier.check(force=force)
        except Exception as exc:  # noqa: BLE001 - alerts never stop the agent
            logger.warning("alerts: check failed: %s", error_line(exc))

    def start(self) -> NotifierThread:
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop checking; one last check sends what is queued (e.g. the loop crashed)."""
        self._stop.set()
        self.thread.join(30)
        self._safe_check(force=True)


def start_notifier(rt: Runtime, every_s: float | None = None) -> NotifierThread:
    """Start checking in a thread. Call it before the loop starts: the loop state the
    previous agent left is read first (see :meth:`Notifier.note_start`)."""
    from etiket_sync_agent.services.status import loop_state

    thread = NotifierThread(rt, every_s)
    try:
        thread.check_at_once = thread.notifier.note_start(loop_state(rt))
    except Exception as exc:  # noqa: BLE001 - alerts never keep the agent from starting
        logger.warning("alerts: reading how the last agent ended failed: %s", error_line(exc))
    return thread.start()


def watch(rt: Runtime, *, once: bool = False) -> Iterator[dict[str, Any]]:
    """Check every ``check_every_s`` from this process (``etiket-sync alerts watch``),
    yielding each message sent; ``once``: one check."""
    notifier = Notifier(rt)
    while True:
        yield from notifier.check()
        if once:
            return
        time.sleep(targets.settings(rt.home).check_every_s)
