"""Live sync while a real writer process rewrites ``dataset.hdf5`` the way
MeasurementControl does (whole file, in place, every update interval)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import xarray as xr

from etiket_sync_agent.backends.quantify.reader import read_dataset
from etiket_sync_agent.runtime import Runtime
from tests.backends.quantify.conftest import (
    add_quantify,
    load_stored,
    stored_files,
    tree_digest,
)
from tests.backends.quantify.mc_files import (
    fill,
    flat_dataset,
    measurement_folder,
    reference_grid,
    tuid_at,
    write_mc,
)
from tests.conftest import FAST
from tests.helpers import item_status, running_engine, wait_for

WRITER = Path(__file__).with_name("mc_writer.py")
NX, NY = 12, 8


def _start_writer(datadir: Path, nx: int, ny: int, delay: float, interval: float, *extra: str):
    writer = subprocess.Popen(
        [
            sys.executable,
            str(WRITER),
            str(datadir),
            str(nx),
            str(ny),
            str(delay),
            str(interval),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = writer.stdout.readline().rstrip("\n").split("\t")
    assert line[0] == "started", (line, writer.stderr.read())
    return writer, line[1], line[2]


def _old_measurement(datadir: Path) -> str:
    tuid = tuid_at(datetime(2024, 1, 2, 9, 0, 0), 0)
    folder = measurement_folder(datadir, tuid, "older")
    write_mc(fill(flat_dataset(tuid, "older", [np.arange(5.0)])), folder / "dataset.hdf5")
    return tuid


def _measured(ds: xr.Dataset) -> int:
    return int(np.isfinite(ds["y0"].values).sum())


def test_a_measurement_being_written_is_live_then_complete(
    runtime: Runtime, tmp_path: Path
) -> None:
    datadir = tmp_path / "quantify-data"
    _old_measurement(datadir)
    add_quantify(runtime, datadir, live_timeout_s="60")
    counts: list[int] = []
    with running_engine(runtime, FAST):
        writer, rel, tuid = _start_writer(datadir, NX, NY, 0.03, 0.1)
        folder = datadir / rel
        try:
            deadline = time.monotonic() + 120
            while writer.poll() is None and time.monotonic() < deadline:
                files = stored_files(runtime, tuid)
                f = files.get("dataset.hdf5")
                if f is not None and f.latest.status.value == "live":
                    live = load_stored(runtime, tuid)
                    assert live["y0"].dims == ("x0", "x1")  # gridded while live too
                    counts.append(_measured(live))
                # nothing but the writer's own files appears in the measurement folder
                assert {p.name for p in folder.iterdir()} <= {"dataset.hdf5", "snapshot.json"}
                time.sleep(0.05)
            out, err = writer.communicate(timeout=60)
        finally:
            if writer.poll() is None:
                writer.kill()
                writer.wait()
        assert writer.returncode == 0, err  # the writer never saw an error
        assert out.startswith("done")
        assert wait_for(
            lambda: item_status(runtime, rel, source="qd") == "synchronized", timeout=60
        )
        final_tree = tree_digest(datadir)
        time.sleep(FAST.live_interval_s * 5)  # a few more loop turns: nothing changes
    assert counts, "the measurement was never seen live"
    assert counts == sorted(counts), "live versions never lose points"
    assert counts[0] < NX * NY and len(set(counts)) >= 2, counts
    final = load_stored(runtime, tuid)
    source = xr.load_dataset(folder / "dataset.hdf5", engine="h5netcdf")
    want = reference_grid(source)
    np.testing.assert_array_equal(final["y0"].values, want["y0"].values)
    assert _measured(final) == NX * NY
    versions = stored_files(runtime, tuid)["dataset.hdf5"].versions
    statuses = [v.status.value for v in versions]
    assert statuses[-1] == "complete" and statuses.count("complete") == 1, statuses
    assert tree_digest(datadir) == final_tree  # the agent changed nothing in the datadir


def test_an_interrupted_measurement_is_finalized_after_the_timeout(
    runtime: Runtime, tmp_path: Path
) -> None:
    datadir = tmp_path / "quantify-data"
    writer, rel, tuid = _start_writer(datadir, 50, 50, 0.001, 0.05, "stuck", "300")
    assert writer.stdout.readline().startswith("stuck")  # the instrument hangs
    writer.send_signal(signal.SIGKILL)  # and the run is abandoned
    writer.wait(30)
    add_quantify(runtime, datadir, live_timeout_s="2")
    with running_engine(runtime, FAST):
        assert wait_for(
            lambda: item_status(runtime, rel, source="qd") == "synchronized", timeout=60
        )
    f = stored_files(runtime, tuid)["dataset.hdf5"]
    assert f.latest.status.value == "complete"
    final = load_stored(runtime, tuid)
    assert _measured(final) == 300  # what it had, with its NaN tail


def test_reads_while_the_writer_rewrites_are_never_torn(tmp_path: Path) -> None:
    """Every read of a file being rewritten in place gives a whole, consistent dataset:
    the points measured so far in order, then only NaN."""
    datadir = tmp_path / "quantify-data"
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    # MeasurementControl's shortest update interval (0.1 s), points every 2 ms
    writer, rel, _ = _start_writer(datadir, 25, 20, 0.004, 0.1)
    path = datadir / rel / "dataset.hdf5"
    seen: list[int] = []
    try:
        while writer.poll() is None:
            r = read_dataset(path, scratch)
            flat = r.ds["y0"].values.T.reshape(-1)  # x0 fastest, as written
            valid = r.progress.measured
            np.testing.assert_array_equal(flat[:valid], np.arange(valid) * 0.5)
            assert np.isnan(flat[valid:]).all()
            seen.append(valid)
        out, err = writer.communicate(timeout=60)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    assert writer.returncode == 0, err
    assert len(seen) >= 3 and seen == sorted(seen), seen
    assert list(scratch.iterdir()) == []
    assert {p.name for p in path.parent.iterdir()} == {"dataset.hdf5", "snapshot.json"}
