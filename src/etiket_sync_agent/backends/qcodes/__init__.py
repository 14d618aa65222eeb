"""qcodes: runs of QCoDeS SQLite databases, read directly (qcodes is not imported)."""

from etiket_sync_agent.backends.qcodes.backend import QCoDeSBackend, QCoDeSConfig

__all__ = ["QCoDeSBackend", "QCoDeSConfig"]
