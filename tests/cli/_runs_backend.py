"""A third-party-style database backend for the CLI tests: numbered runs listed in a
JSON file, each with a GUID identifier, a label (its run number) and a name, as QCoDeS
runs have. Installed for a test through a real dist-info with its entry point."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from etiket_sync_agent.errors import DatasetError
from etiket_sync_agent.plugins import DatabaseBackend, NewItem, SyncContext, SyncItem


@dataclass
class RunsConfig:
    runs_file: Path

    def validate(self) -> None:
        if Path(self.runs_file).name == "bug.json":  # a plugin bug, for the error tests
            raise RuntimeError("the plugin tripped over its own feet")
        if not Path(self.runs_file).is_file():
            raise ValueError(f"{self.runs_file} does not exist")


class RunsBackend(DatabaseBackend):
    sync_agent_name = "runs"
    config_class = RunsConfig

    def _runs(self) -> list[dict]:
        return json.loads(Path(self.config.runs_file).read_text(encoding="utf-8"))

    def get_new_datasets(self, last_item: SyncItem | None) -> list[NewItem]:
        after = last_item.priority if last_item else 0
        return [
            NewItem(r["guid"], priority=r["id"], label=str(r["id"]), name=r["name"])
            for r in self._runs()
            if r["id"] > after
        ]

    def sync_dataset_normal(self, item: SyncItem, ctx: SyncContext) -> None:
        run = next(r for r in self._runs() if r["guid"] == item.identifier)
        with ctx.task("read run"):
            if run.get("fail"):
                raise DatasetError(f"run {run['id']} is damaged", retryable=False)
        ctx.create_or_update_dataset(name=run["name"], alt_uid=run["guid"])
        with ctx.scratch_dir() as scratch:
            path = scratch / "values.txt"
            path.write_text(f"run {run['id']}\n", encoding="utf-8")
            ctx.upload_file(path, name="values.txt")
        if run.get("warn"):
            ctx.warn(run["warn"])
