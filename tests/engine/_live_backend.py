"""A database backend for tests whose newest dataset is "being measured" while a state
file says so, and whose live passes take a set time (a heavy conversion)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from etiket_sync_agent.plugins import (
    DatabaseBackend,
    NewItem,
    ScopeRequirement,
    SyncContext,
    SyncItem,
)
from tests.engine._scoped_backend import ListConfig


class LiveBackend(DatabaseBackend):
    """``index_file`` holds ``{"datasets": [ids], "live": id or null, "pass_seconds": s}``;
    every live pass is logged as a line in ``<index_file>.passes``."""

    sync_agent_name = "livetest"
    config_class = ListConfig
    scope_requirement = ScopeRequirement.REQUIRED
    live_sync_implemented = True

    def _state(self) -> dict:
        return json.loads(Path(self.config.index_file).read_text())

    def get_new_datasets(self, last_item: SyncItem | None) -> list[NewItem]:
        after = last_item.priority if last_item else -1
        ids = self._state()["datasets"]
        return [NewItem(d, priority=i) for i, d in enumerate(ids) if i > after]

    def check_live_dataset(self, item: SyncItem) -> bool:
        return self._state()["live"] == item.identifier

    def sync_dataset_normal(self, item: SyncItem, ctx: SyncContext) -> None:
        ctx.create_or_update_dataset(name=item.identifier, alt_uid=item.identifier)

    def sync_dataset_live(self, item: SyncItem, ctx: SyncContext) -> None:
        ctx.create_or_update_dataset(name=item.identifier, alt_uid=item.identifier)
        time.sleep(self._state()["pass_seconds"])
        with open(f"{self.config.index_file}.passes", "a") as fh:
            fh.write(f"{time.monotonic()}\n")
