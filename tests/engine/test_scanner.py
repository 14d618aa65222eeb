"""Level-aware scans on real folders."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from etiket_sync_agent.engine.scanner import dataset_roots_for, identifier_path, safe_name, scan
from tests.conftest import NO_DAC_OVERRIDE
from tests.helpers import make_dataset


def ids(result) -> set[str]:
    return {h.identifier for h in result.hits}


def test_level_minus_one_finds_every_folder_with_an_info_file(tmp_path: Path) -> None:
    make_dataset(tmp_path, "a")
    make_dataset(tmp_path, "2026/01/b")
    make_dataset(tmp_path, "2026/01/b/nested")  # inside a dataset: part of it
    make_dataset(tmp_path, ".hidden/c")
    (tmp_path / "no_info" / "x").mkdir(parents=True)
    assert ids(scan(tmp_path, -1)) == {"a", "2026/01/b"}


def test_level_n_takes_entries_at_that_depth(tmp_path: Path) -> None:
    for rel in ("d1/run1", "d1/run2", "d2/run3"):
        (tmp_path / rel).mkdir(parents=True)
        (tmp_path / rel / "f.txt").write_text(rel)
    (tmp_path / "d1" / "stray.txt").write_text("a file at level 2 is not a folder dataset")
    assert ids(scan(tmp_path, 2)) == {"d1/run1", "d1/run2", "d2/run3"}
    assert ids(scan(tmp_path, 1)) == {"d1", "d2"}
    assert ids(scan(tmp_path, 2, single_file=True)) == {"d1/stray.txt"}
    # a partial scan of one dataset, and of a sub-tree
    assert ids(scan(tmp_path, 2, start=tmp_path / "d1" / "run2")) == {"d1/run2"}
    assert ids(scan(tmp_path, 2, start=tmp_path / "d2")) == {"d2/run3"}


def test_fingerprint_changes_with_content_and_not_otherwise(tmp_path: Path) -> None:
    ds = make_dataset(tmp_path, "a", {"x.bin": b"1234", "sub/y.txt": "y"})
    fp1 = scan(tmp_path, -1).hits[0].fingerprint
    assert scan(tmp_path, -1).hits[0].fingerprint == fp1
    (ds / "sub" / "y.txt").write_text("longer content")
    fp2 = scan(tmp_path, -1).hits[0].fingerprint
    assert fp2 != fp1
    (ds / ".hidden_tmp").write_text("hidden files do not count")
    assert scan(tmp_path, -1).hits[0].fingerprint == fp2
    (ds / "new.txt").write_text("n")
    assert scan(tmp_path, -1).hits[0].fingerprint != fp2


def test_symlinked_folders_are_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    make_dataset(outside, "secret")
    root = tmp_path / "root"
    make_dataset(root, "a")
    os.symlink(outside, root / "link")
    assert ids(scan(root, -1)) == {"a"}


def test_event_paths_map_to_their_dataset(tmp_path: Path) -> None:
    a = make_dataset(tmp_path, "x/a", {"deep/f.txt": "f"})
    new_dir = tmp_path / "y" / "new"
    new_dir.mkdir(parents=True)
    roots = dataset_roots_for(
        tmp_path, -1, [a / "deep" / "f.txt", a / "_QH_dataset_info.yaml", new_dir, Path("/etc")]
    )
    assert roots == {a, new_dir}
    assert dataset_roots_for(tmp_path, 2, [tmp_path / "d1" / "run1" / "z" / "f"]) == {
        tmp_path / "d1" / "run1"
    }


def test_names_that_are_not_utf8_get_safe_identifiers_that_lead_back(tmp_path: Path) -> None:
    bad = os.fsdecode(b"run\xe9%1")
    _bare(tmp_path / bad)
    _bare(tmp_path / "run%E9%251")  # a real name looking like the escaped one
    res = scan(tmp_path, -1)
    # both have the same safe text (an edge no escaping avoids without renaming valid
    # names, which would change the identity of every synchronized dataset)...
    assert ids(res) == {"run%E9%251"} and len(res.hits) == 2
    # ...and the real name wins; the escaped one leads back to the bytes
    assert identifier_path(tmp_path, "run%E9%251") == tmp_path / "run%E9%251"
    os.rename(tmp_path / "run%E9%251", tmp_path / "plain")
    assert identifier_path(tmp_path, "run%E9%251") == tmp_path / bad
    assert safe_name("ok name") == "ok name" and safe_name("100%") == "100%"
    # a file with such a name inside a dataset: the fingerprint still works
    (tmp_path / "plain" / os.fsdecode(b"\xff.txt")).write_text("x")
    assert len(scan(tmp_path, -1).hits) == 2


def _bare(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "_QH_dataset_info.yaml").write_text("")


_SCAN = """
import json, sys
from pathlib import Path
from etiket_sync_agent.engine.scanner import scan
res = scan(Path(sys.argv[1]), int(sys.argv[2]))
print(json.dumps({"ids": sorted(h.identifier for h in res.hits), "errors": res.errors}))
"""


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX permissions")
def test_unreadable_folders_are_reported_as_candidates(tmp_path: Path) -> None:
    """As a user without read permission (root: without its capabilities)."""
    prefix: tuple[str, ...] = ()
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root and setpriv (util-linux) is missing")
        prefix = NO_DAC_OVERRIDE
    make_dataset(tmp_path, "good")
    locked = make_dataset(tmp_path, "locked")
    listless = make_dataset(tmp_path, "listless")
    plain = tmp_path / "plain_listless"
    plain.mkdir()
    lost = tmp_path / "lost+found"
    lost.mkdir()
    os.chmod(locked, 0o000)
    os.chmod(lost, 0o000)
    os.chmod(listless, 0o311)  # the info file can be reached: a dataset
    os.chmod(plain, 0o311)  # no info file there: not a dataset
    try:

        def run(level: int) -> dict:
            proc = subprocess.run(
                [*prefix, sys.executable, "-c", _SCAN, str(tmp_path), str(level)],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert proc.returncode == 0, proc.stderr
            return json.loads(proc.stdout)

        out = run(-1)
        assert out["ids"] == ["good", "listless", "locked"]
        assert any("locked" in e and "Permission denied" in e for e in out["errors"])
        out = run(1)  # every entry at level 1 is a dataset, readable or not
        assert out["ids"] == ["good", "listless", "locked", "lost+found", "plain_listless"]
    finally:
        for p in (locked, lost, listless, plain):
            os.chmod(p, 0o755)
    # readable again: a new fingerprint (the item is synchronized again)
    assert {h.identifier for h in scan(tmp_path, -1).hits} == {"good", "listless", "locked"}


# -- level 0: single files at any depth ------------------------------------------------


def _files(root: Path, *rels: str) -> None:
    for rel in rels:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(rel)


def test_level_zero_finds_regular_files_at_every_depth(tmp_path: Path) -> None:
    _files(
        tmp_path,
        "top.h5",
        "a/one.h5",
        "a/b/c/d/deep.h5",
        "a/_private/no.h5",  # folders starting with "_" or "." are not entered
        ".hidden/no.h5",
        "a/.trash/no.h5",
        "a/_skipped_file.h5",  # the default accept rule refuses it
        "a/notes.txt",
    )
    assert ids(scan(tmp_path, 0, single_file=True)) == {
        "top.h5",
        "a/one.h5",
        "a/b/c/d/deep.h5",
        "a/notes.txt",
    }
    only_h5 = scan(tmp_path, 0, single_file=True, accept=lambda p: p.suffix == ".h5")
    assert ids(only_h5) == {"top.h5", "a/one.h5", "a/b/c/d/deep.h5", "a/_skipped_file.h5"}
    # a sub-tree, and a single file
    assert ids(scan(tmp_path, 0, single_file=True, start=tmp_path / "a" / "b")) == {
        "a/b/c/d/deep.h5"
    }
    assert ids(scan(tmp_path, 0, single_file=True, start=tmp_path / "a" / "one.h5")) == {"a/one.h5"}
    assert ids(scan(tmp_path, 0, single_file=True, start=tmp_path / "a" / "gone.h5")) == set()
    with pytest.raises(ValueError, match="single_file"):
        scan(tmp_path, 0)


def test_level_zero_fingerprints_follow_each_file(tmp_path: Path) -> None:
    _files(tmp_path, "x/a.h5", "y/b.h5")
    before = {h.identifier: h.fingerprint for h in scan(tmp_path, 0, single_file=True).hits}
    (tmp_path / "x" / "a.h5").write_text("grown content")
    after = {h.identifier: h.fingerprint for h in scan(tmp_path, 0, single_file=True).hits}
    assert after["x/a.h5"] != before["x/a.h5"] and after["y/b.h5"] == before["y/b.h5"]


def test_level_zero_does_not_follow_symlinks_nor_open_fifos(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    _files(outside, "secret.h5", "sub/secret2.h5")
    root = tmp_path / "root"
    _files(root, "a/real.h5")
    os.symlink(outside, root / "a" / "linked_dir")
    os.symlink(outside / "secret.h5", root / "a" / "linked.h5")
    os.symlink(root, root / "a" / "loop")  # a loop would never end if followed
    os.mkfifo(root / "a" / "pipe.h5")  # opening a FIFO blocks forever
    res = scan(root, 0, single_file=True, accept=lambda p: p.suffix == ".h5")
    assert ids(res) == {"a/real.h5"} and not res.errors
    # a start that is a symlink or a FIFO is not a dataset either
    for name in ("linked_dir", "linked.h5", "pipe.h5"):
        assert scan(root, 0, single_file=True, start=root / "a" / name).hits == []


def test_level_zero_records_folder_mtimes_and_maps_events(tmp_path: Path) -> None:
    _files(tmp_path, "2024/01/Data_0101/a.h5", "misc/b.h5")
    res = scan(tmp_path, 0, single_file=True, folder_mtimes=True)
    assert res.dir_mtimes is not None
    folders = ("2024", "2024/01", "2024/01/Data_0101", "misc")
    assert set(res.dir_mtimes) == {os.fspath(tmp_path)} | {os.fspath(tmp_path / p) for p in folders}
    new_dir = tmp_path / "2024" / "02"
    _files(tmp_path, "2024/02/Data_0202/c.h5")
    changed = tmp_path / "misc" / "b.h5"
    roots = dataset_roots_for(
        tmp_path,
        0,
        [
            changed,
            new_dir,
            new_dir / "Data_0202" / "c.h5",  # inside the new folder: covered by it
            tmp_path / "_private" / "x.h5",
            tmp_path / ".git" / "x",
            tmp_path / "misc" / ".x.h5.tmp",
            Path("/etc/passwd"),
        ],
    )
    assert roots == {changed, new_dir}
    found = set()
    for start in roots:
        found |= ids(scan(tmp_path, 0, single_file=True, start=start))
    assert found == {"misc/b.h5", "2024/02/Data_0202/c.h5"}
