"""A stored NetCDF file's variables in headless Chromium (the file of tests/web/test_plots.py:
a 1-D line with a gap, a 1000x1000 map): the line first, then the colour map chosen in the
variable list, decimated by the server and painted on the canvas."""

from __future__ import annotations

from tests.web.test_plots import plotted  # noqa: F401 - the fixture: a served NetCDF file

#: the canvas as drawn: what plot.js says it drew, and the colour of one pixel inside
CANVAS_JS = """
const c = document.getElementById('plot');
const px = c.getContext('2d').getImageData(arguments[0], arguments[1], 1, 1).data;
return {points: c.getAttribute('data-points'), ms: c.getAttribute('data-draw-ms'),
        pixel: Array.from(px), note: document.getElementById('plot-note').textContent};
"""


def test_line_then_colour_map_chosen_in_the_list(plotted, browser_factory) -> None:  # noqa: F811
    from selenium.webdriver.support.select import Select

    client, uuid, line, grid, _ = plotted
    b = browser_factory(client.origin)
    b.open(f"/datasets/{uuid}")
    b.wait("the plot link", lambda: b.find_all("#files a.plot"))
    b.click_to_load(b.find("#files a.plot"))
    canvas = lambda: b.driver.execute_script(CANVAS_JS, 400, 250)  # noqa: E731
    first = b.wait("the line", lambda: (c := canvas())["points"] and c)
    assert b.find("#variable").get_attribute("value") == "signal"
    assert [o.text for o in b.find_all("#variable option")] == ["signal [50]", "map [1000×1000]"]
    assert first["points"] == str(len(line) - 1)  # the NaN is a gap, not a point
    assert first["note"] == "version 1" and int(first["ms"]) >= 0
    b.screenshot("plot-line")

    Select(b.find("#variable")).select_by_value("map")
    shown = b.wait("the colour map", lambda: (c := canvas())["points"] == str(334 * 334) and c)
    assert shown["pixel"][3] == 255 and shown["pixel"][:3] != [255, 255, 255]  # painted
    top = grid[::3, ::3].max()
    assert shown["note"] == f"map: 0 … {top:g} · version 1"  # the range of what is drawn
    b.screenshot("plot-map")


def test_live_map_from_no_rows_to_some(tmp_path, runtime, browser_factory) -> None:
    """A live 2-D variable with no row yet is an empty frame (not an error), and its rows
    appear when the live version grows; once complete the page stops asking."""
    import uuid as uuidlib

    import numpy as np
    import xarray as xr

    from etiket_sync_agent.runtime import Runtime
    from etiket_sync_agent.store.interface import DatasetSpec, FileStatus
    from etiket_sync_agent.web.server import start_in_thread

    runtime.store.create_scope("proj")
    uuid = str(uuidlib.uuid4())
    runtime.store.upsert_dataset(DatasetSpec(uuid=uuid, scope="proj", name="2-D sweep"))

    def write(rows: int, status: FileStatus) -> None:
        path = tmp_path / f"map{rows}.nc"
        values = np.arange(rows * 30, dtype=float).reshape(rows, 30)
        xr.Dataset({"m": (("row", "col"), values)}).to_netcdf(path, engine="h5netcdf")
        runtime.store.upload_file(uuid, "map.nc", path, file_type="HDF5_NETCDF", status=status)

    write(0, FileStatus.LIVE)
    server = start_in_thread(lambda: Runtime(runtime.home))
    try:
        b = browser_factory(server.url)
        b.open(f"/plot/{uuid}/map.nc")
        canvas = lambda: b.driver.execute_script(CANVAS_JS, 400, 250)  # noqa: E731
        empty = b.wait("the empty map", lambda: (c := canvas())["points"] and c)
        assert empty["points"] == "0"
        assert empty["note"] == "m: no values yet · version 1 (live)"
        b.screenshot("live-map-empty")

        write(12, FileStatus.LIVE)
        grown = b.wait("the rows", lambda: (c := canvas())["points"] == str(12 * 30) and c)
        assert grown["note"].endswith("(live)") and grown["pixel"][:3] != [255, 255, 255]
        b.screenshot("live-map-12-rows")

        write(20, FileStatus.COMPLETE)
        done = b.wait("the complete map", lambda: (c := canvas())["points"] == "600" and c)
        assert done["note"] == "m: 0 … 599 · version 1"
        b.screenshot("map-complete")
    finally:
        server.stop()
