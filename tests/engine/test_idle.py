"""An idle home costs nothing per source: a database whose files did not change is not
asked for new datasets, and the loop's idle questions to the state DB do not depend on
the number of sources."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from importlib.metadata import EntryPoint
from pathlib import Path

from sqlalchemy import event

from etiket_sync_agent.home import Home
from etiket_sync_agent.plugins.registry import BACKEND_GROUP, Registry
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services import sources
from tests.conftest import FAST
from tests.helpers import item_status, running_engine, wait_for

CHURN = EntryPoint("churn", "tests.engine._churn_backend:ChurnBackend", BACKEND_GROUP)


def _asked(index: Path) -> int:
    log = Path(f"{index}.asked")
    return len(log.read_text().split()) if log.exists() else 0


def test_an_unchanged_database_is_asked_once_and_again_when_it_changes(
    home: Home, tmp_path: Path
) -> None:
    rt = Runtime(home, registry=Registry([CHURN]))
    rt.store.create_scope("lab")
    index = tmp_path / "runs.json"
    index.write_text(json.dumps({"datasets": [{"id": "r1"}]}))
    sources.add_source(rt, "churn", "fridge", scope="lab", settings={"index_file": str(index)})
    settings = replace(FAST, db_poll_interval_s=0.05)
    with running_engine(rt, settings) as engine:
        assert wait_for(lambda: item_status(rt, "r1", source="fridge") == "synchronized")
        start = engine._iteration
        assert wait_for(lambda: engine._iteration >= start + 10)  # ten polls and more
        # its change token (the stat of the index) stayed the same: asked only at start
        assert _asked(index) == 1
        index.write_text(json.dumps({"datasets": [{"id": "r1"}, {"id": "r2"}]}))
        assert wait_for(lambda: item_status(rt, "r2", source="fridge") == "synchronized")
        assert _asked(index) == 2
    rt.close()


def test_idle_cost_does_not_grow_with_the_number_of_sources(home: Home, tmp_path: Path) -> None:
    rt = Runtime(home, registry=Registry([CHURN]))
    rt.store.create_scope("lab")
    n = 30
    for i in range(n):
        index = tmp_path / f"runs{i}.json"
        index.write_text(json.dumps({"datasets": [{"id": f"r{i}"}]}))
        sources.add_source(
            rt, "churn", f"s{i:02d}", scope="lab", settings={"index_file": str(index)}
        )
    # recheck_s: the periodic look for items put back by `etiket-sync retry` (one query
    # per source every few seconds) stays out of the measured window
    settings = replace(FAST, db_poll_interval_s=0.2, recheck_s=600.0)
    with running_engine(rt, settings):
        assert wait_for(
            lambda: all(
                item_status(rt, f"r{i}", source=f"s{i:02d}") == "synchronized" for i in range(n)
            ),
            60,
        )
        statements: list[str] = []
        listen = lambda *args: statements.append(args[2])  # noqa: E731 - (conn, cursor, sql, ...)
        event.listen(rt.state.engine, "before_cursor_execute", listen)
        t0 = time.monotonic()
        time.sleep(2.0)
        event.remove(rt.state.engine, "before_cursor_execute", listen)
        seconds = time.monotonic() - t0
    # idle, the loop asks the state DB a few cheap questions per poll period (did the
    # sources change?) and writes a heartbeat: nothing per source. A loop that reads
    # every source and its due items at each wake runs ~3 statements per source.
    polls = seconds / settings.db_poll_interval_s
    heartbeats = seconds / settings.heartbeat_s
    assert len(statements) <= 3 * polls + 6 * heartbeats + 10, statements
    rt.close()
