"""The installed ``etiket-sync`` command, as a user runs it (real subprocesses)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from tests.conftest import ETIKET_SYNC
from tests.helpers import make_dataset


def test_demo_runs_to_completion_and_shows_datasets(cli, home) -> None:
    out = cli("demo").stdout
    assert "12 dataset(s)" in out and "demo-folders" in out
    st = cli("status", "--json", as_json=True)
    assert set(st["loop"]) >= {"state", "pid", "last_heartbeat", "iteration"}
    assert st["loop"]["state"] == "stopped"
    (src,) = st["sources"]
    assert set(src) >= {"name", "backend", "status", "items", "last_error"}
    assert src["items"] == {
        "total": 12, "synchronized": 12, "failed": 0, "pending": 0, "live": 0, "waiting": 0
    }  # fmt: skip
    rows = cli("datasets", "list", "--json", as_json=True)
    assert len(rows) == 12 and set(rows[0]) == {"uuid", "name", "scope", "collected", "source"}
    d = cli("datasets", "show", rows[0]["uuid"], "--json", as_json=True)
    assert set(d) >= {
        "uuid",
        "alt_uid",
        "name",
        "description",
        "scope",
        "collected",
        "tags",
        "attributes",
        "ranking",
        "files",
    }
    assert set(d["files"][0]) >= {"name", "filename", "version", "size", "sha256", "status"}
    assert "plots/rabi.png" in {f["name"] for f in d["files"]}
    log = home.log_file.read_text()
    assert "sync loop started" in log and "synchronized" in log  # the rotating log file
    # running the demo again is idempotent
    cli("demo")
    assert len(cli("datasets", "list", "--json", as_json=True)) == 12
    export = home.data_dir.parent / "export"
    cli("datasets", "export", rows[0]["uuid"], str(export))
    assert (export / "plots" / "rabi.png").read_bytes().startswith(b"\x89PNG")


def test_add_source_errors_are_one_line_with_a_hint_and_write_nothing(cli, tmp_path: Path) -> None:
    cli("scopes", "create", "proj")
    r = cli("add-source", "nosuch", "x", "--scope", "proj", check=False)
    assert r.returncode == 3
    assert "no backend called 'nosuch'" in r.stderr and "etiket-sync plugins" in r.stderr
    assert "Traceback" not in r.stderr
    r = cli(
        "add-source",
        "folderbase",
        "x",
        "--scope",
        "proj",
        "--set",
        f"root_directory={tmp_path / 'missing'}",
        check=False,
    )
    assert r.returncode == 2 and "does not exist" in r.stderr
    r = cli("add-source", "folderbase", "x", "--scope", "proj", "--set", "bogus=1", check=False)
    assert r.returncode == 2 and "unknown config key(s): bogus" in r.stderr
    r = cli("add-source", "folderbase", "x", "--set", f"root_directory={tmp_path}", check=False)
    assert r.returncode == 2 and "needs a scope" in r.stderr
    r = cli(
        "add-source",
        "folderbase",
        "x",
        "--scope",
        "nope",
        "--set",
        f"root_directory={tmp_path}",
        check=False,
    )
    assert r.returncode == 3 and "scopes create nope" in r.stderr
    assert cli("sources", "list", "--json", as_json=True) == []
    # a good one, then the same folder again under another name
    cli("add-source", "folderbase", "x", "--scope", "proj", "--set", f"root_directory={tmp_path}")
    r = cli(
        "add-source",
        "folderbase",
        "y",
        "--scope",
        "proj",
        "--set",
        f"root_directory={tmp_path}",
        check=False,
    )
    assert r.returncode == 2 and "already synchronizes" in r.stderr
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"root_directory: {tmp_path}\nis_server_folder: true\n")
    r = cli(
        "add-source", "folderbase", "x", "--scope", "proj", "--config-file", str(cfg), check=False
    )
    assert r.returncode == 2 and "already exists" in r.stderr
    assert [s["name"] for s in cli("sources", "list", "--json", as_json=True)] == ["x"]


def test_sources_pause_resume_remove_and_items(cli, tmp_path: Path) -> None:
    root = tmp_path / "data"
    make_dataset(root, "a")
    cli("scopes", "create", "proj")
    cli("add-source", "folderbase", "lab", "--scope", "proj", "--set", f"root_directory={root}")
    cli("sources", "pause", "lab")
    cli("run", "--once")
    assert cli("items", "lab", "--json", as_json=True) == []
    cli("sources", "resume", "lab")
    cli("run", "--once")
    (item,) = cli("items", "lab", "--json", as_json=True)
    assert item["identifier"] == "a" and item["status"] == "synchronized"
    assert cli("items", "lab", "--status", "failed", "--json", as_json=True) == []
    detail = cli("item", "lab", "a", "--json", as_json=True)
    tasks = [t["name"] for t in detail["records"][-1]["tasks"]]
    assert tasks[0] == "read dataset info" and detail["records"][-1]["outcome"] == "ok"
    assert "upload 1 file(s)" in cli("item", "lab", "a").stdout
    show = cli("sources", "show", "lab", "--json", as_json=True)
    assert show["config"]["root_directory"] == str(root)
    r = cli("sources", "remove", "lab", check=False, stdin=subprocess.DEVNULL)
    assert r.returncode != 0 and "--yes" in r.stderr + r.stdout
    cli("sources", "remove", "lab", "--yes")
    assert cli("sources", "list", "--json", as_json=True) == []
    assert len(cli("datasets", "list", "--json", as_json=True)) == 1  # the store keeps it
    r = cli("items", "lab", check=False)
    assert r.returncode == 3 and "no source called 'lab'" in r.stderr


def test_run_source_and_demo_synchronize_only_the_sources_named(cli, tmp_path: Path) -> None:
    for name in ("a", "b"):
        make_dataset(tmp_path / name, "d")
    cli("scopes", "create", "proj")
    for name in ("a", "b"):
        root = f"root_directory={tmp_path / name}"
        cli("add-source", "folderbase", name, "--scope", "proj", "--set", root)
    cli("demo")  # its own source only
    cli("run", "--once", "--source", "a")
    assert [i["status"] for i in cli("items", "a", "--json", as_json=True)] == ["synchronized"]
    assert cli("items", "b", "--json", as_json=True) == []
    r = cli("run", "--once", "--source", "nope", check=False)
    assert r.returncode == 3 and "no source called 'nope'" in r.stderr
    cli("run", "--once")
    assert [i["status"] for i in cli("items", "b", "--json", as_json=True)] == ["synchronized"]


def test_sources_edit_changes_settings_validates_and_keeps_the_data_it_points_at(
    cli, tmp_path: Path
) -> None:
    root, other = tmp_path / "data", tmp_path / "other"
    make_dataset(root, "a")
    other.mkdir()
    cli("scopes", "create", "proj")
    cli("add-source", "folderbase", "lab", "--scope", "proj", "--set", f"root_directory={root}")
    shown = cli("sources", "edit", "lab", "--set", "is_server_folder=true", "--json", as_json=True)
    assert shown["config"] == {"root_directory": str(root), "is_server_folder": True}
    # bad values, unknown keys and nothing to change: one line, nothing written
    for args, message in (
        (["--set", "is_server_folder=maybe"], "is_server_folder"),
        (["--set", "colour=blue"], "unknown config key"),
        ([], "nothing to change"),
        (["--set", f"root_directory={other}"], "other data"),
    ):
        r = cli("sources", "edit", "lab", *args, check=False)
        assert r.returncode == 2 and message in r.stderr, (args, r.stderr)
    assert cli("sources", "show", "lab", "--json", as_json=True)["config"] == shown["config"]
    r = cli("sources", "edit", "nope", "--set", "is_server_folder=false", check=False)
    assert r.returncode == 3 and "no source called 'nope'" in r.stderr
    cli("run", "--once")  # the edited source still syncs what it did
    assert [i["status"] for i in cli("items", "lab", "--json", as_json=True)] == ["synchronized"]


def test_second_run_is_refused_and_sigterm_stops_cleanly(cli, home, tmp_path: Path) -> None:
    root = tmp_path / "data"
    make_dataset(root, "a")
    cli("scopes", "create", "proj")
    cli("add-source", "folderbase", "lab", "--scope", "proj", "--set", f"root_directory={root}")
    env = {**os.environ, "ETIKET_SYNC_HOME": str(home.data_dir)}
    agent = subprocess.Popen(
        [ETIKET_SYNC, "run"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            st = cli("status", "--json", as_json=True)
            if st["loop"]["state"] == "running" and st["sources"][0]["items"]["synchronized"]:
                break
            time.sleep(0.2)
        assert st["loop"]["pid"] == agent.pid
        second = cli("run", "--once", check=False)
        assert second.returncode == 4
        assert f"already running on this home (pid {agent.pid})" in second.stderr
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(60)
    assert agent.returncode == 0, agent.stderr.read()
    assert cli("status", "--json", as_json=True)["loop"]["state"] == "stopped"


def test_plugins_json_lists_builtins_with_versions(cli) -> None:
    rows = cli("plugins", "--json", as_json=True)
    fb = next(r for r in rows if r["name"] == "folderbase")
    assert fb["status"] == "ok" and fb["distribution"] == "etiket_sync_agent" and fb["version"]
    assert {f["name"] for f in fb["config"]} == {"root_directory", "is_server_folder"}


def test_python_entry_points_run_the_loop(home, tmp_path: Path) -> None:
    import sys

    env = {**os.environ, "ETIKET_SYNC_HOME": str(home.data_dir)}
    code = "from etiket_sync_agent.run import sync_loop; print(sync_loop(2).iterations)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "2"
    proc = subprocess.Popen([sys.executable, "-m", "etiket_sync_agent"], env=env)
    try:
        # ready when the loop reports itself running with a heartbeat (not after a sleep)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            loop = json.loads(
                subprocess.run(
                    [ETIKET_SYNC, "status", "--json"], env=env, capture_output=True
                ).stdout
            )["loop"]
            if loop["state"] == "running" and loop["pid"] == proc.pid and loop["iteration"]:
                break
            assert proc.poll() is None, "python -m etiket_sync_agent exited early"
            time.sleep(0.2)
        else:
            raise AssertionError("the loop never reported itself running")
    finally:
        proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 0
    st = json.loads(
        subprocess.run([ETIKET_SYNC, "status", "--json"], env=env, capture_output=True).stdout
    )
    assert st["loop"]["state"] == "stopped" and st["loop"]["iteration"] >= 1


def test_a_broken_installed_plugin_is_listed_and_the_rest_works(cli, tmp_path: Path) -> None:
    """A real distribution (dist-info on the path) whose backend module fails to import."""
    site = tmp_path / "site"
    dist = site / "lab_broken_backend-1.2.3.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: lab-broken-backend\nVersion: 1.2.3\n"
    )
    (dist / "entry_points.txt").write_text(
        "[etiket_sync_agent.connectors]\nbroken = lab_broken_backend:Backend\n"
    )
    (site / "lab_broken_backend.py").write_text("raise ImportError('needs the vendor DLL')\n")
    env = {"PYTHONPATH": str(site)}
    rows = cli("plugins", "--json", as_json=True, extra_env=env)
    broken = next(r for r in rows if r["name"] == "broken")
    assert broken["status"] == "broken" and "needs the vendor DLL" in broken["error"]
    assert broken["distribution"] == "lab-broken-backend" and broken["version"] == "1.2.3"
    assert next(r for r in rows if r["name"] == "folderbase")["status"] == "ok"
    r = cli("add-source", "broken", "x", "--scope", "s", check=False, extra_env=env)
    assert r.returncode == 3 and "failed to load" in r.stderr and "needs the vendor DLL" in r.stderr


def test_a_killed_agent_is_shown_as_gone_and_a_new_one_takes_over(
    cli, home, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    make_dataset(root, "a")
    cli("scopes", "create", "proj")
    cli("add-source", "folderbase", "lab", "--scope", "proj", "--set", f"root_directory={root}")
    env = {**os.environ, "ETIKET_SYNC_HOME": str(home.data_dir)}
    agent = subprocess.Popen([ETIKET_SYNC, "run"], env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if cli("status", "--json", as_json=True)["loop"]["state"] == "running":
            break
        time.sleep(0.2)
    agent.kill()  # no clean shutdown: the state DB still says "running"
    agent.wait(30)
    loop = cli("status", "--json", as_json=True)["loop"]
    assert loop["state"] == "gone" and loop["pid"] == agent.pid
    assert loop["state_text"] == "stopped (process gone)"
    make_dataset(root, "b")
    cli("run", "--once")  # the kernel released the lock with the process
    items = {i["identifier"]: i["status"] for i in cli("items", "lab", "--json", as_json=True)}
    assert items == {"a": "synchronized", "b": "synchronized"}
