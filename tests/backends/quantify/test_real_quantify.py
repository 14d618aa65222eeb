"""Real files made by the ``quantify`` package's MeasurementControl, synchronized by the
agent and compared with quantify's own gridding.

quantify pins an older qcodes than our test extra, so it lives in its own virtual
environment: ``ETIKET_SYNC_QUANTIFY_PYTHON`` (default ``/tmp/quantify-venv/bin/python``,
made with ``python -m venv /tmp/quantify-venv && /tmp/quantify-venv/bin/pip install
quantify``). Skipped, saying why, where that environment does not exist.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from etiket_sync_agent.engine.loop import SyncEngine
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services import sources
from tests.backends.quantify.conftest import add_quantify, load_stored, stored, tree_digest
from tests.conftest import FAST

PYTHON = os.environ.get("ETIKET_SYNC_QUANTIFY_PYTHON", "/tmp/quantify-venv/bin/python")
SCRIPT = Path(__file__).with_name("_quantify_real.py")


def _quantify_python() -> str:
    if not Path(PYTHON).exists():
        pytest.skip(
            f"no Python with the quantify package at {PYTHON} (set ETIKET_SYNC_QUANTIFY_PYTHON"
            " or create /tmp/quantify-venv with `pip install quantify`)"
        )
    probe = subprocess.run(
        [PYTHON, "-c", "import quantify.measurement.control"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        reason = (probe.stderr.strip().splitlines() or ["?"])[-1]
        pytest.skip(f"quantify cannot be imported with {PYTHON}: {reason}")
    return PYTHON


def test_files_written_by_quantify_measurement_control(runtime: Runtime, tmp_path: Path) -> None:
    python = _quantify_python()
    datadir, expected = tmp_path / "quantify-data", tmp_path / "expected"
    datadir.mkdir()
    expected.mkdir()
    proc = subprocess.run(
        [python, str(SCRIPT), str(datadir), str(expected)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    tuids = [line.strip() for line in proc.stdout.splitlines() if line.strip()[:8].isdigit()]
    assert len(tuids) == 2, proc.stdout
    before = tree_digest(datadir)
    add_quantify(runtime, datadir)
    assert SyncEngine(runtime, FAST).run(once=True).failed == 0
    assert all(i["status"] == "synchronized" for i in sources.list_items(runtime, "qd"))
    for tuid in tuids:
        want = xr.load_dataset(expected / f"{tuid}.nc", engine="h5netcdf")
        got = load_stored(runtime, tuid)
        assert stored(runtime, tuid).name == want.attrs["name"]
        assert got["y0"].dims == want["y0"].dims
        for name in ("x0", "x1", "y0"):
            if name in want.variables:
                np.testing.assert_allclose(got[name].values, want[name].values)
                assert got[name].attrs["units"] == want[name].attrs["units"]
                assert got[name].attrs["long_name"] == want[name].attrs["long_name"]
    assert tree_digest(datadir) == before
