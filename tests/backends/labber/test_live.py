"""A Labber log being measured: a real writer process grows it while the agent watches."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from etiket_sync_agent.runtime import Runtime
from tests.backends.labber.conftest import DAY, add_labber
from tests.backends.labber.labber_files import reference_logs
from tests.backends.labber.live_spec import live_sweep
from tests.conftest import FAST
from tests.helpers import item_status, running_engine, wait_for

WRITER = Path(__file__).with_name("_labber_writer.py")
ALT_UID = f"labber:live flux sweep@{1.75e9:.6f}"


def _start_writer(path: Path, n_outer: int, delay: float) -> subprocess.Popen:
    writer = subprocess.Popen(
        [sys.executable, str(WRITER), str(path), str(n_outer), str(delay)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout.readline().strip() == "started"
    return writer


def _data_file(rt: Runtime) -> tuple[str | None, int | None]:
    """(status, measured points) of the log's NetCDF in the store (None before it exists)."""
    import xarray as xr

    ds = rt.store.find_dataset(scope="qubits", alt_uid=ALT_UID)
    if ds is None:
        return None, None
    files = {f.name: f for f in rt.store.get_dataset(ds.uuid).files}
    if "measured_data.hdf5" not in files:
        return None, None
    status = files["measured_data.hdf5"].latest.status.value
    try:
        with (
            rt.store.open_file(ds.uuid, "measured_data.hdf5") as fh,
            xr.open_dataset(fh, engine="h5netcdf") as nc,
        ):
            return status, int(np.count_nonzero(~np.isnan(nc["Lock-in_X"].values)))
    except Exception:  # noqa: BLE001 - a live version replaced while we read it
        return None, None


def test_a_log_being_measured_is_live_then_complete(runtime: Runtime, tmp_path: Path) -> None:
    import xarray as xr

    from etiket_sync_agent.netcdf import write_netcdf

    # warmed up before the writer starts: the engine paces live passes by their duration,
    # and a first pass paying for xarray's first dataset (seconds of imports on a busy
    # machine) would then wait for most of this short measurement
    write_netcdf(xr.Dataset({"a": ("x", np.arange(3.0) + 0j)}), tmp_path / "warm.nc")

    root = tmp_path / "Labber"
    (root / DAY).mkdir(parents=True)
    path = root / DAY / "live.hdf5"
    add_labber(runtime, root)
    n_outer = 60
    with running_engine(runtime, FAST):
        writer = _start_writer(path, n_outer, 0.25)
        seen: list[int] = []
        try:
            deadline = time.monotonic() + 120
            while writer.poll() is None and time.monotonic() < deadline:
                status, points = _data_file(runtime)
                if status == "live" and points is not None:
                    seen.append(points)
                time.sleep(0.1)
            out, _ = writer.communicate(timeout=60)
        finally:
            if writer.poll() is None:
                writer.kill()
        assert writer.returncode == 0 and out.strip().endswith("done"), out
        total = 21 * n_outer
        assert seen, "the log was never seen live"
        assert seen == sorted(seen) and seen[0] < total, seen  # live versions grow
        assert len(set(seen)) > 1, seen
        assert wait_for(lambda: _data_file(runtime) == ("complete", total), timeout=60)
        assert wait_for(
            lambda: item_status(runtime, f"{DAY.as_posix()}/live.hdf5") == "synchronized"
        )
    ds = runtime.store.find_dataset(scope="qubits", alt_uid=ALT_UID)
    files = {f.name: f for f in runtime.store.get_dataset(ds.uuid).files}
    assert files["live.hdf5"].latest.status.value == "complete"  # the original, once complete
    with (
        runtime.store.open_file(ds.uuid, "measured_data.hdf5") as fh,
        xr.open_dataset(fh, engine="h5netcdf") as final,
    ):
        np.testing.assert_array_equal(
            final["Lock-in_X"].values, reference_logs(path)[""]["Lock-in/X"]
        )
        assert final.attrs["completed"] == 1
    with runtime.store.open_file(ds.uuid, "live.hdf5") as fh:
        assert fh.read() == path.read_bytes()
    assert not [p.name for p in (root / DAY).iterdir() if p.name != "live.hdf5"]  # no side files


def test_a_log_left_unfinished_by_a_crash_is_finalized_after_the_timeout(
    runtime: Runtime, tmp_path: Path
) -> None:
    root = tmp_path / "Labber"
    (root / DAY).mkdir(parents=True)
    path = root / DAY / "crashed.hdf5"
    add_labber(runtime, root, live_timeout_s="2")
    writer = _start_writer(path, 1000, 0.05)
    time.sleep(1.0)
    writer.send_signal(signal.SIGKILL)  # the measurement PC crashed mid-sweep
    writer.wait(30)
    ident = f"{DAY.as_posix()}/crashed.hdf5"
    with running_engine(runtime, FAST):
        assert wait_for(lambda: item_status(runtime, ident) == "synchronized", timeout=90)
    status, points = _data_file(runtime)
    assert status == "complete" and 0 < points < 21 * 1000
    assert live_sweep(1000).dims == [21, 1000]
