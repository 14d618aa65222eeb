"""One Runtime for the whole server, opened on first use (requests run in threads; the
state DB and the store are safe to share between threads)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from etiket_sync_agent.runtime import Runtime


class RuntimeHolder:
    def __init__(self, factory: Callable[[], Runtime]) -> None:
        self._factory = factory
        self._rt: Runtime | None = None
        self._lock = threading.Lock()

    def get(self) -> Runtime:
        with self._lock:
            if self._rt is None:
                self._rt = self._factory()
            return self._rt

    def close(self) -> None:
        with self._lock:
            if self._rt is not None:
                self._rt.close()
                self._rt = None
