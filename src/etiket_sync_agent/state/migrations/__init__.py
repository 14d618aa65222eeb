"""The state database's Alembic migrations (run in-process by :mod:`etiket_sync_agent.db`)."""

from __future__ import annotations

from pathlib import Path

HEAD = "0006"
"""The newest revision in ``versions/`` (a test keeps the two in step)."""

VERSION_TABLE = "alembic_version"
SCRIPT_LOCATION = Path(__file__).parent
