"""A small third-party-style database backend for tests: datasets listed in a JSON file,
each choosing its own scope (scope requirement DISABLED, scope mappings supported)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from etiket_sync_agent.plugins import (
    DatabaseBackend,
    NewItem,
    ScopeRequirement,
    SyncContext,
    SyncItem,
)


@dataclass
class ListConfig:
    index_file: Path

    def validate(self) -> None:
        if not Path(self.index_file).is_file():
            raise ValueError(f"{self.index_file} does not exist")


class ListBackend(DatabaseBackend):
    sync_agent_name = "listed"
    config_class = ListConfig
    scope_requirement = ScopeRequirement.DISABLED
    supports_scope_mapping = True

    def _rows(self) -> list[dict]:
        return json.loads(Path(self.config.index_file).read_text())

    def get_new_datasets(self, last_item: SyncItem | None) -> list[NewItem]:
        after = last_item.priority if last_item else -1
        return [
            NewItem(r["id"], priority=i, scope_identifier=r["lab"])
            for i, r in enumerate(self._rows())
            if i > after
        ]

    def sync_dataset_normal(self, item: SyncItem, ctx: SyncContext) -> None:
        row = next(r for r in self._rows() if r["id"] == item.identifier)
        ctx.create_or_update_dataset(name=row["name"], alt_uid=row["id"])


class LabelledBackend(ListBackend):
    """ListBackend whose datasets have a label and a name; it stores them as the dataset
    name the way its SyncItem carries them."""

    sync_agent_name = "labelled"

    def get_new_datasets(self, last_item: SyncItem | None) -> list[NewItem]:
        after = last_item.priority if last_item else -1
        return [
            NewItem(r["id"], i, r["lab"], label=r["label"], name=r["name"])
            for i, r in enumerate(self._rows())
            if i > after
        ]

    def sync_dataset_normal(self, item: SyncItem, ctx: SyncContext) -> None:
        ctx.create_or_update_dataset(name=f"{item.label}|{item.name}", alt_uid=item.identifier)


class WaitingListBackend(ListBackend):
    """ListBackend that creates no scope for an unmapped identifier: its items wait."""

    sync_agent_name = "waiting_list"

    def creates_scopes_for_unmapped(self) -> bool:
        return False


class OwnScopeBackend(ListBackend):
    """Scope OPTIONAL: a row with a ``scope`` is written there (as the native backend
    does), one without goes to the item's scope (the source's, or ``default``)."""

    sync_agent_name = "own_scope"
    scope_requirement = ScopeRequirement.OPTIONAL
    supports_scope_mapping = False

    def sync_dataset_normal(self, item: SyncItem, ctx: SyncContext) -> None:
        row = next(r for r in self._rows() if r["id"] == item.identifier)
        ctx.create_or_update_dataset(name=row["name"], alt_uid=row["id"], scope=row.get("scope"))
