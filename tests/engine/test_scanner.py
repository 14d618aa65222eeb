"""Level-aware scans on real folders."""

from __future__ import annotations

import os
from pathlib import Path

from etiket_sync_agent.engine.scanner import dataset_roots_for, scan
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
