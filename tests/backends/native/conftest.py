"""Helpers of the native backend tests: a source over a test native area, store reads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import xarray as xr

from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services import sources
from tests.helpers import load_stored_netcdf, stored_dataset, stored_files_of

SCOPE = "proj"
WRITER = Path(__file__).with_name("_native_writer.py")


def add_native(rt: Runtime, native_dir: Path, name: str = "nat", **settings: str) -> dict:
    if rt.store.get_scope(SCOPE) is None:
        rt.store.create_scope(SCOPE)
    return sources.add_source(
        rt, "native", name, settings={"native_directory": str(native_dir), **settings}
    )


def stored(rt: Runtime, uuid: str):
    return stored_dataset(rt, SCOPE, uuid)


def stored_files(rt: Runtime, uuid: str) -> dict:
    return stored_files_of(rt, SCOPE, uuid)


def load_stored(rt: Runtime, uuid: str, name: str = "grid.hdf5") -> xr.Dataset:
    return load_stored_netcdf(rt, SCOPE, uuid, name)


def expected_grid(nx: int, ny: int) -> np.ndarray:
    return np.add.outer(np.arange(nx) * 100.0, np.arange(ny) * 1.0)


def start_writer(
    native_dir: Path,
    mode: str,
    nx: int,
    ny: int,
    delay: float,
    flush: float,
    k: int = 0,
    gate: Path | None = None,
) -> tuple[subprocess.Popen, str]:
    """Start the writer script; returns it and its dataset folder name."""
    proc = subprocess.Popen(
        [
            sys.executable,
            str(WRITER),
            str(native_dir),
            mode,
            str(nx),
            str(ny),
            str(delay),
            str(flush),
            str(k),
            *([str(gate)] if gate else []),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline().rstrip("\n").split("\t")
    assert line[0] == "started", (line, proc.stderr.read())
    return proc, line[1]
