"""The native API in a separate process while the agent runs in watch mode: live
versions that grow, a complete version equal to what was written, a killed script
finalized after the timeout, a script that raises stored as "aborted"."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import numpy as np

from etiket_sync_agent import native
from etiket_sync_agent.native import read_manifest
from etiket_sync_agent.runtime import Runtime
from tests.backends.native.conftest import (
    add_native,
    expected_grid,
    load_stored,
    start_writer,
    stored,
    stored_files,
)
from tests.conftest import FAST
from tests.helpers import item_status, run_once, running_engine, wait_for

NX, NY = 10, 8


def _measured(ds) -> int:
    return int(np.isfinite(ds["I"].values).sum())


def test_a_script_writing_point_by_point_is_live_then_complete(
    runtime: Runtime, tmp_path: Path
) -> None:
    native_dir = tmp_path / "native"
    native_dir.mkdir()
    add_native(runtime, native_dir, live_timeout_s="60")
    counts: list[int] = []
    with running_engine(runtime, FAST):
        # warm-up: a first dataset loads the readers (live passes are paced by their cost)
        with (
            native.dataset("warm-up", scope="proj", directory=native_dir) as first,
            first.measurement("m", {"x": ("V", [0.0, 1.0])}, {"y": "V"}) as m,
        ):
            m.append(y=1.0)
        assert wait_for(
            lambda: item_status(runtime, first.path.name, source="nat") == "synchronized",
            timeout=60,
        )
        gate = tmp_path / "gate"
        writer, folder = start_writer(native_dir, "run", NX, NY, 0.02, 0.1, gate=gate)
        uuid = read_manifest(native_dir / folder)["uuid"]
        try:
            deadline = time.monotonic() + 120
            while writer.poll() is None and time.monotonic() < deadline:
                f = stored_files(runtime, uuid).get("grid.hdf5")
                if f is not None and f.latest.status.value == "live":
                    live = load_stored(runtime, uuid)
                    assert live["I"].dims == ("x", "y")
                    n = _measured(live)
                    # whole points only, in row order, each equal to what was written
                    flat = live["I"].values.reshape(-1)
                    np.testing.assert_array_equal(flat[:n], expected_grid(NX, NY).reshape(-1)[:n])
                    np.testing.assert_array_equal(live["Q"].values.reshape(-1)[:n], -flat[:n])
                    counts.append(n)
                    gate.write_text(str(n // NY))  # rows seen: the writer may go on
                time.sleep(0.05)
            out, err = writer.communicate(timeout=60)
        finally:
            if writer.poll() is None:
                writer.kill()
                writer.wait()
        assert writer.returncode == 0, err  # the script never saw an error
        assert out.strip().endswith("done")
        assert wait_for(
            lambda: item_status(runtime, folder, source="nat") == "synchronized", timeout=60
        ), item_status(runtime, folder, source="nat")
    assert counts, "the dataset was never seen live"
    assert counts == sorted(counts), "live versions never lose points"
    assert counts[0] < NX * NY and len(set(counts)) >= 2, counts
    # the writer waited at rows 1-3 until they were seen: whole rows, nothing more
    assert {NY, 2 * NY, 3 * NY} <= set(counts), counts
    final = load_stored(runtime, uuid)
    np.testing.assert_array_equal(final["I"].values, expected_grid(NX, NY))
    np.testing.assert_array_equal(final["Q"].values, -expected_grid(NX, NY))
    np.testing.assert_allclose(final["x"].values, np.linspace(0.0, 1.0, NX))
    assert final["I"].attrs["units"] == "V" and final["y"].attrs["units"] == "s"
    files = stored_files(runtime, uuid)
    statuses = [v.status.value for v in files["grid.hdf5"].versions]
    assert statuses[-1] == "complete" and statuses.count("complete") == 1, statuses
    assert files["notes.txt"].latest.status.value == "complete"
    info = stored(runtime, uuid)
    assert info.name == "grid scan" and info.scope == "proj"
    assert set(info.tags) == {"grid", "test"}
    assert info.attributes["sample"] == "S12" and info.attributes["state"] == "complete"


def test_a_killed_script_keeps_its_flushed_points_and_is_finalized(
    runtime: Runtime, tmp_path: Path
) -> None:
    native_dir = tmp_path / "native"
    native_dir.mkdir()
    writer, folder = start_writer(native_dir, "stuck", NX, NY, 0.0, 1000.0, 37)
    try:
        assert writer.stdout.readline().strip() == "flushed\t37"
        assert writer.stdout.readline().strip() == "stuck"  # 3 more points, never flushed
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(30)
    uuid = read_manifest(native_dir / folder)["uuid"]
    assert read_manifest(native_dir / folder)["state"] == "writing"
    add_native(runtime, native_dir, live_timeout_s="2")
    with running_engine(runtime, FAST):
        assert wait_for(
            lambda: item_status(runtime, folder, source="nat") == "synchronized", timeout=60
        ), item_status(runtime, folder, source="nat")
    f = stored_files(runtime, uuid)["grid.hdf5"]
    assert f.latest.status.value == "complete"
    final = load_stored(runtime, uuid)
    assert _measured(final) == 37
    np.testing.assert_array_equal(
        final["I"].values.reshape(-1)[:37], expected_grid(NX, NY).reshape(-1)[:37]
    )
    info = stored(runtime, uuid)
    assert info.attributes["state"] == "interrupted"
    assert "Interrupted" in info.description
    # the agent only read: the script's folder is as the script left it
    assert read_manifest(native_dir / folder)["state"] == "writing"


def test_a_script_that_raises_is_stored_complete_as_aborted(
    runtime: Runtime, tmp_path: Path
) -> None:
    native_dir = tmp_path / "native"
    native_dir.mkdir()
    writer, folder = start_writer(native_dir, "raise", NX, NY, 0.0, 0.2, 5)
    out, err = writer.communicate(timeout=60)
    assert writer.returncode != 0 and "instrument on fire" in err
    manifest = read_manifest(native_dir / folder)
    assert manifest["state"] == "aborted"
    assert manifest["measurements"][0]["state"] == "aborted"
    add_native(runtime, native_dir)
    run_once(runtime, FAST)
    assert item_status(runtime, folder, source="nat") == "synchronized"
    info = stored(runtime, manifest["uuid"])
    assert info.attributes["state"] == "aborted"
    assert info.attributes["error"] == "RuntimeError: instrument on fire"
    assert "Aborted: RuntimeError: instrument on fire" in info.description
    assert info.description.startswith("a 2-D scan written by a test script")
    f = stored_files(runtime, manifest["uuid"])["grid.hdf5"]
    assert f.latest.status.value == "complete"
    assert _measured(load_stored(runtime, manifest["uuid"])) == 5  # the data is kept
