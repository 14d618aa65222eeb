"""Bad input gets a clear error on the item that caused it; everything else syncs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from etiket_sync_agent.plugins.registry import BACKEND_GROUP, CONVERTER_GROUP, Registry
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services import datasets, sources
from etiket_sync_agent.services.status import status
from tests.conftest import FAST, NO_DAC_OVERRIDE
from tests.helpers import add_folder_source, items_by_id, make_dataset, run_once

FOLDERBASE = EntryPoint(
    "folderbase", "etiket_sync_agent.backends.folderbase:FolderBaseBackend", BACKEND_GROUP
)
LOCKING = EntryPoint(
    "locking_csv", "tests.backends.folderbase._lock_converter:LockingCsvConverter", CONVERTER_GROUP
)


def _files_of(rt: Runtime, item: dict) -> set[str]:
    return {f["name"] for f in datasets.show_dataset(rt, item["dataset_uuid"])["files"]}


def test_invalid_yaml_fails_that_item_only_and_a_fix_resyncs_it(
    runtime: Runtime, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    make_dataset(root, "good")
    bad = make_dataset(root, "bad")
    (bad / "_QH_dataset_info.yaml").write_text("dataset_name: [unclosed\nattributes: 3\n")
    wrong = make_dataset(root, "wrong_type")
    (wrong / "_QH_dataset_info.yaml").write_text("attributes:\n  nested: {a: 1}\n")
    add_folder_source(runtime, root)
    run_once(runtime, FAST)
    items = items_by_id(runtime)
    assert items["good"]["status"] == "synchronized"
    assert items["bad"]["status"] == "failed"
    assert "invalid _QH_dataset_info.yaml" in items["bad"]["last_error"]
    assert "YAML syntax error (line" in items["bad"]["last_error"]
    assert "attribute 'nested' must be a string or a number" in items["wrong_type"]["last_error"]
    # not retryable: no retry is scheduled, the item shows it gave up
    assert items["bad"]["next_retry"] is None and "gave up" in items["bad"]["last_error"]
    (bad / "_QH_dataset_info.yaml").write_text("dataset_name: fixed\n")
    run_once(runtime, FAST)
    assert items_by_id(runtime)["bad"]["status"] == "synchronized"
    assert "fixed" in {d["name"] for d in datasets.list_datasets(runtime)}


def test_unsafe_paths_are_skipped_with_warnings(runtime: Runtime, tmp_path: Path) -> None:
    root = tmp_path / "data"
    outside = tmp_path / "secret.txt"
    outside.write_text("must never be uploaded")
    ds = make_dataset(
        root, "a", {"ok.txt": "ok"}, thumbnails=["../../etc/passwd", "/etc/hostname", "ok.txt"]
    )
    os.symlink(outside, ds / "link_out.txt")
    os.symlink(ds / "ok.txt", ds / "link_in.txt")
    os.symlink(tmp_path, ds / "dir_out")
    add_folder_source(runtime, root)
    run_once(runtime, FAST)
    item = items_by_id(runtime)["a"]
    assert item["status"] == "synchronized"
    assert _files_of(runtime, item) == {"ok.txt", "link_in.txt"}
    warnings = " | ".join(item["warnings"])
    assert "link_out.txt: symlink points outside the dataset folder" in warnings
    assert "dir_out: symlink points outside" in warnings
    assert "'../../etc/passwd' ignored: it leaves the dataset folder" in warnings
    assert "'/etc/hostname' ignored" in warnings


def test_missing_converter_fails_the_item_with_a_hint(runtime: Runtime, tmp_path: Path) -> None:
    root = tmp_path / "data"
    make_dataset(root, "a", {"x.csv": "a,b\n1,2\n"}, converters=["no_such_converter"])
    make_dataset(root, "b")
    add_folder_source(runtime, root)
    run_once(runtime, FAST)
    items = items_by_id(runtime)
    assert items["b"]["status"] == "synchronized"
    assert items["a"]["status"] == "failed"
    assert "no converter called 'no_such_converter' is installed" in items["a"]["last_error"]
    assert "etiket-sync plugins" in items["a"]["last_error"]


def test_missing_root_folder_is_a_source_error_and_other_sources_continue(
    runtime: Runtime, tmp_path: Path
) -> None:
    gone = tmp_path / "gone"
    make_dataset(gone, "a")
    add_folder_source(runtime, gone, name="broken")
    other = tmp_path / "other"
    make_dataset(other, "b")
    add_folder_source(runtime, other, name="fine")
    shutil.rmtree(gone)
    summary = run_once(runtime, FAST)
    assert summary.attempted == 1
    st = {s["name"]: s for s in status(runtime)["sources"]}
    assert st["broken"]["status"] == "error"
    assert "does not exist" in st["broken"]["last_error"]
    assert st["fine"]["items"]["synchronized"] == 1 and st["fine"]["last_error"] is None
    # the folder comes back: the error clears
    make_dataset(gone, "a")
    run_once(runtime, FAST)
    st = {s["name"]: s for s in status(runtime)["sources"]}
    assert st["broken"]["status"] == "active" and st["broken"]["items"]["synchronized"] == 1


_HOLD_LOCK = """
import fcntl, sys
with open(sys.argv[1], "rb+") as fh:
    fcntl.flock(fh, fcntl.LOCK_EX)
    print("locked", flush=True)
    sys.stdin.readline()
"""


@pytest.mark.skipif(sys.platform == "win32", reason="flock")
def test_converter_os_errors_retry_with_backoff_then_give_up_until_retry(
    home, tmp_path: Path
) -> None:
    """A file the acquisition program holds locked (a real process with an exclusive
    flock) fails the conversion with an OSError: retried with backoff, not given up at
    once; once the lock is released, the dataset synchronizes."""
    rt = Runtime(home, registry=Registry([FOLDERBASE, LOCKING]))
    try:
        root = tmp_path / "data"
        ds = make_dataset(root, "a", {"x.csv": "t,v\n0,1\n1,2\n"}, converters=["locking_csv"])
        make_dataset(root, "b")
        add_folder_source(rt, root)
        holder = subprocess.Popen(
            [sys.executable, "-c", _HOLD_LOCK, str(ds / "x.csv")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert holder.stdout.readline().strip() == "locked"
        try:
            for attempt in range(1, FAST.retry.max_attempts + 1):
                run_once(rt, FAST)
                item = items_by_id(rt)["a"]
                assert item["status"] == "failed" and item["failures"] == attempt
                assert "converter 'locking_csv' could not convert x.csv" in item["last_error"]
                assert "Errno" not in item["last_error"]
                if attempt < FAST.retry.max_attempts:
                    assert item["next_retry"] is not None, item  # retried, not permanent
            assert item["next_retry"] is None
            assert "gave up after 3 attempt(s)" in item["last_error"]
            assert run_once(rt, FAST).attempted == 0  # given up: not attempted again
        finally:
            holder.communicate("\n", timeout=30)
        assert sources.retry(rt, "lab") == 1
        run_once(rt, FAST)
        items = items_by_id(rt)
        assert items["a"]["status"] == "synchronized"
        assert items["b"]["sync_count"] == 1
        assert _files_of(rt, items["a"]) == {"x.csv", "x.nc"}
    finally:
        rt.close()


def test_conditions_that_cannot_change_are_not_retried(runtime: Runtime, tmp_path: Path) -> None:
    """'Is a directory' where the info file should be: one attempt, a clear line (no
    ``[Errno 21]``), given up at once; fixed, the dataset synchronizes."""
    root = tmp_path / "data"
    ds = root / "a"
    (ds / "_QH_dataset_info.yaml").mkdir(parents=True)
    make_dataset(root, "b")
    add_folder_source(runtime, root)
    run_once(runtime, FAST)
    item = items_by_id(runtime)["a"]
    assert item["status"] == "failed" and item["failures"] == 1
    assert "_QH_dataset_info.yaml is a folder, not a file" in item["last_error"]
    assert "Errno" not in item["last_error"]
    assert item["next_retry"] is None and "gave up after 1 attempt(s)" in item["last_error"]
    assert run_once(runtime, FAST).attempted == 0
    (ds / "_QH_dataset_info.yaml").rmdir()
    make_dataset(root, "a")
    run_once(runtime, FAST)
    assert items_by_id(runtime)["a"]["status"] == "synchronized"
    assert items_by_id(runtime)["b"]["sync_count"] == 1


def test_file_vanishing_mid_sync_fails_cleanly_and_next_pass_recovers(
    runtime: Runtime, tmp_path: Path
) -> None:
    """A real second process deletes a file while the agent is uploading its neighbour."""
    root = tmp_path / "data"
    ds = make_dataset(root, "a", {"a_big.bin": os.urandom(1 << 20) * 300, "b_small.txt": "b"})
    add_folder_source(runtime, root)
    deleter = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("_delete_on_open.py")), str(ds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert deleter.stdout.readline().strip() == "watching"
    run_once(runtime, FAST)
    assert deleter.wait(30) == 0
    item = items_by_id(runtime)["a"]
    assert item["status"] == "failed", item
    assert "b_small.txt" in item["last_error"]
    assert item["next_retry"] is not None  # retryable
    run_once(runtime, FAST)  # the dataset changed (file gone): synchronized now
    item = items_by_id(runtime)["a"]
    assert item["status"] == "synchronized"
    assert _files_of(runtime, item) == {"a_big.bin"}


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX permissions")
def test_unreadable_file_is_a_clear_item_error(cli, tmp_path: Path) -> None:
    """The real CLI; as root it runs without the capabilities that bypass permissions."""
    root = tmp_path / "data"
    ds = make_dataset(root, "a", {"secret.bin": b"s", "ok.txt": "ok"})
    make_dataset(root, "b")
    os.chmod(ds / "secret.bin", 0o000)
    prefix: tuple[str, ...] = ()
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root and setpriv (util-linux) is missing")
        prefix = NO_DAC_OVERRIDE
    cli("scopes", "create", "proj")
    cli("add-source", "folderbase", "lab", "--scope", "proj", "--set", f"root_directory={root}")
    cli("run", "--once", prefix=prefix)
    items = {i["identifier"]: i for i in cli("items", "lab", "--json", as_json=True)}
    assert items["b"]["status"] == "synchronized"
    assert items["a"]["status"] == "failed"
    assert "Permission denied" in items["a"]["last_error"]
    assert "secret.bin" in items["a"]["last_error"]


def test_concurrent_writer_never_sees_a_broken_state(runtime: Runtime, tmp_path: Path) -> None:
    """Datasets appear while the agent syncs; every one ends synchronized exactly once."""
    root = tmp_path / "data"
    root.mkdir()
    add_folder_source(runtime, root)
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(root), "40"], stdout=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while writer.poll() is None and time.monotonic() < deadline:
            run_once(runtime, FAST)
    finally:
        writer.wait(60)
    run_once(runtime, FAST)
    run_once(runtime, FAST)
    items = items_by_id(runtime)
    assert len(items) == 40
    assert {i["status"] for i in items.values()} == {"synchronized"}
    names = [d["name"] for d in datasets.list_datasets(runtime)]
    assert len(names) == len(set(names)) == 40


_WRITER = """
import sys, time
from pathlib import Path
from etiket_sync_agent.backends.folderbase import generate_dataset_info
root, n = Path(sys.argv[1]), int(sys.argv[2])
for i in range(n):
    d = root / f"run_{i:03d}"
    d.mkdir()
    with open(d / "data.txt", "w") as fh:
        for k in range(50):
            fh.write(f"{k}\\n"); fh.flush()
    generate_dataset_info(d, f"run {i}")
    time.sleep(0.02)
"""
