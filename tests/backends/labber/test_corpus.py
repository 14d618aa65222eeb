"""Every Labber file of the shared corpus through the whole agent, compared with h5py.

The corpus keeps each file at its path in the repository it came from; the agent finds
logs in Labber's dated layout, so the files are copied (with their times) into one.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services import datasets, sources
from tests.backends.labber.conftest import add_labber, tree_state
from tests.backends.labber.labber_files import reference_logs
from tests.conftest import FAST, require_corpus
from tests.helpers import run_once

DAY = "2018/10/Data_1005"
NO_DATA = {"Simple_Rabi.hdf5", "equs_demo.hdf5"}  # saved configurations
NOT_LABBER = {"LZSM_example.hdf5"}  # a look-alike written by another program


def _stored(rt: Runtime, item: dict, out: Path) -> Path:
    datasets.export_dataset(rt, item["dataset_uuid"], out)
    return out


def test_every_corpus_file_goes_through_the_agent(runtime: Runtime, tmp_path: Path) -> None:
    import xarray as xr

    corpus = require_corpus("labber")
    corpus_before = tree_state(corpus)
    root = tmp_path / "Labber"
    files = sorted(p for p in corpus.rglob("*") if p.is_file())
    assert len(files) == 16
    for p in files:
        target = root / DAY / p.name
        target.parent.mkdir(parents=True, exist_ok=True)
        assert not target.exists(), f"two corpus files named {p.name}"
        shutil.copy2(p, target)
    before = tree_state(root)
    # the corpus is an archive: a log left unfinished is finalized at once
    add_labber(runtime, root, live_timeout_s="0")
    run_once(runtime, FAST)
    assert tree_state(root) == before and tree_state(corpus) == corpus_before

    items = {i["identifier"].rsplit("/", 1)[1]: i for i in sources.list_items(runtime, "lab")}
    # the .labber scenario is no log file: never an item; every .hdf5 is one
    assert set(items) == {p.name for p in files if p.suffix == ".hdf5"}
    for name in NOT_LABBER:
        assert items[name]["status"] == "failed"
        assert "not written by Labber" in items[name]["last_error"]
    logs_checked = 0
    for name, item in items.items():
        if name in NOT_LABBER:
            continue
        assert item["status"] == "synchronized", (name, item["last_error"])
        d = datasets.show_dataset(runtime, item["dataset_uuid"])
        files_stored = {f["name"] for f in d["files"]}
        assert {name, "instruments.json", "settings.json"} <= files_stored, name
        if name in NO_DATA:
            assert not any(f.startswith("measured_data") for f in files_stored)
            shown = sources.show_item(runtime, "lab", item["identifier"])
            assert "holds no measured data" in json.dumps(shown)
            continue
        out = _stored(runtime, item, tmp_path / "out" / name)
        assert (out / name).read_bytes() == (root / DAY / name).read_bytes()
        for key, reference in reference_logs(root / DAY / name).items():
            file = "measured_data.hdf5" if not key else f"measured_data_{key}.hdf5"
            assert file in files_stored, (name, file)
            with xr.open_dataset(out / file, engine="h5netcdf", decode_times=False) as ds:
                by_name = {ds[k].attrs.get("long_name", k): ds[k] for k in ds.variables}
                _compare(name, key, ds, by_name, reference)
            logs_checked += 1
    assert logs_checked == 17  # 12 files with data; one adds Log_2, two add Log_2 and Log_3


def _compare(name: str, key: str, ds, by_name: dict, reference: dict) -> None:
    where = f"{name} {key or 'Log_1'}"
    grids = [v for v in reference.values() if v.ndim == max(r.ndim for r in reference.values())]
    for channel, ref in reference.items():
        assert channel in by_name, (where, channel, list(by_name))
        got = by_name[channel]
        if got.attrs.get("labber_role") == "step" or got.ndim < ref.ndim or got.dims == (got.name,):
            # a step channel: a 1-D dimension coordinate, or a variable on the grid
            full = got.broadcast_like(_like(ds, ref)).transpose(*_like(ds, ref).dims)
            measured = ~np.isnan(ref)
            np.testing.assert_array_equal(full.values[measured], ref[measured], err_msg=where)
            continue
        assert got.shape == ref.shape, (where, channel)
        assert (got.dtype.kind == "c") == (ref.dtype.kind == "c"), (where, channel)
        np.testing.assert_array_equal(got.values, ref, err_msg=f"{where}: {channel}")
    assert grids


def _like(ds, ref: np.ndarray):
    """A variable of ``ds`` on the same grid as ``ref`` (a log channel's)."""
    for v in ds.data_vars.values():
        if v.shape == ref.shape and v.attrs.get("labber_role") != "step":
            return v
    for v in ds.data_vars.values():
        if v.shape[: ref.ndim] == ref.shape:
            return v.isel({d: 0 for d in v.dims[ref.ndim :]})
    raise AssertionError(f"no variable on the grid {ref.shape}")
