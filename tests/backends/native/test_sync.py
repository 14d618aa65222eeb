"""The native backend over a native area: metadata, scopes named by scripts, damaged
manifests, idempotent re-runs, and the CLI with the default native area."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from etiket_sync_agent import native
from etiket_sync_agent.home import Home
from etiket_sync_agent.native.paths import MANIFEST_FILE
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services import sources
from tests.backends.native.conftest import add_native, load_stored, stored, stored_files
from tests.conftest import FAST
from tests.helpers import items_by_id, run_once


def _write(area: Path, name: str, scope: str = "proj", **kw) -> native.Dataset:
    with (
        native.dataset(name, scope=scope, directory=area, **kw) as ds,
        ds.measurement("m", {"x": ("V", np.arange(4.0))}, {"y": "V", "z": ("", complex)}) as m,
    ):
        for i in range(4):
            m.append(y=float(i), z=complex(i, -i))
    return ds


def test_datasets_are_stored_with_their_metadata_and_files(
    runtime: Runtime, tmp_path: Path
) -> None:
    area = tmp_path / "native"
    ds = _write(area, "Rabi q1", tags=["rabi"], attributes={"sample": "S12"}, description="d")
    with native.open_dataset(ds.path) as again:
        again.add_file(b"text", name="notes.txt")
        again.add_xarray("fit", xr.Dataset({"a": ("k", [1.0, 2.0])}))
    add_native(runtime, area)
    run_once(runtime, FAST)
    uuid = native.read_manifest(ds.path)["uuid"]
    info = stored(runtime, uuid)
    assert info is not None and info.name == "Rabi q1" and info.scope == "proj"
    assert list(info.tags) == ["rabi"] and info.description == "d"
    assert info.attributes == {"sample": "S12", "state": "complete"}
    assert info.collected is not None
    files = stored_files(runtime, uuid)
    assert set(files) == {"m.hdf5", "notes.txt", "fit.hdf5"}
    out = load_stored(runtime, uuid, "m.hdf5")
    np.testing.assert_array_equal(out["y"].values, np.arange(4.0))
    np.testing.assert_array_equal(out["z"].values, np.arange(4) * (1 - 1j))
    assert out["x"].attrs["units"] == "V"
    with runtime.store.open_file(info.uuid, "notes.txt") as fh:
        assert fh.read() == b"text"
    # a second run changes nothing: no new versions
    versions = {n: len(f.versions) for n, f in files.items()}
    sources.retry(runtime, "nat")
    run_once(runtime, FAST)
    assert {n: len(f.versions) for n, f in stored_files(runtime, uuid).items()} == versions


def test_a_scope_that_does_not_exist_is_an_error_on_the_item(
    runtime: Runtime, tmp_path: Path
) -> None:
    area = tmp_path / "native"
    good = _write(area, "good")
    bad = _write(area, "bad", scope="nowhere")
    add_native(runtime, area)
    run_once(runtime, FAST)
    items = items_by_id(runtime, "nat")
    assert items[good.path.name]["status"] == "synchronized"
    item = items[bad.path.name]
    assert item["status"] == "failed"
    assert "scope 'nowhere' named by the script does not exist" in item["last_error"]
    assert "etiket-sync scopes create nowhere" in item["last_error"]
    runtime.store.create_scope("nowhere")
    sources.retry(runtime, "nat")
    run_once(runtime, FAST)
    assert items_by_id(runtime, "nat")[bad.path.name]["status"] == "synchronized"
    assert runtime.store.find_dataset(
        scope="nowhere", alt_uid=native.read_manifest(bad.path)["uuid"]
    )


def test_a_damaged_manifest_is_a_clear_error_on_its_item(runtime: Runtime, tmp_path: Path) -> None:
    area = tmp_path / "native"
    good = _write(area, "good")
    broken = _write(area, "broken")
    (broken.path / MANIFEST_FILE).write_text('{"format": "etiket_native", "versi')
    wrong = _write(area, "wrong")
    text = (wrong.path / MANIFEST_FILE).read_text().replace('"complete"', '"finished"', 1)
    (wrong.path / MANIFEST_FILE).write_text(text)
    add_native(runtime, area)
    run_once(runtime, FAST)
    items = items_by_id(runtime, "nat")
    assert items[good.path.name]["status"] == "synchronized"
    assert items[broken.path.name]["status"] == "failed"
    assert f"{MANIFEST_FILE} is not valid JSON" in items[broken.path.name]["last_error"]
    assert "hint: fix or restore" in items[broken.path.name]["last_error"]
    assert "'state' is 'finished'" in items[wrong.path.name]["last_error"]


def test_add_source_with_defaults_uses_the_homes_native_area(home: Home, cli) -> None:
    cli("scopes", "create", "proj")
    shown = cli("add-source", "native", "scripts", "--json", as_json=True)
    assert Path(shown["config"]["native_directory"]) == home.data_dir / "native"
    # a script run with the same home writes there without being told
    ds = _write(home.data_dir / "native", "from a script")
    assert ds.path.parent == home.data_dir / "native"
    cli("run", "--once")
    listed = cli("datasets", "list", "--json", as_json=True)
    assert [d["name"] for d in listed] == ["from a script"]
    status = cli("status")
    assert "scripts" in status.stdout and "native" in status.stdout
