"""The CLI as a new user meets it (issue 8): runs found by the numbers people use, one
line per error (never a traceback), one JSON shape per command (the shipped schema),
one time format, calm output, and the small things a first hour runs into.

Everything runs the installed ``etiket-sync`` (or ``python -m etiket_sync_agent``) as a
subprocess. Runs with labels and names come from a real third-party-style plugin
(``tests/cli/_runs_backend.py``) installed through a dist-info with its entry point.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from importlib.resources import files
from pathlib import Path

import pytest

from tests.conftest import ETIKET_SYNC, NO_DAC_OVERRIDE, REPO
from tests.helpers import make_dataset

RUNS = [
    {"id": 1, "guid": "aaaa0001-0000-4000-8000-000000000001", "name": "rabi q1"},
    {"id": 2, "guid": "aaaa0002-0000-4000-8000-000000000002", "name": "rabi q2"},
    {"id": 3, "guid": "aaaa0003-0000-4000-8000-000000000003", "name": "T1", "fail": True},
    {"id": 12, "guid": "aaaa0012-0000-4000-8000-000000000012", "name": "ramsey 12 ns",
     "warn": "3 points dropped: the trees disagree"},
]  # fmt: skip

#: the one human time format: local time with its UTC offset
HUMAN_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d")


@pytest.fixture
def runs_cli(cli, tmp_path: Path):
    """``cli`` with the ``runs`` plugin installed, a scope and a source ``lab`` of RUNS."""
    site = tmp_path / "site"
    dist = site / "lab_runs_backend-0.3.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: lab-runs-backend\nVersion: 0.3.0\n"
    )
    (dist / "entry_points.txt").write_text(
        "[etiket_sync_agent.connectors]\nruns = tests.cli._runs_backend:RunsBackend\n"
    )
    env = {"PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}

    def run(*args: str, **kw):
        return cli(*args, extra_env={**env, **kw.pop("extra_env", {})}, **kw)

    runs_file = tmp_path / "runs.json"
    runs_file.write_text(json.dumps(RUNS))
    run("scopes", "create", "proj")
    run("add-source", "runs", "lab", "--scope", "proj", "--set", f"runs_file={runs_file}")
    run.env = env
    run.runs_file = runs_file
    return run


def test_runs_are_found_by_run_id_short_dataset_id_and_name(runs_cli, tmp_path: Path) -> None:
    runs_cli("run", "--once")
    rows = runs_cli("items", "lab", "--json", as_json=True)
    by_label = {r["label"]: r for r in rows}
    assert set(by_label) == {"1", "2", "3", "12"}
    assert by_label["12"]["name"] == "ramsey 12 ns" and by_label["3"]["status"] == "failed"
    assert by_label["3"]["failures"] == 1
    # what `items` shows: the run id and name columns, the 8-character dataset ids
    table = runs_cli("items", "lab").stdout
    assert re.search(r"label\s+name\s+status\s+failures\s+dataset", table)
    assert "ramsey 12 ns" in table and by_label["12"]["dataset_uuid"][:8] in table
    assert "1 warning(s): 3 points dropped" in table

    def item(ref: str) -> dict:
        return runs_cli("item", "lab", ref, "--json", as_json=True)

    assert item("1")["identifier"] == RUNS[0]["guid"]  # the run id
    assert item("12")["name"] == "ramsey 12 ns"  # an exact run id wins over name prefixes
    assert item(RUNS[1]["guid"])["label"] == "2"  # the identifier itself
    assert item("aaaa0012")["label"] == "12"  # a prefix of the identifier
    assert item(by_label["2"]["dataset_uuid"][:8])["label"] == "2"  # the id `items` shows
    assert item("ram")["label"] == "12"  # the start of its name
    r = runs_cli("item", "lab", "rabi", check=False)
    assert r.returncode == 3 and "Traceback" not in r.stderr
    assert "matches several items" in r.stderr and "'rabi q1'" in r.stderr
    assert "'rabi q2'" in r.stderr
    r = runs_cli("item", "lab", "99", check=False)
    assert r.returncode == 3 and "no item '99' in source 'lab'" in r.stderr
    # `item --json` has every key of `items --json`, with the same values
    detail = item("12")
    assert {k: detail[k] for k in by_label["12"]} == by_label["12"]
    assert list(detail)[: len(by_label["12"])] == list(by_label["12"])

    # datasets: the short ids `items` shows, a run id, a GUID, a name prefix
    short = by_label["12"]["dataset_uuid"][:8]
    shown = runs_cli("datasets", "show", short, "--json", as_json=True)
    assert shown["uuid"] == by_label["12"]["dataset_uuid"] and shown["name"] == "ramsey 12 ns"
    assert runs_cli("datasets", "show", "2", "--json", as_json=True)["name"] == "rabi q2"
    guid = RUNS[0]["guid"]
    assert runs_cli("datasets", "show", guid, "--json", as_json=True)["name"] == "rabi q1"
    r = runs_cli("datasets", "show", "rabi", check=False)
    assert r.returncode == 3 and "matches 2 datasets" in r.stderr
    runs_cli("datasets", "export", "ram", str(tmp_path / "out"))
    assert (tmp_path / "out" / "values.txt").read_text() == "run 12\n"

    # retry takes the same references
    assert "1 item(s) queued again" in runs_cli("retry", "lab", "3").stdout
    r = runs_cli("retry", "lab", "1", check=False)
    assert r.returncode == 3 and "have not failed" in r.stderr


def _check_order(instance, schema: dict, defs: dict, where: str = "$") -> None:
    """Objects whose schema lists all their keys must show them in that order."""
    while "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[1]]
    if isinstance(instance, dict) and schema.get("additionalProperties") is False:
        assert list(instance) == list(schema["properties"]), where
        for key, value in instance.items():
            _check_order(value, schema["properties"][key], defs, f"{where}.{key}")
    elif isinstance(instance, list) and isinstance(schema.get("items"), dict):
        for i, value in enumerate(instance):
            _check_order(value, schema["items"], defs, f"{where}[{i}]")


def test_json_output_follows_the_shipped_schema(runs_cli, tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(
        files("etiket_sync_agent").joinpath("schemas/cli-output.schema.json").read_text()
    )
    jsonschema.Draft202012Validator.check_schema(schema)
    defs = schema["$defs"]

    def check(name: str, data) -> None:
        sub = {"$defs": defs, "$ref": f"#/$defs/{name}"}
        jsonschema.Draft202012Validator(sub, format_checker=None).validate(data)
        _check_order(data, sub, defs)

    def out(command: str, *args: str) -> None:
        data = runs_cli(*command.split(), *args, "--json", as_json=True)
        check(schema["commands"][command], data)
        return data

    out("status")  # never run
    runs_cli("run", "--once")
    root = tmp_path / "folders"
    make_dataset(root, "a")
    out("add-source", "folderbase", "folders", "--scope", "proj", "--set", f"root_directory={root}")
    runs_cli("run", "--once")
    st = out("status")
    assert st["loop"]["state"] == "stopped" and st["loop"]["state_text"] == "stopped"
    # every source has the same keys in the same order, whatever its items
    assert len({tuple(s) for s in st["sources"]}) == 1
    assert len({tuple(s["items"]) for s in st["sources"]}) == 1
    out("sources list")
    out("sources show", "lab")
    out("sources edit", "folders", "--set", "is_server_folder=true")
    out("items", "lab")
    item = out("item", "lab", "3")  # a failed one: its record has the error
    assert item["records"][-1]["outcome"] == "failed"
    out("item", "lab", "12")
    out("scopes list")
    out("scopes create", "other")
    rows = out("datasets list")
    out("datasets show", rows[0]["uuid"])
    out("datasets list", "--source", "folders")
    # a broken plugin has every key a working one has
    site = tmp_path / "site"
    dist = site / "lab_broken-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: lab-broken\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[etiket_sync_agent.connectors]\nbroken = lab_broken_mod:Backend\n"
    )
    (site / "lab_broken_mod.py").write_text("raise ImportError('needs the vendor DLL')\n")
    path = os.pathsep.join([str(site), runs_cli.env["PYTHONPATH"]])
    plugins = runs_cli("plugins", "--json", as_json=True, extra_env={"PYTHONPATH": path})
    check("plugin_list", plugins)
    assert len({tuple(p) for p in plugins}) == 1
    assert {p["status"] for p in plugins} == {"ok", "broken"}
    # an error with --json is one JSON object on stderr (stdout stays empty)
    for args in (["items", "nosuch"], ["item", "lab", "rabi"], ["datasets", "show", "zzzz"]):
        r = runs_cli(*args, "--json", check=False)
        assert r.returncode == 3 and r.stdout == ""
        err = json.loads(r.stderr)
        check("error", err)
        assert err["exit_code"] == 3
    r = runs_cli("items", "--json", check=False)  # a usage error
    assert r.returncode == 2 and json.loads(r.stderr)["type"] == "UsageError"

    # the human views use one time format, with the offset
    for args in (["status"], ["sources", "show", "lab"], ["item", "lab", "3"]):
        text = runs_cli(*args).stdout
        assert HUMAN_TIME.search(text), (args, text)
        assert "UTC" not in text and not re.search(r"\d\dT\d\d", text), (args, text)


def test_errors_are_one_line_with_a_hint_never_a_traceback(
    runs_cli, cli, tmp_path: Path, home
) -> None:
    # --home at a file, or at a folder that cannot be written
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    r = cli("--home", str(a_file), "status", check=False)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"cannot keep the agent's state in {a_file}" in r.stderr and "hint:" in r.stderr
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    r = cli("--home", str(locked), "sources", "list", check=False, prefix=NO_DAC_OVERRIDE)
    assert r.returncode == 2 and ("not writable" in r.stderr or "Permission denied" in r.stderr)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 2

    # datasets export into a file, or over other files of the same name
    runs_cli("run", "--once")
    target = tmp_path / "export"
    runs_cli("datasets", "export", "1", str(target))
    runs_cli("datasets", "export", "1", str(target))  # the same bytes again: fine
    (target / "values.txt").write_text("mine\n")
    r = runs_cli("datasets", "export", "1", str(target), check=False)
    assert r.returncode == 2 and "already holds other file(s)" in r.stderr and "--force" in r.stderr
    assert (target / "values.txt").read_text() == "mine\n"  # nothing overwritten
    runs_cli("datasets", "export", "1", str(target), "--force")
    assert (target / "values.txt").read_text() == "run 1\n"
    r = runs_cli("datasets", "export", "1", str(a_file), check=False)
    assert r.returncode == 2 and "it is a file, not a folder" in r.stderr
    (tmp_path / "clash" / "values.txt").mkdir(parents=True)
    r = runs_cli("datasets", "export", "1", str(tmp_path / "clash"), check=False)
    assert r.returncode == 2 and "is a folder" in r.stderr
    ro = tmp_path / "read-only"
    ro.mkdir(mode=0o555)
    r = runs_cli("datasets", "export", "1", str(ro / "sub"), check=False, prefix=NO_DAC_OVERRIDE)
    assert r.returncode == 1 and "cannot write" in r.stderr and "Traceback" not in r.stderr

    # unknown names: exit 3 for --source as for --scope
    for args in (["datasets", "list", "--source", "nosuch"], ["datasets", "list", "--scope", "x"]):
        r = runs_cli(*args, check=False)
        assert r.returncode == 3 and "Traceback" not in r.stderr, args

    # a bug (here in a plugin): one line naming the log file; the traceback is there, -v
    # shows it too
    bug = tmp_path / "bug.json"
    bug.write_text("[]")
    r = runs_cli("add-source", "runs", "x", "--scope", "proj", "--set", f"runs_file={bug}",
                 check=False)  # fmt: skip
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "unexpected RuntimeError: the plugin tripped over its own feet" in r.stderr
    assert str(home.log_file) in r.stderr
    assert "Traceback" in home.log_file.read_text() and "tripped over" in home.log_file.read_text()
    r = runs_cli("-v", "add-source", "runs", "x", "--scope", "proj", "--set", f"runs_file={bug}",
                 check=False)  # fmt: skip
    assert r.returncode == 1 and "Traceback" in r.stderr and "RuntimeError" in r.stderr

    # a damaged state database: one line, exit 5
    home.state_db.write_bytes(b"this is not a database" * 100)
    for p in home.data_dir.glob("state.db-*"):
        p.unlink()
    for args in (["status"], ["items", "lab"], ["sources", "list", "--json"]):
        r = cli(*args, check=False)
        assert "Traceback" not in r.stderr, r.stderr
        assert r.returncode == 5 and len(r.stderr.strip().splitlines()) <= 2, r.stderr


def test_python_m_parses_its_options_like_the_cli(cli, home) -> None:
    env = {**os.environ, "ETIKET_SYNC_HOME": str(home.data_dir), "COLUMNS": "200"}

    def module(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "etiket_sync_agent", *args],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    r = module("--help")
    assert r.returncode == 0 and "Usage: python -m etiket_sync_agent" in r.stdout
    assert "--once" in r.stdout and "--home" in r.stdout
    r = module("--bogus")
    assert r.returncode == 2 and "No such option" in r.stderr
    # neither started the agent
    assert cli("status", "--json", as_json=True)["loop"]["state"] == "never_run"
    r = module("--once", "--quiet")
    assert r.returncode == 0, r.stderr
    assert cli("status", "--json", as_json=True)["loop"]["state"] == "stopped"


def test_help_version_completion_and_no_stray_folders(cli, tmp_path: Path) -> None:
    from importlib.metadata import version

    assert cli("--version").stdout.strip() == f"etiket-sync {version('etiket_sync_agent')}"
    for args in (["run", "--help"], ["--help"], ["status", "--help"]):
        text = cli(*args).stdout
        assert "<bool>" not in text and "--help" in text, text
    assert "--install-completion" in cli("--help").stdout
    # shell completion: the script the shell sources, and real completions from it
    complete = "_ETIKET_SYNC_COMPLETE"
    script = cli(extra_env={complete: "source_bash"}).stdout
    assert "_etiket_sync_completion" in script and "complete " in script
    words = {complete: "complete_bash", "COMP_WORDS": "etiket-sync datasets ", "COMP_CWORD": "2"}
    assert cli(extra_env=words).stdout.split() == ["list", "show", "export"]
    # without a --home: platformdirs' folders, and no empty configuration folder
    user = tmp_path / "user"
    plain = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    plain.pop("ETIKET_SYNC_HOME", None)
    plain["HOME"] = str(user)
    r = subprocess.run([ETIKET_SYNC, "sources", "list"], env=plain, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (user / ".local" / "share" / "etiket_sync_agent" / "state.db").exists()
    assert not (user / ".config" / "etiket_sync_agent").exists()
    home = tmp_path / "h"
    cli("--home", str(home), "datasets", "list")
    assert sorted(p.name for p in home.iterdir() if p.is_dir()) == ["logs", "store"]


def test_alembic_is_not_imported_when_no_migration_is_needed(cli, home) -> None:
    cli("sources", "list")  # creates and migrates the state database
    code = (
        "import sys\n"
        "from etiket_sync_agent.cli.app import main\n"
        "try:\n    main(['sources', 'list', '--json'])\n"
        "except SystemExit as e:\n    assert e.code == 0, e.code\n"
        "print('alembic' in sys.modules)\n"
    )
    env = {**os.environ, "ETIKET_SYNC_HOME": str(home.data_dir)}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "False"


def _wait(predicate, timeout: float = 90.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_run_prints_a_calm_summary_and_problems_and_draws_nothing_before_errors(
    cli, home, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    for name in ("a", "b", "c"):
        make_dataset(root, name)
    (root / "bad").mkdir()
    (root / "bad" / "_QH_dataset_info.yaml").write_text("attributes: [not, a, mapping\n")
    cli("scopes", "create", "proj")
    cli("add-source", "folderbase", "lab", "--scope", "proj", "--set", f"root_directory={root}")
    env = {**os.environ, "ETIKET_SYNC_HOME": str(home.data_dir), "COLUMNS": "200"}
    agent = subprocess.Popen(
        [ETIKET_SYNC, "run", "--summary-every", "1"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:

        def counts() -> dict:
            return cli("status", "--json", as_json=True)["sources"][0]["items"]

        _wait(lambda: counts()["synchronized"] == 3 and counts()["failed"] == 1, what="sync")
        # while it runs: a second agent, and the demo, are refused before anything is drawn
        for args in (["run", "--once"], ["demo"]):
            r = cli(*args, check=False)
            assert r.returncode == 4 and "already running" in r.stderr, args
            assert "syncing" not in r.stdout and "━" not in r.stdout, (args, r.stdout)
    finally:
        agent.send_signal(signal.SIGINT)
        out, err = agent.communicate(timeout=60)
    assert agent.returncode == 0, err
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines[0].startswith("Agent running on")
    assert any("failed lab: bad" in line for line in lines), out  # the problem, at once
    assert any(re.search(r"3 synchronized", line) for line in lines), out  # the summary
    assert not any(re.search(r"synchronized lab: \w \(", line) for line in lines), out
    assert len(lines) <= 8, out
    # --quiet: only problems; -v: a line per item
    make_dataset(root, "d")
    quiet = cli("run", "--once", "--quiet").stdout
    assert quiet.strip() == "" or all("bad" in line for line in quiet.strip().splitlines())
    make_dataset(root, "e")
    loud = cli("run", "--once", "-v", "--log-level", "debug").stdout
    assert "synchronized lab: e" in loud or "lab: e" in loud
    # an unknown source: the error, and no progress bar before it
    r = cli("run", "--once", "--source", "nosuch", check=False)
    assert r.returncode == 3 and r.stdout == "" and "no source called 'nosuch'" in r.stderr
    r = cli("run", "--once", "--log-level", "loud", check=False)
    assert r.returncode == 2 and "unknown log level" in r.stderr and r.stdout == ""


def test_sources_edit_says_what_it_changes_and_resyncs_on_request(cli, tmp_path: Path) -> None:
    root = tmp_path / "data"
    make_dataset(root, "a")
    cli("scopes", "create", "proj")
    cli("add-source", "folderbase", "lab", "--scope", "proj", "--set", f"root_directory={root}")
    cli("run", "--once")
    out = cli("sources", "edit", "lab", "--set", "is_server_folder=true").stdout
    assert "apply to datasets synchronized from now on" in " ".join(out.split())
    assert "--resync" in out
    shown = cli("sources", "edit", "lab", "--set", "is_server_folder=false", "--resync", "--json",
                as_json=True)  # fmt: skip
    assert shown["requeued"] == 1
    (item,) = cli("items", "lab", "--json", as_json=True)
    assert item["status"] == "pending"
    cli("run", "--once")
    (item,) = cli("items", "lab", "--json", as_json=True)
    assert item["status"] == "synchronized" and item["sync_count"] == 2


TMUX = shutil.which("tmux")


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed: the real-terminal test needs it")
def test_status_watch_redraws_in_place_in_a_real_terminal(cli, home, tmp_path: Path) -> None:
    """``status --watch`` in tmux: one frame at a time at any size, a clean Ctrl-C."""
    cli("scopes", "create", "proj")
    for i in range(3):
        root = tmp_path / f"data{i}"
        make_dataset(root, "a")
        cli("add-source", "folderbase", f"lab{i}", "--scope", "proj",
            "--set", f"root_directory={root}")  # fmt: skip
    session = f"etiket-watch-{os.getpid()}"
    sock = str(tmp_path / "tmux.sock")
    tmux = [TMUX, "-S", sock]
    shell = (
        f"ETIKET_SYNC_HOME={home.data_dir} {ETIKET_SYNC} status --watch; echo EXIT=$?; sleep 600"
    )
    subprocess.run(
        [*tmux, "new-session", "-d", "-s", session, "-x", "100", "-y", "30", shell],
        check=True, env={**os.environ, "TERM": "xterm-256color"},
    )  # fmt: skip

    def screen(history: bool = False) -> str:
        args = ["capture-pane", "-p", "-t", session] + (["-S", "-"] if history else [])
        return subprocess.run([*tmux, *args], capture_output=True, text=True).stdout

    try:
        _wait(lambda: "lab2" in screen(), what="the first frame")
        # a change shows up in the next frame, drawn over the last one
        cli("sources", "pause", "lab1")
        _wait(lambda: "paused" in screen(), what="a redraw")
        for size in (("60", "12"), ("200", "50"), ("40", "8"), ("100", "30")):
            subprocess.run([*tmux, "resize-window", "-t", session, "-x", size[0], "-y", size[1]])
            cli("sources", "resume" if "paused" in screen() else "pause", "lab1")
            time.sleep(0.5)
            _wait(lambda: "Agent:" in screen(), what=f"a frame at {size}")
            assert screen().count("Agent:") == 1, screen()
        assert screen(history=True).count("Agent:") <= 1, screen(history=True)
        subprocess.run([*tmux, "send-keys", "-t", session, "C-c"], check=True)
        _wait(lambda: "EXIT=" in screen(), what="the exit")
        after = screen(history=True)
        assert "EXIT=0" in after, after
        assert "Traceback" not in after and "KeyboardInterrupt" not in after
        assert "Agent:" not in after and "lab2" not in after, after  # no fragment left
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)


def _qcodes_db(path: Path, names: list[str]) -> None:
    """A database written by QCoDeS itself: run i+1 is called names[i]."""
    from qcodes.dataset import (
        Measurement,
        initialise_or_create_database_at,
        load_or_create_experiment,
    )
    from qcodes.parameters import ManualParameter

    initialise_or_create_database_at(path)
    exp = load_or_create_experiment("cli", sample_name="chip")
    x, y = ManualParameter("x", unit="V"), ManualParameter("y", unit="A")
    for name in names:
        meas = Measurement(exp=exp, name=name)
        meas.register_parameter(x)
        meas.register_parameter(y, setpoints=(x,))
        with meas.run() as saver:
            for v in range(3):
                saver.add_result((x, v), (y, v * 0.5))


def test_qcodes_runs_are_found_by_their_run_id(cli, tmp_path: Path) -> None:
    pytest.importorskip("qcodes")
    db = tmp_path / "experiments.db"
    _qcodes_db(db, ["rabi", "ramsey", "rabi"])
    cli("scopes", "create", "proj")
    cli("add-source", "qcodes", "fridge-2", "--scope", "proj", "--set", f"database_path={db}")
    cli("run", "--once")
    rows = cli("items", "fridge-2", "--json", as_json=True)
    assert sorted((r["label"], r["name"]) for r in rows) == [
        ("1", "rabi"), ("2", "ramsey"), ("3", "rabi")
    ]  # fmt: skip
    one = cli("item", "fridge-2", "1", "--json", as_json=True)
    assert (one["label"], one["name"], one["status"]) == ("1", "rabi", "synchronized")
    # the NetCDF file was read back before it was stored: on the record and on screen
    [checked] = one["records"][-1]["verified_files"]
    assert checked["file"] == "measured_data.hdf5" and checked["values"] > 0
    shown_item = cli("item", "fridge-2", "1").stdout
    assert re.search(r"read back: measured_data\.hdf5: \d+ variable\(s\)", shown_item)
    assert cli("item", "fridge-2", "ramsey", "--json", as_json=True)["label"] == "2"
    r = cli("item", "fridge-2", "rabi", check=False)  # two runs are called rabi
    assert r.returncode == 3 and "matches several items" in r.stderr
    shown = cli("datasets", "show", one["dataset_uuid"][:8], "--json", as_json=True)
    assert shown["alt_uid"] == one["identifier"] and shown["name"] == "rabi"


def test_run_serves_metrics_beside_the_loop_and_refuses_a_bad_address(cli, home) -> None:
    import socket
    import urllib.request

    with socket.socket() as s:  # a port free a moment ago
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = cli("run", "--metrics", "nowhere:port", check=False)
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stdout == ""
    env = {**os.environ, "ETIKET_SYNC_HOME": str(home.data_dir)}
    agent = subprocess.Popen(
        [ETIKET_SYNC, "run", "--quiet", "--metrics", f"127.0.0.1:{port}"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
                return resp.status == 200
        except OSError:
            assert agent.poll() is None, agent.communicate()
            return False

    try:
        _wait(healthy, what="/healthz answering 200")
    finally:
        agent.send_signal(signal.SIGINT)
        out, err = agent.communicate(timeout=60)
    assert agent.returncode == 0, err
    assert cli("status", "--json", as_json=True)["loop"]["state"] == "stopped"
