"""The NetCDF writer gives the same bytes for the same content, so an unchanged
measurement written again is not stored as a new version."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from etiket_sync_agent.netcdf import write_netcdf


@pytest.mark.parametrize(
    "ds",
    [
        xr.Dataset(
            {"I": (("x",), np.arange(5.0), {"units": "V"})},
            coords={"x": np.arange(5)},
            attrs={"sample": "S12"},
        ),
        xr.Dataset({"I": (("x", "y"), np.ones((3, 2)))}),  # dimensions without coordinates
    ],
    ids=["1d-with-coordinate", "2d-without-coordinates"],
)
def test_same_content_gives_the_same_bytes(ds: xr.Dataset, tmp_path: Path) -> None:
    first = write_netcdf(ds, tmp_path / "a.hdf5")
    # HDF5 object times have a resolution of one second: make sure a clock tick passes
    time.sleep(1.1)
    second = write_netcdf(ds, tmp_path / "b.hdf5")
    assert Path(first).read_bytes() == Path(second).read_bytes()
    with xr.open_dataset(second, engine="h5netcdf") as back:
        xr.testing.assert_identical(back.load(), ds)
    assert os.path.getsize(first) > 0
