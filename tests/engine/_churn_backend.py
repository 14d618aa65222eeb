"""A database backend for the loop's robustness tests: datasets listed in a JSON file.

``index_file`` holds ``{"datasets": [{"id": ..., "fail": bool}], "on_discover": argv}``:
a dataset with ``fail`` raises in its sync; ``on_discover`` (a command, e.g. the real
``etiket-sync sources remove``) runs inside ``get_new_datasets``, which then raises — a
user acting on the source while its discovery runs. Every call of ``get_new_datasets``
is logged as a line in ``<index_file>.asked``; ``change_token`` is the stat of the index.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from etiket_sync_agent.plugins import (
    DatabaseBackend,
    NewItem,
    ScopeRequirement,
    SyncContext,
    SyncItem,
)
from tests.engine._scoped_backend import ListConfig


class ChurnBackend(DatabaseBackend):
    sync_agent_name = "churn"
    config_class = ListConfig
    scope_requirement = ScopeRequirement.REQUIRED

    def _state(self) -> dict:
        return json.loads(Path(self.config.index_file).read_text())

    def change_token(self) -> tuple[int, int]:
        st = os.stat(self.config.index_file)
        return st.st_mtime_ns, st.st_size

    def get_new_datasets(self, last_item: SyncItem | None) -> list[NewItem]:
        with open(f"{self.config.index_file}.asked", "a") as fh:
            fh.write("asked\n")
        state = self._state()
        if state.get("on_discover"):
            subprocess.run(state["on_discover"], check=True, capture_output=True, timeout=60)
            raise RuntimeError("the index cannot be read")
        after = last_item.priority if last_item else -1
        rows = state["datasets"]
        return [NewItem(r["id"], priority=i) for i, r in enumerate(rows) if i > after]

    def sync_dataset_normal(self, item: SyncItem, ctx: SyncContext) -> None:
        row = next(r for r in self._state()["datasets"] if r["id"] == item.identifier)
        if row.get("fail"):
            raise RuntimeError(f"{item.identifier} is broken")
        ctx.create_or_update_dataset(name=item.identifier, alt_uid=item.identifier)
