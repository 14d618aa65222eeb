"""Reading a run while a real QCoDeS process writes it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from etiket_sync_agent.backends.qcodes.reader import read_run_metadata, read_run_xarray
from tests.backends.qcodes.reader_support import assert_identical_to_qcodes, qcodes_export

pytest.importorskip("qcodes")
WRITER = Path(__file__).with_name("reader_live_writer.py")
N_POINTS = 1500


@pytest.mark.parametrize("journal_mode", ["WAL", "DELETE"])
def test_read_while_qcodes_writes(tmp_path: Path, journal_mode: str) -> None:
    db = tmp_path / "live.db"
    writer = subprocess.Popen(
        [sys.executable, str(WRITER), str(db), journal_mode, str(N_POINTS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = writer.stdout.readline()
        while line and not line.startswith("started"):  # QCoDeS prints its own lines too
            line = writer.stdout.readline()
        assert line.startswith("started"), writer.stderr.read()
        run_id = int(line.split()[1])
        counts: list[int] = []
        deadline = time.monotonic() + 120
        while writer.poll() is None and time.monotonic() < deadline:
            ds = read_run_xarray(db, run_id)
            valid = int(np.isfinite(ds.z.values).sum())
            counts.append(valid)
            # a consistent prefix: the points written so far, in order, then only holes
            flat = ds.z.values.ravel()
            np.testing.assert_array_equal(flat[:valid], np.arange(valid) * 0.25)
            assert np.isnan(flat[valid:]).all()
        out, err = writer.communicate(timeout=60)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    assert writer.returncode == 0, err  # the writer was never blocked into an error
    assert "done" in out
    print(f"{len(counts)} reads while writing, points seen: {counts[:3]} ... {counts[-3:]}")
    assert len(counts) >= 3, "the reader should have caught the run while it was written"
    assert counts == sorted(counts), "row counts never go backwards"
    assert counts[0] < N_POINTS
    assert read_run_metadata(db, run_id).info.is_completed
    assert_identical_to_qcodes(read_run_xarray(db, run_id), qcodes_export(db, run_id))
