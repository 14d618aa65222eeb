"""Importing the native API (and its backend) stays cheap: no h5py, xarray or the
agent's machinery until a measurement or a sync needs them."""

from __future__ import annotations

import subprocess
import sys


def _loaded(statement: str) -> list[str]:
    code = (
        f"import sys\n{statement}\n"
        "print(' '.join(m for m in ('h5py', 'xarray', 'h5netcdf', 'sqlalchemy', 'watchdog',"
        " 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_importing_the_api_loads_nothing_heavy() -> None:
    assert _loaded("from etiket_sync_agent import native") == []


def test_importing_the_backend_loads_no_hdf5_or_xarray() -> None:
    loaded = _loaded("from etiket_sync_agent.backends.native import NativeBackend")
    assert not {"h5py", "xarray", "h5netcdf", "watchdog"} & set(loaded), loaded
