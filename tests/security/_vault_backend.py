"""A database backend whose config holds secrets in every form a plugin may have them:
a secret field, a libpq connection string, a URL with a password, a nested mapping.
Its datasets fail with errors that quote them (as database drivers' errors do)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from etiket_sync_agent.errors import DatasetError
from etiket_sync_agent.plugins import (
    DatabaseBackend,
    NewItem,
    ScopeRequirement,
    SyncContext,
    SyncItem,
)


@dataclass
class VaultConfig:
    dsn: str = field(metadata={"help": "libpq connection string"})
    url: str = ""
    access: str = field(default="", metadata={"secret": True})
    options: dict[str, Any] = field(default_factory=dict)
    fail_discovery: bool = False


class VaultBackend(DatabaseBackend):
    sync_agent_name = "vault"
    config_class = VaultConfig
    scope_requirement = ScopeRequirement.OPTIONAL
    supports_scope_mapping = False

    config: VaultConfig

    def get_new_datasets(self, last_item: SyncItem | None) -> list[NewItem]:
        if self.config.fail_discovery:
            raise DatasetError(f"cannot connect to {self.config.dsn} nor {self.config.url}")
        after = last_item.priority if last_item else 0
        return [NewItem(n, priority=p) for p, n in ((1, "run1"), (2, "run2")) if p > after]

    def sync_dataset_normal(self, item: SyncItem, ctx: SyncContext) -> None:
        nested = self.config.options.get("auth", {}).get("password", "")
        with ctx.task("connect"):
            ctx.log(f"connecting with {self.config.dsn}")
            if item.identifier == "run1":
                raise DatasetError(f"connection to {self.config.dsn} ({self.config.url}) failed")
            raise RuntimeError(
                f"driver: authentication failed (key {self.config.access}, auth {nested})"
            )
