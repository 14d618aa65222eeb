"""A loop that stops or stalls ends in an alert: a real agent process, a real webhook.

* stalled in a live process (no heartbeat: here the state database stays locked by
  another process): the agent's own notifier thread tells, and tells the recovery;
* killed (SIGKILL) and found dead by `alerts watch --once` (cron, a timer): told at once;
* killed and restarted (a service manager's Restart=) with nobody watching: the new agent
  tells how long the old one was down.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest

from etiket_sync_agent.home import Home
from etiket_sync_agent.ops.alerts import targets
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services.status import STALE_AFTER, loop_state
from tests.conftest import ETIKET_SYNC
from tests.helpers import add_folder_source, make_dataset, wait_for
from tests.ops.receivers import webhook


@pytest.fixture
def agent_home(home: Home, tmp_path: Path) -> Home:
    root = tmp_path / "data"
    make_dataset(root, "a")
    rt = Runtime(home)
    add_folder_source(rt, root)
    targets.set_settings(home, {"min_interval_s": 0, "check_every_s": 0.5})
    rt.close()
    return home


def _agent(home: Home) -> subprocess.Popen:
    env = {**os.environ, "ETIKET_SYNC_HOME": str(home.data_dir)}
    proc = subprocess.Popen(
        [ETIKET_SYNC, "run", "--quiet"], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    rt = Runtime(home)
    try:
        assert wait_for(lambda: loop_state(rt)["state"] == "running", timeout=60)
    finally:
        rt.close()
    return proc


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(60)


def _messages(posts: list[dict]) -> list[str]:
    return [p["message"] for p in posts]


def test_a_stalled_loop_is_told_by_the_agent_itself(agent_home: Home) -> None:
    with webhook() as (hook, posts):
        targets.add_target(agent_home, hook)
        proc = _agent(agent_home)
        try:
            # another process holds the state database's write lock: no heartbeat lands
            lock = sqlite3.connect(agent_home.state_db, isolation_level=None)
            lock.execute("BEGIN IMMEDIATE")
            try:
                timeout = STALE_AFTER.total_seconds() + 30
                assert wait_for(lambda: posts, timeout=timeout), "no alert for a stale loop"
                assert "PROBLEM: the sync loop is not responding" in posts[0]["message"]
                assert proc.poll() is None  # the process lives: the loop stalled
            finally:
                lock.execute("ROLLBACK")
                lock.close()
            assert wait_for(lambda: len(posts) >= 2, timeout=60)
            assert "RECOVERED: the sync loop is not responding" in posts[1]["message"]
        finally:
            _stop(proc)


def test_a_killed_agent_is_told_by_alerts_watch_once(agent_home: Home, cli) -> None:
    with webhook() as (hook, posts):
        targets.add_target(agent_home, hook)
        proc = _agent(agent_home)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        out = cli("alerts", "watch", "--once").stdout
        assert "1 problem" in out
        [message] = _messages(posts)
        assert "PROBLEM: the sync loop is stopped (process gone)" in message
        cli("alerts", "watch", "--once")
        assert len(posts) == 1  # told once
        # restarted: the new agent tells the recovery, not the downtime again
        proc = _agent(agent_home)
        try:
            assert wait_for(lambda: len(posts) >= 2, timeout=60)
            assert "RECOVERED: the sync loop is stopped (process gone)" in posts[1]["message"]
            assert "was down" not in posts[1]["message"]
        finally:
            _stop(proc)


def test_a_killed_and_restarted_agent_tells_how_long_it_was_down(agent_home: Home) -> None:
    with webhook() as (hook, posts):
        targets.add_target(agent_home, hook)
        proc = _agent(agent_home)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        rt = Runtime(agent_home)
        last = loop_state(rt)["last_heartbeat"]
        rt.close()
        assert posts == []  # nobody watched
        proc = _agent(agent_home)
        try:
            assert wait_for(lambda: posts, timeout=60)
            message = posts[0]["message"]
            assert f"RECOVERED: the agent was down from {last}" in message
            assert "stopped (process gone)" in message and "when it started again" in message
        finally:
            _stop(proc)
        assert len(posts) == 1
