"""A dataset folder still being written is not stored as a new version at every change:
a changed dataset waits until its files have been quiet for ``settle_s``."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from etiket_sync_agent.runtime import Runtime
from tests.conftest import FAST
from tests.helpers import add_folder_source, item_status, make_dataset, running_engine, wait_for

# a measurement appending a block to its data file every 0.1 s for 3 s
WRITER = """
import sys, time
with open(sys.argv[1], "ab") as fh:
    for i in range(30):
        fh.write(b"%d\\n" % i * 1000)
        fh.flush()
        time.sleep(0.1)
"""


def _versions(rt: Runtime, folder: Path, name: str) -> list[str]:
    ds = rt.store.find_dataset(scope="proj", alt_uid=f"folder:{folder.resolve()}")
    info = rt.store.get_dataset(ds.uuid)
    (f,) = [f for f in info.files if f.name == name]
    return [v.status.value for v in f.versions]


def test_a_dataset_being_written_gets_one_new_version_once_it_settles(
    runtime: Runtime, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    folder = make_dataset(root, "run1", {"data.csv": "x,y\n"})
    add_folder_source(runtime, root)
    settings = replace(FAST, settle_s=2.0)
    with running_engine(runtime, settings):
        # a new dataset is synchronized at once (no waiting for new ones)
        assert wait_for(lambda: item_status(runtime, "run1") == "synchronized", timeout=30)
        assert _versions(runtime, folder, "data.csv") == ["complete"]
        writer = subprocess.run(
            [sys.executable, "-c", WRITER, str(folder / "data.csv")], timeout=60, check=True
        )
        assert writer.returncode == 0
        size = (folder / "data.csv").stat().st_size
        assert wait_for(
            lambda: (
                runtime.store.get_dataset(
                    runtime.store.find_dataset(
                        scope="proj", alt_uid=f"folder:{folder.resolve()}"
                    ).uuid
                )
                .files[0]
                .latest.size
                == size
            ),
            timeout=30,
        )
        time.sleep(2 * settings.settle_s)  # nothing else is coming
    # the 30 intermediate states were not stored: the first and the settled version only
    assert _versions(runtime, folder, "data.csv") == ["complete", "complete"]
    assert item_status(runtime, "run1") == "synchronized"
