"""Render engine events: a progress bar for finite runs, a calm summary otherwise.

Nothing is drawn before the engine reports its first event: by then the home, the
sources named and the single-instance lock have been checked, so an error is never
preceded by an empty progress bar.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from etiket_sync_agent.cli.render import console
from etiket_sync_agent.engine import events as ev


def _problem(event: ev.Event) -> str | None:
    """The line of an event that is a problem (a failed item, a failing source)."""
    if isinstance(event, ev.ItemFinished) and event.status == "failed":
        return f"[red]failed[/] {escape(event.source)}: {escape(event.identifier)}: " + escape(
            event.error or ""
        )
    if isinstance(event, ev.SourceFailed):
        return f"[red]source {escape(event.source)}:[/] {escape(event.error)}"
    return None


class ProgressReporter:
    """Counts discovered work and finished items into a Rich progress bar (``--once``,
    ``--iterations``, ``demo``); problems are printed above it. ``quiet``: problems only."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.progress: Progress | None = None
        self.failed = 0

    def __enter__(self) -> ProgressReporter:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def _bar(self) -> Progress:
        if self.progress is None:
            self.progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[current]}", style="dim"),
                TimeElapsedColumn(),
                console=console,
                transient=False,
            )
            self.task = self.progress.add_task("syncing", total=0, current="")
            self.progress.start()
        return self.progress

    def __call__(self, event: ev.Event) -> None:
        line = _problem(event)
        if isinstance(event, ev.ItemFinished) and event.status == "failed":
            self.failed += 1
        if line:
            console.print(line, highlight=False)
        if self.quiet:
            return
        if isinstance(event, ev.SourceDiscovered):
            bar = self._bar()
            total = bar.tasks[0].total or 0
            bar.update(self.task, total=total + event.pending)
        elif isinstance(event, ev.ItemStarted):
            self._bar().update(self.task, current=f"{event.source}: {event.identifier}")
        elif isinstance(event, ev.ItemFinished):
            bar = self._bar()
            bar.advance(self.task)
            t = bar.tasks[0]
            if t.total is not None and t.completed > t.total:
                bar.update(self.task, total=t.completed)


class SummaryReporter:
    """For the endless loop: problems at once, otherwise one calm line at most every
    ``every_s`` seconds saying what was synchronized since the last one."""

    def __init__(self, every_s: float = 60.0, quiet: bool = False) -> None:
        self.every_s = every_s
        self.quiet = quiet
        self.counts: Counter[str] = Counter()
        self.live_items: set[tuple[str, str]] = set()
        self.last = time.monotonic()

    def __call__(self, event: ev.Event) -> None:
        line = _problem(event)
        if line:
            console.print(line, highlight=False)
        if isinstance(event, ev.ItemFinished):
            if event.status == "live":
                self.live_items.add((event.source, event.identifier))
            else:
                self.counts[event.status] += 1
        elif isinstance(event, ev.SourceDiscovered):
            self.counts["new"] += event.new
            self.counts["changed"] += event.changed
        if time.monotonic() - self.last >= self.every_s:
            self.flush()

    def flush(self) -> None:
        """Print the summary line of what happened since the last one (if anything)."""
        self.last = time.monotonic()
        c, live = self.counts, self.live_items
        if self.quiet or not (sum(c.values()) or live):
            self.counts, self.live_items = Counter(), set()
            return
        parts = []
        if c["new"] or c["changed"]:
            parts.append(f"found {c['new']} new, {c['changed']} changed")
        parts.append(f"{c['synchronized']} synchronized")
        if live:
            parts.append(f"{len(live)} live")
        if c["failed"]:
            parts.append(f"[red]{c['failed']} failed[/]")
        stamp = datetime.now().astimezone().strftime("%H:%M:%S")
        console.print(f"[dim]{stamp}[/] " + ", ".join(parts), highlight=False)
        self.counts, self.live_items = Counter(), set()


def line_reporter(event: ev.Event) -> None:
    """``run -v``: one line per finished item (live passes too) and per source problem."""
    if isinstance(event, ev.ItemFinished):
        color = {"failed": "red", "live": "cyan"}.get(event.status, "green")
        detail = f": {escape(event.error)}" if event.error else ""
        console.print(
            f"[{color}]{event.status}[/] {escape(event.source)}: {escape(event.identifier)}"
            f" ({event.seconds:.2f} s){detail}",
            highlight=False,
        )
    elif isinstance(event, ev.SourceFailed):
        console.print(_problem(event), highlight=False)
    elif isinstance(event, ev.SourceDiscovered) and (event.new or event.changed):
        console.print(
            f"{escape(event.source)}: {event.new} new, {event.changed} changed dataset(s)",
            highlight=False,
        )
