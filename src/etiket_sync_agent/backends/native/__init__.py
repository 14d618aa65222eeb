"""native: datasets written by scripts with ``from etiket_sync_agent import native``."""

from etiket_sync_agent.backends.native.backend import NativeBackend, NativeConfig

__all__ = ["NativeBackend", "NativeConfig"]
