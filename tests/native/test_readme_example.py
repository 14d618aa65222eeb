"""The README's native example runs as it is written and saves what it says."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import xarray as xr

from etiket_sync_agent import native
from tests.conftest import REPO


def _example() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Saving from a script (`native`)", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the native section has no python example"
    return match.group(1)


def test_the_readme_example_runs(tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(_example())
    env = {**os.environ, native.NATIVE_DIR_ENV: str(tmp_path / "area")}
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    (folder,) = (tmp_path / "area").iterdir()
    manifest = native.read_manifest(folder)
    assert manifest["name"] == "Rabi q1" and manifest["scope"] == "my-project"
    assert manifest["state"] == "complete"
    assert manifest["measurements"][0]["points"] == 51
    assert [f["file"] for f in manifest["files"]] == ["notes.txt", "fit.hdf5"]
    rabi = xr.load_dataset(folder / "rabi.hdf5", engine="h5netcdf")
    np.testing.assert_allclose(rabi["I"].values, np.cos(np.pi * np.linspace(0, 1, 51)))
