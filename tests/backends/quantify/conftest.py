"""Fixtures of the quantify backend tests: test-written datadirs and store helpers."""

from __future__ import annotations

import hashlib
import os
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services import sources
from tests.backends.quantify.mc_files import (
    fill,
    flat_dataset,
    grid_dataset,
    measurement_folder,
    tuid_at,
    write_mc,
    write_nc3,
    write_snapshot,
)
from tests.helpers import load_stored_netcdf, stored_dataset, stored_files_of

SCOPE = "qubits"


def tree_digest(root: Path) -> dict[str, tuple[str, int]]:
    """Every entry under ``root`` (hidden ones too): sha256 and mtime of files."""
    out: dict[str, tuple[str, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            p = Path(dirpath, d)
            out[p.relative_to(root).as_posix() + "/"] = ("dir", 0)
        for f in filenames:
            p = Path(dirpath, f)
            out[p.relative_to(root).as_posix()] = (
                hashlib.sha256(p.read_bytes()).hexdigest(),
                p.stat().st_mtime_ns,
            )
    return out


def add_quantify(rt: Runtime, datadir: Path, name: str = "qd", **settings: str) -> dict:
    if rt.store.get_scope(SCOPE) is None:
        rt.store.create_scope(SCOPE)
    return sources.add_source(
        rt,
        "quantify",
        name,
        scope=SCOPE,
        settings={"quantify_directory": str(datadir), **settings},
    )


def stored(rt: Runtime, tuid: str):
    return stored_dataset(rt, SCOPE, tuid)


def stored_files(rt: Runtime, tuid: str) -> dict:
    return stored_files_of(rt, SCOPE, tuid)


def load_stored(rt: Runtime, tuid: str, name: str = "dataset.hdf5") -> xr.Dataset:
    return load_stored_netcdf(rt, SCOPE, tuid, name)


class Datadir:
    """A test-written datadir: ``measurements`` maps TUID -> (folder, source dataset)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.measurements: dict[str, tuple[Path, xr.Dataset | None]] = {}


@pytest.fixture
def datadir(tmp_path: Path) -> Datadir:
    """One of each kind of measurement, written as MeasurementControl (and older
    quantify-core) writes them."""
    d = Datadir(tmp_path / "quantify-data")
    base = datetime(2024, 3, 5, 10, 0, 0)

    def add(seconds: float, name: str, ds_maker, writer=write_mc, sep="-", folder_name=None):
        tuid = tuid_at(base, seconds)
        folder = measurement_folder(d.root, tuid, folder_name or name, sep=sep)
        ds = None
        if ds_maker is not None:
            ds = ds_maker(tuid, name)
            writer(ds, folder / "dataset.hdf5")
        d.measurements[tuid] = (folder, ds)
        return tuid, folder

    t, f = add(0, "T1 q0", lambda t, n: fill(flat_dataset(t, n, [np.linspace(0, 1e-4, 40)], 2)))
    write_snapshot(f)
    t, f = add(
        10,
        "Resonator flux",
        lambda t, n: fill(
            grid_dataset(t, n, [np.linspace(4e9, 5e9, 30), np.arange(6.0)], flag=True)
        ),
    )
    write_snapshot(f, name="snapshot.json.bz2")
    analysis = f / "analysis_ResonatorFluxAnalysis"
    (analysis / "fit_results").mkdir(parents=True)
    (analysis / "figs_mpl").mkdir()
    processed = xr.Dataset(
        {"Magnitude": ("x0", np.linspace(0, 1, 30), {"units": "V", "long_name": "Magnitude"})},
        coords={"x0": ("x0", np.linspace(4e9, 5e9, 30), {"units": "Hz", "long_name": "f"})},
    )
    processed.to_netcdf(analysis / "dataset_processed.hdf5", engine="h5netcdf")
    (analysis / "quantities_of_interest.json").write_text('{\n    "fr": 4.5e9\n}')
    (analysis / "fit_results" / "sin.txt").write_text("[[Model]]\n    Model(sin)\n")
    (analysis / "figs_mpl" / "fit.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    pairs = np.repeat(np.arange(21), 2)
    add(20, "AllXY q0", lambda t, n: fill(flat_dataset(t, n, [pairs])), sep=" ")
    x = np.linspace(0, 1, 51)
    add(30, "two settables", lambda t, n: fill(flat_dataset(t, n, [x, x * 2], 1, flag=False)))
    add(
        40,
        "cosine 2020",
        lambda t, n: fill(grid_dataset(t, n, [np.linspace(0, 1, 8), np.arange(4.0)], 1, flag=True)),
        writer=lambda ds, p: write_nc3(ds, p, settables_as_data=True),
    )
    add(
        50,
        "calibration",
        lambda t, n: fill(flat_dataset(t, n, [np.arange(10.0)], 1)),
        folder_name="calibration_renamed_later",
    )
    t, f = add(60, "settings only", None)
    write_snapshot(f, sample=None)
    (d.root / "20240305" / "notes").mkdir()
    (d.root / "20240305" / "notes" / "todo.txt").write_text("not a measurement\n")
    (d.root / "README.txt").write_text("a datadir\n")
    return d
