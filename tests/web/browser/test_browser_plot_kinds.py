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
