"""One home's open resources — state DB, dataset store, plugin registry — opened lazily.

Services and the engine take a :class:`Runtime`; the CLI builds one per invocation.
"""

from __future__ import annotations

import threading
from functools import cached_property
from typing import TYPE_CHECKING

from etiket_sync_agent.home import Home

if TYPE_CHECKING:
    from etiket_sync_agent.plugins.registry import Registry
    from etiket_sync_agent.state.db import StateDB
    from etiket_sync_agent.store.interface import DatasetStore


class Runtime:
    def __init__(
        self,
        home: Home | None = None,
        *,
        registry: Registry | None = None,
        store: DatasetStore | None = None,
    ) -> None:
        self.home = (home or Home.resolve()).ensure()
        self._registry = registry
        self._store = store
        self._lock = threading.Lock()

    @cached_property
    def state(self) -> StateDB:
        from etiket_sync_agent.state.db import StateDB

        return StateDB(self.home.state_db)

    @property
    def store(self) -> DatasetStore:
        with self._lock:
            if self._store is None:
                from etiket_sync_agent.store.factory import open_store

                self._store = open_store(self.home)
            return self._store

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            from etiket_sync_agent.plugins.registry import default_registry

            self._registry = default_registry()
        return self._registry

    def close(self) -> None:
        if "state" in self.__dict__:
            self.state.close()
        if self._store is not None:
            self._store.close()
