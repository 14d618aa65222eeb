"""Render engine events: a progress bar for finite runs, one line per item otherwise."""

from __future__ import annotations

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from etiket_sync_agent.cli.render import console
from etiket_sync_agent.engine import events as ev


class ProgressReporter:
    """Counts discovered work and finished items into a Rich progress bar."""

    def __init__(self) -> None:
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
        self.failed = 0

    def __enter__(self) -> ProgressReporter:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.SourceDiscovered):
            total = self.progress.tasks[0].total or 0
            self.progress.update(self.task, total=total + event.pending)
        elif isinstance(event, ev.ItemStarted):
            self.progress.update(self.task, current=f"{event.source}: {event.identifier}")
        elif isinstance(event, ev.ItemFinished):
            self.progress.advance(self.task)
            t = self.progress.tasks[0]
            if t.total is not None and t.completed > t.total:
                self.progress.update(self.task, total=t.completed)
            if event.status == "failed":
                self.failed += 1
                console.print(f"[red]failed[/] {event.source}: {event.identifier}: {event.error}")
        elif isinstance(event, ev.SourceFailed):
            console.print(f"[red]source {event.source}:[/] {event.error}")


def line_reporter(event: ev.Event) -> None:
    """For the endless loop: one line per finished item and per source problem."""
    if isinstance(event, ev.ItemFinished):
        color = {"failed": "red", "live": "cyan"}.get(event.status, "green")
        detail = f": {event.error}" if event.error else ""
        console.print(
            f"[{color}]{event.status}[/] {event.source}: {event.identifier}"
            f" ({event.seconds:.2f} s){detail}",
            highlight=False,
        )
    elif isinstance(event, ev.SourceFailed):
        console.print(f"[red]source {event.source}:[/] {event.error}", highlight=False)
    elif isinstance(event, ev.SourceDiscovered) and (event.new or event.changed):
        console.print(
            f"{event.source}: {event.new} new, {event.changed} changed dataset(s)",
            highlight=False,
        )
