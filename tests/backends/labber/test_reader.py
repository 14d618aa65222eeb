"""The reader's handling of files Labber is writing: torn reads retried, snapshots."""

from __future__ import annotations

from pathlib import Path

import pytest

from etiket_sync_agent.backends.labber.discovery import is_log_candidate
from etiket_sync_agent.backends.labber.reader import LabberReadError, read_labber_file
from etiket_sync_agent.backends.labber.reader.opening import read_with_retries
from tests.backends.labber.conftest import sweep_2d
from tests.backends.labber.labber_files import write_labber_file


def _append_byte(path: Path) -> None:
    with open(path, "ab") as fh:  # what Labber writing meanwhile looks like to a reader
        fh.write(b"\0")


def test_a_read_torn_by_a_write_is_read_again(tmp_path: Path) -> None:
    path = write_labber_file(tmp_path / "a.hdf5", sweep_2d())
    calls: list[int] = []

    def read(f) -> str:  # noqa: ANN001
        calls.append(1)
        if len(calls) == 1:
            _append_byte(path)  # the file changes under the first read
        if len(calls) == 2:
            raise OSError("bad object header (a half-written chunk)")
        return f.attrs["log_name"]

    assert read_with_retries(path, read, pauses=(0, 0, 0)) == "resonator vs flux"
    assert len(calls) == 3


def test_a_file_that_keeps_changing_is_retryable_and_a_snapshot_when_live(
    tmp_path: Path,
) -> None:
    path = write_labber_file(tmp_path / "a.hdf5", sweep_2d())

    def read(f) -> str:  # noqa: ANN001
        _append_byte(path)
        return f.attrs["log_name"]

    with pytest.raises(LabberReadError) as err:
        read_with_retries(path, read, pauses=(0, 0))
    assert err.value.retryable and "changed while it was read" in err.value.message
    # a log being measured: a successful read is a snapshot
    assert read_with_retries(path, read, pauses=(0, 0), stable=False) == "resonator vs flux"


def test_a_wrong_file_is_not_retryable_and_not_read_twice(tmp_path: Path) -> None:
    path = tmp_path / "x.hdf5"
    path.write_bytes(b"PK\x03\x04 a zip file, renamed" * 10)
    with pytest.raises(LabberReadError) as err:
        read_labber_file(path)
    assert not err.value.retryable and "not an HDF5 file" in err.value.message
    missing = tmp_path / "gone.hdf5"
    with pytest.raises(LabberReadError, match="disappeared"):
        read_labber_file(missing)


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("Rabi.hdf5", True),
        ("rabi.HDF5", True),
        ("Database.hdf5", False),
        (".Rabi.hdf5", False),
        ("_tmp.hdf5", False),
        ("scenario.labber", False),
        ("data.h5", False),
    ],
)
def test_log_candidates_by_name(name: str, ok: bool) -> None:
    assert is_log_candidate(name) is ok


def test_live_check(tmp_path: Path) -> None:
    """Live = not completed (or no Data yet) and written within ``live_timeout_s``."""
    import os

    import h5py

    from etiket_sync_agent.backends.labber import LabberBackend, LabberConfig
    from etiket_sync_agent.plugins.items import SyncItem

    def live(path: Path, timeout: float = 120.0) -> bool:
        config = LabberConfig(labber_directory=tmp_path, live_timeout_s=timeout)
        item = SyncItem(1, "lab", path.name, "uuid", "scope", path=path)
        return LabberBackend(config).check_live_dataset(item)

    done = write_labber_file(tmp_path / "done.hdf5", sweep_2d())
    running = write_labber_file(
        tmp_path / "running.hdf5", sweep_2d(completed=False, outer_written=2)
    )
    starting = write_labber_file(tmp_path / "starting.hdf5", sweep_2d())
    with h5py.File(starting, "a") as f:  # Labber has written the configuration only
        del f["Data"]
    assert not live(done)
    assert live(running) and live(starting)
    assert not live(running, timeout=0)  # quiet for longer than the timeout: finalize
    old = 1.0e9
    os.utime(running, (old, old))
    assert not live(running)
    assert not live(tmp_path / "gone.hdf5")
