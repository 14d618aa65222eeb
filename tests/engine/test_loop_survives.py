"""Nothing a user does to the sources, and no busy state database, ends the sync loop.

A source removed, paused or edited at any moment — while it is discovered, while one of
its items fails, between any two steps — simply stops (or changes) at the next step.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import threading
import time
from importlib.metadata import EntryPoint
from pathlib import Path

from sqlalchemy import event

from etiket_sync_agent.engine.events import Event, ItemStarted
from etiket_sync_agent.engine.loop import SyncEngine
from etiket_sync_agent.errors import EtiketSyncError
from etiket_sync_agent.home import Home
from etiket_sync_agent.plugins.registry import BACKEND_GROUP, Registry
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services import sources
from etiket_sync_agent.state import repository as repo
from tests.conftest import ETIKET_SYNC, FAST
from tests.helpers import add_folder_source, item_status, make_dataset, wait_for

CHURN = EntryPoint("churn", "tests.engine._churn_backend:ChurnBackend", BACKEND_GROUP)


def _index(path: Path, datasets: list[dict], on_discover: list[str] | None = None) -> Path:
    path.write_text(json.dumps({"datasets": datasets, "on_discover": on_discover}))
    return path


def _churn_runtime(home: Home) -> Runtime:
    rt = Runtime(home, registry=Registry([CHURN]))
    rt.store.create_scope("lab")
    return rt


def test_a_source_removed_while_its_item_fails_does_not_stop_the_loop(
    home: Home, tmp_path: Path
) -> None:
    rt = _churn_runtime(home)
    bad = _index(tmp_path / "bad.json", [{"id": "broken", "fail": True}])
    good = _index(tmp_path / "good.json", [{"id": "fine"}])
    sources.add_source(rt, "churn", "doomed", scope="lab", settings={"index_file": str(bad)})
    sources.add_source(rt, "churn", "other", scope="lab", settings={"index_file": str(good)})

    def remove_when_started(ev: Event) -> None:
        # the user removes the source while its item is being synchronized (and fails)
        if isinstance(ev, ItemStarted) and ev.identifier == "broken":
            sources.remove_source(rt, "doomed")

    summary = SyncEngine(rt, FAST, remove_when_started).run(iterations=3)
    assert summary.iterations == 3
    assert [s.name for s in repo.list_sources(rt.state)] == ["other"]
    assert item_status(rt, "fine", source="other") == "synchronized"
    assert repo.loop_status(rt.state).state == "stopped"
    rt.close()


def test_a_source_removed_while_it_is_discovered_does_not_stop_the_loop(
    home: Home, tmp_path: Path
) -> None:
    rt = _churn_runtime(home)
    # discovery of "doomed" runs the real CLI removing that very source, then fails
    remove = [ETIKET_SYNC, "sources", "remove", "doomed", "--yes"]
    doomed = _index(tmp_path / "doomed.json", [{"id": "a"}], on_discover=remove)
    good = _index(tmp_path / "good.json", [{"id": "fine"}])
    sources.add_source(rt, "churn", "doomed", scope="lab", settings={"index_file": str(doomed)})
    sources.add_source(rt, "churn", "other", scope="lab", settings={"index_file": str(good)})
    summary = SyncEngine(rt, FAST).run(iterations=3)
    assert summary.iterations == 3
    assert "doomed" not in summary.source_errors  # it is gone, not failing
    assert [s.name for s in repo.list_sources(rt.state)] == ["other"]
    assert item_status(rt, "fine", source="other") == "synchronized"
    assert not [e for e in repo.recent_errors(rt.state) if "doomed" in e.message]
    rt.close()


def _agent(home: Home) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ETIKET_SYNC_HOME": str(home.data_dir), "ETIKET_SYNC_POLL_S": "0.5"}
    return subprocess.Popen(
        [ETIKET_SYNC, "run"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def _stop(agent: subprocess.Popen[bytes]) -> str:
    if agent.poll() is None:
        agent.terminate()
    try:
        _, err = agent.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        agent.kill()
        _, err = agent.communicate()
    return err.decode(errors="replace")


def test_sources_removed_paused_and_edited_at_random_moments_never_stop_the_agent(
    home: Home, runtime: Runtime, tmp_path: Path
) -> None:
    rng = random.Random(7)
    runtime.store.create_scope("proj")
    roots = {}
    for n in range(4):
        root = tmp_path / f"data{n}"
        for i in range(6):
            make_dataset(root, f"run{i}", {"data.bin": os.urandom(50_000)})
        # a dataset whose info file is broken fails: its error is logged on the source
        bad = root / "broken"
        bad.mkdir()
        (bad / "_QH_dataset_info.yaml").write_text("name: [unclosed\n")
        roots[f"s{n}"] = root
    for name, root in roots.items():
        sources.add_source(
            runtime, "folderbase", name, scope="proj", settings={"root_directory": str(root)}
        )
    agent = _agent(home)
    try:
        deadline = time.monotonic() + 8
        rounds = 0
        while time.monotonic() < deadline:
            name = rng.choice(sorted(roots))
            action = rng.choice(["remove", "pause", "edit"])
            try:
                if action == "remove":
                    sources.remove_source(runtime, name)
                    time.sleep(rng.uniform(0, 0.3))
                    sources.add_source(
                        runtime,
                        "folderbase",
                        name,
                        scope="proj",
                        settings={"root_directory": str(roots[name])},
                    )
                elif action == "pause":
                    sources.set_paused(runtime, name, True)
                    time.sleep(rng.uniform(0, 0.3))
                    sources.set_paused(runtime, name, False)
                else:
                    server = rng.random() < 0.5
                    sources.edit_source(runtime, name, {"is_server_folder": server})
            except EtiketSyncError:
                pass  # e.g. the state DB busy beyond the CLI's patience: the agent matters
            rounds += 1
            time.sleep(rng.uniform(0, 0.3))
            assert agent.poll() is None, _stop(agent)
        assert rounds >= 10
        # the agent still works: every source ends synchronized, the broken one failed
        for name in roots:
            assert wait_for(
                lambda n=name: all(
                    item_status(runtime, f"run{i}", source=n) == "synchronized" for i in range(6)
                ),
                timeout=60,
            ), name
        assert agent.poll() is None
        assert repo.loop_status(runtime.state).state == "running"
    finally:
        err = _stop(agent)
    assert "Traceback" not in err, err


def _short_busy_timeout(rt: Runtime, seconds: float) -> None:
    """Make the engine's state-DB connections give up on a lock after ``seconds``."""
    engine = rt.state.engine
    engine.dispose()

    @event.listens_for(engine, "connect")
    def _busy(dbapi_conn, _record) -> None:  # noqa: ANN001
        dbapi_conn.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")


def test_a_busy_state_database_never_ends_the_loop(home: Home, tmp_path: Path) -> None:
    rt = Runtime(home)
    root = tmp_path / "data"
    for i in range(8):
        make_dataset(root, f"run{i}", {"data.bin": os.urandom(20_000)})
    add_folder_source(rt, root)
    _short_busy_timeout(rt, 0.05)
    engine = SyncEngine(rt, FAST)
    crashed: list[BaseException] = []

    def run() -> None:
        try:
            engine.run()
        except BaseException as exc:  # noqa: BLE001 - what the test looks for
            crashed.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    # another process (here: a connection of its own) holds the write lock for a while,
    # again and again, while the agent discovers and synchronizes
    blocker = sqlite3.connect(home.state_db, timeout=30, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        thread.start()
        for _ in range(6):
            time.sleep(0.4)
            blocker.execute("COMMIT")
            time.sleep(0.1)
            blocker.execute("BEGIN IMMEDIATE")
        blocker.execute("COMMIT")
        assert thread.is_alive(), crashed
        # once the lock is free, everything is synchronized
        assert wait_for(
            lambda: all(item_status(rt, f"run{i}") == "synchronized" for i in range(8)), 60
        )
        assert thread.is_alive() and not crashed, crashed
    finally:
        if blocker.in_transaction:
            blocker.execute("COMMIT")
        blocker.close()
        engine.stop()
        thread.join(30)
    assert not crashed, crashed
    rt.close()
