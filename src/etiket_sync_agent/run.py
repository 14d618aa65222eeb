"""Run the sync loop from Python: ``sync_loop(0)`` runs forever, ``sync_loop(N)`` N times.

``python -m etiket_sync_agent`` calls :func:`main`. SIGINT/SIGTERM finish the item at
hand and stop the loop cleanly.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from etiket_sync_agent.engine.events import Reporter, null_reporter
from etiket_sync_agent.engine.loop import RunSummary, SyncEngine
from etiket_sync_agent.engine.settings import EngineSettings
from etiket_sync_agent.home import Home
from etiket_sync_agent.logs import setup_logging
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.state import repository as repo


@contextmanager
def _stop_on_signals(engine: SyncEngine) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}

    def handler(signum: int, frame: object) -> None:
        engine.stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, prev in previous.items():
            signal.signal(sig, prev)


def sync_loop(
    n_cycles: int = 0,
    *,
    home: str | Path | None = None,
    once: bool = False,
    settings: EngineSettings | None = None,
    reporter: Reporter = null_reporter,
    runtime: Runtime | None = None,
    only_sources: set[str] | None = None,
) -> RunSummary:
    """Run the sync loop ``n_cycles`` iterations (0 = until SIGINT/SIGTERM).

    ``only_sources``: names of the sources to synchronize (default: every source).
    """
    rt = runtime or Runtime(Home.resolve(home))
    setup_logging(rt.home)
    engine = SyncEngine(rt, settings, reporter, only_sources=only_sources)
    try:
        for name in sorted(only_sources or ()):
            repo.get_source(rt.state, name)  # NotFoundError for a name that does not exist
        with _stop_on_signals(engine):
            return engine.run(iterations=n_cycles, once=once)
    finally:
        if runtime is None:
            rt.close()
