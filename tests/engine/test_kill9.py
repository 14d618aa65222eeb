"""The agent killed with SIGKILL at random moments of a sync — several times, once in the
middle of uploading a big file — and restarted: in the end the store holds every dataset
exactly once with the right bytes, the catalog and the blobs agree, no temp file is left.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import time
from pathlib import Path

from etiket_sync_agent.home import Home
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.state import repository as repo
from tests.conftest import ETIKET_SYNC
from tests.helpers import add_folder_source, make_dataset

BIG = 24 * 1024 * 1024  # a file whose upload takes long enough to be killed inside


def _agent(home: Home, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ETIKET_SYNC_HOME": str(home.data_dir)}
    return subprocess.Popen(
        [ETIKET_SYNC, "run", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def _tmp_files(store: Path) -> list[Path]:
    tmp = store / "tmp"
    return [p for p in tmp.rglob("*") if p.is_file()] if tmp.exists() else []


def _kill(agent: subprocess.Popen[bytes]) -> None:
    if agent.poll() is None:
        agent.send_signal(signal.SIGKILL)
    agent.communicate(timeout=60)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_killed_at_random_moments_the_store_ends_exact(
    home: Home, runtime: Runtime, tmp_path: Path
) -> None:
    rng = random.Random(9)
    root = tmp_path / "data"
    expected: dict[str, dict[str, bytes]] = {}

    def dataset(name: str, files: dict[str, bytes]) -> None:
        make_dataset(root, name, files)
        expected[name] = files

    for i in range(8):
        dataset(f"run{i}", {"data.bin": os.urandom(rng.randint(1, 300_000)), "notes.txt": b"n"})
    add_folder_source(runtime, root)
    store_dir = home.store_dir
    kills = 0
    for round_ in range(6):
        mid_upload = round_ in (1, 4)
        if mid_upload:  # a new dataset with a big file: its upload is where the kill lands
            dataset(f"big{round_}", {"big.bin": os.urandom(BIG), "small.txt": b"s"})
        elif round_ == 3:  # the user edits a dataset between two kills
            data = expected["run1"]["data.bin"] + b"more"
            (root / "run1" / "data.bin").write_bytes(data)
            expected["run1"]["data.bin"] = data
        agent = _agent(home)
        try:
            if mid_upload:
                deadline = time.monotonic() + 30
                while not _tmp_files(store_dir) and time.monotonic() < deadline:
                    if agent.poll() is not None:
                        break
                    time.sleep(0.002)
                assert _tmp_files(store_dir), "no upload in progress to kill"
            else:
                time.sleep(rng.uniform(0.3, 1.5))
            assert agent.poll() is None, agent.communicate()[1].decode()
        finally:
            _kill(agent)
        kills += 1
    assert kills == 6
    # restarted for good: the start-up sweep and one full pass finish the work
    final = _agent(home, "--once")
    _, err = final.communicate(timeout=120)
    assert final.returncode == 0, err.decode()

    rt = Runtime(home)
    try:
        src = repo.get_source(rt.state, "lab")
        statuses = {i.identifier: i.status for i in repo.list_items(rt.state, src.id)}
        assert statuses == dict.fromkeys(expected, "synchronized")
        datasets = rt.store.list_datasets(scope="proj")
        # every dataset exactly once, with the right bytes in its newest versions
        assert sorted(d.name for d in datasets) == sorted(expected)
        referenced: set[str] = set()
        for d in datasets:
            info = rt.store.get_dataset(d.uuid)
            files = {f.name: f for f in info.files}
            assert sorted(files) == sorted(expected[d.name]), d.name
            for name, content in expected[d.name].items():
                assert files[name].latest.sha256 == _sha(content), (d.name, name)
                with rt.store.open_file(d.uuid, name) as fh:
                    assert fh.read() == content, (d.name, name)
            referenced |= {v.sha256 for f in info.files for v in f.versions}
        # the catalog and the blobs agree: each version's blob exists with its content,
        # no blob is left that nothing refers to, and no temp file is left
        blobs = {p.name: p for p in (store_dir / "blobs").glob("*/*") if p.is_file()}
        assert referenced <= set(blobs), referenced - set(blobs)
        for sha in referenced:
            assert _sha(blobs[sha].read_bytes()) == sha
        assert set(blobs) == referenced, set(blobs) - referenced
        assert _tmp_files(store_dir) == []
    finally:
        rt.close()
