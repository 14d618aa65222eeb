"""Builders of real test data used by several test modules."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from etiket_sync_agent.backends.folderbase import generate_dataset_info
from etiket_sync_agent.engine.loop import RunSummary, SyncEngine
from etiket_sync_agent.engine.settings import EngineSettings
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services import sources


def make_dataset(root: Path, rel: str, files: dict[str, bytes | str] | None = None, **info) -> Path:
    folder = root / rel
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in (files or {"data.txt": f"data of {rel}\n"}).items():
        p = folder / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            p.write_text(content)
        else:
            p.write_bytes(content)
    generate_dataset_info(folder, info.pop("name", Path(rel).name), **info)
    return folder


def add_folder_source(rt: Runtime, root: Path, name: str = "lab", scope: str = "proj") -> None:
    rt.store.create_scope(scope)
    sources.add_source(rt, "folderbase", name, scope=scope, settings={"root_directory": str(root)})


def run_once(rt: Runtime, settings: EngineSettings) -> RunSummary:
    return SyncEngine(rt, settings).run(once=True)


def items_by_id(rt: Runtime, source: str = "lab") -> dict[str, dict]:
    return {i["identifier"]: i for i in sources.list_items(rt, source)}


@contextmanager
def running_engine(rt: Runtime, settings: EngineSettings) -> Iterator[SyncEngine]:
    """The sync loop running in a thread (watch mode) for the duration of the block."""
    engine = SyncEngine(rt, settings)
    thread = threading.Thread(target=engine.run, daemon=True)
    thread.start()
    try:
        yield engine
    finally:
        engine.stop()
        thread.join(30)
    assert not thread.is_alive(), "the sync loop did not stop"


def wait_for(predicate: Callable[[], object], timeout: float = 30.0) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` passes (no timing assertions)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def item_status(rt: Runtime, identifier: str, source: str = "lab") -> str | None:
    return items_by_id(rt, source).get(identifier, {}).get("status")


def stored_dataset(rt: Runtime, scope: str, alt_uid: str):  # noqa: ANN201 - DatasetInfo | None
    """The store's dataset with ``alt_uid`` in ``scope`` (None when not there yet)."""
    return rt.store.find_dataset(scope=scope, alt_uid=alt_uid)


def stored_files_of(rt: Runtime, scope: str, alt_uid: str) -> dict:
    """The files of that dataset by name (empty when it is not there yet)."""
    ds = stored_dataset(rt, scope, alt_uid)
    if ds is None:
        return {}
    return {f.name: f for f in rt.store.get_dataset(ds.uuid).files}


def load_stored_netcdf(rt: Runtime, scope: str, alt_uid: str, name: str):  # noqa: ANN201
    """The latest version of a stored NetCDF file of that dataset, loaded with xarray."""
    import xarray as xr

    ds = stored_dataset(rt, scope, alt_uid)
    with rt.store.open_file(ds.uuid, name) as fh:
        return xr.load_dataset(fh, engine="h5netcdf")


def stored_by_name(rt: Runtime, name: str, scope: str = "proj") -> dict[str, bytes]:
    """The latest content of every file of the dataset called ``name`` in ``scope``."""
    [ds] = [d for d in rt.store.list_datasets(scope=scope) if d.name == name]
    out = {}
    for f in rt.store.get_dataset(ds.uuid).files:
        with rt.store.open_file(ds.uuid, f.name) as fh:
            out[f.name] = fh.read()
    return out


def statuses(rt: Runtime, source: str = "lab") -> dict[str, str]:
    """identifier -> status of every item of ``source``."""
    return {k: v["status"] for k, v in items_by_id(rt, source).items()}
