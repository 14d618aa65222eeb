"""Plot data of a stored NetCDF file over real HTTP: variables, a 1-D line, a big 2-D map
decimated, and errors for what cannot be plotted."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest

from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.web.server import start_in_thread
from tests.conftest import FAST
from tests.helpers import add_folder_source, make_dataset, run_once
from tests.web.conftest import Client


@pytest.fixture
def plotted(tmp_path: Path, runtime: Runtime):  # noqa: ANN201
    import xarray as xr

    x = np.linspace(0.0, 1.0, 50)
    gx, gy = np.arange(1000), np.arange(1000) * 2.0
    line = np.sin(x * 6)
    line[3] = np.nan
    grid = np.add.outer(gx, gy)
    ds = xr.Dataset(
        {
            "signal": ("x", line, {"units": "V"}),
            "map": (("gx", "gy"), grid),
            "cube": (("x", "a", "b"), np.zeros((50, 2, 2))),
        },
        coords={"x": x, "gy": gy},
    )
    folder = tmp_path / "acq" / "m1"
    folder.mkdir(parents=True)
    ds.to_netcdf(folder / "measurement.nc", engine="h5netcdf")
    make_dataset(tmp_path / "acq", "m1", {"readme.txt": "not netcdf\n"}, name="sweep")
    add_folder_source(runtime, tmp_path / "acq")
    run_once(runtime, FAST)
    (d,) = runtime.store.list_datasets()
    server = start_in_thread(lambda: Runtime(runtime.home))
    try:
        yield Client(server), d.uuid, line, grid, gy
    finally:
        server.stop()


def test_variables_line_and_decimated_map(plotted) -> None:
    c, uuid, line, grid, gy = plotted
    base = f"/api/plot/{uuid}/measurement.nc"
    info = c.get(base).json()
    kinds = {v["name"]: v["kind"] for v in info["variables"]}
    assert kinds == {"signal": "line", "map": "map", "cube": None}
    assert info["version"] == 1 and info["live"] is False

    sig = c.get(base + "?var=signal").json()
    assert sig["kind"] == "line" and sig["units"] == "V" and sig["stride"] == [1]
    expected = [None if np.isnan(v) else v for v in line.tolist()]
    assert sig["values"] == expected
    assert len(sig["axes"][0]["values"]) == 50

    m = c.get(base + "?var=map").json()
    assert m["kind"] == "map" and m["shape"] == [1000, 1000]
    assert m["stride"] == [3, 3]
    picked = grid[::3, ::3]
    assert len(m["values"]) == picked.size
    assert m["values"] == picked.astype(float).ravel().tolist()
    assert m["axes"][0]["values"] == list(range(0, 1000, 3))  # no coordinate: the index
    assert m["axes"][1]["values"] == gy[::3].tolist()


def test_what_cannot_be_plotted(plotted) -> None:
    c, uuid, *_ = plotted
    cube = c.get(f"/api/plot/{uuid}/measurement.nc?var=cube")
    assert cube.status == 400 and "1 or 2" in cube.json()["error"]
    assert c.get(f"/api/plot/{uuid}/measurement.nc?var=nosuch").status == 404
    text = c.get(f"/api/plot/{uuid}/readme.txt")
    assert text.status == 400 and "not a NetCDF file" in text.json()["error"]
    for bad in ("..", "%2e%2e", "/etc/passwd", "../measurement.nc", "x/../measurement.nc"):
        assert c.get(f"/api/plot/{uuid}/{bad}").status == 404, bad
        assert c.get(f"/api/plot/{quote(bad, safe='')}/measurement.nc").status == 404, bad


def test_plot_page(plotted) -> None:
    c, uuid, *_ = plotted
    listing = c.get(f"/datasets/{uuid}").text
    assert f'href="/plot/{uuid}/measurement.nc" class=plot' in listing
    assert f"/plot/{uuid}/readme.txt" not in listing
    page = c.get(f"/plot/{uuid}/measurement.nc")
    assert page.status == 200
    assert f'data-api="/api/plot/{uuid}/measurement.nc"' in page.text
    js = c.get("/static/plot.js")
    assert js.status == 200 and "getContext" in js.text and "textContent" in js.text
    assert c.get(f"/plot/{uuid}/nosuch.nc").status == 404
    assert c.get(f"/plot/{uuid}/../measurement.nc").status == 404


def test_live_file_grows_in_the_plot_data(tmp_path: Path, runtime: Runtime) -> None:
    """A live version replaced in place (as a running measurement is) gives more points
    at the next request, and says it is live until it is finalized."""
    import uuid as uuidlib

    import xarray as xr

    from etiket_sync_agent.store.interface import DatasetSpec, FileStatus

    runtime.store.create_scope("proj")
    uuid = str(uuidlib.uuid4())
    runtime.store.upsert_dataset(DatasetSpec(uuid=uuid, scope="proj", name="live run"))

    def write(n: int, status: FileStatus) -> None:
        path = tmp_path / f"live{n}.nc"
        xr.Dataset({"v": ("t", np.arange(n, dtype=float))}).to_netcdf(path, engine="h5netcdf")
        runtime.store.upload_file(uuid, "live.nc", path, file_type="HDF5_NETCDF", status=status)

    write(10, FileStatus.LIVE)
    server = start_in_thread(lambda: Runtime(runtime.home))
    try:
        c = Client(server)
        first = c.get(f"/api/plot/{uuid}/live.nc?var=v").json()
        assert first["live"] and len(first["values"]) == 10
        write(25, FileStatus.LIVE)
        grown = c.get(f"/api/plot/{uuid}/live.nc?var=v").json()
        assert grown["live"] and grown["values"] == list(np.arange(25, dtype=float))
        assert grown["version"] == first["version"]
        write(30, FileStatus.COMPLETE)
        done = c.get(f"/api/plot/{uuid}/live.nc?var=v").json()
        assert not done["live"] and len(done["values"]) == 30
    finally:
        server.stop()


@pytest.mark.parametrize("shape", [(1000,), (97, 53), (1000, 7)])
def test_big_variables_are_decimated_block_by_block_like_a_whole_read(
    shape: tuple[int, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    import xarray as xr

    from etiket_sync_agent.web import plots

    values = np.random.default_rng(3).random(shape)
    var = xr.DataArray(values, dims=[f"d{i}" for i in range(len(shape))])
    stride = [3] + [2] * (len(shape) - 1)
    whole = plots._decimated(var, stride)  # noqa: SLF001
    assert np.array_equal(whole, values[tuple(slice(None, None, s) for s in stride)])
    monkeypatch.setattr(plots, "READ_WHOLE_BYTES", 0)
    monkeypatch.setattr(plots, "BLOCK_BYTES", values.nbytes // 10)
    assert np.array_equal(plots._decimated(var, stride), whole)  # noqa: SLF001


def test_map_values_are_rounded_to_a_ten_thousandth_of_their_span() -> None:
    from etiket_sync_agent.web.plots import _rounded_for_colours

    values = np.array([[0.123456789, 1.0], [np.nan, 0.5]])
    rounded = _rounded_for_colours(values)
    assert rounded[0, 0] == 0.12346 and np.isnan(rounded[1, 0])
    assert np.array_equal(_rounded_for_colours(np.arange(4)), np.arange(4))
    assert _rounded_for_colours(np.array([1e-9, 2e-9]))[1] == 2e-9
