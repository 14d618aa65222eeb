"""The disk holding the spool nearly full: an alert, and its recovery. On a real small
file system (a tmpfs mounted for the test) when the test may mount one."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from etiket_sync_agent.ops.alerts import targets
from etiket_sync_agent.ops.alerts.notifier import Notifier
from etiket_sync_agent.ops.snapshot import snapshot
from etiket_sync_agent.runtime import Runtime
from tests.ops.receivers import webhook


def test_home_and_spool_on_one_disk_make_one_message(runtime: Runtime) -> None:
    assert not runtime.home.spool_dir.exists()  # measured on its nearest existing folder
    assert snapshot(runtime)["spool_disk"]["same_as_home"]
    with webhook() as (hook, posts):
        targets.add_target(runtime.home, hook)
        targets.set_settings(runtime.home, {"min_interval_s": 0, "disk_free_below": 1.0})
        Notifier(runtime).check()
        [post] = posts
        assert post["message"].count("PROBLEM") == 1
        assert "the disk of the agent's home and spool" in post["message"]
        targets.set_settings(runtime.home, {"disk_free_below": 0.0})
        Notifier(runtime).check()
        assert "RECOVERED: the disk of the agent's home and spool" in posts[1]["message"]


@pytest.fixture
def small_spool(runtime: Runtime) -> Iterator[Path]:
    """A 4 MiB tmpfs mounted where the spool lives."""
    spool = runtime.home.spool_dir
    spool.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(spool)],
        capture_output=True, text=True,
    )  # fmt: skip
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {proc.stderr.strip()}")
    try:
        yield spool
    finally:
        subprocess.run(["umount", str(spool)], check=True)


def test_a_nearly_full_spool_disk_is_reported_and_its_recovery(
    runtime: Runtime, small_spool: Path
) -> None:
    home = runtime.home
    spool = snapshot(runtime)["spool_disk"]
    assert not spool["same_as_home"] and spool["total"] == 4 << 20
    with webhook() as (hook, posts):
        targets.add_target(home, hook)
        # the home's disk has more than 1 % free; the spool will not
        targets.set_settings(home, {"min_interval_s": 0, "disk_free_below": 0.01})
        notifier = Notifier(runtime)
        notifier.check()
        assert posts == []
        (small_spool / "item-1.nc").write_bytes(b"\0" * ((4 << 20) - (16 << 10)))
        notifier.check()
        [post] = posts
        assert "PROBLEM: the disk of the spool" in post["message"]
        assert str(small_spool) in post["message"]
        assert "the agent's home" not in post["message"]  # the home's disk is fine
        notifier.check()
        assert len(posts) == 1  # told once
        (small_spool / "item-1.nc").unlink()  # the store took the files
        notifier.check()
        assert len(posts) == 2 and "RECOVERED: the disk of the spool" in posts[1]["message"]
