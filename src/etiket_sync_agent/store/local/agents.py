"""Agents' heartbeats in the catalog: the work functions run inside its transactions."""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from etiket_sync_agent.store.catalog import Agent
from etiket_sync_agent.store.interface import AgentReport

AGENTS = Agent.__table__


def report_agent(session: Session, report: AgentReport) -> None:
    """One row per agent: update it, or insert it the first time (a lost insert race is
    an IntegrityError, which the catalog's write retries as an update)."""
    values = {
        "host": report.host,
        "home": report.home,
        "version": report.version,
        "state": report.state,
        "started": report.started,
        "heartbeat": report.heartbeat,
        "sources": report.sources,
    }
    done = session.execute(
        update(AGENTS).where(AGENTS.c.agent_id == report.agent_id).values(**values)
    )
    if not done.rowcount:
        session.execute(insert(AGENTS).values(agent_id=report.agent_id, **values))


def list_agents(session: Session) -> list[AgentReport]:
    query = select(AGENTS).order_by(AGENTS.c.host, AGENTS.c.home, AGENTS.c.agent_id)
    return [
        AgentReport(
            agent_id=r["agent_id"],
            host=r["host"],
            home=r["home"],
            version=r["version"],
            state=r["state"],
            heartbeat=r["heartbeat"],
            started=r["started"],
            sources=dict(r["sources"] or {}),
        )
        for r in session.execute(query).mappings()
    ]
