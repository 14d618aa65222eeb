"""A stored NetCDF file's variables in headless Chromium: a 1-D line with a gap, then a
2-D colour map chosen in the variable list (decimated by the server), drawn on the canvas."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.web.server import start_in_thread
from tests.conftest import FAST
from tests.helpers import add_folder_source, make_dataset, run_once

#: the canvas as drawn: what plot.js says it drew, and the colour of one pixel inside
CANVAS_JS = """
const c = document.getElementById('plot');
const px = c.getContext('2d').getImageData(arguments[0], arguments[1], 1, 1).data;
return {points: c.getAttribute('data-points'), ms: c.getAttribute('data-draw-ms'),
        pixel: Array.from(px), note: document.getElementById('plot-note').textContent};
"""


def test_line_then_colour_map_chosen_in_the_list(
    tmp_path: Path, runtime: Runtime, browser_factory
) -> None:
    import xarray as xr

    x = np.linspace(0.0, 1.0, 40)
    line = np.cos(x * 5)
    line[[7, 8]] = np.nan  # a gap: not drawn
    grid = np.add.outer(np.arange(600.0), np.arange(500.0))
    ds = xr.Dataset(
        {"signal": ("x", line, {"units": "V"}), "map": (("gx", "gy"), grid)}, coords={"x": x}
    )
    folder = tmp_path / "acq" / "m1"
    folder.mkdir(parents=True)
    ds.to_netcdf(folder / "sweep.nc", engine="h5netcdf")
    make_dataset(tmp_path / "acq", "m1", {"notes.txt": "two sweeps\n"}, name="gate sweep")
    add_folder_source(runtime, tmp_path / "acq")
    run_once(runtime, FAST)
    (d,) = runtime.store.list_datasets()

    server = start_in_thread(lambda: Runtime(runtime.home))
    try:
        b = browser_factory(server.url)
        b.open(f"/datasets/{d.uuid}")
        b.wait("the plot link", lambda: b.find_all("#files a.plot"))
        b.click_to_load(b.find("#files a.plot"))
        canvas = lambda: b.driver.execute_script(CANVAS_JS, 400, 250)  # noqa: E731
        first = b.wait("the line", lambda: (c := canvas())["points"] and c)
        assert b.find("#variable").get_attribute("value") == "signal"
        assert first["points"] == str(40 - 2) and first["note"] == "version 1"
        assert int(first["ms"]) >= 0
        b.screenshot("plot-line")

        from selenium.webdriver.support.select import Select

        Select(b.find("#variable")).select_by_value("map")
        shown = b.wait("the colour map", lambda: (c := canvas())["points"] == "75000" and c)
        assert shown["pixel"][3] == 255 and shown["pixel"][:3] != [255, 255, 255]  # painted
        assert shown["note"] == "map: 0 … 1096 · version 1"  # the range of what is drawn
        assert b.find("#variable option[value=map]").text == "map [600×500]"
        b.screenshot("plot-map")
    finally:
        server.stop()
