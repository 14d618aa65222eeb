"""Agents' heartbeats in the catalog (SQLite and PostgreSQL), and the publisher that
writes them from the engine's heartbeat without ever failing it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from etiket_sync_agent.store.interface import AgentReport
from etiket_sync_agent.store.local import LocalStore

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_one_row_per_agent_replaced_by_each_report(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = None
    if kind == "postgres":
        url = request.getfixturevalue("make_pg_database")()
    store = LocalStore(tmp_path / "store", catalog_url=url)
    try:
        assert store.list_agents() == []
        first = AgentReport("id-b", "pc2", "/home/b", "0.1", "running", T0, T0, {})
        store.report_agent(first)
        sources = {"qc": {"status": "ok", "items": {"synchronized": 3, "failed": 1}}}
        later = AgentReport(
            "id-b", "pc2", "/home/b", "0.2", "running", T0 + timedelta(1), T0, sources
        )
        store.report_agent(later)
        other = AgentReport("id-a", "pc1", "/home/a", "0.2", "running", T0, None, {})
        store.report_agent(other)
        assert store.list_agents() == [other, later]
    finally:
        store.close()


def test_the_publisher_never_raises_when_the_store_is_down(tmp_path: Path, monkeypatch) -> None:
    from etiket_sync_agent.home import Home
    from etiket_sync_agent.runtime import Runtime
    from etiket_sync_agent.services.agents import HeartbeatPublisher, list_agents

    monkeypatch.setenv("ETIKET_SYNC_STORE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    rt = Runtime(Home.resolve(tmp_path / "home"))
    try:
        publish = HeartbeatPublisher(rt, interval_s=0)
        assert publish.publish() is False
        publish()  # in its thread: logs, never raises
        assert publish._thread is not None  # noqa: SLF001
        publish._thread.join(30)  # noqa: SLF001
    finally:
        rt.close()
    monkeypatch.delenv("ETIKET_SYNC_STORE_URL")
    rt = Runtime(Home.resolve(tmp_path / "home"))
    try:
        publish = HeartbeatPublisher(rt, interval_s=3600)
        assert publish.publish() is True
        (agent,) = list_agents(rt)
        assert agent["home"] == str(rt.home.data_dir) and agent["sources"] == []
        assert agent["state"] == "running" and not agent["silent"]
    finally:
        rt.close()
