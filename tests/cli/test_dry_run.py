"""`etiket-sync run --dry-run` as a user runs it: beside a running agent, JSON per schema."""

from __future__ import annotations

import json
import os
import subprocess
from importlib.resources import files
from pathlib import Path

import pytest

from etiket_sync_agent.home import Home
from etiket_sync_agent.runtime import Runtime
from tests.conftest import ETIKET_SYNC
from tests.helpers import add_folder_source, make_dataset, wait_for


def _schema_check(data: dict) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(
        files("etiket_sync_agent").joinpath("schemas/cli-output.schema.json").read_text()
    )
    ref = schema["commands"]["run --dry-run"]
    jsonschema.Draft202012Validator({"$defs": schema["$defs"], "$ref": f"#/$defs/{ref}"}).validate(
        data
    )


def test_dry_run_beside_a_running_agent(home: Home, tmp_path: Path, cli) -> None:
    root = tmp_path / "folders"
    other = tmp_path / "other"
    make_dataset(root, "a", {"f.txt": "one"}, name="A")
    make_dataset(other, "b", {"g.txt": "two!"}, name="B")
    rt = Runtime(home)
    add_folder_source(rt, root)
    add_folder_source(rt, other, name="other")
    rt.close()
    env = {**os.environ, "ETIKET_SYNC_HOME": str(home.data_dir)}
    agent = subprocess.Popen(  # the agent synchronizes lab only: "other" is the new source
        [ETIKET_SYNC, "run", "-q", "--source", "lab"], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert wait_for(lambda: cli("status", "--json", as_json=True)["sources"][0]["items"][
            "synchronized"] == 1)  # fmt: skip
        data = cli("run", "--dry-run", "--source", "other", "--json", as_json=True)
        _schema_check(data)
        assert data["sources"] == ["other"]
        assert [(d["name"], d["action"], [f["name"] for f in d["files"]])
                for d in data["datasets"]] == [("B", "new", ["g.txt"])]  # fmt: skip
        human = cli("run", "--dry-run", "--source", "other").stdout
        assert "Nothing was changed (--dry-run)." in human and "g.txt" in human
        # the agent was not blocked: it goes on synchronizing lab
        make_dataset(root, "c", {"h.txt": "three"}, name="C")
        assert wait_for(lambda: any(
            d["name"] == "C" for d in cli("datasets", "list", "--json", as_json=True)))  # fmt: skip
        assert agent.poll() is None
        names = {d["name"] for d in cli("datasets", "list", "--json", as_json=True)}
        assert "B" not in names  # the dry run stored nothing
    finally:
        agent.terminate()
        agent.wait(30)


def test_json_needs_dry_run(cli) -> None:
    r = cli("run", "--json", check=False)
    assert r.returncode == 2 and json.loads(r.stderr)["error"] == "--json goes with --dry-run"
    r = cli("run", "--dry-run", "--source", "nosuch", check=False)
    assert r.returncode == 3 and "nosuch" in r.stderr and "Traceback" not in r.stderr
