"""core_tools: measurements of core-tools PostgreSQL databases, read directly with psycopg
(the core_tools package is not needed; psycopg is imported only when connecting)."""

from etiket_sync_agent.backends.core_tools.backend import CoreToolsBackend
from etiket_sync_agent.backends.core_tools.config import CoreToolsConfig

__all__ = ["CoreToolsBackend", "CoreToolsConfig"]
