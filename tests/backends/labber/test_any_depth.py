"""Labber logs saved outside the dated layout: found at any depth (engine level 0), by a
full scan, by watchdog events and by the cheap poll; hidden folders and non-logs are not."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from etiket_sync_agent.backends.labber import LabberBackend
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services import datasets
from tests.backends.labber.conftest import DAY, add_labber, sweep_2d, tree_state
from tests.backends.labber.labber_files import write_labber_file
from tests.conftest import FAST
from tests.helpers import item_status, items_by_id, run_once, running_engine, wait_for

#: no full rescan during a test: what is found after the start comes from events or polls
NO_RESCAN = replace(FAST, rescan_interval_s=3600.0)


def _log(root: Path, rel: str, n: int) -> Path:
    return write_labber_file(root / rel, sweep_2d(name=f"log {n}", creation_time=1.7e9 + 60 * n))


def _not_logs(root: Path) -> None:
    """What lies around the logs and is never a dataset."""
    _log(root, ".hidden/hidden.hdf5", 90)
    _log(root, "_trash/old.hdf5", 91)
    _log(root, "misc/.unsaved.hdf5", 92)
    (root / "Database.hdf5").write_bytes(b"Labber's own index, not a log")
    (root / "misc").mkdir(exist_ok=True)
    (root / "misc" / "notes.txt").write_text("a note")
    (root / "misc" / "scan.labber").write_bytes(b"\x81\xa4a scenario")


def test_accepts_only_logs() -> None:
    backend = LabberBackend.__new__(LabberBackend)
    assert backend.level == 0 and backend.is_single_file
    for name in ("a.hdf5", "B.HDF5", "log 2024.hdf5"):
        assert backend.accepts(Path("x") / name), name
    for name in ("Database.hdf5", "database.HDF5", "a.h5", "a.labber", "a.hdf5.tmp", "_a.hdf5"):
        assert not backend.accepts(Path("x") / name), name


def test_logs_in_other_subfolders_are_found_by_a_full_scan(
    runtime: Runtime, labber_root: Path
) -> None:
    logs = {
        f"{DAY.as_posix()}/dated.hdf5": _log(labber_root, f"{DAY}/dated.hdf5", 1),
        "misc/x.hdf5": _log(labber_root, "misc/x.hdf5", 2),
        "2024/x.hdf5": _log(labber_root, "2024/x.hdf5", 3),
        "top.hdf5": _log(labber_root, "top.hdf5", 4),
        "a/b/c/d/e/deep.hdf5": _log(labber_root, "a/b/c/d/e/deep.hdf5", 5),
    }
    _not_logs(labber_root)
    before = tree_state(labber_root)
    add_labber(runtime, labber_root)
    summary = run_once(runtime, FAST)
    items = items_by_id(runtime)
    assert set(items) == set(logs), items
    assert summary.failed == 0
    assert {i["status"] for i in items.values()} == {"synchronized"}
    names = {d["name"] for d in datasets.list_datasets(runtime, scope="qubits")}
    assert names == {f"log {n}" for n in range(1, 6)}
    assert tree_state(labber_root) == before  # read-only, no side files
    assert run_once(runtime, FAST).attempted == 0  # idempotent


@pytest.mark.parametrize("server_folder", [False, True], ids=["watchdog", "poll"])
def test_logs_saved_while_running_are_found_in_other_subfolders(
    runtime: Runtime, labber_root: Path, server_folder: bool
) -> None:
    first = f"{DAY.as_posix()}/first.hdf5"
    _log(labber_root, first, 1)
    (labber_root / "misc").mkdir()
    add_labber(runtime, labber_root, is_server_folder=str(server_folder).lower())
    with running_engine(runtime, NO_RESCAN):
        assert wait_for(lambda: item_status(runtime, first) == "synchronized", timeout=60)
        _log(labber_root, "misc/x.hdf5", 2)  # an existing folder
        _log(labber_root, "2024/x.hdf5", 3)  # a folder of the dated layout
        _log(labber_root, "new folder/sub/y.hdf5", 4)  # a new sub-tree
        _not_logs(labber_root)
        wanted = {first, "misc/x.hdf5", "2024/x.hdf5", "new folder/sub/y.hdf5"}
        assert wait_for(
            lambda: (
                {i: s["status"] for i, s in items_by_id(runtime).items()}
                == dict.fromkeys(wanted, "synchronized")
            ),
            timeout=60,
        ), items_by_id(runtime)
    names = {d["name"] for d in datasets.list_datasets(runtime, scope="qubits")}
    assert names == {f"log {n}" for n in range(1, 5)}
