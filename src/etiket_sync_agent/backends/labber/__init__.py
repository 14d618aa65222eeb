"""labber: Labber's HDF5 logs, read directly (Labber's own API is not needed)."""

from etiket_sync_agent.backends.labber.backend import LabberBackend, LabberConfig

__all__ = ["LabberBackend", "LabberConfig"]
