"""``level = 0``: a plugin backend whose datasets are single files at any depth, through
the contract checks and one pass of the real engine."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from etiket_sync_agent.plugins import FileBackend, SyncContext, SyncItem
from etiket_sync_agent.testing import ContractError, check_backend_class, run_backend_once


@dataclass
class AnyDepthConfig:
    root_directory: Path = field(metadata={"help": "the data"})


class AnyDepthCsv(FileBackend):
    """Every ``.csv`` file under the root, at any depth, is a dataset."""

    sync_agent_name = "any_depth_csv"
    config_class = AnyDepthConfig
    level = 0
    is_single_file = True

    def root_path(self) -> Path:
        return Path(self.config.root_directory)

    def accepts(self, path: Path) -> bool:
        return path.suffix == ".csv"

    def sync_dataset_normal(self, item: SyncItem, ctx: SyncContext) -> None:
        assert item.path is not None and item.path.is_file()
        ctx.create_or_update_dataset(name=item.identifier)
        ctx.upload_file(item.path, name=item.path.name)


class AnyDepthFolders(AnyDepthCsv):
    is_single_file = False


class NegativeLevel(AnyDepthCsv):
    level = -2


def test_the_contract_allows_level_zero_only_for_single_files() -> None:
    check_backend_class(AnyDepthCsv)  # no problem
    with pytest.raises(ContractError, match="needs is_single_file = True"):
        check_backend_class(AnyDepthFolders)
    with pytest.raises(ContractError, match=r"level must be -1, 0 .* got -2"):
        check_backend_class(NegativeLevel)


def test_files_at_every_depth_are_synchronized(tmp_path: Path) -> None:
    root = tmp_path / "data"
    for rel in ("top.csv", "a/one.csv", "a/b/c/two.csv", "a/_tmp/no.csv", ".git/no.csv"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(f"x,y\n1,{rel}\n")
    (root / "a" / "readme.txt").write_text("not a csv")
    os.symlink(root / "a", root / "link")  # not followed: no duplicates
    stored = run_backend_once(AnyDepthCsv, {"root_directory": str(root)}, tmp_path / "home")
    assert sorted(d["name"] for d in stored) == ["a/b/c/two.csv", "a/one.csv", "top.csv"]
