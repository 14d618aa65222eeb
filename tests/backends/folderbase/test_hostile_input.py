"""Hostile folder trees: FIFOs, invalid UTF-8 names, huge or deep info files, long paths,
symlink loops, unreadable folders. Every good dataset still syncs; every bad one has a
clear error (or warning) on its own item; the agent never hangs."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from etiket_sync_agent.backends.folderbase.backend import folder_alt_uid
from etiket_sync_agent.errors import ConfigError
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services import datasets, sources
from tests.conftest import ETIKET_SYNC, FAST, NO_DAC_OVERRIDE
from tests.helpers import add_folder_source, items_by_id, make_dataset, run_once, wait_for

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file types and names")


def _files_of(rt: Runtime, item: dict) -> set[str]:
    return {f["name"] for f in datasets.show_dataset(rt, item["dataset_uuid"])["files"]}


def _run_once_cli(home_dir: Path, prefix: tuple[str, ...] = (), timeout: float = 120) -> None:
    """``etiket-sync run --once`` as a real process; a hang fails the test (timeout)."""
    env = {**os.environ, "ETIKET_SYNC_HOME": str(home_dir)}
    proc = subprocess.run(
        [*prefix, ETIKET_SYNC, "run", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr


def _needs_no_dac_override() -> tuple[str, ...]:
    if os.geteuid() != 0:
        return ()
    if shutil.which("setpriv") is None:
        pytest.skip("running as root and setpriv (util-linux) is missing")
    return NO_DAC_OVERRIDE


def _bare_dataset(folder: Path) -> None:
    """A dataset whose info file is empty (its name: the folder name)."""
    folder.mkdir(parents=True)
    (folder / "data.txt").write_text("data")
    (folder / "_QH_dataset_info.yaml").write_text("")


# -- FIFOs (defect 12) ---------------------------------------------------------------------
@posix_only
def test_fifos_are_never_opened_and_run_once_returns(cli, home, tmp_path: Path) -> None:
    root = tmp_path / "data"
    make_dataset(root, "good")
    piped = root / "piped_info"
    piped.mkdir(parents=True)
    os.mkfifo(piped / "_QH_dataset_info.yaml")
    zarr = make_dataset(root, "zarr_ds", {"data.zarr/.zarray": "{}", "data.zarr/0.0": "chunk"})
    os.mkfifo(zarr / "data.zarr" / "pipe")
    os.mkfifo(zarr / "loose_pipe")
    cli("scopes", "create", "proj")
    cli("add-source", "folderbase", "lab", "--scope", "proj", "--set", f"root_directory={root}")
    _run_once_cli(home.data_dir, timeout=90)
    items = {i["identifier"]: i for i in cli("items", "lab", "--json", as_json=True)}
    assert items["good"]["status"] == "synchronized"
    assert items["piped_info"]["status"] == "failed"
    assert (
        "_QH_dataset_info.yaml is a FIFO (named pipe), not a file"
        in (items["piped_info"]["last_error"])
    )
    assert items["zarr_ds"]["status"] == "synchronized"
    warnings = " | ".join(items["zarr_ds"]["warnings"])
    assert "skipped data.zarr/pipe: a FIFO (named pipe), not a file" in warnings
    assert "skipped loose_pipe: a FIFO (named pipe), not a file" in warnings


@posix_only
def test_sigterm_stops_run_with_fifos_in_the_tree(cli, home, tmp_path: Path) -> None:
    root = tmp_path / "data"
    make_dataset(root, "good")
    piped = root / "piped_info"
    piped.mkdir(parents=True)
    os.mkfifo(piped / "_QH_dataset_info.yaml")
    cli("scopes", "create", "proj")
    cli("add-source", "folderbase", "lab", "--scope", "proj", "--set", f"root_directory={root}")
    env = {**os.environ, "ETIKET_SYNC_HOME": str(home.data_dir)}
    agent = subprocess.Popen(
        [ETIKET_SYNC, "run"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        reader = Runtime(home)  # reads the state DB beside the running agent
        try:

            def statuses() -> dict[str, str]:
                return {i["identifier"]: i["status"] for i in sources.list_items(reader, "lab")}

            assert wait_for(lambda: statuses() == {"good": "synchronized", "piped_info": "failed"})
            # a dataset added while it runs is still found: the loop goes on
            make_dataset(root, "later")
            assert wait_for(lambda: statuses().get("later") == "synchronized", 60)
        finally:
            reader.close()
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(60) == 0
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()


# -- names that are not UTF-8 (defect 13) --------------------------------------------------
@posix_only
def test_invalid_utf8_names_are_stored_safely_and_the_source_goes_on(
    runtime: Runtime, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    make_dataset(root, "good")
    bad_folder = os.fsdecode(os.fsencode(root) + b"/caf\xe9 run")  # Latin-1, not UTF-8
    _bare_dataset(Path(bad_folder))
    odd = make_dataset(root, "odd_file")
    (odd / os.fsdecode(b"x\xfe%.txt")).write_text("latin-1 name")
    add_folder_source(runtime, root)
    run_once(runtime, FAST)
    items = items_by_id(runtime)
    assert set(items) == {"good", "caf%E9 run", "odd_file"}
    assert {i["status"] for i in items.values()} == {"synchronized"}, items
    assert _files_of(runtime, items["odd_file"]) == {"data.txt", "x%FE%25.txt"}
    assert "original bytes b'x\\xfe%.txt'" in " | ".join(items["odd_file"]["warnings"])
    shown = datasets.show_dataset(runtime, items["caf%E9 run"]["dataset_uuid"])
    assert shown["name"] == "caf%E9 run"
    assert "original bytes" in " | ".join(items["caf%E9 run"]["warnings"])
    # nothing changed: nothing attempted again (the fingerprints are stable)
    assert run_once(runtime, FAST).attempted == 0
    # a change inside the oddly named dataset is found and synchronized again
    (Path(bad_folder) / "more.txt").write_text("more")
    run_once(runtime, FAST)
    item = items_by_id(runtime)["caf%E9 run"]
    assert item["status"] == "synchronized" and item["sync_count"] == 2
    assert "more.txt" in _files_of(runtime, item)


# -- limits (defect 15) --------------------------------------------------------------------
def test_info_file_limits_give_clear_errors(runtime: Runtime, tmp_path: Path) -> None:
    root = tmp_path / "data"
    make_dataset(root, "good")
    cases = {
        "huge": "attributes:\n" + "".join(f"  k{i}: {'v' * 40}\n" for i in range(30_000)),
        "deep": "tags: " + "[" * 100_000 + "]" * 100_000 + "\n",
        "many_attrs": "attributes: {" + ", ".join(f"a{i}: {i}" for i in range(1500)) + "}\n",
        "many_tags": "tags: [" + ", ".join(f"t{i}" for i in range(1500)) + "]\n",
        "long_value": "attributes: {note: " + "x" * 20_000 + "}\n",
        "not_finite": "attributes: {power: .nan}\n",
        "huge_int": "attributes: {n: " + "9" * 400 + "}\n",
    }
    for name, text in cases.items():
        ds = make_dataset(root, name)
        (ds / "_QH_dataset_info.yaml").write_text(text)
    add_folder_source(runtime, root)
    run_once(runtime, FAST)
    items = items_by_id(runtime)
    assert items["good"]["status"] == "synchronized"
    expected = {
        "huge": "larger than 1024 KiB",
        "deep": "nested more than 16 levels deep",
        "many_attrs": "1500 attributes, at most 1000 are allowed",
        "many_tags": "'tags' has 1500 entries, at most 1000 are allowed",
        "long_value": "attribute 'note' is longer than 10000 characters",
        "not_finite": "attribute 'power' must be a finite number",
        "huge_int": "attribute 'n' is out of range",
    }
    for name, text in expected.items():
        item = items[name]
        assert item["status"] == "failed", (name, item)
        assert text in item["last_error"], (name, item["last_error"])
        assert "RecursionError" not in item["last_error"]
        assert item["next_retry"] is None  # the file must change first


# -- long paths (defect 16) ----------------------------------------------------------------
def test_long_paths_sync_with_a_short_identity_and_old_identities_hold(
    runtime: Runtime, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    short = make_dataset(root, "short")
    deep_rel = "/".join(["d" * 60] * 5) + "/long"
    deep = make_dataset(root, deep_rel)
    assert len(str(deep.resolve())) > 255
    add_folder_source(runtime, root)
    run_once(runtime, FAST)
    items = items_by_id(runtime)
    assert items["short"]["status"] == "synchronized"
    assert items[deep_rel]["status"] == "synchronized", items[deep_rel]
    # paths that fit keep the identity earlier versions gave them: no duplicate on upgrade
    kept = runtime.store.find_dataset(scope="proj", alt_uid=f"folder:{short.resolve()}")
    assert kept is not None and kept.uuid == items["short"]["dataset_uuid"]
    digest = folder_alt_uid(deep.resolve())
    assert digest.startswith("folder-sha256:") and len(digest) < 100
    found = runtime.store.find_dataset(scope="proj", alt_uid=digest)
    assert found is not None and found.uuid == items[deep_rel]["dataset_uuid"]
    assert found.attributes["folder_path"] == str(deep.resolve())
    # the source forgotten and added again (state lost): the same datasets are matched
    sources.remove_source(runtime, "lab")
    sources.add_source(
        runtime, "folderbase", "lab", scope="proj", settings={"root_directory": str(root)}
    )
    run_once(runtime, FAST)
    again = items_by_id(runtime)
    assert again["short"]["dataset_uuid"] == items["short"]["dataset_uuid"]
    assert again[deep_rel]["dataset_uuid"] == items[deep_rel]["dataset_uuid"]
    assert len(datasets.list_datasets(runtime)) == 2


# -- symlink loops (defect 17) -------------------------------------------------------------
@posix_only
def test_symlink_loops_are_skipped_with_clear_warnings(runtime: Runtime, tmp_path: Path) -> None:
    root = tmp_path / "data"
    ds = make_dataset(root, "loops", {"data.txt": "d", "sub/inner.txt": "i"})
    os.symlink(".", ds / "self")
    os.symlink("../loops", ds / "up")
    os.symlink("..", ds / "sub" / "back")
    os.symlink("b", ds / "a")
    os.symlink("a", ds / "b")
    os.symlink("nowhere", ds / "broken")
    os.symlink("sub", ds / "sub_alias")  # not a loop: followed
    add_folder_source(runtime, root)
    run_once(runtime, FAST)
    item = items_by_id(runtime)["loops"]
    assert item["status"] == "synchronized", item
    assert _files_of(runtime, item) == {
        "data.txt",
        "sub/inner.txt",
        "sub_alias/inner.txt",
    }
    warnings = " | ".join(item["warnings"])
    for name in ("self", "up", "sub/back"):
        assert f"skipped {name}: symlink loop" in warnings, warnings
    assert "skipped self: symlink loop (it leads back into the dataset folder)" in warnings
    assert "skipped a: symlink loop (the link points back at itself)" in warnings
    assert "skipped b: symlink loop" in warnings
    assert "skipped broken: broken symlink" in warnings
    assert "outside" not in warnings


# -- unreadable folders (defect 18) --------------------------------------------------------
@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX permissions")
def test_unreadable_dataset_folder_is_a_visible_item_error(cli, tmp_path: Path) -> None:
    prefix = _needs_no_dac_override()
    root = tmp_path / "data"
    make_dataset(root, "good")
    locked = make_dataset(root, "locked")
    searchable = make_dataset(root, "no_list")
    os.chmod(locked, 0o000)
    os.chmod(searchable, 0o311)  # can reach the info file, cannot list the folder
    try:
        cli("scopes", "create", "proj")
        cli("add-source", "folderbase", "lab", "--scope", "proj", "--set", f"root_directory={root}")
        cli("run", "--once", prefix=prefix)
        items = {i["identifier"]: i for i in cli("items", "lab", "--json", as_json=True)}
        assert items["good"]["status"] == "synchronized"
        for name in ("locked", "no_list"):
            assert items[name]["status"] == "failed", items[name]
            assert "permission denied" in items[name]["last_error"]
            assert "Errno" not in items[name]["last_error"]
            assert items[name]["next_retry"] is None  # a permission does not fix itself
        st = cli("status", "--json", as_json=True)
        (lab,) = [s for s in st["sources"] if s["name"] == "lab"]
        assert lab["items"]["failed"] == 2
        # a failure before anything could be read leaves no empty dataset behind
        assert [d["name"] for d in cli("datasets", "list", "--json", as_json=True)] == ["good"]
        # permissions fixed: the next scan sees a new fingerprint and synchronizes them
        os.chmod(locked, 0o755)
        os.chmod(searchable, 0o755)
        cli("run", "--once", prefix=prefix)
        items = {i["identifier"]: i for i in cli("items", "lab", "--json", as_json=True)}
        assert {i["status"] for i in items.values()} == {"synchronized"}, items
    finally:
        os.chmod(locked, 0o755)
        os.chmod(searchable, 0o755)


# -- bad settings (defect 19) --------------------------------------------------------------
def test_bad_settings_are_refused(cli, home, tmp_path: Path) -> None:
    cli("scopes", "create", "proj")
    empty = cli(
        "add-source", "folderbase", "lab", "--scope", "proj", "--set", "root_directory=",
        check=False,
    )  # fmt: skip
    assert empty.returncode == 2
    assert "root_directory" in empty.stderr and "empty" in empty.stderr
    db = tmp_path / "x.db"
    db.write_bytes(b"")
    nan = cli(
        "add-source", "qcodes", "q", "--set", f"database_path={db}", "--set",
        "live_timeout_s=nan", check=False,
    )  # fmt: skip
    assert nan.returncode == 2 and "expected a finite number" in nan.stderr
    assert "Traceback" not in nan.stderr
    rt = Runtime(home)
    try:
        for key, value, text in (
            ("live_timeout_s", "-inf", "expected a finite number"),
            ("in_memory_limit_mb", "inf", "expected a finite number"),
            ("in_memory_limit_mb", float("nan"), "expected a finite number"),
            ("static_attributes", '{"a": {"b": 1}}', "nested values are not supported"),
            ("static_attributes", {"a": [1, 2]}, "nested values are not supported"),
            ("static_attributes", '{"a": Infinity}', "must be a finite number"),
        ):
            with pytest.raises(ConfigError, match=text):
                sources.add_source(
                    rt, "qcodes", "q", settings={"database_path": str(db), key: value}
                )
        assert sources.list_sources(rt) == []
    finally:
        rt.close()


def test_sources_show_json_never_prints_nan(cli, home, tmp_path: Path) -> None:
    """A config stored with a non-finite float (written by an older version) still
    gives valid JSON."""
    import json

    from etiket_sync_agent.state import repository as repo

    root = tmp_path / "data"
    root.mkdir()
    rt = Runtime(home)
    try:
        add_folder_source(rt, root)
        src = repo.get_source(rt.state, "lab")
        repo.set_source_fields(
            rt.state, src.id, config={**src.config, "extra": {"limit": float("nan")}}
        )
    finally:
        rt.close()
    out = cli("sources", "show", "lab", "--json").stdout

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in JSON output")

    shown = json.loads(out, parse_constant=refuse)
    assert shown["config"]["extra"]["limit"] == "nan"


# -- the hostile tree, as a whole ----------------------------------------------------------
@posix_only
def test_hostile_tree_good_datasets_sync_bad_ones_say_why(cli, home, tmp_path: Path) -> None:
    prefix = _needs_no_dac_override()
    root = tmp_path / "data"
    good = [make_dataset(root, f"good{i}", {"a.txt": f"{i}", "empty.bin": b""}) for i in range(5)]
    bad: dict[str, str] = {}  # identifier -> text its error must hold
    warned: dict[str, str] = {}  # identifier -> text one of its warnings must hold
    d = root / "fifo_info"
    d.mkdir()
    os.mkfifo(d / "_QH_dataset_info.yaml")
    bad["fifo_info"] = "a FIFO (named pipe), not a file"
    d = make_dataset(root, "socket_inside")
    import socket

    sock = socket.socket(socket.AF_UNIX)
    sock_path = d / "s.sock"
    if len(os.fsencode(sock_path)) < 100:
        sock.bind(os.fspath(sock_path))
        warned["socket_inside"] = "skipped s.sock: a socket, not a file"
    d = make_dataset(root, "zarr_fifo", {"x.zarr/0": "c", "x.zarr/1": "d", "x.zarr/2": "e"})
    os.mkfifo(d / "x.zarr" / "p")
    os.utime(d / "x.zarr" / "1", (9e11, 9e11))  # year 30,000: a wrong clock
    os.utime(d / "x.zarr" / "2", (0, 0))  # 1970: before zip dates begin
    warned["zarr_fifo"] = "skipped x.zarr/p: a FIFO"
    d = make_dataset(root, "links")
    os.symlink("gone", d / "broken")
    os.symlink(".", d / "self")
    os.symlink(str(tmp_path), d / "outside")
    warned["links"] = "skipped broken: broken symlink"
    d = make_dataset(root, "newline\nname", {"line\nbreak.txt": "x"})
    d = make_dataset(root, "store_names", {"back\\slash.txt": "b", "c:drive.txt": "c"})
    warned["store_names"] = "stored as 'c%3Adrive.txt'"
    _bare_dataset(Path(os.fsdecode(os.fsencode(root) + b"/bad\xff")))
    d = make_dataset(root, "deep_yaml")
    (d / "_QH_dataset_info.yaml").write_text("attributes: " + "[" * 100_000)
    bad["deep_yaml"] = "nested more than 16 levels deep"
    d = make_dataset(root, "huge_yaml")
    with open(d / "_QH_dataset_info.yaml", "w") as fh:
        fh.write("description: x\n" + "#" * (2 << 20) + "\n")
    bad["huge_yaml"] = "larger than 1024 KiB"
    d = make_dataset(root, "info_outside")
    (d / "_QH_dataset_info.yaml").unlink()
    (tmp_path / "elsewhere.yaml").write_text("dataset_name: not ours\n")
    os.symlink(tmp_path / "elsewhere.yaml", d / "_QH_dataset_info.yaml")
    bad["info_outside"] = "a symlink to something outside the dataset folder"
    d = make_dataset(root, "far_future")  # no 'collected': the info file's mtime is used
    (d / "_QH_dataset_info.yaml").write_text("description: a clock far off\n")
    os.utime(d / "_QH_dataset_info.yaml", (9e11, 9e11))  # file systems clamp it
    d = make_dataset(root, "empty_yaml")
    (d / "_QH_dataset_info.yaml").write_bytes(b"")
    d = make_dataset(root, "binary_yaml")
    (d / "_QH_dataset_info.yaml").write_bytes(b"\xff\xfe\x00garbage")
    bad["binary_yaml"] = "not UTF-8 text"
    d = make_dataset(root, "unreadable")
    os.chmod(d, 0o000)
    bad["unreadable"] = "permission denied"
    d = make_dataset(root, "unreadable_file", {"ok.txt": "ok", "secret.bin": "s"})
    os.chmod(d / "secret.bin", 0o000)
    bad["unreadable_file"] = "secret.bin"
    d = root / "plain" / "deep"
    d.mkdir(parents=True)
    os.chmod(root / "plain", 0o000)  # not a dataset as far as anyone can tell: an item
    bad["plain"] = "permission denied"
    try:
        cli("scopes", "create", "proj")
        cli("add-source", "folderbase", "lab", "--scope", "proj", "--set", f"root_directory={root}")
        _run_once_cli(home.data_dir, prefix, timeout=120)
        items = {i["identifier"]: i for i in cli("items", "lab", "--json", as_json=True)}
        for g in good:
            assert items[g.name]["status"] == "synchronized", items[g.name]
        for name in ("newline\nname", "bad%FF", "empty_yaml", "far_future", *warned):
            assert items[name]["status"] == "synchronized", items[name]
        for name, text in warned.items():
            assert text in " | ".join(items[name]["warnings"]), (name, items[name])
        for name, text in bad.items():
            assert items[name]["status"] == "failed", (name, items[name])
            assert text in items[name]["last_error"], (name, items[name]["last_error"])
            for raw in ("Errno", "RecursionError", "PermissionError", "OverflowError"):
                assert raw not in items[name]["last_error"], (name, items[name]["last_error"])
        assert "Traceback" not in cli("items", "lab").stdout
        # nothing changed: a second run returns too, and synchronizes nothing again
        _run_once_cli(home.data_dir, prefix, timeout=120)
        again = {i["identifier"]: i for i in cli("items", "lab", "--json", as_json=True)}
        for g in good:
            assert again[g.name]["sync_count"] == 1
    finally:
        sock.close()
        os.chmod(root / "unreadable", 0o755)
        os.chmod(root / "plain", 0o755)
        os.chmod(root / "unreadable_file" / "secret.bin", 0o644)
